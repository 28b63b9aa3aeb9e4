use super::*;
use crate::config::{ChainConfig, Config, DaemonConfig, Secret};
use std::sync::Arc;

/// 2026-01-01T00:00:00Z, the start of an hour.
const T0: u64 = 1_767_225_600;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn points(store: &HistoryStore, name: &str, range: u64, now: u64) -> Vec<(u64, f64)> {
    let (mut series, _) = store.query(&names(&[name]), range, now).expect("known");
    series.remove(name).expect("asked for")
}

fn sample(pool: f64, accepted: u64) -> Sample {
    Sample {
        pool_hashrate: pool,
        shares_accepted: accepted,
        ..Sample::default()
    }
}

fn miner(address: &str, hashrate: f64, last_share: u64) -> MinerSample {
    MinerSample {
        address: address.into(),
        hashrate,
        workers: None,
        last_share,
    }
}

#[test]
fn minutes_roll_up_into_hours() {
    let mut s = HistoryStore::default();
    // Two hours of minutes: the pool at the minute's index, one share a minute.
    for m in 0..120u64 {
        s.record(T0 + m * 60 + 30, &sample(m as f64, 1));
    }
    let now = T0 + 120 * 60;
    let minutes = points(&s, "pool_hashrate", 3600, now);
    assert_eq!(minutes.len(), 60);
    assert_eq!(minutes[0], (T0 + 60 * 60, 60.0));
    assert_eq!(minutes[59], (T0 + 119 * 60, 119.0));
    let (all, resolution) = s
        .query(
            &names(&["pool_hashrate", "shares_accepted"]),
            7 * 86400,
            now,
        )
        .expect("known");
    assert_eq!(resolution, 3600);
    // Rates average, counts add.
    assert_eq!(all["pool_hashrate"], [(T0, 29.5), (T0 + 3600, 89.5)]);
    assert_eq!(all["shares_accepted"], [(T0, 60.0), (T0 + 3600, 60.0)]);
    // The current hour is kept up to date as its minutes arrive.
    s.record(T0 + 7200 + 10, &sample(10.0, 5));
    let hours = points(&s, "shares_accepted", 30 * 86400, T0 + 7300);
    assert_eq!(hours.last(), Some(&(T0 + 7200, 5.0)));
}

#[test]
fn the_fixed_series_are_the_ones_the_api_names() {
    assert_eq!(FIXED_SERIES.map(|(n, _)| n), otedama_rpc::HISTORY_SERIES);
}

#[test]
fn miners_are_tallied_from_the_shares_in_the_window() {
    use crate::coordinator::ShareRow;
    use otedama_sharechain::{
        BlockHash, ChainSpec, CompactTarget, PayoutScript, ShareHash, Target, script_to_address,
    };
    let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
    let target = CompactTarget::from_consensus(0x1e0f_ffff);
    let work = Target::from_compact(target)
        .expect("target")
        .to_work()
        .to_u128();
    let row = |payout: PayoutScript, time: u32| ShareRow {
        hash: ShareHash::ZERO,
        height: 1,
        time,
        payout,
        share_target: target,
        uncles: 0,
        parent_block: BlockHash::ZERO,
    };
    let (a, b) = (PayoutScript::p2wpkh([1; 20]), PayoutScript::p2wpkh([2; 20]));
    let rows = [
        row(a.clone(), 1000),
        row(b.clone(), 990),
        row(a.clone(), 970),
    ];
    let rows: Vec<_> = rows.iter().map(|r| mined(r, spec)).collect();
    let mut tally_map = std::collections::BTreeMap::new();
    assert!(!tally(&rows, 900, &mut tally_map));
    let address = |s: &PayoutScript| script_to_address(s, spec).expect("address");
    assert_eq!(tally_map[&address(&a)], (2 * work, 1000));
    assert_eq!(tally_map[&address(&b)], (work, 990));
    assert_eq!(tally_map.len(), 2);
    // Rows at or before the window's start end the scan and are not counted.
    let mut tally_map = std::collections::BTreeMap::new();
    assert!(tally(&rows, 985, &mut tally_map));
    assert_eq!(tally_map[&address(&a)], (work, 1000));
}

#[test]
fn two_readings_in_a_minute_merge() {
    let mut s = HistoryStore::default();
    s.record(T0 + 5, &sample(4.0, 3));
    s.record(T0 + 50, &sample(2.0, 2));
    assert_eq!(points(&s, "pool_hashrate", 3600, T0 + 60), [(T0, 4.0)]);
    assert_eq!(points(&s, "shares_accepted", 3600, T0 + 60), [(T0, 5.0)]);
}

#[test]
fn minutes_last_a_day_and_hours_thirty_days() {
    let mut s = HistoryStore::default();
    s.record(T0, &sample(1.0, 1));
    // Just inside 24 h the minute is still there; a minute later it is gone.
    let day = 24 * 3600;
    s.record(T0 + day - 60, &sample(2.0, 0));
    assert_eq!(
        points(&s, "pool_hashrate", day, T0 + day - 60)[0],
        (T0, 1.0)
    );
    s.record(T0 + day, &sample(3.0, 0));
    let minutes = points(&s, "pool_hashrate", day, T0 + day);
    assert_eq!(minutes, [(T0 + day - 60, 2.0), (T0 + day, 3.0)]);
    // The hour outlives its minutes, for 30 days.
    assert_eq!(
        points(&s, "pool_hashrate", 30 * day, T0 + day)[0],
        (T0, 1.0)
    );
    s.record(T0 + 30 * day - 1, &sample(4.0, 0));
    assert_eq!(
        points(&s, "pool_hashrate", 30 * day, T0 + 30 * day - 1)[0],
        (T0, 1.0)
    );
    s.record(T0 + 30 * day, &sample(5.0, 0));
    let hours = points(&s, "pool_hashrate", 30 * day, T0 + 30 * day);
    assert!(hours.iter().all(|(t, _)| *t > T0), "{hours:?}");
    // A long gap leaves nothing old behind.
    s.expire(T0 + 100 * day);
    assert!(points(&s, "pool_hashrate", 30 * day, T0 + 100 * day).is_empty());
}

#[test]
fn a_writing_older_than_the_span_is_ignored() {
    let mut s = HistoryStore::default();
    s.record(T0 + 2 * 86400, &sample(1.0, 0));
    s.record(T0, &sample(9.0, 0));
    let minutes = points(&s, "pool_hashrate", 86400, T0 + 2 * 86400);
    assert_eq!(minutes, [(T0 + 2 * 86400, 1.0)]);
}

#[test]
fn miners_expire_after_a_day_and_are_capped() {
    let mut s = HistoryStore::default();
    let mut first = sample(0.0, 0);
    first.miners = Some(vec![miner("a", 5.0, T0), miner("b", 7.0, T0 + 30)]);
    s.record(T0 + 60, &first);
    // b keeps mining; a is silent and reads zero.
    let mut later = sample(0.0, 0);
    later.miners = Some(vec![miner("b", 8.0, T0 + 100)]);
    s.record(T0 + 120, &later);
    assert_eq!(
        points(&s, "miner:a", 3600, T0 + 120),
        [(T0 + 60, 5.0), (T0 + 120, 0.0)]
    );
    assert_eq!(points(&s, "miner:b", 3600, T0 + 120)[1], (T0 + 120, 8.0));
    // A minute the chain could not be read records no miner point, not a false zero.
    s.record(T0 + 180, &sample(0.0, 0));
    assert_eq!(points(&s, "miner:b", 3600, T0 + 180).len(), 2);
    assert_eq!(points(&s, "pool_hashrate", 3600, T0 + 180).len(), 3);
    // A day after its last share a is dropped; b, with a later share, stays.
    s.record(T0 + 86400, &sample(0.0, 0));
    assert_eq!(s.miners().collect::<Vec<_>>(), ["b"]);
    // An untracked miner has no points (its page asks before its first minute); a name
    // that is no series at all is an error.
    let (untracked, _) = s
        .query(&names(&["miner:a"]), 3600, T0 + 86400)
        .expect("a miner series");
    assert_eq!(untracked["miner:a"], []);
    assert!(s.query(&names(&["nope"]), 3600, T0).is_err());

    // Workers: a miner with workers on this node gets their series beside the chain's;
    // minutes without a report read zero.
    let mut s = HistoryStore::default();
    let mut with = sample(0.0, 0);
    with.miners = Some(vec![MinerSample {
        workers: Some(9.0),
        ..miner("w", 4.0, T0)
    }]);
    s.record(T0 + 60, &with);
    let mut without = sample(0.0, 0);
    without.miners = Some(vec![miner("w", 4.0, T0 + 100)]);
    s.record(T0 + 120, &without);
    assert_eq!(
        points(&s, "workers:w", 3600, T0 + 120),
        [(T0 + 60, 9.0), (T0 + 120, 0.0)]
    );
    assert_eq!(points(&s, "miner:w", 3600, T0 + 120).len(), 2);
    let (none, _) = s
        .query(&names(&["workers:x"]), 3600, T0 + 120)
        .expect("a workers series");
    assert_eq!(none["workers:x"], []);

    // The cap: a full store takes a newer miner in place of the oldest, and refuses an
    // older one.
    let mut s = HistoryStore::default();
    let mut full = sample(0.0, 0);
    full.miners = Some(
        (0..MAX_MINERS as u64)
            .map(|i| miner(&format!("m{i}"), 1.0, T0 + i))
            .collect(),
    );
    s.record(T0 + 3600, &full);
    assert_eq!(s.miners().count(), MAX_MINERS);
    let mut newer = sample(0.0, 0);
    newer.miners = Some(vec![miner("late", 1.0, T0 + 3000), miner("early", 1.0, T0)]);
    s.record(T0 + 3660, &newer);
    assert_eq!(s.miners().count(), MAX_MINERS);
    assert!(s.miners().any(|m| m == "late"));
    assert!(!s.miners().any(|m| m == "m0" || m == "early"));
}

#[test]
fn the_store_survives_a_round_trip_and_bad_files_are_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(HISTORY_FILE);
    assert_eq!(
        read(&path, T0).expect("missing is empty"),
        HistoryStore::default()
    );
    let mut s = HistoryStore::default();
    let mut first = sample(3.5, 2);
    first.miners = Some(vec![miner("a", 5.0, T0)]);
    s.record(T0, &first);
    write(&path, &encode(&s).expect("encodes")).expect("writes");
    assert!(!dir.path().join("history.bin.tmp").exists());
    let back = read(&path, T0 + 60).expect("reads");
    let mut expected = s.clone();
    expected.expire(T0 + 60);
    assert_eq!(back, expected);
    assert_eq!(points(&back, "pool_hashrate", 3600, T0 + 60), [(T0, 3.5)]);
    assert_eq!(points(&back, "miner:a", 3600, T0 + 60), [(T0, 5.0)]);
    // Loading two days later drops the minutes but keeps the hours; the miner is gone.
    let later = read(&path, T0 + 2 * 86400).expect("reads");
    assert!(points(&later, "pool_hashrate", 86400, T0 + 2 * 86400).is_empty());
    assert_eq!(
        points(&later, "pool_hashrate", 30 * 86400, T0 + 2 * 86400),
        [(T0, 3.5)]
    );
    assert_eq!(later.miners().count(), 0);

    let bytes = std::fs::read(&path).expect("read");
    let bad = |b: &[u8]| decode(b).expect_err("refused");
    assert!(matches!(bad(b"junk"), LoadError::Foreign));
    assert!(matches!(bad(b""), LoadError::Foreign));
    let mut other = bytes.clone();
    other[4] = 99;
    assert!(matches!(bad(&other), LoadError::Version(99)));
    assert!(matches!(
        bad(&bytes[..bytes.len() / 2]),
        LoadError::Corrupt(_)
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(bad(&trailing), LoadError::Corrupt(_)));
    // A ring of the wrong length (a hand-edited or foreign store) is refused too.
    let mut flipped = bytes.clone();
    for b in flipped.iter_mut().skip(5).take(40) {
        *b ^= 0x5a;
    }
    assert!(decode(&flipped).is_err());
    // `load` logs and starts empty instead of failing.
    std::fs::write(&path, b"OTHS\x01garbage").expect("write");
    assert_eq!(load(&path, T0), HistoryStore::default());
}

#[test]
fn the_worst_case_is_bounded() {
    // A full store encodes within the bound.
    let mut s = HistoryStore::default();
    let mut full = sample(1.0, 1);
    // Every miner reports workers too; only MAX_WORKER_SERIES of them get a series.
    full.miners = Some(
        (0..MAX_MINERS as u64)
            .map(|i| MinerSample {
                workers: Some(2.0),
                ..miner(&format!("rltc1q{i:0>58}"), 1.0, T0)
            })
            .collect(),
    );
    for m in 0..(MINUTE_POINTS as u64) {
        s.record(T0 + m * 60, &full);
    }
    let with_workers = (0..MAX_MINERS as u64)
        .filter(|i| !points(&s, &format!("workers:rltc1q{i:0>58}"), 3600, T0 + 86_340).is_empty())
        .count();
    assert_eq!(with_workers, MAX_WORKER_SERIES);
    let bytes = encode(&s).expect("encodes");
    assert!(bytes.len() <= MAX_STORE_BYTES, "{}", bytes.len());
    assert_eq!(decode(&bytes).expect("decodes"), s);
}

fn config(data_dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.app.data_dir = data_dir.to_path_buf();
    c.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.pool.address = "127.0.0.1:0".parse().expect("address");
    c.chains = vec![ChainConfig {
        spec: "ltc-regtest".into(),
        daemons: vec![DaemonConfig {
            url: "http://127.0.0.1:1".into(),
            cookie_file: None,
            user: Some("u".into()),
            password: Some(Secret::new("p")),
            zmq: None,
        }],
    }];
    c
}

async fn served(node: &crate::Node, dir: &std::path::Path) -> serde_json::Value {
    let api = crate::api::NodeApiAdapter::new(node.handle());
    let settings = otedama_rpc::ApiSettings::new(
        "127.0.0.1:0".parse().expect("address"),
        None,
        Arc::new(otedama_rpc::AuditLog::in_dir(dir)),
    );
    let server = otedama_rpc::ApiServer::start(settings, api)
        .await
        .expect("the api starts");
    let url = format!(
        "http://{}/api/history?series=stratum_connections,shares_accepted&range=1h",
        server.local_addr()
    );
    let body = reqwest::get(url)
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    server.stop().await;
    body
}

#[tokio::test]
async fn points_recorded_before_a_restart_are_served_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path());
    let node = crate::Node::start(&c, None).await.expect("starts");
    // A miner connects; the node's last sample at shutdown records it.
    let miner = tokio::net::TcpStream::connect(node.stratum_addr())
        .await
        .expect("connects");
    let handle = node.handle();
    let mut counted = false;
    for _ in 0..100 {
        if handle.stratum().snapshot().connections == 1 {
            counted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(counted, "the connection is not counted");
    let before = crate::unix_now();
    node.stop().await;
    drop(miner);
    assert!(dir.path().join("ltc-regtest").join(HISTORY_FILE).exists());

    let node = crate::Node::start(&c, None).await.expect("restarts");
    let body = served(&node, dir.path()).await;
    node.stop().await;
    assert_eq!(body["resolution_secs"], 60, "{body}");
    let connections = body["series"]["stratum_connections"]
        .as_array()
        .expect("points");
    assert!(
        connections.iter().any(|p| p[1] == 1.0
            && p[0]
                .as_u64()
                .is_some_and(|t| t <= before && t + 60 > before)),
        "{body}"
    );
}
