//! One DAG miner connection, driven by a single task over any byte stream: the line
//! framing, the malformed-line and invalid-share limits, vardiff and the timeouts of
//! the v1 server, with the DAG dialects' requests (answered here) and shares (checked
//! in `submit.rs`).
//!
//! Replies are queued in a bounded buffer and written after each batch of requests; a
//! write that makes no progress within `send_timeout` ends the session.

use super::codec::{self, DagRequest, ETHEREUM_STRATUM};
use super::verify::EpochCaches;
use super::{
    DagAlgorithm, DagConfig, DagSubmission, DagTemplate, DagWork, Dialect, boundary_to_difficulty,
    difficulty_to_boundary,
};
use crate::ban::Guard;
use crate::codec::{DecodeError, RequestId};
use crate::config::{Quirks, StratumConfig};
use crate::error::{BanReason, Reject, SessionError};
use crate::extranonce::{Extranonces, Lease};
use crate::framing::LineFramer;
use crate::job::JobIds;
use crate::session::{InvalidWindow, SessionEnd, TARGET};
use crate::stats::{StratumStats, bump};
use crate::vardiff::{Bounds, Vardiff};
use otedama_sharechain::AddressError;
use otedama_sharechain::ethash::Epoch;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout};
use tracing::{Instrument, debug, info_span, trace, warn};

/// Unsent output a session may hold: a burst of replies and a job or two.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// An empty output buffer at least this large is released.
const KEEP_OUTPUT: usize = 2048;
/// Bytes read at a time.
const READ_CHUNK: usize = 4096;
/// How long queued lines may take to flush once a session ends.
const FINAL_DRAIN: Duration = Duration::from_secs(1);
/// A deadline far enough away to mean "never".
const FAR: Duration = Duration::from_secs(86_400);
/// Jobs kept for late shares (older ones are stale).
pub(crate) const MAX_JOBS: usize = 8;
/// Distinct solutions remembered for duplicate checks until the next clean job.
pub(crate) const MAX_SOLUTIONS: usize = 1 << 16;
/// Distinct authorized user names per connection.
const MAX_WORKERS: usize = 64;
/// Bytes of the nonce the server fixes per session (NiceHash's specification allows at
/// most 3; kawpowminer and xmrig take at most 4).
pub(crate) const EXTRANONCE_BYTES: usize = 2;

/// What the DAG sessions of one server share.
pub(crate) struct DagContext {
    /// Limits, timeouts, vardiff and bans.
    pub stratum: StratumConfig,
    /// The proof of work served and its difficulty bounds.
    pub dag: DagConfig,
    /// Light caches by epoch.
    pub caches: Arc<EpochCaches>,
    /// Shares go to the node here.
    pub submissions: mpsc::Sender<DagSubmission>,
    /// Server counters.
    pub stats: Arc<StratumStats>,
    /// Job id allocator.
    pub job_ids: JobIds,
    /// Nonce prefix allocator.
    pub extranonces: Arc<Extranonces>,
    /// Bans and connection rates.
    pub guard: Arc<Guard>,
    /// Told of each judged share, if set.
    pub observer: Option<Arc<dyn crate::SubmitObserver>>,
}

/// A job sent to the miner.
#[derive(Debug)]
pub(crate) struct DagJob {
    pub id: u64,
    pub template: Arc<DagTemplate>,
    pub epoch: Epoch,
    pub target: [u8; 32],
    pub difficulty: f64,
    /// Who the job's coinbase pays: the session's payout, or the operator's on a fee
    /// job.
    pub payout: Arc<str>,
}

/// The state of one DAG connection.
pub(crate) struct DagSession {
    pub(crate) ctx: Arc<DagContext>,
    _lease: Lease,
    pub(crate) extranonce: [u8; EXTRANONCE_BYTES],
    pub(crate) dialect: Option<Dialect>,
    pub(crate) subscribed: bool,
    user_agent: Option<Box<str>>,
    pub(crate) workers: Vec<String>,
    pub(crate) payout: Option<String>,
    /// Where the miner connects from (the operator's fee exempts loopback).
    peer: IpAddr,
    /// Whether the operator's fee applies to this miner's jobs.
    charged: bool,
    pub(crate) jobs: VecDeque<DagJob>,
    /// (header hash, nonce) of every accepted share since the last clean job.
    pub(crate) solutions: HashSet<([u8; 32], u64)>,
    work: Option<DagWork>,
    seen_generation: Option<u64>,
    warmed: Option<Epoch>,
    wanted: f64,
    floor: Option<f64>,
    sent: Option<f64>,
    pub(crate) changed_at: Option<Instant>,
    pub(crate) vardiff: Vardiff,
    pub(crate) invalid: InvalidWindow,
    out: Vec<u8>,
    started: Instant,
    malformed: u32,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
}

/// Runs a DAG session until the client leaves, breaks a rule, or the server shuts
/// down. Returns the ban the session earned, if any.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<S>(
    ctx: Arc<DagContext>,
    mut stream: S,
    peer: SocketAddr,
    lease: Lease,
    work: watch::Receiver<Option<DagWork>>,
    shutdown: watch::Receiver<bool>,
) -> Option<BanReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let algo = ctx.dag.algorithm.name();
    let span = info_span!(target: TARGET, "dag_session", %peer, algo);
    async move {
        debug!(target: TARGET, "miner connected");
        let mut session = DagSession::new(ctx, lease, peer.ip());
        let end = session.drive(&mut stream, work, shutdown).await;
        let _ = timeout(FINAL_DRAIN, session.write_out(&mut stream)).await;
        // Ignored: the peer may already be gone.
        let _ = stream.shutdown().await;
        session.finish(end)
    }
    .instrument(span)
    .await
}

impl DagSession {
    fn new(ctx: Arc<DagContext>, lease: Lease, peer: IpAddr) -> Self {
        let now = Instant::now();
        let v = lease.value().to_be_bytes();
        let wanted = ctx.dag.start_difficulty;
        Self {
            ctx,
            extranonce: [v[2], v[3]],
            _lease: lease,
            dialect: None,
            subscribed: false,
            user_agent: None,
            workers: Vec::new(),
            payout: None,
            peer,
            charged: false,
            jobs: VecDeque::new(),
            solutions: HashSet::new(),
            work: None,
            seen_generation: None,
            warmed: None,
            wanted,
            floor: None,
            sent: None,
            changed_at: None,
            vardiff: Vardiff::new(now),
            invalid: InvalidWindow::new(now),
            out: Vec::new(),
            started: now,
            malformed: 0,
            accepted: 0,
            rejected: 0,
        }
    }

    async fn drive<S>(
        &mut self,
        stream: &mut S,
        mut work: watch::Receiver<Option<DagWork>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<&'static str, SessionError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.work = work.borrow_and_update().clone();
        self.seen_generation = self.work.as_ref().map(|w| w.generation);
        let mut framer = LineFramer::new(self.ctx.stratum.max_line_bytes);
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut work_open = true;
        loop {
            while let Some(line) = framer.next_line()? {
                self.on_line(&line).await?;
            }
            self.write_out(stream).await?;
            if *shutdown.borrow() {
                return Ok("server shutdown");
            }
            let deadline = self.next_deadline();
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
                    Err(_) => work_open = false,
                },
                () = sleep_until(deadline.into()) => self.on_timer(Instant::now())?,
                read = stream.read(&mut chunk) => match read? {
                    0 => return Ok("client closed"),
                    n => framer.push(&chunk[..n]),
                },
            }
        }
    }

    /// Writes every queued line, or fails after `send_timeout` without completing.
    async fn write_out<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> Result<(), SessionError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let limit = self.ctx.stratum.send_timeout;
        match timeout(limit, stream.write_all(&self.out)).await {
            Ok(written) => written?,
            Err(_) => return Err(SessionError::SendTimeout(limit)),
        }
        self.out.clear();
        if self.out.capacity() >= KEEP_OUTPUT {
            self.out = Vec::new();
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

    /// Answers request `id` in the session's dialect.
    pub(crate) fn reply(
        &mut self,
        id: &RequestId,
        result: Result<Value, Reject>,
    ) -> Result<(), SessionError> {
        let line = match (self.dialect, result) {
            (Some(Dialect::EthProxy), Ok(v)) => codec::eth_response(id, Ok(v)),
            (Some(Dialect::EthProxy), Err(r)) => codec::eth_response(id, Err((&Value::Null, &r))),
            (_, Ok(v)) => crate::codec::response_ok(id, &v),
            (_, Err(r)) => crate::codec::response_err(id, &r),
        };
        self.send(&line)
    }

    /// Answers a share: `true`, or `false` with the error.
    pub(crate) fn reply_share(
        &mut self,
        id: &RequestId,
        result: &Result<(), Reject>,
    ) -> Result<(), SessionError> {
        let line = match (self.dialect, result) {
            (_, Ok(())) if self.dialect == Some(Dialect::EthProxy) => {
                codec::eth_response(id, Ok(Value::Bool(true)))
            }
            (_, Ok(())) => crate::codec::response_ok(id, &Value::Bool(true)),
            (Some(Dialect::EthProxy), Err(r)) => {
                codec::eth_response(id, Err((&Value::Bool(false), r)))
            }
            (_, Err(r)) => crate::codec::response_reject(id, r),
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
        crate::session::count_malformed(
            &mut self.malformed,
            &reject,
            self.ctx.stratum.bans.max_malformed,
        )?;
        trace!(target: TARGET, %reject, "bad request");
        self.reply(&id, Err(reject))
    }

    /// The dialect a listener of this algorithm speaks for `mining.*` requests.
    fn mining_dialect(&self) -> Dialect {
        match self.ctx.dag.algorithm {
            DagAlgorithm::Kawpow => Dialect::Kawpow,
            DagAlgorithm::Ethash | DagAlgorithm::Etchash => Dialect::EthereumStratum,
        }
    }

    /// Fixes the dialect on the first request that shows it; a client mixing dialects
    /// gets "Not supported." for the other one's methods.
    fn speak(&mut self, dialect: Dialect) -> bool {
        match self.dialect {
            None => {
                self.dialect = Some(dialect);
                true
            }
            Some(d) => d == dialect,
        }
    }

    async fn handle(&mut self, id: RequestId, request: DagRequest) -> Result<(), SessionError> {
        let mining = self.mining_dialect();
        let proxy_ok = self.ctx.dag.algorithm != DagAlgorithm::Kawpow;
        match request {
            DagRequest::Subscribe {
                user_agent,
                protocol,
            } if self.speak(mining) => {
                debug!(target: TARGET, user_agent = ?user_agent, protocol = ?protocol, "subscribe");
                if mining == Dialect::EthereumStratum
                    && protocol.as_deref().is_some_and(|p| p != ETHEREUM_STRATUM)
                {
                    debug!(target: TARGET, protocol = ?protocol, "unknown protocol string; speaking EthereumStratum/1.0.0");
                }
                self.user_agent = user_agent.map(String::into_boxed_str);
                self.subscribed = true;
                let result = match mining {
                    Dialect::Kawpow => codec::kawpow_subscribe(&self.extranonce),
                    _ => codec::ethereum_stratum_subscribe(
                        &hex::encode(self.extranonce),
                        &self.extranonce,
                    ),
                };
                self.reply(&id, Ok(result))?;
                self.send_first_job()
            }
            DagRequest::Authorize {
                username,
                difficulty,
            } if self.speak(mining) => self.on_authorize(&id, &username, difficulty),
            DagRequest::ExtranonceSubscribe if self.speak(mining) => {
                self.reply(&id, Ok(Value::Bool(true)))
            }
            DagRequest::Submit(s) if self.speak(mining) => self.on_submit(id, s).await,
            DagRequest::SubmitLogin {
                username,
                difficulty,
            } if proxy_ok && self.speak(Dialect::EthProxy) => {
                self.on_authorize(&id, &username, difficulty)
            }
            DagRequest::GetWork if proxy_ok && self.speak(Dialect::EthProxy) => {
                if self.payout.is_none() {
                    return self.reply(&id, Err(Reject::UnauthorizedWorker));
                }
                if self.jobs.is_empty() {
                    self.make_job(true)?;
                }
                match self.jobs.back().map(|j| self.proxy_work(j)) {
                    Some(work) => self.reply(&id, Ok(work)),
                    None => self.reply(&id, Err(Reject::Internal)),
                }
            }
            DagRequest::SubmitWork {
                nonce,
                header_hash,
                mix,
            } if proxy_ok && self.speak(Dialect::EthProxy) => {
                self.on_submit_work(id, nonce, header_hash, mix).await
            }
            DagRequest::SubmitHashrate(rate) if proxy_ok && self.speak(Dialect::EthProxy) => {
                trace!(target: TARGET, ?rate, "hashrate reported");
                self.reply(&id, Ok(Value::Bool(true)))
            }
            DagRequest::Response => {
                trace!(target: TARGET, id = id.as_json(), "client response ignored");
                Ok(())
            }
            other => {
                debug!(target: TARGET, request = ?other, dialect = ?self.dialect, "unsupported method");
                if id.is_null() {
                    return Ok(());
                }
                self.reply(&id, Err(Reject::UnknownMethod))
            }
        }
    }

    fn on_authorize(
        &mut self,
        id: &RequestId,
        username: &str,
        difficulty: Option<f64>,
    ) -> Result<(), SessionError> {
        match self.authorize(username) {
            Ok(first) => {
                debug!(target: TARGET, worker = %username, ?difficulty, "authorized");
                self.reply(id, Ok(Value::Bool(true)))?;
                if first
                    && self.charged
                    && let Some(fee) = &self.ctx.stratum.fee
                {
                    let line = fee.message_line();
                    self.send(&line)?;
                }
                if let Some(d) = difficulty {
                    self.floor = Some(d);
                    self.wanted = d;
                }
                if first {
                    self.send_first_job()
                } else if difficulty.is_some() && !self.jobs.is_empty() {
                    self.make_job(false)
                } else {
                    Ok(())
                }
            }
            Err(reject) => {
                debug!(target: TARGET, worker = ?username, %reject, "authorize refused");
                self.reply(id, Err(reject))
            }
        }
    }

    /// Authorizes `username`; returns whether it fixed the session's payout.
    fn authorize(&mut self, username: &str) -> Result<bool, Reject> {
        let address = crate::handlers::username_address(username)?;
        let Some(work) = &self.work else {
            debug!(target: TARGET, "no DAG work yet: cannot check a login");
            return Err(Reject::Internal);
        };
        let payout = work.source.payout(address).map_err(|error| {
            debug!(target: TARGET, %error, "login refused by the work source");
            Reject::BadAddress(AddressError::Invalid(crate::codec::truncate(address)))
        })?;
        let first = match &self.payout {
            None => true,
            Some(p) if *p == payout => false,
            Some(p) => return Err(Reject::PayoutMismatch(p.clone())),
        };
        if !self.workers.iter().any(|w| w == username) {
            if self.workers.len() >= MAX_WORKERS {
                return Err(Reject::TooManyWorkers);
            }
            self.workers.push(username.to_owned());
        }
        if first {
            self.charged = self.ctx.stratum.fee.as_ref().is_some_and(|fee| {
                work.source
                    .script(&payout)
                    .is_some_and(|script| fee.charges(self.peer, &script))
            });
            self.payout = Some(payout);
        }
        Ok(first)
    }

    /// Subscribed (or logged in, for ETHPROXY) and authorized.
    fn ready(&self) -> bool {
        self.payout.is_some() && (self.subscribed || self.dialect == Some(Dialect::EthProxy))
    }

    /// Sends the first job once a `mining.*` session is subscribed and authorized
    /// (ETHPROXY clients ask with `eth_getWork` instead).
    fn send_first_job(&mut self) -> Result<(), SessionError> {
        if self.ready() && self.jobs.is_empty() && self.dialect != Some(Dialect::EthProxy) {
            self.make_job(true)
        } else {
            Ok(())
        }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            min: self.ctx.dag.min_difficulty,
            max: self.ctx.dag.max_difficulty,
            floor: self.floor,
            quirks: Quirks::default(),
        }
    }

    /// Builds a job from the current work and sends it (with the difficulty first when
    /// it changed). `clean` drops the older jobs, whose shares are then stale.
    fn make_job(&mut self, clean: bool) -> Result<(), SessionError> {
        let (Some(work), Some(own)) = (&self.work, &self.payout) else {
            return Ok(());
        };
        let id = self.ctx.job_ids.next();
        // A fee job pays the operator: its template is the operator's.
        let payout = match &self.ctx.stratum.fee {
            Some(fee) if self.charged && fee.takes(id) => work.source.payout(fee.address()),
            _ => Ok(own.clone()),
        };
        let built = payout.and_then(|p| Ok((work.source.template_for(&p)?, p)));
        let (template, payout) = match built {
            Ok(t) => t,
            Err(error) => {
                debug!(target: TARGET, %error, "no DAG template");
                return Ok(());
            }
        };
        let epoch = match self.ctx.dag.algorithm.epoch(template.height) {
            Ok(e) => e,
            Err(error) => {
                warn!(target: TARGET, height = template.height, %error, "template height has no epoch");
                return Ok(());
            }
        };
        self.warm(epoch);
        let share = boundary_to_difficulty(&template.share_target);
        let difficulty = self.bounds().clamp(self.wanted, share);
        let target = difficulty_to_boundary(difficulty);
        let changed = self.sent != Some(difficulty);
        if changed {
            self.sent = Some(difficulty);
            self.changed_at = Some(Instant::now());
        }
        // ETHPROXY's first job is the answer to `eth_getWork`; later ones are pushed.
        let push = !self.jobs.is_empty();
        if clean {
            self.jobs.clear();
            self.solutions.clear();
        }
        if self.jobs.len() >= MAX_JOBS {
            self.jobs.pop_front();
        }
        let job = DagJob {
            id,
            template,
            epoch,
            target,
            difficulty,
            payout: payout.into(),
        };
        let job_id = format!("{:x}", job.id);
        let seed = epoch.seed();
        let t = &job.template;
        match self.dialect.unwrap_or_else(|| self.mining_dialect()) {
            Dialect::EthereumStratum => {
                if changed {
                    self.send(&crate::codec::set_difficulty(difficulty, false))?;
                }
                let params = codec::ethereum_stratum_notify(&job_id, &seed, &t.header_hash, clean);
                self.send(&crate::codec::notification("mining.notify", &params))?;
            }
            Dialect::Kawpow => {
                if changed {
                    let params = serde_json::json!([hex::encode(target)]);
                    self.send(&crate::codec::notification("mining.set_target", &params))?;
                }
                let params = codec::kawpow_notify(
                    &job_id,
                    &t.header_hash,
                    &seed,
                    &target,
                    clean,
                    t.height,
                    t.bits,
                );
                self.send(&crate::codec::notification("mining.notify", &params))?;
            }
            Dialect::EthProxy if push => {
                let work = self.proxy_work(&job);
                self.send(&codec::eth_push(&work))?;
            }
            Dialect::EthProxy => {}
        }
        trace!(target: TARGET, job = %job_id, height = job.template.height, difficulty, clean, "job sent");
        self.jobs.push_back(job);
        Ok(())
    }

    fn proxy_work(&self, job: &DagJob) -> Value {
        codec::eth_work(
            &job.template.header_hash,
            &job.epoch.seed(),
            &job.target,
            job.template.height,
        )
    }

    /// Builds a new epoch's cache in the background, so the first share of the epoch
    /// does not wait for it.
    fn warm(&mut self, epoch: Epoch) {
        if self.warmed == Some(epoch) {
            return;
        }
        self.warmed = Some(epoch);
        let caches = self.ctx.caches.clone();
        drop(tokio::task::spawn_blocking(move || {
            caches.get_blocking(epoch);
        }));
    }

    fn on_work(&mut self, latest: Option<DagWork>) -> Result<(), SessionError> {
        let Some(work) = latest else {
            return Ok(());
        };
        if self.seen_generation == Some(work.generation) {
            return Ok(());
        }
        self.seen_generation = Some(work.generation);
        let clean = work.clean;
        self.work = Some(work);
        if self.ready() && !self.jobs.is_empty() {
            self.make_job(clean)?;
        }
        Ok(())
    }

    fn next_deadline(&self) -> Instant {
        let cfg = &self.ctx.stratum;
        let mut at = Instant::now() + FAR;
        if !self.ready() {
            at = at.min(self.started + cfg.auth_timeout);
        }
        if cfg.vardiff.enabled && !self.jobs.is_empty() {
            at = at.min(self.vardiff.due_at(&cfg.vardiff));
        }
        at
    }

    fn on_timer(&mut self, now: Instant) -> Result<(), SessionError> {
        let cfg = &self.ctx.stratum;
        if !self.ready() && now >= self.started + cfg.auth_timeout {
            return Err(SessionError::AuthTimeout(cfg.auth_timeout));
        }
        if cfg.vardiff.enabled && !self.jobs.is_empty() && self.vardiff.is_due(now, &cfg.vardiff) {
            self.retarget(now)?;
        }
        Ok(())
    }

    /// Closes the vardiff window and, when the difficulty should move, sends a job at
    /// the new one (older jobs stay valid at theirs).
    pub(crate) fn retarget(&mut self, now: Instant) -> Result<(), SessionError> {
        let ctx = self.ctx.clone();
        let Some(current) = self.sent else {
            self.vardiff = Vardiff::new(now);
            return Ok(());
        };
        let Some(wanted) = self.vardiff.retarget(current, now, &ctx.stratum.vardiff) else {
            return Ok(());
        };
        self.wanted = wanted;
        let share = self.jobs.back().map_or(f64::INFINITY, |j| {
            boundary_to_difficulty(&j.template.share_target)
        });
        if self.bounds().clamp(wanted, share) != current {
            bump(&ctx.stats.retargets);
            debug!(target: TARGET, from = current, to = wanted, "retarget");
            self.make_job(false)?;
        }
        Ok(())
    }

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
