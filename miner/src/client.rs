//! The pool client task: one pool session at a time, failover in configured order (v1
//! and v2 pools mixed), and bounded exponential backoff between full rounds. Stratum V2
//! sessions are in `sv2_client.rs`.

use crate::config::PoolUrl;
use crate::error::{SessionError, StratumError};
use crate::job::{Job, Work};
use crate::protocol::{self, CODE_STALE, Incoming};
use crate::stats::Shared;
use crate::worker::{FoundShare, WorkBoard};
use otedama_sharechain::{Difficulty, PowAlgorithm, Target};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, error, info, trace, warn};

pub(crate) const LOG: &str = "otedama::miner";

/// First delay after a failed round of pools.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest delay between rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// TCP connect limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// From connect to an accepted `mining.authorize`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A pool silent for this long is presumed dead (Bitaxe uses 180 s too).
const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// Limit on one write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line accepted from a pool; a notify with a big coinbase stays far below it.
const MAX_LINE: usize = 256 * 1024;
/// Submits awaiting an answer; beyond this the oldest are forgotten.
const MAX_PENDING: usize = 1024;
/// Job ids notified since the last `clean_jobs` that shares are still sent for.
const MAX_LIVE_JOBS: usize = 16;

/// Resolves once shutdown is requested (or the miner handle is gone).
pub(crate) async fn shutdown_signal(rx: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped, which is a shutdown too.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The client task's state across sessions.
pub(crate) struct Client {
    pub pools: Vec<PoolUrl>,
    pub user: String,
    pub password: String,
    pub algorithm: PowAlgorithm,
    pub shared: Arc<Shared>,
    pub board: Arc<WorkBoard>,
    pub shares: mpsc::Receiver<FoundShare>,
    pub shutdown: watch::Receiver<bool>,
    pub sessions: u64,
}

/// A request awaiting its response.
#[derive(Debug)]
enum Pending {
    Configure,
    Subscribe,
    Authorize,
    Submit { job_id: String, nonce: u32 },
}

/// One connection to one pool.
struct Session {
    id: u64,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: Vec<u8>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    extranonce: Option<(Vec<u8>, usize)>,
    /// The version bits the pool lets us roll (BIP310); 0 until it grants some.
    version_mask: u32,
    authorized: bool,
    target: Target,
    /// The latest job with the target in force when it was notified.
    job: Option<(Job, Target)>,
    /// Jobs notified since the last `clean_jobs=true`, oldest first.
    live_jobs: VecDeque<String>,
}

impl Session {
    async fn send(&mut self, line: String) -> Result<(), SessionError> {
        trace!(target: LOG, line = line.trim_end(), "send");
        timeout(WRITE_TIMEOUT, self.writer.write_all(line.as_bytes()))
            .await
            .map_err(|_| SessionError::Timeout("writing to the pool"))??;
        Ok(())
    }

    async fn request(
        &mut self,
        pending: Pending,
        line: impl FnOnce(u64) -> String,
    ) -> Result<(), SessionError> {
        let id = self.next_id;
        self.next_id += 1;
        if self.pending.len() >= MAX_PENDING
            && let Some((old, p)) = self.pending.pop_first()
        {
            warn!(target: LOG, id = old, request = ?p, "no answer from the pool; forgotten");
        }
        self.pending.insert(id, pending);
        self.send(line(id)).await
    }

    /// Reads one line into `self.line` (without the newline). Cancel-safe: bytes are
    /// moved from the buffer to `self.line` with no await in between.
    async fn read_line(&mut self) -> Result<(), SessionError> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Err(SessionError::Closed);
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            self.line.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            if self.line.len() > MAX_LINE {
                return Err(SessionError::LineTooLong(MAX_LINE));
            }
            if done {
                return Ok(());
            }
        }
    }
}

enum Ended {
    Shutdown,
    Failed {
        authorized: bool,
        error: SessionError,
    },
}

impl Client {
    /// Runs sessions until shutdown.
    pub async fn run(mut self) {
        let mut index = 0;
        let mut backoff = INITIAL_BACKOFF;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let pool = self.pools[index].clone();
            self.shared.set_pool(Some(&pool.url));
            let ended = self.session(&pool).await;
            self.shared.set_connected(false);
            self.board.clear();
            let unauthorized = match ended {
                Ended::Shutdown => break,
                Ended::Failed { authorized, error } => {
                    if authorized {
                        backoff = INITIAL_BACKOFF;
                    }
                    match &error {
                        SessionError::Unauthorized(e) => {
                            error!(target: LOG, pool = %pool.url, user = %self.user, error = %e, "pool refused the credentials");
                        }
                        e => warn!(target: LOG, pool = %pool.url, error = %e, "pool session ended"),
                    }
                    matches!(error, SessionError::Unauthorized(_))
                }
            };
            index = (index + 1) % self.pools.len();
            if index == 0 || unauthorized {
                info!(target: LOG, delay_ms = backoff.as_millis() as u64, next = %self.pools[index].url, "backing off before reconnecting");
                tokio::select! {
                    biased;
                    () = shutdown_signal(&mut self.shutdown) => break,
                    () = sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        self.shared.set_connected(false);
        debug!(target: LOG, "client task stopped");
    }

    async fn session(&mut self, pool: &PoolUrl) -> Ended {
        self.sessions += 1;
        let connect = timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((pool.host.as_str(), pool.port)),
        );
        let stream = tokio::select! {
            biased;
            () = shutdown_signal(&mut self.shutdown) => return Ended::Shutdown,
            r = connect => match r {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Ended::Failed { authorized: false, error: e.into() },
                Err(_) => return Ended::Failed {
                    authorized: false,
                    error: SessionError::Timeout("connecting"),
                },
            },
        };
        // Shares are small and latency-sensitive.
        let _ = stream.set_nodelay(true);
        if let Some(authority) = pool.sv2_authority {
            debug!(target: LOG, pool = %pool.url, "connected; stratum v2 handshake");
            let mut authorized = false;
            self.shared.set_difficulty(1.0);
            return match self
                .drive_sv2(stream, pool, authority, &mut authorized)
                .await
            {
                Ok(()) => Ended::Shutdown,
                Err(error) => Ended::Failed { authorized, error },
            };
        }
        debug!(target: LOG, pool = %pool.url, "connected; subscribing");
        let (reader, writer) = stream.into_split();
        let mut s = Session {
            id: self.sessions,
            reader: BufReader::new(reader),
            writer,
            line: Vec::new(),
            next_id: 1,
            pending: BTreeMap::new(),
            extranonce: None,
            version_mask: 0,
            authorized: false,
            target: self.difficulty_target(1.0),
            job: None,
            live_jobs: VecDeque::new(),
        };
        self.shared.set_difficulty(1.0);
        match self.drive(&mut s, pool).await {
            Ok(()) => Ended::Shutdown,
            Err(error) => Ended::Failed {
                authorized: s.authorized,
                error,
            },
        }
    }

    /// Runs one session until shutdown (`Ok`) or failure.
    async fn drive(&mut self, s: &mut Session, pool: &PoolUrl) -> Result<(), SessionError> {
        // Pipelined: a pool without BIP310 answers the configure with an error.
        s.request(Pending::Configure, protocol::configure).await?;
        s.request(Pending::Subscribe, protocol::subscribe).await?;
        let handshake = sleep(HANDSHAKE_TIMEOUT);
        tokio::pin!(handshake);
        let mut idle_deadline = Instant::now() + IDLE_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                () = shutdown_signal(&mut self.shutdown) => return Ok(()),
                r = s.read_line() => {
                    r?;
                    idle_deadline = Instant::now() + IDLE_TIMEOUT;
                    let line = std::mem::take(&mut s.line);
                    self.on_line(s, pool, &line).await?;
                }
                Some(share) = self.shares.recv() => self.on_share(s, share).await?,
                () = &mut handshake, if !s.authorized => {
                    return Err(SessionError::Timeout("waiting for authorization"));
                }
                () = sleep_until(idle_deadline) => {
                    return Err(SessionError::Timeout("waiting for the pool"));
                }
            }
        }
    }

    async fn on_line(
        &mut self,
        s: &mut Session,
        pool: &PoolUrl,
        line: &[u8],
    ) -> Result<(), SessionError> {
        let Ok(text) = std::str::from_utf8(line) else {
            warn!(target: LOG, pool = %pool.url, "ignoring a non-UTF-8 line");
            return Ok(());
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        trace!(target: LOG, line = text, "recv");
        let msg = match protocol::parse(text) {
            Ok(msg) => msg,
            Err(e) => {
                warn!(target: LOG, pool = %pool.url, error = %e, "ignoring a malformed message");
                return Ok(());
            }
        };
        match msg {
            Incoming::Response { id, result, error } => {
                self.on_response(s, pool, id, result, error).await?;
            }
            Incoming::SetDifficulty(d) => match Difficulty::new(d) {
                Some(diff) => {
                    s.target = diff.to_stratum_target(self.algorithm);
                    self.shared.set_difficulty(d);
                    debug!(target: LOG, difficulty = d, "difficulty set");
                }
                None => warn!(target: LOG, difficulty = d, "ignoring a non-positive difficulty"),
            },
            Incoming::Notify(job) => {
                debug!(target: LOG, job = %job.job_id, clean = job.clean_jobs, "new job");
                let clean = job.clean_jobs;
                if clean {
                    s.live_jobs.clear();
                }
                if s.live_jobs.len() >= MAX_LIVE_JOBS {
                    s.live_jobs.pop_front();
                }
                s.live_jobs.push_back(job.job_id.clone());
                s.job = Some((job, s.target));
                self.publish(s, clean);
            }
            Incoming::SetExtranonce {
                extranonce1,
                extranonce2_size,
            } => {
                debug!(target: LOG, extranonce1 = %hex::encode(&extranonce1), extranonce2_size, "extranonce changed");
                s.extranonce = Some((extranonce1, extranonce2_size));
            }
            Incoming::Reconnect => return Err(SessionError::Reconnect),
            Incoming::GetVersion { id } => {
                s.send(protocol::response(&id, protocol::USER_AGENT.into()))
                    .await?;
            }
            Incoming::ShowMessage(message) => {
                info!(target: LOG, pool = %pool.url, %message, "message from the pool");
            }
            Incoming::Ping { id } => s.send(protocol::response(&id, "pong".into())).await?,
            Incoming::Unknown { id, method } => {
                debug!(target: LOG, %method, "unsupported method from the pool");
                if !id.is_null() {
                    s.send(protocol::unsupported(&id)).await?;
                }
            }
        }
        Ok(())
    }

    async fn on_response(
        &mut self,
        s: &mut Session,
        pool: &PoolUrl,
        id: Option<u64>,
        result: Value,
        error: Option<StratumError>,
    ) -> Result<(), SessionError> {
        let Some(pending) = id.and_then(|id| s.pending.remove(&id)) else {
            trace!(target: LOG, ?id, "response to no pending request");
            return Ok(());
        };
        let ok = error.is_none() && result == Value::Bool(true);
        match pending {
            Pending::Configure => {
                s.version_mask = if error.is_none() {
                    protocol::parse_configure_result(&result)
                } else {
                    0
                };
                debug!(target: LOG, mask = %format!("{:08x}", s.version_mask), "version rolling negotiated");
            }
            Pending::Subscribe => {
                if let Some(e) = error {
                    return Err(SessionError::Subscribe(e));
                }
                let extranonce = protocol::parse_subscribe_result(&result)
                    .map_err(SessionError::BadSubscribe)?;
                debug!(target: LOG, extranonce1 = %hex::encode(&extranonce.0), extranonce2_size = extranonce.1, "subscribed; authorizing");
                s.extranonce = Some(extranonce);
                let (user, password) = (&self.user, &self.password);
                s.request(Pending::Authorize, |id| {
                    protocol::authorize(id, user, password)
                })
                .await?;
            }
            Pending::Authorize if ok => {
                s.authorized = true;
                self.shared.set_connected(true);
                info!(target: LOG, pool = %pool.url, user = %self.user, "connected to pool");
                self.publish(s, true);
            }
            Pending::Authorize => {
                return Err(SessionError::Unauthorized(error.unwrap_or(StratumError {
                    code: None,
                    message: format!("result {result}"),
                })));
            }
            Pending::Submit { job_id, nonce } if ok => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
                debug!(target: LOG, job = %job_id, nonce, "share accepted");
            }
            Pending::Submit { job_id, nonce } => {
                let e = error.unwrap_or(StratumError {
                    code: None,
                    message: format!("result {result}"),
                });
                if e.code == Some(CODE_STALE) {
                    // Normal right after a new block: the share raced the notify.
                    self.shared.stale.fetch_add(1, Ordering::Relaxed);
                    debug!(target: LOG, job = %job_id, nonce, "stale share");
                } else {
                    self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                    warn!(target: LOG, job = %job_id, nonce, code = ?e.code, reason = %e.message, "share rejected");
                }
            }
        }
        Ok(())
    }

    async fn on_share(&mut self, s: &mut Session, share: FoundShare) -> Result<(), SessionError> {
        if share.session != s.id || !s.authorized {
            debug!(target: LOG, job = %share.job_id, "dropping a share of an earlier session");
            return Ok(());
        }
        if !s.live_jobs.contains(&share.job_id) {
            // The pool voided the job with `clean_jobs`; it would only answer "stale".
            debug!(target: LOG, job = %share.job_id, "dropping a share of an abandoned job");
            return Ok(());
        }
        let pending = Pending::Submit {
            job_id: share.job_id.clone(),
            nonce: share.nonce,
        };
        let user = &self.user;
        s.request(pending, |id| protocol::submit(id, user, &share))
            .await
    }

    /// Posts the session's latest job to the hashing threads once it can be mined.
    fn publish(&self, s: &Session, clean: bool) {
        let (Some((job, target)), Some((extranonce1, extranonce2_size)), true) =
            (&s.job, &s.extranonce, s.authorized)
        else {
            return;
        };
        let work = Work {
            session: s.id,
            job: job.clone(),
            extranonce1: extranonce1.clone(),
            extranonce2_size: *extranonce2_size,
            target: *target,
            version_mask: s.version_mask,
        };
        self.board.publish(work, clean);
    }

    fn difficulty_target(&self, d: f64) -> Target {
        Difficulty::new(d).map_or(Target::difficulty_one(), |d| {
            d.to_stratum_target(self.algorithm)
        })
    }
}
