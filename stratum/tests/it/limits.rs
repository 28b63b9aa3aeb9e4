//! Connection caps, timers, latency and shutdown.

use crate::harness::{Harness, JobView, TestSource, WAIT, true_line};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::time::timeout;

#[tokio::test]
async fn per_ip_cap_refuses_extra_connections() {
    let h = Harness::with(|c| c.max_connections_per_ip = 2, 16, true).await;
    let mut a = h.client().await;
    let mut b = h.client().await;
    for c in [&mut a, &mut b] {
        let (id, line) = c.call("mining.extranonce.subscribe", json!([])).await;
        assert_eq!(line, true_line(id));
    }
    let mut refused = h.client().await;
    refused.expect_closed().await;
    assert_eq!(h.stats.snapshot().refused_connections, 1);
    assert_eq!(h.stats.snapshot().connections, 2);

    // Once a connection goes, its slot is free again.
    drop(a);
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = h.client().await;
        c.send_line(r#"{"id":9,"method":"mining.extranonce.subscribe","params":[]}"#)
            .await;
        if c.try_read_line().await.as_deref() == Some(true_line(9).as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn total_cap_refuses_extra_connections() {
    let h = Harness::with(|c| c.max_connections = 1, 16, true).await;
    let mut a = h.client().await;
    let (id, line) = a.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(line, true_line(id));
    h.client().await.expect_closed().await;
}

#[tokio::test]
async fn sessions_get_distinct_extranonce1() {
    let h = Harness::start().await;
    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = h.client().await;
        let (_, line) = c.call("mining.subscribe", json!([])).await;
        let v: Value = serde_json::from_str(&line).expect("json");
        assert!(seen.insert(v["result"][1].as_str().expect("en1").to_owned()));
        clients.push(c);
    }
}

#[tokio::test]
async fn unauthorized_sessions_are_closed_after_auth_timeout() {
    let h = Harness::with(|c| c.auth_timeout = Duration::from_millis(200), 16, true).await;
    // Authorized first, so its deadline passes before the idle one's.
    let mut m = h.miner().await;
    let mut idle = h.client().await;
    let started = Instant::now();
    idle.call("mining.subscribe", json!([])).await;
    idle.expect_closed().await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "closed too early"
    );
    crate::harness::wait_until("the count", || h.stats.snapshot().auth_timeouts == 1).await;
    // The authorized session outlived its deadline.
    let (id, line) = m
        .client
        .call("mining.extranonce.subscribe", json!([]))
        .await;
    assert_eq!(line, true_line(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_work_reaches_a_session_within_100ms() {
    let mut h = Harness::start().await;
    let mut m = h.miner().await;
    let mut worst = Duration::ZERO;
    for height in 101..106 {
        let started = Instant::now();
        h.publish(TestSource::new(height), true);
        let job = JobView::parse(&m.client.notification("mining.notify").await);
        let took = started.elapsed();
        assert!(job.clean);
        worst = worst.max(took);
    }
    assert!(worst < Duration::from_millis(100), "notify took {worst:?}");
}

#[tokio::test]
async fn unchanged_work_is_refreshed_under_a_new_job_id() {
    let h = Harness::with(|c| c.job_refresh = Duration::from_millis(200), 16, true).await;
    let mut m = h.miner().await;
    let first = m.job.clone();
    let refreshed = JobView::parse(&m.client.notification("mining.notify").await);
    assert_ne!(refreshed.id, first.id);
    assert!(!refreshed.clean);
    assert_eq!(
        (&refreshed.coinb1, &refreshed.prevhash),
        (&first.coinb1, &first.prevhash)
    );
    // The wall clock, kept within curtime + 7200 (the test template is from 2023).
    assert!(refreshed.ntime >= first.ntime && refreshed.ntime <= first.ntime + 7200);
    // The refreshed job is minable, and the first one is still valid.
    m.job = refreshed.clone();
    let (nonce, _) = m.grind(&[0, 0, 0, 1], 0, true);
    let (id, line) = m
        .submit(&refreshed.id, &[0, 0, 0, 1], refreshed.ntime, nonce)
        .await;
    assert_eq!(line, true_line(id));
    m.job = first.clone();
    let (nonce, _) = m.grind(&[0, 0, 0, 1], 0, true);
    let (id, line) = m.submit(&first.id, &[0, 0, 0, 1], first.ntime, nonce).await;
    assert_eq!(line, true_line(id));
}

#[tokio::test]
async fn shutdown_closes_sessions_and_returns() {
    let h = Harness::start().await;
    let mut m = h.miner().await;
    let mut idle = h.client().await;
    h.shutdown.send_replace(true);
    timeout(WAIT, h.server)
        .await
        .expect("run returns")
        .expect("no panic");
    m.client.expect_closed().await;
    idle.expect_closed().await;
    assert!(
        tokio::net::TcpStream::connect(h.addr).await.is_err(),
        "listener closed"
    );
    assert_eq!(h.stats.snapshot().connections, 0);
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped() {
    let h = Harness::start().await;
    let stream = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connects");
    // Keep the read half and never read: the server's replies pile up.
    let (_unread, mut wr) = stream.into_split();
    let id = format!("\"{}\"", "i".repeat(15_000));
    let line =
        format!(r#"{{"id":{id},"method":"mining.extranonce.subscribe","params":[]}}"#) + "\n";
    let writing = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while wr.write_all(line.as_bytes()).await.is_ok() {}
    });
    timeout(Duration::from_secs(30), writing)
        .await
        .expect("server drops a client that does not read")
        .expect("no panic");
}
