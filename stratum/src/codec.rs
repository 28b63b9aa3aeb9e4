//! Stratum v1 messages: typed requests decoded from JSON-RPC lines, and the encoding of
//! responses and notifications. Nothing here panics on any input; raw method names do
//! not travel past this module.

use crate::error::Reject;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Most extensions one `mining.configure` may name.
const MAX_EXTENSIONS: usize = 16;

/// A JSON-RPC request id, kept as the exact JSON text the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(Option<Box<str>>);

impl RequestId {
    /// The `null` id (notifications, and replies to unparseable lines).
    pub(crate) const NULL: RequestId = RequestId(None);

    /// Returns the id as JSON text.
    pub(crate) fn as_json(&self) -> &str {
        self.0.as_deref().unwrap_or("null")
    }

    /// Returns whether the id is `null` or absent: a JSON-RPC notification.
    pub(crate) fn is_null(&self) -> bool {
        self.as_json() == "null"
    }
}

/// `mining.submit` parameters, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubmitParams {
    /// The user name the share is for.
    pub username: String,
    /// The job id, as sent (the server's own hex ids).
    pub job_id: String,
    /// extranonce2 bytes (length checked later, against the session).
    pub extranonce2: Vec<u8>,
    /// Header time.
    pub ntime: u32,
    /// Header nonce.
    pub nonce: u32,
    /// BIP310 rolled version bits, if sent.
    pub version_bits: Option<u32>,
}

/// `mining.configure` (BIP310) parameters, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigureParams {
    /// Requested extensions, in order.
    pub extensions: Vec<String>,
    /// The miner's `version-rolling.mask` (all bits if absent, as BIP310 says).
    pub version_rolling_mask: u32,
    /// `version-rolling.min-bit-count`, diagnostic only.
    pub min_bit_count: Option<u64>,
    /// `minimum-difficulty.value`.
    pub minimum_difficulty: Option<f64>,
}

/// A decoded client message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// `mining.subscribe [user_agent?, session_id?, ...]`.
    Subscribe {
        /// The miner's user agent, if it sent one.
        user_agent: Option<String>,
        /// The session id (extranonce1) of an earlier session to resume.
        session: Option<u32>,
    },
    /// `mining.authorize [username, password?]`; only a `d=` in the password is kept.
    Authorize {
        /// `ADDRESS` or `ADDRESS.worker`.
        username: String,
        /// A difficulty asked for in the password (`d=N` or `diff=N`).
        difficulty: Option<f64>,
    },
    /// `mining.submit`.
    Submit(SubmitParams),
    /// `mining.configure` (BIP310).
    Configure(ConfigureParams),
    /// `mining.extranonce.subscribe`.
    ExtranonceSubscribe,
    /// `mining.suggest_difficulty [D]`; 0 withdraws an earlier suggestion.
    SuggestDifficulty(f64),
    /// `mining.suggest_target ["hex"]` (bfgminer): the target's value as a float.
    SuggestTarget(f64),
    /// `mining.multi_version [n]` (Antminer firmware before BIP310).
    MultiVersion,
    /// `mining.capabilities [{...}]` (bfgminer); BIP310 notes it has no response.
    Capabilities,
    /// A line with `result` or `error` and no `method`: the client answering one of
    /// our requests. Nothing to do.
    ClientResponse,
    /// Any other method; the name is kept (truncated) for logging.
    Unknown(String),
}

/// Why a line is not a request we can act on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DecodeError {
    /// Not a JSON object: counted towards the session's malformed limit.
    Malformed,
    /// A request we could identify, with an error to send back.
    Rejected(RequestId, Reject),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

/// Marks a key as present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Decodes one line into a request.
///
/// # Errors
/// [`DecodeError::Malformed`] for anything but a JSON object; otherwise
/// [`DecodeError::Rejected`] with the request's id for a missing method or bad params.
pub(crate) fn decode(line: &[u8]) -> Result<(RequestId, Request), DecodeError> {
    match decode_call(line)? {
        (id, Call::Response) => Ok((id, Request::ClientResponse)),
        (id, Call::Method { method, params }) => match parse_method(&method, &params) {
            Ok(req) => Ok((id, req)),
            Err(reject) => Err(DecodeError::Rejected(id, reject)),
        },
    }
}

/// A JSON-RPC line before its method is interpreted: the envelope every Stratum dialect
/// shares (v1 and the DAG dialects).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    /// A request or notification: its method and positional parameters.
    Method {
        /// The method name as sent.
        method: String,
        /// The parameters (an absent or null `params` is empty).
        params: Vec<Value>,
    },
    /// A line with `result` or `error` and no `method`: the client answering us.
    Response,
}

/// Decodes one line into its id and [`Call`].
///
/// # Errors
/// As [`decode`]: [`DecodeError::Malformed`] for anything but a JSON object, and
/// [`DecodeError::Rejected`] for a missing method or non-array params.
pub(crate) fn decode_call(line: &[u8]) -> Result<(RequestId, Call), DecodeError> {
    // serde would also read a struct from a JSON array; only objects are requests.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::Malformed);
    }
    let env: Envelope<'_> = serde_json::from_slice(line).map_err(|_| DecodeError::Malformed)?;
    let id = RequestId(env.id.map(|raw| raw.get().into()));
    let method = match env.method {
        Some(Value::String(m)) => m,
        None if env.result || env.error => {
            return Ok((id, Call::Response));
        }
        _ => return Err(DecodeError::Rejected(id, Reject::Malformed)),
    };
    let params = match env.params {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(p)) => p,
        Some(_) => {
            return Err(DecodeError::Rejected(
                id,
                Reject::InvalidParams {
                    method: "request",
                    reason: "params must be an array",
                },
            ));
        }
    };
    Ok((id, Call::Method { method, params }))
}

fn parse_method(method: &str, p: &[Value]) -> Result<Request, Reject> {
    Ok(match method {
        "mining.subscribe" => Request::Subscribe {
            user_agent: p.first().and_then(Value::as_str).map(truncate),
            session: p.get(1).and_then(Value::as_str).and_then(hex_u32),
        },
        "mining.authorize" => {
            let username = p
                .first()
                .and_then(Value::as_str)
                .ok_or(Reject::InvalidParams {
                    method: "mining.authorize",
                    reason: "username must be a string",
                })?;
            Request::Authorize {
                username: username.to_owned(),
                difficulty: p
                    .get(1)
                    .and_then(Value::as_str)
                    .and_then(password_difficulty),
            }
        }
        "mining.submit" => Request::Submit(parse_submit(p)?),
        "mining.configure" => Request::Configure(parse_configure(p)?),
        "mining.extranonce.subscribe" => Request::ExtranonceSubscribe,
        "mining.suggest_difficulty" => {
            let d =
                p.first()
                    .and_then(number)
                    .filter(|d| *d >= 0.0)
                    .ok_or(Reject::InvalidParams {
                        method: "mining.suggest_difficulty",
                        reason: "difficulty must be a non-negative number",
                    })?;
            Request::SuggestDifficulty(d)
        }
        "mining.suggest_target" => {
            let t = p
                .first()
                .and_then(Value::as_str)
                .and_then(target_value)
                .ok_or(Reject::InvalidParams {
                    method: "mining.suggest_target",
                    reason: "target must be 64 hex digits",
                })?;
            Request::SuggestTarget(t)
        }
        "mining.multi_version" => Request::MultiVersion,
        "mining.capabilities" => Request::Capabilities,
        other => Request::Unknown(truncate(other)),
    })
}

/// Keeps at most 64 characters of client text that is only logged or matched.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Reads a JSON number, or a string holding one (some firmware quotes it).
pub(crate) fn number(v: &Value) -> Option<f64> {
    let d = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    d.is_finite().then_some(d)
}

/// Finds `d=N` or `diff=N` among the comma, semicolon, ampersand or space separated
/// tokens of a password: the fixed difficulty almost every pool lets miners ask for.
pub(crate) fn password_difficulty(password: &str) -> Option<f64> {
    password
        .split([',', ';', '&', ' '])
        .filter_map(|token| token.split_once('='))
        .filter(|(k, _)| {
            let k = k.trim();
            k.eq_ignore_ascii_case("d") || k.eq_ignore_ascii_case("diff")
        })
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .find(|d| d.is_finite() && *d > 0.0)
}

/// Reads a 256-bit target written as 64 big-endian hex digits (bfgminer's
/// `suggest_target`) as a float.
fn target_value(s: &str) -> Option<f64> {
    if s.len() != 64 {
        return None;
    }
    let mut value = 0.0f64;
    for c in s.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    (value > 0.0).then_some(value)
}

fn parse_submit(p: &[Value]) -> Result<SubmitParams, Reject> {
    let invalid = |reason| Reject::InvalidParams {
        method: "mining.submit",
        reason,
    };
    let string = |i: usize, what| p.get(i).and_then(Value::as_str).ok_or(invalid(what));
    let username = string(0, "username must be a string")?;
    let job_id = string(1, "job_id must be a string")?;
    let extranonce2 = hex::decode(string(2, "extranonce2 must be a hex string")?)
        .map_err(|_| invalid("extranonce2 must be a hex string"))?;
    let ntime = hex_u32(string(3, "ntime must be 8 hex digits")?)
        .ok_or(invalid("ntime must be 8 hex digits"))?;
    let nonce = hex_u32(string(4, "nonce must be 8 hex digits")?)
        .ok_or(invalid("nonce must be 8 hex digits"))?;
    let version_bits = match p.get(5) {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(hex_u32)
                .ok_or(invalid("version bits must be 8 hex digits"))?,
        ),
    };
    Ok(SubmitParams {
        username: username.to_owned(),
        job_id: job_id.to_owned(),
        extranonce2,
        ntime,
        nonce,
        version_bits,
    })
}

fn parse_configure(p: &[Value]) -> Result<ConfigureParams, Reject> {
    let invalid = |reason| Reject::InvalidParams {
        method: "mining.configure",
        reason,
    };
    let names = p
        .first()
        .and_then(Value::as_array)
        .filter(|a| a.len() <= MAX_EXTENSIONS)
        .ok_or(invalid("extensions must be an array of at most 16 strings"))?;
    let extensions = names
        .iter()
        .map(|e| e.as_str().map(truncate))
        .collect::<Option<Vec<_>>>()
        .ok_or(invalid("extensions must be an array of at most 16 strings"))?;
    let param = |key: &str| p.get(1).and_then(|o| o.get(key));
    let version_rolling_mask = match param("version-rolling.mask") {
        None => u32::MAX,
        Some(m) => m
            .as_str()
            .and_then(hex_u32)
            .ok_or(invalid("version-rolling.mask must be 8 hex digits"))?,
    };
    // BIP310 types min-bit-count as a TMask (hex string) while every miner sends an
    // integer; take either.
    let min_bit_count = param("version-rolling.min-bit-count").and_then(|v| match v {
        Value::String(s) => u64::from_str_radix(s, 16).ok(),
        other => other.as_u64(),
    });
    let minimum_difficulty = param("minimum-difficulty.value").and_then(number);
    Ok(ConfigureParams {
        extensions,
        version_rolling_mask,
        min_bit_count,
        minimum_difficulty,
    })
}

/// Parses exactly eight hex digits (`%08x`).
pub(crate) fn hex_u32(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Encodes a successful response line.
pub(crate) fn response_ok(id: &RequestId, result: &Value) -> Vec<u8> {
    format!(
        "{{\"id\":{},\"result\":{},\"error\":null}}\n",
        id.as_json(),
        result
    )
    .into_bytes()
}

/// Encodes an error response line: `result` null, `error` `[code, message, null]`.
pub(crate) fn response_err(id: &RequestId, reject: &Reject) -> Vec<u8> {
    let message = Value::String(reject.to_string());
    format!(
        "{{\"id\":{},\"result\":null,\"error\":[{},{},null]}}\n",
        id.as_json(),
        reject.code() as u8,
        message
    )
    .into_bytes()
}

/// Encodes a rejected share: `result` false, the `[code, message, null]` error, and
/// ckpool's `reject-reason`, which Bitaxe and cpuminer show when `result` is false.
pub(crate) fn response_reject(id: &RequestId, reject: &Reject) -> Vec<u8> {
    let message = Value::String(reject.to_string());
    format!(
        "{{\"id\":{},\"result\":false,\"error\":[{},{message},null],\"reject-reason\":{message}}}\n",
        id.as_json(),
        reject.code() as u8,
    )
    .into_bytes()
}

/// Encodes a server notification (`id` null).
pub(crate) fn notification(method: &str, params: &Value) -> Vec<u8> {
    let method = Value::String(method.to_owned());
    format!("{{\"id\":null,\"method\":{method},\"params\":{params}}}\n").into_bytes()
}

/// Encodes `mining.set_difficulty`; an integral difficulty for integer-parsing firmware
/// is written without a fraction.
pub(crate) fn set_difficulty(difficulty: f64, integer: bool) -> Vec<u8> {
    let d = if integer && difficulty.fract() == 0.0 && difficulty < 1e15 {
        format!("{}", difficulty as u64)
    } else {
        Value::from(difficulty).to_string()
    };
    format!("{{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[{d}]}}\n").into_bytes()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
