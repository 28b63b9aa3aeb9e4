//! What the node learns from its own events for the API: per-worker share counts and
//! hashrate estimates, and the blocks found (kept in `blocks.jsonl` beside the share
//! store, so they survive restarts, each with its latest proof by the parent chain).

use crate::proof::ChainProof;
use crate::service::NodeEvent;
use crate::unix_now;
use otedama_rpc::RotatingFile;
use otedama_sharechain::{Amount, PayoutScript};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
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

impl otedama_stratum::SubmitObserver for Workers {
    fn accepted(&self, worker: &str, work: u64) {
        self.on_accepted(worker, u128::from(work), Instant::now(), unix_now());
    }

    fn rejected(&self, worker: &str) {
        self.on_rejected(worker, Instant::now(), unix_now());
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
    /// The latest proof by the parent chain; `None` until the daemon was asked (and in
    /// lines written before proofs were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainProof>,
}

/// What one found block paid one script, with where the block stands on the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockPayout {
    /// Parent-chain height.
    pub height: u32,
    /// Block hash, hex.
    pub hash: String,
    /// Unix time found.
    pub time: u64,
    /// What the daemons said at submission.
    pub outcome: BlockOutcome,
    /// The sum of the block's coinbase outputs to the script.
    pub amount: Amount,
    /// The latest proof by the parent chain, if the daemon was asked yet.
    pub chain: Option<ChainProof>,
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
    /// is empty; unreadable lines are skipped with a warning). A later line for the same
    /// block hash (a newer proof) replaces the earlier one in place.
    pub fn load(path: Option<PathBuf>) -> Self {
        Self::load_bounded(path, BLOCK_LOG_MAX_BYTES)
    }

    /// As [`Blocks::load`], rotating the file past `max_bytes`.
    pub fn load_bounded(path: Option<PathBuf>, max_bytes: u64) -> Self {
        let file = path.map(|p| RotatingFile::new(p, max_bytes, 1));
        let mut recent: VecDeque<BlockRecord> = VecDeque::new();
        // Position in `recent` plus `popped`, by hash.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut popped = 0usize;
        for p in file.iter().flat_map(RotatingFile::files_oldest_first) {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                match serde_json::from_str::<BlockRecord>(line) {
                    Ok(r) => {
                        if let Some(slot) = index
                            .get(&r.hash)
                            .and_then(|i| i.checked_sub(popped))
                            .and_then(|i| recent.get_mut(i))
                        {
                            *slot = r;
                            continue;
                        }
                        index.insert(r.hash.clone(), popped + recent.len());
                        recent.push_back(r);
                        if recent.len() > BLOCKS_KEPT
                            && let Some(old) = recent.pop_front()
                        {
                            popped += 1;
                            index.remove(&old.hash);
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

    /// Returns, per kept block newest first, what its coinbase paid `script` (blocks
    /// that paid it nothing are left out), with the block's on-chain state. A caller with
    /// an address turns it into a script with `otedama_sharechain::parse_address`.
    pub fn payouts_to(&self, script: &PayoutScript) -> Vec<BlockPayout> {
        let wanted = hex::encode(script.as_bytes());
        self.newest_first()
            .into_iter()
            .filter_map(|r| {
                let sat = r
                    .payouts
                    .iter()
                    .filter(|(s, _)| s.eq_ignore_ascii_case(&wanted))
                    .fold(0u64, |sum, (_, sat)| sum.saturating_add(*sat));
                (sat > 0).then(|| BlockPayout {
                    height: r.height,
                    hash: r.hash,
                    time: r.time,
                    outcome: r.outcome,
                    amount: Amount::from_sat(sat),
                    chain: r.chain,
                })
            })
            .collect()
    }

    /// Sets the proof of the kept block `hash` (an unknown hash is ignored) and, when it
    /// says something new (see [`ChainProof::worth_persisting`]), appends the updated
    /// record to the log, where it replaces the older line on the next load.
    pub fn set_chain(&self, hash: &str, proof: ChainProof) {
        let updated = {
            let Ok(mut recent) = self.recent.lock() else {
                return;
            };
            let Some(r) = recent.iter_mut().rev().find(|r| r.hash == hash) else {
                return;
            };
            let persist = proof.worth_persisting(r.chain.as_ref());
            r.chain = Some(proof);
            persist.then(|| r.clone())
        };
        if let Some(r) = updated {
            self.append(&r);
        }
    }

    pub(crate) fn push(&self, record: BlockRecord) {
        if let Ok(mut r) = self.recent.lock() {
            r.push_back(record.clone());
            if r.len() > BLOCKS_KEPT {
                r.pop_front();
            }
        }
        self.append(&record);
    }

    fn append(&self, record: &BlockRecord) {
        let Some(file) = &self.file else {
            return;
        };
        let line = match serde_json::to_vec(record) {
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
                    chain: None,
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
    use crate::proof::ChainState;

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
            hash: format!("{height:064x}"),
            share: "11".repeat(32),
            time: 5,
            outcome: BlockOutcome::Accepted,
            payouts: vec![(hex::encode(PayoutScript::p2wpkh([1; 20]).as_bytes()), 7)],
            chain: None,
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

    /// A line as the node wrote it before blocks carried their proof by the chain.
    const OLD_LINE: &str = r#"{"height":51,"hash":"e78d3df0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071862b9c7fe","share":"81cd48c3a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607184dc68b89","time":1795258104,"outcome":"accepted","payouts":[["0014a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",2543247423]]}"#;

    #[test]
    fn a_line_without_a_proof_loads_as_unchecked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.jsonl");
        std::fs::write(&path, format!("{OLD_LINE}\n")).expect("write");
        let got = Blocks::load(Some(path)).newest_first();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].height, 51);
        assert_eq!(got[0].outcome, BlockOutcome::Accepted);
        assert_eq!(got[0].chain, None);
        assert_eq!(got[0].scripts()[0].1, Amount::from_sat(2_543_247_423));
    }

    fn proof(state: ChainState, confirmations: u32) -> ChainProof {
        ChainProof {
            state,
            confirmations,
            checked_at: 9,
            coinbase_matches: Some(true),
            coinbase_onchain: Vec::new(),
        }
    }

    #[test]
    fn a_new_proof_is_appended_and_replaces_the_old_line_on_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.jsonl");
        let blocks = Blocks::load(Some(path.clone()));
        blocks.push(record(1));
        blocks.push(record(2));
        let lines = |p: &std::path::Path| std::fs::read_to_string(p).expect("read").lines().count();
        blocks.set_chain(&record(1).hash, proof(ChainState::Confirmed, 1));
        assert_eq!(lines(&path), 3, "a new state is written");
        // One more confirmation is not worth a line; maturity is.
        blocks.set_chain(&record(1).hash, proof(ChainState::Confirmed, 2));
        assert_eq!(lines(&path), 3);
        blocks.set_chain(&record(1).hash, proof(ChainState::Confirmed, 100));
        assert_eq!(lines(&path), 4);
        blocks.set_chain(&"ff".repeat(32), proof(ChainState::Orphaned, 0));
        assert_eq!(lines(&path), 4, "an unknown block is ignored");

        let again = Blocks::load(Some(path)).newest_first();
        assert_eq!(again.len(), 2, "one record per block: {again:?}");
        assert_eq!(again[0].height, 2);
        assert_eq!(again[0].chain, None);
        assert_eq!(again[1].height, 1, "the update keeps the block's place");
        let chain = again[1].chain.as_ref().expect("a proof");
        assert_eq!(
            (chain.state, chain.confirmations),
            (ChainState::Confirmed, 100)
        );
        assert!(chain.mature());
    }

    #[test]
    fn payouts_to_a_script_list_each_block_with_its_proof() {
        let blocks = Blocks::load(None);
        let ours = PayoutScript::p2wpkh([1; 20]);
        let other = PayoutScript::p2wpkh([2; 20]);
        let mut r = record(3);
        r.payouts
            .push((hex::encode(other.as_bytes()).to_ascii_uppercase(), 11));
        r.payouts.push((hex::encode(ours.as_bytes()), 5));
        blocks.push(record(1));
        blocks.push(r);
        blocks.set_chain(&record(3).hash, proof(ChainState::Orphaned, 0));
        let got = blocks.payouts_to(&ours);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].height, got[0].amount), (3, Amount::from_sat(12)));
        assert_eq!(
            got[0].chain.as_ref().map(|c| c.state),
            Some(ChainState::Orphaned)
        );
        assert_eq!((got[1].height, got[1].amount), (1, Amount::from_sat(7)));
        assert_eq!(got[1].chain, None);
        let other_paid = blocks.payouts_to(&other);
        assert_eq!(other_paid.len(), 1);
        assert_eq!(other_paid[0].amount, Amount::from_sat(11));
        assert!(blocks.payouts_to(&PayoutScript::p2wpkh([9; 20])).is_empty());
    }
}
