//! Block latency: from a miner writing a `mining.submit` line to the node's
//! `submitblock` request arriving at the parent daemon, p50 and p99. Not part of CI:
//!
//! ```text
//! cargo bench -p otedama-testnet --bench block_latency [-- --blocks 500]
//! ```
//!
//! A node runs in this process (btc-regtest, default config) against the parent
//! stand-in with regtest's easiest target, so every share is a block; a simulated
//! Stratum miner (the load benchmark's, building real shares from `mining.notify`)
//! submits one share at a time. The stand-in records when each block's request arrived
//! and its header nonce, which matches it to the submission. A submission below the
//! share target is no block, and does not count. Loopback only, bounded in count and
//! time.

#[allow(dead_code)]
#[path = "../../stratum/benches/load/miner.rs"]
mod miner;

use otedama_node::Node;
use otedama_node::config::{ChainConfig, Config, DaemonConfig, MiningAlgorithm};
use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::address;
use otedama_testnet::standin::ParentStandIn;
use std::time::{Duration, Instant};

/// Longest the whole run may take.
const LIMIT: Duration = Duration::from_secs(300);
/// Longest a submission's block may take to arrive before it counts as no block.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(2);

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let blocks = arg("--blocks", 500);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let spec = ChainSpec::by_name("btc-regtest").expect("spec");
        // No new parent block during the run: every block builds on the same tip.
        let parent = ParentStandIn::start_easy(Duration::from_secs(3600))
            .await
            .expect("stand-in");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.app.data_dir = dir.path().to_path_buf();
        config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.pool.address = "127.0.0.1:0".parse().expect("addr");
        config.mining.algorithm = MiningAlgorithm::Sha256d;
        config.chains = vec![ChainConfig {
            spec: spec.name.into(),
            daemons: vec![DaemonConfig {
                url: parent.url(),
                cookie_file: None,
                user: Some("bench".into()),
                password: Some(otedama_node::config::Secret::new("bench")),
                zmq: None,
            }],
        }];
        let node = Node::start(&config, None).await.expect("node starts");
        let user = format!("{}.bench", address(spec, 1));
        let mut rig = miner::Miner::connect(node.stratum_addr(), user, Duration::from_secs(10))
            .await
            .expect("miner connects");

        let deadline = Instant::now() + LIMIT;
        let (mut latencies, mut no_block, mut failed) = (Vec::new(), 0u32, 0u32);
        let mut seen = 0;
        while latencies.len() < blocks && Instant::now() < deadline {
            let (outcome, sent) = rig.submit_timed(Duration::from_secs(5)).await;
            let (Some((sent, nonce)), miner::Outcome::Accepted(_)) = (sent, outcome) else {
                failed += 1;
                continue;
            };
            let wait_until = Instant::now() + ARRIVAL_LIMIT;
            let arrived = loop {
                let arrivals = parent.arrivals();
                if let Some((at, _)) = arrivals[seen..].iter().find(|(_, n)| *n == nonce) {
                    seen = arrivals.len();
                    break Some(*at);
                }
                if Instant::now() >= wait_until {
                    break None;
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            match arrived {
                Some(at) => latencies.push(at.saturating_duration_since(sent)),
                None => no_block += 1,
            }
        }
        latencies.sort();
        println!(
            "blocks {} (submissions that were no block {no_block}, failed {failed})",
            latencies.len()
        );
        println!(
            "submit line -> submitblock on the wire: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            percentile(&latencies, 50).as_secs_f64() * 1e3,
            percentile(&latencies, 99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        node.stop().await;
    });
}
