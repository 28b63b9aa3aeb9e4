//! A soak under abuse (docs/benchmarks.md), not run by CI: one node, mining at a capped
//! rate against the parent stand-in and held to a small descriptor limit, is attacked on
//! every port at once for `--secs`, while a well-behaved client probes it every second.
//!
//! The attacks, each in its own task, from its own loopback address:
//! - 127.0.0.1: up to `--idle` idle connections to the API, reopened as they are closed;
//! - 127.0.0.3: 100 slow-header connections (a byte every 500 ms) to the API;
//! - 127.0.0.4: WebSocket clients to `/api/ws` until refused, held open;
//! - 127.0.0.5: garbage bytes, 1 MiB header lines and 8 MiB bodies to the API, metrics,
//!   Stratum and P2P ports, and random query strings and `Authorization` headers.
//!
//! The probes, from 127.0.0.2: `GET /api/status` every second (latency and answer), a
//! fresh Stratum connection that must get a job every 5 s, and the node's descriptors and
//! RSS from `/proc`. At the end: the probe results, the sharechain's growth, and whether
//! the log mentions running out of descriptors or a panic.
//!
//! ```text
//! cargo build --release -p otedama-node -p otedama-testnet
//! target/release/api-soak --secs 600
//! ```

use clap::Parser;
use otedama_sharechain::ChainSpec;
use otedama_testnet::client::{connect_from, stratum_job};
use otedama_testnet::cluster::{NodeOptions, TestNode, address, wait_for};
use otedama_testnet::standin::ParentStandIn;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "A node under abuse on every port, probed by a well-behaved client")]
struct Cli {
    /// How long the attack lasts, seconds.
    #[arg(long, default_value_t = 600)]
    secs: u64,
    /// The node's descriptor limit.
    #[arg(long, default_value_t = 1024)]
    fd_limit: u64,
    /// Idle API connections the flood keeps open (or tries to).
    #[arg(long, default_value_t = 1500)]
    idle: usize,
}

fn host(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// A small deterministic generator for garbage (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    fn token(&mut self, n: usize, alphabet: &[u8]) -> String {
        (0..n)
            .map(|_| {
                let i = usize::try_from(self.next() % alphabet.len() as u64).unwrap_or(0);
                char::from(alphabet[i])
            })
            .collect()
    }
}

#[derive(Default)]
struct Tally {
    idle_open: AtomicU64,
    idle_refused: AtomicU64,
    slow_cut: AtomicU64,
    ws_held: AtomicU64,
    ws_refused: AtomicU64,
    garbage_sent: AtomicU64,
    fuzz_requests: AtomicU64,
    fuzz_5xx: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Reads a reply's first line, or `None` when the connection closes without one.
async fn status_line(stream: &mut TcpStream) -> Option<String> {
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().map(str::to_owned)
}

async fn idle_flood(api: SocketAddr, want: usize, until: Instant, t: Arc<Tally>) {
    let mut held: Vec<TcpStream> = Vec::new();
    while Instant::now() < until {
        // Drop what the server closed (a readable socket with no request sent is a 503 or EOF).
        let mut kept = Vec::with_capacity(held.len());
        for c in held {
            let mut b = [0u8; 256];
            match c.try_read(&mut b) {
                Ok(0) => {}
                Ok(_) => bump(&t.idle_refused),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => kept.push(c),
                Err(_) => {}
            }
        }
        held = kept;
        while held.len() < want && Instant::now() < until {
            match connect_from(host(1), api).await {
                Some(c) => {
                    bump(&t.idle_open);
                    held.push(c);
                }
                None => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn slowloris(api: SocketAddr, until: Instant, t: Arc<Tally>) {
    let request = b"GET /api/status HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut conns: Vec<(TcpStream, usize)> = Vec::new();
    while Instant::now() < until {
        while conns.len() < 100 {
            match connect_from(host(3), api).await {
                Some(c) => conns.push((c, 0)),
                None => break,
            }
        }
        let mut kept = Vec::with_capacity(conns.len());
        for (mut c, sent) in conns {
            let b = request[sent % request.len()];
            if c.write_all(&[b]).await.is_ok() {
                kept.push((c, sent + 1));
            } else {
                bump(&t.slow_cut);
            }
        }
        conns = kept;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn ws_hog(api: SocketAddr, until: Instant, t: Arc<Tally>) {
    let mut held = Vec::new();
    while Instant::now() < until {
        let Some(stream) = connect_from(host(4), api).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        match tokio_tungstenite::client_async(format!("ws://{api}/api/ws"), stream).await {
            Ok((ws, _)) => {
                held.push(ws);
                t.ws_held.fetch_max(held.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                bump(&t.ws_refused);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn garbage(targets: Vec<SocketAddr>, api: SocketAddr, until: Instant, t: Arc<Tally>) {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let big_header = format!(
        "GET /api/status HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let query_chars = b"abcdefghijklmnopqrstuvwxyz0123456789=&%+._~-";
    let mut round = 0u64;
    while Instant::now() < until {
        round += 1;
        for to in &targets {
            if let Some(mut c) = connect_from(host(5), *to).await {
                let _ = c.write_all(&noise.bytes(4096)).await;
                let _ = status_line(&mut c).await;
                bump(&t.garbage_sent);
            }
        }
        if round.is_multiple_of(10)
            && let Some(mut c) = connect_from(host(5), api).await
        {
            let _ = c.write_all(big_header.as_bytes()).await;
            let _ = status_line(&mut c).await;
        }
        if round % 10 == 5
            && let Some(mut c) = connect_from(host(5), api).await
        {
            let head = "POST /api/peers/dial HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 8388608\r\n\r\n";
            let _ = c.write_all(head.as_bytes()).await;
            let _ = c.write_all(&vec![b'{'; 1 << 16]).await;
            let _ = status_line(&mut c).await;
        }
        for _ in 0..5 {
            let Some(mut c) = connect_from(host(5), api).await else {
                break;
            };
            let q = noise.token(60, query_chars);
            let auth = noise.token(40, query_chars);
            let path = if noise.next().is_multiple_of(2) {
                format!("GET /api/shares?{q}")
            } else {
                format!("POST /api/mining/stop?{q}")
            };
            let req = format!(
                "{path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {auth}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = c.write_all(req.as_bytes()).await;
            if let Some(line) = status_line(&mut c).await {
                bump(&t.fuzz_requests);
                if line.contains(" 500 ") {
                    bump(&t.fuzz_5xx);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn proc_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

fn proc_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let spec = ChainSpec::by_name("btc-regtest").expect("built-in spec");
    let parent = ParentStandIn::start(Duration::from_secs(5))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let options = NodeOptions {
        fd_limit: Some(cli.fd_limit),
        metrics: true,
        ..NodeOptions::numbered(0, spec, parent.url(), Vec::new(), true, 300)
    };
    let node = TestNode::spawn(root.path(), options).expect("node starts");
    let status = wait_for(Duration::from_secs(60), || async {
        node.get("/api/status")
            .await
            .filter(|s| s["parent"]["height"].as_u64().is_some())
    })
    .await
    .expect("node up");
    let addr = |s: &str| -> SocketAddr { s.parse().expect("socket address") };
    let api = addr(node.api.trim_start_matches("http://"));
    let stratum = addr(status["stratum"]["address"].as_str().expect("stratum"));
    let metrics = addr(
        node.metrics_url
            .as_deref()
            .expect("metrics on")
            .trim_start_matches("http://")
            .trim_end_matches("/metrics"),
    );
    let p2p_port = node
        .p2p_addr
        .split('/')
        .nth(4)
        .and_then(|p| p.parse::<u16>().ok())
        .expect("p2p port");
    let p2p = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p2p_port);
    let pid = node.pid().expect("running");
    let height0 = status["sharechain"]["height"].as_u64().unwrap_or(0);

    let start = Instant::now();
    let until = start + Duration::from_secs(cli.secs);
    let tally = Arc::new(Tally::default());
    let attacks = vec![
        tokio::spawn(idle_flood(api, cli.idle, until, Arc::clone(&tally))),
        tokio::spawn(slowloris(api, until, Arc::clone(&tally))),
        tokio::spawn(ws_hog(api, until, Arc::clone(&tally))),
        tokio::spawn(garbage(
            vec![api, metrics, stratum, p2p],
            api,
            until,
            Arc::clone(&tally),
        )),
    ];

    let probe = reqwest::Client::builder()
        .local_address(IpAddr::V4(host(2)))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let user = address(spec, 7);
    let (mut api_ok, mut api_fail, mut job_ok, mut job_fail) = (0u64, 0u64, 0u64, 0u64);
    let (mut max_fds, mut max_rss) = (0u64, 0u64);
    let mut latencies = Vec::new();
    let mut second = 0u64;
    while Instant::now() < until {
        second += 1;
        let t0 = Instant::now();
        match probe.get(format!("http://{api}/api/status")).send().await {
            Ok(r) if r.status().is_success() => {
                api_ok += 1;
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            _ => api_fail += 1,
        }
        if second.is_multiple_of(5) {
            if stratum_job(host(2), stratum, &user, Duration::from_secs(5))
                .await
                .is_ok()
            {
                job_ok += 1;
            } else {
                job_fail += 1;
            }
        }
        max_fds = max_fds.max(proc_fds(pid));
        max_rss = max_rss.max(proc_rss_kib(pid));
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed())).await;
    }
    for a in attacks {
        a.abort();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let end = node.get("/api/status").await;
    let height1 = end
        .as_ref()
        .and_then(|s| s["sharechain"]["height"].as_u64())
        .unwrap_or(0);
    let log = std::fs::read_to_string(node.dir.join("node.log")).unwrap_or_default();
    let emfile = log.matches("Too many open files").count();
    let panics = log.matches("panicked").count();
    latencies.sort_by(f64::total_cmp);
    let t = &tally;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!("| what | result |\n|---|---|");
    println!(
        "| duration | {} s, node limited to {} descriptors |",
        cli.secs, cli.fd_limit
    );
    println!(
        "| idle API connections opened / answered 503 | {} / {} |",
        load(&t.idle_open),
        load(&t.idle_refused)
    );
    println!(
        "| slow-header connections cut or refused | {} |",
        load(&t.slow_cut)
    );
    println!(
        "| WebSockets held from one IP (most) / refused | {} / {} |",
        load(&t.ws_held),
        load(&t.ws_refused)
    );
    println!(
        "| garbage connections / fuzzed requests / 500s | {} / {} / {} |",
        load(&t.garbage_sent),
        load(&t.fuzz_requests),
        load(&t.fuzz_5xx)
    );
    println!(
        "| probe `GET /api/status` ok / failed | {api_ok} / {api_fail} (p50 {:.1} ms, p99 {:.1} ms) |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("| probe Stratum job ok / failed | {job_ok} / {job_fail} |");
    println!(
        "| node descriptors (most) / RSS (most) | {max_fds} / {} MiB |",
        max_rss / 1024
    );
    println!("| sharechain height | {height0} -> {height1} |");
    println!("| log: out of descriptors / panics | {emfile} / {panics} |");
    let held = api_fail == 0
        && job_fail == 0
        && emfile == 0
        && panics == 0
        && load(&t.fuzz_5xx) == 0
        && end.is_some()
        && height1 > height0;
    println!("\n{}", if held { "HELD" } else { "FAILED" });
    drop(node);
    if held {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
