//! A pool client for the DAG dialects: EthereumStratum/1.0.0 or ETHPROXY (Ethash,
//! Etchash) and the KawPow dialect, mining with the CPU light hasher (every dataset item computed
//! from the epoch's light cache: slow, exact, enough at low difficulty and for tests)
//! or on an OpenCL device holding the epoch's DAG ([`crate::DagDevice`]), every device
//! result re-checked on the CPU.
//!
//! One session, no failover: it subscribes, authorizes, follows `set_difficulty` /
//! `set_target` and `notify`, hashes nonce batches on the blocking pool under its
//! extranonce, and submits what meets the target. The epoch's hasher is built on the
//! blocking pool when a job of a new epoch arrives.

use crate::EpochSearcher;
use crate::error::DagClientError;
use otedama_sharechain::ethash::{Epoch, keccak256};
use otedama_stratum::dag::{DagAlgorithm, DagHash, DagHasher, difficulty_to_boundary};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, trace, warn};

const LOG: &str = "otedama::miner";
const USER_AGENT: &str = "otedama-miner/0.1";
/// TCP connect limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A pool silent for this long is presumed dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Time a pool has after the connection to send the first job.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Limit on one write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line accepted from the pool.
const MAX_LINE: usize = 64 * 1024;
/// Submits awaiting an answer; beyond this the oldest are forgotten.
const MAX_PENDING: usize = 1024;
/// Most extranonce bytes a pool may fix (kawpowminer and xmrig take at most 4).
const MAX_EXTRANONCE: usize = 4;
/// Seeds searched for an EthereumStratum job's epoch (Keccak-256 steps from zero).
const MAX_SEED_ROUNDS: u32 = 2 * otedama_sharechain::ethash::MAX_EPOCH + 1;
/// How often a session waiting for another session's build looks again.
const BUILD_POLL: Duration = Duration::from_millis(500);
/// Ethash's seed step, in blocks.
const SEED_STEP: u64 = 30_000;

/// A DAG pool to mine on.
#[derive(Debug, Clone)]
pub struct DagClientConfig {
    /// The pool's host name or address.
    pub host: String,
    /// The pool's port.
    pub port: u16,
    /// `ADDRESS[.worker]`.
    pub user: String,
    /// The password (`x`, or `d=N` for a fixed difficulty).
    pub password: String,
    /// The proof of work (EthereumStratum/1.0.0 for Ethash and Etchash, the KawPow
    /// dialect for KawPow).
    pub algorithm: DagAlgorithm,
    /// Nonces hashed between looks at new work.
    pub batch: u64,
    /// Where it hashes: the CPU light hasher, or a GPU with the epoch's DAG.
    pub device: crate::DagDevice,
    /// The dialect: the `mining.*` one of the algorithm, or ETHPROXY's `eth_*` methods
    /// (Ethash and Etchash only).
    pub dialect: ClientDialect,
}

/// The dialect a [`DagClient`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientDialect {
    /// EthereumStratum/1.0.0 (Ethash, Etchash) or the KawPow dialect.
    #[default]
    Stratum,
    /// ETHPROXY: `eth_submitLogin`, `eth_getWork`, `eth_submitWork`, new work pushed with
    /// id 0 (Claymore's and ethminer's `stratum1+tcp`).
    EthProxy,
}

/// The counters of a [`DagClient`].
#[derive(Debug, Default)]
pub struct DagClientStats {
    /// Nonces hashed.
    pub hashes: AtomicU64,
    /// Shares found and submitted.
    pub submitted: AtomicU64,
    /// Shares the pool accepted.
    pub accepted: AtomicU64,
    /// Shares the pool rejected.
    pub rejected: AtomicU64,
    /// Whether a session is logged in now.
    pub connected: AtomicBool,
    /// Jobs received (a failover list moves on from a pool whose session ended without
    /// sending one).
    pub jobs: AtomicU64,
}

/// The built-in miner's client for the DAG dialects, hashing on the CPU.
#[derive(Debug)]
pub struct DagClient {
    config: DagClientConfig,
    stats: Arc<DagClientStats>,
    /// The last epoch's searcher, and the epoch being built: kept for the next session
    /// (a GPU's DAG takes long to generate again).
    searcher: Arc<std::sync::Mutex<Kept>>,
}

/// An epoch and its searcher.
type Searcher = (Epoch, Arc<EpochSearcher>);

/// What the sessions of one client share: the searcher built last, and the epoch whose
/// build is under way (a session that ends mid-build leaves it to finish for the next).
#[derive(Debug, Default)]
struct Kept {
    ready: Option<Searcher>,
    building: Option<Epoch>,
}

/// Clears [`Kept::building`] when a build ends, however it ends.
struct Building(Arc<std::sync::Mutex<Kept>>);

impl Drop for Building {
    fn drop(&mut self) {
        lock(&self.0).building = None;
    }
}

fn lock(kept: &std::sync::Mutex<Kept>) -> std::sync::MutexGuard<'_, Kept> {
    kept.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Builds `epoch`'s searcher on `device`, or on the CPU when the device cannot hold it,
/// and keeps it in `kept` for every session of the client.
fn build_searcher(
    algorithm: DagAlgorithm,
    epoch: Epoch,
    device: crate::DagDevice,
    kept: Arc<std::sync::Mutex<Kept>>,
) -> Searcher {
    let _building = Building(Arc::clone(&kept));
    let hasher = DagHasher::new(algorithm, epoch);
    let searcher = match EpochSearcher::build(device, hasher.clone()) {
        Ok(searcher) => searcher,
        Err(e) => {
            warn!(target: LOG, epoch = epoch.number, error = %e, "DAG device unavailable; hashing on the CPU");
            EpochSearcher::Cpu(hasher)
        }
    };
    let searcher = (epoch, Arc::new(searcher));
    lock(&kept).ready = Some(searcher.clone());
    searcher
}

/// A job as the pool sent it.
#[derive(Debug, Clone)]
struct DagJob {
    id: String,
    header: [u8; 32],
    height: u64,
    epoch: Epoch,
    target: [u8; 32],
}

/// What a request was.
#[derive(Debug)]
enum Pending {
    Subscribe,
    Authorize,
    Submit,
    /// ETHPROXY's `eth_getWork`.
    GetWork,
}

/// A nonce batch being hashed: its job, and the shares found.
type Search = JoinHandle<(DagJob, Vec<(u64, DagHash)>)>;

impl DagClient {
    /// Returns a client for `config`.
    pub fn new(config: DagClientConfig) -> Self {
        Self {
            config,
            stats: Arc::default(),
            searcher: Arc::default(),
        }
    }

    /// Returns a client for the next session after this one's: the same config and
    /// counters, and the epoch's searcher it built.
    pub fn successor(&self) -> Self {
        Self {
            config: self.config.clone(),
            stats: Arc::clone(&self.stats),
            searcher: Arc::clone(&self.searcher),
        }
    }

    /// Returns a client for the next session on another pool (`host`, `port`): the same
    /// credentials, counters and epoch's searcher.
    pub fn successor_on(&self, host: &str, port: u16) -> Self {
        let mut next = self.successor();
        next.config.host = host.to_owned();
        next.config.port = port;
        next
    }

    /// Returns the client's config.
    pub fn config(&self) -> &DagClientConfig {
        &self.config
    }

    /// Returns the client's counters.
    pub fn stats(&self) -> Arc<DagClientStats> {
        self.stats.clone()
    }

    /// Mines on the pool until `shutdown` becomes true (then `Ok`), or the session
    /// fails.
    ///
    /// # Errors
    /// [`DagClientError`] when the connection fails or closes, the pool refuses the
    /// subscription or credentials, stays silent, or sends what this client cannot
    /// follow.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), DagClientError> {
        let c = &self.config;
        let stream = timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((c.host.as_str(), c.port)),
        )
        .await
        .map_err(|_| DagClientError::Timeout("connecting"))??;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut s = Session {
            config: c.clone(),
            stats: self.stats.clone(),
            reader: BufReader::new(r),
            writer: w,
            line: Vec::new(),
            next_id: 1,
            pending: BTreeMap::new(),
            extranonce: Vec::new(),
            target: difficulty_to_boundary(1.0),
            job: None,
            hasher: None,
            kept: Arc::clone(&self.searcher),
            next_nonce: 0,
            seeds: None,
        };
        info!(target: LOG, pool = %format!("{}:{}", c.host, c.port), algo = c.algorithm.name(), "DAG pool session starting");
        let result = s.run(&mut shutdown).await;
        self.stats.connected.store(false, Ordering::Relaxed);
        result
    }
}

struct Session {
    config: DagClientConfig,
    stats: Arc<DagClientStats>,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: Vec<u8>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    extranonce: Vec<u8>,
    /// The target of the next job (EthereumStratum: from `set_difficulty`).
    target: [u8; 32],
    job: Option<DagJob>,
    hasher: Option<Searcher>,
    /// Where searchers are kept for the next session.
    kept: Arc<std::sync::Mutex<Kept>>,
    /// The next nonce counter (below the extranonce).
    next_nonce: u64,
    /// The last seed looked up, and its epoch.
    seeds: Option<([u8; 32], Epoch)>,
}

impl Session {
    async fn run(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<(), DagClientError> {
        match self.config.dialect {
            ClientDialect::EthProxy if self.config.algorithm == DagAlgorithm::Kawpow => {
                return Err(DagClientError::Protocol("ETHPROXY carries no KawPow work"));
            }
            ClientDialect::EthProxy => {
                // No extranonce: the whole nonce is ours, from a start of our own.
                self.next_nonce = std::hash::BuildHasher::hash_one(
                    &std::collections::hash_map::RandomState::new(),
                    USER_AGENT,
                );
                let login = json!([self.config.user, self.config.password]);
                self.request(Pending::Authorize, "eth_submitLogin", login)
                    .await?;
                self.request(Pending::GetWork, "eth_getWork", json!([]))
                    .await?;
            }
            ClientDialect::Stratum => {
                let params = match self.config.algorithm {
                    DagAlgorithm::Kawpow => json!([USER_AGENT]),
                    _ => json!([USER_AGENT, "EthereumStratum/1.0.0"]),
                };
                self.request(Pending::Subscribe, "mining.subscribe", params)
                    .await?;
                let auth = json!([self.config.user, self.config.password]);
                self.request(Pending::Authorize, "mining.authorize", auth)
                    .await?;
            }
        }
        let mut build: Option<JoinHandle<Searcher>> = None;
        let mut search: Option<Search> = None;
        // A pool gets HANDSHAKE_TIMEOUT to send its first job, then IDLE_TIMEOUT between
        // lines.
        let mut idle = Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            // Another session's build of the job's epoch is under way: look again shortly.
            let mut waiting = false;
            if build.is_none()
                && let Some(job) = &self.job
                && self.hasher.as_ref().is_none_or(|(e, _)| *e != job.epoch)
            {
                let epoch = job.epoch;
                let mut kept = lock(&self.kept);
                if let Some(ready) = kept.ready.clone().filter(|(e, _)| *e == epoch) {
                    self.hasher = Some(ready);
                } else if kept.building == Some(epoch) {
                    waiting = true;
                } else {
                    kept.building = Some(epoch);
                    let (algorithm, device) = (self.config.algorithm, self.config.device);
                    let shared = Arc::clone(&self.kept);
                    debug!(target: LOG, epoch = epoch.number, ?device, "building the epoch's light cache (and DAG on a GPU)");
                    build = Some(tokio::task::spawn_blocking(move || {
                        build_searcher(algorithm, epoch, device, shared)
                    }));
                }
            }
            if search.is_none() {
                search = self.start_search();
            }
            tokio::select! {
                biased;
                () = crate::client::shutdown_signal(shutdown) => return Ok(()),
                read = read_line(&mut self.reader, &mut self.line) => {
                    read?;
                    let line = std::mem::take(&mut self.line);
                    self.on_line(&line).await?;
                    if self.job.is_some() {
                        idle = Instant::now() + IDLE_TIMEOUT;
                    }
                }
                built = async { build.as_mut().expect("guarded by is_some").await }, if build.is_some() => {
                    build = None;
                    // The pool's silence while the epoch was built is no sign of its death.
                    idle = Instant::now() + IDLE_TIMEOUT;
                    if let Ok(searcher) = built {
                        self.hasher = Some(searcher);
                    }
                }
                () = tokio::time::sleep(BUILD_POLL), if waiting => {
                    idle = Instant::now() + IDLE_TIMEOUT;
                }
                found = async { search.as_mut().expect("guarded by is_some").await }, if search.is_some() => {
                    search = None;
                    if let Ok((job, shares)) = found {
                        for (nonce, hash) in shares {
                            self.submit(&job, nonce, &hash).await?;
                        }
                    }
                }
                () = sleep_until(idle), if build.is_none() && !waiting => return Err(DagClientError::Timeout("waiting for the pool")),
            }
        }
    }

    /// Starts hashing the next batch of the current job, when its hasher is ready.
    fn start_search(&mut self) -> Option<Search> {
        let job = self.job.clone()?;
        let hasher = self
            .hasher
            .as_ref()
            .filter(|(e, _)| *e == job.epoch)?
            .1
            .clone();
        let free_bits = 8 * (8 - self.extranonce.len() as u32);
        let prefix = self
            .extranonce
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let mask = if free_bits == 64 {
            u64::MAX
        } else {
            (1u64 << free_bits) - 1
        };
        let prefix = if free_bits == 64 {
            0
        } else {
            prefix << free_bits
        };
        let start = self.next_nonce;
        // One contiguous run of nonces, stopping at the end of the free bits.
        let count = self
            .config
            .batch
            .max(1)
            .min((mask - start).saturating_add(1));
        self.next_nonce = start.wrapping_add(count) & mask;
        let first = prefix | start;
        let stats = self.stats.clone();
        Some(tokio::task::spawn_blocking(move || {
            let stop = std::sync::atomic::AtomicBool::new(false);
            let nonces = first..first.saturating_add(count);
            let found = match hasher.search(job.height, &job.header, nonces, &job.target, &stop) {
                Ok((found, hashed)) => {
                    stats.hashes.fetch_add(hashed, Ordering::Relaxed);
                    found
                }
                Err(e) => {
                    warn!(target: LOG, error = %e, "DAG search failed");
                    Vec::new()
                }
            };
            (job, found)
        }))
    }

    async fn submit(
        &mut self,
        job: &DagJob,
        nonce: u64,
        hash: &DagHash,
    ) -> Result<(), DagClientError> {
        let user = self.config.user.clone();
        if self.config.dialect == ClientDialect::EthProxy {
            let params = json!([
                format!("0x{nonce:016x}"),
                format!("0x{}", hex::encode(job.header)),
                format!("0x{}", hex::encode(hash.mix)),
            ]);
            self.stats.submitted.fetch_add(1, Ordering::Relaxed);
            return self
                .request(Pending::Submit, "eth_submitWork", params)
                .await;
        }
        let params = match self.config.algorithm {
            DagAlgorithm::Kawpow => json!([
                user,
                job.id,
                format!("0x{nonce:016x}"),
                format!("0x{}", hex::encode(job.header)),
                format!("0x{}", hex::encode(hash.mix)),
            ]),
            _ => {
                // The nonce after the extranonce, as many digits as the pool left us.
                let digits = 2 * (8 - self.extranonce.len());
                let free = match digits {
                    16 => nonce,
                    d => nonce & ((1u64 << (4 * d)) - 1),
                };
                json!([user, job.id, format!("{free:0digits$x}")])
            }
        };
        self.stats.submitted.fetch_add(1, Ordering::Relaxed);
        debug!(target: LOG, job = %job.id, nonce = %format!("{nonce:016x}"), "DAG share found");
        self.request(Pending::Submit, "mining.submit", params).await
    }

    async fn request(
        &mut self,
        pending: Pending,
        method: &str,
        params: Value,
    ) -> Result<(), DagClientError> {
        let id = self.next_id;
        self.next_id += 1;
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_first();
        }
        self.pending.insert(id, pending);
        let line = format!(
            "{}\n",
            json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params})
        );
        trace!(target: LOG, line = line.trim_end(), "send");
        timeout(WRITE_TIMEOUT, self.writer.write_all(line.as_bytes()))
            .await
            .map_err(|_| DagClientError::Timeout("writing to the pool"))??;
        Ok(())
    }

    async fn on_line(&mut self, line: &[u8]) -> Result<(), DagClientError> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        trace!(target: LOG, line = text, "received");
        let v: Value =
            serde_json::from_str(text).map_err(|_| DagClientError::Protocol("not JSON"))?;
        let params = &v["params"];
        match v["method"].as_str() {
            None => self.on_response(&v),
            Some("mining.set_difficulty") => {
                let d = params[0]
                    .as_f64()
                    .filter(|d| *d > 0.0)
                    .ok_or(DagClientError::Protocol(
                        "set_difficulty without a difficulty",
                    ))?;
                self.target = difficulty_to_boundary(d);
                Ok(())
            }
            Some("mining.set_target") => {
                self.target = params[0]
                    .as_str()
                    .and_then(hash_hex)
                    .ok_or(DagClientError::Protocol("set_target without a target"))?;
                Ok(())
            }
            Some("mining.set_extranonce") => {
                self.extranonce = params[0]
                    .as_str()
                    .and_then(extranonce_hex)
                    .ok_or(DagClientError::Protocol("bad extranonce"))?;
                Ok(())
            }
            Some("mining.notify") => self.on_notify(params),
            Some(other) => {
                debug!(target: LOG, method = other, "unknown pool method ignored");
                if !v["id"].is_null() {
                    let reply = json!({"id": v["id"], "result": null, "error": [20, "Not supported.", null]});
                    timeout(
                        WRITE_TIMEOUT,
                        self.writer.write_all(format!("{reply}\n").as_bytes()),
                    )
                    .await
                    .map_err(|_| DagClientError::Timeout("writing to the pool"))??;
                }
                Ok(())
            }
        }
    }

    fn on_response(&mut self, v: &Value) -> Result<(), DagClientError> {
        // ETHPROXY pushes new work as the answer to a request it never got, id 0.
        if self.config.dialect == ClientDialect::EthProxy && v["id"].as_u64() == Some(0) {
            return self.on_proxy_work(&v["result"]);
        }
        let Some(pending) = v["id"].as_u64().and_then(|id| self.pending.remove(&id)) else {
            return Ok(());
        };
        let ok = v["error"].is_null() && !v["result"].is_null() && v["result"] != false;
        match pending {
            Pending::Subscribe if !ok => Err(DagClientError::Refused {
                what: "mining.subscribe",
                reason: v["error"].to_string(),
            }),
            Pending::Subscribe => {
                self.extranonce = v["result"][1].as_str().and_then(extranonce_hex).ok_or(
                    DagClientError::Protocol("subscribe result without an extranonce"),
                )?;
                Ok(())
            }
            Pending::Authorize if !ok => Err(DagClientError::Refused {
                what: "the login",
                reason: v["error"].to_string(),
            }),
            Pending::GetWork if !ok => Err(DagClientError::Refused {
                what: "eth_getWork",
                reason: v["error"].to_string(),
            }),
            Pending::GetWork => self.on_proxy_work(&v["result"]),
            Pending::Authorize => {
                self.stats.connected.store(true, Ordering::Relaxed);
                Ok(())
            }
            Pending::Submit => {
                let counter = if ok {
                    &self.stats.accepted
                } else {
                    warn!(target: LOG, error = %v["error"], "DAG share rejected");
                    &self.stats.rejected
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// ETHPROXY work: `[header hash, seed hash, boundary, height]` (the height optional,
    /// as geth's own answer may lack it: the seed then names the epoch).
    fn on_proxy_work(&mut self, w: &Value) -> Result<(), DagClientError> {
        let field = |i: usize| w[i].as_str().and_then(hash_hex);
        let (Some(header), Some(seed), Some(target)) = (field(0), field(1), field(2)) else {
            return Err(DagClientError::Protocol("ETHPROXY work"));
        };
        let (seed_height, epoch) = self.epoch_of_seed(&seed)?;
        let height = w[3]
            .as_str()
            .and_then(|h| u64::from_str_radix(h.strip_prefix("0x").unwrap_or(h), 16).ok())
            .unwrap_or(seed_height);
        self.target = target;
        self.job = Some(DagJob {
            id: hex::encode(&header[..4]),
            header,
            height,
            epoch,
            target,
        });
        debug!(target: LOG, epoch = epoch.number, height, "new ETHPROXY work");
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_notify(&mut self, p: &Value) -> Result<(), DagClientError> {
        let bad = DagClientError::Protocol("notify params");
        let id = p[0].as_str().ok_or(bad)?.to_owned();
        let algorithm = self.config.algorithm;
        let job = match algorithm {
            DagAlgorithm::Kawpow => {
                let header = p[1].as_str().and_then(hash_hex);
                let target = p[3].as_str().and_then(hash_hex);
                let height = p[5].as_u64();
                let (Some(header), Some(target), Some(height)) = (header, target, height) else {
                    return Err(DagClientError::Protocol("KawPow notify params"));
                };
                let epoch = algorithm
                    .epoch(height)
                    .map_err(|_| DagClientError::Protocol("height past the last epoch"))?;
                self.target = target;
                DagJob {
                    id,
                    header,
                    height,
                    epoch,
                    target,
                }
            }
            DagAlgorithm::Ethash | DagAlgorithm::Etchash => {
                let seed = p[1].as_str().and_then(hash_hex);
                let header = p[2].as_str().and_then(hash_hex);
                let (Some(seed), Some(header)) = (seed, header) else {
                    return Err(DagClientError::Protocol("EthereumStratum notify params"));
                };
                let (height, epoch) = self.epoch_of_seed(&seed)?;
                DagJob {
                    id,
                    header,
                    height,
                    epoch,
                    target: self.target,
                }
            }
        };
        debug!(target: LOG, job = %job.id, epoch = job.epoch.number, "new DAG job");
        self.job = Some(job);
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Finds the epoch whose seed an EthereumStratum job names (its first block
    /// stands in for the height, which the dialect does not send).
    fn epoch_of_seed(&mut self, seed: &[u8; 32]) -> Result<(u64, Epoch), DagClientError> {
        if let Some((known, epoch)) = self.seeds
            && known == *seed
        {
            return Ok((u64::from(epoch.seed_rounds) * SEED_STEP, epoch));
        }
        let mut s = [0u8; 32];
        for rounds in 0..=MAX_SEED_ROUNDS {
            if s == *seed {
                let height = u64::from(rounds) * SEED_STEP;
                let epoch = self
                    .config
                    .algorithm
                    .epoch(height)
                    .map_err(|_| DagClientError::Protocol("seed past the last epoch"))?;
                self.seeds = Some((*seed, epoch));
                return Ok((height, epoch));
            }
            s = keccak256(&s);
        }
        Err(DagClientError::Protocol("seed hash of no known epoch"))
    }
}

/// Reads one line into `line` (without the newline); cancel-safe, since bytes move from
/// the buffer to `line` with no await in between.
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Result<(), DagClientError> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Err(DagClientError::Closed);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if line.len() > MAX_LINE {
            return Err(DagClientError::LineTooLong(MAX_LINE));
        }
        if done {
            return Ok(());
        }
    }
}

/// Reads 64 hex digits, with or without `0x`.
fn hash_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out).ok()?;
    Some(out)
}

/// Reads an extranonce of at most [`MAX_EXTRANONCE`] bytes.
fn extranonce_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .ok()
        .filter(|e| e.len() <= MAX_EXTRANONCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build leaves its searcher for every session of the client, and says it is done.
    #[test]
    fn a_built_searcher_outlives_its_session() {
        let client = DagClient::new(DagClientConfig {
            host: "127.0.0.1".into(),
            port: 1,
            user: "u".into(),
            password: "x".into(),
            algorithm: DagAlgorithm::Ethash,
            batch: 1,
            device: crate::DagDevice::Cpu,
            dialect: ClientDialect::Stratum,
        });
        let next = client.successor();
        assert!(Arc::ptr_eq(&client.searcher, &next.searcher));
        let epoch = DagAlgorithm::Ethash.epoch(0).expect("epoch 0");
        lock(&client.searcher).building = Some(epoch);
        let (built, _) = build_searcher(
            DagAlgorithm::Ethash,
            epoch,
            crate::DagDevice::Cpu,
            Arc::clone(&client.searcher),
        );
        assert_eq!(built, epoch);
        let kept = lock(&next.searcher);
        assert_eq!(kept.building, None);
        assert_eq!(kept.ready.as_ref().map(|(e, _)| *e), Some(epoch));
    }

    #[test]
    fn parses_hex_fields() {
        assert_eq!(
            hash_hex(&format!("0x{}", "ab".repeat(32))),
            Some([0xab; 32])
        );
        assert_eq!(hash_hex("abcd"), None);
        assert_eq!(extranonce_hex("0a1b"), Some(vec![0x0a, 0x1b]));
        assert_eq!(extranonce_hex("0102030405"), None);
    }
}
