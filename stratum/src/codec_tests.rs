//! Unit and property tests of the message codec.

use super::*;
use proptest::prelude::*;

#[test]
fn decodes_requests_and_keeps_raw_ids() {
    let (id, req) =
        decode(br#"{"id": "a\"b", "method":"mining.subscribe","params":["cpuminer/2.5.1"]}"#)
            .expect("valid");
    assert_eq!(id.as_json(), r#""a\"b""#);
    assert_eq!(
        req,
        Request::Subscribe {
            user_agent: Some("cpuminer/2.5.1".into()),
            session: None
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
        decode(
            br#"{"id":7,"method":"mining.submit","params":["u","j","zz","00000000","00000000"]}"#
        ),
        Err(DecodeError::Rejected(_, Reject::InvalidParams { .. }))
    ));
    assert!(matches!(
        decode(br#"{"id":7,"params":[]}"#),
        Err(DecodeError::Rejected(RequestId(Some(_)), Reject::Malformed))
    ));
}

#[test]
fn decodes_subscribe_session_ids() {
    // cgminer, bfgminer and cpuminer resume with the notify subscription id.
    let (_, req) = decode(
        br#"{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.1", "0a0b0c0d"]}"#,
    )
    .expect("valid");
    assert_eq!(
        req,
        Request::Subscribe {
            user_agent: Some("cgminer/4.12.1".into()),
            session: Some(0x0a0b_0c0d)
        }
    );
    // BraiinsOS: [ua, null, "host:port", null].
    let (_, req) = decode(
        br#"{"id":1,"method":"mining.subscribe","params":["bosminer/1.0",null,"pool:3333",null]}"#,
    )
    .expect("valid");
    assert!(matches!(req, Request::Subscribe { session: None, .. }));
}

#[test]
fn decodes_configure() {
    let (_, req) = decode(
        br#"{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16,"minimum-difficulty.value":2048}]}"#,
    )
    .expect("valid");
    assert_eq!(
        req,
        Request::Configure(ConfigureParams {
            extensions: vec!["version-rolling".into(), "minimum-difficulty".into()],
            version_rolling_mask: u32::MAX,
            min_bit_count: Some(16),
            minimum_difficulty: Some(2048.0),
        })
    );
    let many = format!(
        r#"{{"id":1,"method":"mining.configure","params":[[{}],{{}}]}}"#,
        vec!["\"x\""; 17].join(",")
    );
    assert!(matches!(
        decode(many.as_bytes()),
        Err(DecodeError::Rejected(_, Reject::InvalidParams { .. }))
    ));
}

#[test]
fn decodes_difficulty_requests() {
    let sd = |line: &str| decode(line.as_bytes()).map(|(_, r)| r);
    assert_eq!(
        sd(r#"{"id":4,"method":"mining.suggest_difficulty","params":[0.0001]}"#),
        Ok(Request::SuggestDifficulty(0.0001))
    );
    assert_eq!(
        sd(r#"{"id":4,"method":"mining.suggest_difficulty","params":["512"]}"#),
        Ok(Request::SuggestDifficulty(512.0))
    );
    assert!(sd(r#"{"id":4,"method":"mining.suggest_difficulty","params":[-1]}"#).is_err());
    let target = format!("00000000{}", "f".repeat(56));
    assert_eq!(
        sd(&format!(
            r#"{{"id":null,"method":"mining.suggest_target","params":["{target}"]}}"#
        )),
        Ok(Request::SuggestTarget(
            (0..56).fold(0.0, |acc, _| acc * 16.0 + 15.0)
        ))
    );
    assert_eq!(password_difficulty("x"), None);
    assert_eq!(password_difficulty("d=1024"), Some(1024.0));
    assert_eq!(password_difficulty("c=BTC,d=0.5"), Some(0.5));
    assert_eq!(password_difficulty("x; DIFF=8"), Some(8.0));
    assert_eq!(password_difficulty("d=0,d=nan,d=-3"), None);
    let (_, req) = decode(br#"{"id":2,"method":"mining.authorize","params":["addr.w","d=64"]}"#)
        .expect("valid");
    assert_eq!(
        req,
        Request::Authorize {
            username: "addr.w".into(),
            difficulty: Some(64.0)
        }
    );
}

/// Regression (cargo-fuzz `message_parser`, crash-22fb26e5): an id that is valid JSON
/// but beyond f64's range, with carriage returns before the closing brace, is echoed
/// byte for byte and the answer is still one well-formed JSON line.
#[test]
fn ids_beyond_f64_range_are_echoed_verbatim() {
    let line = b"{\"id\":1e616\r\r\r\r\r\r\r\r\r\r}";
    let Err(DecodeError::Rejected(id, Reject::Malformed)) = decode(line) else {
        panic!("a method-less request is rejected with its id");
    };
    assert_eq!(id.as_json(), "1e616");
    let answer = response_err(&id, &Reject::Malformed);
    assert!(answer.starts_with(b"{\"id\":1e616,"));
    serde_json::from_slice::<Box<RawValue>>(&answer).expect("well-formed JSON");
    crate::fuzzing::message_parser(line);
}

#[test]
fn client_responses_are_not_requests() {
    for line in [
        r#"{"id":9,"result":"cgminer/4.12.1","error":null}"#,
        r#"{"id":9,"result":null,"error":null}"#,
        r#"{"id":9,"error":[20,"x",null]}"#,
    ] {
        assert_eq!(
            decode(line.as_bytes()).map(|(_, r)| r),
            Ok(Request::ClientResponse),
            "{line}"
        );
    }
}

#[test]
fn encodes_exact_lines() {
    let id = RequestId(Some("\"x\"".into()));
    assert_eq!(
        response_ok(&id, &Value::Bool(true)),
        b"{\"id\":\"x\",\"result\":true,\"error\":null}\n"
    );
    assert_eq!(
        response_err(&RequestId::NULL, &Reject::UnknownMethod),
        b"{\"id\":null,\"result\":null,\"error\":[20,\"Not supported.\",null]}\n"
    );
    assert_eq!(
        response_reject(&RequestId(Some("7".into())), &Reject::Duplicate),
        b"{\"id\":7,\"result\":false,\"error\":[22,\"Duplicate share\",null],\"reject-reason\":\"Duplicate share\"}\n"
    );
    assert_eq!(
        notification("mining.set_extranonce", &serde_json::json!(["0a0b0c0d", 4])),
        b"{\"id\":null,\"method\":\"mining.set_extranonce\",\"params\":[\"0a0b0c0d\",4]}\n"
    );
    assert_eq!(
        set_difficulty(0.5, false),
        b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.5]}\n"
    );
    assert_eq!(
        set_difficulty(1024.0, true),
        b"{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1024]}\n"
    );
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_near_requests(
        id in "(null|[1-9][0-9]{0,24}|\"[a-z0-9 ]{0,8}\"|\\{\\}|\\[\\])",
        method in "mining\\.(subscribe|authorize|submit|configure|suggest_difficulty|suggest_target|x)",
        params in proptest::collection::vec("(null|true|0|-?[1-9][0-9]{0,11}|\"[0-9a-fx.=]{0,12}\"|\\[\\]|\\{\\})", 0..7),
    ) {
        let line = format!(r#"{{"id":{id},"method":"{method}","params":[{}]}}"#, params.join(","));
        match decode(line.as_bytes()) {
            Ok((got, _)) | Err(DecodeError::Rejected(got, _)) => prop_assert_eq!(got.as_json(), id.as_str()),
            Err(DecodeError::Malformed) => prop_assert!(false, "{} is an object", line),
        }
    }

    #[test]
    fn every_answer_is_one_json_line_echoing_the_id(
        id in "(null|0|[1-9][0-9]{0,29}|\"[ -!#-\\[\\]-~]{0,12}\"|\\[1,\"a\"\\]|-?[0-9]\\.[0-9]e[0-9])",
    ) {
        let rid = RequestId(Some(id.clone().into()));
        for line in [
            response_ok(&rid, &Value::Bool(true)),
            response_err(&rid, &Reject::UnknownMethod),
            response_reject(&rid, &Reject::LowDifficulty),
        ] {
            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            let v: Value = serde_json::from_slice(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want: Value = serde_json::from_str(&id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&v["id"], &want);
        }
    }
}
