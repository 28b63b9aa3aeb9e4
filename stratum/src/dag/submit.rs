//! DAG shares: `mining.submit` (EthereumStratum/1.0.0, KawPow) and `eth_submitWork`
//! (ETHPROXY). Checks, in order: subscribed, authorized worker, known job, the nonce's
//! extranonce, the header hash, duplicate, then the hash on the CPU from the epoch's
//! light cache: the mix hash the miner sent, then the job's target. Shares meeting the
//! template's share target go to the node.

use super::codec::{DagSubmit, NonceHex};
use super::session::{DagSession, EXTRANONCE_BYTES, MAX_SOLUTIONS};
use super::{DagHash, DagSubmission, Dialect, meets};
use crate::codec::RequestId;
use crate::error::{ErrorCode, Reject, SessionError};
use crate::job::parse_job_id;
use crate::session::TARGET;
use crate::stats::bump;
use otedama_sharechain::ethash::Epoch;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, warn};

/// What a share is checked against.
struct Candidate {
    /// The user name the share is for.
    worker: String,
    /// Indices in the session's book of the jobs the share may be for, in the order
    /// tried: the one named by `mining.submit`; for `eth_submitWork`, every job with
    /// the header hash, newest first (a retarget repeats the header at a new target).
    /// None is "Job not found".
    jobs: Vec<usize>,
    nonce: u64,
    mix: Option<[u8; 32]>,
}

impl DagSession {
    /// `mining.submit` of EthereumStratum/1.0.0 or KawPow.
    pub(crate) async fn on_submit(
        &mut self,
        id: RequestId,
        s: DagSubmit,
    ) -> Result<(), SessionError> {
        let outcome = match self.locate_submit(&s) {
            Ok(c) => self.check(c).await,
            Err(r) => Err(r),
        };
        self.settle(&id, &s.worker, &s.job_id, outcome)
    }

    /// `eth_submitWork [nonce, header_hash, mix]`: the share names no job, so it is
    /// for the newest job with that header hash whose target it meets. After a retarget
    /// a share found at the old target still counts at the old difficulty, as a
    /// `mining.submit` for the old job id does.
    pub(crate) async fn on_submit_work(
        &mut self,
        id: RequestId,
        nonce: u64,
        header_hash: [u8; 32],
        mix: [u8; 32],
    ) -> Result<(), SessionError> {
        let outcome = match self.payout.is_some() {
            false => Err(Reject::UnauthorizedWorker),
            true => {
                let jobs = (0..self.jobs.len())
                    .rev()
                    .filter(|&j| self.jobs[j].template.header_hash == header_hash)
                    .collect();
                self.check(Candidate {
                    worker: self.workers.first().cloned().unwrap_or_default(),
                    jobs,
                    nonce,
                    mix: Some(mix),
                })
                .await
            }
        };
        let worker = self.workers.first().cloned().unwrap_or_default();
        self.settle(&id, &worker, &hex::encode(&header_hash[..4]), outcome)
    }

    fn locate_submit(&self, s: &DagSubmit) -> Result<Candidate, Reject> {
        if !self.subscribed {
            return Err(Reject::NotSubscribed);
        }
        if !self.workers.contains(&s.worker) {
            return Err(Reject::UnauthorizedWorker);
        }
        let job_id = parse_job_id(&s.job_id).ok_or(Reject::JobNotFound)?;
        let job = self
            .jobs
            .iter()
            .position(|j| j.id == job_id)
            .ok_or(Reject::JobNotFound)?;
        let nonce = self.full_nonce(s.nonce)?;
        if let Some(h) = s.header_hash
            && h != self.jobs[job].template.header_hash
        {
            return Err(Reject::HeaderMismatch);
        }
        Ok(Candidate {
            worker: s.worker.clone(),
            jobs: vec![job],
            nonce,
            mix: s.mix,
        })
    }

    /// The 64-bit nonce of a submission: the session's extranonce then the miner's
    /// bytes (EthereumStratum/1.0.0 miners send only theirs), or all eight bytes, which
    /// must then start with the extranonce.
    fn full_nonce(&self, n: NonceHex) -> Result<u64, Reject> {
        let prefix = u64::from(u16::from_be_bytes(self.extranonce));
        let shift = 8 * (8 - EXTRANONCE_BYTES as u32);
        match n.bytes {
            8 if n.value >> shift == prefix => Ok(n.value),
            8 => Err(Reject::NonceOutsideExtranonce),
            b if b == 8 - EXTRANONCE_BYTES && self.dialect == Some(Dialect::EthereumStratum) => {
                Ok(prefix << shift | n.value)
            }
            _ => Err(Reject::InvalidParams {
                method: "mining.submit",
                reason: "nonce must be 16 hex digits, or 12 after the extranonce",
            }),
        }
    }

    /// Checks a share; returns the difficulty it met.
    async fn check(&mut self, c: Candidate) -> Result<f64, Reject> {
        // The candidates share a header hash, so one hash serves them all.
        let first = c.jobs.first().ok_or(Reject::JobNotFound)?;
        let (template, epoch) = (self.jobs[*first].template.clone(), self.jobs[*first].epoch);
        let key = (template.header_hash, c.nonce);
        if self.solutions.contains(&key) {
            return Err(Reject::Duplicate);
        }
        if self.solutions.len() >= MAX_SOLUTIONS {
            return Err(Reject::JobFull);
        }
        let hash = self
            .hash(epoch, template.height, template.header_hash, c.nonce)
            .await?;
        if c.mix.is_some_and(|m| m != hash.mix) {
            return Err(Reject::BadMixHash);
        }
        let job = c
            .jobs
            .iter()
            .map(|&j| &self.jobs[j])
            .find(|job| meets(&hash.result, &job.target))
            .ok_or(Reject::LowDifficulty)?;
        let difficulty = job.difficulty;
        let payout = Arc::clone(&job.payout);
        self.solutions.insert(key);
        self.vardiff.record(difficulty);
        let is_share = meets(&hash.result, &template.share_target);
        let is_block = meets(&hash.result, &template.block_target);
        debug!(target: TARGET, nonce = %format!("{:016x}", c.nonce), is_share, is_block, "share accepted");
        if is_share && self.payout.is_some() {
            // A fee job's template pays the operator, and so does its share.
            let submission = DagSubmission {
                worker: c.worker,
                payout: payout.to_string(),
                template,
                nonce: c.nonce,
                mix: hash.mix,
                result: hash.result,
                is_block,
            };
            self.forward(submission);
        }
        Ok(difficulty)
    }

    /// Hashes on the blocking pool (the epoch's cache is built there on first use).
    async fn hash(
        &self,
        epoch: Epoch,
        height: u64,
        header: [u8; 32],
        nonce: u64,
    ) -> Result<DagHash, Reject> {
        let caches = self.ctx.caches.clone();
        tokio::task::spawn_blocking(move || caches.get_blocking(epoch).hash(height, &header, nonce))
            .await
            .map_err(|error| {
                warn!(target: TARGET, %error, "DAG hash task failed");
                Reject::Internal
            })
    }

    /// Answers a share and updates the counters, the ban window and vardiff.
    fn settle(
        &mut self,
        id: &RequestId,
        worker: &str,
        job: &str,
        outcome: Result<f64, Reject>,
    ) -> Result<(), SessionError> {
        let now = Instant::now();
        let stats = self.ctx.stats.clone();
        match &outcome {
            Ok(difficulty) => {
                self.accepted += 1;
                bump(&stats.accepted);
                if let Some(o) = &self.ctx.observer {
                    // Difficulty 1 takes about 2^32 hashes.
                    o.accepted(worker, (difficulty * 4_294_967_296.0) as u64);
                }
                self.count_share(now, true)?;
            }
            Err(reject) => {
                if let Some(o) = &self.ctx.observer {
                    o.rejected(worker);
                }
                self.rejected += 1;
                bump(match reject.code() {
                    ErrorCode::Stale => &stats.rejected_stale,
                    ErrorCode::Duplicate => &stats.rejected_duplicate,
                    ErrorCode::LowDifficulty => &stats.rejected_low_difficulty,
                    _ => &stats.rejected_other,
                });
                debug!(target: TARGET, worker = ?worker, job = ?job, %reject, "share rejected");
                if matches!(reject, Reject::LowDifficulty | Reject::BadMixHash) {
                    self.count_share(now, false)?;
                }
            }
        }
        let outcome = outcome.map(|_| ());
        self.reply_share(id, &outcome)?;
        let cfg = &self.ctx.stratum.vardiff;
        if outcome.is_ok() && cfg.enabled && self.vardiff.is_due(now, cfg) {
            self.retarget(now)?;
        }
        Ok(())
    }

    /// Counts a share for the invalid-PoW ban, as v1 sessions do.
    fn count_share(&mut self, now: Instant, valid: bool) -> Result<(), SessionError> {
        let cfg = &self.ctx.stratum.bans;
        self.invalid.count(now, valid, self.changed_at, cfg)
    }
    /// Hands a share to the node without waiting.
    fn forward(&self, submission: DagSubmission) {
        let stats = &self.ctx.stats;
        match self.ctx.submissions.try_send(submission) {
            Ok(()) => bump(&stats.shares_forwarded),
            Err(TrySendError::Full(s) | TrySendError::Closed(s)) => {
                bump(&stats.shares_dropped);
                warn!(target: TARGET, worker = %s.worker, "DAG submission channel full or closed: share dropped");
            }
        }
    }
}
