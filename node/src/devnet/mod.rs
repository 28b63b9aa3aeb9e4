//! `otedama-node devnet`: a complete local pool on one machine. It starts litecoind on
//! regtest (the pair `getblocktemplate` needs), a node with a generated config, and two
//! CPU miners paying two addresses (the node's own built-in miner, which the dashboard
//! lists as a device, and a separate one as a second rig would be), then reports every
//! block found and what each address got.

mod litecoind;
pub mod monero;
mod process;
mod rpc;

pub use litecoind::{LitecoinRegtest, NOT_INSTALLED, PID_FILE, litecoind_path};
pub use rpc::{RpcClient, RpcError};

use crate::config::{ChainConfig, Config, DaemonConfig};
use crate::service::{Node, NodeEvent};
use otedama_miner::{Miner, MinerConfig};
use otedama_sharechain::{ChainSpec, PayoutScript, script_to_address};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::broadcast::error::RecvError;

/// Options of the devnet.
#[derive(Clone, Debug)]
pub struct DevnetOptions {
    /// Stop after this many blocks found by the pool (run until Ctrl-C if `None`).
    pub blocks: Option<u64>,
    /// Keep everything (daemon and share store) here; a temporary directory otherwise.
    pub data_dir: Option<PathBuf>,
    /// Stratum listen address.
    pub stratum: SocketAddr,
    /// Hashing threads per miner.
    pub threads: usize,
    /// Print one JSON object per event instead of text lines.
    pub json: bool,
    /// Serve the REST API and dashboard here (with tokens in the node's data directory).
    pub api: Option<SocketAddr>,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
    /// Serve the health checks here.
    pub health: Option<SocketAddr>,
}

/// One block found by the devnet pool.
#[derive(Clone, Debug, Serialize)]
pub struct FoundBlock {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash.
    pub hash: String,
    /// Amount per address, in litoshis.
    pub payouts: BTreeMap<String, u64>,
}

/// What a devnet run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DevnetSummary {
    /// Blocks found and accepted by litecoind.
    pub blocks: Vec<FoundBlock>,
    /// Total paid per address, in litoshis.
    pub totals: BTreeMap<String, u64>,
    /// Shares accepted into the sharechain.
    pub shares: u64,
    /// Valid blocks that lost the race to another block at the same height.
    pub stale_blocks: u64,
}

/// Why the devnet stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// litecoind is not installed (the message says how to install it).
    #[error("{0}")]
    Daemon(String),
    /// The node failed to start.
    #[error(transparent)]
    Node(#[from] crate::NodeError),
    /// The API failed to start.
    #[error(transparent)]
    Api(#[from] crate::api::ServiceError),
    /// A miner failed to start.
    #[error("miner: {0}")]
    Miner(String),
    /// I/O on the data directory.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The two payout addresses of the devnet's miners (fixed, so runs are comparable):
/// a bech32 P2WPKH (`rltc1...`) and a legacy P2PKH address.
pub fn devnet_payouts(spec: &ChainSpec) -> [(String, PayoutScript); 2] {
    let a = PayoutScript::p2wpkh([0xa1; 20]);
    let b = PayoutScript::p2pkh([0xb2; 20]);
    [
        (script_to_address(&a, spec).unwrap_or_default(), a),
        (script_to_address(&b, spec).unwrap_or_default(), b),
    ]
}

impl DevnetOptions {
    /// The listeners the options ask for.
    fn services(&self) -> crate::api::ServiceSet {
        crate::api::ServiceSet {
            api: self.api,
            metrics: self.metrics,
            health: self.health,
        }
    }
}

/// Says where the API, metrics and health listeners are.
fn announce_services(opts: &DevnetOptions, services: &crate::api::Services) {
    if let Some(addr) = services.api_addr() {
        say(opts, &format!("api and dashboard on http://{addr}/"));
    }
    if let Some(addr) = services.metrics_addr() {
        say(opts, &format!("metrics on http://{addr}/metrics"));
    }
    if let Some(addr) = services.health_addr() {
        say(
            opts,
            &format!("health on http://{addr}/healthz (ready: http://{addr}/readyz)"),
        );
    }
}

/// Runs the devnet until `opts.blocks` blocks were found or Ctrl-C.
///
/// # Errors
/// litecoind missing or failing to start, the node or a miner failing to start.
pub async fn run(opts: DevnetOptions) -> Result<DevnetSummary, DevnetError> {
    let spec = ChainSpec::by_name("ltc-regtest")
        .ok_or_else(|| DevnetError::Daemon("no ltc-regtest spec".into()))?;
    if litecoind_path().is_none() {
        return Err(DevnetError::Daemon(NOT_INSTALLED.into()));
    }
    let (_temp, root) = data_root(&opts)?;
    say(&opts, "starting litecoind (regtest)");
    // MWEB stays inactive: its activation block needs a wallet peg-in first.
    let root_for_daemon = root.clone();
    let daemon = tokio::task::spawn_blocking(move || {
        LitecoinRegtest::start_in(Some(&root_for_daemon), &["-vbparams=mweb:-2:0"])
    })
    .await
    .map_err(|e| DevnetError::Daemon(e.to_string()))?
    .map_err(DevnetError::Daemon)?;

    let mut config = Config::default();
    config.app.data_dir = root.join("node");
    config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.pool.address = opts.stratum;
    config.mining.algorithm = crate::config::MiningAlgorithm::Scrypt;
    // The first address is mined by the node's built-in miner, on its own pool.
    let [(builtin_address, _), (rig_address, _)] = devnet_payouts(spec);
    config.mining.payout_address = builtin_address.clone();
    config.mining.enable_cpu = true;
    config.mining.cpu.threads = u32::try_from(opts.threads).unwrap_or(1);
    // The same priority as the second rig, so the two split the work alike.
    config.mining.cpu.priority = crate::config::CpuPriority::Normal;
    config.mining.pool_urls = Vec::new();
    config.chains = vec![ChainConfig {
        spec: spec.name.to_string(),
        daemons: vec![DaemonConfig {
            url: daemon.rpc_url(),
            cookie_file: Some(daemon.cookie_path().to_path_buf()),
            user: None,
            password: None,
            zmq: None,
        }],
    }];
    let node = Node::start(&config, None).await?;
    let mut events = node.events();
    say(
        &opts,
        &format!("node up: stratum on {}", node.stratum_addr()),
    );
    let p2p = node
        .handle()
        .p2p()
        .wait_listening(std::time::Duration::from_secs(2))
        .await;
    for address in p2p {
        say(&opts, &format!("p2p listening on {address}"));
    }
    let services = crate::api::Services::start(&node, &config, &opts.services()).await?;
    announce_services(&opts, &services);

    say(
        &opts,
        &format!("built-in miner paying {builtin_address} started"),
    );
    let rig = Miner::start(MinerConfig {
        pools: vec![format!("stratum+tcp://{}", node.stratum_addr())],
        user: format!("{rig_address}.devnet"),
        password: "x".into(),
        threads: opts.threads,
        algorithm: spec.algorithm,
        max_hashrate: None,
        priority: otedama_miner::ThreadPriority::default(),
        affinity: otedama_miner::CpuAffinity::default(),
    })
    .map_err(|e| DevnetError::Miner(e.to_string()))?;
    say(&opts, &format!("miner paying {rig_address} started"));

    let mut summary = DevnetSummary::default();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let event = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            e = events.recv() => e,
        };
        match event {
            Ok(NodeEvent::ShareAccepted { .. }) => summary.shares += 1,
            Ok(NodeEvent::BlockFound {
                height,
                hash,
                payouts,
                accepted: true,
                ..
            }) => {
                let payouts: BTreeMap<String, u64> = payouts
                    .iter()
                    .map(|(s, a)| {
                        (
                            script_to_address(s, spec).unwrap_or_else(|| s.to_string()),
                            a.to_sat(),
                        )
                    })
                    .collect();
                for (addr, sat) in &payouts {
                    *summary.totals.entry(addr.clone()).or_default() += sat;
                }
                let found = FoundBlock {
                    height,
                    hash: hash.to_string(),
                    payouts,
                };
                if opts.json {
                    println!("{}", serde_json::json!({"event": "block", "block": found}));
                } else {
                    let paid: Vec<String> = found
                        .payouts
                        .iter()
                        .map(|(a, s)| format!("{a} {}", otedama_sharechain::Amount::from_sat(*s)))
                        .collect();
                    println!("block {height} {hash}: {}", paid.join(", "));
                }
                summary.blocks.push(found);
                if opts
                    .blocks
                    .is_some_and(|n| summary.blocks.len() as u64 >= n)
                {
                    break;
                }
            }
            Ok(NodeEvent::BlockFound { stale: true, .. }) => summary.stale_blocks += 1,
            Ok(NodeEvent::BlockFound { hash, errors, .. }) => {
                say(
                    &opts,
                    &format!("block {hash} rejected: {}", errors.join("; ")),
                );
            }
            Ok(NodeEvent::ParentUnavailable(e)) => say(&opts, &format!("parent daemon: {e}")),
            Ok(NodeEvent::ShareRejected { worker, reason }) => {
                tracing::debug!(target: "otedama::devnet", %worker, %reason, "share rejected");
            }
            Ok(NodeEvent::PeerShareAccepted { .. }) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
        }
    }
    rig.stop().await;
    services.stop().await;
    node.stop().await;
    drop(daemon);
    Ok(summary)
}

/// The devnet's data directory: `opts.data_dir` (created), or a temporary directory that
/// lives as long as the returned guard.
fn data_root(opts: &DevnetOptions) -> Result<(Option<tempfile::TempDir>, PathBuf), DevnetError> {
    match &opts.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Ok((None, d.clone()))
        }
        None => {
            let t = tempfile::tempdir()?;
            let root = t.path().to_path_buf();
            Ok((Some(t), root))
        }
    }
}

fn say(opts: &DevnetOptions, line: &str) {
    if opts.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}
