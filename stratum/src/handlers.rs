//! Answers to client requests other than `mining.submit`: the setup handshake in any
//! order (Bitaxe pipelines configure, subscribe and authorize), BIP310 extensions,
//! difficulty suggestions, extranonce subscription and session resume.

use crate::codec::{ConfigureParams, Request, RequestId};
use crate::error::{Reject, SessionError};
use crate::extranonce::Extranonces;
use crate::session::{Payout, Session, TARGET};
use crate::stats::bump;
use otedama_sharechain::{Difficulty, parse_address};
use serde_json::{Map, Value, json};
use tracing::{debug, trace};

/// Distinct authorized user names per connection.
const MAX_WORKERS: usize = 64;
/// Longest user name (an address is at most 120 characters).
const MAX_USERNAME: usize = 256;

/// The payout address of a login `ADDRESS[.worker]`, after the checks every dialect makes
/// of a username (not empty, at most 256 bytes, not starting with `.` or `_`).
///
/// # Errors
/// [`Reject::BadUsername`].
pub(crate) fn username_address(username: &str) -> Result<&str, Reject> {
    if username.is_empty() || username.len() > MAX_USERNAME || username.starts_with(['.', '_']) {
        return Err(Reject::BadUsername);
    }
    Ok(username.split_once('.').map_or(username, |(a, _)| a))
}
/// BIP310 bits a miner may roll: BIP320's general-purpose bits 13-28.
pub(crate) const SERVER_VERSION_MASK: u32 = 0x1fff_e000;

impl Session {
    /// Handles one decoded request.
    pub(crate) async fn handle(
        &mut self,
        id: RequestId,
        request: Request,
    ) -> Result<(), SessionError> {
        match request {
            Request::Subscribe {
                user_agent,
                session,
            } => self.on_subscribe(&id, user_agent, session),
            Request::Authorize {
                username,
                difficulty,
            } => self.on_authorize(&id, &username, difficulty),
            Request::Submit(params) => self.on_submit(id, params).await,
            Request::Configure(params) => self.on_configure(&id, params),
            Request::ExtranonceSubscribe => {
                self.extranonce_subscribed = true;
                self.reply(&id, Ok(Value::Bool(true)))
            }
            Request::SuggestDifficulty(d) => self.on_suggest(&id, d),
            Request::SuggestTarget(target) => {
                // difficulty = diff1 / target, diff1 = 0xffff * 2^208, in Stratum units.
                let diff1 = 65535.0 * 2f64.powi(208);
                let scale = Difficulty::stratum_scale(self.ctx.spec.algorithm);
                self.on_suggest(&id, diff1 / target * scale)
            }
            // Notifications (null id) get no answer: bfgminer reads the next line after
            // its subscribe as the subscribe response.
            Request::MultiVersion | Request::Capabilities if id.is_null() => Ok(()),
            Request::MultiVersion | Request::Capabilities => self.reply(&id, Ok(Value::Bool(true))),
            Request::ClientResponse => {
                trace!(target: TARGET, id = id.as_json(), "client response ignored");
                Ok(())
            }
            Request::Unknown(method) => {
                debug!(target: TARGET, method = ?method, "unknown method");
                if id.is_null() {
                    return Ok(());
                }
                self.reply(&id, Err(Reject::UnknownMethod))
            }
        }
    }

    fn on_subscribe(
        &mut self,
        id: &RequestId,
        user_agent: Option<String>,
        resume: Option<u32>,
    ) -> Result<(), SessionError> {
        if let Some(ua) = user_agent {
            debug!(target: TARGET, user_agent = %ua, resume = ?resume.map(|r| format!("{r:08x}")), "subscribe");
            self.quirks = self.ctx.config.quirks(&ua);
            self.user_agent = Some(ua.into_boxed_str());
        }
        let mut moved = false;
        if let Some(wanted) = resume
            && wanted != self.lease.value()
            && let Some(lease) = Extranonces::take_exact(&self.ctx.extranonces, wanted)
        {
            // The old value goes back to the pool as `lease` replaces it.
            self.lease = lease;
            moved = true;
            bump(&self.ctx.stats.resumed_sessions);
            debug!(target: TARGET, en1 = %format!("{wanted:08x}"), "session resumed");
        }
        self.subscribed = true;
        let en1 = hex::encode(self.lease.bytes());
        let result = json!([
            [["mining.set_difficulty", en1], ["mining.notify", en1]],
            en1,
            self.ctx.config.extranonce2_size
        ]);
        self.reply(id, Ok(result))?;
        if moved && !self.jobs.is_empty() {
            // A re-subscribe moved a working session (NiceHash spec: the new
            // extranonce applies from the next notify, which must follow).
            if self.extranonce_subscribed {
                let params = json!([en1, self.ctx.config.extranonce2_size]);
                self.send(&crate::codec::notification(
                    "mining.set_extranonce",
                    &params,
                ))?;
            }
            self.send_new_job(true, false)
        } else if self.ready() && self.jobs.is_empty() {
            self.send_new_job(true, true)
        } else {
            Ok(())
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
                    && let Some(fee) = &self.ctx.config.fee
                {
                    let line = fee.message_line();
                    self.send(&line)?;
                }
                if let Some(d) = difficulty {
                    // `d=` in the password: a floor and a start, like suggest_difficulty.
                    self.diff.floor = Some(d);
                    self.diff.wanted = d;
                }
                if first && self.subscribed {
                    self.send_new_job(true, true)
                } else if difficulty.is_some() {
                    self.apply_difficulty()
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
        let address = username_address(username)?;
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
            self.charged = self
                .ctx
                .config
                .fee
                .as_ref()
                .is_some_and(|fee| fee.charges(self.peer_ip, &script));
            self.payout = Some(Payout {
                script,
                address: address.to_owned(),
            });
        }
        Ok(first)
    }

    /// BIP310: every requested extension gets an answer; the version-rolling mask is
    /// the intersection of ours and the miner's, zero-padded; a min-bit-count we cannot
    /// meet is only logged (the miner may roll fewer bits, BIP310 says not to close).
    fn on_configure(&mut self, id: &RequestId, p: ConfigureParams) -> Result<(), SessionError> {
        let mut result = Map::new();
        let mut difficulty_changed = false;
        for ext in p.extensions {
            let answer = match ext.as_str() {
                "version-rolling" => {
                    let mask = p.version_rolling_mask & SERVER_VERSION_MASK;
                    self.version_mask = Some(mask);
                    result.insert(
                        "version-rolling.mask".into(),
                        Value::String(format!("{mask:08x}")),
                    );
                    if let Some(n) = p.min_bit_count
                        && u64::from(mask.count_ones()) < n
                    {
                        debug!(target: TARGET, mask = %format!("{mask:08x}"), min_bit_count = n, "fewer version bits than the miner asked for");
                    }
                    Value::Bool(true)
                }
                "minimum-difficulty" => match p.minimum_difficulty {
                    Some(v) if v >= 0.0 => {
                        self.diff.floor = (v > 0.0).then_some(v);
                        self.diff.wanted = self.diff.wanted.max(v);
                        difficulty_changed = true;
                        Value::Bool(true)
                    }
                    _ => Value::String("minimum-difficulty.value must be a number >= 0".into()),
                },
                "subscribe-extranonce" => {
                    self.extranonce_subscribed = true;
                    Value::Bool(true)
                }
                "info" => Value::Bool(true),
                _ => Value::Bool(false),
            };
            result.insert(ext, answer);
        }
        self.reply(id, Ok(Value::Object(result)))?;
        if difficulty_changed {
            self.apply_difficulty()?;
        }
        Ok(())
    }

    /// `mining.suggest_difficulty`, at any time: before subscribe it sets the start,
    /// later it changes the difficulty at once (the answer first, then
    /// `set_difficulty` and a job). A repeat of the same value changes nothing, so
    /// NerdMiner's suggestion every 30 s does not undo vardiff.
    fn on_suggest(&mut self, id: &RequestId, d: f64) -> Result<(), SessionError> {
        if !id.is_null() {
            self.reply(id, Ok(Value::Bool(true)))?;
        }
        let floor = (d > 0.0 && d.is_finite()).then_some(d);
        if floor == self.diff.floor {
            return Ok(());
        }
        debug!(target: TARGET, difficulty = d, "difficulty suggested");
        self.diff.floor = floor;
        if let Some(d) = floor {
            self.diff.wanted = d;
        }
        self.apply_difficulty()
    }
}
