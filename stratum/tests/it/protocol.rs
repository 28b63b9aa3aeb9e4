//! Message shapes, ids, errors and the setup handshake.

use crate::harness::{Harness, JobView, address, error_line, spec, true_line};
use otedama_sharechain::test_utils::script;
use otedama_sharechain::{Difficulty, Target};
use serde_json::{Value, json};

#[tokio::test]
async fn subscribe_authorize_then_difficulty_and_notify() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let (id, sub) = c
        .call("mining.subscribe", json!(["cgminer/4.12", null]))
        .await;
    let v: Value = serde_json::from_str(&sub).expect("json");
    let en1 = v["result"][1].as_str().expect("en1").to_owned();
    assert_eq!(en1.len(), 8);
    assert!(en1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        sub,
        format!(
            r#"{{"id":{id},"result":[[["mining.set_difficulty","{en1}"],["mining.notify","{en1}"]],"{en1}",4],"error":null}}"#
        )
    );

    let user = format!("{}.rig1", address(1));
    let (id, auth) = c.call("mining.authorize", json!([user, "secret"])).await;
    assert_eq!(auth, true_line(id));

    // set_difficulty: the share target's difficulty, as the exact f64 sent.
    let template = h.source.template(&script(1));
    let share_target = Target::from_compact(template.info.share_target).expect("valid");
    let d = Difficulty::from_stratum_target(share_target, spec().algorithm).get();
    assert_eq!(
        c.read_line().await,
        format!(
            r#"{{"id":null,"method":"mining.set_difficulty","params":[{}]}}"#,
            Value::from(d)
        )
    );

    let notify = c.read_json().await;
    assert_eq!(notify["id"], Value::Null);
    assert_eq!(notify["method"], "mining.notify");
    let p = &notify["params"];
    let cb = template.coinbase(&[0; 8]).expect("coinbase");
    let (c1, c2) = cb.stratum_parts();
    let branch: Vec<String> = template.merkle_branch.iter().map(hex::encode).collect();
    assert_eq!(branch.len(), 2);
    let job_id = p[0].as_str().expect("job id");
    assert!(
        u64::from_str_radix(job_id, 16).is_ok(),
        "hex job id {job_id}"
    );
    assert_eq!(
        p,
        &json!([
            job_id,
            // prev_block internal bytes 00 01 .. 1f, each 4-byte word reversed.
            "03020100070605040b0a09080f0e0d0c13121110171615141b1a19181f1e1d1c",
            hex::encode(c1),
            hex::encode(c2),
            branch,
            "20000000",
            "207fffff",
            "6553f100",
            true
        ])
    );
}

#[tokio::test]
async fn pipelined_setup_is_answered_in_order() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let user = address(2);
    let batch = format!(
        concat!(
            r#"{{"id":1,"method":"mining.configure","params":[["version-rolling"],{{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16}}]}}"#,
            "\n",
            r#"{{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.5.0"]}}"#,
            "\r\n",
            r#"{{"id":3,"method":"mining.authorize","params":["{}","x"],"jsonrpc":"2.0"}}"#,
            "\n",
            r#"{{"id":4,"method":"mining.suggest_difficulty","params":[1000]}}"#,
            "\n",
            r#"{{"id":5,"method":"mining.extranonce.subscribe","params":[]}}"#,
            "\n"
        ),
        user
    );
    c.send_raw(batch.as_bytes()).await;
    assert_eq!(
        c.read_json().await,
        json!({"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null})
    );
    assert_eq!(c.read_json().await["id"], 2);
    assert_eq!(c.read_line().await, true_line(3));
    assert_eq!(
        c.notification("mining.set_difficulty")
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(JobView::parse(&c.notification("mining.notify").await).clean);
    assert_eq!(c.read_line().await, true_line(4));
    assert_eq!(c.read_line().await, true_line(5));
}

#[tokio::test]
async fn configure_masks_and_refuses_unknown_extensions() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let (id, line) = c
        .call(
            "mining.configure",
            json!([
                ["minimum-difficulty", "version-rolling", "x-unknown"],
                {"version-rolling.mask": "00ffe000", "version-rolling.min-bit-count": 16,
                 "minimum-difficulty.value": 0.5}
            ]),
        )
        .await;
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(
        v,
        json!({"id": id, "result": {"minimum-difficulty": true, "version-rolling": true,
            "version-rolling.mask": "00ffe000", "x-unknown": false}, "error": null})
    );
    // A minimum-difficulty without its value gets an error string (BIP310
    // TExtensionResult), and the connection stays.
    let (id, line) = c
        .call("mining.configure", json!([["minimum-difficulty"], {}]))
        .await;
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["id"], id);
    assert!(v["result"]["minimum-difficulty"].is_string(), "{v}");
}

#[tokio::test]
async fn ids_are_echoed_verbatim() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    for id in [
        r#""abc""#,
        "null",
        "1.5e3",
        "18446744073709551616",
        r#"{"a":[1]}"#,
    ] {
        c.send_line(&format!(
            r#"{{"method":"mining.extranonce.subscribe","id":{id},"params":[]}}"#
        ))
        .await;
        assert_eq!(
            c.read_line().await,
            format!(r#"{{"id":{id},"result":true,"error":null}}"#)
        );
    }
    // No id at all is answered with null.
    c.send_line(r#"{"method":"mining.extranonce.subscribe"}"#)
        .await;
    assert_eq!(
        c.read_line().await,
        r#"{"id":null,"result":true,"error":null}"#
    );
}

#[tokio::test]
async fn unknown_method_is_an_error_and_the_connection_stays() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let (id, line) = c.call("eth_submitLogin", json!(["0x00", "x"])).await;
    assert_eq!(line, error_line(id, 20, "Not supported."));
    let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
}

#[tokio::test]
async fn malformed_lines_are_answered_then_limited() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let malformed = r#"{"id":null,"result":null,"error":[20,"Malformed request",null]}"#;
    c.send_line("this is not json").await;
    assert_eq!(c.read_line().await, malformed);
    // Empty lines are keep-alives, not errors.
    c.send_raw(b"\n\r\n").await;
    let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
    // Invalid params keep the id and do not count as malformed.
    let (id, line) = c.call("mining.authorize", json!([42])).await;
    assert_eq!(
        line,
        error_line(
            id,
            20,
            "Invalid parameters for mining.authorize: username must be a string"
        )
    );
    for _ in 0..9 {
        c.send_line("[1,2,3]").await;
        assert_eq!(c.read_line().await, malformed);
    }
    // The eleventh malformed line ends the session.
    c.send_line("{\"id\":").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn oversized_lines_close_the_connection() {
    let h = Harness::with(|c| c.max_line_bytes = 1024, 16, true).await;
    // Without a newline: closed as soon as the limit is passed.
    let mut c = h.client().await;
    c.send_raw(&[b'a'; 2000]).await;
    c.expect_closed().await;
    // A complete line that is too long.
    let mut c = h.client().await;
    let long = format!(
        r#"{{"id":1,"method":"mining.subscribe","params":["{}"]}}"#,
        "x".repeat(1100)
    );
    c.send_line(&long).await;
    c.expect_closed().await;
    // A line at the limit is fine.
    let mut c = h.client().await;
    let pad = 1024 - r#"{"id":1,"method":"mining.extranonce.subscribe","params":[""]}"#.len();
    let exact = format!(
        r#"{{"id":1,"method":"mining.extranonce.subscribe","params":["{}"]}}"#,
        "x".repeat(pad)
    );
    assert_eq!(exact.len(), 1024);
    c.send_line(&exact).await;
    assert_eq!(c.read_line().await, true_line(1));
}

#[tokio::test]
async fn authorize_errors_name_the_address_problem() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    c.call("mining.subscribe", json!([])).await;
    let (id, line) = c
        .call("mining.authorize", json!(["notanaddress.rig", "x"]))
        .await;
    assert_eq!(
        line,
        error_line(
            id,
            24,
            r#"Invalid payout address: "notanaddress" is not a valid address"#
        )
    );
    let mainnet = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4";
    let (id, line) = c.call("mining.authorize", json!([mainnet, "x"])).await;
    assert_eq!(
        line,
        error_line(
            id,
            24,
            &format!(r#"Invalid payout address: "{mainnet}" is not an address of btc-regtest"#)
        )
    );
    let (id, line) = c.call("mining.authorize", json!(["", "x"])).await;
    assert_eq!(
        line,
        error_line(
            id,
            24,
            "Invalid user name: expected ADDRESS or ADDRESS.worker"
        )
    );

    // The first good address fixes the payout; another address is refused, another
    // worker of the same address is fine.
    let (id, line) = c.call("mining.authorize", json!([address(1), "x"])).await;
    assert_eq!(line, true_line(id));
    c.notification("mining.set_difficulty").await;
    c.notification("mining.notify").await;
    let (id, line) = c.call("mining.authorize", json!([address(2), "x"])).await;
    assert_eq!(
        line,
        error_line(
            id,
            24,
            &format!(
                "This connection already pays {}; open another connection for another address",
                address(1)
            )
        )
    );
    let (id, line) = c
        .call(
            "mining.authorize",
            json!([format!("{}.rig2", address(1)), "x"]),
        )
        .await;
    assert_eq!(line, true_line(id));
    // No second job for a second worker: the next line answers the next request.
    let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
}

#[tokio::test]
async fn authorize_before_subscribe_waits_for_subscribe() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let (id, line) = c.call("mining.authorize", json!([address(1), "x"])).await;
    assert_eq!(line, true_line(id));
    let (id, line) = c.call("mining.subscribe", json!([])).await;
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["id"], id);
    c.notification("mining.set_difficulty").await;
    assert!(JobView::parse(&c.notification("mining.notify").await).clean);
}

#[tokio::test]
async fn work_published_after_authorize_is_sent() {
    let mut h = Harness::with(|_| {}, 16, false).await;
    let mut c = h.client().await;
    c.call("mining.subscribe", json!([])).await;
    let (id, line) = c.call("mining.authorize", json!([address(1), "x"])).await;
    assert_eq!(line, true_line(id));
    let source = h.source.clone();
    h.publish(source, false);
    c.notification("mining.set_difficulty").await;
    let job = JobView::parse(&c.notification("mining.notify").await);
    assert!(job.clean, "a session's first job is always clean");
}
