//! Difficulty: vardiff in both directions, jobs judged at the difficulty they were sent
//! with, suggestions at any time, `d=` in the password, integer-parsing firmware and
//! rentals.

use crate::harness::{Harness, JobView, Miner, address, reject_line, spec, target_of, true_line};
use serde_json::{Value, json};
use std::time::Duration;

const EN2: [u8; 4] = [0, 0, 0, 9];

/// A line `mining.set_difficulty` carries, as JSON.
fn difficulty_of(params: &Value) -> f64 {
    params[0].as_f64().expect("a number")
}

#[tokio::test]
async fn vardiff_raises_the_difficulty_and_old_jobs_stay_valid() {
    let h = Harness::with(
        |c| {
            c.start_difficulty = Some(1e-12);
            c.min_difficulty = 1e-13;
            c.vardiff.retarget_shares = 8;
        },
        64,
        true,
    )
    .await;
    let share = h.share_difficulty();
    let mut m = h.miner().await;
    assert_eq!(m.difficulty, 1e-12);
    let first = m.job.clone();
    // Eight shares within a second are far above 18 a minute.
    for i in 0..8u32 {
        let (id, line) = m.submit(&first.id, &EN2, first.ntime, i).await;
        assert_eq!(line, true_line(id));
    }
    let raised = difficulty_of(&m.client.notification("mining.set_difficulty").await);
    assert!(raised > 1e-10, "raised to {raised}");
    assert!(raised <= share, "never above the share difficulty");
    let second = JobView::parse(&m.client.notification("mining.notify").await);
    assert!(!second.clean, "a retarget keeps older jobs");
    assert_ne!(second.id, first.id);
    assert_eq!(h.stats.snapshot().retargets, 1);

    // The old job is still judged at 1e-12: a hash missing the new target is fine.
    let (nonce, _) = m.grind_job(&first, raised, &EN2, 100, false);
    let (id, line) = m.submit(&first.id, &EN2, first.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    // The new job is judged at the new difficulty.
    let (nonce, _) = m.grind_job(&second, raised, &EN2, 0, false);
    let (id, line) = m.submit(&second.id, &EN2, second.ntime, nonce).await;
    assert_eq!(line, reject_line(id, 23, "Low difficulty share"));
    let (nonce, _) = m.grind_job(&second, raised, &EN2, 0, true);
    let (id, line) = m.submit(&second.id, &EN2, second.ntime, nonce).await;
    assert_eq!(line, true_line(id));
}

#[tokio::test]
async fn silence_lowers_the_difficulty_and_easier_shares_count_on_old_jobs() {
    let h = Harness::with(
        |c| {
            c.min_difficulty = 1e-13;
            c.vardiff.shares_per_minute = 600.0;
            c.vardiff.retarget_interval = Duration::from_millis(200);
        },
        64,
        true,
    )
    .await;
    let share = h.share_difficulty();
    let mut m = h.miner().await;
    assert_eq!(m.difficulty, share, "starts at the share difficulty");
    let first = m.job.clone();
    // No share for a window of 200 ms at 10 shares a second wanted: about half.
    let lowered = difficulty_of(&m.client.notification("mining.set_difficulty").await);
    assert!(lowered < share / 1.5, "{lowered} vs {share}");
    let second = JobView::parse(&m.client.notification("mining.notify").await);
    assert!(!second.clean);
    // A miner that applies the lower difficulty to the job it is mining is not
    // penalised: old jobs accept down to the easiest difficulty sent since.
    let easy = target_of(lowered);
    let hard = target_of(share);
    let nonce = (0u32..)
        .find(|&n| {
            let pow =
                spec()
                    .algorithm
                    .hash(&first.header(&m.en1, &EN2, first.ntime, n, first.version));
            easy.is_met_by(&pow) && !hard.is_met_by(&pow)
        })
        .expect("a nonce between the two targets");
    let (id, line) = m.submit(&first.id, &EN2, first.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    assert!(h.stats.snapshot().retargets >= 1);
}

#[tokio::test]
async fn suggestions_apply_before_and_after_authorize() {
    let h = Harness::with(|c| c.min_difficulty = 1e-13, 16, true).await;
    let mut c = h.client().await;
    // WhatsMiner suggests before subscribing.
    let (id, line) = c.call("mining.suggest_difficulty", json!([1e-11])).await;
    assert_eq!(line, true_line(id));
    let mut m = Miner::start(c, &address(1)).await;
    assert_eq!(m.difficulty, 1e-11);
    // Bitaxe and NerdMiner suggest after authorize: the answer, then the change.
    let (id, line) = m
        .client
        .call("mining.suggest_difficulty", json!([2e-11]))
        .await;
    assert_eq!(line, true_line(id));
    let d = difficulty_of(&m.client.notification("mining.set_difficulty").await);
    assert_eq!(d, 2e-11);
    assert!(!JobView::parse(&m.client.notification("mining.notify").await).clean);
    // The same suggestion again (NerdMiner, every 30 s) changes nothing, and a
    // notification (null id) gets no answer.
    let (id, line) = m
        .client
        .call("mining.suggest_difficulty", json!([2e-11]))
        .await;
    assert_eq!(line, true_line(id));
    m.client
        .send_line(r#"{"id":null,"method":"mining.suggest_difficulty","params":[2e-11]}"#)
        .await;
    let (id, line) = m
        .client
        .call("mining.extranonce.subscribe", json!([]))
        .await;
    assert_eq!(line, true_line(id), "nothing in between");
}

#[tokio::test]
async fn password_difficulty_and_bfgminer_target_suggestion() {
    let h = Harness::with(|c| c.min_difficulty = 1e-13, 16, true).await;
    let mut c = h.client().await;
    c.call("mining.subscribe", json!(["cgminer/4.12.1"])).await;
    let (id, line) = c
        .call("mining.authorize", json!([address(1), "x,d=3e-11"]))
        .await;
    assert_eq!(line, true_line(id));
    assert_eq!(
        difficulty_of(&c.notification("mining.set_difficulty").await),
        3e-11
    );
    c.notification("mining.notify").await;

    // mining.suggest_target: difficulty = diff1 / target.
    let target = format!("{:064x}", 1u128 << 100);
    let (id, line) = c.call("mining.suggest_target", json!([target])).await;
    assert_eq!(line, true_line(id));
    let d = difficulty_of(&c.notification("mining.set_difficulty").await);
    let want = 65535.0 * 2f64.powi(208) / 2f64.powi(100);
    // Capped at the regtest share difficulty.
    assert_eq!(d, want.min(h.share_difficulty()));
}

#[tokio::test]
async fn integer_parsing_firmware_never_gets_fractions() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    c.call("mining.subscribe", json!(["bitaxe/BM1370/v2.9.0"]))
        .await;
    c.call("mining.authorize", json!([address(1), "x"])).await;
    // The regtest share difficulty is far below 1; AxeOS would read 0.
    assert_eq!(
        c.read_line().await,
        r#"{"id":null,"method":"mining.set_difficulty","params":[1]}"#
    );
    c.notification("mining.notify").await;
    let (id, line) = c.call("mining.suggest_difficulty", json!([0.25])).await;
    assert_eq!(line, true_line(id));
    let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id), "still 1: no new set_difficulty");
}

#[tokio::test]
async fn rentals_keep_the_highest_difficulty() {
    let h = Harness::with(
        |c| {
            c.start_difficulty = Some(1e-12);
            c.min_difficulty = 1e-13;
        },
        16,
        true,
    )
    .await;
    let share = h.share_difficulty();
    let mut c = h.client().await;
    c.call("mining.subscribe", json!(["NiceHash/1.0.0"])).await;
    let (id, line) = c.call("mining.suggest_difficulty", json!([1e-12])).await;
    assert_eq!(line, true_line(id));
    c.call("mining.authorize", json!([address(1), "x"])).await;
    assert_eq!(
        difficulty_of(&c.notification("mining.set_difficulty").await),
        share
    );
}
