//! [`MinerControl`]: what the `mining` section allows, and starting and stopping the
//! rigs as one set. On a KawPow chain the built-in miner is one DAG client instead
//! ([`PoolMiner`]), of the node's own Stratum port or of `mining.pool_urls` in failover
//! order, on the CPU or the first GPU.

use super::plan::{GpuPlan, Plan, asic_plan};
use super::report::{fleet_device, rig_device};
use super::rigs::{Running, start_rigs};
use super::{LOG, MiningError, MiningStatus, PoolClient, PoolMiner, dag_device};
use crate::config::Config;
use otedama_miner::{MinerConfig, MinerStats};
use otedama_rpc::MiningDevice;
use std::net::SocketAddr;
use std::sync::Mutex;
use tracing::info;

/// Starts and stops the built-in miner's rigs; at most one set runs.
#[derive(Debug)]
pub struct MinerControl {
    plan: Result<Plan, String>,
    /// A KawPow chain's miner (then `plan` is unused).
    dag: Option<PoolMiner>,
    payout_address: Option<String>,
    running: Mutex<Option<Running>>,
    // Serialises start and stop, which await outside the `running` lock.
    op: tokio::sync::Mutex<()>,
}

impl MinerControl {
    /// Reads the `mining` section: the miner can run when a payout address is set and a
    /// backend is enabled for an algorithm it can hash. An empty `mining.pool_urls` mines
    /// on `own_pool`, the address this node's Stratum server listens on.
    pub fn new(config: &Config, own_pool: SocketAddr) -> Self {
        let m = &config.mining;
        let pools = if m.pool_urls.is_empty() {
            vec![own_pool_url(own_pool)]
        } else {
            m.pool_urls.clone()
        };
        let address = m.payout_address.trim();
        let payout_address = (!address.is_empty()).then(|| address.to_owned());
        let kawpow = config
            .chains
            .first()
            .and_then(|c| c.chain_spec())
            .is_some_and(|s| s.seal == otedama_sharechain::Seal::Kawpow);
        let dag = match (&payout_address, kawpow) {
            (Some(user), true) => Some(kawpow_miner(config, user, own_pool)),
            _ => None,
        };
        let plan = match (payout_address.as_ref(), m.algorithm.pow_algorithm()) {
            (None, _) => Err("mining.payout_address is empty".to_owned()),
            (Some(_), None) => Err(format!(
                "mining.algorithm {} has no built-in backend yet",
                m.algorithm
            )),
            (Some(user), Some(algorithm)) => Ok(Plan {
                base: MinerConfig {
                    pools,
                    user: user.clone(),
                    password: "x".into(),
                    threads: m.cpu.threads as usize,
                    algorithm,
                    max_hashrate: (m.cpu.max_hashrate > 0).then_some(m.cpu.max_hashrate as f64),
                    priority: m.cpu.priority.thread_priority(),
                    affinity: m.cpu.cpu_affinity(),
                },
                cpu: m.enable_cpu,
                gpu: m.enable_gpu.then(|| GpuPlan {
                    backend: m.gpu.backend,
                    devices: m.gpu.devices.clone(),
                    intensity: m.gpu.intensity,
                    temperature_limit: m.gpu.temperature_limit,
                }),
                asic: m.enable_asic.then(|| asic_plan(m)),
            }),
        };
        Self {
            plan,
            dag,
            payout_address,
            running: Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
        }
    }

    fn running(&self) -> bool {
        if let Some(dag) = &self.dag {
            return dag.state().running;
        }
        self.running.lock().map(|m| m.is_some()).unwrap_or(false)
    }

    /// Returns the state.
    pub fn status(&self) -> MiningStatus {
        let configured = self.dag.is_some() || self.plan.is_ok();
        MiningStatus {
            running: self.running(),
            configured,
            payout_address: self.payout_address.clone(),
            detail: (!configured)
                .then(|| self.plan.as_ref().err().cloned())
                .flatten(),
        }
    }

    /// Returns the counters of all rigs together (hashrates and shares summed; pool and
    /// difficulty of the first rig).
    pub fn stats(&self) -> Option<MinerStats> {
        if let Some(dag) = &self.dag {
            let state = dag.state();
            return state.running.then(|| MinerStats {
                hashrate: state.hashrate,
                hashes: state.hashes,
                accepted: state.accepted,
                rejected: state.rejected,
                pool: Some(state.pool),
                connected: state.connected,
                ..MinerStats::default()
            });
        }
        let running = self.running.lock().ok()?;
        let rigs = &running.as_ref()?.rigs;
        let mut stats = rigs.first().map(|r| r.miner.stats()).unwrap_or_default();
        for rig in rigs.iter().skip(1) {
            let s = rig.miner.stats();
            stats.hashrate += s.hashrate;
            stats.hashes += s.hashes;
            stats.accepted += s.accepted;
            stats.rejected += s.rejected;
            stats.stale += s.stale;
            stats.hardware_errors += s.hardware_errors;
            stats.connected |= s.connected;
        }
        Some(stats)
    }

    /// Returns one entry per rig and per watched network miner.
    pub fn devices(&self) -> Vec<MiningDevice> {
        let Ok(running) = self.running.lock() else {
            return Vec::new();
        };
        let Some(running) = running.as_ref() else {
            return Vec::new();
        };
        let mut out: Vec<MiningDevice> = running.rigs.iter().map(rig_device).collect();
        if let Some(fleet) = &running.fleet {
            out.extend(fleet.snapshot().into_iter().map(fleet_device));
        }
        out
    }

    /// Starts every configured rig; returns whether it was stopped before. Devices that
    /// fail to start are logged and left out; it fails only when none starts. Must run
    /// in a runtime.
    ///
    /// # Errors
    /// Not configured, or no rig could start.
    pub async fn start(&self) -> Result<bool, MiningError> {
        let _op = self.op.lock().await;
        if let Some(dag) = &self.dag {
            let started = dag.start();
            if started {
                info!(target: LOG, "built-in KawPow miner started");
            }
            return Ok(started);
        }
        let plan = self.plan.clone().map_err(MiningError::NotConfigured)?;
        if self.running() {
            return Ok(false);
        }
        // Opening devices blocks (USB, enumeration waits for replies).
        let started = tokio::task::spawn_blocking(move || start_rigs(&plan))
            .await
            .map_err(|e| MiningError::NotConfigured(format!("starting rigs: {e}")))??;
        if let Ok(mut slot) = self.running.lock() {
            *slot = Some(started);
        }
        info!(target: LOG, "built-in miner started");
        Ok(true)
    }

    /// Stops every rig and waits for them; returns whether any was running.
    pub async fn stop(&self) -> bool {
        let _op = self.op.lock().await;
        if let Some(dag) = &self.dag {
            return dag.stop().await;
        }
        let running = self.running.lock().ok().and_then(|mut m| m.take());
        match running {
            Some(r) => {
                for rig in r.rigs {
                    rig.miner.stop().await;
                }
                if let Some(fleet) = r.fleet {
                    fleet.stop().await;
                }
                info!(target: LOG, "built-in miner stopped");
                true
            }
            None => false,
        }
    }
}

/// The URL the built-in miner dials for this node's own pool: a server listening on every
/// interface is reached over loopback.
fn own_pool_url(listen: SocketAddr) -> String {
    format!("stratum+tcp://{}", dialled(listen))
}

/// The address a client on this machine dials for a server listening on `listen`.
fn dialled(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// A KawPow chain's built-in miner: the KawPow dialect for `user`, on the device
/// `mining` picks, on the node's own port, or on `mining.pool_urls` in failover order
/// when set (URLs `config check` refused are left out).
fn kawpow_miner(config: &Config, user: &str, own_pool: SocketAddr) -> PoolMiner {
    let own = dialled(own_pool);
    let mut pools: Vec<(String, u16)> = config
        .mining
        .pool_urls
        .iter()
        .filter_map(|url| otedama_miner::dag_pool_endpoint(url).ok())
        .collect();
    if pools.is_empty() {
        pools.push((own.ip().to_string(), own.port()));
    }
    let (host, port) = pools.remove(0);
    let (device, batch) = dag_device(&config.mining);
    PoolMiner::new(PoolClient::Dag {
        config: otedama_miner::DagClientConfig {
            host,
            port,
            user: user.to_owned(),
            password: "x".to_owned(),
            algorithm: otedama_stratum::dag::DagAlgorithm::Kawpow,
            batch,
            device,
            dialect: otedama_miner::ClientDialect::Stratum,
        },
        failover: pools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_pool_is_dialled_over_loopback_when_stratum_listens_everywhere() {
        let url = |a: &str| own_pool_url(a.parse().expect("address"));
        assert_eq!(url("0.0.0.0:3333"), "stratum+tcp://127.0.0.1:3333");
        assert_eq!(url("[::]:3334"), "stratum+tcp://[::1]:3334");
        assert_eq!(url("127.0.0.1:41000"), "stratum+tcp://127.0.0.1:41000");
        assert_eq!(url("10.1.2.3:3333"), "stratum+tcp://10.1.2.3:3333");
    }

    #[test]
    fn an_empty_pool_list_mines_on_the_own_pool() {
        let mut config = Config::default();
        config.mining.payout_address = "rltc1qexampleonly".into();
        let own: SocketAddr = "127.0.0.1:40001".parse().expect("address");
        let control = MinerControl::new(&config, own);
        let plan = control.plan.as_ref().expect("configured");
        assert_eq!(plan.base.pools, ["stratum+tcp://127.0.0.1:40001"]);

        config.mining.pool_urls = vec!["stratum+tcp://10.0.0.2:3333".into()];
        let control = MinerControl::new(&config, own);
        let plan = control.plan.as_ref().expect("configured");
        assert_eq!(plan.base.pools, ["stratum+tcp://10.0.0.2:3333"]);
    }
}
