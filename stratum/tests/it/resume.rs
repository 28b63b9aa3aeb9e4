//! Session resume by extranonce1 and `mining.set_extranonce`.

use crate::harness::{Harness, JobView, Miner, address, true_line, wait_until};
use serde_json::{Value, json};

const EN2: [u8; 4] = [0, 0, 2, 0];

fn en1_of(subscribe_reply: &str) -> String {
    let v: Value = serde_json::from_str(subscribe_reply).expect("json");
    v["result"][1].as_str().expect("en1").to_owned()
}

#[tokio::test]
async fn a_reconnecting_client_gets_its_extranonce1_back_when_free() {
    let h = Harness::start().await;
    let mut a = h.client().await;
    let (_, line) = a.call("mining.subscribe", json!(["cgminer/4.12.1"])).await;
    let old = en1_of(&line);
    // While the old session holds it, a resume gets a fresh value.
    let mut b = h.client().await;
    let (_, line) = b
        .call("mining.subscribe", json!(["cgminer/4.12.1", old]))
        .await;
    assert_ne!(en1_of(&line), old);
    drop(a);
    wait_until("the old session to end", || {
        h.stats.snapshot().connections == 1
    })
    .await;
    let mut c = h.client().await;
    let (id, line) = c
        .call("mining.subscribe", json!(["cgminer/4.12.1", old]))
        .await;
    assert_eq!(
        line,
        format!(
            r#"{{"id":{id},"result":[[["mining.set_difficulty","{old}"],["mining.notify","{old}"]],"{old}",4],"error":null}}"#
        )
    );
    assert_eq!(h.stats.snapshot().resumed_sessions, 1);
}

#[tokio::test]
async fn a_moved_session_gets_set_extranonce_and_old_jobs_keep_their_extranonce() {
    let mut h = Harness::start().await;
    // A value to move to: held by a session that then leaves.
    let mut other = h.client().await;
    let (_, line) = other.call("mining.subscribe", json!([])).await;
    let free = en1_of(&line);
    drop(other);
    wait_until("the other session to end", || {
        h.stats.snapshot().connections == 0
    })
    .await;

    let mut c = h.client().await;
    let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
    let mut m = Miner::start(c, &address(1)).await;
    let first = m.job.clone();
    let old_en1 = m.en1.clone();
    // Re-subscribing with another session id moves the session (a proxy such as
    // NiceHash reconnecting its upstream on the same socket).
    let (_, line) = m
        .client
        .call("mining.subscribe", json!(["NiceHash/1.0.0", free]))
        .await;
    assert_eq!(en1_of(&line), free);
    assert_eq!(
        m.client.read_line().await,
        format!(r#"{{"id":null,"method":"mining.set_extranonce","params":["{free}",4]}}"#)
    );
    let moved = JobView::parse(&m.client.notification("mining.notify").await);
    assert!(moved.clean, "work must be re-sent and restarted");

    // A share for the new job is built with the new extranonce1...
    m.en1 = hex::decode(&free).expect("hex");
    m.job = moved.clone();
    let (nonce, _) = m.grind(&EN2, 0, true);
    let (id, line) = m.submit(&moved.id, &EN2, moved.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    let sub = h.next_submission().await;
    assert_eq!(sub.extranonce[..4], m.en1[..]);
    // ...and one still in flight for the old job with the old one.
    m.en1 = old_en1.clone();
    m.job = first.clone();
    let (nonce, _) = m.grind(&EN2, 0, true);
    let (id, line) = m.submit(&first.id, &EN2, first.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    let sub = h.next_submission().await;
    assert_eq!(sub.extranonce[..4], old_en1[..]);
}
