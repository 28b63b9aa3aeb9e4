//! A RandomX miner that speaks xmrig's JSON-RPC dialect to a pool: `login`, `job`
//! notifications, `submit` and `keepalived`. The built-in miner of a Monero sidechain
//! node uses it against the node's own Stratum server.
//!
//! Hashing is RandomX light mode (a 256 MiB cache shared by the threads, one VM each):
//! slow but correct, and enough for regtest and devnets. Each thread scans its own slice
//! of the 32-bit nonce space and a result is submitted when the hash's top 8 bytes are
//! below the job's 64-bit target, exactly as xmrig checks it.

use crate::priority::ThreadPriority;
use randomx_rs::{RandomXCache, RandomXFlag, RandomXVM};
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
/// Nonces a thread hashes between looks at the current job.
const BATCH: u32 = 16;
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
}

/// A job as the hashing threads see it.
#[derive(Clone, Debug)]
struct Job {
    id: String,
    blob: Vec<u8>,
    nonce_at: usize,
    target: u64,
    seed: Vec<u8>,
}

/// A result to submit.
struct Found {
    job_id: String,
    nonce: u32,
    hash: [u8; 32],
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
    })
}

/// The job board the threads read: the job and a generation that changes with it.
struct Board {
    job: Mutex<Option<Job>>,
    generation: AtomicU64,
}

/// Runs the miner until `shutdown`: connects, logs in, hashes, submits, and reconnects
/// after a failure.
pub async fn run(
    config: XmrigMinerConfig,
    stats: Arc<XmrigMinerStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let board = Arc::new(Board {
        job: Mutex::new(None),
        generation: AtomicU64::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let (found_tx, mut found_rx) = mpsc::channel::<Found>(FOUND_QUEUE);
    let threads = config.threads.max(1);
    let mut handles = Vec::new();
    for i in 0..threads {
        let (board, stop, found, stats) = (
            Arc::clone(&board),
            Arc::clone(&stop),
            found_tx.clone(),
            Arc::clone(&stats),
        );
        let priority = config.priority;
        let start = (u64::from(u32::MAX) * i as u64 / threads as u64) as u32;
        let spawned = std::thread::Builder::new()
            .name(format!("randomx-{i}"))
            .spawn(move || {
                if let Err(e) = priority.apply_to_current_thread() {
                    warn!(target: TARGET, error = %e, "thread priority not applied");
                }
                hash_loop(&board, &stop, &found, &stats, start);
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => warn!(target: TARGET, error = %e, "hashing thread not started"),
        }
    }
    drop(found_tx);
    // A dropped sender means shutdown too.
    while !*shutdown.borrow() && shutdown.has_changed().is_ok() {
        let session = session(&config, &board, &stats, &mut found_rx, &mut shutdown);
        if let Err(e) = session.await {
            warn!(target: TARGET, pool = %config.pool, error = %e, "pool connection lost");
        }
        *board.job.lock().unwrap_or_else(PoisonError::into_inner) = None;
        board.generation.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
}

/// One pool connection: login, then jobs in and results out.
async fn session(
    config: &XmrigMinerConfig,
    board: &Board,
    stats: &XmrigMinerStats,
    found: &mut mpsc::Receiver<Found>,
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
    reader.abort();
    result
}

/// Logs in, then moves jobs in and results out until the connection or `shutdown` ends.
async fn exchange(
    config: &XmrigMinerConfig,
    board: &Board,
    stats: &XmrigMinerStats,
    found: &mut mpsc::Receiver<Found>,
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
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            Some(f) = found.recv() => {
                let current = board.job.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|j| j.id.clone());
                if current.as_deref() != Some(f.job_id.as_str()) || sid.is_empty() {
                    continue;
                }
                let submit = json!({"id": next_id, "jsonrpc": "2.0", "method": "submit", "params": {
                    "id": sid, "job_id": f.job_id, "nonce": hex::encode(f.nonce.to_le_bytes()),
                    "result": hex::encode(f.hash), "algo": "rx/0"}});
                next_id += 1;
                write.write_all(format!("{submit}\n").as_bytes()).await.map_err(|e| e.to_string())?;
            }
            line = lines.recv() => {
                let line = line.ok_or("the reader stopped")??;
                let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                if v.get("method").and_then(Value::as_str) == Some("job") {
                    set_job(board, &v["params"]);
                } else if v["id"] == 1 {
                    if !v["error"].is_null() {
                        return Err(format!("login refused: {}", v["error"]));
                    }
                    sid = v["result"]["id"].as_str().unwrap_or_default().to_owned();
                    set_job(board, &v["result"]["job"]);
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

fn set_job(board: &Board, v: &Value) {
    match parse_job(v) {
        Some(job) => {
            *board.job.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
            board.generation.fetch_add(1, Ordering::Relaxed);
        }
        None => warn!(target: TARGET, "malformed job ignored"),
    }
}

/// One hashing thread: follows the board, hashes its nonce slice, reports results.
fn hash_loop(
    board: &Board,
    stop: &AtomicBool,
    found: &mpsc::Sender<Found>,
    stats: &XmrigMinerStats,
    start: u32,
) {
    let flags = RandomXFlag::get_recommended_flags();
    let mut vm: Option<(Vec<u8>, RandomXVM)> = None;
    let mut seen = u64::MAX;
    let mut job: Option<Job> = None;
    let mut nonce = start;
    while !stop.load(Ordering::Relaxed) {
        let generation = board.generation.load(Ordering::Relaxed);
        if generation != seen {
            seen = generation;
            job = board
                .job
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            nonce = start;
        }
        let Some(j) = &mut job else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if vm.as_ref().is_none_or(|(seed, _)| *seed != j.seed) {
            let made = RandomXCache::new(flags, &j.seed)
                .and_then(|cache| RandomXVM::new(flags, Some(cache), None));
            match made {
                Ok(v) => vm = Some((j.seed.clone(), v)),
                Err(e) => {
                    warn!(target: TARGET, error = %e, "RandomX VM not created");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some((_, v)) = &vm else { continue };
        for _ in 0..BATCH {
            j.blob[j.nonce_at..j.nonce_at + 4].copy_from_slice(&nonce.to_le_bytes());
            let Ok(out) = v.calculate_hash(&j.blob) else {
                break;
            };
            stats.hashes.fetch_add(1, Ordering::Relaxed);
            let Ok(hash) = <[u8; 32]>::try_from(out.as_slice()) else {
                break;
            };
            let top = u64::from_le_bytes(hash[24..].try_into().unwrap_or([0xff; 8]));
            if top < j.target {
                let _ = found.blocking_send(Found {
                    job_id: j.id.clone(),
                    nonce,
                    hash,
                });
            }
            nonce = nonce.wrapping_add(1);
        }
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
