//! The DAG dialects' messages: requests decoded from the shared JSON-RPC envelope
//! (`codec::decode_call`) into [`DagRequest`], and the encodings of their replies and
//! notifications. Nothing here panics on any input; raw method names stop here.

use crate::codec::{
    Call, DecodeError, RequestId, decode_call, number, password_difficulty, truncate,
};
use crate::error::Reject;
use serde_json::{Value, json};

/// The protocol string of NiceHash's specification.
pub(crate) const ETHEREUM_STRATUM: &str = "EthereumStratum/1.0.0";

/// A nonce as a miner wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonceHex {
    /// Its value.
    pub value: u64,
    /// How many bytes of hex it had (EthereumStratum miners send only the part after
    /// the extranonce).
    pub bytes: usize,
}

/// `mining.submit` of EthereumStratum/1.0.0 or KawPow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DagSubmit {
    /// The user name the share is for.
    pub worker: String,
    /// The job id as sent.
    pub job_id: String,
    /// The nonce (EthereumStratum: without the extranonce; KawPow: all 8 bytes).
    pub nonce: NonceHex,
    /// KawPow: the header hash the miner hashed.
    pub header_hash: Option<[u8; 32]>,
    /// KawPow: the mix hash the miner found.
    pub mix: Option<[u8; 32]>,
}

/// A decoded request of any DAG dialect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DagRequest {
    /// `mining.subscribe [agent?, protocol?]`.
    Subscribe {
        /// The miner's user agent.
        user_agent: Option<String>,
        /// The second parameter, `EthereumStratum/1.0.0` for NiceHash's dialect.
        protocol: Option<String>,
    },
    /// `mining.authorize [user, password?]`.
    Authorize {
        /// `ADDRESS` or `ADDRESS.worker`.
        username: String,
        /// `d=N` in the password.
        difficulty: Option<f64>,
    },
    /// `mining.extranonce.subscribe`.
    ExtranonceSubscribe,
    /// `mining.submit`.
    Submit(DagSubmit),
    /// `eth_submitLogin [user, password?]`.
    SubmitLogin {
        /// `ADDRESS` or `ADDRESS.worker`.
        username: String,
        /// `d=N` in the password.
        difficulty: Option<f64>,
    },
    /// `eth_getWork`.
    GetWork,
    /// `eth_submitWork [nonce, header_hash, mix]`.
    SubmitWork {
        /// The full nonce.
        nonce: u64,
        /// The header hash it solves.
        header_hash: [u8; 32],
        /// The mix hash the miner found.
        mix: [u8; 32],
    },
    /// `eth_submitHashrate [rate, id]`: the miner's own estimate, only logged.
    SubmitHashrate(Option<u64>),
    /// A response to one of our requests.
    Response,
    /// Any other method (the name truncated, for logs).
    Unknown(String),
}

/// Decodes one line of any DAG dialect.
///
/// # Errors
/// [`DecodeError::Malformed`] for anything but a JSON-RPC object, and
/// [`DecodeError::Rejected`] for bad parameters of a known method.
pub(crate) fn decode(line: &[u8]) -> Result<(RequestId, DagRequest), DecodeError> {
    match decode_call(line)? {
        (id, Call::Response) => Ok((id, DagRequest::Response)),
        (id, Call::Method { method, params }) => match parse(&method, &params) {
            Ok(r) => Ok((id, r)),
            Err(reject) => Err(DecodeError::Rejected(id, reject)),
        },
    }
}

fn parse(method: &str, p: &[Value]) -> Result<DagRequest, Reject> {
    let string = |i: usize| p.get(i).and_then(Value::as_str);
    Ok(match method {
        "mining.subscribe" => DagRequest::Subscribe {
            user_agent: string(0).map(truncate),
            protocol: string(1).map(truncate),
        },
        "mining.authorize" | "eth_submitLogin" => {
            let username = string(0)
                .ok_or(Reject::InvalidParams {
                    method: if method == "eth_submitLogin" {
                        "eth_submitLogin"
                    } else {
                        "mining.authorize"
                    },
                    reason: "username must be a string",
                })?
                .to_owned();
            let difficulty = string(1).and_then(password_difficulty);
            if method == "eth_submitLogin" {
                DagRequest::SubmitLogin {
                    username,
                    difficulty,
                }
            } else {
                DagRequest::Authorize {
                    username,
                    difficulty,
                }
            }
        }
        "mining.extranonce.subscribe" => DagRequest::ExtranonceSubscribe,
        "mining.submit" => DagRequest::Submit(parse_submit(p)?),
        "eth_getWork" => DagRequest::GetWork,
        "eth_submitWork" => {
            let invalid = |reason| Reject::InvalidParams {
                method: "eth_submitWork",
                reason,
            };
            let nonce = string(0)
                .and_then(|s| nonce_hex(s).filter(|n| n.bytes == 8))
                .ok_or(invalid("nonce must be 16 hex digits"))?;
            let header_hash = string(1)
                .and_then(hash_hex)
                .ok_or(invalid("header hash must be 64 hex digits"))?;
            let mix = string(2)
                .and_then(hash_hex)
                .ok_or(invalid("mix hash must be 64 hex digits"))?;
            DagRequest::SubmitWork {
                nonce: nonce.value,
                header_hash,
                mix,
            }
        }
        "eth_submitHashrate" => DagRequest::SubmitHashrate(p.first().and_then(|v| match v {
            Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
            other => number(other).map(|f| f as u64),
        })),
        other => DagRequest::Unknown(truncate(other)),
    })
}

fn parse_submit(p: &[Value]) -> Result<DagSubmit, Reject> {
    let invalid = |reason| Reject::InvalidParams {
        method: "mining.submit",
        reason,
    };
    let string = |i: usize, what| p.get(i).and_then(Value::as_str).ok_or(invalid(what));
    let worker = string(0, "worker must be a string")?.to_owned();
    let job_id = string(1, "job_id must be a string")?.to_owned();
    let nonce = nonce_hex(string(2, "nonce must be hex")?).ok_or(invalid(
        "nonce must be at most 16 hex digits, a whole number of bytes",
    ))?;
    let optional_hash = |i: usize, what| match p.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().and_then(hash_hex).map(Some).ok_or(invalid(what)),
    };
    Ok(DagSubmit {
        worker,
        job_id,
        nonce,
        header_hash: optional_hash(3, "header hash must be 64 hex digits")?,
        mix: optional_hash(4, "mix hash must be 64 hex digits")?,
    })
}

fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Reads a nonce of 1 to 8 bytes of big-endian hex, with or without `0x`.
fn nonce_hex(s: &str) -> Option<NonceHex> {
    let digits = strip_0x(s);
    if digits.is_empty() || digits.len() > 16 || !digits.len().is_multiple_of(2) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(NonceHex {
        value: u64::from_str_radix(digits, 16).ok()?,
        bytes: digits.len() / 2,
    })
}

/// Reads a 32-byte hash of 64 hex digits, with or without `0x`.
pub(crate) fn hash_hex(s: &str) -> Option<[u8; 32]> {
    let digits = strip_0x(s);
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// `0x` and the lowercase hex of `bytes`.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The result of an EthereumStratum/1.0.0 `mining.subscribe`.
pub(crate) fn ethereum_stratum_subscribe(session_id: &str, extranonce: &[u8]) -> Value {
    json!([
        ["mining.notify", session_id, ETHEREUM_STRATUM],
        hex::encode(extranonce)
    ])
}

/// The result of a KawPow `mining.subscribe`: no session id, then the extranonce.
pub(crate) fn kawpow_subscribe(extranonce: &[u8]) -> Value {
    json!([Value::Null, hex::encode(extranonce)])
}

/// An EthereumStratum/1.0.0 `mining.notify`: `[job, seed, header, clean]`, plain hex.
pub(crate) fn ethereum_stratum_notify(
    job_id: &str,
    seed: &[u8; 32],
    header: &[u8; 32],
    clean: bool,
) -> Value {
    json!([job_id, hex::encode(seed), hex::encode(header), clean])
}

/// A KawPow `mining.notify`: `[job, header, seed, target, clean, height, bits]`.
pub(crate) fn kawpow_notify(
    job_id: &str,
    header: &[u8; 32],
    seed: &[u8; 32],
    target: &[u8; 32],
    clean: bool,
    height: u64,
    bits: u32,
) -> Value {
    json!([
        job_id,
        hex::encode(header),
        hex::encode(seed),
        hex::encode(target),
        clean,
        height,
        format!("{bits:08x}")
    ])
}

/// The work of ETHPROXY's `eth_getWork` and pushes: `[header, seed, boundary, height]`,
/// `0x`-prefixed.
pub(crate) fn eth_work(
    header: &[u8; 32],
    seed: &[u8; 32],
    target: &[u8; 32],
    height: u64,
) -> Value {
    json!([
        hex0x(header),
        hex0x(seed),
        hex0x(target),
        format!("0x{height:x}")
    ])
}

/// An ETHPROXY response: JSON-RPC 2.0, an error object on failure.
pub(crate) fn eth_response(id: &RequestId, result: Result<Value, (&Value, &Reject)>) -> Vec<u8> {
    match result {
        Ok(v) => format!(
            "{{\"id\":{},\"jsonrpc\":\"2.0\",\"result\":{v}}}\n",
            id.as_json()
        ),
        Err((result, reject)) => {
            let error = json!({"code": -(reject.code() as i64), "message": reject.to_string()});
            format!(
                "{{\"id\":{},\"jsonrpc\":\"2.0\",\"result\":{result},\"error\":{error}}}\n",
                id.as_json()
            )
        }
    }
    .into_bytes()
}

/// ETHPROXY's push of new work: a response with id 0.
pub(crate) fn eth_push(work: &Value) -> Vec<u8> {
    format!("{{\"id\":0,\"jsonrpc\":\"2.0\",\"result\":{work}}}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> DagRequest {
        decode(line.as_bytes()).expect("decodes").1
    }

    #[test]
    fn decodes_each_dialect() {
        assert_eq!(
            req(
                r#"{"id":1,"method":"mining.subscribe","params":["lolMiner 1.88","EthereumStratum/1.0.0"]}"#
            ),
            DagRequest::Subscribe {
                user_agent: Some("lolMiner 1.88".into()),
                protocol: Some(ETHEREUM_STRATUM.into())
            }
        );
        let DagRequest::Submit(s) = req(
            r#"{"id":40,"method":"mining.submit","params":["w","1a","0x00000000000000ff","0x0101010101010101010101010101010101010101010101010101010101010101","0x0202020202020202020202020202020202020202020202020202020202020202"]}"#,
        ) else {
            panic!("submit")
        };
        assert_eq!((s.nonce.value, s.nonce.bytes), (255, 8));
        assert_eq!(s.header_hash, Some([1; 32]));
        assert_eq!(s.mix, Some([2; 32]));
        let DagRequest::Submit(s) =
            req(r#"{"id":4,"method":"mining.submit","params":["w","1a","a1b2c3d4e5f6"]}"#)
        else {
            panic!("submit")
        };
        assert_eq!(
            (s.nonce.value, s.nonce.bytes, s.mix),
            (0xa1b2c3d4e5f6, 6, None)
        );
        assert_eq!(
            req(
                r#"{"id":2,"jsonrpc":"2.0","method":"eth_submitLogin","worker":"rig","params":["0xabc.rig","x"]}"#
            ),
            DagRequest::SubmitLogin {
                username: "0xabc.rig".into(),
                difficulty: None
            }
        );
        assert_eq!(
            req(r#"{"id":6,"method":"eth_submitHashrate","params":["0x1dcd6500","0x00"]}"#),
            DagRequest::SubmitHashrate(Some(500_000_000))
        );
        assert!(matches!(
            req(&format!(
                r#"{{"id":5,"method":"eth_submitWork","params":["0x00000000000000ff","0x{}","0x{}"]}}"#,
                "11".repeat(32),
                "22".repeat(32)
            )),
            DagRequest::SubmitWork { nonce: 255, .. }
        ));
    }

    #[test]
    fn refuses_bad_params_with_their_id() {
        for line in [
            r#"{"id":7,"method":"mining.submit","params":["w","1","xyz"]}"#,
            r#"{"id":7,"method":"mining.submit","params":["w","1","123"]}"#,
            r#"{"id":7,"method":"mining.submit","params":["w","1","0x00000000000000000000"]}"#,
            r#"{"id":7,"method":"mining.submit","params":["w","1","00","0x12"]}"#,
            r#"{"id":7,"method":"eth_submitWork","params":["0x01","0x00","0x00"]}"#,
        ] {
            match decode(line.as_bytes()) {
                Err(DecodeError::Rejected(id, Reject::InvalidParams { .. })) => {
                    assert_eq!(id.as_json(), "7")
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        assert_eq!(decode(b"[1,2]"), Err(DecodeError::Malformed));
    }

    #[test]
    fn encodes_proxy_work_and_errors() {
        let work = eth_work(&[0xaa; 32], &[0xbb; 32], &[0xcc; 32], 300);
        assert_eq!(work[3], "0x12c");
        let push = String::from_utf8(eth_push(&work)).expect("utf8");
        assert!(push.starts_with(r#"{"id":0,"jsonrpc":"2.0","result":["0xaaaa"#));
        let id = RequestId::NULL;
        let line = String::from_utf8(eth_response(
            &id,
            Err((&Value::Bool(false), &Reject::Duplicate)),
        ))
        .expect("utf8");
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["error"]["message"], "Duplicate share");
        assert_eq!(v["result"], false);
    }
}
