//! One miner connection, driven by a single task: it reads requests, answers them in
//! order, sends jobs when work changes, and hands shares to the node. Requests are
//! handled in `handlers.rs`, jobs and difficulty in `notify.rs`, shares in `submit.rs`.
//!
//! Replies go to a bounded output buffer written without blocking, so a miner that
//! stops reading is dropped (buffer full, or no write progress within `send_timeout`)
//! instead of stalling its session or the server. An idle session holds no read or
//! write buffer.

use crate::ban::Guard;
use crate::codec::{self, DecodeError, RequestId};
use crate::config::{Quirks, StratumConfig};
use crate::error::{BanReason, Reject, SessionError};
use crate::extranonce::{Extranonces, Lease};
use crate::framing::LineFramer;
use crate::job::{JobBook, JobIds, PartsCache};
use crate::stats::{StratumStats, bump};
use crate::vardiff::Vardiff;
use crate::work::{Submission, Work};
use otedama_sharechain::{ChainSpec, PayoutScript, Target};
use serde_json::Value;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, trace};

pub(crate) const TARGET: &str = "otedama::stratum";

/// Unsent output a session may hold before its client counts as not reading. Above
/// the largest burst a session produces: a pipelined setup plus a notify whose coinbase
/// carries hundreds of payouts.
const MAX_PENDING_OUTPUT: usize = 512 * 1024;
/// An empty output buffer at least this large is released.
const KEEP_OUTPUT: usize = 2048;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;
/// How long queued lines may take to flush once a session ends.
const FINAL_DRAIN: Duration = Duration::from_secs(1);
/// A deadline far enough away to mean "never".
const FAR: Duration = Duration::from_secs(86_400);

/// What every session shares.
pub(crate) struct Context {
    /// The server's config.
    pub config: StratumConfig,
    /// The chain mined.
    pub spec: &'static ChainSpec,
    /// Server counters.
    pub stats: Arc<StratumStats>,
    /// Shares go to the node here.
    pub submissions: mpsc::Sender<Submission>,
    /// Job id allocator.
    pub job_ids: JobIds,
    /// Notify encodings shared between sessions.
    pub parts: PartsCache,
    /// extranonce1 allocator.
    pub extranonces: Arc<Extranonces>,
    /// Bans and connection rates.
    pub guard: Guard,
}

/// The address a session is paid to.
#[derive(Debug, Clone)]
pub(crate) struct Payout {
    /// Its script.
    pub script: PayoutScript,
    /// The address as the miner wrote it.
    pub address: String,
}

/// A session's difficulty state.
#[derive(Debug)]
pub(crate) struct DiffState {
    /// What vardiff or the miner wants, before clamping; infinite means "the highest
    /// allowed" (the default start).
    pub wanted: f64,
    /// The miner's own floor.
    pub floor: Option<f64>,
    /// The last difficulty sent, and its target.
    pub sent: Option<(f64, Target)>,
    /// When the sent difficulty last changed (bans ignore low shares just after).
    pub changed_at: Option<Instant>,
    /// Share accounting for the next retarget.
    pub vardiff: Vardiff,
}

/// Low-difficulty shares counted for the invalid-PoW ban.
#[derive(Debug)]
pub(crate) struct InvalidWindow {
    pub started: Instant,
    pub invalid: u32,
    pub valid: u32,
}

/// Counts a request that did not parse; too many close the session.
///
/// # Errors
/// [`SessionError::TooManyMalformed`] past `max`.
pub(crate) fn count_malformed(
    malformed: &mut u32,
    reject: &Reject,
    max: u32,
) -> Result<(), SessionError> {
    if *reject == Reject::Malformed {
        *malformed += 1;
        if *malformed > max {
            return Err(SessionError::TooManyMalformed(*malformed));
        }
    }
    Ok(())
}

impl InvalidWindow {
    /// An empty window opening at `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            started: now,
            invalid: 0,
            valid: 0,
        }
    }

    /// Counts a share for the invalid-PoW ban. Low shares within the retarget grace
    /// period after a difficulty change at `changed_at` are not counted: the miner may not
    /// have seen the new difficulty yet.
    ///
    /// # Errors
    /// [`SessionError::InvalidShareFlood`] when invalid shares reach the ban's threshold.
    pub(crate) fn count(
        &mut self,
        now: Instant,
        valid: bool,
        changed_at: Option<Instant>,
        cfg: &crate::config::BanConfig,
    ) -> Result<(), SessionError> {
        if now.saturating_duration_since(self.started) > cfg.invalid_window {
            *self = Self::new(now);
        }
        if valid {
            self.valid = self.valid.saturating_add(1);
            return Ok(());
        }
        if changed_at.is_some_and(|t| now.saturating_duration_since(t) < cfg.retarget_grace) {
            return Ok(());
        }
        self.invalid = self.invalid.saturating_add(1);
        if self.invalid >= cfg.invalid_shares && self.invalid >= self.valid.saturating_mul(9) {
            return Err(SessionError::InvalidShareFlood {
                invalid: self.invalid,
                valid: self.valid,
                window: cfg.invalid_window,
            });
        }
        Ok(())
    }
}

/// What a session's end reports: logged, counted, and the ban it earned.
pub(crate) struct SessionEnd<'a> {
    pub worker: &'a str,
    pub agent: &'a str,
    pub accepted: u64,
    pub rejected: u64,
    pub started: Instant,
}

impl SessionEnd<'_> {
    /// Logs the end of the session, counts it in `stats`, and returns the ban it earned.
    pub(crate) fn report(
        &self,
        stats: &StratumStats,
        end: Result<&'static str, SessionError>,
    ) -> Option<BanReason> {
        let (worker, agent) = (self.worker, self.agent);
        let (accepted, rejected) = (self.accepted, self.rejected);
        let secs = self.started.elapsed().as_secs();
        match end {
            Ok(reason) => {
                info!(target: TARGET, %worker, agent, accepted, rejected, secs, reason, "miner disconnected");
                None
            }
            Err(error) => {
                match &error {
                    SessionError::AuthTimeout(_) => bump(&stats.auth_timeouts),
                    SessionError::LineTooLong { .. } | SessionError::TooManyMalformed(_) => {
                        bump(&stats.malformed_closes)
                    }
                    SessionError::SlowClient | SessionError::SendTimeout(_) => {
                        bump(&stats.slow_client_closes)
                    }
                    _ => {}
                }
                info!(target: TARGET, %worker, agent, accepted, rejected, secs, %error, "miner dropped");
                error.ban_reason()
            }
        }
    }
}

/// The state of one connection.
pub(crate) struct Session {
    pub(crate) ctx: Arc<Context>,
    pub(crate) lease: Lease,
    out: Vec<u8>,
    /// When unsent output last stopped making progress.
    stalled_since: Option<Instant>,
    started: Instant,
    pub(crate) subscribed: bool,
    pub(crate) extranonce_subscribed: bool,
    pub(crate) user_agent: Option<Box<str>>,
    pub(crate) quirks: Quirks,
    pub(crate) workers: Vec<String>,
    pub(crate) payout: Option<Payout>,
    /// The client's IP address.
    pub(crate) peer_ip: IpAddr,
    /// Whether the operator's fee applies to this miner (set with its payout).
    pub(crate) charged: bool,
    /// The negotiated BIP310 mask; `None` until `mining.configure`.
    pub(crate) version_mask: Option<u32>,
    pub(crate) jobs: JobBook,
    pub(crate) work: Option<Work>,
    pub(crate) seen_generation: Option<u64>,
    pub(crate) diff: DiffState,
    pub(crate) next_refresh: Option<Instant>,
    malformed: u32,
    pub(crate) invalid: InvalidWindow,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
}

/// Runs a session until the client leaves, breaks a rule, or the server shuts down.
/// Returns the ban the session earned, if any.
pub(crate) async fn run(
    ctx: Arc<Context>,
    mut stream: TcpStream,
    peer: SocketAddr,
    lease: Lease,
    work: watch::Receiver<Option<Work>>,
    shutdown: watch::Receiver<bool>,
) -> Option<BanReason> {
    let span = info_span!(target: TARGET, "session", %peer, en1 = %hex::encode(lease.bytes()));
    async move {
        debug!(target: TARGET, "miner connected");
        let mut session = Session::new(ctx, lease, peer.ip());
        let end = session.drive(&stream, work, shutdown).await;
        // Deliver what is queued (an error reply, say) before closing.
        let _ = timeout(FINAL_DRAIN, session.drain(&stream)).await;
        // Ignored: the peer may already be gone; the socket closes when dropped anyway.
        let _ = stream.shutdown().await;
        session.finish(end)
    }
    .instrument(span)
    .await
}

/// Reads what the socket has; `Ok(None)` when nothing is ready, `Ok(Some(0))` at EOF.
fn read_some(stream: &TcpStream, framer: &mut LineFramer) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; READ_CHUNK];
    match stream.try_read(&mut chunk) {
        Ok(n) => {
            framer.push(&chunk[..n]);
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

impl Session {
    fn new(ctx: Arc<Context>, lease: Lease, peer_ip: IpAddr) -> Self {
        let now = Instant::now();
        Self {
            ctx,
            lease,
            out: Vec::new(),
            stalled_since: None,
            started: now,
            subscribed: false,
            extranonce_subscribed: false,
            user_agent: None,
            quirks: Quirks::default(),
            workers: Vec::new(),
            payout: None,
            peer_ip,
            charged: false,
            version_mask: None,
            jobs: JobBook::default(),
            work: None,
            seen_generation: None,
            diff: DiffState {
                wanted: f64::INFINITY,
                floor: None,
                sent: None,
                changed_at: None,
                vardiff: Vardiff::new(now),
            },
            next_refresh: None,
            malformed: 0,
            invalid: InvalidWindow::new(now),
            accepted: 0,
            rejected: 0,
        }
    }

    async fn drive(
        &mut self,
        stream: &TcpStream,
        mut work: watch::Receiver<Option<Work>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<&'static str, SessionError> {
        if let Some(start) = self.ctx.config.start_difficulty {
            self.diff.wanted = start;
        }
        self.work = work.borrow_and_update().clone();
        self.seen_generation = self.work.as_ref().map(|w| w.generation);
        let mut framer = LineFramer::new(self.ctx.config.max_line_bytes);
        let timer = sleep_until(self.next_deadline().into());
        tokio::pin!(timer);
        let mut work_open = true;
        loop {
            // Everything one read delivered is handled before the socket is polled again
            // (at most READ_CHUNK bytes of lines).
            while let Some(line) = framer.next_line()? {
                self.on_line(&line).await?;
            }
            self.flush(stream)?;
            if *shutdown.borrow() {
                return Ok("server shutdown");
            }
            timer.as_mut().reset(self.next_deadline().into());
            let interest = if self.out.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            // Biased so a client flooding lines cannot starve new work or the timers.
            tokio::select! {
                biased;
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return Ok("server shutdown");
                    }
                }
                changed = work.changed(), if work_open => match changed {
                    Ok(()) => {
                        let latest = work.borrow_and_update().clone();
                        self.on_work(latest)?;
                    }
                    // The node dropped its sender: keep mining the last jobs.
                    Err(_) => work_open = false,
                },
                () = &mut timer => self.on_timer(Instant::now())?,
                ready = stream.ready(interest) => {
                    let ready = ready?;
                    if (ready.is_readable() || ready.is_read_closed())
                        && read_some(stream, &mut framer)? == Some(0)
                    {
                        return Ok("client closed");
                    }
                }
            }
        }
    }

    /// Subscribed and authorized: jobs can be sent.
    pub(crate) fn ready(&self) -> bool {
        self.subscribed && self.payout.is_some()
    }

    fn next_deadline(&self) -> Instant {
        let cfg = &self.ctx.config;
        let mut at = Instant::now() + FAR;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = at.min(t);
            }
        };
        consider((!self.ready()).then(|| self.started + cfg.auth_timeout));
        consider(self.next_refresh);
        consider(self.stalled_since.map(|t| t + cfg.send_timeout));
        consider(
            (cfg.vardiff.enabled && !self.jobs.is_empty())
                .then(|| self.diff.vardiff.due_at(&cfg.vardiff)),
        );
        at
    }

    fn on_timer(&mut self, now: Instant) -> Result<(), SessionError> {
        let ctx = self.ctx.clone();
        let cfg = &ctx.config;
        if !self.ready() && now >= self.started + cfg.auth_timeout {
            return Err(SessionError::AuthTimeout(cfg.auth_timeout));
        }
        if let Some(since) = self.stalled_since
            && now >= since + cfg.send_timeout
        {
            return Err(SessionError::SendTimeout(cfg.send_timeout));
        }
        if self.next_refresh.is_some_and(|t| now >= t) {
            self.refresh_job()?;
        }
        if cfg.vardiff.enabled
            && !self.jobs.is_empty()
            && self.diff.vardiff.is_due(now, &cfg.vardiff)
        {
            self.retarget(now)?;
        }
        Ok(())
    }

    /// Queues a line for the client.
    ///
    /// # Errors
    /// [`SessionError::SlowClient`] when unsent output exceeds its bound.
    pub(crate) fn send(&mut self, line: &[u8]) -> Result<(), SessionError> {
        if self.out.len() + line.len() > MAX_PENDING_OUTPUT {
            return Err(SessionError::SlowClient);
        }
        self.out.extend_from_slice(line);
        Ok(())
    }

    /// Writes as much queued output as the socket takes without blocking.
    fn flush(&mut self, stream: &TcpStream) -> Result<(), SessionError> {
        let mut written = 0;
        while written < self.out.len() {
            match stream.try_write(&self.out[written..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        self.out.drain(..written);
        if self.out.is_empty() {
            self.stalled_since = None;
            if self.out.capacity() >= KEEP_OUTPUT {
                self.out = Vec::new();
            }
        } else if written > 0 || self.stalled_since.is_none() {
            self.stalled_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Writes out what is queued, waiting for the socket as needed.
    async fn drain(&mut self, stream: &TcpStream) {
        while !self.out.is_empty() {
            if stream.writable().await.is_err() || self.flush(stream).is_err() {
                return;
            }
        }
    }

    /// Answers request `id`.
    pub(crate) fn reply(
        &mut self,
        id: &RequestId,
        result: Result<Value, Reject>,
    ) -> Result<(), SessionError> {
        let line = match result {
            Ok(value) => codec::response_ok(id, &value),
            Err(reject) => codec::response_err(id, &reject),
        };
        self.send(&line)
    }

    async fn on_line(&mut self, line: &[u8]) -> Result<(), SessionError> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let (id, reject) = match codec::decode(line) {
            Ok((id, request)) => return self.handle(id, request).await,
            Err(DecodeError::Malformed) => (RequestId::NULL, Reject::Malformed),
            Err(DecodeError::Rejected(id, reject)) => (id, reject),
        };
        count_malformed(
            &mut self.malformed,
            &reject,
            self.ctx.config.bans.max_malformed,
        )?;
        trace!(target: TARGET, %reject, "bad request");
        self.reply(&id, Err(reject))
    }

    /// Logs the end of the session, counts it, and returns the ban it earned.
    fn finish(&self, end: Result<&'static str, SessionError>) -> Option<BanReason> {
        SessionEnd {
            worker: self.workers.first().map(String::as_str).unwrap_or_default(),
            agent: self.user_agent.as_deref().unwrap_or_default(),
            accepted: self.accepted,
            rejected: self.rejected,
            started: self.started,
        }
        .report(&self.ctx.stats, end)
    }
}
