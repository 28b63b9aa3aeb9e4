//! Jobs: job id allocation, the `mining.notify` encoding of a [`ShareTemplate`] (shared
//! by every session mining that template), and each session's book of recent jobs with
//! the solutions already accepted for them.

use otedama_sharechain::{BuildError, ShareTemplate, Target};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Most jobs a session remembers; older ones are stale (error 21).
pub(crate) const MAX_JOBS: usize = 16;

/// Most accepted solutions remembered per job. A bound on duplicate-detection memory; a
/// miner this fast on one job gets a fresh job within `job_refresh` anyway.
pub(crate) const MAX_SOLUTIONS_PER_JOB: usize = 1 << 16;

/// Hands out job ids, unique across the server's sessions (handy in logs).
#[derive(Debug, Default)]
pub(crate) struct JobIds(AtomicU64);

impl JobIds {
    /// Returns a fresh id.
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Parses a job id as sent in `mining.notify` (lowercase or uppercase hex, no sign).
pub(crate) fn parse_job_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// The parts of `mining.notify` that depend only on the template, rendered once as the
/// JSON text between the job id and the ntime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobParts {
    /// `"prevhash","coinb1","coinb2",[branch...],"version","nbits"`.
    middle: String,
}

impl JobParts {
    /// Encodes `template`'s notify fields. The coinbase is split around an extranonce
    /// of `extranonce_len` bytes (extranonce1 || extranonce2).
    ///
    /// # Errors
    /// When the template cannot build a coinbase with such an extranonce.
    pub(crate) fn new(template: &ShareTemplate, extranonce_len: usize) -> Result<Self, BuildError> {
        let coinbase = template.coinbase(&vec![0u8; extranonce_len])?;
        let (coinb1, coinb2) = coinbase.stratum_parts();
        let branch: Vec<Value> = template
            .merkle_branch
            .iter()
            .map(|b| Value::String(hex::encode(b)))
            .collect();
        let middle = format!(
            "\"{}\",\"{}\",\"{}\",{},\"{:08x}\",\"{:08x}\"",
            stratum_prevhash(template.block.prev_block.as_bytes()),
            hex::encode(coinb1),
            hex::encode(coinb2),
            Value::Array(branch),
            template.block.version as u32,
            template.block.bits.to_consensus(),
        );
        Ok(Self { middle })
    }
}

/// Shares [`JobParts`] between the sessions mining one template: the node hands the
/// same `Arc<ShareTemplate>` to every session of a payout address, and a coinbase with
/// hundreds of payouts is tens of kilobytes of hex.
#[derive(Debug, Default)]
pub(crate) struct PartsCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    map: HashMap<usize, (Weak<ShareTemplate>, Arc<JobParts>)>,
    /// Size after the last sweep of dead templates; the next sweep runs at twice that.
    swept_at: usize,
}

impl PartsCache {
    /// Returns the parts of `template`, encoding them on first use.
    ///
    /// # Errors
    /// As [`JobParts::new`].
    pub(crate) fn get(
        &self,
        template: &Arc<ShareTemplate>,
        extranonce_len: usize,
    ) -> Result<Arc<JobParts>, BuildError> {
        let key = Arc::as_ptr(template) as usize;
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((weak, parts)) = c.map.get(&key)
            && weak.upgrade().is_some_and(|t| Arc::ptr_eq(&t, template))
        {
            return Ok(parts.clone());
        }
        let parts = Arc::new(JobParts::new(template, extranonce_len)?);
        c.map.insert(key, (Arc::downgrade(template), parts.clone()));
        if c.map.len() > c.swept_at.max(64) * 2 {
            c.map.retain(|_, (weak, _)| weak.strong_count() > 0);
            c.swept_at = c.map.len();
        }
        Ok(parts)
    }
}

/// Encodes a previous-block hash the way Stratum v1 miners expect: the internal byte
/// order cut in eight 4-byte words, each word byte-reversed (cgminer's `swap32`).
pub(crate) fn stratum_prevhash(internal: &[u8; 32]) -> String {
    let mut out = *internal;
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    hex::encode(out)
}

/// What makes two submissions the same solution.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SolutionKey {
    /// extranonce2.
    pub extranonce2: Box<[u8]>,
    /// Header time.
    pub ntime: u32,
    /// Header nonce.
    pub nonce: u32,
    /// The effective header version (after masking rolled bits).
    pub version: i32,
}

/// One job handed to a session.
#[derive(Debug)]
pub(crate) struct Job {
    /// The job id sent to the miner.
    pub id: u64,
    /// The template the job was cut from.
    pub template: Arc<ShareTemplate>,
    /// Its notify encoding.
    pub parts: Arc<JobParts>,
    /// The session's extranonce1 when the job was sent (a later `set_extranonce` only
    /// applies to later jobs).
    pub extranonce1: [u8; 4],
    /// The ntime sent with the job.
    pub ntime: u32,
    /// The Stratum difficulty the job was sent with.
    pub difficulty: f64,
    /// Its target.
    pub target: Target,
    /// Submissions to this job are accepted down to this target: the easiest session
    /// target since the job was sent, so work in flight across a retarget is never
    /// rejected, whichever difficulty the miner applied to it.
    pub accept_target: Target,
    /// The difficulty of `accept_target`.
    pub accept_difficulty: f64,
    /// The sharechain target of the template.
    pub share_target: Target,
    /// Whether the job pays the operator's fee address instead of the miner.
    pub fee: bool,
    solutions: HashSet<SolutionKey>,
}

/// What a job is cut with, besides its template and id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobSpec {
    /// The session's extranonce1.
    pub extranonce1: [u8; 4],
    /// The ntime to send.
    pub ntime: u32,
    /// The difficulty to send.
    pub difficulty: f64,
    /// Its target.
    pub target: Target,
    /// The template's share target.
    pub share_target: Target,
}

impl Job {
    /// Returns a job with no accepted solutions.
    pub(crate) fn new(
        id: u64,
        template: Arc<ShareTemplate>,
        parts: Arc<JobParts>,
        spec: JobSpec,
    ) -> Self {
        Self {
            id,
            template,
            parts,
            extranonce1: spec.extranonce1,
            ntime: spec.ntime,
            difficulty: spec.difficulty,
            target: spec.target,
            accept_target: spec.target,
            accept_difficulty: spec.difficulty,
            share_target: spec.share_target,
            fee: false,
            solutions: HashSet::new(),
        }
    }

    /// Returns the `mining.notify` line.
    pub(crate) fn notify_line(&self, clean: bool) -> Vec<u8> {
        format!(
            "{{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"{:x}\",{},\"{:08x}\",{}]}}\n",
            self.id, self.parts.middle, self.ntime, clean
        )
        .into_bytes()
    }

    /// Returns whether `key` was already accepted.
    pub(crate) fn is_duplicate(&self, key: &SolutionKey) -> bool {
        self.solutions.contains(key)
    }

    /// Returns whether the job can remember another solution.
    pub(crate) fn has_room(&self) -> bool {
        self.solutions.len() < MAX_SOLUTIONS_PER_JOB
    }

    /// Remembers an accepted solution.
    pub(crate) fn record(&mut self, key: SolutionKey) {
        self.solutions.insert(key);
    }
}

/// A session's recent jobs, oldest first.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    jobs: VecDeque<Job>,
}

impl JobBook {
    /// Adds `job`; with `invalidate`, every older job becomes stale first.
    pub(crate) fn insert(&mut self, job: Job, invalidate: bool) {
        if invalidate {
            self.jobs.clear();
        }
        self.jobs.push_back(job);
        while self.jobs.len() > MAX_JOBS {
            self.jobs.pop_front();
        }
    }

    /// Returns the job with id `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&Job> {
        self.jobs.iter().rev().find(|j| j.id == id)
    }

    /// Returns the job with id `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.iter_mut().rev().find(|j| j.id == id)
    }

    /// Returns the newest job.
    pub(crate) fn latest(&self) -> Option<&Job> {
        self.jobs.back()
    }

    /// Returns whether there is no job.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Lowers every job's accept target to `target` (of `difficulty`) where that is
    /// easier: the session target just changed, and miners may apply it to work
    /// already in progress.
    pub(crate) fn accept_down_to(&mut self, target: Target, difficulty: f64) {
        for job in &mut self.jobs {
            if target > job.accept_target {
                job.accept_target = target;
                job.accept_difficulty = difficulty;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_sharechain::test_utils::{regtest_template, script};
    use otedama_sharechain::{ChainSpec, ShareChain};

    fn template() -> Arc<ShareTemplate> {
        let spec = ChainSpec::by_name("btc-regtest").expect("built in").clone();
        let mut chain = ShareChain::new(spec);
        Arc::new(
            ShareTemplate::new(&mut chain, regtest_template(100, 3), script(1)).expect("template"),
        )
    }

    fn spec(target: Target) -> JobSpec {
        JobSpec {
            extranonce1: [0; 4],
            ntime: 1,
            difficulty: 1.0,
            target,
            share_target: Target::MAX,
        }
    }

    fn job(ids: &JobIds, t: &Arc<ShareTemplate>) -> Job {
        let parts = Arc::new(JobParts::new(t, 8).expect("parts"));
        Job::new(ids.next(), t.clone(), parts, spec(Target::MAX))
    }

    #[test]
    fn prevhash_swaps_each_word() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            stratum_prevhash(&bytes),
            "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c"
        );
    }

    #[test]
    fn notify_encodes_template_fields() {
        let t = template();
        let j = job(&JobIds::default(), &t);
        let line: Value = serde_json::from_slice(&j.notify_line(true)).expect("json");
        let p = &line["params"];
        assert_eq!(line["method"], "mining.notify");
        assert_eq!(p[0], "1");
        assert_eq!(p[4].as_array().map(Vec::len), Some(2));
        assert_eq!(p[5], "20000000");
        assert_eq!(p[6], "207fffff");
        assert_eq!(p[7], "00000001");
        assert_eq!(p[8], true);
        let cb = t.coinbase(&[0; 8]).expect("coinbase");
        let (c1, c2) = cb.stratum_parts();
        assert_eq!(p[2], hex::encode(c1));
        assert_eq!(p[3], hex::encode(c2));
    }

    #[test]
    fn job_ids_parse_strictly() {
        assert_eq!(parse_job_id("1f"), Some(31));
        assert_eq!(parse_job_id("1F"), Some(31));
        for bad in ["", "+1", "-1", "0x1", "g", "11111111111111111"] {
            assert_eq!(parse_job_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn book_keeps_sixteen_and_clean_clears() {
        let t = template();
        let ids = JobIds::default();
        let mut book = JobBook::default();
        for _ in 0..20 {
            book.insert(job(&ids, &t), false);
        }
        assert!(book.get(4).is_none(), "oldest evicted");
        assert!(book.get(5).is_some());
        assert_eq!(book.latest().map(|j| j.id), Some(20));
        book.insert(job(&ids, &t), true);
        assert!(book.get(20).is_none());
        assert_eq!(book.latest().map(|j| j.id), Some(21));
    }

    #[test]
    fn accept_targets_only_get_easier() {
        let t = template();
        let parts = Arc::new(JobParts::new(&t, 8).expect("parts"));
        let hard = Target::difficulty_one();
        let mut book = JobBook::default();
        book.insert(Job::new(1, t.clone(), parts, spec(hard)), false);
        book.accept_down_to(Target::MAX, 1e-9);
        book.accept_down_to(hard, 1.0);
        let j = book.get(1).expect("job");
        assert_eq!((j.target, j.accept_target), (hard, Target::MAX));
        assert_eq!(j.accept_difficulty, 1e-9);
    }

    #[test]
    fn parts_are_shared_per_template_and_swept() {
        let cache = PartsCache::default();
        let t = template();
        let a = cache.get(&t, 8).expect("parts");
        let b = cache.get(&t, 8).expect("parts");
        assert!(Arc::ptr_eq(&a, &b));
        for _ in 0..200 {
            let other = template();
            cache.get(&other, 8).expect("parts");
        }
        let len = cache.inner.lock().expect("not poisoned").map.len();
        assert!(len < 200, "dead templates are swept ({len} left)");
        assert!(Arc::ptr_eq(&a, &cache.get(&t, 8).expect("parts")));
    }

    #[test]
    fn solutions_are_remembered_per_job() {
        let t = template();
        let mut j = job(&JobIds::default(), &t);
        let key = SolutionKey {
            extranonce2: vec![0, 0, 0, 1].into(),
            ntime: 5,
            nonce: 6,
            version: 7,
        };
        assert!(!j.is_duplicate(&key));
        j.record(key.clone());
        assert!(j.is_duplicate(&key));
        assert!(j.has_room());
    }
}
