//! Jobs and difficulty: cutting jobs from the node's templates, `mining.notify` and
//! `mining.set_difficulty`, the periodic refresh, and vardiff retargets.
//!
//! `clean_jobs` is true for a session's first job and whenever the work says older
//! jobs are worthless (new parent block or share tip, or a generation was skipped);
//! refreshes, retargets and non-clean work keep older jobs valid. A difficulty change
//! is always followed by a fresh job, which is where cgminer applies it.

use crate::config::EXTRANONCE1_SIZE;
use crate::error::SessionError;
use crate::job::{Job, JobSpec};
use crate::session::{Session, TARGET};
use crate::stats::bump;
use crate::vardiff::Bounds;
use crate::work::Work;
use otedama_sharechain::{Difficulty, ShareTemplate, Target};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, warn};

/// How far past the template's `curtime` an ntime may be (ckpool uses 7000).
pub(crate) const NTIME_MAX_AHEAD: u32 = 7200;

impl Session {
    /// Takes new work from the node.
    pub(crate) fn on_work(&mut self, work: Option<Work>) -> Result<(), SessionError> {
        let Some(work) = work else {
            self.work = None;
            return Ok(());
        };
        let Some(clean) = next_generation(&mut self.seen_generation, &work) else {
            return Ok(());
        };
        self.work = Some(work);
        if self.ready() {
            self.send_new_job(clean, clean)?;
        }
        Ok(())
    }

    /// Cuts a job from the current work and sends it. `clean` is the flag the miner
    /// sees; `invalidate` drops older jobs (a session's first job is always clean).
    pub(crate) fn send_new_job(
        &mut self,
        clean: bool,
        invalidate: bool,
    ) -> Result<(), SessionError> {
        let (Some(work), Some(payout)) = (&self.work, &self.payout) else {
            return Ok(());
        };
        let id = self.ctx.job_ids.next();
        // The operator's fee: this job pays the operator instead (see `fee.rs`).
        let fee = self
            .ctx
            .config
            .fee
            .as_ref()
            .filter(|fee| self.charged && fee.takes(id));
        let script = fee.map_or(&payout.script, |fee| fee.script());
        let template = match work.source.template_for(script) {
            Ok(t) => t,
            Err(error) => {
                debug!(target: TARGET, %error, generation = work.generation, "no job to send");
                return Ok(());
            }
        };
        let ntime = template.ntime();
        let first = self.jobs.is_empty();
        let fee_job = fee.is_some();
        match self.cut_job(id, template, ntime) {
            Some(mut job) => {
                job.fee = fee_job;
                self.issue(job, clean || first, invalidate || first)
            }
            None => Ok(()),
        }
    }

    /// Returns the session's difficulty bounds.
    pub(crate) fn bounds(&self) -> Bounds {
        let cfg = &self.ctx.config;
        Bounds {
            min: cfg.min_difficulty,
            max: cfg.max_difficulty,
            floor: self.diff.floor,
            quirks: self.quirks,
        }
    }

    /// Returns a template's share target and its Stratum difficulty.
    fn share_difficulty(&self, template: &ShareTemplate) -> Option<(Target, f64)> {
        match Target::from_compact(template.info.share_target) {
            Ok(t) => Some((
                t,
                Difficulty::from_stratum_target(t, self.ctx.spec.algorithm).get(),
            )),
            Err(error) => {
                warn!(target: TARGET, %error, "template has an invalid share target");
                None
            }
        }
    }

    fn cut_job(&self, id: u64, template: Arc<ShareTemplate>, ntime: u32) -> Option<Job> {
        let (share_target, share_difficulty) = self.share_difficulty(&template)?;
        let difficulty = self.bounds().clamp(self.diff.wanted, share_difficulty);
        let Some(d) = Difficulty::new(difficulty) else {
            warn!(target: TARGET, difficulty, "share target gives no usable difficulty");
            return None;
        };
        let en_len = EXTRANONCE1_SIZE + usize::from(self.ctx.config.extranonce2_size);
        let parts = match self.ctx.parts.get(&template, en_len) {
            Ok(p) => p,
            Err(error) => {
                warn!(target: TARGET, %error, "cannot build the job's coinbase");
                return None;
            }
        };
        let spec = JobSpec {
            extranonce1: self.lease.bytes(),
            ntime,
            difficulty,
            target: d.to_stratum_target(self.ctx.spec.algorithm),
            share_target,
        };
        Some(Job::new(id, template, parts, spec))
    }

    /// Sends `job` (after a `set_difficulty` if its difficulty differs from the last one
    /// sent) and remembers it.
    fn issue(&mut self, job: Job, clean: bool, invalidate: bool) -> Result<(), SessionError> {
        if self.diff.sent.map(|(d, _)| d) != Some(job.difficulty) {
            let line = crate::codec::set_difficulty(job.difficulty, self.quirks.integer_difficulty);
            self.send(&line)?;
            if self.diff.sent.is_some() {
                self.diff.changed_at = Some(Instant::now());
            }
            self.diff.sent = Some((job.difficulty, job.target));
            // Miners may apply the new difficulty to work in progress.
            self.jobs.accept_down_to(job.target, job.difficulty);
        }
        self.send(&job.notify_line(clean))?;
        debug!(target: TARGET, job = %format!("{:x}", job.id), clean, difficulty = job.difficulty, "job sent");
        self.jobs.insert(job, invalidate);
        self.next_refresh = Some(Instant::now() + self.refresh_interval());
        Ok(())
    }

    /// Returns `job_refresh` shortened by up to a tenth, fixed per session: sessions
    /// that got a new block together do not all refresh in the same instant 30 s later.
    fn refresh_interval(&self) -> Duration {
        let refresh = self.ctx.config.job_refresh;
        let spread = f64::from(self.lease.value() % 1024) / 1024.0 / 10.0;
        refresh.mul_f64(1.0 - spread)
    }

    /// Re-sends the newest job under a new id with a fresh ntime.
    pub(crate) fn refresh_job(&mut self) -> Result<(), SessionError> {
        let Some(latest) = self.jobs.latest() else {
            self.next_refresh = None;
            return Ok(());
        };
        let fee = latest.fee;
        let mut job = Job::new(
            self.ctx.job_ids.next(),
            latest.template.clone(),
            latest.parts.clone(),
            JobSpec {
                extranonce1: self.lease.bytes(),
                ntime: fresh_ntime(latest.template.ntime()),
                difficulty: latest.difficulty,
                target: latest.target,
                share_target: latest.share_target,
            },
        );
        // Same template, same payout.
        job.fee = fee;
        self.issue(job, false, false)
    }

    /// Sends the difficulty the session should have now, with a job, if it changed.
    pub(crate) fn apply_difficulty(&mut self) -> Result<(), SessionError> {
        if !self.ready() {
            return Ok(());
        }
        let Some(latest) = self.jobs.latest() else {
            return Ok(());
        };
        let (template, ntime, fee) = (latest.template.clone(), latest.ntime, latest.fee);
        let Some((_, share)) = self.share_difficulty(&template) else {
            return Ok(());
        };
        let d = self.bounds().clamp(self.diff.wanted, share);
        if self.diff.sent.map(|(s, _)| s) == Some(d) {
            return Ok(());
        }
        match self.cut_job(self.ctx.job_ids.next(), template, ntime) {
            Some(mut job) => {
                job.fee = fee;
                self.issue(job, false, false)
            }
            None => Ok(()),
        }
    }

    /// Closes the vardiff window and applies its verdict.
    pub(crate) fn retarget(&mut self, now: Instant) -> Result<(), SessionError> {
        let Some((current, _)) = self.diff.sent else {
            return Ok(());
        };
        let cfg = &self.ctx.config;
        let Some(wanted) = self.diff.vardiff.retarget(current, now, &cfg.vardiff) else {
            return Ok(());
        };
        // Keep the wish within the server's bounds, but not the share difficulty's: if
        // that rises later the session follows.
        let wanted = cfg
            .max_difficulty
            .map_or(wanted, |m| wanted.min(m))
            .max(cfg.min_difficulty);
        self.diff.wanted = wanted;
        let before = self.diff.sent;
        self.apply_difficulty()?;
        if self.diff.sent != before {
            bump(&self.ctx.stats.retargets);
            debug!(target: TARGET, from = current, to = self.diff.sent.map(|(d, _)| d), "vardiff retarget");
        }
        Ok(())
    }
}

/// Records `work` as the last generation seen; returns whether it invalidates older jobs,
/// or `None` when it was already seen. The watch channel keeps only the latest value: a
/// missed generation may have been a clean one, so a gap counts as clean.
pub(crate) fn next_generation(seen: &mut Option<u64>, work: &Work) -> Option<bool> {
    if *seen == Some(work.generation) {
        return None;
    }
    let skipped = seen.is_some_and(|g| work.generation != g.wrapping_add(1));
    *seen = Some(work.generation);
    Some(work.clean || skipped)
}

/// Returns the wall clock, kept inside the window submissions are checked against.
fn fresh_ntime(cur_time: u32) -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(now)
        .unwrap_or(u32::MAX)
        .clamp(cur_time, cur_time.saturating_add(NTIME_MAX_AHEAD))
}
