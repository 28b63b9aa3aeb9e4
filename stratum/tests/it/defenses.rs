//! Bans and their limits: malformed input, invalid proof-of-work floods and connection
//! floods ban an address for a while; stale shares, low shares right after a retarget
//! and anything from loopback never do. Tests that need a non-loopback client use this
//! machine's own LAN address; on a machine without one they fail unless
//! `OTEDAMA_SKIP_LAN_TESTS=1` skips them (with a note).

use crate::harness::{
    Harness, JobView, Miner, address, lan_ip, reject_line, true_line, wait_until,
};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

const EN2: [u8; 4] = [0, 0, 1, 2];

/// Skips the tests that need a non-loopback address when set to exactly `1`.
const SKIP_LAN: &str = "OTEDAMA_SKIP_LAN_TESTS";

/// This machine's LAN address; `None` (the test skips) only when opted out.
fn lan() -> Option<IpAddr> {
    let ip = lan_ip();
    if ip.is_none() {
        assert!(
            std::env::var_os(SKIP_LAN).is_some_and(|v| v == "1"),
            "no non-loopback address on this machine: the ban tests need one \
             (set {SKIP_LAN}=1 to skip them)"
        );
        eprintln!("no non-loopback address on this machine: ban test skipped ({SKIP_LAN}=1)");
    }
    ip
}

/// A server on every interface, so LAN clients can reach it.
async fn open_server(tweak: impl FnOnce(&mut otedama_stratum::StratumConfig)) -> Harness {
    Harness::with(
        |c| {
            c.listen = "0.0.0.0:0".parse().expect("valid");
            tweak(c);
        },
        64,
        true,
    )
    .await
}

#[tokio::test]
async fn malformed_input_bans_the_address_but_not_loopback() {
    let Some(ip) = lan() else { return };
    let h = open_server(|c| c.bans.max_malformed = 2).await;
    let mut c = h.client_at(ip).await;
    for _ in 0..3 {
        c.send_line("GET / HTTP/1.1").await;
    }
    c.expect_closed().await;
    wait_until("the ban", || h.stats.snapshot().bans_malformed == 1).await;
    // Refused on sight for the ban's duration.
    h.client_at(ip).await.expect_closed().await;
    wait_until("the refusal count", || {
        h.stats.snapshot().refused_banned >= 1
    })
    .await;
    // The same offence from loopback is counted, closed, and not banned.
    let mut local = h.client().await;
    for _ in 0..3 {
        local.send_line("GET / HTTP/1.1").await;
    }
    local.expect_closed().await;
    wait_until("the count", || h.stats.snapshot().bans_malformed == 2).await;
    let mut again = h.client().await;
    let (id, line) = again.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
    assert_eq!(h.stats.snapshot().malformed_closes, 2);
}

#[tokio::test]
async fn an_over_long_line_is_malformed_input() {
    let Some(ip) = lan() else { return };
    let h = open_server(|c| c.max_line_bytes = 512).await;
    let mut c = h.client_at(ip).await;
    c.send_raw(&[b'{'; 600]).await;
    c.expect_closed().await;
    wait_until("the ban", || h.stats.snapshot().bans_malformed == 1).await;
    h.client_at(ip).await.expect_closed().await;
}

#[tokio::test]
async fn an_invalid_pow_flood_bans_the_address() {
    let Some(ip) = lan() else { return };
    let h = open_server(|c| c.bans.invalid_shares = 5).await;
    let mut m = Miner::start(h.client_at(ip).await, &address(1)).await;
    let (job, ntime) = (m.job.id.clone(), m.job.ntime);
    let mut start = 0;
    for i in 0..5 {
        let (nonce, _) = m.grind(&EN2, start, false);
        start = nonce + 1;
        let id = 100 + i;
        let line = json!({"id": id, "method": "mining.submit",
            "params": [m.username, job, hex::encode(EN2), format!("{ntime:08x}"), format!("{nonce:08x}")]});
        m.client.send_line(&line.to_string()).await;
    }
    for i in 0..4 {
        assert_eq!(
            m.client.read_line().await,
            reject_line(100 + i, 23, "Low difficulty share")
        );
    }
    m.client.expect_closed().await;
    wait_until("the ban", || h.stats.snapshot().bans_invalid_pow == 1).await;
    h.client_at(ip).await.expect_closed().await;
}

#[tokio::test]
async fn stale_shares_and_low_shares_after_a_retarget_never_ban() {
    let Some(ip) = lan() else { return };
    let mut h = open_server(|c| {
        c.bans.invalid_shares = 3;
        c.start_difficulty = Some(1e-12);
        c.min_difficulty = 1e-13;
    })
    .await;
    let mut m = Miner::start(h.client_at(ip).await, &address(1)).await;
    // Stale: ten shares for a job that does not exist.
    for n in 0..10 {
        let (id, line) = m.submit("ffff", &EN2, m.job.ntime, n).await;
        assert_eq!(line, reject_line(id, 21, "Job not found"));
    }
    // A difficulty rise, then shares below it on the new job, as a miner that has not
    // applied it yet would send.
    let (id, line) = m
        .client
        .call("mining.suggest_difficulty", json!([1.0]))
        .await;
    assert_eq!(line, true_line(id));
    let raised = m.client.notification("mining.set_difficulty").await[0]
        .as_f64()
        .expect("number");
    let job = JobView::parse(&m.client.notification("mining.notify").await);
    let mut start = 0;
    for _ in 0..5 {
        let (nonce, _) = m.grind_job(&job, raised, &EN2, start, false);
        start = nonce + 1;
        let (id, line) = m.submit(&job.id, &EN2, job.ntime, nonce).await;
        assert_eq!(line, reject_line(id, 23, "Low difficulty share"));
    }
    let s = h.stats.snapshot();
    assert_eq!((s.bans_invalid_pow, s.rejected_low_difficulty), (0, 5));
    // Still connected and mining.
    let (nonce, _) = m.grind_job(&job, raised, &EN2, 0, true);
    let (id, line) = m.submit(&job.id, &EN2, job.ntime, nonce).await;
    assert_eq!(line, true_line(id));
    h.next_submission().await;
}

#[tokio::test]
async fn a_connection_flood_bans_the_address() {
    let Some(ip) = lan() else { return };
    let h = open_server(|c| {
        c.bans.connect_burst = 3;
        c.bans.connect_rate = 0.001;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = h.client_at(ip).await;
        let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
        assert_eq!(line, true_line(id));
        held.push(c);
    }
    h.client_at(ip).await.expect_closed().await;
    wait_until("the ban", || h.stats.snapshot().bans_connection_flood == 1).await;
    // Loopback has no rate limit.
    for _ in 0..5 {
        let mut c = h.client().await;
        let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
        assert_eq!(line, true_line(id));
    }
}

#[tokio::test]
async fn a_client_whose_replies_stall_is_dropped_after_send_timeout() {
    let h = Harness::with(|c| c.send_timeout = Duration::from_millis(300), 16, true).await;
    let stream = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connects");
    let (_unread, mut wr) = stream.into_split();
    // Each reply echoes a 4 KB id; the socket buffers fill, then nothing moves.
    let id = format!("\"{}\"", "i".repeat(4000));
    let line = format!(r#"{{"id":{id},"method":"mining.extranonce.subscribe"}}"#) + "\n";
    let writing = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while wr.write_all(line.as_bytes()).await.is_ok() {}
    });
    tokio::time::timeout(Duration::from_secs(30), writing)
        .await
        .expect("dropped")
        .expect("no panic");
    wait_until("the count", || h.stats.snapshot().slow_client_closes == 1).await;
}
