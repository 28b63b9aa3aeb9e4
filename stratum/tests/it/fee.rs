//! The operator's fee: a share of an external miner's jobs pays the operator's
//! address, chosen per job; the operator's own miners pay nothing.

use crate::harness::{Client, Harness, Miner, TestSource, address, lan_ip, true_line};
use crate::view::JobView;
use otedama_sharechain::PowAlgorithm;
use otedama_sharechain::test_utils::script;
use otedama_stratum::OperatorFee;
use serde_json::{Value, json};

/// Subscribes and authorizes as the miner paid by `script(n)`; returns the miner and
/// the `client.show_message` text it got before its first job, if any.
async fn connect(h: &Harness, n: u32) -> (Miner, Option<String>) {
    connect_with(h.client().await, n).await
}

/// As [`connect`], over `client`.
async fn connect_with(mut client: Client, n: u32) -> (Miner, Option<String>) {
    let (_, sub) = client
        .call("mining.subscribe", json!(["test-miner/1.0"]))
        .await;
    let sub: Value = serde_json::from_str(&sub).expect("json");
    let en1 = hex::decode(sub["result"][1].as_str().expect("en1")).expect("hex");
    let username = format!("{}.rig", address(n));
    let (id, auth) = client
        .call("mining.authorize", json!([username, "x"]))
        .await;
    assert_eq!(auth, true_line(id));
    let mut message = None;
    let mut next = client.read_json().await;
    if next["method"] == "client.show_message" {
        message = next["params"][0].as_str().map(str::to_owned);
        next = client.read_json().await;
    }
    assert_eq!(next["method"], "mining.set_difficulty", "{next}");
    let difficulty = next["params"][0].as_f64().expect("number");
    let job = JobView::parse(&client.notification("mining.notify").await);
    let miner = Miner {
        client,
        en1,
        username,
        difficulty,
        job,
        algo: PowAlgorithm::Sha256d,
    };
    (miner, message)
}

/// Mines one share on each of `n` fresh jobs; returns how many paid `script(9)`.
async fn shares_to_operator(h: &mut Harness, m: &mut Miner, n: u32) -> u32 {
    let mut to_operator = 0;
    for i in 0..n {
        h.publish(TestSource::new(100 + i % 2), true);
        m.job = JobView::parse(&m.client.notification("mining.notify").await);
        let en2 = i.to_be_bytes();
        let (nonce, _) = m.grind(&en2, 0, true);
        let (job, ntime) = (m.job.id.clone(), m.job.ntime);
        let (id, line) = m.submit(&job, &en2, ntime, nonce).await;
        assert_eq!(line, true_line(id));
        let sub = h.next_submission().await;
        // The share itself (its template) pays whom the submission says.
        assert_eq!(sub.template.info.payout_script, sub.payout);
        if sub.payout == script(9) {
            to_operator += 1;
        } else {
            assert_eq!(sub.payout, script(1));
        }
    }
    to_operator
}

fn fee(percent: f64) -> OperatorFee {
    // Test miners connect over loopback, which is exempt in a node.
    OperatorFee::new(percent, script(9), address(9))
        .expect("valid fee")
        .charging_loopback()
}

#[tokio::test]
async fn an_external_miners_shares_pay_the_operator_at_the_fee_rate() {
    const SHARES: u32 = 400;
    let mut h = Harness::with(|c| c.fee = Some(fee(10.0)), 64, true).await;
    let (mut m, message) = connect(&h, 1).await;
    assert_eq!(
        message.as_deref(),
        Some(
            format!(
                "This node charges a 10% fee: that share of your jobs pays {}; the rest pay you.",
                address(9)
            )
            .as_str()
        )
    );
    let taken = shares_to_operator(&mut h, &mut m, SHARES).await;
    // Binomial(400, 0.1): mean 40, standard deviation 6; 5 deviations either side.
    assert!((10..=70).contains(&taken), "{taken} of {SHARES} shares");
}

#[tokio::test]
async fn zero_percent_and_the_operators_own_address_pay_no_fee() {
    let mut h = Harness::with(|c| c.fee = Some(fee(0.0)), 64, true).await;
    let (mut m, message) = connect(&h, 1).await;
    assert_eq!(message, None);
    assert_eq!(shares_to_operator(&mut h, &mut m, 50).await, 0);

    let own = fee(10.0).exempting(script(1));
    let mut h = Harness::with(|c| c.fee = Some(own), 64, true).await;
    let (mut m, message) = connect(&h, 1).await;
    assert_eq!(message, None);
    assert_eq!(shares_to_operator(&mut h, &mut m, 50).await, 0);
}

#[tokio::test]
async fn loopback_miners_are_the_operators_own() {
    let exempt = OperatorFee::new(10.0, script(9), address(9)).expect("valid fee");
    let mut h = Harness::with(|c| c.fee = Some(exempt), 64, true).await;
    let (mut m, message) = connect(&h, 1).await;
    assert_eq!(message, None);
    assert_eq!(shares_to_operator(&mut h, &mut m, 50).await, 0);
}

#[tokio::test]
async fn a_miner_from_another_address_is_charged_by_a_nodes_fee() {
    // As a node sets it: loopback exempt. The miner connects from this machine's LAN
    // address, as an outside miner would (skipped where there is none).
    let Some(ip) = lan_ip() else {
        eprintln!("no non-loopback address on this machine: skipped");
        return;
    };
    let fee = OperatorFee::new(10.0, script(9), address(9)).expect("valid fee");
    let mut h = Harness::with(
        |c| {
            c.listen = "0.0.0.0:0".parse().expect("valid");
            c.fee = Some(fee);
        },
        64,
        true,
    )
    .await;
    let (mut m, message) = connect_with(h.client_at(ip).await, 1).await;
    assert!(message.is_some_and(|m| m.contains("10% fee")));
    let taken = shares_to_operator(&mut h, &mut m, 200).await;
    // Binomial(200, 0.1): mean 20, standard deviation 4.2; 5 deviations either side.
    assert!((1..=41).contains(&taken), "{taken} of 200 shares");
}
