//! The Stratum V2 side of the client: one session on a `stratum2+tcp://` pool. The Noise
//! handshake pins the pool's authority key; the miner opens one extended channel, so its
//! jobs are the same coinbase-around-extranonce work as Stratum v1 jobs and the hashing
//! threads do not know which protocol fed them.

use crate::client::{Client, LOG, shutdown_signal};
use crate::config::PoolUrl;
use crate::error::{SessionError, StratumError};
use crate::job::{Job, Work};
use crate::worker::FoundShare;
use otedama_sharechain::{Difficulty, Target};
use otedama_stratum::sv2::codec::{
    ExtendedJob, Message, OpenChannel, SetupConnection, SubmitShares, setup_flags,
};
use otedama_stratum::sv2::noise::{self, TransportError};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, info, warn};

/// From connect to an open channel.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A pool silent for this long is presumed dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Limit on one write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message accepted from a pool: a job whose coinbase pays thousands of miners.
const MAX_FRAME: usize = 1 << 20;
/// Future jobs kept while waiting for their prev hash, and live job ids.
const MAX_JOBS: usize = 16;
/// Extranonce bytes the miner asks to roll.
const EXTRANONCE_SIZE: u16 = 4;
/// The version bits SV2 lets a miner roll when a job allows it (BIP320).
const VERSION_MASK: u32 = 0x1fff_e000;

/// One SV2 connection's state.
struct Sv2Session {
    id: u64,
    writer: OwnedWriteHalf,
    enc: noise_sv2::NoiseEncryptor,
    channel: Option<Channel>,
    /// Future jobs waiting for `SetNewPrevHash`.
    future: VecDeque<ExtendedJob>,
    /// The current prev hash, nBits and min ntime.
    prev: Option<([u8; 32], u32, u32)>,
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

impl Sv2Session {
    async fn send(&mut self, m: &Message) -> Result<(), SessionError> {
        let bytes = noise::seal(&mut self.enc, m).map_err(sv2_error)?;
        timeout(WRITE_TIMEOUT, self.writer.write_all(&bytes))
            .await
            .map_err(|_| SessionError::Timeout("writing to the pool"))??;
        Ok(())
    }
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
        mut stream: TcpStream,
        pool: &PoolUrl,
        authority: [u8; 32],
        authorized: &mut bool,
    ) -> Result<(), SessionError> {
        let (enc, mut dec) = tokio::select! {
            biased;
            () = shutdown_signal(&mut self.shutdown) => return Ok(()),
            r = noise::connect(&mut stream, Some(authority), HANDSHAKE_TIMEOUT) => r.map_err(sv2_error)?,
        };
        let (mut reader, writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel(MAX_JOBS);
        let read_task = tokio::spawn(async move {
            loop {
                let r = noise::read_message(&mut reader, &mut dec, MAX_FRAME).await;
                let failed = r.is_err();
                if tx.send(r).await.is_err() || failed {
                    break;
                }
            }
        });
        let mut s = Sv2Session {
            id: self.sessions,
            writer,
            enc,
            channel: None,
            future: VecDeque::new(),
            prev: None,
            live: VecDeque::new(),
            job: None,
            sequence: 0,
        };
        let result = self.run_sv2(&mut s, &mut rx, pool, authorized).await;
        read_task.abort();
        result
    }

    async fn run_sv2(
        &mut self,
        s: &mut Sv2Session,
        rx: &mut mpsc::Receiver<Result<Message, TransportError>>,
        pool: &PoolUrl,
        authorized: &mut bool,
    ) -> Result<(), SessionError> {
        s.send(&Message::SetupConnection(SetupConnection {
            protocol: 0,
            min_version: 2,
            max_version: 2,
            flags: setup_flags::REQUIRES_VERSION_ROLLING,
            endpoint_host: pool.host.clone(),
            endpoint_port: pool.port,
            vendor: "otedama".into(),
            hardware_version: String::new(),
            firmware: env!("CARGO_PKG_VERSION").into(),
            device_id: String::new(),
        }))
        .await?;
        let handshake = sleep(HANDSHAKE_TIMEOUT);
        tokio::pin!(handshake);
        let mut idle = Instant::now() + IDLE_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                () = shutdown_signal(&mut self.shutdown) => return Ok(()),
                m = rx.recv() => {
                    let m = m.ok_or(SessionError::Closed)?.map_err(sv2_error)?;
                    idle = Instant::now() + IDLE_TIMEOUT;
                    self.on_sv2_message(s, m, pool, authorized).await?;
                }
                Some(share) = self.shares.recv() => self.on_sv2_share(s, share).await?,
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
                s.send(&Message::OpenExtendedMiningChannel {
                    open: OpenChannel {
                        request_id: 1,
                        user_identity: self.user.clone(),
                        nominal_hash_rate: hashrate,
                        max_target: [0xff; 32],
                    },
                    min_extranonce_size: EXTRANONCE_SIZE,
                })
                .await?;
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
                let target = le_target(&target);
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
            Message::NewExtendedMiningJob(job) => match (job.min_ntime, s.prev) {
                (None, _) => {
                    if s.future.len() >= MAX_JOBS {
                        s.future.pop_front();
                    }
                    s.future.push_back(job);
                }
                (Some(ntime), Some((prev, nbits, _))) => {
                    let j = to_job(&job, prev, nbits, ntime, false);
                    self.activate(s, j, job.job_id, job.version_rolling_allowed, false);
                }
                (Some(_), None) => {
                    debug!(target: LOG, job = job.job_id, "job before any prev hash; ignored")
                }
            },
            Message::SetNewPrevHash {
                job_id,
                prev_hash,
                min_ntime,
                nbits,
                ..
            } => {
                s.prev = Some((prev_hash, nbits, min_ntime));
                s.live.clear();
                match s.future.iter().position(|j| j.job_id == job_id) {
                    Some(i) => {
                        let job = s.future.remove(i).expect("index from position");
                        s.future.clear();
                        let j = to_job(&job, prev_hash, nbits, min_ntime, true);
                        self.activate(s, j, job_id, job.version_rolling_allowed, true);
                    }
                    None => warn!(target: LOG, job = job_id, "prev hash for an unknown job"),
                }
            }
            Message::SetTarget { maximum_target, .. } => {
                let t = le_target(&maximum_target);
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

    fn activate(&self, s: &mut Sv2Session, job: Job, id: u32, rolling: bool, clean: bool) {
        if s.live.len() >= MAX_JOBS {
            s.live.pop_front();
        }
        s.live.push_back((id, job.version));
        if let Some(ch) = s.channel.as_mut() {
            ch.version_mask = if rolling { VERSION_MASK } else { 0 };
        }
        debug!(target: LOG, job = id, clean, "new job (stratum v2)");
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
        s.send(&m).await
    }
}

/// The v1-shaped job of an extended job: the coinbase parts around the extranonce.
fn to_job(j: &ExtendedJob, prev: [u8; 32], nbits: u32, ntime: u32, clean: bool) -> Job {
    Job {
        job_id: j.job_id.to_string(),
        prev_hash: prev,
        coinb1: j.coinbase_tx_prefix.clone(),
        coinb2: j.coinbase_tx_suffix.clone(),
        merkle_branch: j.merkle_path.clone(),
        version: j.version,
        nbits,
        ntime,
        clean_jobs: clean,
    }
}

fn le_target(b: &[u8; 32]) -> Target {
    Target::from_u256(ruint::aliases::U256::from_le_bytes(*b))
}
