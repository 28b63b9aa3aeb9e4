//! The decisions over daemon answers. The JSON shapes are litecoind 0.21's answers on
//! regtest (`getblockheader`, `getblock <hash> 1`, `getrawtransaction <txid> true`),
//! trimmed to the fields read.

use super::task::{
    IDLE_RECHECK, MATURE_RECHECK, MAX_CALLS_PER_PASS, Prover, RETRY_AFTER, Seen, due,
};
use super::*;
use crate::config::{ChainConfig, DaemonConfig, Secret};
use crate::parent::{ParentClient, ParentTip};
use crate::tracker::{BlockOutcome, BlockRecord, Blocks};
use otedama_sharechain::BlockHash;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn known(confirmations: i64) -> DaemonView {
    DaemonView::Known { confirmations }
}

#[test]
fn on_the_best_chain_a_block_is_confirmed_with_the_daemons_count() {
    let v = decide(known(1), 50, Some(50));
    assert_eq!((v.state, v.confirmations), (ChainState::Confirmed, 1));
    let v = decide(known(7), 50, Some(56));
    assert_eq!((v.state, v.confirmations), (ChainState::Confirmed, 7));
    // A count above u32 saturates instead of wrapping.
    let v = decide(known(i64::MAX), 50, None);
    assert_eq!(v.confirmations, u32::MAX);
}

#[test]
fn off_the_best_chain_a_known_block_is_orphaned() {
    let v = decide(known(-1), 50, Some(49));
    assert_eq!((v.state, v.confirmations), (ChainState::Orphaned, 0));
}

#[test]
fn an_unknown_block_stays_pending_until_the_chain_is_well_past_it() {
    assert_eq!(
        decide(DaemonView::Unknown, 50, None).state,
        ChainState::Pending
    );
    assert_eq!(
        decide(DaemonView::Unknown, 50, Some(50 + ORPHAN_DEPTH - 1)).state,
        ChainState::Pending
    );
    assert_eq!(
        decide(DaemonView::Unknown, 50, Some(50 + ORPHAN_DEPTH)).state,
        ChainState::Orphaned
    );
    // Near the top of the height range nothing overflows.
    assert_eq!(
        decide(DaemonView::Unknown, u32::MAX, Some(u32::MAX)).state,
        ChainState::Pending
    );
}

#[test]
fn maturity_takes_a_hundred_confirmations_on_the_best_chain() {
    let p = |state, confirmations| ChainProof {
        state,
        confirmations,
        checked_at: 0,
        coinbase_matches: None,
        coinbase_onchain: Vec::new(),
    };
    assert!(!p(ChainState::Confirmed, 99).mature());
    assert!(p(ChainState::Confirmed, 100).mature());
    assert!(!p(ChainState::Orphaned, 100).mature());
    // Worth a log line: a first proof, a new state, maturity, a coinbase verdict.
    let c1 = p(ChainState::Confirmed, 1);
    assert!(c1.worth_persisting(None));
    assert!(!p(ChainState::Confirmed, 2).worth_persisting(Some(&c1)));
    assert!(p(ChainState::Confirmed, 100).worth_persisting(Some(&c1)));
    assert!(p(ChainState::Orphaned, 0).worth_persisting(Some(&c1)));
    let mut checked = c1.clone();
    checked.coinbase_matches = Some(false);
    assert!(checked.worth_persisting(Some(&c1)));
}

fn daemon_error(code: i64) -> ParentError {
    ParentError::Daemon {
        endpoint: "http://127.0.0.1:1".into(),
        method: "getblockheader".into(),
        code,
        message: "Block not found".into(),
    }
}

#[test]
fn answers_are_read_into_views() {
    let header = json!({"hash": "ab", "confirmations": 3, "height": 51});
    assert_eq!(
        view_of("getblockheader", Ok(header)).expect("a view"),
        known(3)
    );
    let side = json!({"hash": "ab", "confirmations": -1, "height": 51});
    assert_eq!(
        view_of("getblockheader", Ok(side)).expect("a view"),
        known(-1)
    );
    // "Block not found", alone or among failover errors, is an unknown block.
    assert_eq!(
        view_of("getblockheader", Err(daemon_error(-5))).expect("a view"),
        DaemonView::Unknown
    );
    let unreachable = ParentError::Unreachable {
        endpoint: "http://127.0.0.1:2".into(),
        reason: "connection refused".into(),
    };
    let both = ParentError::AllFailed(vec![unreachable, daemon_error(-5)]);
    assert_eq!(
        view_of("getblockheader", Err(both)).expect("a view"),
        DaemonView::Unknown
    );
    // Anything else is an error that keeps the old state.
    let e = view_of("getblockheader", Err(daemon_error(-8))).expect_err("invalid hash");
    assert!(!e.unreachable());
    let down = ParentError::AllFailed(vec![ParentError::Unreachable {
        endpoint: "http://127.0.0.1:2".into(),
        reason: "connection refused".into(),
    }]);
    assert!(
        view_of("getblockheader", Err(down))
            .expect_err("down")
            .unreachable()
    );
    assert!(matches!(
        view_of("getblockheader", Ok(json!({"hash": "ab"}))),
        Err(ProofError::Malformed { .. })
    ));
    assert!(matches!(
        view_of("getblockheader", Ok(json!(null))),
        Err(ProofError::Malformed { .. })
    ));
}

#[test]
fn the_coinbase_is_the_first_transaction() {
    let block = json!({"confirmations": 1, "tx": ["cb00", "tx01"]});
    assert_eq!(coinbase_txid(&block).expect("txid"), "cb00");
    assert!(coinbase_txid(&json!({"tx": []})).is_err());
    assert!(coinbase_txid(&json!({"tx": [5]})).is_err());
    assert!(coinbase_txid(&json!({})).is_err());
}

/// A regtest coinbase of two payouts and the witness commitment (values in coins, as
/// the daemon prints them).
fn coinbase() -> serde_json::Value {
    json!({"txid": "cb00", "vout": [
        {"value": 25.43247423, "n": 0, "scriptPubKey": {"hex": "0014A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1", "type": "witness_v0_keyhash"}},
        {"value": 24.56752577, "n": 1, "scriptPubKey": {"hex": "76a914b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b288ac", "type": "pubkeyhash"}},
        {"value": 0.0, "n": 2, "scriptPubKey": {"hex": "6a24aa21a9ed00", "type": "nulldata"}}
    ]})
}

#[test]
fn coinbase_outputs_decode_to_scripts_and_base_units() {
    let got = paying_outputs(&coinbase()).expect("outputs");
    assert_eq!(
        got,
        vec![
            (
                "0014a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1".to_string(),
                2_543_247_423
            ),
            (
                "76a914b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b288ac".to_string(),
                2_456_752_577
            ),
        ]
    );
    // 0.1 + 0.2 style values still round to the exact base unit.
    let tx = json!({"vout": [{"value": 0.3, "scriptPubKey": {"hex": "51"}}]});
    assert_eq!(
        paying_outputs(&tx).expect("ok"),
        vec![("51".into(), 30_000_000)]
    );
}

#[test]
fn a_whole_decoded_block_yields_its_coinbase() {
    let block = json!({"hash": "00", "confirmations": 1, "tx": [coinbase(), {"txid": "ff"}]});
    let tx = coinbase_tx(&block).expect("coinbase");
    assert_eq!(paying_outputs(tx).expect("outputs").len(), 2);
    // `getblock <hash> 1` lists ids only: not a decoded transaction.
    let ids = json!({"tx": ["cb00"]});
    assert!(matches!(
        coinbase_tx(&ids),
        Err(ProofError::Malformed { .. })
    ));
    assert!(coinbase_tx(&json!({"tx": []})).is_err());
}

#[test]
fn a_usage_answer_is_a_refused_argument_list() {
    let daemon = |code| ParentError::Daemon {
        endpoint: "http://127.0.0.1:1".into(),
        method: "getrawtransaction".into(),
        code,
        message: "getrawtransaction \"txid\" ( verbose )".into(),
    };
    assert!(refused_arguments(&daemon(-1)));
    assert!(
        !refused_arguments(&daemon(-5)),
        "not found is not a refusal"
    );
    assert!(refused_arguments(&ParentError::AllFailed(vec![
        daemon(-1),
        daemon(-1)
    ])));
    assert!(!refused_arguments(&ParentError::AllFailed(vec![
        daemon(-1),
        daemon(-5)
    ])));
    assert!(!refused_arguments(&ParentError::AllFailed(Vec::new())));
}

#[test]
fn bad_coinbase_answers_are_errors_not_panics() {
    let out = |o: serde_json::Value| paying_outputs(&json!({"vout": [o]}));
    assert!(paying_outputs(&json!({})).is_err());
    assert!(out(json!({"value": 1.0})).is_err());
    assert!(out(json!({"value": 1.0, "scriptPubKey": {"hex": "zz"}})).is_err());
    assert!(out(json!({"value": 1.0, "scriptPubKey": {"hex": "abc"}})).is_err());
    assert!(out(json!({"value": -1.0, "scriptPubKey": {"hex": "51"}})).is_err());
    assert!(out(json!({"value": 1e300, "scriptPubKey": {"hex": "51"}})).is_err());
    assert!(out(json!({"value": "1.0", "scriptPubKey": {"hex": "51"}})).is_err());
    let many: Vec<_> = (0..=MAX_COINBASE_OUTPUTS)
        .map(|_| json!({"value": 1.0, "scriptPubKey": {"hex": "51"}}))
        .collect();
    assert!(paying_outputs(&json!({ "vout": many })).is_err());
}

#[test]
fn the_coinbase_matches_the_recorded_payouts_in_any_order() {
    let onchain = paying_outputs(&coinbase()).expect("outputs");
    let mut recorded: Vec<(String, u64)> = onchain.iter().rev().cloned().collect();
    recorded[0].0 = recorded[0].0.to_ascii_uppercase();
    assert!(coinbase_matches(&recorded, &onchain));
    let mut short = recorded.clone();
    short[1].1 -= 1;
    assert!(!coinbase_matches(&short, &onchain));
    assert!(!coinbase_matches(&recorded[..1], &onchain));
    let mut extra = recorded.clone();
    extra.push(("51".into(), 1));
    assert!(!coinbase_matches(&extra, &onchain));
}

#[test]
fn checks_are_due_on_new_tips_and_rarely_once_mature() {
    let t0 = Instant::now();
    let a = Some(BlockHash::from_bytes([1; 32]));
    let b = Some(BlockHash::from_bytes([2; 32]));
    let seen = |ok| Some(Seen { at: t0, tip: a, ok });
    let at = |secs| t0 + Duration::from_secs(secs);
    assert!(due(None, false, a, t0), "never checked");
    assert!(!due(seen(true), false, a, at(1)), "same tip");
    assert!(due(seen(true), false, b, at(1)), "new tip");
    assert!(
        due(seen(true), false, a, t0 + IDLE_RECHECK),
        "no tip for long"
    );
    assert!(!due(seen(false), false, a, at(1)), "a failure waits");
    assert!(due(seen(false), false, a, t0 + RETRY_AFTER));
    assert!(
        !due(seen(true), true, b, at(60)),
        "mature: new tips do not count"
    );
    assert!(due(seen(true), true, b, t0 + MATURE_RECHECK));
}

fn client(url: String) -> ParentClient {
    let chain = ChainConfig {
        spec: "ltc-regtest".into(),
        daemons: vec![DaemonConfig {
            url,
            user: Some("user".into()),
            password: Some(Secret::new("pass")),
            cookie_file: None,
            zmq: None,
        }],
    };
    ParentClient::new(&chain, None).expect("client")
}

/// A daemon stand-in that answers every call with "Block not found" (as Bitcoin Core
/// does: HTTP 500 and a JSON-RPC error) and counts the calls.
async fn not_found_daemon(calls: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // One request per connection, small: read to the end of the JSON body.
                while !buf.ends_with(b"}") && buf.len() < 64 * 1024 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                calls.fetch_add(1, Ordering::Relaxed);
                let body = r#"{"result":null,"error":{"code":-5,"message":"Block not found"},"id":"otedama"}"#;
                let reply = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn found(height: u32, chain: Option<ChainProof>) -> BlockRecord {
    BlockRecord {
        height,
        hash: format!("{height:064x}"),
        share: "11".repeat(32),
        time: 5,
        outcome: BlockOutcome::Accepted,
        payouts: vec![("51".into(), 7)],
        chain,
    }
}

fn tip(height: u32) -> Option<ParentTip> {
    Some(ParentTip {
        hash: BlockHash::from_bytes([height as u8; 32]),
        height,
    })
}

#[tokio::test]
async fn a_pass_spends_a_bounded_number_of_calls_and_the_rest_follow() {
    let calls = Arc::new(AtomicUsize::new(0));
    let url = not_found_daemon(Arc::clone(&calls)).await;
    let blocks = Arc::new(Blocks::load(None));
    for h in 1..=100 {
        blocks.push(found(h, None));
    }
    let mut prover = Prover::new(client(url), Arc::clone(&blocks));
    prover.pass(tip(100)).await;
    assert_eq!(calls.load(Ordering::Relaxed), MAX_CALLS_PER_PASS);
    // The newest were checked first; unknown to the daemon, they are pending, and the
    // oldest (the chain well past them) orphaned.
    let records = blocks.newest_first();
    let state = |r: &BlockRecord| r.chain.as_ref().map(|c| c.state);
    assert_eq!(state(&records[0]), Some(ChainState::Pending));
    assert_eq!(state(&records[MAX_CALLS_PER_PASS]), None);
    // Later passes at the same tip check the rest, never the ones already checked.
    for _ in 0..4 {
        prover.pass(tip(100)).await;
    }
    assert_eq!(calls.load(Ordering::Relaxed), 100);
    let records = blocks.newest_first();
    assert_eq!(state(&records[99]), Some(ChainState::Orphaned));
    prover.pass(tip(100)).await;
    assert_eq!(
        calls.load(Ordering::Relaxed),
        100,
        "nothing due at the same tip"
    );
}

#[tokio::test]
async fn an_unreachable_daemon_keeps_every_record_and_state() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let blocks = Arc::new(Blocks::load(None));
    let confirmed = ChainProof {
        state: ChainState::Confirmed,
        confirmations: 3,
        checked_at: 9,
        coinbase_matches: Some(true),
        coinbase_onchain: Vec::new(),
    };
    blocks.push(found(1, Some(confirmed.clone())));
    blocks.push(found(2, None));
    let mut prover = Prover::new(
        client(format!("http://127.0.0.1:{port}")),
        Arc::clone(&blocks),
    );
    prover.pass(tip(10)).await;
    let records = blocks.newest_first();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].chain, None);
    assert_eq!(records[1].chain, Some(confirmed));
    // The first failure ends the pass; it is retried later.
    let seen = prover.seen(&records[0].hash).expect("tried");
    assert!(!seen.ok);
    assert_eq!(prover.seen(&records[1].hash), None);
}
