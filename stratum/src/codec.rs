//! Stratum v1 wire format: bounded newline framing, typed requests decoded from
//! JSON-RPC lines, and the encoding of responses and notifications. Nothing here
//! panics on any input; raw method names do not travel past this module.

use crate::error::{Reject, SessionError};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Splits a byte stream into lines of at most `max` bytes (the `\n` and an optional
/// `\r` before it not counted).
#[derive(Debug)]
pub(crate) struct LineFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
}

impl LineFramer {
    /// Returns a framer for lines of at most `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Appends received bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Returns the next complete line without its line ending, or `None` until more
    /// bytes arrive.
    ///
    /// # Errors
    /// [`SessionError::LineTooLong`] as soon as a line is known to exceed the limit,
    /// even before its newline arrives.
    pub(crate) fn next_line(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        let too_long = SessionError::LineTooLong { limit: self.max };
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                if line.len() > self.max {
                    return Err(too_long);
                }
                Ok(Some(line))
            }
            None => {
                self.scanned = self.buf.len();
                // One byte of slack for a `\r` whose `\n` has not arrived yet.
                if self.buf.len() > self.max + 1 {
                    return Err(too_long);
                }
                Ok(None)
            }
        }
    }
}

/// Reads framed lines from a socket.
pub(crate) struct LineReader<R> {
    io: R,
    framer: LineFramer,
    chunk: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps `io`, with lines of at most `max` bytes.
    pub(crate) fn new(io: R, max: usize) -> Self {
        Self {
            io,
            framer: LineFramer::new(max),
            chunk: vec![0u8; 4096].into_boxed_slice(),
        }
    }

    /// Returns the next line, or `None` at end of stream (a trailing partial line is
    /// dropped). Cancel-safe: bytes are moved into the framer only after a read
    /// completes, so it can sit in a `select!`.
    ///
    /// # Errors
    /// Socket errors and over-long lines.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        loop {
            if let Some(line) = self.framer.next_line()? {
                return Ok(Some(line));
            }
            let n = self.io.read(&mut self.chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.framer.push(&self.chunk[..n]);
        }
    }
}

/// A JSON-RPC request id, kept as the exact JSON text the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(Option<Box<str>>);

impl RequestId {
    /// The `null` id (notifications, and replies to unparseable lines).
    pub(crate) const NULL: RequestId = RequestId(None);

    fn as_json(&self) -> &str {
        self.0.as_deref().unwrap_or("null")
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

/// A decoded client request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    /// `mining.subscribe [user_agent?, session_id?]`.
    Subscribe {
        /// The miner's user agent, if it sent one.
        user_agent: Option<String>,
    },
    /// `mining.authorize [username, password]`; the password is not kept.
    Authorize {
        /// `ADDRESS` or `ADDRESS.worker`.
        username: String,
    },
    /// `mining.submit`.
    Submit(SubmitParams),
    /// `mining.configure` (BIP310).
    Configure {
        /// Requested extensions, in order.
        extensions: Vec<String>,
        /// The miner's `version-rolling.mask` (all bits if absent).
        version_rolling_mask: u32,
    },
    /// `mining.extranonce.subscribe`.
    ExtranonceSubscribe,
    /// `mining.suggest_difficulty` (accepted and ignored for now).
    SuggestDifficulty,
    /// Any other method; the name is kept for logging.
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
}

/// Decodes one line into a request.
///
/// # Errors
/// [`DecodeError::Malformed`] for anything but a JSON object; otherwise
/// [`DecodeError::Rejected`] with the request's id for a missing method or bad params.
pub(crate) fn decode(line: &[u8]) -> Result<(RequestId, Request), DecodeError> {
    // serde would also read a struct from a JSON array; only objects are requests.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::Malformed);
    }
    let env: Envelope<'_> = serde_json::from_slice(line).map_err(|_| DecodeError::Malformed)?;
    let id = RequestId(env.id.map(|raw| raw.get().into()));
    let Some(Value::String(method)) = env.method else {
        return Err(DecodeError::Rejected(id, Reject::Malformed));
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
    match parse_method(&method, &params) {
        Ok(req) => Ok((id, req)),
        Err(reject) => Err(DecodeError::Rejected(id, reject)),
    }
}

fn parse_method(method: &str, p: &[Value]) -> Result<Request, Reject> {
    Ok(match method {
        "mining.subscribe" => Request::Subscribe {
            user_agent: p.first().and_then(Value::as_str).map(str::to_owned),
        },
        "mining.authorize" => {
            let invalid = |reason| Reject::InvalidParams {
                method: "mining.authorize",
                reason,
            };
            let username = p
                .first()
                .and_then(Value::as_str)
                .ok_or(invalid("username must be a string"))?;
            Request::Authorize {
                username: username.to_owned(),
            }
        }
        "mining.submit" => Request::Submit(parse_submit(p)?),
        "mining.configure" => parse_configure(p)?,
        "mining.extranonce.subscribe" => Request::ExtranonceSubscribe,
        "mining.suggest_difficulty" => Request::SuggestDifficulty,
        other => Request::Unknown(other.to_owned()),
    })
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

fn parse_configure(p: &[Value]) -> Result<Request, Reject> {
    let invalid = |reason| Reject::InvalidParams {
        method: "mining.configure",
        reason,
    };
    let extensions = p
        .first()
        .and_then(Value::as_array)
        .ok_or(invalid("extensions must be an array of strings"))?
        .iter()
        .map(|e| e.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or(invalid("extensions must be an array of strings"))?;
    let version_rolling_mask = match p.get(1).and_then(|o| o.get("version-rolling.mask")) {
        None => u32::MAX,
        Some(m) => m
            .as_str()
            .and_then(hex_u32)
            .ok_or(invalid("version-rolling.mask must be 8 hex digits"))?,
    };
    Ok(Request::Configure {
        extensions,
        version_rolling_mask,
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

/// Encodes an error response line: `error` is `[code, message, null]`.
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

/// Encodes a server notification (`id` null).
pub(crate) fn notification(method: &str, params: &Value) -> Vec<u8> {
    let method = Value::String(method.to_owned());
    format!("{{\"id\":null,\"method\":{method},\"params\":{params}}}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(framer: &mut LineFramer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(Some(l)) = framer.next_line() {
            out.push(l);
        }
        out
    }

    #[test]
    fn frames_split_and_joined_lines() {
        let mut f = LineFramer::new(16);
        f.push(b"ab\r\ncd\nef");
        assert_eq!(lines(&mut f), vec![b"ab".to_vec(), b"cd".to_vec()]);
        f.push(b"g\n\n");
        assert_eq!(lines(&mut f), vec![b"efg".to_vec(), Vec::new()]);
    }

    #[test]
    fn rejects_long_lines_before_their_newline() {
        let mut f = LineFramer::new(4);
        f.push(b"1234\r");
        assert!(matches!(f.next_line(), Ok(None)));
        f.push(b"\n12345");
        assert_eq!(f.next_line().ok().flatten(), Some(b"1234".to_vec()));
        assert!(matches!(f.next_line(), Ok(None)));
        f.push(b"6");
        assert!(matches!(
            f.next_line(),
            Err(SessionError::LineTooLong { limit: 4 })
        ));
        let mut g = LineFramer::new(4);
        g.push(b"12345\n");
        assert!(g.next_line().is_err());
    }

    #[test]
    fn decodes_requests_and_keeps_raw_ids() {
        let (id, req) =
            decode(br#"{"id": "a\"b", "method":"mining.subscribe","params":["cpuminer/2.5"]}"#)
                .expect("valid");
        assert_eq!(id.as_json(), r#""a\"b""#);
        assert_eq!(
            req,
            Request::Subscribe {
                user_agent: Some("cpuminer/2.5".into())
            }
        );
        let (id, req) = decode(
            br#"{"params":["bcrt1x.w","j1","0000000a","6553f100","0000002a","00002000"],"id":1e0,"method":"mining.submit","jsonrpc":"2.0"}"#,
        )
        .expect("valid");
        assert_eq!(id.as_json(), "1e0");
        let Request::Submit(s) = req else {
            panic!("not a submit: {req:?}")
        };
        assert_eq!(s.extranonce2, vec![0, 0, 0, 10]);
        assert_eq!(
            (s.ntime, s.nonce, s.version_bits),
            (0x6553_f100, 42, Some(0x2000))
        );
        assert_eq!(decode(b"[1,2]"), Err(DecodeError::Malformed));
        assert_eq!(decode(b"{\"id\":1"), Err(DecodeError::Malformed));
        assert!(matches!(
            decode(br#"{"id":7,"method":"mining.submit","params":["u","j","zz","00000000","00000000"]}"#),
            Err(DecodeError::Rejected(_, Reject::InvalidParams { .. }))
        ));
        assert!(matches!(
            decode(br#"{"id":7,"params":[]}"#),
            Err(DecodeError::Rejected(RequestId(Some(_)), Reject::Malformed))
        ));
    }

    #[test]
    fn decodes_configure() {
        let (_, req) = decode(
            br#"{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16}]}"#,
        )
        .expect("valid");
        assert_eq!(
            req,
            Request::Configure {
                extensions: vec!["version-rolling".into(), "minimum-difficulty".into()],
                version_rolling_mask: u32::MAX
            }
        );
    }

    #[test]
    fn encodes_exact_lines() {
        let id = RequestId(Some("\"x\"".into()));
        assert_eq!(
            response_ok(&id, &Value::Bool(true)),
            b"{\"id\":\"x\",\"result\":true,\"error\":null}\n"
        );
        assert_eq!(
            response_err(&RequestId::NULL, &Reject::Duplicate),
            b"{\"id\":null,\"result\":null,\"error\":[22,\"Duplicate share\",null]}\n"
        );
        assert_eq!(
            notification("mining.set_difficulty", &serde_json::json!([0.5])),
            b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.5]}\n"
        );
    }

    proptest! {
        #[test]
        fn framer_never_panics_and_returns_bounded_lines(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)
        ) {
            let mut f = LineFramer::new(32);
            for c in chunks {
                f.push(&c);
                while let Ok(Some(l)) = f.next_line() {
                    prop_assert!(l.len() <= 32 && !l.contains(&b'\n'));
                }
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_near_requests(
            id in "(null|[1-9][0-9]{0,24}|\"[a-z0-9 ]{0,8}\"|\\{\\}|\\[\\])",
            method in "mining\\.(subscribe|authorize|submit|configure|suggest_difficulty|x)",
            params in proptest::collection::vec("(null|true|0|-?[1-9][0-9]{0,11}|\"[0-9a-fx.]{0,12}\"|\\[\\]|\\{\\})", 0..7),
        ) {
            let line = format!(r#"{{"id":{id},"method":"{method}","params":[{}]}}"#, params.join(","));
            match decode(line.as_bytes()) {
                Ok((got, _)) | Err(DecodeError::Rejected(got, _)) => prop_assert_eq!(got.as_json(), id.as_str()),
                Err(DecodeError::Malformed) => prop_assert!(false, "{} is an object", line),
            }
        }

        #[test]
        fn joined_lines_round_trip(lines in proptest::collection::vec("[ -~]{0,40}", 0..8)) {
            let mut f = LineFramer::new(40);
            f.push(lines.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes());
            let got: Vec<Vec<u8>> = std::iter::from_fn(|| f.next_line().ok().flatten()).collect();
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
