//! Conversations replayed from real clients, message by message, in their own byte
//! formatting (spacing, key order, id types), asserting the exact answers each client
//! depends on. The client behaviour comes from their public sources, summarised in
//! the notes below:
//!
//! - cgminer 4.x `util.c`: `initiate_stratum` sends `["cgminer/4.12.1"]` or, to resume,
//!   `["cgminer/4.12.1", "<session id>"]` (the `mining.notify` subscription id) and
//!   reads `result[1]`/`result[2]`; submits put `params` before `id`.
//! - bfgminer `util.c`: `mining.suggest_target` and `mining.capabilities` go out with
//!   `"id": null` before the subscribe, whose answer must be the next line; the
//!   extranonce subscription uses the string id `"xnsub"`.
//! - ESP-Miner (Bitaxe) `stratum_task.c`: configure (1), subscribe (2) and authorize (3)
//!   pipelined; ids below 5 are "setup" replies; `suggest_difficulty` after authorize;
//!   `set_difficulty` read with `valueint`; six submit params, the sixth being
//!   `rolled_version ^ job_version`; `reject-reason` shown when `result` is false.
//! - Antminer bmminer (cgminer fork): needs an extranonce2 size of 2..=16, resumes by
//!   session id, sends `mining.suggest_difficulty [int]` and `mining.multi_version [1]`.
//! - NiceHash: `mining.extranonce.subscribe`, needs a high start difficulty.
//! - cpuminer 2.5 (pooler): reads the line after its subscribe as the answer, submits
//!   every share with `"id":4`, and scales Scrypt difficulty by 65536.

use crate::harness::{Client, Harness, JobView, address, reject_line, target_for, true_line};
use otedama_sharechain::test_utils::script;
use otedama_sharechain::{ChainSpec, Difficulty, PowAlgorithm, Target, script_to_address};
use serde_json::Value;

/// The subscribe answer every SV1 client parses: `[[subscriptions], en1, en2_size]`.
fn subscribe_reply(id: &str, en1: &str) -> String {
    format!(
        r#"{{"id":{id},"result":[[["mining.set_difficulty","{en1}"],["mining.notify","{en1}"]],"{en1}",4],"error":null}}"#
    )
}

/// Reads a subscribe answer with id `id`, checks its exact shape, returns en1.
async fn read_subscribe(c: &mut Client, id: &str) -> String {
    let line = c.read_line().await;
    let v: Value = serde_json::from_str(&line).expect("json");
    let en1 = v["result"][1].as_str().expect("en1").to_owned();
    assert_eq!(en1.len(), 8);
    assert_eq!(line, subscribe_reply(id, &en1));
    en1
}

/// Reads `mining.set_difficulty` and returns its raw params text and value.
async fn read_difficulty(c: &mut Client) -> (String, f64) {
    let line = c.read_line().await;
    let v: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["method"], "mining.set_difficulty", "{line}");
    assert_eq!(v["id"], Value::Null);
    let raw = line
        .split_once("\"params\":[")
        .and_then(|(_, rest)| rest.strip_suffix("]}"))
        .expect("params")
        .to_owned();
    (raw, v["params"][0].as_f64().expect("number"))
}

/// Reads a `mining.notify` and checks what cgminer's `parse_notify` requires.
async fn read_notify(c: &mut Client) -> JobView {
    let params = c.notification("mining.notify").await;
    let p = params.as_array().expect("array");
    assert_eq!(p.len(), 9);
    assert_eq!(p[1].as_str().map(str::len), Some(64), "prevhash");
    for i in [5, 6, 7] {
        assert_eq!(p[i].as_str().map(str::len), Some(8), "field {i}");
    }
    assert!(p[0].as_str().is_some_and(|id| id.is_ascii()));
    JobView::parse(&params)
}

/// The first nonce meeting `difficulty` for `job` with these extranonces and version.
fn solve(
    job: &JobView,
    algo: PowAlgorithm,
    difficulty: f64,
    en1: &[u8],
    en2: &[u8],
    version: u32,
) -> u32 {
    let target = target_for(difficulty, algo);
    (0u32..)
        .find(|&n| target.is_met_by(&algo.hash(&job.header(en1, en2, job.ntime, n, version))))
        .expect("a nonce")
}

/// The first nonce from `start` meeting `difficulty` with the job's own version.
fn solve_from(
    job: &JobView,
    algo: PowAlgorithm,
    difficulty: f64,
    en1: &[u8],
    en2: &[u8],
    start: u32,
) -> u32 {
    let target = target_for(difficulty, algo);
    (start..)
        .find(|&n| target.is_met_by(&algo.hash(&job.header(en1, en2, job.ntime, n, job.version))))
        .expect("a nonce")
}

/// The first nonce missing `difficulty`.
fn miss(job: &JobView, difficulty: f64, en1: &[u8], en2: &[u8]) -> u32 {
    let algo = PowAlgorithm::Sha256d;
    let target = target_for(difficulty, algo);
    (0u32..)
        .find(|&n| !target.is_met_by(&algo.hash(&job.header(en1, en2, job.ntime, n, job.version))))
        .expect("a nonce")
}

#[tokio::test]
async fn cgminer() {
    let mut h = Harness::start().await;
    let user = format!("{}.rig1", address(1));
    let mut c = h.client().await;
    c.send_line(r#"{"id": 0, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}"#)
        .await;
    let en1 = read_subscribe(&mut c, "0").await;
    c.send_line(&format!(
        r#"{{"id": 1, "method": "mining.authorize", "params": ["{user}", "x"]}}"#
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(1));
    let (_, difficulty) = read_difficulty(&mut c).await;
    let job = read_notify(&mut c).await;
    assert!(job.clean);
    let en1_bytes = hex::decode(&en1).expect("hex");
    let en2 = [0, 0, 0, 0];
    let nonce = solve(
        &job,
        PowAlgorithm::Sha256d,
        difficulty,
        &en1_bytes,
        &en2,
        job.version,
    );
    let submit = format!(
        r#"{{"params": ["{user}", "{}", "00000000", "{:08x}", "{nonce:08x}"], "id": 2, "method": "mining.submit"}}"#,
        job.id, job.ntime
    );
    c.send_line(&submit).await;
    assert_eq!(c.read_line().await, true_line(2));
    h.next_submission().await;
    c.send_line(&submit.replace("\"id\": 2", "\"id\": 3")).await;
    assert_eq!(c.read_line().await, reject_line(3, 22, "Duplicate share"));

    // cgminer reconnects with its session id and is told it resumed.
    drop(c);
    crate::harness::wait_until("the old session to end", || {
        h.stats.snapshot().connections == 0
    })
    .await;
    let mut c = h.client().await;
    c.send_line(&format!(
        r#"{{"id": 4, "method": "mining.subscribe", "params": ["cgminer/4.12.1", "{en1}"]}}"#
    ))
    .await;
    assert_eq!(read_subscribe(&mut c, "4").await, en1);
    // Its fallback after a failed resume, `params: []`, also works.
    let mut fresh = h.client().await;
    fresh
        .send_line(r#"{"id": 5, "method": "mining.subscribe", "params": []}"#)
        .await;
    read_subscribe(&mut fresh, "5").await;
}

#[tokio::test]
async fn bfgminer() {
    let h = Harness::with(|c| c.min_difficulty = 1e-13, 16, true).await;
    let mut c = h.client().await;
    // --request-diff: a target of difficulty 2^-30, 0xffff << 238, in 64 big-endian
    // hex digits (bfgminer's pdiff_target_leadzero).
    let target = format!("3fffc{}", "0".repeat(59));
    let batch = format!(
        "{}\n{}\n{}\n",
        format_args!(
            r#"{{"id": null, "method": "mining.suggest_target", "params": ["{target}"]}}"#
        ),
        r#"{"id":null,"method":"mining.capabilities","params":[{"notify":[],"set_difficulty":{},"set_goal":[],"malgo":{"sha256d":{}},"suggested_target":"00"}]}"#,
        r#"{"id": 0, "method": "mining.subscribe", "params": ["bfgminer/5.5.0"]}"#,
    );
    c.send_raw(batch.as_bytes()).await;
    // Nothing answers the notifications: the next line is the subscribe answer.
    read_subscribe(&mut c, "0").await;
    c.send_line(r#"{"id": "xnsub", "method": "mining.extranonce.subscribe", "params": []}"#)
        .await;
    assert_eq!(
        c.read_line().await,
        r#"{"id":"xnsub","result":true,"error":null}"#
    );
    c.send_line(&format!(
        r#"{{"id": 1, "method": "mining.authorize", "params": ["{}", "x"]}}"#,
        address(2)
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(1));
    let (_, d) = read_difficulty(&mut c).await;
    assert_eq!(d, 2f64.powi(-30), "the suggested target's difficulty");
    read_notify(&mut c).await;
}

/// Bitaxe's setup, pipelined, then its share format. The share itself is checked at
/// the regtest share difficulty (below 1, which AxeOS would truncate to 0) by taking
/// Bitaxe off the integer-difficulty list; the setup test keeps it on.
#[tokio::test]
async fn bitaxe_setup() {
    let h = Harness::start().await;
    let mut c = h.client().await;
    let user = format!("{}.bitaxe", address(3));
    c.send_raw(
        format!(
            concat!(
                r#"{{"id":1,"method":"mining.configure","params":[["version-rolling"],{{"version-rolling.mask":"ffffffff"}}]}}"#,
                "\n",
                r#"{{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1370/v2.9.0"]}}"#,
                "\n",
                r#"{{"id":3,"method":"mining.authorize","params":["{}","x"]}}"#,
                "\n"
            ),
            user
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(
        c.read_line().await,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}"#
    );
    read_subscribe(&mut c, "2").await;
    assert_eq!(c.read_line().await, true_line(3));
    // valueint: a whole number, never below 1.
    let (raw, _) = read_difficulty(&mut c).await;
    assert_eq!(raw, "1");
    let job = read_notify(&mut c).await;
    assert!(job.clean, "clean_jobs is the last param");
    // After the setup reply for authorize: suggest_difficulty (4), extranonce (5).
    c.send_line(r#"{"id":4,"method":"mining.suggest_difficulty","params":[1000]}"#)
        .await;
    assert_eq!(c.read_line().await, true_line(4));
    c.send_line(r#"{"id":5,"method":"mining.extranonce.subscribe","params":[]}"#)
        .await;
    assert_eq!(c.read_line().await, true_line(5));
    // A rejected share: Bitaxe shows error[1], or reject-reason when result is false.
    c.send_line(&format!(
        r#"{{"id":6,"method":"mining.submit","params":["{user}","{}","00000001","{:08x}","00000000","00000000"]}}"#,
        job.id, job.ntime
    ))
    .await;
    assert_eq!(
        c.read_line().await,
        reject_line(6, 23, "Low difficulty share")
    );
}

#[tokio::test]
async fn bitaxe_rolled_share() {
    let mut h = Harness::with(|c| c.integer_difficulty_agents.clear(), 16, true).await;
    let mut c = h.client().await;
    let user = address(3);
    c.send_raw(
        format!(
            "{}\n{}\n{}\n",
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#,
            r#"{"id":2,"method":"mining.subscribe","params":["bitaxe/BM1366/v2.4.1"]}"#,
            format_args!(r#"{{"id":3,"method":"mining.authorize","params":["{user}","x"]}}"#),
        )
        .as_bytes(),
    )
    .await;
    c.read_line().await;
    let en1 = hex::decode(read_subscribe(&mut c, "2").await).expect("hex");
    assert_eq!(c.read_line().await, true_line(3));
    let (_, d) = read_difficulty(&mut c).await;
    let job = read_notify(&mut c).await;
    // The BM1366 rolls bits 13-28; Bitaxe submits rolled ^ job version.
    let rolled = job.version ^ 0x0001_e000;
    let en2 = [0, 0, 0, 3];
    let nonce = solve(&job, PowAlgorithm::Sha256d, d, &en1, &en2, rolled);
    c.send_line(&format!(
        r#"{{"id":7,"method":"mining.submit","params":["{user}","{}","00000003","{:08x}","{nonce:08x}","{:08x}"]}}"#,
        job.id,
        job.ntime,
        rolled ^ job.version
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(7));
    assert_eq!(h.next_submission().await.header.version as u32, rolled);
}

#[tokio::test]
async fn antminer() {
    let mut h = Harness::start().await;
    let mut c = h.client().await;
    let user = format!("{}.s19", address(4));
    c.send_line(r#"{"id": 0, "method": "mining.subscribe", "params": ["bmminer/2.0.0"]}"#)
        .await;
    let en1 = read_subscribe(&mut c, "0").await;
    c.send_line(r#"{"id": 1, "method": "mining.configure", "params": [["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}"#)
        .await;
    assert_eq!(
        c.read_line().await,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}"#
    );
    c.send_line(&format!(
        r#"{{"id": 2, "method": "mining.authorize", "params": ["{user}", "123"]}}"#
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(2));
    let (_, d) = read_difficulty(&mut c).await;
    let job = read_notify(&mut c).await;
    c.send_line(r#"{"id": 3, "method": "mining.suggest_difficulty", "params": [512]}"#)
        .await;
    assert_eq!(c.read_line().await, true_line(3));
    c.send_line(r#"{"id": 4, "method": "mining.multi_version", "params": [1]}"#)
        .await;
    assert_eq!(c.read_line().await, true_line(4));
    let en1_bytes = hex::decode(&en1).expect("hex");
    let en2 = [0, 0, 0, 4];
    let rolled = job.version | 0x0000_4000;
    let nonce = solve(&job, PowAlgorithm::Sha256d, d, &en1_bytes, &en2, rolled);
    c.send_line(&format!(
        r#"{{"params": ["{user}", "{}", "00000004", "{:08x}", "{nonce:08x}", "00004000"], "id": 5, "method": "mining.submit"}}"#,
        job.id, job.ntime
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(5));
    assert_eq!(h.next_submission().await.header.version as u32, rolled);
    // A low share, as Antminer would log it.
    let low = miss(&job, d, &en1_bytes, &[0, 0, 0, 5]);
    c.send_line(&format!(
        r#"{{"params": ["{user}", "{}", "00000005", "{:08x}", "{low:08x}"], "id": 6, "method": "mining.submit"}}"#,
        job.id, job.ntime
    ))
    .await;
    assert_eq!(
        c.read_line().await,
        reject_line(6, 23, "Low difficulty share")
    );
}

#[tokio::test]
async fn nicehash() {
    let mut h = Harness::with(
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
    c.send_line(r#"{"id":1,"method":"mining.subscribe","params":["NiceHash/1.0.0",null]}"#)
        .await;
    let en1 = hex::decode(read_subscribe(&mut c, "1").await).expect("hex");
    c.send_line(r#"{"id":2,"method":"mining.extranonce.subscribe","params":[]}"#)
        .await;
    assert_eq!(c.read_line().await, true_line(2));
    c.send_line(&format!(
        r#"{{"id":3,"method":"mining.authorize","params":["{}","x"]}}"#,
        address(5)
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(3));
    // A rental gets the highest difficulty, not the low configured start.
    let (_, d) = read_difficulty(&mut c).await;
    assert_eq!(d, share);
    let job = read_notify(&mut c).await;
    let nonce = solve(
        &job,
        PowAlgorithm::Sha256d,
        d,
        &en1,
        &[0, 0, 0, 6],
        job.version,
    );
    c.send_line(&format!(
        r#"{{"id":4,"method":"mining.submit","params":["{}","{}","00000006","{:08x}","{nonce:08x}"]}}"#,
        address(5),
        job.id,
        job.ntime
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(4));
    h.next_submission().await;
}

/// cpuminer on a Scrypt chain: the Stratum difficulty is in units 65 536 times smaller,
/// and the target cpuminer derives from it (`diff1 / (d / 65536)`) is the share target.
#[tokio::test]
async fn cpuminer_scrypt() {
    let ltc = ChainSpec::by_name("ltc-regtest").expect("built in");
    let mut h = Harness::on(ltc, |_| {}, 16, true).await;
    let user = script_to_address(&script(1), ltc).expect("address");
    let mut c = h.client().await;
    c.send_line(r#"{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]}"#)
        .await;
    let en1 = hex::decode(read_subscribe(&mut c, "1").await).expect("hex");
    c.send_line(&format!(
        r#"{{"id": 2, "method": "mining.authorize", "params": ["{user}", "x"]}}"#
    ))
    .await;
    assert_eq!(c.read_line().await, true_line(2));
    let (_, d) = read_difficulty(&mut c).await;
    let job = read_notify(&mut c).await;
    let share_target =
        Target::from_compact(h.source.template(&script(1)).info.share_target).expect("valid");
    let cpuminer_target = Difficulty::new(d / 65536.0).expect("positive").to_target();
    assert_eq!(cpuminer_target, share_target);
    // Two shares, both with cpuminer's fixed id 4, answered in order.
    let mut nonce = 0;
    for en2 in [[0u8, 0, 0, 1], [0, 0, 0, 2]] {
        nonce = solve_from(&job, PowAlgorithm::Scrypt, d, &en1, &en2, nonce);
        c.send_line(&format!(
            r#"{{"method": "mining.submit", "params": ["{user}", "{}", "{}", "{:08x}", "{nonce:08x}"], "id":4}}"#,
            job.id,
            hex::encode(en2),
            job.ntime
        ))
        .await;
    }
    assert_eq!(c.read_line().await, true_line(4));
    assert_eq!(c.read_line().await, true_line(4));
    h.next_submission().await;
    h.next_submission().await;
}
