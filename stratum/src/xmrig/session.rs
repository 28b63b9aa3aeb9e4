//! One xmrig-dialect connection: `login` (which answers with the first job), `getjob`,
//! `submit` and `keepalived`; a new `job` whenever the node's work changes or vardiff
//! moves the difficulty.
//!
//! Replies are written under `send_timeout`, so a client that stops reading is dropped
//! instead of stalling its task. Errors are JSON-RPC error objects with code -1 and the
//! message xmrig prints and proxies parse: "Unauthenticated", "Invalid job id",
//! "Duplicate share", "Low difficulty share", "Stale share", "Invalid nonce".

use super::login::{Login, parse_login, target_hex};
use super::{ALGO, RandomxHash, ShareOutcome, Shared, TARGET, XmrRequest, XmrTemplate, XmrWork};
use crate::error::BanReason;
use crate::framing::LineFramer;
use crate::stats::bump;
use crate::vardiff::Vardiff;
use otedama_sharechain::monero::{Hash, PoolShare, check_pow};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{oneshot, watch};
use tokio::time::timeout;
use tracing::debug;

/// Jobs a session remembers; a submit for an older one is "Invalid job id".
const JOBS_KEPT: usize = 4;
/// Nonces remembered per job for duplicate checks.
const NONCES_KEPT: usize = 4096;
/// Malformed requests tolerated before the connection is closed and the address banned.
const MAX_MALFORMED: u32 = 8;
/// How long the node may take to answer a template or share request.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent this long is closed (xmrig sends `keepalived` every minute).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// A job sent to the miner.
struct Job {
    id: u64,
    height: u64,
    seed: Hash,
    difficulty: u64,
    share: PoolShare,
    nonces: HashSet<u32>,
}

struct Session<'a> {
    shared: &'a Arc<Shared>,
    peer: SocketAddr,
    writer: OwnedWriteHalf,
    /// The session id xmrig echoes in `submit` and `keepalived`.
    sid: String,
    extra_nonce: u32,
    login: Option<Login>,
    jobs: VecDeque<Job>,
    next_job: u64,
    difficulty: u64,
    vardiff: Vardiff,
    malformed: u32,
}

/// Why the session ends.
enum End {
    Closed,
    Ban(BanReason),
}

/// Runs one connection until the client leaves, misbehaves or `shutdown` is set.
/// Returns the reason to ban its address, if it earned one.
pub(super) async fn run(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut work: watch::Receiver<Option<XmrWork>>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<BanReason> {
    let (mut reader, writer) = stream.into_split();
    let extra_nonce = shared.extra_nonces.fetch_add(1, Ordering::Relaxed);
    let mut s = Session {
        shared,
        peer,
        writer,
        sid: format!("{extra_nonce:08x}"),
        extra_nonce,
        login: None,
        jobs: VecDeque::new(),
        next_job: 0,
        difficulty: 0,
        vardiff: Vardiff::new(Instant::now()),
        malformed: 0,
    };
    let mut framer = LineFramer::new(shared.config.max_line_bytes);
    let mut buf = vec![0u8; 4096];
    let auth_deadline = Instant::now() + shared.config.auth_timeout;
    let mut last_read = Instant::now();
    work.borrow_and_update();
    let end = loop {
        let deadline = if s.login.is_none() {
            auth_deadline
        } else {
            last_read + IDLE_TIMEOUT
        };
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break End::Closed;
                }
            }
            changed = work.changed() => {
                if changed.is_err() {
                    break End::Closed;
                }
                let w = work.borrow_and_update().clone();
                if s.login.is_some() && let Some(w) = w && !s.push_job(&w).await {
                    break End::Closed;
                }
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                debug!(target: TARGET, peer = %s.peer, "xmrig session timed out");
                break End::Closed;
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break End::Closed,
                    Ok(n) => n,
                };
                last_read = Instant::now();
                framer.push(&buf[..n]);
                let mut end = None;
                loop {
                    match framer.next_line() {
                        Ok(Some(line)) => {
                            if let Some(e) = s.on_line(&line, &work).await {
                                end = Some(e);
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            end = Some(End::Ban(BanReason::Malformed));
                            break;
                        }
                    }
                }
                if let Some(e) = end {
                    break e;
                }
            }
        }
    };
    let _ = s.writer.shutdown().await;
    match end {
        End::Closed => None,
        End::Ban(r) => Some(r),
    }
}

/// A request's id, method and params.
fn parse_request(line: &[u8]) -> Option<(Value, String, Value)> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let method = v.get("method")?.as_str()?.to_owned();
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let params = v.get("params").cloned().unwrap_or(Value::Null);
    Some((id, method, params))
}

fn str_param<'p>(params: &'p Value, key: &str) -> &'p str {
    params.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Session<'_> {
    /// Handles one line; returns why the session must end, if it must.
    async fn on_line(
        &mut self,
        line: &[u8],
        work: &watch::Receiver<Option<XmrWork>>,
    ) -> Option<End> {
        let Some((id, method, params)) = parse_request(line) else {
            self.malformed += 1;
            return (self.malformed > MAX_MALFORMED).then_some(End::Ban(BanReason::Malformed));
        };
        let reply = match method.as_str() {
            "login" => self.on_login(&params, work).await,
            "getjob" => match &self.login {
                None => Err("Unauthenticated".to_owned()),
                Some(_) => {
                    let w = work.borrow().clone();
                    match w {
                        Some(w) => self.new_job(&w).await.ok_or_else(|| "No work".to_owned()),
                        None => Err("No work".to_owned()),
                    }
                }
            },
            "submit" => {
                let judged = self.on_submit(&params, work).await;
                self.observe(judged.as_ref().map(|(_, d)| *d));
                judged.map(|(result, _)| result)
            }
            "keepalived" => Ok(json!({"status": "KEEPALIVED"})),
            _ => Err(format!(
                "Unsupported method {}",
                method.chars().take(32).collect::<String>()
            )),
        };
        let answer = match reply {
            Ok(result) => json!({"id": id, "jsonrpc": "2.0", "error": null, "result": result}),
            Err(message) => {
                json!({"id": id, "jsonrpc": "2.0", "error": {"code": -1, "message": message}})
            }
        };
        if !self.send(&answer).await {
            return Some(End::Closed);
        }
        // A retarget after an accepted share: the next job carries the new target.
        if method == "submit" && self.retarget() {
            let w = work.borrow().clone();
            if let Some(w) = w
                && !self.push_job(&w).await
            {
                return Some(End::Closed);
            }
        }
        None
    }

    async fn on_login(
        &mut self,
        params: &Value,
        work: &watch::Receiver<Option<XmrWork>>,
    ) -> Result<Value, String> {
        if self.login.is_some() {
            return Err("Already logged in".to_owned());
        }
        let algos_ok = match params.get("algo").and_then(Value::as_array) {
            None => true,
            Some(list) => list
                .iter()
                .any(|a| a.as_str() == Some(ALGO) || a.as_str() == Some("rx")),
        };
        if !algos_ok {
            return Err(format!("Unsupported algorithm: this pool mines {ALGO}"));
        }
        let login = parse_login(
            str_param(params, "login"),
            str_param(params, "pass"),
            str_param(params, "rigid"),
        )
        .map_err(|e| e.to_string())?;
        debug!(target: TARGET, peer = %self.peer, worker = %login.worker, "xmrig login");
        self.login = Some(login);
        let w = work.borrow().clone();
        let job = match w {
            Some(w) => self.new_job(&w).await,
            None => None,
        };
        let Some(job) = job else {
            self.login = None;
            return Err("No work yet, the node is starting".to_owned());
        };
        Ok(json!({
            "id": self.sid,
            "job": job,
            "extensions": ["algo", "keepalive"],
            "status": "OK",
        }))
    }

    /// The difficulty a new job gets: the login's fixed one, else vardiff's, never above
    /// the share difficulty.
    fn job_difficulty(&mut self, share_difficulty: u64) -> u64 {
        let cfg = &self.shared.config;
        let fixed = self.login.as_ref().and_then(|l| l.fixed_difficulty);
        let wanted = match fixed {
            Some(f) => f,
            None if self.difficulty == 0 => {
                cfg.start_difficulty.map_or(share_difficulty, |d| d as u64)
            }
            None => self.difficulty,
        };
        let floor = (cfg.min_difficulty.ceil() as u64).max(1);
        wanted.max(floor).min(share_difficulty.max(1))
    }

    /// Asks the node for this wallet's template and makes a job of it.
    async fn new_job(&mut self, w: &XmrWork) -> Option<Value> {
        let wallet = self.login.as_ref()?.wallet;
        let (reply, answer) = oneshot::channel();
        self.shared
            .requests
            .send(XmrRequest::Template { wallet, reply })
            .await
            .ok()?;
        let template: Arc<XmrTemplate> = timeout(NODE_TIMEOUT, answer).await.ok()?.ok()??;
        let share = template
            .share
            .with_extra_nonce(self.extra_nonce, &template.consensus_id);
        let blob = share.hashing_blob();
        self.difficulty = self.job_difficulty(w.share_difficulty);
        let id = self.next_job;
        self.next_job += 1;
        let job = Job {
            id,
            height: share.height,
            seed: template.seed_hash,
            difficulty: self.difficulty,
            share,
            nonces: HashSet::new(),
        };
        let mut value = json!({
            "blob": hex::encode(&blob),
            "job_id": format!("{:x}", job.id),
            "target": target_hex(job.difficulty),
            "algo": ALGO,
            "height": job.height,
            "seed_hash": job.seed.to_string(),
        });
        if let Some(next) = w.next_seed_hash {
            value["next_seed_hash"] = Value::String(next.to_string());
        }
        if self.jobs.len() == JOBS_KEPT {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
        Some(value)
    }

    /// Sends a `job` notification; false when the client is gone.
    async fn push_job(&mut self, w: &XmrWork) -> bool {
        match self.new_job(w).await {
            Some(job) => {
                self.send(&json!({"jsonrpc": "2.0", "method": "job", "params": job}))
                    .await
            }
            None => true,
        }
    }

    /// Tells the observer how a logged-in worker's submission was judged.
    fn observe(&self, judged: Result<u64, &String>) {
        let (Some(observer), Some(login)) = (&self.shared.observer, &self.login) else {
            return;
        };
        match judged {
            Ok(difficulty) => observer.accepted(&login.worker_name(), difficulty),
            Err(_) => observer.rejected(&login.worker_name()),
        }
    }

    /// Judges a `submit`: the answer, and the difficulty the result met.
    async fn on_submit(
        &mut self,
        params: &Value,
        work: &watch::Receiver<Option<XmrWork>>,
    ) -> Result<(Value, u64), String> {
        let stats = &self.shared.stats;
        let Some(login) = &self.login else {
            return Err("Unauthenticated".to_owned());
        };
        let worker = login.worker_name();
        let job_id = u64::from_str_radix(str_param(params, "job_id"), 16).ok();
        let Some(job) = job_id.and_then(|j| self.jobs.iter_mut().find(|x| x.id == j)) else {
            bump(&stats.rejected_stale);
            return Err("Invalid job id".to_owned());
        };
        let nonce = hex::decode(str_param(params, "nonce"))
            .ok()
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes);
        let result = Hash::from_hex(str_param(params, "result")).ok();
        let (Some(nonce), Some(result)) = (nonce, result) else {
            bump(&stats.rejected_other);
            return Err("Invalid nonce or result".to_owned());
        };
        let current_height = work.borrow().as_ref().map(|w| w.height);
        if current_height.is_some_and(|h| job.height < h) {
            bump(&stats.rejected_stale);
            return Err("Stale share".to_owned());
        }
        if job.nonces.contains(&nonce) {
            bump(&stats.rejected_duplicate);
            return Err("Duplicate share".to_owned());
        }
        if job.nonces.len() < NONCES_KEPT {
            job.nonces.insert(nonce);
        }
        let mut share = job.share.clone();
        share.nonce = nonce;
        let (seed, difficulty) = (job.seed, job.difficulty);
        let hasher: Arc<dyn RandomxHash> = self.shared.hasher.clone();
        let blob = share.hashing_blob();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(&seed, &blob))
            .await
            .map_err(|_| "Internal error".to_owned())?
            .map_err(|e| format!("Internal error: {e}"))?;
        if hash != result {
            bump(&stats.rejected_other);
            return Err("Invalid result: the hash does not match".to_owned());
        }
        if !check_pow(&hash, u128::from(difficulty)) {
            bump(&stats.rejected_low_difficulty);
            return Err("Low difficulty share".to_owned());
        }
        bump(&stats.accepted);
        self.vardiff.record(difficulty as f64);
        if check_pow(&hash, share.difficulty) {
            let (reply, answer) = oneshot::channel();
            let request = XmrRequest::Share {
                share: Box::new(share),
                pow: hash,
                worker,
                reply,
            };
            if self.shared.requests.send(request).await.is_err() {
                return Err("Node unavailable".to_owned());
            }
            match timeout(NODE_TIMEOUT, answer).await {
                Ok(Ok(ShareOutcome::Accepted { .. } | ShareOutcome::Known)) => {}
                Ok(Ok(ShareOutcome::Rejected(why))) => return Err(why),
                _ => return Err("Node unavailable".to_owned()),
            }
        }
        Ok((json!({"status": "OK"}), difficulty))
    }

    /// Runs vardiff when due; true when the difficulty changed.
    fn retarget(&mut self) -> bool {
        let fixed = self
            .login
            .as_ref()
            .is_some_and(|l| l.fixed_difficulty.is_some());
        let cfg = &self.shared.config.vardiff;
        let now = Instant::now();
        if fixed || !cfg.enabled || self.difficulty == 0 || !self.vardiff.is_due(now, cfg) {
            return false;
        }
        match self.vardiff.retarget(self.difficulty as f64, now, cfg) {
            Some(wanted) => {
                let floor = (self.shared.config.min_difficulty.ceil() as u64).max(1);
                let next = (wanted as u64).max(floor);
                let changed = next != self.difficulty;
                self.difficulty = next;
                changed
            }
            None => false,
        }
    }

    /// Writes one JSON line under the send timeout; false when the client is gone.
    async fn send(&mut self, v: &Value) -> bool {
        let mut line = v.to_string();
        line.push('\n');
        matches!(
            timeout(
                self.shared.config.send_timeout,
                self.writer.write_all(line.as_bytes())
            )
            .await,
            Ok(Ok(()))
        )
    }
}
