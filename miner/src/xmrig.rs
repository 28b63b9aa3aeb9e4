//! A RandomX miner that speaks xmrig's JSON-RPC dialect to a pool: `login`, `job`
//! notifications, `submit` and `keepalived`. The built-in miner of a Monero sidechain
//! node uses it against the node's own Stratum server.
//!
//! Hashing is the RandomX engine ([`RandomxMiner`]): fast mode (the 2080 MiB dataset)
//! where `mode` and the machine's memory allow it, else light mode (the 256 MiB cache).
//! The threads share the context of the job's seed; each scans its own slice of the
//! 32-bit nonce space, and a result is submitted when the hash's top 8 bytes meet the
//! job's 64-bit target, as xmrig checks it. A new seed is built before its first job is
//! hashed.

use crate::priority::{CpuAffinity, ThreadPriority};
use crate::randomx::{
    RandomxFound, RandomxJob, RandomxMiner, RandomxMode, RandomxOptions, RandomxTarget, VmEngine,
};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

const TARGET: &str = "otedama::miner::xmrig";
/// Longest line read from the pool.
const MAX_LINE: usize = 64 * 1024;
/// How long to wait before reconnecting.
const RETRY: Duration = Duration::from_secs(2);
/// Solutions waiting to be sent at most.
const FOUND_QUEUE: usize = 64;

/// What the RandomX miner needs.
#[derive(Clone, Debug)]
pub struct XmrigMinerConfig {
    /// The pool, `host:port`.
    pub pool: String,
    /// The login (`ADDRESS`, `ADDRESS.worker`, `ADDRESS+DIFF`).
    pub login: String,
    /// Hashing threads (at least one).
    pub threads: usize,
    /// Scheduling priority of the hashing threads.
    pub priority: ThreadPriority,
    /// The CPUs the hashing and dataset threads are pinned to (empty: the OS places them).
    pub affinity: CpuAffinity,
    /// RandomX mode: fast (dataset), light (cache only), or chosen by free memory.
    pub mode: RandomxMode,
    /// The VM that hashes in fast mode (`auto`: the compiled VM, two hashes at once a
    /// thread where cores run one hardware thread).
    pub vm: VmEngine,
    /// Where the fast-mode dataset is published for the node's share verifier, if set.
    pub dataset: Option<Arc<crate::randomx::DatasetSlot>>,
}

/// Counters of a running RandomX miner.
#[derive(Debug, Default)]
pub struct XmrigMinerStats {
    /// Hashes computed.
    pub hashes: AtomicU64,
    /// Results the pool accepted.
    pub accepted: AtomicU64,
    /// Results the pool refused.
    pub rejected: AtomicU64,
    /// Whether a session is logged in now.
    pub connected: AtomicBool,
}

/// A job as the hashing threads see it.
#[derive(Clone, Debug)]
struct Job {
    id: String,
    blob: Vec<u8>,
    nonce_at: usize,
    target: u64,
    seed: Vec<u8>,
    /// The next epoch's seed, when the pool sends it (`next_seed_hash`).
    next_seed: Option<Vec<u8>>,
}

/// Parses a `job` object; `None` when a field is missing or malformed.
fn parse_job(v: &Value) -> Option<Job> {
    let blob = hex::decode(v.get("blob")?.as_str()?).ok()?;
    // Two version bytes, the timestamp varint, the previous id, then the nonce.
    let varint = blob.get(2..)?.iter().position(|b| b & 0x80 == 0)? + 1;
    let nonce_at = 2 + varint + 32;
    if blob.len() < nonce_at + 4 {
        return None;
    }
    let t = hex::decode(v.get("target")?.as_str()?).ok()?;
    let target = match t.len() {
        8 => u64::from_le_bytes(t.try_into().ok()?),
        // The short form: the top 32 bits of the target.
        4 => {
            let raw = u64::from(u32::from_le_bytes(t.try_into().ok()?));
            if raw == 0 {
                return None;
            }
            u64::MAX / (u64::from(u32::MAX) / raw)
        }
        _ => return None,
    };
    Some(Job {
        id: v.get("job_id")?.as_str()?.to_owned(),
        blob,
        nonce_at,
        target,
        seed: hex::decode(v.get("seed_hash")?.as_str()?).ok()?,
        next_seed: v
            .get("next_seed_hash")
            .and_then(Value::as_str)
            .and_then(|h| hex::decode(h).ok())
            .filter(|h| h.len() == 32),
    })
}

/// The engine and the job it hashes: the pool's job id of each local job id.
struct Board {
    miner: Arc<RandomxMiner>,
    options: RandomxOptions,
    /// The local id of the job being hashed, and the pool's id of it.
    current: Mutex<Option<(u64, String)>>,
    next_id: AtomicU64,
}

impl Board {
    /// Hands `job` to the threads, first building its seed's context when it is new
    /// (on the blocking pool: a dataset takes seconds).
    async fn set_job(self: &Arc<Self>, job: Job) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let engine = RandomxJob::new(
            id,
            job.blob,
            job.nonce_at,
            RandomxTarget::from_u64(job.target),
            job.seed.clone(),
            0,
        );
        let engine = match engine {
            Ok(e) => e,
            Err(e) => return warn!(target: TARGET, error = %e, "job not hashed"),
        };
        if self.miner.context_key().as_deref() != Some(job.seed.as_slice()) {
            self.clear();
            let (board, seed) = (Arc::clone(self), job.seed.clone());
            let built =
                tokio::task::spawn_blocking(move || board.miner.switch_seed(&seed, &board.options))
                    .await;
            match built {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return warn!(target: TARGET, error = %e, "RandomX seed not built"),
                Err(e) => return warn!(target: TARGET, error = %e, "RandomX seed not built"),
            }
        }
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((id, job.id));
        self.miner.set_job(engine);
        // The next epoch's context is built in the background (when the memory allows a
        // second one), so that the switch does not wait for it.
        if let Some(next) = job.next_seed.filter(|n| *n != job.seed)
            && let Err(e) = self.miner.prepare_seed(&next, &self.options)
        {
            warn!(target: TARGET, error = %e, "next RandomX seed not prepared");
        }
    }

    /// Stops hashing until the next job.
    fn clear(&self) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.miner.clear_job();
    }

    /// The pool's id of local job `id`, while it is the current job.
    fn pool_job(&self, id: u64) -> Option<String> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|(c, _)| *c == id)
            .map(|(_, pool)| pool.clone())
    }
}

/// Runs the miner until `shutdown`: connects, logs in, hashes, submits, and reconnects
/// after a failure.
pub async fn run(
    config: XmrigMinerConfig,
    stats: Arc<XmrigMinerStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut miner, results) = match RandomxMiner::start(
        config.threads.max(1),
        config.priority,
        &config.affinity,
        config.vm,
    ) {
        Ok(started) => started,
        Err(e) => return warn!(target: TARGET, error = %e, "RandomX threads not started"),
    };
    if let Some(slot) = &config.dataset {
        miner.publish_to(Arc::clone(slot));
    }
    let options = RandomxOptions {
        mode: config.mode,
        vm: config.vm,
        hashing_threads: miner.threads(),
        priority: config.priority,
        affinity: config.affinity.clone(),
        ..RandomxOptions::default()
    };
    let board = Arc::new(Board {
        miner: Arc::new(miner),
        options,
        current: Mutex::new(None),
        next_id: AtomicU64::new(0),
    });
    // Results cross from the engine's channel to the session's; the bridge ends when the
    // engine's threads have stopped.
    let (found_tx, mut found_rx) = mpsc::channel::<RandomxFound>(FOUND_QUEUE);
    let bridge = std::thread::Builder::new()
        .name("randomx-results".into())
        .spawn(move || {
            while let Ok(found) = results.recv() {
                if found_tx.blocking_send(found).is_err() {
                    break;
                }
            }
        });
    // A dropped sender means shutdown too.
    while !*shutdown.borrow() && shutdown.has_changed().is_ok() {
        let session = session(&config, &board, &stats, &mut found_rx, &mut shutdown);
        if let Err(e) = session.await {
            warn!(target: TARGET, pool = %config.pool, error = %e, "pool connection lost");
        }
        board.clear();
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    stats.hashes.store(board.miner.hashes(), Ordering::Relaxed);
    // The last handle on the engine stops and joins its threads, which ends the bridge.
    drop(found_rx);
    let _ = tokio::task::spawn_blocking(move || {
        drop(board);
        if let Ok(bridge) = bridge {
            let _ = bridge.join();
        }
    })
    .await;
}

/// One pool connection: login, then jobs in and results out.
async fn session(
    config: &XmrigMinerConfig,
    board: &Arc<Board>,
    stats: &XmrigMinerStats,
    found: &mut mpsc::Receiver<RandomxFound>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let stream = TcpStream::connect(&config.pool)
        .await
        .map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    // Lines are read by a task of their own (a partly read line is never lost to the
    // select below), each bounded to `MAX_LINE` bytes.
    let (line_tx, mut lines) = mpsc::channel::<Result<String, String>>(16);
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(read);
        loop {
            let mut line = String::new();
            let read = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_line(&mut line)
                .await;
            let item = match read {
                Ok(0) => Err("the pool closed the connection".to_owned()),
                Ok(_) if line.len() > MAX_LINE => Err("line too long".to_owned()),
                Ok(_) => Ok(line),
                Err(e) => Err(e.to_string()),
            };
            let end = item.is_err();
            if line_tx.send(item).await.is_err() || end {
                break;
            }
        }
    });
    let result = exchange(
        config, board, stats, found, shutdown, &mut lines, &mut write,
    )
    .await;
    stats.connected.store(false, Ordering::Relaxed);
    reader.abort();
    result
}

/// Logs in, then moves jobs in and results out until the connection or `shutdown` ends.
async fn exchange(
    config: &XmrigMinerConfig,
    board: &Arc<Board>,
    stats: &XmrigMinerStats,
    found: &mut mpsc::Receiver<RandomxFound>,
    shutdown: &mut watch::Receiver<bool>,
    lines: &mut mpsc::Receiver<Result<String, String>>,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Result<(), String> {
    let login = json!({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": config.login, "pass": "x", "agent": concat!("otedama/", env!("CARGO_PKG_VERSION")),
        "algo": ["rx/0"]}});
    write
        .write_all(format!("{login}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut sid = String::new();
    let mut next_id = 2u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = tick.tick() => stats.hashes.store(board.miner.hashes(), Ordering::Relaxed),
            Some(f) = found.recv() => {
                let Some(job_id) = board.pool_job(f.job_id).filter(|_| !sid.is_empty()) else {
                    continue;
                };
                let submit = json!({"id": next_id, "jsonrpc": "2.0", "method": "submit", "params": {
                    "id": sid, "job_id": job_id, "nonce": hex::encode(f.nonce.to_le_bytes()),
                    "result": hex::encode(f.hash), "algo": "rx/0"}});
                next_id += 1;
                write.write_all(format!("{submit}\n").as_bytes()).await.map_err(|e| e.to_string())?;
            }
            line = lines.recv() => {
                let line = line.ok_or("the reader stopped")??;
                let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                if v.get("method").and_then(Value::as_str) == Some("job") {
                    set_job(board, &v["params"]).await;
                } else if v["id"] == 1 {
                    if !v["error"].is_null() {
                        return Err(format!("login refused: {}", v["error"]));
                    }
                    sid = v["result"]["id"].as_str().unwrap_or_default().to_owned();
                    stats.connected.store(true, Ordering::Relaxed);
                    set_job(board, &v["result"]["job"]).await;
                    info!(target: TARGET, pool = %config.pool, "logged in");
                } else if v["result"]["status"] == "OK" {
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                } else if !v["error"].is_null() {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    warn!(target: TARGET, error = %v["error"]["message"], "result refused");
                }
            }
        }
    }
}

async fn set_job(board: &Arc<Board>, v: &Value) {
    match parse_job(v) {
        Some(job) => board.set_job(job).await,
        None => warn!(target: TARGET, "malformed job ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_parse_with_both_target_forms() {
        let blob = format!("1010{}{}{}", "80c0b5e605", "11".repeat(32), "00".repeat(40));
        let long = parse_job(&json!({"blob": blob, "job_id": "a", "target": hex::encode((u64::MAX / 1000).to_le_bytes()), "seed_hash": "00"})).expect("job");
        assert_eq!((long.nonce_at, long.target), (39, u64::MAX / 1000));
        assert_eq!(long.next_seed, None);
        let next = parse_job(&json!({"blob": blob, "job_id": "a", "target": "b88d0600", "seed_hash": "00", "next_seed_hash": "22".repeat(32)})).expect("job");
        assert_eq!(next.next_seed, Some(vec![0x22; 32]));
        let short = parse_job(
            &json!({"blob": blob, "job_id": "a", "target": "b88d0600", "seed_hash": "00"}),
        )
        .expect("job");
        assert_eq!(short.target, u64::MAX / (u64::from(u32::MAX) / 0x00068db8));
        assert!(
            parse_job(&json!({"blob": "10", "job_id": "a", "target": "00", "seed_hash": ""}))
                .is_none()
        );
    }
}
