//! `mining.submit`: the checks in their fixed order, the proof of work, and the
//! hand-over of shares to the node.

use crate::codec::{RequestId, SubmitParams};
use crate::error::{ErrorCode, Reject, SessionError};
use crate::job::SolutionKey;
use crate::session::{NTIME_MAX_AHEAD, Session, TARGET};
use crate::stats::bump;
use crate::work::Submission;
use otedama_sharechain::{BlockHeader, PowAlgorithm, PowHash};
use serde_json::Value;
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
        let stats = &self.ctx.stats;
        match outcome {
            Ok(()) => {
                self.accepted += 1;
                bump(&stats.accepted);
                self.reply(&id, Ok(Value::Bool(true)))
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
                self.reply(&id, Err(reject))
            }
        }
    }

    /// Runs the checks in the documented order: subscribed, authorized, job known,
    /// extranonce2 size, ntime window, duplicate, proof of work.
    async fn check_submit(&mut self, p: &SubmitParams) -> Result<(), Reject> {
        if !self.subscribed {
            return Err(Reject::NotSubscribed);
        }
        if !self.workers.contains(&p.username) {
            return Err(Reject::UnauthorizedWorker);
        }
        // Authorizing a worker always sets the payout first.
        let payout = self.payout.clone().ok_or(Reject::UnauthorizedWorker)?;
        let job = self.jobs.get(&p.job_id).ok_or(Reject::JobNotFound)?;
        if p.extranonce2.len() != usize::from(self.ctx.config.extranonce2_size) {
            return Err(Reject::Extranonce2Size);
        }
        let template = &job.template;
        let block = &template.block;
        if p.ntime < template.min_time || p.ntime > template.ntime().saturating_add(NTIME_MAX_AHEAD)
        {
            return Err(Reject::NtimeOutOfRange);
        }
        let job_version = block.version as u32;
        let version = match p.version_bits {
            None => job_version,
            Some(bits) => (job_version & !self.version_mask) | (bits & self.version_mask),
        } as i32;
        // Keyed on the effective version, so bits outside the mask cannot disguise a
        // repeat.
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
        let (template, target, share_target) = (job.template.clone(), job.target, job.share_target);
        let extranonce = [&self.extranonce1[..], &p.extranonce2].concat();
        let coinbase = template.coinbase(&extranonce).map_err(|error| {
            warn!(target: TARGET, %error, "cannot build a submitted coinbase");
            Reject::Internal
        })?;
        let header = template.header(&coinbase, p.ntime, p.nonce, version);
        let pow = self.pow(&header).await?;
        if !target.is_met_by(&pow) {
            return Err(Reject::LowDifficulty);
        }
        // The session handles one request at a time, so the job is still there.
        if let Some(job) = self.jobs.get_mut(&p.job_id) {
            job.record(key);
        }
        let is_share = share_target.is_met_by(&pow);
        debug!(target: TARGET, worker = %p.username, job = %p.job_id, %pow, is_share, "submission accepted");
        if is_share {
            self.forward(Submission {
                worker: p.username.clone(),
                payout: payout.script,
                template,
                extranonce,
                coinbase,
                header,
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
