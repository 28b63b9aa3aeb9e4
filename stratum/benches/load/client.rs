//! The client process: thousands of simulated miners against one server address. It
//! prints `READY <connected> <failed> <secs>` once every miner holds its first job,
//! then either idles until its stdin closes (phase `idle`) or submits shares at the
//! configured total rate for the configured time (phase `active`), and prints
//! `RESULT <json>`.

use crate::miner::{Error, Miner, Outcome};
use crate::sv2::Sv2Miner;
use otedama_sharechain::script_to_address;
use otedama_sharechain::test_utils::script;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Connection setups in flight at once (the server's accept backlog is 4 096).
const CONNECTING: usize = 256;
/// Longest a setup or an answer may take before it counts as an error.
const LIMIT: Duration = Duration::from_secs(10);
/// Distinct payout addresses among the miners (farms share one address).
const ADDRESSES: u32 = 100;

/// What the parent asked for.
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// Miners to connect.
    pub miners: usize,
    /// Submit shares (otherwise idle).
    pub active: bool,
    /// Total shares per second over all miners.
    pub rate: f64,
    /// How long to submit.
    pub secs: u64,
    /// Stratum V2 with this authority key (otherwise Stratum v1).
    pub sv2: Option<[u8; 32]>,
}

/// A simulated miner of either protocol.
enum AnyMiner {
    V1(Box<Miner>),
    V2(Box<Sv2Miner>),
}

impl AnyMiner {
    async fn connect(
        addr: SocketAddr,
        user: String,
        sv2: Option<[u8; 32]>,
        limit: Duration,
    ) -> Result<Self, Error> {
        Ok(match sv2 {
            None => Self::V1(Box::new(Miner::connect(addr, user, limit).await?)),
            Some(key) => Self::V2(Box::new(Sv2Miner::connect(addr, user, key, limit).await?)),
        })
    }

    async fn idle_until(&mut self, deadline: tokio::time::Instant) -> Result<bool, Error> {
        match self {
            Self::V1(m) => m.idle_until(deadline).await,
            Self::V2(m) => m.idle_until(deadline).await,
        }
    }

    async fn submit(&mut self, limit: Duration) -> Outcome {
        match self {
            Self::V1(m) => m.submit(limit).await,
            Self::V2(m) => m.submit(limit).await,
        }
    }
}

/// One miner's results.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
}

/// Runs the client role.
pub fn run(plan: Plan) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let spec = otedama_sharechain::ChainSpec::by_name("btc-regtest").expect("built in");
        let connecting = Arc::new(Semaphore::new(CONNECTING));
        let (ready_tx, mut ready_rx) = mpsc::channel::<Result<(), String>>(plan.miners);
        let (go_tx, go_rx) = watch::channel::<Option<Instant>>(None);
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        let period = Duration::from_secs_f64(plan.miners as f64 / plan.rate.max(1e-3));
        for i in 0..plan.miners {
            let user = format!(
                "{}.m{i}",
                script_to_address(&script(i as u32 % ADDRESSES), spec).expect("address")
            );
            let (connecting, ready, mut go) = (connecting.clone(), ready_tx.clone(), go_rx.clone());
            let (addr, active, secs, sv2) = (plan.addr, plan.active, plan.secs, plan.sv2);
            // Spread the miners' submissions evenly over one period.
            let offset = period.mul_f64(i as f64 / plan.miners as f64);
            tasks.spawn(async move {
                let mut tally = Tally::default();
                let permit = connecting.acquire_owned().await;
                let miner = AnyMiner::connect(addr, user, sv2, LIMIT).await;
                drop(permit);
                let mut miner = match miner {
                    Ok(m) => {
                        let _ = ready.send(Ok(())).await;
                        m
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e)).await;
                        return tally;
                    }
                };
                drop(ready);
                let Ok(start) = go
                    .wait_for(Option::is_some)
                    .await
                    .map(|s| s.unwrap_or_else(Instant::now))
                else {
                    return tally;
                };
                if !active {
                    // Hold the connection, reading refreshes, until the process ends.
                    while let Ok(true) = miner
                        .idle_until(tokio::time::Instant::now() + Duration::from_secs(3600))
                        .await
                    {}
                    return tally;
                }
                let end = start + Duration::from_secs(secs);
                let mut next = start + offset;
                while next < end {
                    match miner.idle_until(next.into()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            *tally.errors.entry("closed by server".into()).or_default() += 1;
                            break;
                        }
                        Err(e) => {
                            *tally.errors.entry(e).or_default() += 1;
                            break;
                        }
                    }
                    match miner.submit(LIMIT).await {
                        Outcome::Accepted(took) => tally
                            .latencies_us
                            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
                        Outcome::Failed(e) => *tally.errors.entry(e).or_default() += 1,
                    }
                    next += period;
                }
                tally
            });
        }
        drop(ready_tx);
        let (mut ok, mut failed, mut first_error) = (0usize, 0usize, None);
        while let Some(r) = ready_rx.recv().await {
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        println!("READY {ok} {failed} {:.2}", started.elapsed().as_secs_f64());
        if let Some(e) = first_error {
            eprintln!("first setup error: {e}");
        }
        let t0 = Instant::now();
        let _ = go_tx.send(Some(t0));
        if !plan.active {
            // Idle until the parent closes our stdin, then exit (closing every socket).
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
            })
            .await;
            println!("RESULT {}", json!({"connected": ok, "failed": failed}));
            std::process::exit(0);
        }
        let mut latencies = Vec::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(t) = done {
                latencies.extend(t.latencies_us);
                for (k, v) in t.errors {
                    *errors.entry(k).or_default() += v;
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |&us| f64::from(us) / 1000.0)
        };
        let accepted = latencies.len();
        println!(
            "RESULT {}",
            json!({
                "connected": ok, "failed": failed, "secs": secs,
                "accepted": accepted, "shares_per_sec": accepted as f64 / secs,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
                "max_ms": latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
                "errors": errors,
            })
        );
    });
}
