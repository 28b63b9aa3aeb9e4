//! `serve` and `devnet`: running a node, or a whole local network, until it is stopped.

use super::check::{Checked, check_file};
use super::{DevnetArgs, EXIT_FAILURE, EXIT_ISSUES};
use crate::config::Config;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The first half of `serve`: loads and validates `file`, printing its issues to stderr.
/// The caller installs logging from the config before calling [`serve`].
///
/// # Errors
/// The exit code to end with: 1 for issues in the file, 2 when it cannot be read.
pub fn load_for_serve(file: &Path) -> Result<Box<Config>, ExitCode> {
    // The config is checked first so that an operator trying `serve` learns about its problems now.
    match check_file(file) {
        Checked::Loaded(config, issues, warnings) if issues.is_empty() => {
            warnings.iter().for_each(|w| eprintln!("warning: {w}"));
            Ok(config)
        }
        Checked::Loaded(_, issues, _) => {
            issues.iter().for_each(|issue| eprintln!("{issue}"));
            Err(ExitCode::from(EXIT_ISSUES))
        }
        Checked::Invalid(issue) => {
            eprintln!("{issue}");
            Err(ExitCode::from(EXIT_ISSUES))
        }
        Checked::Unreadable(issue) => {
            eprintln!("{issue}");
            Err(ExitCode::from(EXIT_FAILURE))
        }
    }
}

/// Runs the node of `config` with the listeners it enables until Ctrl-C or SIGTERM.
///
/// # Errors
/// The runtime, the node or a listener could not start.
pub fn serve(config: &Config) -> anyhow::Result<ExitCode> {
    tracing::info!(target: "otedama::node", name = %config.app.name, mode = %config.app.mode, chains = config.chains.len(), "config loaded");
    for warning in missing_devices(config, &crate::devices::report) {
        tracing::warn!(target: "otedama::mining", "{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if let Some(params) = config.chains.first().and_then(|c| c.monero_params()) {
        return runtime.block_on(serve_monero(config, params));
    }
    if let Some(chain) = config.chains.first().and_then(|c| c.etc_chain()) {
        return runtime.block_on(serve_etc(config, chain));
    }
    runtime.block_on(async {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        // The node starts the built-in miner itself when `mining` enables it.
        let node = crate::Node::start(config, home.as_deref()).await?;
        let services = crate::api::Services::start(
            &node,
            config,
            &crate::api::ServiceSet::from_config(config),
        )
        .await?;
        // The swarm reports its addresses as it binds them: wait for them (briefly), unless
        // the config has it listen nowhere.
        let p2p: Vec<String> = if config.p2p.listen.is_empty() {
            Vec::new()
        } else {
            node.handle()
                .p2p()
                .wait_listening(std::time::Duration::from_secs(2))
                .await
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        tracing::info!(target: "otedama::node", stratum = %node.stratum_addr(), api = ?services.api_addr(),
            metrics = ?services.metrics_addr(), health = ?services.health_addr(), ?p2p, "serving");
        wait_for_signal().await;
        tracing::info!(target: "otedama::node", "shutting down");
        services.stop().await;
        node.stop().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Runs a Monero sidechain node: monerod, the sidechain, the mesh, xmrig-dialect Stratum,
/// and the API, dashboard, metrics and health listeners the config enables.
async fn serve_monero(
    config: &Config,
    params: otedama_sharechain::monero::SidechainParams,
) -> anyhow::Result<ExitCode> {
    let mut settings =
        crate::monero::MoneroSettings::from_config(config, params).map_err(anyhow::Error::msg)?;
    let chain = settings.params.name.clone();
    let chain_dir = config.app.data_dir.join(&chain);
    std::fs::create_dir_all(&chain_dir)
        .with_context(|| format!("creating {}", chain_dir.display()))?;
    let (key, created) = crate::p2p::key::load_or_create(&config.app.data_dir)?;
    if created {
        tracing::info!(target: "otedama::p2p", peer_id = %key.public().to_peer_id(), "created a node key");
    }
    settings.p2p = Some(crate::monero::MoneroP2p {
        settings: crate::service::p2p_settings(config, &chain_dir)?,
        key,
    });
    // One dataset per seed: the verifier hashes on the built-in miner's while it mines.
    let dataset = std::sync::Arc::new(otedama_miner::randomx::DatasetSlot::default());
    if config.mining.miner_enabled() {
        settings.dataset = Some(std::sync::Arc::new(crate::monero::MinerDataset(
            std::sync::Arc::clone(&dataset),
        )));
    }
    let node = crate::monero::MoneroNode::start(settings).await?;
    let p2p: Vec<String> = match node.p2p() {
        Some(mesh) if !config.p2p.listen.is_empty() => mesh
            .wait_listening(std::time::Duration::from_secs(2))
            .await
            .iter()
            .map(ToString::to_string)
            .collect(),
        _ => Vec::new(),
    };
    // The built-in miner mines RandomX through the node's own Stratum, for its address.
    let mut pool = node.stratum_addr();
    if pool.ip().is_unspecified() {
        pool.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let threads = otedama_miner::hashing_threads(config.mining.cpu.threads as usize);
    let miner = std::sync::Arc::new(crate::mining::PoolMiner::new(
        crate::mining::PoolClient::Xmrig(otedama_miner::xmrig::XmrigMinerConfig {
            pool: pool.to_string(),
            login: config.mining.payout_address.trim().to_owned(),
            threads,
            priority: config.mining.cpu.priority.thread_priority(),
            affinity: config.mining.cpu.cpu_affinity(),
            mode: otedama_miner::randomx::RandomxMode::Auto,
            vm: config.mining.cpu.randomx_vm.engine(),
            dataset: Some(dataset),
        }),
    ));
    let handle = node.handle();
    let adapter = crate::api::MoneroApiAdapter::new(
        handle.clone(),
        config.app.name.clone(),
        Some(std::sync::Arc::clone(&miner)),
    );
    let metrics = crate::api::MetricSources {
        base: handle.take_metrics_registry(),
        parent: handle.parent_metrics().clone(),
    };
    run_until_signal(adapter, metrics, config, &miner, |services| {
        tracing::info!(target: "otedama::node", %chain, stratum = %node.stratum_addr(), api = ?services.api_addr(),
            metrics = ?services.metrics_addr(), health = ?services.health_addr(), ?p2p, "serving a Monero sidechain");
        tracing::info!(target: "otedama::mining", threads, enabled = config.mining.miner_enabled(), "built-in RandomX miner (fast mode where the memory allows, else light)");
    })
    .await?;
    node.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Starts the API, metrics and health listeners over `adapter`, starts `miner` when the
/// config enables it, and waits for Ctrl-C or SIGTERM; then stops the listeners and the
/// miner (the caller stops its node). `announce` logs where everything listens.
async fn run_until_signal(
    adapter: std::sync::Arc<impl otedama_rpc::NodeApi>,
    metrics: crate::api::MetricSources,
    config: &Config,
    miner: &crate::mining::PoolMiner,
    announce: impl FnOnce(&crate::api::Services),
) -> anyhow::Result<()> {
    let services = crate::api::Services::start_with(
        adapter,
        metrics,
        config,
        &crate::api::ServiceSet::from_config(config),
    )
    .await?;
    announce(&services);
    if config.mining.miner_enabled() {
        miner.start();
    }
    wait_for_signal().await;
    tracing::info!(target: "otedama::node", "shutting down");
    services.stop().await;
    miner.stop().await;
    Ok(())
}

/// Runs a solo Ethereum Classic node: core-geth's work API, Etchash Stratum, and the
/// API, dashboard, metrics and health listeners the config enables.
async fn serve_etc(
    config: &Config,
    chain: &'static crate::etc::EtcChain,
) -> anyhow::Result<ExitCode> {
    let node =
        crate::etc::EtcNode::start(crate::etc::EtcSettings::from_config(config, chain)).await?;
    let mut pool = node.stratum_addr();
    if pool.ip().is_unspecified() {
        pool.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    // The built-in miner hashes Etchash on the CPU with the epoch's light cache, or on
    // the first configured OpenCL device with the epoch's DAG.
    let (device, batch) = crate::mining::dag_device(&config.mining);
    let miner = std::sync::Arc::new(crate::mining::PoolMiner::new(
        crate::mining::PoolClient::Dag {
            config: otedama_miner::DagClientConfig {
                host: pool.ip().to_string(),
                port: pool.port(),
                user: config.mining.payout_address.trim().to_owned(),
                password: "x".to_owned(),
                algorithm: otedama_stratum::dag::DagAlgorithm::Etchash,
                batch,
                device,
                dialect: otedama_miner::ClientDialect::Stratum,
            },
            failover: Vec::new(),
        },
    ));
    let handle = node.handle().clone();
    let adapter = crate::api::EtcApiAdapter::new(
        handle.clone(),
        config.app.name.clone(),
        config
            .mining
            .miner_enabled()
            .then(|| std::sync::Arc::clone(&miner)),
    );
    let metrics = crate::api::MetricSources {
        base: None,
        parent: handle.parent_metrics().clone(),
    };
    run_until_signal(adapter, metrics, config, &miner, |services| {
        tracing::info!(target: "otedama::node", chain = chain.name, stratum = %node.stratum_addr(), api = ?services.api_addr(),
            metrics = ?services.metrics_addr(), health = ?services.health_addr(), "serving Ethereum Classic solo: every block pays core-geth's etherbase");
        tracing::info!(target: "otedama::mining", enabled = config.mining.miner_enabled(), "built-in Etchash miner (CPU, light cache)");
    })
    .await?;
    node.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// Returns one warning for each device kind the config enables that the machine lacks
/// (none found, or its API unavailable); the node runs without it. `report` detects
/// the devices, only when GPUs or ASICs are enabled.
fn missing_devices(
    config: &Config,
    report: &dyn Fn() -> crate::devices::DeviceReport,
) -> Vec<String> {
    let m = &config.mining;
    if !(m.enable_gpu || m.enable_asic) {
        return Vec::new();
    }
    let found = report();
    let mut warnings = Vec::new();
    // A miner that starts reports its own missing GPUs, once.
    if m.enable_gpu && m.gpu.devices.is_empty() && !m.miner_enabled() {
        let listing = match m.gpu.backend {
            crate::config::GpuBackendKind::Opencl => &found.opencl,
            crate::config::GpuBackendKind::Cuda => &found.cuda,
        };
        if !listing.devices.iter().any(|d| d.auto) {
            let why = listing
                .unavailable
                .as_deref()
                .map_or_else(String::new, |u| format!(" ({u})"));
            warnings.push(format!(
                "mining.enable_gpu is set but no GPU was detected{why}; the node runs without GPU mining"
            ));
        }
    }
    if m.enable_asic && m.asic.devices.is_empty() && found.usb.is_empty() {
        warnings.push(
            "mining.enable_asic is set but no USB ASIC was detected (list network miners in \
             mining.asic.devices); the node runs without ASIC mining"
                .to_owned(),
        );
    }
    warnings
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs `devnet` and prints its summary.
///
/// # Errors
/// The async runtime could not start, or the summary could not be encoded.
pub fn devnet(args: DevnetArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let json = args.json;
    let options = crate::devnet::DevnetOptions {
        blocks: args.blocks,
        data_dir: args.data_dir,
        stratum: args.stratum,
        threads: args.threads.max(1),
        json,
        api: (!args.no_api).then_some(args.api),
        metrics: (!args.no_monitoring).then_some(args.metrics),
        health: (!args.no_monitoring).then_some(args.health),
    };
    let monero = args.chain == "xmr-regtest";
    let run = async {
        if monero {
            crate::devnet::monero::run(options).await
        } else {
            crate::devnet::run(options).await
        }
    };
    match runtime.block_on(run) {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&summary).context("encoding the summary")?
                );
            } else {
                println!(
                    "summary: {} blocks, {} shares",
                    summary.blocks.len(),
                    summary.shares
                );
                for (address, units) in &summary.totals {
                    if monero {
                        // Atomic units: 10^12 per XMR.
                        let (whole, frac) = (units / 1_000_000_000_000, units % 1_000_000_000_000);
                        println!("  {address}: {whole}.{frac:012} XMR");
                    } else {
                        println!(
                            "  {address}: {}",
                            otedama_sharechain::Amount::from_sat(*units)
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("otedama-node devnet: {e}");
            Ok(ExitCode::from(EXIT_FAILURE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{CpuReport, DeviceReport, Listing};

    fn nothing() -> DeviceReport {
        DeviceReport {
            cpu: CpuReport {
                threads: 1,
                sha256d: Vec::new(),
                scrypt: Vec::new(),
            },
            randomx: crate::devices::randomx_report(1),
            opencl: Listing {
                devices: Vec::new(),
                unavailable: Some("no OpenCL driver".into()),
            },
            cuda: Listing {
                devices: Vec::new(),
                unavailable: None,
            },
            usb: Vec::new(),
        }
    }

    #[test]
    fn each_enabled_kind_without_devices_gets_one_warning() {
        let mut config = Config::default();
        assert!(missing_devices(&config, &|| unreachable!("not asked")).is_empty());
        config.mining.enable_gpu = true;
        config.mining.enable_asic = true;
        let warnings = missing_devices(&config, &nothing);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0]
                .starts_with("mining.enable_gpu is set but no GPU was detected (no OpenCL driver)")
        );
        assert!(warnings[1].starts_with("mining.enable_asic is set but no USB ASIC was detected"));
        // Devices named in the config are the miner's to report, and so are GPUs
        // once the miner starts.
        config.mining.asic.devices = vec!["sim:bm1366x4".into()];
        assert_eq!(missing_devices(&config, &nothing).len(), 1);
        config.mining.payout_address = "addr".into();
        assert!(missing_devices(&config, &nothing).is_empty());
    }
}
