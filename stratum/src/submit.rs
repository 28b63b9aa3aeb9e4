//! `mining.submit`: the checks in their fixed order, the proof of work, vardiff and
//! invalid-share accounting, and the hand-over of shares to the node.

use crate::codec::{self, RequestId, SubmitParams};
use crate::error::{ErrorCode, Reject, SessionError};
use crate::handlers::SERVER_VERSION_MASK;
use crate::job::{SolutionKey, parse_job_id};
use crate::notify::NTIME_MAX_AHEAD;
use crate::session::{Session, TARGET};
use crate::stats::bump;
use crate::work::Submission;
use otedama_sharechain::{BlockHeader, PowAlgorithm, PowHash};
use serde_json::Value;
use std::time::Instant;
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, warn};

impl Session {
    /// Answers a submission and updates the counters.
    pub(crate) async fn on_submit(
        &mut self,
        id: RequestId,
        params: SubmitParams,
    ) -> Result<(), SessionError> {
        let outcome = self.check_submit(&params).await;
        let now = Instant::now();
        let stats = &self.ctx.stats;
        match outcome {
            Ok(()) => {
                self.accepted += 1;
                bump(&stats.accepted);
                self.count_share(now, true)?;
                self.reply(&id, Ok(Value::Bool(true)))?;
                let cfg = &self.ctx.config.vardiff;
                if cfg.enabled && self.diff.vardiff.is_due(now, cfg) {
                    self.retarget(now)?;
                }
                Ok(())
            }
            Err(reject) => {
                self.rejected += 1;
                bump(match reject.code() {
                    ErrorCode::Stale => &stats.rejected_stale,
                    ErrorCode::Duplicate => &stats.rejected_duplicate,
                    ErrorCode::LowDifficulty => &stats.rejected_low_difficulty,
                    _ => &stats.rejected_other,
                });
                debug!(target: TARGET, worker = ?params.username, job = ?params.job_id, %reject, "submission rejected");
                self.send(&codec::response_reject(&id, &reject))?;
                if reject == Reject::LowDifficulty {
                    self.count_share(now, false)?;
                }
                Ok(())
            }
        }
    }

    /// Counts a share for the invalid-PoW ban.
    fn count_share(&mut self, now: Instant, valid: bool) -> Result<(), SessionError> {
        let cfg = &self.ctx.config.bans;
        self.invalid.count(now, valid, self.diff.changed_at, cfg)
    }
    /// Runs the checks in the documented order: subscribed, authorized, job known,
    /// extranonce2 size, ntime window, version bits, duplicate, proof of work.
    async fn check_submit(&mut self, p: &SubmitParams) -> Result<(), Reject> {
        if !self.subscribed {
            return Err(Reject::NotSubscribed);
        }
        if !self.workers.contains(&p.username) {
            return Err(Reject::UnauthorizedWorker);
        }
        // Authorizing a worker always sets the payout first.
        if self.payout.is_none() {
            return Err(Reject::UnauthorizedWorker);
        }
        let job_id = parse_job_id(&p.job_id).ok_or(Reject::JobNotFound)?;
        let job = self.jobs.get(job_id).ok_or(Reject::JobNotFound)?;
        if p.extranonce2.len() != usize::from(self.ctx.config.extranonce2_size) {
            return Err(Reject::Extranonce2Size);
        }
        let template = &job.template;
        if p.ntime < template.min_time || p.ntime > template.ntime().saturating_add(NTIME_MAX_AHEAD)
        {
            return Err(Reject::NtimeOutOfRange);
        }
        // Without mining.configure, rolling within our mask is still accepted (as
        // ckpool does): Antminer firmware negotiates with mining.multi_version instead.
        let mask = self.version_mask.unwrap_or(SERVER_VERSION_MASK);
        let job_version = template.block.version as u32;
        let version = match p.version_bits {
            None => job_version,
            Some(bits) if bits & !mask != 0 => return Err(Reject::VersionBits),
            Some(bits) => (job_version & !mask) | bits,
        } as i32;
        let key = SolutionKey {
            extranonce2: p.extranonce2.clone().into_boxed_slice(),
            ntime: p.ntime,
            nonce: p.nonce,
            version,
        };
        if job.is_duplicate(&key) {
            return Err(Reject::Duplicate);
        }
        if !job.has_room() {
            return Err(Reject::JobFull);
        }
        let template = job.template.clone();
        let fee_job = job.fee;
        let (target, accept_target, share_target) =
            (job.target, job.accept_target, job.share_target);
        let (difficulty, accept_difficulty) = (job.difficulty, job.accept_difficulty);
        let extranonce = [&job.extranonce1[..], &p.extranonce2].concat();
        let coinbase = template.coinbase(&extranonce).map_err(|error| {
            warn!(target: TARGET, %error, "cannot build a submitted coinbase");
            Reject::Internal
        })?;
        let header = template.header(&coinbase, p.ntime, p.nonce, version);
        let pow = self.pow(&header).await?;
        if !accept_target.is_met_by(&pow) {
            return Err(Reject::LowDifficulty);
        }
        // The session handles one request at a time, so the job is still there.
        if let Some(job) = self.jobs.get_mut(job_id) {
            job.record(key);
        }
        // Credit the hardest difficulty the miner may have been mining at that this
        // share meets, so the estimate does not sag around a retarget.
        let credit = match self.diff.sent {
            Some((d, t)) if d > difficulty && t.is_met_by(&pow) => d,
            _ if target.is_met_by(&pow) => difficulty,
            _ => accept_difficulty,
        };
        self.diff.vardiff.record(credit);
        let is_share = share_target.is_met_by(&pow);
        debug!(target: TARGET, worker = %p.username, job = %p.job_id, %pow, is_share, "submission accepted");
        if is_share && let Some(payout) = &self.payout {
            // A fee job's template pays the operator, and so does its share.
            let fee_script = self
                .ctx
                .config
                .fee
                .as_ref()
                .filter(|_| fee_job)
                .map(|f| f.script());
            self.forward(Submission {
                worker: p.username.clone(),
                payout: fee_script.unwrap_or(&payout.script).clone(),
                template,
                extranonce,
                coinbase,
                header,
                seal: None,
                pow,
            });
        }
        Ok(())
    }

    /// Hashes a header; Scrypt runs on the blocking pool to keep the runtime responsive.
    async fn pow(&self, header: &BlockHeader) -> Result<PowHash, Reject> {
        let algo = self.ctx.spec.algorithm;
        let bytes = header.to_bytes();
        if algo == PowAlgorithm::Sha256d {
            return Ok(algo.hash(&bytes));
        }
        tokio::task::spawn_blocking(move || algo.hash(&bytes))
            .await
            .map_err(|error| {
                warn!(target: TARGET, %error, "proof-of-work task failed");
                Reject::Internal
            })
    }

    /// Hands a share to the node without ever waiting for it.
    fn forward(&self, submission: Submission) {
        let stats = &self.ctx.stats;
        match self.ctx.submissions.try_send(submission) {
            Ok(()) => bump(&stats.shares_forwarded),
            Err(TrySendError::Full(s)) => {
                bump(&stats.shares_dropped);
                warn!(target: TARGET, worker = %s.worker, "submission channel full: share dropped");
            }
            Err(TrySendError::Closed(s)) => {
                bump(&stats.shares_dropped);
                warn!(target: TARGET, worker = %s.worker, "node no longer takes submissions: share dropped");
            }
        }
    }
}
