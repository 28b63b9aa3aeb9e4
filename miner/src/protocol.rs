//! Stratum v1 messages, client side: typed requests out, typed messages in. Method
//! names do not leave this module.

use crate::error::{JobError, ProtocolError, StratumError};
use crate::job::{Job, MAX_EXTRANONCE2_SIZE};
use crate::worker::FoundShare;
use serde_json::{Value, json};

/// The user agent sent in `mining.subscribe` and `client.get_version`.
pub(crate) const USER_AGENT: &str = "otedama-miner/0.1";

/// Stratum error code of a stale share.
pub(crate) const CODE_STALE: i64 = 21;

/// A message from the pool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// The answer to one of our requests.
    Response {
        id: Option<u64>,
        result: Value,
        error: Option<StratumError>,
    },
    /// `mining.set_difficulty`.
    SetDifficulty(f64),
    /// `mining.notify`.
    Notify(Job),
    /// `mining.set_extranonce`: applies to the next job.
    SetExtranonce {
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
    },
    /// `client.reconnect`.
    Reconnect,
    /// `client.get_version`, to be answered with the user agent.
    GetVersion { id: Value },
    /// `client.show_message`.
    ShowMessage(String),
    /// `mining.ping`, to be answered with "pong".
    Ping { id: Value },
    /// A method this client does not implement.
    Unknown { id: Value, method: String },
}

/// Parses one line from the pool.
pub(crate) fn parse(line: &str) -> Result<Incoming, ProtocolError> {
    let v: Value = serde_json::from_str(line)?;
    let obj = v.as_object().ok_or(ProtocolError::NotAnObject)?;
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Ok(Incoming::Response {
            id: request_id(&id),
            result: obj.get("result").cloned().unwrap_or(Value::Null),
            error: obj.get("error").and_then(stratum_error),
        });
    };
    let first = params.get(0);
    Ok(match method {
        "mining.set_difficulty" => match first.and_then(Value::as_f64) {
            Some(d) => Incoming::SetDifficulty(d),
            None => {
                return Err(params_error(
                    "mining.set_difficulty",
                    "difficulty",
                    "number",
                ));
            }
        },
        "mining.notify" => {
            Incoming::Notify(Job::from_notify_params(&params).map_err(|source| {
                ProtocolError::Params {
                    method: "mining.notify",
                    source,
                }
            })?)
        }
        "mining.set_extranonce" => {
            let (extranonce1, extranonce2_size) =
                parse_extranonces(first, params.get(1)).map_err(|source| {
                    ProtocolError::Params {
                        method: "mining.set_extranonce",
                        source,
                    }
                })?;
            Incoming::SetExtranonce {
                extranonce1,
                extranonce2_size,
            }
        }
        "client.reconnect" => Incoming::Reconnect,
        "client.get_version" => Incoming::GetVersion { id },
        "client.show_message" => {
            Incoming::ShowMessage(first.and_then(Value::as_str).unwrap_or_default().to_owned())
        }
        "mining.ping" => Incoming::Ping { id },
        other => Incoming::Unknown {
            id,
            method: other.to_owned(),
        },
    })
}

/// Decodes the result of `mining.subscribe`:
/// `[[subscriptions...], "<extranonce1 hex>", <extranonce2_size>]`.
pub(crate) fn parse_subscribe_result(result: &Value) -> Result<(Vec<u8>, usize), JobError> {
    let r = result.as_array().ok_or(JobError::Type {
        field: "subscribe result",
        expected: "array",
    })?;
    if r.len() < 3 {
        return Err(JobError::Arity {
            expected: 3,
            got: r.len(),
        });
    }
    parse_extranonces(r.get(1), r.get(2))
}

fn parse_extranonces(
    en1: Option<&Value>,
    en2_size: Option<&Value>,
) -> Result<(Vec<u8>, usize), JobError> {
    let en1 = en1.and_then(Value::as_str).ok_or(JobError::Type {
        field: "extranonce1",
        expected: "hex string",
    })?;
    let en1 = hex::decode(en1).map_err(|_| JobError::Hex {
        field: "extranonce1",
    })?;
    let size = en2_size.and_then(Value::as_u64).ok_or(JobError::Type {
        field: "extranonce2_size",
        expected: "integer",
    })?;
    if size == 0 || size > MAX_EXTRANONCE2_SIZE as u64 {
        return Err(JobError::Extranonce2Size(size));
    }
    Ok((en1, size as usize))
}

/// The version bits asked for in `mining.configure`: BIP320's general-purpose bits.
pub(crate) const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// Returns `mining.configure` asking for version rolling (BIP310).
pub(crate) fn configure(id: u64) -> String {
    line(json!({
        "id": id,
        "method": "mining.configure",
        "params": [
            ["version-rolling"],
            {
                "version-rolling.mask": format!("{VERSION_ROLLING_MASK:08x}"),
                "version-rolling.min-bit-count": 2,
            },
        ],
    }))
}

/// Decodes the result of `mining.configure`: the version-rolling mask the pool grants,
/// 0 when it refuses or does not answer the extension.
pub(crate) fn parse_configure_result(result: &Value) -> u32 {
    if result.get("version-rolling") != Some(&Value::Bool(true)) {
        return 0;
    }
    result
        .get("version-rolling.mask")
        .and_then(Value::as_str)
        .and_then(|m| u32::from_str_radix(m, 16).ok())
        // Never roll bits we did not ask for.
        .map_or(0, |m| m & VERSION_ROLLING_MASK)
}

/// Returns `mining.subscribe`.
pub(crate) fn subscribe(id: u64) -> String {
    line(json!({"id": id, "method": "mining.subscribe", "params": [USER_AGENT]}))
}

/// Returns `mining.authorize`.
pub(crate) fn authorize(id: u64, user: &str, password: &str) -> String {
    line(json!({"id": id, "method": "mining.authorize", "params": [user, password]}))
}

/// Returns `mining.submit` for `share`.
pub(crate) fn submit(id: u64, user: &str, share: &FoundShare) -> String {
    let mut params = vec![
        json!(user),
        json!(share.job_id),
        json!(hex::encode(&share.extranonce2)),
        json!(format!("{:08x}", share.ntime)),
        json!(format!("{:08x}", share.nonce)),
    ];
    if let Some(bits) = share.version_bits {
        params.push(json!(format!("{bits:08x}")));
    }
    line(json!({"id": id, "method": "mining.submit", "params": params}))
}

/// Returns a successful response to a pool request.
pub(crate) fn response(id: &Value, result: Value) -> String {
    line(json!({"id": id, "result": result, "error": null}))
}

/// Returns an error response to a pool request this client does not implement.
pub(crate) fn unsupported(id: &Value) -> String {
    line(json!({"id": id, "result": null, "error": [20, "unsupported method", null]}))
}

fn line(v: Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// Our ids are integers; tolerate pools that echo them as strings.
fn request_id(id: &Value) -> Option<u64> {
    match id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn stratum_error(e: &Value) -> Option<StratumError> {
    match e {
        Value::Null => None,
        Value::Array(a) => Some(StratumError {
            code: a.first().and_then(Value::as_i64),
            message: a
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
        Value::Object(o) => Some(StratumError {
            code: o.get("code").and_then(Value::as_i64),
            message: o
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
        Value::String(s) => Some(StratumError {
            code: None,
            message: s.clone(),
        }),
        other => Some(StratumError {
            code: None,
            message: other.to_string(),
        }),
    }
}

fn params_error(
    method: &'static str,
    field: &'static str,
    expected: &'static str,
) -> ProtocolError {
    ProtocolError::Params {
        method,
        source: JobError::Type { field, expected },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses_and_errors() {
        let r = parse(r#"{"id":3,"result":true,"error":null}"#).expect("valid");
        assert_eq!(
            r,
            Incoming::Response {
                id: Some(3),
                result: Value::Bool(true),
                error: None
            }
        );
        let r =
            parse(r#"{"id":"4","result":null,"error":[21,"Job not found",null]}"#).expect("valid");
        let Incoming::Response { id, error, .. } = r else {
            panic!("not a response: {r:?}");
        };
        assert_eq!(id, Some(4));
        assert_eq!(
            error,
            Some(StratumError {
                code: Some(21),
                message: "Job not found".into()
            })
        );
        let r =
            parse(r#"{"id":5,"result":null,"error":{"code":-1,"message":"bad"}}"#).expect("valid");
        assert!(matches!(
            r,
            Incoming::Response {
                error: Some(StratumError { code: Some(-1), .. }),
                ..
            }
        ));
    }

    #[test]
    fn parses_notifications() {
        assert_eq!(
            parse(r#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#).expect("ok"),
            Incoming::SetDifficulty(0.5)
        );
        assert!(parse(r#"{"id":null,"method":"mining.set_difficulty","params":["x"]}"#).is_err());
        assert_eq!(
            parse(r#"{"id":null,"method":"mining.set_extranonce","params":["0a0b",4]}"#)
                .expect("ok"),
            Incoming::SetExtranonce {
                extranonce1: vec![10, 11],
                extranonce2_size: 4
            }
        );
        assert!(matches!(
            parse(r#"{"id":9,"method":"client.get_version","params":[]}"#),
            Ok(Incoming::GetVersion { .. })
        ));
        assert!(matches!(
            parse(r#"{"id":9,"method":"mining.foo","params":[]}"#),
            Ok(Incoming::Unknown { .. })
        ));
        assert!(parse("not json").is_err());
        assert!(parse("[1,2]").is_err());
    }

    #[test]
    fn subscribe_result() {
        let v: Value =
            serde_json::from_str(r#"[[["mining.notify","ae68"]],"08000002",4]"#).expect("json");
        assert_eq!(parse_subscribe_result(&v), Ok((vec![8, 0, 0, 2], 4)));
        for bad in [
            r#"[[],"0800",0]"#,
            r#"[[],"0800",9]"#,
            r#"[[],"zz",4]"#,
            r#"[[],"08"]"#,
            "true",
        ] {
            let v: Value = serde_json::from_str(bad).expect("json");
            assert!(parse_subscribe_result(&v).is_err(), "{bad}");
        }
    }

    #[test]
    fn submit_fields() {
        let share = FoundShare {
            session: 1,
            job_id: "ab".into(),
            extranonce2: vec![1, 0, 0, 2],
            ntime: 0x504e_86b9,
            nonce: 0x0000_00ff,
            version_bits: None,
        };
        let v: Value = serde_json::from_str(&submit(7, "u.w", &share)).expect("json");
        assert_eq!(v["method"], "mining.submit");
        assert_eq!(v["id"], 7);
        assert_eq!(
            v["params"],
            json!(["u.w", "ab", "01000002", "504e86b9", "000000ff"])
        );
        let rolled = FoundShare {
            version_bits: Some(0x0000_6000),
            ..share
        };
        let v: Value = serde_json::from_str(&submit(8, "u.w", &rolled)).expect("json");
        assert_eq!(
            v["params"],
            json!(["u.w", "ab", "01000002", "504e86b9", "000000ff", "00006000"])
        );
    }

    #[test]
    fn configure_asks_for_version_rolling_and_reads_the_grant() {
        let v: Value = serde_json::from_str(&configure(3)).expect("json");
        assert_eq!(v["method"], "mining.configure");
        assert_eq!(v["params"][0], json!(["version-rolling"]));
        assert_eq!(v["params"][1]["version-rolling.mask"], "1fffe000");
        let grant = |r: Value| parse_configure_result(&r);
        assert_eq!(
            grant(json!({"version-rolling": true, "version-rolling.mask": "1fffe000"})),
            0x1fff_e000
        );
        // A narrower grant is used as is; bits we never asked for are dropped.
        assert_eq!(
            grant(json!({"version-rolling": true, "version-rolling.mask": "ffffffff"})),
            0x1fff_e000
        );
        assert_eq!(
            grant(json!({"version-rolling": true, "version-rolling.mask": "00006000"})),
            0x0000_6000
        );
        for refused in [
            json!({"version-rolling": false}),
            json!({"version-rolling": true, "version-rolling.mask": "xyz"}),
            json!(null),
            json!(true),
        ] {
            assert_eq!(grant(refused.clone()), 0, "{refused}");
        }
    }
}
