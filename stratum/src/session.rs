//! One miner connection: reads requests, answers them in order, sends jobs when work
//! changes, and hands shares to the node. Submission checks live in `submit.rs`.
//!
//! Writing happens in a separate task behind a bounded queue, so a miner that stops
//! reading is dropped instead of stalling its session or the server.

use crate::codec::{self, DecodeError, LineReader, Request, RequestId};
use crate::config::{EXTRANONCE1_SIZE, StratumConfig};
use crate::error::{Reject, SessionError};
use crate::job::{Job, JobBook, JobIds, JobParts};
use crate::stats::StratumStats;
use crate::work::{Submission, Work};
use otedama_sharechain::{
    ChainSpec, Difficulty, PayoutScript, ShareTemplate, Target, parse_address,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, trace, warn};

pub(crate) const TARGET: &str = "otedama::stratum";

/// Lines queued for a client that does not read before it is dropped.
const OUTGOING_QUEUE: usize = 64;
/// Malformed lines a session may send; one more closes it.
const MAX_MALFORMED: u32 = 10;
/// Distinct authorized user names per connection.
const MAX_WORKERS: usize = 64;
/// Longest user name (an address is at most 120 characters).
const MAX_USERNAME: usize = 256;
/// BIP310 bits a miner may roll (BIP320's general-purpose bits).
const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// How far past the template's `curtime` an ntime may be (ckpool uses 7000).
pub(crate) const NTIME_MAX_AHEAD: u32 = 7200;
/// How long queued lines may take to flush once a session ends.
const WRITER_DRAIN: Duration = Duration::from_secs(1);

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
}

/// The address a session is paid to.
#[derive(Debug, Clone)]
pub(crate) struct Payout {
    /// Its script.
    pub script: PayoutScript,
    /// The address as the miner wrote it.
    pub address: String,
}

/// The state of one connection.
pub(crate) struct Session {
    pub(crate) ctx: Arc<Context>,
    pub(crate) extranonce1: [u8; EXTRANONCE1_SIZE],
    out: mpsc::Sender<Vec<u8>>,
    pub(crate) subscribed: bool,
    pub(crate) workers: Vec<String>,
    pub(crate) payout: Option<Payout>,
    pub(crate) version_mask: u32,
    pub(crate) jobs: JobBook,
    work: Option<Work>,
    seen_generation: Option<u64>,
    sent_difficulty: Option<f64>,
    next_refresh: Option<Instant>,
    malformed: u32,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
}

/// Runs a session until the client leaves, breaks a rule, or the server shuts down.
pub(crate) async fn run(
    ctx: Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    extranonce1: [u8; EXTRANONCE1_SIZE],
    work: watch::Receiver<Option<Work>>,
    shutdown: watch::Receiver<bool>,
) {
    let span = info_span!(target: TARGET, "session", %peer, en1 = %hex::encode(extranonce1));
    async move {
        let started = Instant::now();
        info!(target: TARGET, "miner connected");
        let max_line = ctx.config.max_line_bytes;
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        let mut writer = tokio::spawn(write_loop(wr, rx).in_current_span());
        let mut session = Session::new(ctx, extranonce1, tx);
        let end = session
            .drive(LineReader::new(rd, max_line), work, shutdown)
            .await;
        let (accepted, rejected) = (session.accepted, session.rejected);
        let worker = session.workers.first().cloned().unwrap_or_default();
        drop(session);
        if timeout(WRITER_DRAIN, &mut writer).await.is_err() {
            writer.abort();
        }
        let secs = started.elapsed().as_secs();
        match end {
            Ok(reason) => info!(target: TARGET, %worker, accepted, rejected, secs, reason, "miner disconnected"),
            Err(error) => info!(target: TARGET, %worker, accepted, rejected, secs, %error, "miner dropped"),
        }
    }
    .instrument(span)
    .await;
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = rx.recv().await {
        if let Err(error) = wr.write_all(&line).await {
            trace!(target: TARGET, %error, "write failed");
            return;
        }
    }
    // Ignored: the peer may already be gone; the socket closes when dropped anyway.
    let _ = wr.shutdown().await;
}

impl Session {
    fn new(
        ctx: Arc<Context>,
        extranonce1: [u8; EXTRANONCE1_SIZE],
        out: mpsc::Sender<Vec<u8>>,
    ) -> Self {
        Self {
            ctx,
            extranonce1,
            out,
            subscribed: false,
            workers: Vec::new(),
            payout: None,
            version_mask: 0,
            jobs: JobBook::default(),
            work: None,
            seen_generation: None,
            sent_difficulty: None,
            next_refresh: None,
            malformed: 0,
            accepted: 0,
            rejected: 0,
        }
    }

    async fn drive<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        mut reader: LineReader<R>,
        mut work: watch::Receiver<Option<Work>>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<&'static str, SessionError> {
        self.work = work.borrow_and_update().clone();
        self.seen_generation = self.work.as_ref().map(|w| w.generation);
        let auth_timeout = self.ctx.config.auth_timeout;
        let auth_timer = sleep_until(Instant::now() + auth_timeout);
        let refresh_timer = sleep_until(Instant::now() + self.ctx.config.job_refresh);
        tokio::pin!(auth_timer, refresh_timer);
        let mut refresh_at = None;
        let mut work_open = true;
        loop {
            if *shutdown.borrow() {
                return Ok("server shutdown");
            }
            if self.next_refresh != refresh_at {
                refresh_at = self.next_refresh;
                if let Some(at) = refresh_at {
                    refresh_timer.as_mut().reset(at);
                }
            }
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
                () = &mut refresh_timer, if refresh_at.is_some() => self.refresh_job()?,
                () = &mut auth_timer, if !self.ready() => {
                    return Err(SessionError::AuthTimeout(auth_timeout));
                }
                line = reader.next_line() => match line? {
                    None => return Ok("client closed"),
                    Some(line) => self.on_line(&line).await?,
                },
            }
        }
    }

    /// Subscribed and authorized: jobs can be sent.
    fn ready(&self) -> bool {
        self.subscribed && self.payout.is_some()
    }

    /// Queues a line for the client.
    pub(crate) fn send(&self, line: Vec<u8>) -> Result<(), SessionError> {
        self.out.try_send(line).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SessionError::SlowClient,
            mpsc::error::TrySendError::Closed(_) => SessionError::WriterClosed,
        })
    }

    pub(crate) fn reply(
        &self,
        id: &RequestId,
        result: Result<Value, Reject>,
    ) -> Result<(), SessionError> {
        self.send(match result {
            Ok(value) => codec::response_ok(id, &value),
            Err(reject) => codec::response_err(id, &reject),
        })
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
        if reject == Reject::Malformed {
            self.malformed += 1;
            if self.malformed > MAX_MALFORMED {
                return Err(SessionError::TooManyMalformed(self.malformed));
            }
        }
        trace!(target: TARGET, %reject, "bad request");
        self.reply(&id, Err(reject))
    }

    async fn handle(&mut self, id: RequestId, request: Request) -> Result<(), SessionError> {
        match request {
            Request::Subscribe { user_agent } => {
                debug!(target: TARGET, user_agent = ?user_agent.as_deref().map(|ua| ua.chars().take(64).collect::<String>()), "subscribe");
                self.subscribed = true;
                let en1 = hex::encode(self.extranonce1);
                let result = json!([
                    [["mining.set_difficulty", en1], ["mining.notify", en1]],
                    en1,
                    self.ctx.config.extranonce2_size
                ]);
                self.reply(&id, Ok(result))?;
                if self.ready() && self.jobs.is_empty() {
                    self.send_new_job(true)?;
                }
                Ok(())
            }
            Request::Authorize { username } => match self.authorize(&username) {
                Ok(first) => {
                    debug!(target: TARGET, worker = %username, "authorized");
                    self.reply(&id, Ok(Value::Bool(true)))?;
                    if first && self.subscribed {
                        self.send_new_job(true)?;
                    }
                    Ok(())
                }
                Err(reject) => {
                    debug!(target: TARGET, worker = ?username, %reject, "authorize refused");
                    self.reply(&id, Err(reject))
                }
            },
            Request::Submit(params) => self.on_submit(id, params).await,
            Request::Configure {
                extensions,
                version_rolling_mask,
            } => {
                let mut result = serde_json::Map::new();
                for ext in extensions {
                    if ext == "version-rolling" {
                        self.version_mask = version_rolling_mask & VERSION_ROLLING_MASK;
                        result.insert(ext, Value::Bool(true));
                        let mask = format!("{:08x}", self.version_mask);
                        result.insert("version-rolling.mask".into(), Value::String(mask));
                    } else {
                        result.insert(ext, Value::Bool(false));
                    }
                }
                self.reply(&id, Ok(Value::Object(result)))
            }
            Request::ExtranonceSubscribe | Request::SuggestDifficulty => {
                self.reply(&id, Ok(Value::Bool(true)))
            }
            Request::Unknown(method) => {
                debug!(target: TARGET, method = ?method, "unknown method");
                self.reply(&id, Err(Reject::UnknownMethod))
            }
        }
    }

    /// Authorizes `username`; returns whether it fixed the session's payout.
    fn authorize(&mut self, username: &str) -> Result<bool, Reject> {
        if username.is_empty() || username.len() > MAX_USERNAME || username.starts_with('.') {
            return Err(Reject::BadUsername);
        }
        let address = username.split_once('.').map_or(username, |(a, _)| a);
        let script = parse_address(address, self.ctx.spec).map_err(Reject::BadAddress)?;
        let first = match &self.payout {
            None => true,
            Some(p) if p.script == script => false,
            Some(p) => return Err(Reject::PayoutMismatch(p.address.clone())),
        };
        if !self.workers.iter().any(|w| w == username) {
            if self.workers.len() >= MAX_WORKERS {
                return Err(Reject::TooManyWorkers);
            }
            self.workers.push(username.to_owned());
        }
        if first {
            self.payout = Some(Payout {
                script,
                address: address.to_owned(),
            });
        }
        Ok(first)
    }

    fn on_work(&mut self, work: Option<Work>) -> Result<(), SessionError> {
        let Some(work) = work else {
            self.work = None;
            return Ok(());
        };
        if self.seen_generation == Some(work.generation) {
            return Ok(());
        }
        // The watch channel keeps only the latest value: if we missed a generation it
        // may have been a clean one, so be safe and invalidate older jobs.
        let skipped = self
            .seen_generation
            .is_some_and(|g| work.generation != g.wrapping_add(1));
        let clean = work.clean || skipped;
        self.seen_generation = Some(work.generation);
        self.work = Some(work);
        if self.ready() {
            self.send_new_job(clean)?;
        }
        Ok(())
    }

    /// Cuts a job from the current work and sends it.
    fn send_new_job(&mut self, clean: bool) -> Result<(), SessionError> {
        let (Some(work), Some(payout)) = (&self.work, &self.payout) else {
            return Ok(());
        };
        let template = match work.source.template_for(&payout.script) {
            Ok(t) => t,
            Err(error) => {
                debug!(target: TARGET, %error, generation = work.generation, "no job to send");
                return Ok(());
            }
        };
        let ntime = template.ntime();
        match self.cut_job(template, ntime) {
            Some(job) => self.issue(job, clean || self.jobs.is_empty()),
            None => Ok(()),
        }
    }

    fn cut_job(&self, template: Arc<ShareTemplate>, ntime: u32) -> Option<Job> {
        let algo = self.ctx.spec.algorithm;
        let share_target = match Target::from_compact(template.info.share_target) {
            Ok(t) => t,
            Err(error) => {
                warn!(target: TARGET, %error, "template has an invalid share target");
                return None;
            }
        };
        let share_difficulty = Difficulty::from_stratum_target(share_target, algo).get();
        let difficulty = match self.ctx.config.start_difficulty {
            Some(start) if start < share_difficulty => start,
            _ => share_difficulty,
        };
        let Some(d) = Difficulty::new(difficulty) else {
            warn!(target: TARGET, difficulty, "share target gives no usable difficulty");
            return None;
        };
        let en_len = EXTRANONCE1_SIZE + usize::from(self.ctx.config.extranonce2_size);
        let parts = match JobParts::new(&template, en_len) {
            Ok(p) => Arc::new(p),
            Err(error) => {
                warn!(target: TARGET, %error, "cannot build the job's coinbase");
                return None;
            }
        };
        let target = d.to_stratum_target(algo);
        let id = self.ctx.job_ids.next();
        Some(Job::new(
            id,
            template,
            parts,
            ntime,
            difficulty,
            target,
            share_target,
        ))
    }

    /// Sends `job` (after a `set_difficulty` if its difficulty differs from the last one
    /// sent) and remembers it.
    fn issue(&mut self, job: Job, clean: bool) -> Result<(), SessionError> {
        if self.sent_difficulty != Some(job.difficulty) {
            self.send(codec::notification(
                "mining.set_difficulty",
                &json!([job.difficulty]),
            ))?;
            self.sent_difficulty = Some(job.difficulty);
        }
        self.send(codec::notification(
            "mining.notify",
            &job.notify_params(clean),
        ))?;
        debug!(target: TARGET, job = %job.id, clean, difficulty = job.difficulty, "job sent");
        self.jobs.insert(job, clean);
        self.next_refresh = Some(Instant::now() + self.ctx.config.job_refresh);
        Ok(())
    }

    /// Re-sends the newest job under a new id with a fresh ntime.
    fn refresh_job(&mut self) -> Result<(), SessionError> {
        let Some(latest) = self.jobs.latest() else {
            self.next_refresh = None;
            return Ok(());
        };
        let job = Job::new(
            self.ctx.job_ids.next(),
            latest.template.clone(),
            latest.parts.clone(),
            fresh_ntime(latest.template.ntime()),
            latest.difficulty,
            latest.target,
            latest.share_target,
        );
        self.issue(job, false)
    }
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
