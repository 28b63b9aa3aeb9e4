//! Monero sidechain sync between two nodes on loopback. A serving peer holds P2Pool's real
//! 4 543-share mainnet dump (`sharechain/tests/data/monero/`, more than two 2 160-share
//! windows of `xmr-main`); a Monero node of `xmr-main` with an empty store joins it, asks
//! its tip and fetches the chain below it, 64 shares per `Chain` request (parents and
//! uncles breadth first), over the real swarm (TCP, Noise, Yamux, the sync protocol). Timed: from the
//! node's start until its store holds every share. The node has no monerod here, so each
//! share gets its standalone checks (ids, deterministic tx key, merge-mining proof) but
//! neither PoW (no seed block) nor its window (no Monero difficulty for the cap): their
//! cost is the sharechain's `monero` bench.
//!
//! Run: `cargo bench -p otedama-node --bench monero_sync`

#![allow(missing_docs)]

use libp2p::multiaddr::Protocol;
use otedama_node::monero::{MoneroNode, MoneroP2p, MoneroSettings, parse_wallet};
use otedama_node::p2p::protocol::{TipInfo, WireHash};
use otedama_node::p2p::{BlobSource, MeshChain, P2pSettings, ServeSource};
use otedama_sharechain::monero::dump::split_dump;
use otedama_sharechain::monero::share::MAX_SHARE_SIZE;
use otedama_sharechain::monero::{PoolShare, SidechainParams};
use otedama_stratum::StratumConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 3;
/// A mainnet-form address generated offline (the node's own wallet; it mines nothing).
const WALLET: &str = "48HfMc3JNky1399DpLdNH1BcUse1eTWGseX94a9UjV2BdfkM2cx3WZthQmgjGhfW8wVnPbvtyHXGTbeExuZFywfH9jwCyPF";

/// The dump, served by id.
#[derive(Debug)]
struct Dump {
    blobs: HashMap<WireHash, Vec<u8>>,
    tip: TipInfo,
}

impl BlobSource for Dump {
    fn tip(&self) -> Option<TipInfo> {
        Some(self.tip)
    }

    fn blob(&self, id: &WireHash) -> Option<Vec<u8>> {
        self.blobs.get(id).cloned()
    }

    fn links(&self, blob: &[u8]) -> Vec<WireHash> {
        otedama_node::monero::share_links(blob)
    }
}

fn p2p(bootstrap: Vec<libp2p::Multiaddr>) -> MoneroP2p {
    MoneroP2p {
        settings: P2pSettings::loopback(bootstrap, "otedama-bench"),
        key: libp2p::identity::Keypair::generate_ed25519(),
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `OTEDAMA_LOG_LEVEL=otedama=info` shows the sync's progress.
    if let Ok(filter) = std::env::var("OTEDAMA_LOG_LEVEL") {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        if let Ok(targets) = filter.parse::<tracing_subscriber::filter::Targets>() {
            let _ = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .finish()
                .with(targets)
                .try_init();
        }
    }
    let xz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sharechain/tests/data/monero/sidechain_dump.dat.xz"
    ))
    .expect("the dump");
    let mut raw = Vec::new();
    lzma_rs::xz_decompress(&mut &xz[..], &mut raw).expect("xz");
    let params = SidechainParams::main();
    let mut blobs = HashMap::new();
    let mut tip: Option<TipInfo> = None;
    for blob in split_dump(&raw).expect("framing") {
        let share = PoolShare::parse(blob).expect("share");
        let id = *share.sidechain_id(&params.consensus_id).as_bytes();
        if tip.is_none_or(|t| share.sidechain_height > t.height) {
            tip = Some(TipInfo {
                hash: id,
                height: share.sidechain_height,
                chain_work: share.cumulative_difficulty,
            });
        }
        blobs.insert(id, blob.to_vec());
    }
    let total = blobs.len();
    let dump = Arc::new(Dump {
        blobs,
        tip: tip.expect("a tip"),
    });
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let mut registry = prometheus_client::registry::Registry::default();
    let server = p2p(Vec::new());
    let serving = otedama_node::p2p::start(
        server.settings,
        server.key,
        &MeshChain::new(params.consensus_id, MAX_SHARE_SIZE),
        ServeSource::blobs(dump),
        &mut registry,
        shutdown,
    )
    .expect("the serving peer starts");
    let (handle, mut events) = (serving.handle, serving.events);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let addr = handle
        .wait_listening(Duration::from_secs(10))
        .await
        .first()
        .expect("listening")
        .clone()
        .with(Protocol::P2p(handle.local_peer_id()));

    println!("monero sync: {total} shares of xmr-main, served on loopback");
    let mut times = Vec::new();
    for run in 1..=RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = Instant::now();
        let node = MoneroNode::start(MoneroSettings {
            params: params.clone(),
            daemons: vec!["http://127.0.0.1:9".into()],
            zmq: None,
            poll_interval: Duration::from_secs(60),
            store: dir.path().join("sidechain"),
            wallet: parse_wallet(WALLET).expect("wallet"),
            stratum: StratumConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                ..StratumConfig::default()
            },
            p2p: Some(p2p(vec![addr.clone()])),
            dataset: None,
        })
        .await
        .expect("the node starts");
        let status = node.status();
        let deadline = started + Duration::from_secs(600);
        let mut report = Instant::now();
        while status.borrow().shares < total {
            assert!(Instant::now() < deadline, "synced within 600 s");
            if report.elapsed() > Duration::from_secs(10) {
                report = Instant::now();
                println!(
                    "  {} of {total} shares after {:.0} s",
                    status.borrow().shares,
                    started.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed();
        node.stop().await;
        println!(
            "run {run}: {total} shares in {:.2} s ({:.0} shares/s), peak RSS of the process {} MiB",
            took.as_secs_f64(),
            total as f64 / took.as_secs_f64(),
            rss_kib() / 1024
        );
        times.push(took);
    }
    times.sort();
    println!(
        "median: {:.2} s for {total} shares",
        times[RUNS / 2].as_secs_f64()
    );
}
