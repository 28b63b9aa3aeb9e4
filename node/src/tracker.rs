//! What the node learns from its own events for the API: per-worker share counts and
//! hashrate estimates, and the blocks found (kept in `blocks.jsonl` beside the share
//! store, so they survive restarts).

use crate::service::NodeEvent;
use crate::unix_now;
use otedama_rpc::RotatingFile;
use otedama_sharechain::{Amount, PayoutScript};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tracing::warn;

/// Most workers tracked; beyond it the one silent longest is forgotten.
const MAX_WORKERS: usize = 4096;
/// Worker hashrates average over this window.
const WORKER_WINDOW: Duration = Duration::from_secs(600);
/// A worker's hashrate is averaged over at least this long, so a lucky first share does
/// not read as a huge rate.
const WORKER_MIN_SPAN: Duration = Duration::from_secs(60);
/// Shares remembered per worker for its hashrate.
const WORKER_RECENT: usize = 4096;
/// Blocks kept in memory and served by the API.
pub const BLOCKS_KEPT: usize = 100;

#[derive(Debug)]
struct WorkerEntry {
    accepted: u64,
    rejected: u64,
    last_share_time: Option<u64>,
    last_seen: Instant,
    first_seen: Instant,
    recent: VecDeque<(Instant, u128)>,
}

impl WorkerEntry {
    fn new(now: Instant) -> Self {
        Self {
            accepted: 0,
            rejected: 0,
            last_share_time: None,
            last_seen: now,
            first_seen: now,
            recent: VecDeque::new(),
        }
    }

    fn hashrate(&self, now: Instant) -> f64 {
        let work: u128 = self
            .recent
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= WORKER_WINDOW)
            .map(|(_, w)| *w)
            .fold(0, u128::saturating_add);
        let span = now
            .duration_since(self.first_seen)
            .clamp(WORKER_MIN_SPAN, WORKER_WINDOW);
        work as f64 / span.as_secs_f64()
    }
}

/// One worker as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    /// Stratum user name.
    pub name: String,
    /// Shares accepted.
    pub accepted: u64,
    /// Shares rejected.
    pub rejected: u64,
    /// Unix time of its last share.
    pub last_share_time: Option<u64>,
    /// Work of its accepted shares per second over the last ten minutes.
    pub hashrate: f64,
}

/// Per-worker share counts, keyed by Stratum user name.
#[derive(Debug, Default)]
pub struct Workers {
    inner: Mutex<BTreeMap<String, WorkerEntry>>,
}

impl Workers {
    fn entry<'a>(
        map: &'a mut BTreeMap<String, WorkerEntry>,
        name: &str,
        now: Instant,
    ) -> &'a mut WorkerEntry {
        if !map.contains_key(name) && map.len() >= MAX_WORKERS {
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.entry(name.to_owned())
            .or_insert_with(|| WorkerEntry::new(now))
    }

    /// Records an accepted share of `work` from `name`.
    pub fn on_accepted(&self, name: &str, work: u128, now: Instant, unix: u64) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        let e = Self::entry(&mut map, name, now);
        e.accepted += 1;
        e.last_seen = now;
        e.last_share_time = Some(unix);
        e.recent.push_back((now, work));
        while e.recent.len() > WORKER_RECENT
            || e.recent
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > WORKER_WINDOW)
        {
            e.recent.pop_front();
        }
    }

    /// Records a rejected share from `name`.
    pub fn on_rejected(&self, name: &str, now: Instant, unix: u64) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        let e = Self::entry(&mut map, name, now);
        e.rejected += 1;
        e.last_seen = now;
        e.last_share_time = Some(unix);
    }

    /// Returns every worker, most recently seen first.
    pub fn rows(&self, now: Instant) -> Vec<WorkerRow> {
        let Ok(map) = self.inner.lock() else {
            return Vec::new();
        };
        let mut rows: Vec<(Instant, WorkerRow)> = map
            .iter()
            .map(|(name, e)| {
                (
                    e.last_seen,
                    WorkerRow {
                        name: name.clone(),
                        accepted: e.accepted,
                        rejected: e.rejected,
                        last_share_time: e.last_share_time,
                        hashrate: e.hashrate(now),
                    },
                )
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// Returns the sum of every worker's hashrate.
    pub fn total_hashrate(&self, now: Instant) -> f64 {
        self.inner
            .lock()
            .map(|m| m.values().map(|e| e.hashrate(now)).sum())
            .unwrap_or(0.0)
    }
}

/// What the daemons said about a found block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockOutcome {
    /// On a daemon's best chain.
    Accepted,
    /// Valid, but another block came first.
    Stale,
    /// Rejected.
    Rejected,
}

impl BlockOutcome {
    /// The outcome of `submitblock`: accepted by a daemon, else stale, else rejected.
    pub fn of(accepted: bool, stale: bool) -> Self {
        match (accepted, stale) {
            (true, _) => BlockOutcome::Accepted,
            (false, true) => BlockOutcome::Stale,
            (false, false) => BlockOutcome::Rejected,
        }
    }
}

/// A found block as stored in `blocks.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash, hex.
    pub hash: String,
    /// Share hash, hex.
    pub share: String,
    /// Unix time found.
    pub time: u64,
    /// What the daemons said.
    pub outcome: BlockOutcome,
    /// Coinbase outputs: script hex and amount.
    pub payouts: Vec<(String, u64)>,
}

impl BlockRecord {
    /// Returns the payouts with their scripts decoded (bad entries are skipped).
    pub fn scripts(&self) -> Vec<(PayoutScript, Amount)> {
        self.payouts
            .iter()
            .filter_map(|(hex_script, sat)| {
                let bytes = hex::decode(hex_script).ok()?;
                Some((PayoutScript::new(bytes).ok()?, Amount::from_sat(*sat)))
            })
            .collect()
    }
}

/// Blocks found: the newest [`BLOCKS_KEPT`] in memory, every one appended to a file that
/// rotates past [`BLOCK_LOG_MAX_BYTES`] (one older file kept).
#[derive(Debug)]
pub struct Blocks {
    file: Option<RotatingFile>,
    recent: Mutex<VecDeque<BlockRecord>>,
}

/// Size at which `blocks.jsonl` rotates to `blocks.jsonl.1`.
pub const BLOCK_LOG_MAX_BYTES: u64 = 4 << 20;

impl Blocks {
    /// Loads the newest records from `path` and its rotated predecessor (a missing file
    /// is empty; unreadable lines are skipped with a warning).
    pub fn load(path: Option<PathBuf>) -> Self {
        Self::load_bounded(path, BLOCK_LOG_MAX_BYTES)
    }

    /// As [`Blocks::load`], rotating the file past `max_bytes`.
    pub fn load_bounded(path: Option<PathBuf>, max_bytes: u64) -> Self {
        let file = path.map(|p| RotatingFile::new(p, max_bytes, 1));
        let mut recent = VecDeque::new();
        for p in file.iter().flat_map(RotatingFile::files_oldest_first) {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                match serde_json::from_str::<BlockRecord>(line) {
                    Ok(r) => {
                        recent.push_back(r);
                        if recent.len() > BLOCKS_KEPT {
                            recent.pop_front();
                        }
                    }
                    Err(e) => {
                        warn!(target: "otedama::node", path = %p.display(), line = n + 1, error = %e, "skipping a bad line of the block log");
                    }
                }
            }
        }
        Self {
            file,
            recent: Mutex::new(recent),
        }
    }

    /// Returns the kept blocks, newest first.
    pub fn newest_first(&self) -> Vec<BlockRecord> {
        self.recent
            .lock()
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    fn push(&self, record: BlockRecord) {
        if let Ok(mut r) = self.recent.lock() {
            r.push_back(record.clone());
            if r.len() > BLOCKS_KEPT {
                r.pop_front();
            }
        }
        let Some(file) = &self.file else {
            return;
        };
        let line = match serde_json::to_vec(&record) {
            Ok(l) => l,
            Err(_) => return,
        };
        if let Err(e) = file.append(&line) {
            warn!(target: "otedama::node", path = %file.path().display(), error = %e, "cannot append to the block log");
        }
    }
}

/// Follows node events into `workers` and `blocks` until shutdown.
pub(crate) async fn run(
    mut events: broadcast::Receiver<NodeEvent>,
    workers: Arc<Workers>,
    blocks: Arc<Blocks>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => return,
            e = events.recv() => e,
        };
        let now = Instant::now();
        match event {
            Ok(NodeEvent::ShareAccepted { worker, work, .. }) => {
                workers.on_accepted(&worker, work.to_u128(), now, unix_now());
            }
            Ok(NodeEvent::ShareRejected { worker, .. }) => {
                workers.on_rejected(&worker, now, unix_now());
            }
            Ok(NodeEvent::BlockFound {
                height,
                hash,
                share,
                payouts,
                accepted,
                stale,
                ..
            }) => {
                let record = BlockRecord {
                    height,
                    hash: hash.to_string(),
                    share: share.to_string(),
                    time: unix_now(),
                    outcome: BlockOutcome::of(accepted, stale),
                    payouts: payouts
                        .iter()
                        .map(|(s, a)| (hex::encode(s.as_bytes()), a.to_sat()))
                        .collect(),
                };
                let blocks = Arc::clone(&blocks);
                // The append fsyncs; keep it off the runtime's workers.
                let _ = tokio::task::spawn_blocking(move || blocks.push(record)).await;
            }
            Ok(NodeEvent::ParentUnavailable(_) | NodeEvent::PeerShareAccepted { .. }) => {}
            Err(RecvError::Lagged(n)) => {
                warn!(target: "otedama::node", skipped = n, "worker statistics missed events");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_count_and_estimate() {
        let w = Workers::default();
        let t0 = Instant::now();
        w.on_accepted("a.1", 600, t0, 100);
        w.on_accepted("a.1", 600, t0 + Duration::from_secs(120), 220);
        w.on_rejected("b", t0 + Duration::from_secs(130), 230);
        let rows = w.rows(t0 + Duration::from_secs(120));
        assert_eq!(rows[0].name, "b");
        assert_eq!((rows[0].accepted, rows[0].rejected), (0, 1));
        assert_eq!(rows[1].name, "a.1");
        assert_eq!(rows[1].accepted, 2);
        assert_eq!(rows[1].last_share_time, Some(220));
        // 1200 work over 120 s.
        assert!(
            (rows[1].hashrate - 10.0).abs() < 1e-9,
            "{}",
            rows[1].hashrate
        );
        // Long after, nothing is recent.
        let later = t0 + Duration::from_secs(2000);
        assert_eq!(w.total_hashrate(later), 0.0);
    }

    fn record(height: u32) -> BlockRecord {
        BlockRecord {
            height,
            hash: "00".repeat(32),
            share: "11".repeat(32),
            time: 5,
            outcome: BlockOutcome::Accepted,
            payouts: vec![(hex::encode(PayoutScript::p2wpkh([1; 20]).as_bytes()), 7)],
        }
    }

    #[test]
    fn blocks_survive_a_reload_and_skip_bad_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.jsonl");
        let blocks = Blocks::load(Some(path.clone()));
        let rec = record;
        blocks.push(rec(1));
        blocks.push(rec(2));
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str("not json\n");
        std::fs::write(&path, text).expect("write");
        let again = Blocks::load(Some(path));
        let got = again.newest_first();
        assert_eq!(got, vec![rec(2), rec(1)]);
        assert_eq!(got[0].scripts()[0].1, Amount::from_sat(7));
    }

    #[test]
    fn the_block_log_stays_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.jsonl");
        let blocks = Blocks::load_bounded(Some(path.clone()), 2000);
        let rec = record;
        for h in 0..500 {
            blocks.push(rec(h));
        }
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let rotated = dir.path().join("blocks.jsonl.1");
        assert!(size(&path) <= 2000 && size(&rotated) <= 2000);
        assert!(!dir.path().join("blocks.jsonl.2").exists());
        // A reload finds the newest blocks, in order, across both files.
        let again = Blocks::load_bounded(Some(path), 2000);
        let heights: Vec<u32> = again.newest_first().iter().map(|r| r.height).collect();
        assert!(heights.len() > 8, "{heights:?}");
        assert!(heights.windows(2).all(|w| w[0] == w[1] + 1));
        assert_eq!(heights[0], 499);
    }
}
