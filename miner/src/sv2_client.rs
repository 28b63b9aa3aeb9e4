//! The Stratum V2 side of the client: one session on a `stratum2+tcp://` pool. The Noise
//! handshake pins the pool's authority key; the miner opens one extended channel, so its
//! jobs are the same coinbase-around-extranonce work as Stratum v1 jobs and the hashing
//! threads do not know which protocol fed them. The protocol plumbing is
//! `otedama_stratum::sv2::client`; this file maps it onto the miner's work and counters.

use crate::client::{Client, LOG, shutdown_signal};
use crate::config::PoolUrl;
use crate::error::{SessionError, StratumError};
use crate::job::{Job, Work};
use crate::worker::FoundShare;
use otedama_sharechain::{Difficulty, Target};
use otedama_stratum::sv2::client::{ActiveJob, JobTracker, connect, open_extended, setup};
use otedama_stratum::sv2::codec::{Message, SubmitShares, target_from_le};
use otedama_stratum::sv2::noise::{Transport, TransportError};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{debug, info, warn};

/// From connect to an open channel.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A pool silent for this long is presumed dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Limit on one write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Live job ids shares are still sent for.
const MAX_JOBS: usize = 16;
/// Extranonce bytes the miner asks to roll.
const EXTRANONCE_SIZE: u16 = 4;
/// The version bits SV2 lets a miner roll when a job allows it (BIP320).
const VERSION_MASK: u32 = 0x1fff_e000;

/// One SV2 session's state.
struct Sv2Session {
    id: u64,
    conn: Transport,
    channel: Option<Channel>,
    jobs: JobTracker,
    /// Jobs shares are still sent for (since the last prev hash), with their versions.
    live: VecDeque<(u32, u32)>,
    job: Option<Job>,
    sequence: u32,
}

struct Channel {
    id: u32,
    prefix: Vec<u8>,
    extranonce_size: usize,
    target: Target,
    version_mask: u32,
}

fn sv2_error(e: TransportError) -> SessionError {
    match e {
        TransportError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            SessionError::Closed
        }
        TransportError::Io(e) => SessionError::Io(e),
        other => SessionError::Sv2(other.to_string()),
    }
}

impl Client {
    /// Runs one SV2 session on `stream` until shutdown (`Ok`) or failure; `authorized`
    /// is set once the channel is open.
    pub(crate) async fn drive_sv2(
        &mut self,
        stream: TcpStream,
        pool: &PoolUrl,
        authority: [u8; 32],
        authorized: &mut bool,
    ) -> Result<(), SessionError> {
        let conn = tokio::select! {
            biased;
            () = shutdown_signal(&mut self.shutdown) => return Ok(()),
            r = connect(stream, Some(authority), HANDSHAKE_TIMEOUT) => r.map_err(sv2_error)?,
        };
        let mut s = Sv2Session {
            id: self.sessions,
            conn,
            channel: None,
            jobs: JobTracker::default(),
            live: VecDeque::new(),
            job: None,
            sequence: 0,
        };
        let hello = setup(&pool.host, pool.port, "otedama", env!("CARGO_PKG_VERSION"));
        s.conn
            .send(&hello, WRITE_TIMEOUT)
            .await
            .map_err(sv2_error)?;
        let handshake = sleep(HANDSHAKE_TIMEOUT);
        tokio::pin!(handshake);
        let mut idle = Instant::now() + IDLE_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                () = shutdown_signal(&mut self.shutdown) => return Ok(()),
                m = s.conn.recv() => {
                    let m = m.ok_or(SessionError::Closed)?.map_err(sv2_error)?;
                    idle = Instant::now() + IDLE_TIMEOUT;
                    self.on_sv2_message(&mut s, m, pool, authorized).await?;
                }
                Some(share) = self.shares.recv() => self.on_sv2_share(&mut s, share).await?,
                () = &mut handshake, if !*authorized => {
                    return Err(SessionError::Timeout("waiting for a channel"));
                }
                () = sleep_until(idle) => return Err(SessionError::Timeout("waiting for the pool")),
            }
        }
    }

    async fn on_sv2_message(
        &mut self,
        s: &mut Sv2Session,
        m: Message,
        pool: &PoolUrl,
        authorized: &mut bool,
    ) -> Result<(), SessionError> {
        match m {
            Message::SetupConnectionSuccess { .. } => {
                let hashrate = self.shared.snapshot().hashrate.max(1.0) as f32;
                let open = open_extended(&self.user, hashrate, EXTRANONCE_SIZE);
                s.conn.send(&open, WRITE_TIMEOUT).await.map_err(sv2_error)?;
            }
            Message::SetupConnectionError { error_code, .. } => {
                return Err(SessionError::Sv2(format!("setup refused: {error_code}")));
            }
            Message::OpenMiningChannelError { error_code, .. } => {
                return Err(SessionError::Unauthorized(StratumError {
                    code: None,
                    message: error_code,
                }));
            }
            Message::OpenExtendedMiningChannelSuccess {
                channel_id,
                target,
                extranonce_size,
                extranonce_prefix,
                ..
            } => {
                let size = usize::from(extranonce_size);
                if !(1..=crate::job::MAX_EXTRANONCE2_SIZE).contains(&size) {
                    return Err(SessionError::Sv2(format!(
                        "extranonce size {size} outside 1..=8"
                    )));
                }
                let target = target_from_le(&target);
                s.channel = Some(Channel {
                    id: channel_id,
                    prefix: extranonce_prefix,
                    extranonce_size: size,
                    target,
                    version_mask: VERSION_MASK,
                });
                self.set_target_stats(target);
                *authorized = true;
                self.shared.set_connected(true);
                info!(target: LOG, pool = %pool.url, user = %self.user, channel = channel_id, "connected to pool (stratum v2)");
            }
            Message::NewExtendedMiningJob(job) => {
                if let Some(active) = s.jobs.on_job(job) {
                    self.activate(s, active);
                }
            }
            Message::SetNewPrevHash {
                job_id,
                prev_hash,
                min_ntime,
                nbits,
                ..
            } => {
                s.live.clear();
                match s.jobs.on_prev_hash(job_id, prev_hash, nbits, min_ntime) {
                    Some(active) => self.activate(s, active),
                    None => warn!(target: LOG, job = job_id, "prev hash for an unknown job"),
                }
            }
            Message::SetTarget { maximum_target, .. } => {
                let t = target_from_le(&maximum_target);
                if let Some(ch) = s.channel.as_mut() {
                    ch.target = t;
                }
                self.set_target_stats(t);
                // The current job is re-posted with the new target.
                if let Some(job) = s.job.clone() {
                    self.post(s, job, false);
                }
            }
            Message::SetExtranoncePrefix {
                extranonce_prefix, ..
            } => {
                if let Some(ch) = s.channel.as_mut() {
                    ch.prefix = extranonce_prefix;
                }
            }
            Message::SubmitSharesSuccess {
                new_submits_accepted_count,
                ..
            } => {
                self.shared
                    .accepted
                    .fetch_add(u64::from(new_submits_accepted_count), Ordering::Relaxed);
            }
            Message::SubmitSharesError {
                sequence_number,
                error_code,
                ..
            } => {
                if error_code == "stale-share" {
                    self.shared.stale.fetch_add(1, Ordering::Relaxed);
                    debug!(target: LOG, sequence_number, "stale share");
                } else {
                    self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                    warn!(target: LOG, sequence_number, reason = %error_code, "share rejected");
                }
            }
            Message::CloseChannel { reason_code, .. } => {
                return Err(SessionError::Sv2(format!("channel closed: {reason_code}")));
            }
            other => debug!(target: LOG, kind = ?other.kind(), "unexpected stratum v2 message"),
        }
        Ok(())
    }

    fn set_target_stats(&self, t: Target) {
        self.shared
            .set_difficulty(Difficulty::from_stratum_target(t, self.algorithm).get());
    }

    /// Makes `a` the job mined, remembering its id for shares.
    fn activate(&self, s: &mut Sv2Session, a: ActiveJob) {
        let id = a.job.job_id;
        if s.live.len() >= MAX_JOBS {
            s.live.pop_front();
        }
        s.live.push_back((id, a.job.version));
        if let Some(ch) = s.channel.as_mut() {
            ch.version_mask = if a.job.version_rolling_allowed {
                VERSION_MASK
            } else {
                0
            };
        }
        debug!(target: LOG, job = id, clean = a.clean, "new job (stratum v2)");
        let clean = a.clean;
        let job = Job {
            job_id: id.to_string(),
            prev_hash: a.prev_hash,
            coinb1: a.job.coinbase_tx_prefix,
            coinb2: a.job.coinbase_tx_suffix,
            merkle_branch: a.job.merkle_path,
            version: a.job.version,
            nbits: a.nbits,
            ntime: a.ntime,
            clean_jobs: clean,
        };
        s.job = Some(job.clone());
        self.post(s, job, clean);
    }

    fn post(&self, s: &Sv2Session, job: Job, clean: bool) {
        let Some(ch) = &s.channel else {
            return;
        };
        self.board.publish(
            Work {
                session: s.id,
                job,
                extranonce1: ch.prefix.clone(),
                extranonce2_size: ch.extranonce_size,
                target: ch.target,
                version_mask: ch.version_mask,
            },
            clean,
        );
    }

    async fn on_sv2_share(
        &mut self,
        s: &mut Sv2Session,
        share: FoundShare,
    ) -> Result<(), SessionError> {
        let (Some(ch), Ok(job_id)) = (&s.channel, share.job_id.parse::<u32>()) else {
            return Ok(());
        };
        let live = s.live.iter().find(|(id, _)| *id == job_id);
        let (Some(&(_, job_version)), true) = (live, share.session == s.id) else {
            debug!(target: LOG, job = %share.job_id, "dropping a share of an abandoned job");
            return Ok(());
        };
        let version = match share.version_bits {
            Some(bits) => (job_version & !ch.version_mask) | (bits & ch.version_mask),
            None => job_version,
        };
        s.sequence = s.sequence.wrapping_add(1);
        let m = Message::SubmitSharesExtended {
            submit: SubmitShares {
                channel_id: ch.id,
                sequence_number: s.sequence,
                job_id,
                nonce: share.nonce,
                ntime: share.ntime,
                version,
            },
            extranonce: share.extranonce2,
        };
        s.conn.send(&m, WRITE_TIMEOUT).await.map_err(sv2_error)
    }
}
