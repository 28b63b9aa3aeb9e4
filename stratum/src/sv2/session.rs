//! One SV2 connection: the handshake, `SetupConnection`, its standard and extended
//! channels, jobs cut from the node's templates, targets and vardiff per channel, and
//! share checks. Shares go to the node exactly as SV1 shares do, through the server's
//! shared [`Context`], and count in the same statistics.
//!
//! Jobs: a new share tip or parent block sends every channel a future job and
//! `SetNewPrevHash` for it, which drops older jobs (their shares would be stale); the
//! periodic refresh sends a job for the current prev hash (`min_ntime` set) and keeps
//! older ones.

use super::codec::{
    ExtendedJob, Message, OpenChannel, SubmitShares, U256, setup_flags, target_from_le,
    target_to_le,
};
use super::noise::{Transport, TransportError};
use crate::error::BanReason;
use crate::extranonce::{Extranonces, Lease};
use crate::handlers::SERVER_VERSION_MASK;
use crate::job::{MAX_JOBS, MAX_SOLUTIONS_PER_JOB, SolutionKey};
use crate::notify::NTIME_MAX_AHEAD;
use crate::session::{Context, Payout, TARGET};
use crate::stats::bump;
use crate::vardiff::{Bounds, Vardiff};
use crate::work::{Submission, Work};
use otedama_sharechain::{
    BlockHeader, Difficulty, PowAlgorithm, ShareTemplate, Target, Work as Hashes, parse_address,
};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

/// The only protocol version there is.
const VERSION: u16 = 2;
/// Largest message a client sends: `SetupConnection` with five full strings is under
/// 1.3 KB; nothing a client sends is larger.
const MAX_INCOMING: usize = 4096;
/// Most channels on one connection (a proxy opens one per miner when not aggregating).
const MAX_CHANNELS: usize = 1024;
/// Extranonce bytes the server keeps in front of an extended channel's rollable part.
const PREFIX_SIZE: usize = 4;
/// The fewest prefix bytes that still tell channels apart.
const MIN_PREFIX_SIZE: usize = 2;
/// Decoded messages waiting for the session.
const INBOX: usize = 4;

/// SRI's error codes.
mod code {
    pub const UNSUPPORTED_FLAGS: &str = "unsupported-feature-flags";
    pub const UNSUPPORTED_PROTOCOL: &str = "unsupported-protocol";
    pub const VERSION_MISMATCH: &str = "protocol-version-mismatch";
    pub const INVALID_CHANNEL: &str = "invalid-channel-id";
    pub const STALE: &str = "stale-share";
    pub const INVALID_JOB: &str = "invalid-job-id";
    pub const LOW_DIFFICULTY: &str = "difficulty-too-low";
    pub const DUPLICATE: &str = "duplicate-share";
    pub const INVALID: &str = "invalid-share";
    pub const MAX_TARGET: &str = "max-target-out-of-range";
    pub const EXTRANONCE_SIZE: &str = "min-extranonce-size-too-large";
    pub const BAD_IDENTITY: &str = "unknown-user";
    pub const TOO_MANY_CHANNELS: &str = "too-many-channels";
}

/// A job sent on a channel.
struct ChannelJob {
    id: u32,
    template: Arc<ShareTemplate>,
    share_target: Target,
    solutions: HashSet<SolutionKey>,
}

/// What kind of channel, and what its miner rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The server fixes the whole extranonce; the miner rolls nonce, time and version.
    Standard,
    /// The miner rolls `size` extranonce bytes after the prefix.
    Extended { size: usize },
}

struct Channel {
    kind: Kind,
    _lease: Lease,
    /// The extranonce bytes the server fixes.
    prefix: Vec<u8>,
    identity: String,
    payout: Payout,
    /// The operator's fee applies to this channel's jobs.
    charged: bool,
    /// The easiest target the client accepts.
    max_target: Target,
    target: Target,
    /// The previous target and when it was replaced: shares in flight still meet it.
    previous: Option<(Target, Instant)>,
    wanted: f64,
    vardiff: Vardiff,
    jobs: VecDeque<ChannelJob>,
}

struct Sv2Session {
    ctx: Arc<Context>,
    peer: SocketAddr,
    transport: Transport,
    setup: bool,
    channels: BTreeMap<u32, Channel>,
    next_channel: u32,
    next_job: u32,
    work: Option<Work>,
    seen_generation: Option<u64>,
    next_refresh: Option<Instant>,
    malformed: u32,
    invalid: (Instant, u32, u32),
}

/// Why a session ended.
enum End {
    Closed,
    Error(String),
    Ban(BanReason, String),
}

/// Runs one SV2 connection until it closes; returns the ban it earned, if any.
pub(crate) async fn run(
    ctx: Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    work: watch::Receiver<Option<Work>>,
    shutdown: watch::Receiver<bool>,
) -> Option<BanReason> {
    let span = info_span!(target: TARGET, "sv2", %peer);
    async move {
        let sv2 = ctx.config.sv2.clone()?;
        let transport = match Transport::accept(
            stream,
            &sv2.authority,
            sv2.cert_validity,
            ctx.config.auth_timeout,
            MAX_INCOMING,
            INBOX,
        )
        .await
        {
            Ok(t) => t,
            Err(error) => {
                debug!(target: TARGET, %error, "sv2 handshake failed");
                bump(&ctx.stats.sv2_handshake_failures);
                return None;
            }
        };
        bump(&ctx.stats.sv2_handshakes);
        let now = Instant::now();
        let mut s = Sv2Session {
            ctx,
            peer,
            transport,
            setup: false,
            channels: BTreeMap::new(),
            next_channel: 1,
            next_job: 1,
            work: None,
            seen_generation: None,
            next_refresh: None,
            malformed: 0,
            invalid: (now, 0, 0),
        };
        let end = s.serve(work, shutdown).await;
        s.transport.shutdown().await;
        match end {
            End::Closed => None,
            End::Error(error) => {
                debug!(target: TARGET, %error, "sv2 session closed");
                None
            }
            End::Ban(reason, error) => {
                info!(target: TARGET, %error, reason = reason.as_str(), "sv2 session closed");
                Some(reason)
            }
        }
    }
    .instrument(span)
    .await
}

impl Sv2Session {
    async fn serve(
        &mut self,
        mut work: watch::Receiver<Option<Work>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> End {
        let current = work.borrow_and_update().clone();
        if let Err(end) = self.on_work(current).await {
            return end;
        }
        let setup_deadline = Instant::now() + self.ctx.config.auth_timeout;
        let far = Instant::now() + Duration::from_secs(86_400);
        loop {
            let refresh = self.next_refresh.unwrap_or(far);
            let deadline = if self.setup && !self.channels.is_empty() {
                far
            } else {
                setup_deadline
            };
            let step = tokio::select! {
                biased;
                _ = shutdown.changed() => return End::Closed,
                msg = self.transport.recv() => match msg {
                    None => return End::Closed,
                    Some(Ok(m)) => self.on_message(m).await,
                    Some(Err(TransportError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => return End::Closed,
                    Some(Err(TransportError::Decode(e))) => {
                        self.malformed += 1;
                        debug!(target: TARGET, error = %e, "undecodable sv2 message");
                        if self.malformed > self.ctx.config.bans.max_malformed {
                            return End::Ban(BanReason::Malformed, format!("{} malformed messages", self.malformed));
                        }
                        Ok(())
                    }
                    Some(Err(e @ (TransportError::Decrypt | TransportError::FrameTooLarge { .. }))) => {
                        return End::Ban(BanReason::Malformed, e.to_string());
                    }
                    Some(Err(e)) => return End::Error(e.to_string()),
                },
                changed = work.changed() => {
                    if changed.is_err() {
                        return End::Closed;
                    }
                    let w = work.borrow_and_update().clone();
                    self.on_work(w).await
                }
                () = tokio::time::sleep_until(refresh.into()) => self.refresh().await,
                () = tokio::time::sleep_until(deadline.into()) => {
                    return End::Error(format!("no channel opened within {:?}", self.ctx.config.auth_timeout));
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn send(&mut self, msg: &Message) -> Result<(), End> {
        let limit = self.ctx.config.send_timeout;
        self.transport
            .send(msg, limit)
            .await
            .map_err(|e| End::Error(e.to_string()))
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), End> {
        if !self.setup && !matches!(msg, Message::SetupConnection(_)) {
            return Err(End::Ban(
                BanReason::Malformed,
                "a message before SetupConnection".into(),
            ));
        }
        match msg {
            Message::SetupConnection(s) => {
                let error = if self.setup || s.protocol != 0 {
                    Some((0, code::UNSUPPORTED_PROTOCOL))
                } else if !(s.min_version..=s.max_version).contains(&VERSION) {
                    Some((0, code::VERSION_MISMATCH))
                } else if s.flags & setup_flags::REQUIRES_WORK_SELECTION != 0 {
                    Some((
                        setup_flags::REQUIRES_WORK_SELECTION,
                        code::UNSUPPORTED_FLAGS,
                    ))
                } else {
                    None
                };
                if let Some((flags, error_code)) = error {
                    self.send(&Message::SetupConnectionError {
                        flags,
                        error_code: error_code.into(),
                    })
                    .await?;
                    return Err(End::Error(format!("setup refused: {error_code}")));
                }
                debug!(target: TARGET, vendor = %s.vendor, firmware = %s.firmware, flags = s.flags, "sv2 connection set up");
                self.setup = true;
                // The server requires neither a fixed version nor extended channels.
                self.send(&Message::SetupConnectionSuccess {
                    used_version: VERSION,
                    flags: 0,
                })
                .await
            }
            Message::OpenStandardMiningChannel(o) => self.open(o, Kind::Standard, 0).await,
            Message::OpenExtendedMiningChannel {
                open,
                min_extranonce_size,
            } => {
                let min = usize::from(min_extranonce_size);
                self.open(open, Kind::Extended { size: min }, min).await
            }
            Message::UpdateChannel {
                channel_id,
                nominal_hash_rate,
                maximum_target,
            } => {
                self.update_channel(channel_id, nominal_hash_rate, maximum_target)
                    .await
            }
            Message::CloseChannel { channel_id, .. } => {
                self.channels.remove(&channel_id);
                Ok(())
            }
            Message::SubmitSharesStandard(s) => self.on_submit(s, None).await,
            Message::SubmitSharesExtended { submit, extranonce } => {
                self.on_submit(submit, Some(extranonce)).await
            }
            other => {
                self.malformed += 1;
                debug!(target: TARGET, kind = ?other.kind(), "a server message from a client");
                if self.malformed > self.ctx.config.bans.max_malformed {
                    return Err(End::Ban(
                        BanReason::Malformed,
                        "server messages from a client".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    fn spec_extranonce(&self) -> usize {
        usize::from(self.ctx.spec.extranonce_size)
    }

    async fn open(&mut self, o: OpenChannel, kind: Kind, min_extranonce: usize) -> Result<(), End> {
        let refuse = |code: &str| Message::OpenMiningChannelError {
            request_id: o.request_id,
            error_code: code.into(),
        };
        if self.channels.len() >= MAX_CHANNELS {
            return self.send(&refuse(code::TOO_MANY_CHANNELS)).await;
        }
        let identity = o.user_identity.trim();
        let address = identity.split_once('.').map_or(identity, |(a, _)| a);
        let Ok(script) = parse_address(address, self.ctx.spec) else {
            debug!(target: TARGET, identity, "sv2 channel for an address this chain does not pay");
            return self.send(&refuse(code::BAD_IDENTITY)).await;
        };
        let total = self.spec_extranonce();
        let lease = Extranonces::take(&self.ctx.extranonces);
        let (kind, prefix) = match kind {
            Kind::Standard => {
                let mut p = lease.bytes().to_vec();
                p.resize(total, 0);
                (Kind::Standard, p)
            }
            Kind::Extended { .. } => {
                let rolled = min_extranonce.max(total - PREFIX_SIZE);
                if total < MIN_PREFIX_SIZE + rolled {
                    return self.send(&refuse(code::EXTRANONCE_SIZE)).await;
                }
                let prefix_len = total - rolled;
                let b = lease.bytes();
                (
                    Kind::Extended { size: rolled },
                    b[b.len() - prefix_len..].to_vec(),
                )
            }
        };
        let max_target = target_from_le(&o.max_target);
        let charged = self
            .ctx
            .config
            .fee
            .as_ref()
            .is_some_and(|fee| fee.charges(self.peer.ip(), &script));
        let id = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        let now = Instant::now();
        let wanted = self.wanted_for_hashrate(o.nominal_hash_rate);
        let mut channel = Channel {
            kind,
            _lease: lease,
            prefix,
            identity: identity.to_owned(),
            payout: Payout {
                script,
                address: address.to_owned(),
            },
            charged,
            max_target,
            target: Target::MAX,
            previous: None,
            wanted,
            vardiff: Vardiff::new(now),
            jobs: VecDeque::new(),
        };
        // The first target comes from the first template (a session is never harder
        // than a share); without work yet, from the wish alone.
        let template = self.template_for(&channel, 0);
        channel.target = self.channel_target(&channel, template.as_deref());
        if channel.target > channel.max_target && channel.max_target.to_u256().is_zero() {
            return self.send(&refuse(code::MAX_TARGET)).await;
        }
        let target = target_to_le(channel.target);
        let reply = match channel.kind {
            Kind::Standard => Message::OpenStandardMiningChannelSuccess {
                request_id: o.request_id,
                channel_id: id,
                target,
                extranonce_prefix: channel.prefix.clone(),
                group_channel_id: 0,
            },
            Kind::Extended { size } => Message::OpenExtendedMiningChannelSuccess {
                request_id: o.request_id,
                channel_id: id,
                target,
                extranonce_size: size as u16,
                extranonce_prefix: channel.prefix.clone(),
                group_channel_id: 0,
            },
        };
        self.send(&reply).await?;
        info!(target: TARGET, channel = id, identity = %channel.identity, kind = ?channel.kind, "sv2 channel open");
        self.channels.insert(id, channel);
        self.send_jobs(Some(id), true).await
    }

    /// The difficulty that gives the configured share rate at `hashrate` (H/s).
    fn wanted_for_hashrate(&self, hashrate: f32) -> f64 {
        let cfg = &self.ctx.config;
        let hashes = f64::from(hashrate) * 60.0 / cfg.vardiff.shares_per_minute;
        if !(hashes.is_finite() && hashes >= 1.0) {
            return cfg.start_difficulty.unwrap_or(f64::INFINITY);
        }
        let t = Target::from_work(Hashes::from_u128(hashes as u128));
        Difficulty::from_stratum_target(t, self.ctx.spec.algorithm).get()
    }

    /// The channel's target for `template`: its wish within the server's bounds, never
    /// harder than the share target, never easier than the client accepts.
    fn channel_target(&self, ch: &Channel, template: Option<&ShareTemplate>) -> Target {
        let algo = self.ctx.spec.algorithm;
        let share = template
            .and_then(|t| Target::from_compact(t.info.share_target).ok())
            .map_or(f64::INFINITY, |t| {
                Difficulty::from_stratum_target(t, algo).get()
            });
        let cfg = &self.ctx.config;
        let bounds = Bounds {
            min: cfg.min_difficulty,
            max: cfg.max_difficulty,
            floor: None,
            quirks: Default::default(),
        };
        let d = bounds.clamp(ch.wanted, share);
        let target = Difficulty::new(d).map_or(Target::MAX, |d| d.to_stratum_target(algo));
        target.min(ch.max_target)
    }

    fn template_for(&self, ch: &Channel, job_id: u32) -> Option<Arc<ShareTemplate>> {
        let work = self.work.as_ref()?;
        let fee = self
            .ctx
            .config
            .fee
            .as_ref()
            .filter(|fee| ch.charged && fee.takes(u64::from(job_id)));
        let script = fee.map_or(&ch.payout.script, |f| f.script());
        match work.source.template_for(script) {
            Ok(t) => Some(t),
            Err(error) => {
                debug!(target: TARGET, %error, "no sv2 job to send");
                None
            }
        }
    }

    async fn on_work(&mut self, work: Option<Work>) -> Result<(), End> {
        let Some(work) = work else {
            self.work = None;
            return Ok(());
        };
        let Some(clean) = crate::notify::next_generation(&mut self.seen_generation, &work) else {
            return Ok(());
        };
        self.work = Some(work);
        self.send_jobs(None, clean).await
    }

    async fn refresh(&mut self) -> Result<(), End> {
        self.next_refresh = None;
        self.send_jobs(None, false).await
    }

    /// Sends a job to one channel or all. `clean`: a future job and `SetNewPrevHash`,
    /// dropping older jobs; otherwise a job on the current prev hash.
    async fn send_jobs(&mut self, only: Option<u32>, clean: bool) -> Result<(), End> {
        let ids: Vec<u32> = match only {
            Some(id) => vec![id],
            None => self.channels.keys().copied().collect(),
        };
        for id in ids {
            let job_id = self.next_job;
            self.next_job = self.next_job.wrapping_add(1).max(1);
            let Some(ch) = self.channels.get(&id) else {
                continue;
            };
            let Some(template) = self.template_for(ch, job_id) else {
                continue;
            };
            let Ok(share_target) = Target::from_compact(template.info.share_target) else {
                warn!(target: TARGET, "template has an invalid share target");
                continue;
            };
            let clean = clean || ch.jobs.is_empty();
            let target = self.channel_target(ch, Some(&template));
            let ntime = template.ntime();
            let version = template.block.version as u32;
            let min_ntime = (!clean).then_some(ntime);
            let job = match ch.kind {
                Kind::Standard => {
                    let Ok(cb) = template.coinbase(&ch.prefix) else {
                        warn!(target: TARGET, "cannot build a standard job's coinbase");
                        continue;
                    };
                    Message::NewMiningJob {
                        channel_id: id,
                        job_id,
                        min_ntime,
                        version,
                        merkle_root: template.header(&cb, ntime, 0, version as i32).merkle_root,
                    }
                }
                Kind::Extended { .. } => {
                    let Ok(cb) = template.coinbase(&vec![0u8; self.spec_extranonce()]) else {
                        warn!(target: TARGET, "cannot build an extended job's coinbase");
                        continue;
                    };
                    let (before, after) = cb.stratum_parts();
                    Message::NewExtendedMiningJob(ExtendedJob {
                        channel_id: id,
                        job_id,
                        min_ntime,
                        version,
                        version_rolling_allowed: true,
                        merkle_path: template.merkle_branch.clone(),
                        coinbase_tx_prefix: before.to_vec(),
                        coinbase_tx_suffix: after.to_vec(),
                    })
                }
            };
            let retarget = {
                let ch = self.channels.get(&id).map(|c| c.target);
                ch.is_some_and(|t| t != target)
            };
            if retarget {
                self.set_target(id, target).await?;
            }
            self.send(&job).await?;
            if clean {
                self.send(&Message::SetNewPrevHash {
                    channel_id: id,
                    job_id,
                    prev_hash: *template.block.prev_block.as_bytes(),
                    min_ntime: ntime,
                    nbits: template.block.bits.to_consensus(),
                })
                .await?;
            }
            if let Some(ch) = self.channels.get_mut(&id) {
                if clean {
                    ch.jobs.clear();
                }
                if ch.jobs.len() >= MAX_JOBS {
                    ch.jobs.pop_front();
                }
                ch.jobs.push_back(ChannelJob {
                    id: job_id,
                    template,
                    share_target,
                    solutions: HashSet::new(),
                });
            }
        }
        self.next_refresh = Some(Instant::now() + self.ctx.config.job_refresh);
        Ok(())
    }

    async fn set_target(&mut self, id: u32, target: Target) -> Result<(), End> {
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.previous = Some((ch.target, Instant::now()));
            ch.target = target;
        }
        self.send(&Message::SetTarget {
            channel_id: id,
            maximum_target: target_to_le(target),
        })
        .await
    }

    async fn update_channel(&mut self, id: u32, hashrate: f32, max: U256) -> Result<(), End> {
        let wanted = self.wanted_for_hashrate(hashrate);
        let Some(ch) = self.channels.get_mut(&id) else {
            return self
                .send(&Message::UpdateChannelError {
                    channel_id: id,
                    error_code: code::INVALID_CHANNEL.into(),
                })
                .await;
        };
        ch.max_target = target_from_le(&max);
        ch.wanted = wanted;
        let template = ch.jobs.back().map(|j| j.template.clone());
        let Some(ch) = self.channels.get(&id) else {
            return Ok(());
        };
        let target = self.channel_target(ch, template.as_deref());
        if target != ch.target {
            self.set_target(id, target).await?;
        }
        Ok(())
    }

    async fn on_submit(&mut self, s: SubmitShares, extranonce: Option<Vec<u8>>) -> Result<(), End> {
        let outcome = self.check(&s, extranonce);
        let stats = &self.ctx.stats;
        match outcome {
            Ok(difficulty) => {
                bump(&stats.accepted);
                self.count(true)?;
                self.send(&Message::SubmitSharesSuccess {
                    channel_id: s.channel_id,
                    last_sequence_number: s.sequence_number,
                    new_submits_accepted_count: 1,
                    new_shares_sum: difficulty.max(1.0) as u64,
                })
                .await?;
                self.maybe_retarget(s.channel_id).await
            }
            Err(error_code) => {
                bump(match error_code {
                    code::STALE => &stats.rejected_stale,
                    code::DUPLICATE => &stats.rejected_duplicate,
                    code::LOW_DIFFICULTY => &stats.rejected_low_difficulty,
                    _ => &stats.rejected_other,
                });
                debug!(target: TARGET, channel = s.channel_id, job = s.job_id, error_code, "sv2 share rejected");
                if error_code == code::LOW_DIFFICULTY {
                    self.count(false)?;
                }
                self.send(&Message::SubmitSharesError {
                    channel_id: s.channel_id,
                    sequence_number: s.sequence_number,
                    error_code: error_code.into(),
                })
                .await
            }
        }
    }

    /// Counts shares for the invalid-proof-of-work ban, as SV1 sessions do.
    fn count(&mut self, valid: bool) -> Result<(), End> {
        let cfg = &self.ctx.config.bans;
        let now = Instant::now();
        if now.saturating_duration_since(self.invalid.0) > cfg.invalid_window {
            self.invalid = (now, 0, 0);
        }
        if valid {
            self.invalid.2 = self.invalid.2.saturating_add(1);
            return Ok(());
        }
        self.invalid.1 = self.invalid.1.saturating_add(1);
        let (_, invalid, ok) = self.invalid;
        if invalid >= cfg.invalid_shares && invalid >= ok.saturating_mul(9) {
            return Err(End::Ban(
                BanReason::InvalidPow,
                format!("{invalid} invalid shares ({ok} valid)"),
            ));
        }
        Ok(())
    }

    /// Checks a share; returns the difficulty it is credited at, or SRI's error code.
    fn check(
        &mut self,
        s: &SubmitShares,
        extranonce: Option<Vec<u8>>,
    ) -> Result<f64, &'static str> {
        let algo = self.ctx.spec.algorithm;
        let grace = self.ctx.config.bans.retarget_grace;
        let ch = self
            .channels
            .get_mut(&s.channel_id)
            .ok_or(code::INVALID_CHANNEL)?;
        let full = match (ch.kind, extranonce) {
            (Kind::Standard, None) => ch.prefix.clone(),
            (Kind::Extended { size }, Some(e)) if e.len() == size => [&ch.prefix[..], &e].concat(),
            _ => return Err(code::INVALID),
        };
        let Some(job) = ch.jobs.iter_mut().find(|j| j.id == s.job_id) else {
            // Every id below the next one was sent on some channel of this connection,
            // and is gone: dropped by a new prev hash or past the job book's bound.
            return Err(if s.job_id < self.next_job {
                code::STALE
            } else {
                code::INVALID_JOB
            });
        };
        let template = job.template.clone();
        if s.ntime < template.min_time || s.ntime > template.ntime().saturating_add(NTIME_MAX_AHEAD)
        {
            return Err(code::INVALID);
        }
        let job_version = template.block.version as u32;
        if (s.version ^ job_version) & !SERVER_VERSION_MASK != 0 {
            return Err(code::INVALID);
        }
        let key = SolutionKey {
            extranonce2: full.clone().into_boxed_slice(),
            ntime: s.ntime,
            nonce: s.nonce,
            version: s.version as i32,
        };
        if job.solutions.contains(&key) {
            return Err(code::DUPLICATE);
        }
        if job.solutions.len() >= MAX_SOLUTIONS_PER_JOB {
            return Err(code::STALE);
        }
        let coinbase = template.coinbase(&full).map_err(|error| {
            warn!(target: TARGET, %error, "cannot build a submitted coinbase");
            code::INVALID
        })?;
        let header: BlockHeader = template.header(&coinbase, s.ntime, s.nonce, s.version as i32);
        let pow = pow(algo, &header);
        let in_grace = ch
            .previous
            .filter(|(_, at)| at.elapsed() < grace)
            .map(|(t, _)| t);
        let accept = in_grace.map_or(ch.target, |p| p.max(ch.target));
        if !accept.is_met_by(&pow) {
            return Err(code::LOW_DIFFICULTY);
        }
        job.solutions.insert(key);
        let share_target = job.share_target;
        let difficulty = Difficulty::from_stratum_target(
            if ch.target.is_met_by(&pow) {
                ch.target
            } else {
                accept
            },
            algo,
        )
        .get();
        ch.vardiff.record(difficulty);
        if share_target.is_met_by(&pow) {
            let fee_script = self
                .ctx
                .config
                .fee
                .as_ref()
                .filter(|f| ch.charged && f.takes(u64::from(s.job_id)))
                .map(|f| f.script().clone());
            let submission = Submission {
                worker: ch.identity.clone(),
                payout: fee_script.unwrap_or_else(|| ch.payout.script.clone()),
                template,
                extranonce: full,
                coinbase,
                header,
                seal: None,
                pow,
            };
            debug!(target: TARGET, worker = %submission.worker, %pow, "sv2 share meets the share target");
            forward(&self.ctx, submission);
        }
        Ok(difficulty)
    }

    async fn maybe_retarget(&mut self, id: u32) -> Result<(), End> {
        let cfg = self.ctx.config.vardiff.clone();
        if !cfg.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let algo = self.ctx.spec.algorithm;
        let Some(ch) = self.channels.get_mut(&id) else {
            return Ok(());
        };
        if !ch.vardiff.is_due(now, &cfg) {
            return Ok(());
        }
        let current = Difficulty::from_stratum_target(ch.target, algo).get();
        let Some(wanted) = ch.vardiff.retarget(current, now, &cfg) else {
            return Ok(());
        };
        ch.wanted = wanted;
        let template = ch.jobs.back().map(|j| j.template.clone());
        let Some(ch) = self.channels.get(&id) else {
            return Ok(());
        };
        let target = self.channel_target(ch, template.as_deref());
        if target != ch.target {
            bump(&self.ctx.stats.retargets);
            self.set_target(id, target).await?;
        }
        Ok(())
    }
}

/// Hashes a header. Shares are rare enough per connection that even Scrypt runs inline.
fn pow(algo: PowAlgorithm, header: &BlockHeader) -> otedama_sharechain::PowHash {
    algo.hash(&header.to_bytes())
}

/// Hands a share to the node without waiting (a full queue drops it, as for SV1).
fn forward(ctx: &Context, submission: Submission) {
    match ctx.submissions.try_send(submission) {
        Ok(()) => bump(&ctx.stats.shares_forwarded),
        Err(_) => {
            bump(&ctx.stats.shares_dropped);
            warn!(target: TARGET, "submission channel full or closed: sv2 share dropped");
        }
    }
}
