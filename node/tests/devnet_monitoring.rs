//! `otedama-node devnet` serves metrics and health checks on free loopback ports and
//! prints their URLs at start, so Prometheus can be pointed at it; and every metric the
//! Grafana dashboard (`scripts/docker/grafana/dashboards/otedama.json`) queries is in
//! its real scrape. Needs `litecoind`
//! (skipped with OTEDAMA_SKIP_DAEMON_TESTS=1).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use otedama_node::devnet::{NOT_INSTALLED, litecoind_path};

// Shared with the testnet crate's tests (which depend on this crate, so it cannot be a
// dev-dependency here).
#[allow(dead_code)]
#[path = "../../testnet/src/skip.rs"]
mod skip;

#[path = "support/devnet_child.rs"]
mod devnet_child;

/// Returns the status line and body of `GET url` (`http://host:port/path`).
fn get(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').expect("a path");
    let mut stream = TcpStream::connect(host).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[test]
fn devnet_prints_and_serves_metrics_and_health() {
    const TEST: &str = "devnet_prints_and_serves_metrics_and_health";
    if skip::or_skip(
        skip::DAEMON,
        TEST,
        litecoind_path().ok_or_else(|| NOT_INSTALLED.to_owned()),
        "install it with `sudo apt-get install litecoind` (or point LITECOIND at the binary)",
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut node, inbox) = devnet_child::spawn(dir.path());
    let (mut metrics, mut health) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while metrics.is_none() || health.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left) {
            Ok(line) => {
                let url = line.split_whitespace().nth(2).map(str::to_owned);
                if line.starts_with("metrics on http://127.0.0.1:") {
                    metrics = url;
                } else if line.starts_with("health on http://127.0.0.1:") {
                    health = url;
                }
            }
            Err(e) => {
                let _ = node.kill();
                panic!("the devnet printed no metrics and health URLs: {e}");
            }
        }
    }
    let (metrics, health) = (metrics.unwrap_or_default(), health.unwrap_or_default());
    // The Grafana dashboard's metrics, each in the real scrape: some appear only once the
    // miners' shares and the daemon's replies have been counted, so poll for a while.
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 15, "{wanted:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, body, missing) = loop {
        let (status, body) = get(&metrics);
        let missing: Vec<&String> = wanted.iter().filter(|m| !exported(&body, m)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            let missing: Vec<String> = missing.into_iter().cloned().collect();
            break (status, body, missing);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (health_status, _) = get(&health);
    // SIGKILL: its daemons go with it (see devnet.rs).
    let _ = node.kill();
    let _ = node.wait();
    assert!(metrics.ends_with("/metrics") && health.ends_with("/healthz"));
    assert!(status.contains(" 200 "), "{status}");
    assert!(body.contains("otedama_"), "{body}");
    assert!(
        missing.is_empty(),
        "the Grafana dashboard uses metrics the node does not export: {missing:?}\n{body}"
    );
    assert!(health_status.contains(" 200 "), "{health_status}");
}

/// Every `otedama_*` metric the Grafana dashboard of the compose stack queries.
fn dashboard_metrics() -> Vec<String> {
    let json = include_str!("../../scripts/docker/grafana/dashboards/otedama.json");
    let mut names: Vec<String> = json
        .match_indices("otedama_")
        .map(|(at, _)| {
            json[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the scrape `body` has `metric`: a sample of that name, or its family's
/// `# TYPE` line (a labelled family without samples yet, e.g. per-peer ping times
/// before any peer).
fn exported(body: &str, metric: &str) -> bool {
    let family = ["_total", "_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| metric.strip_suffix(suffix))
        .unwrap_or(metric);
    body.lines().any(|line| {
        line.strip_prefix(metric)
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            || line
                .strip_prefix("# TYPE ")
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|name| name == family || name == metric)
    })
}
