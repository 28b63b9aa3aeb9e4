//! `otedama-node devnet --chain xmr-regtest`: monerod on regtest (offline, loopback, a
//! fixed difficulty above the share difficulty), monero-wallet-rpc with two new wallets,
//! a Monero sidechain node, and two built-in RandomX miners paying the two wallets. When
//! it stops, each wallet's own scan says what it received in every block the pool found.

use super::process::Spawner;
use super::{DevnetError, DevnetOptions, DevnetSummary, FoundBlock, say};
use crate::monero::{MoneroNode, MoneroSettings, parse_wallet};
use crate::parent::monero::MonerodClient;
use otedama_sharechain::monero::SidechainParams;
use otedama_stratum::StratumConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// monerod's fixed block difficulty: above the sidechain's starting share difficulty,
/// so a block takes several shares.
pub const MONERO_DIFFICULTY: u64 = 150;
/// What to do when monerod is missing.
pub const MONERO_NOT_INSTALLED: &str =
    "monerod and monero-wallet-rpc are not installed: sudo apt-get install monero";

/// Returns monerod's path (`$MONEROD`, else `/usr/bin/monerod`) when it exists.
pub fn monerod_path() -> Option<PathBuf> {
    bin("MONEROD", "monerod")
}

fn bin(env: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin").join(name)))
        .filter(|p| p.exists())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// monerod on regtest and monero-wallet-rpc beside it, killed when dropped (and with the
/// process, through the spawner).
pub struct MoneroRegtest {
    children: Vec<Child>,
    spawner: Spawner,
    /// monerod's RPC base URL.
    pub monerod_url: String,
    /// monerod's ZMQ publisher.
    pub zmq: String,
    /// monero-wallet-rpc's base URL.
    pub wallet_url: String,
}

impl Drop for MoneroRegtest {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl MoneroRegtest {
    /// Starts monerod (regtest, offline, loopback only, at a fixed `difficulty`, ZMQ
    /// publisher on) and monero-wallet-rpc with data under `root`. Returns at once; the
    /// RPCs answer a few seconds later ([`call_until`]).
    ///
    /// # Errors
    /// A missing binary or a process that cannot be spawned.
    pub fn start_in(root: &Path, difficulty: u64) -> Result<Self, String> {
        let monerod = bin("MONEROD", "monerod").ok_or(MONERO_NOT_INSTALLED)?;
        let wallet_rpc =
            bin("MONERO_WALLET_RPC", "monero-wallet-rpc").ok_or(MONERO_NOT_INSTALLED)?;
        let port = || free_port().map_err(|e| e.to_string());
        let (rpc, p2p, zmq_rpc, zmq_pub, wallet) = (port()?, port()?, port()?, port()?, port()?);
        let (chain_dir, wallet_dir) = (root.join("monerod"), root.join("wallets"));
        for d in [&chain_dir, &wallet_dir] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let mut daemon = Command::new(monerod);
        daemon
            .args(["--regtest", "--offline", "--non-interactive", "--no-igd"])
            .args(["--fixed-difficulty", &difficulty.to_string()])
            .arg("--data-dir")
            .arg(&chain_dir)
            .args([
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                &rpc.to_string(),
            ])
            .args([
                "--p2p-bind-ip",
                "127.0.0.1",
                "--p2p-bind-port",
                &p2p.to_string(),
            ])
            .args(["--zmq-rpc-bind-ip", "127.0.0.1"])
            .args(["--zmq-rpc-bind-port", &zmq_rpc.to_string()])
            .args(["--zmq-pub", &format!("tcp://127.0.0.1:{zmq_pub}")])
            .args(["--disable-dns-checkpoints", "--check-updates", "disabled"])
            .args(["--log-level", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut wallets = Command::new(wallet_rpc);
        wallets
            .args([
                "--daemon-address",
                &format!("127.0.0.1:{rpc}"),
                "--trusted-daemon",
            ])
            .args([
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                &wallet.to_string(),
            ])
            .args([
                "--disable-rpc-login",
                "--non-interactive",
                "--log-level",
                "0",
            ])
            .arg("--wallet-dir")
            .arg(&wallet_dir)
            .current_dir(&wallet_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut regtest = MoneroRegtest {
            children: Vec::new(),
            spawner: Spawner::start().map_err(|e| e.to_string())?,
            monerod_url: format!("http://127.0.0.1:{rpc}"),
            zmq: format!("tcp://127.0.0.1:{zmq_pub}"),
            wallet_url: format!("http://127.0.0.1:{wallet}"),
        };
        // Each child joins `children` at once, so a failure below still kills it.
        for (name, command) in [("monerod", daemon), ("monero-wallet-rpc", wallets)] {
            let child = regtest
                .spawner
                .spawn(command)
                .map_err(|e| format!("{name}: {e}"))?;
            regtest.children.push(child);
        }
        Ok(regtest)
    }
}

/// Calls `method` until it answers or `within` passes (daemons starting up); one try may
/// itself take up to `within` (a wallet RPC creating or scanning a wallet is slow).
pub async fn call_until(
    client: &MonerodClient,
    method: &str,
    params: Value,
    within: Duration,
) -> Result<Value, DevnetError> {
    let started = Instant::now();
    loop {
        match client.call_within(method, params.clone(), within).await {
            Ok(v) => return Ok(v),
            Err(e) if started.elapsed() >= within => {
                return Err(DevnetError::Daemon(format!("{method}: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Creates wallet `name` (or opens it, left by an earlier run) and returns its address.
///
/// # Errors
/// The wallet RPC does not answer within a minute.
pub async fn create_wallet(wallets: &MonerodClient, name: &str) -> Result<String, DevnetError> {
    let minute = Duration::from_secs(60);
    let created = json!({"filename": name, "password": "", "language": "English"});
    if call_until(wallets, "create_wallet", created, minute)
        .await
        .is_err()
    {
        let open = json!({"filename": name, "password": ""});
        call_until(wallets, "open_wallet", open, minute).await?;
    }
    let a = call_until(wallets, "get_address", json!({}), minute).await?;
    Ok(a["address"].as_str().unwrap_or_default().to_owned())
}

/// Opens wallet `name`, scans the chain and returns its coinbase income by height.
///
/// # Errors
/// The wallet RPC does not answer within two minutes.
pub async fn wallet_income(
    wallets: &MonerodClient,
    name: &str,
) -> Result<BTreeMap<u64, u64>, DevnetError> {
    let long = Duration::from_secs(120);
    call_until(
        wallets,
        "open_wallet",
        json!({"filename": name, "password": ""}),
        long,
    )
    .await?;
    call_until(wallets, "refresh", json!({}), long).await?;
    let t = call_until(wallets, "get_transfers", json!({"in": true}), long).await?;
    let mut by_height = BTreeMap::new();
    for tx in t["in"].as_array().into_iter().flatten() {
        if tx["type"] == "block"
            && let (Some(h), Some(a)) = (tx["height"].as_u64(), tx["amount"].as_u64())
        {
            *by_height.entry(h).or_default() += a;
        }
    }
    Ok(by_height)
}

/// Runs the Monero devnet until `opts.blocks` blocks were accepted or Ctrl-C.
///
/// # Errors
/// monerod or monero-wallet-rpc missing or failing, the node failing to start.
pub async fn run(opts: DevnetOptions) -> Result<DevnetSummary, DevnetError> {
    let (_temp, root) = super::data_root(&opts)?;
    say(&opts, "starting monerod (regtest) and monero-wallet-rpc");
    let regtest = MoneroRegtest::start_in(&root, MONERO_DIFFICULTY).map_err(DevnetError::Daemon)?;
    let monerod = MonerodClient::new(vec![regtest.monerod_url.clone()]);
    let wallets = MonerodClient::new(vec![regtest.wallet_url.clone()]);
    call_until(
        &monerod,
        "get_miner_data",
        json!({}),
        Duration::from_secs(60),
    )
    .await?;
    let mut addresses = Vec::new();
    for name in ["miner-1", "miner-2"] {
        let address = create_wallet(&wallets, name).await?;
        say(&opts, &format!("wallet {name}: {address}"));
        addresses.push(address);
    }
    let wallet = parse_wallet(&addresses[0]).map_err(DevnetError::Daemon)?;
    let node = MoneroNode::start(MoneroSettings {
        params: SidechainParams::regtest(),
        daemons: vec![regtest.monerod_url.clone()],
        zmq: Some(regtest.zmq.clone()),
        poll_interval: Duration::from_secs(1),
        store: root.join("node").join("sidechain"),
        wallet,
        stratum: StratumConfig {
            listen: opts.stratum,
            ..StratumConfig::default()
        },
        p2p: None,
        dataset: None,
    })
    .await
    .map_err(|e| DevnetError::Daemon(e.to_string()))?;
    say(
        &opts,
        &format!("node up: xmrig stratum on {}", node.stratum_addr()),
    );
    let mut config = crate::config::Config::default();
    config.app.data_dir = root.join("node");
    let handle = node.handle();
    let services = crate::api::Services::start_with(
        crate::api::MoneroApiAdapter::new(handle.clone(), config.app.name.clone(), None),
        crate::api::MetricSources {
            base: handle.take_metrics_registry(),
            parent: handle.parent_metrics().clone(),
        },
        &config,
        &opts.services(),
    )
    .await?;
    super::announce_services(&opts, &services);
    // The miners start once the node has work (its first template from monerod).
    let mut status = node.status();
    let started = Instant::now();
    while status.borrow_and_update().share_difficulty.is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(DevnetError::Daemon(
                "no work from monerod within 60 s".into(),
            ));
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), status.changed()).await;
    }
    let (stop_miners, stopped) = tokio::sync::watch::channel(false);
    let mut miners = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        miners.push(tokio::spawn(otedama_miner::xmrig::run(
            otedama_miner::xmrig::XmrigMinerConfig {
                pool: node.stratum_addr().to_string(),
                login: format!("{address}.rig{}", i + 1),
                threads: opts.threads,
                priority: otedama_miner::ThreadPriority::Normal,
                affinity: otedama_miner::CpuAffinity::default(),
                mode: otedama_miner::randomx::RandomxMode::Light,
                vm: otedama_miner::randomx::VmEngine::Auto,
                dataset: None,
            },
            Arc::default(),
            stopped.clone(),
        )));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut reported = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        let s = status.borrow_and_update().clone();
        let accepted: Vec<_> = s.blocks.iter().filter(|b| b.accepted).collect();
        for b in accepted.iter().skip(reported) {
            say(
                &opts,
                &format!(
                    "block {} at height {} accepted by monerod ({} shares)",
                    b.id, b.height, s.shares
                ),
            );
        }
        reported = accepted.len();
        // Two blocks of one height are a lost race: one block for the count.
        let heights: std::collections::BTreeSet<u64> = accepted.iter().map(|b| b.height).collect();
        if opts.blocks.is_some_and(|n| heights.len() as u64 >= n) {
            break;
        }
    }
    let _ = stop_miners.send(true);
    for m in miners {
        let _ = m.await;
    }
    let last = node.status().borrow().clone();
    services.stop().await;
    node.stop().await;
    // What each wallet saw, by its own scan: the proof that the split reached it.
    let mut summary = DevnetSummary {
        shares: last.accepted,
        ..DevnetSummary::default()
    };
    let mut per_wallet = Vec::new();
    for name in ["miner-1", "miner-2"] {
        per_wallet.push(wallet_income(&wallets, name).await?);
    }
    // A wallet's income is by height; two blocks of one height (a lost race) are listed
    // once, as the one whose height came first.
    let mut heights = std::collections::BTreeSet::new();
    for b in last.blocks.iter().filter(|b| b.accepted) {
        if !heights.insert(b.height) {
            continue;
        }
        let mut payouts = BTreeMap::new();
        for (address, income) in addresses.iter().zip(&per_wallet) {
            let got = income.get(&b.height).copied().unwrap_or(0);
            payouts.insert(address.clone(), got);
            *summary.totals.entry(address.clone()).or_default() += got;
        }
        summary.blocks.push(FoundBlock {
            height: u32::try_from(b.height).unwrap_or(u32::MAX),
            hash: b.id.clone(),
            payouts,
        });
    }
    drop(regtest);
    Ok(summary)
}
