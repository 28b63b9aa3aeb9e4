//! Mesh benchmarks on loopback (docs/benchmarks.md), not run by CI:
//!
//! - `propagation`: N node processes (default 20) against the parent stand-in, a few of
//!   them mining; every node's WebSocket is watched, and each share's delay is the time
//!   from its finder's `share_accepted` to each other node's `peer_share_accepted`. Also
//!   the bandwidth per node at steady state, from libp2p's byte counters in `/metrics`.
//! - `sync`: a store holding a full 8 640-share window (chain spec `btc-bench`) is served
//!   by one node; a fresh node bootstraps from it, and the time from its start to holding
//!   the same tip is measured.
//!
//! ```text
//! cargo build --release -p otedama-node -p otedama-testnet
//! target/release/mesh-bench propagation --nodes 20 --secs 120
//! target/release/mesh-bench sync --shares 8640 --runs 3
//! ```

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{ChainSpec, ShareChain, Store};
use otedama_testnet::cluster::{NodeOptions, TestNode, wait_for};
use otedama_testnet::standin::ParentStandIn;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Benchmarks of the Otedama mesh on loopback")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Share propagation delay (p50/p95) and bandwidth per node.
    Propagation {
        /// Node processes.
        #[arg(long, default_value_t = 20)]
        nodes: u32,
        /// How many of them mine.
        #[arg(long, default_value_t = 4)]
        miners: u32,
        /// Hash rate cap per miner (H/s; about 256 hashes make a share).
        #[arg(long, default_value_t = 60)]
        rate: u64,
        /// Measurement time after the warm-up, seconds.
        #[arg(long, default_value_t = 120)]
        secs: u64,
    },
    /// Sync of a full window from one peer.
    Sync {
        /// Shares in the served chain.
        #[arg(long, default_value_t = 8640)]
        shares: u32,
        /// Fresh nodes to sync, one after the other.
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let root = tempfile::tempdir().expect("tempdir");
    match cli.bench {
        Bench::Propagation {
            nodes,
            miners,
            rate,
            secs,
        } => runtime.block_on(propagation(root.path(), nodes, miners, rate, secs)),
        Bench::Sync { shares, runs } => runtime.block_on(sync(root.path(), shares, runs)),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sums the libp2p byte counters by direction: `(inbound, outbound)`.
async fn bandwidth(url: &str) -> Option<(f64, f64)> {
    let response = reqwest::get(url).await.ok()?;
    let body = otedama_rpc::read_body(hyper::Response::from(response), otedama_rpc::MAX_ANSWER)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&body);
    let (mut inbound, mut outbound) = (0.0, 0.0);
    for line in text.lines() {
        if !line.starts_with("otedama_libp2p_bandwidth_bytes_total") {
            continue;
        }
        let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
        if line.contains("direction=\"Inbound\"") {
            inbound += value;
        } else if line.contains("direction=\"Outbound\"") {
            outbound += value;
        }
    }
    Some((inbound, outbound))
}

async fn propagation(root: &Path, n: u32, miners: u32, rate: u64, secs: u64) {
    let spec = ChainSpec::by_name("btc-regtest").expect("spec");
    let parent = ParentStandIn::start(Duration::from_secs(3600))
        .await
        .expect("stand-in");
    let mut nodes: Vec<TestNode> = Vec::new();
    for i in 0..n {
        // A sparse start (the previous node, one halfway back, the first); Kademlia and
        // gossipsub's peer exchange do the rest.
        let mut boot: Vec<String> = [i.checked_sub(1), Some(i / 2), Some(0)]
            .into_iter()
            .flatten()
            .filter(|&j| j < i)
            .map(|j| nodes[j as usize].p2p_addr.clone())
            .collect();
        boot.dedup();
        let options = NodeOptions {
            metrics: true,
            ..NodeOptions::numbered(i, spec, parent.url(), boot, i < miners, rate)
        };
        nodes.push(TestNode::spawn(root, options).expect("node"));
    }
    let ready = wait_for(Duration::from_secs(120), || async {
        for node in &nodes {
            if node.peer_ids().await?.len() < 3 {
                return None;
            }
        }
        Some(())
    })
    .await;
    if ready.is_none() {
        for node in &nodes {
            let peers = node.peer_ids().await.map(|p| p.len());
            eprintln!(
                "{}: {peers:?} peers\n{}",
                node.options.name,
                node.log_tail(5)
            );
        }
        panic!("the mesh did not form");
    }

    // Watch every node's events.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, String, Instant)>();
    for (i, node) in nodes.iter().enumerate() {
        let url = format!("{}/api/ws", node.api.replace("http://", "ws://"));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let at = Instant::now();
                let Ok(text) = msg.to_text() else { continue };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
                    continue;
                };
                let kind = v["type"].as_str().unwrap_or_default().to_owned();
                if let Some(hash) = v["data"]["hash"].as_str() {
                    let _ = tx.send((i, kind, hash.to_owned(), at));
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    while rx.try_recv().is_ok() {}

    let mut before = Vec::new();
    for node in &nodes {
        before.push(bandwidth(node.metrics_url.as_deref().unwrap_or_default()).await);
    }
    let started = Instant::now();
    let mut origin: BTreeMap<String, Instant> = BTreeMap::new();
    let mut seen: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    let end = started + Duration::from_secs(secs);
    while let Ok(Some((_, kind, hash, at))) = tokio::time::timeout_at(end.into(), rx.recv()).await {
        match kind.as_str() {
            "share_accepted" => {
                origin.insert(hash, at);
            }
            "peer_share_accepted" => seen.entry(hash).or_default().push(at),
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut rates = Vec::new();
    for (node, b) in nodes.iter().zip(before) {
        let after = bandwidth(node.metrics_url.as_deref().unwrap_or_default()).await;
        if let (Some(b), Some(a)) = (b, after) {
            rates.push(((a.0 - b.0) / elapsed, (a.1 - b.1) / elapsed));
        }
    }
    // Give the last shares time to arrive before they are counted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    while let Ok((_, kind, hash, at)) = rx.try_recv() {
        if kind == "peer_share_accepted" {
            seen.entry(hash).or_default().push(at);
        }
    }

    // Shares that did not end on the main chain: orphans, and uncles (credited, but
    // off the main chain).
    let main: Vec<String> = nodes[0].recent_shares(100).await.unwrap_or_default();
    let oldest_origin = origin.len();
    let off_main = origin.keys().filter(|h| !main.contains(h)).count();
    let mut delays: Vec<f64> = Vec::new();
    let mut reached = 0usize;
    for (hash, t0) in &origin {
        let arrivals = seen.get(hash).map(Vec::as_slice).unwrap_or_default();
        reached += arrivals.len();
        delays.extend(
            arrivals
                .iter()
                .map(|t| t.saturating_duration_since(*t0).as_secs_f64() * 1000.0),
        );
    }
    delays.sort_by(f64::total_cmp);
    let possible = origin.len() * (n as usize - 1);
    let mean_in = rates.iter().map(|r| r.0).sum::<f64>() / rates.len().max(1) as f64;
    let mean_out = rates.iter().map(|r| r.1).sum::<f64>() / rates.len().max(1) as f64;
    let max_total = rates.iter().map(|r| r.0 + r.1).fold(0.0, f64::max);
    println!("nodes {n}, miners {miners} at {rate} H/s, measured {elapsed:.0} s");
    println!(
        "shares found {}, arrivals {reached}/{possible} ({:.1} %)",
        origin.len(),
        100.0 * reached as f64 / possible.max(1) as f64
    );
    println!(
        "off the main chain (uncles and orphans): {off_main}/{oldest_origin} ({:.1} %)",
        100.0 * off_main as f64 / oldest_origin.max(1) as f64
    );
    println!(
        "propagation ms: p50 {:.1}, p95 {:.1}, max {:.1}",
        percentile(&delays, 0.5),
        percentile(&delays, 0.95),
        delays.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "bandwidth per node: in {:.1} kB/s, out {:.1} kB/s (mean); busiest node {:.1} kB/s in+out",
        mean_in / 1000.0,
        mean_out / 1000.0,
        max_total / 1000.0
    );
}

/// Mines `n` shares on the `btc-bench` spec into a store under `data_dir`.
fn build_store(data_dir: &Path, n: u32) -> (u64, String) {
    let spec = ChainSpec::by_name("btc-bench").expect("spec");
    let (store, mut on_disk) =
        Store::open(&data_dir.join(spec.name).join("shares"), spec).expect("store");
    let mut chain = ShareChain::new(spec.clone());
    for i in 0..n {
        let share = mine_on_tip(&mut chain, script(i % 50), &u64::from(i).to_le_bytes());
        let meta = chain.derive_meta(&share).expect("parent known");
        chain.insert(meta.clone());
        let change = on_disk.insert(meta.clone());
        store
            .accept(&share, &meta, &change, &on_disk)
            .expect("stored");
    }
    store.flush().expect("flush");
    let tip = chain.tip().expect("tip");
    (tip.height, tip.hash.to_string())
}

async fn sync(root: &Path, shares: u32, runs: u32) {
    let spec = ChainSpec::by_name("btc-bench").expect("spec");
    let parent = ParentStandIn::start(Duration::from_secs(3600))
        .await
        .expect("stand-in");
    let t = Instant::now();
    let (height, hash) = build_store(&root.join("seed"), shares);
    println!(
        "built {shares} shares in {:.1} s (tip {height})",
        t.elapsed().as_secs_f64()
    );
    let seed = TestNode::spawn(
        root,
        NodeOptions {
            name: "seed".into(),
            ..NodeOptions::numbered(0, spec, parent.url(), Vec::new(), false, 0)
        },
    )
    .expect("seed");
    let up = wait_for(Duration::from_secs(60), || async {
        (seed.tip().await? == (height, hash.clone())).then_some(())
    })
    .await;
    assert!(
        up.is_some(),
        "the seed did not load its store\n{}",
        seed.log_tail(20)
    );
    let mut times = Vec::new();
    for run in 0..runs {
        let start = Instant::now();
        let fresh = TestNode::spawn(
            root,
            NodeOptions {
                name: format!("fresh{run}"),
                ..NodeOptions::numbered(
                    1,
                    spec,
                    parent.url(),
                    vec![seed.p2p_addr.clone()],
                    false,
                    0,
                )
            },
        )
        .expect("fresh node");
        let done = wait_for(Duration::from_secs(60), || async {
            (fresh.tip().await? == (height, hash.clone())).then_some(())
        })
        .await;
        assert!(
            done.is_some(),
            "no sync\n{}\n--- seed ---\n{}",
            fresh.log_tail(30),
            seed.log_tail(30)
        );
        let secs = start.elapsed().as_secs_f64();
        println!("run {run}: {shares} shares synced in {secs:.2} s (process start to same tip)");
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "sync of {shares} shares from one peer: median {:.2} s",
        percentile(&times, 0.5)
    );
}
