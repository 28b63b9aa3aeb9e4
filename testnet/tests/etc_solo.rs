//! Ethereum Classic, solo, end to end: `otedama-node serve` on `etc-regtest` against the
//! core-geth stand-in (which verifies Etchash for real), its built-in CPU miner logged
//! in with an address that is not the etherbase. Blocks are sealed, taken by the
//! stand-in, pay the etherbase alone, and are proven on chain; a block the chain drops
//! in a reorganisation turns orphaned; the API and config check say "solo" plainly.

use otedama_testnet::cluster::{free_port, node_binary};
use otedama_testnet::geth::GethStandIn;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ETHERBASE: &str = "0x1111111111111111111111111111111111111111";
const LOGIN: &str = "0x2222222222222222222222222222222222222222";
/// A block in about 256 hashes: a few seconds for one thread of the light-cache miner.
const BOUNDARY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the built-in miner hashes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Device {
    /// The CPU light hasher.
    Cpu,
    /// OpenCL device 0, with the epoch's full DAG.
    OpenCl,
}

fn config(dir: &std::path::Path, geth: &str, stratum: u16, api: u16, device: Device) -> String {
    let gpu = match device {
        Device::Cpu => "",
        Device::OpenCl => "  enable_gpu: true\n  gpu:\n    intensity: 12\n",
    };
    format!(
        "app:\n  name: etc-solo\n  data_dir: {dir}\n  log_level: info\n\
         mining:\n  enable_cpu: true\n{gpu}  algorithm: etchash\n  payout_address: \"{LOGIN}\"\n  cpu:\n    threads: 1\n\
         pool:\n  address: 127.0.0.1:{stratum}\n\
         api:\n  address: 127.0.0.1:{api}\n  auth:\n    enabled: false\n\
         monitoring:\n  metrics:\n    enabled: false\n  health:\n    enabled: false\n\
         p2p:\n  listen: []\n\
         chains:\n  - spec: etc-regtest\n    daemons:\n      - url: {geth}\n",
        dir = dir.display(),
    )
}

/// The blocks of a `/api/payouts` answer that core-geth took, newest first (a seal may
/// lose a race to another of the same work, as on any chain).
fn accepted(payouts: &Value) -> Vec<Value> {
    payouts["blocks"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter(|b| b["status"] == "accepted")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

/// Polls `url` until `ok` holds of its JSON, for at most `limit`.
async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    limit: Duration,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(v) = get(http, url).await {
            if ok(&v) {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what}: not within {limit:?}; last answer of {url}: {last}");
}

/// The stand-in, the node serving `etc-regtest` against it, its data dir and its API.
struct Solo {
    geth: GethStandIn,
    _node: Node,
    dir: tempfile::TempDir,
    api: u16,
}

impl Solo {
    /// Writes the config, checks that `config check` states the solo terms, and starts
    /// the node.
    async fn start(device: Device) -> Self {
        let geth = GethStandIn::start(ETHERBASE, 1337, BOUNDARY)
            .await
            .expect("stand-in");
        let dir = tempfile::tempdir().expect("tempdir");
        let (stratum, api) = (free_port(), free_port());
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config(dir.path(), &geth.url(), stratum, api, device))
            .expect("config");

        let check = Command::new(node_binary())
            .args(["config", "check"])
            .arg(&path)
            .output()
            .expect("config check runs");
        let said = String::from_utf8_lossy(&check.stderr).to_string()
            + &String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "config check failed: {said}");
        assert!(
            said.contains("mined solo") && said.contains("etherbase"),
            "config check does not state the solo terms: {said}"
        );

        let log = std::fs::File::create(dir.path().join("node.log")).expect("log");
        let node = Node(
            Command::new(node_binary())
                .args(["serve", "--config"])
                .arg(&path)
                .stdout(Stdio::from(log.try_clone().expect("log")))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("node starts"),
        );
        Self {
            geth,
            _node: node,
            dir,
            api,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etc_regtest_is_mined_solo_and_every_block_pays_the_etherbase() {
    mined_solo(&Solo::start(Device::Cpu).await, Duration::from_secs(240)).await;
}

/// The same on OpenCL device 0: the built-in miner generates epoch 0's 1 GiB DAG there
/// (about 5 minutes on PoCL's CPU device, seconds on a GPU) and seals the blocks on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "generates the 1 GiB epoch-0 DAG on an OpenCL device; run with --ignored"]
async fn etc_regtest_is_mined_solo_on_an_opencl_device() {
    mined_solo(
        &Solo::start(Device::OpenCl).await,
        Duration::from_secs(1200),
    )
    .await;
}

/// Waits for three sealed blocks within `limit`, and checks the chain's record of them,
/// their proof, the API's solo statement and an orphaning reorganisation.
async fn mined_solo(solo: &Solo, limit: Duration) {
    let (geth, api) = (&solo.geth, solo.api);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api}/api");

    // Three blocks sealed by the built-in miner and taken by the stand-in.
    let blocks = wait_for(
        &http,
        &format!("{base}/payouts"),
        limit,
        "three blocks sealed",
        |v| accepted(v).len() >= 3,
    )
    .await;
    let chain = geth.blocks();
    let (taken, refused) = geth.submissions();
    assert!(
        taken >= 3,
        "the stand-in took {taken} seals ({refused} refused)"
    );
    for b in accepted(&blocks) {
        let height = b["height"].as_u64().expect("height");
        let on_chain = &chain[usize::try_from(height).expect("small") - 1];
        assert_eq!(on_chain.number, height);
        assert_eq!(
            on_chain.miner, ETHERBASE,
            "the chain's block pays the etherbase"
        );
        // The seal the node recorded is the one the chain holds.
        let seal = b["share"].as_str().expect("seal");
        assert_eq!(seal[..16], format!("{:016x}", on_chain.nonce));
        assert_eq!(seal[16..], hex::encode(on_chain.mix));
        let payouts = b["payouts"].as_array().expect("payouts");
        assert_eq!(payouts.len(), 1, "one beneficiary: {b}");
        assert_eq!(payouts[0]["address"], ETHERBASE);
        assert_eq!(
            payouts[0]["amount_sat"].as_u64(),
            Some(5_000_000_000_000_000_000),
            "ECIP-1017's first era"
        );
    }

    // Proven on chain: confirmed, paying whom the node recorded.
    let proven = wait_for(
        &http,
        &format!("{base}/payouts"),
        Duration::from_secs(60),
        "the oldest block confirmed",
        |v| {
            accepted(v)
                .last()
                .is_some_and(|b| b["chain"]["state"] == "confirmed")
        },
    )
    .await;
    let oldest = accepted(&proven).pop().expect("a block");
    assert_eq!(oldest["chain"]["coinbase_matches"], true, "{oldest}");

    // The status says solo, names the beneficiary, and pays in wei.
    let status = get(&http, &format!("{base}/status")).await.expect("status");
    assert_eq!(status["chain"], "etc-regtest");
    assert_eq!(status["coin"]["ticker"], "ETC");
    assert_eq!(status["coin"]["decimals"], 18);
    assert_eq!(status["solo"]["beneficiary"], ETHERBASE);
    assert!(
        status["solo"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("one beneficiary")),
        "{status}"
    );
    assert_eq!(status["parent"]["reachable"], true);
    assert!(
        status["hashrate"]["local"].as_f64() > Some(0.0),
        "the workers' shares count for the local hashrate: {status}"
    );
    // `otedama-node status` says the same.
    let cli = Command::new(node_binary())
        .args(["status", "--api", &format!("http://127.0.0.1:{api}")])
        .output()
        .expect("status runs");
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{text}");
    assert!(
        text.contains(&format!("etc-regtest (solo: every block pays {ETHERBASE})"))
            && text.contains("sharechain  none (solo mining)"),
        "{text}"
    );
    let workers = get(&http, &format!("{base}/workers"))
        .await
        .expect("workers");
    let mine = workers
        .as_array()
        .and_then(|w| w.iter().find(|w| w["address"] == LOGIN))
        .unwrap_or_else(|| panic!("the built-in miner's worker is listed: {workers}"));
    assert!(mine["accepted"].as_u64() > Some(0), "{mine}");
    // No sharechain, no peers: peer actions are refused with the reason.
    let dial = http
        .post(format!("{base}/peers/dial"))
        .json(&serde_json::json!({"address": "/ip4/127.0.0.1/tcp/1"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(dial.status().as_u16(), 409, "dialing a peer on a solo node");

    // A reorganisation drops the newest sealed block: six blocks deep, it is orphaned.
    let newest = accepted(&blocks)[0]["height"].as_u64().expect("height");
    geth.reorg(newest);
    for _ in 0..6 {
        geth.mine_elsewhere();
    }
    let orphaned = wait_for(
        &http,
        &format!("{base}/payouts"),
        Duration::from_secs(60),
        "the reorganised block orphaned",
        |v| {
            v["blocks"].as_array().is_some_and(|b| {
                b.iter()
                    .any(|b| b["height"] == newest && b["chain"]["state"] == "orphaned")
            })
        },
    )
    .await;
    let below = accepted(&orphaned)
        .iter()
        .filter(|b| b["height"].as_u64() < Some(newest))
        .all(|b| b["chain"]["state"] == "confirmed");
    assert!(
        below,
        "the blocks below the reorganisation stay confirmed: {orphaned}"
    );
}

/// The dashboard of a solo node says so, names the etherbase and shows ETC amounts, in
/// headless Chromium (`rpc/tests/dashboard/etc.test.mjs`). Screenshot:
/// `target/dashboard/etc.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etc_dashboard_states_solo_mining_in_headless_chromium() {
    const NAME: &str = "the_etc_dashboard_states_solo_mining_in_headless_chromium";
    let Some(chromium) = otedama_testnet::browser::chromium_or_skip(NAME) else {
        return;
    };
    let solo = Solo::start(Device::Cpu).await;
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard");
    let (shot, miner_shot) = (target.join("etc.png"), target.join("etc-miner.png"));
    let url = format!("http://127.0.0.1:{}/", solo.api);
    let out = tokio::task::spawn_blocking(move || {
        otedama_testnet::browser::run_browser(
            &chromium,
            &url,
            &["etc.test.mjs"],
            [&shot, &miner_shot],
        )
    })
    .await
    .expect("the browser run");
    assert!(
        out.status.success(),
        "browser test failed:\n{}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        solo.log()
    );
}
