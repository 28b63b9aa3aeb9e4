//! Jobs: job id allocation, the `mining.notify` encoding of a [`ShareTemplate`], and
//! each session's book of recent jobs with the solutions already accepted for them.

use otedama_sharechain::{BuildError, ShareTemplate, Target};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most jobs a session remembers; older ones are stale (error 21).
pub(crate) const MAX_JOBS: usize = 16;

/// Most accepted solutions remembered per job. A bound on duplicate-detection memory; a
/// miner this fast on one job gets a fresh job within `job_refresh` anyway.
pub(crate) const MAX_SOLUTIONS_PER_JOB: usize = 1 << 16;

/// Hands out job ids, unique across the server's sessions (handy in logs).
#[derive(Debug, Default)]
pub(crate) struct JobIds(AtomicU64);

impl JobIds {
    /// Returns a fresh id as lowercase hex.
    pub(crate) fn next(&self) -> String {
        format!("{:x}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The parts of `mining.notify` that depend only on the template, hex-encoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobParts {
    prevhash: String,
    coinb1: String,
    coinb2: String,
    branch: Vec<String>,
    version: String,
    nbits: String,
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
        Ok(Self {
            prevhash: stratum_prevhash(template.block.prev_block.as_bytes()),
            coinb1: hex::encode(coinb1),
            coinb2: hex::encode(coinb2),
            branch: template.merkle_branch.iter().map(hex::encode).collect(),
            version: format!("{:08x}", template.block.version as u32),
            nbits: format!("{:08x}", template.block.bits.to_consensus()),
        })
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
    pub id: String,
    /// The template the job was cut from.
    pub template: Arc<ShareTemplate>,
    /// Its notify encoding.
    pub parts: Arc<JobParts>,
    /// The ntime sent with the job.
    pub ntime: u32,
    /// The Stratum difficulty sent with the job.
    pub difficulty: f64,
    /// Submissions to this job are judged against this target: the session target when
    /// the job was sent, so a difficulty change never rejects work already in flight.
    pub target: Target,
    /// The sharechain target of the template.
    pub share_target: Target,
    solutions: HashSet<SolutionKey>,
}

impl Job {
    /// Returns a job with no accepted solutions.
    pub(crate) fn new(
        id: String,
        template: Arc<ShareTemplate>,
        parts: Arc<JobParts>,
        ntime: u32,
        difficulty: f64,
        target: Target,
        share_target: Target,
    ) -> Self {
        Self {
            id,
            template,
            parts,
            ntime,
            difficulty,
            target,
            share_target,
            solutions: HashSet::new(),
        }
    }

    /// Returns the `mining.notify` params.
    pub(crate) fn notify_params(&self, clean: bool) -> Value {
        let p = &self.parts;
        json!([
            self.id,
            p.prevhash,
            p.coinb1,
            p.coinb2,
            p.branch,
            p.version,
            p.nbits,
            format!("{:08x}", self.ntime),
            clean
        ])
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
    /// Adds `job`; with `clean`, every older job becomes stale first.
    pub(crate) fn insert(&mut self, job: Job, clean: bool) {
        if clean {
            self.jobs.clear();
        }
        self.jobs.push_back(job);
        while self.jobs.len() > MAX_JOBS {
            self.jobs.pop_front();
        }
    }

    /// Returns the job with id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// Returns the job with id `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Returns the newest job.
    pub(crate) fn latest(&self) -> Option<&Job> {
        self.jobs.back()
    }

    /// Returns whether there is no job.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
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

    fn job(ids: &JobIds, t: &Arc<ShareTemplate>) -> Job {
        let parts = Arc::new(JobParts::new(t, 8).expect("parts"));
        Job::new(
            ids.next(),
            t.clone(),
            parts,
            1,
            1.0,
            Target::MAX,
            Target::MAX,
        )
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
        let p = j.notify_params(true);
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
    fn book_keeps_sixteen_and_clean_clears() {
        let t = template();
        let ids = JobIds::default();
        let mut book = JobBook::default();
        for _ in 0..20 {
            book.insert(job(&ids, &t), false);
        }
        assert!(book.get("4").is_none(), "oldest evicted");
        assert!(book.get("5").is_some());
        assert_eq!(book.latest().map(|j| j.id.as_str()), Some("14"));
        book.insert(job(&ids, &t), true);
        assert!(book.get("14").is_none());
        assert_eq!(book.latest().map(|j| j.id.as_str()), Some("15"));
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
