//! A node under a connection flood on its API port. Held to 512 file descriptors, it is
//! sent 600 idle connections and 30 that send their headers a byte at a time: more than
//! the process could hold if the API took them all. The API's connection caps refuse
//! the excess at once, so Stratum still serves a miner, the API still answers another
//! client, and the node still fetches templates from its daemon while the flood goes on.

use otedama_sharechain::ChainSpec;
use otedama_testnet::client::{connect_from, stratum_job};
use otedama_testnet::cluster::{NodeOptions, TestNode, address, wait_for};
use otedama_testnet::standin::ParentStandIn;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

const FD_LIMIT: u64 = 512;
const IDLE: usize = 600;
const SLOW: usize = 30;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// `GET path` from 127.0.0.2, a client the flood does not come from.
async fn get_from_elsewhere(api: SocketAddr, path: &str) -> Option<Value> {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let r = client
        .get(format!("http://{api}{path}"))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_on_the_api_starves_nothing_else() {
    let parent = ParentStandIn::start(Duration::from_millis(500))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let options = NodeOptions {
        fd_limit: Some(FD_LIMIT),
        api_extra: "  limits:\n    max_connections: 64\n    max_connections_per_ip: 32\n    header_timeout: 3s\n    idle_timeout: 30s\n".into(),
        ..NodeOptions::numbered(0, spec(), parent.url(), Vec::new(), false, 0)
    };
    let node = TestNode::spawn(root.path(), options).expect("node starts");
    let api: SocketAddr = node
        .api
        .trim_start_matches("http://")
        .parse()
        .expect("api address");
    let up = wait_for(Duration::from_secs(30), || async {
        node.get("/api/status")
            .await
            .filter(|s| s["parent"]["height"].as_u64().is_some())
    })
    .await;
    let status = up.unwrap_or_else(|| panic!("node not up\n{}", node.log_tail(40)));
    let stratum: SocketAddr = status["stratum"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("stratum address");

    // The flood: idle connections from 127.0.0.1, slow headers from 127.0.0.3.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        if let Some(c) = connect_from(Ipv4Addr::LOCALHOST, api).await {
            idle.push(c);
        }
    }
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        if let Some(c) = connect_from(Ipv4Addr::new(127, 0, 0, 3), api).await {
            slow.push(c);
        }
    }
    let dribble = tokio::spawn(async move {
        let request = b"GET /api/status HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        for b in request {
            for c in &mut slow {
                let _ = c.write_all(&[*b]).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slow
    });
    assert!(idle.len() >= IDLE / 2, "only {} connected", idle.len());

    // While it lasts: a miner gets work, another API client gets answers, and the
    // node keeps following its daemon.
    let user = address(spec(), 1);
    if let Err(e) = stratum_job(Ipv4Addr::LOCALHOST, stratum, &user, Duration::from_secs(20)).await
    {
        panic!("{e}\n{}", node.log_tail(40));
    }
    let first = get_from_elsewhere(api, "/api/status")
        .await
        .and_then(|s| s["parent"]["height"].as_u64())
        .unwrap_or_else(|| panic!("the API did not answer\n{}", node.log_tail(40)));
    let advanced = wait_for(Duration::from_secs(20), || async {
        let s = get_from_elsewhere(api, "/api/status").await?;
        (s["parent"]["height"].as_u64()? >= first + 2 && s["parent"]["reachable"] == true)
            .then_some(())
    })
    .await;
    assert!(
        advanced.is_some(),
        "the node stopped following its daemon\n{}",
        node.log_tail(40)
    );
    let log = std::fs::read_to_string(node.dir.join("node.log")).unwrap_or_default();
    assert!(
        !log.contains("Too many open files"),
        "descriptors ran out:\n{}",
        node.log_tail(40)
    );
    assert!(log.contains("connection refused: listener at its cap"));
    let slow = dribble.await.expect("dribble task");
    drop((idle, slow));
}
