//! A Monero sidechain node on a real monerod (regtest, offline, loopback only), mined by
//! two xmrig-dialect miners that hash RandomX in light mode, each paying a wallet that a
//! real monero-wallet-rpc created: blocks reach monerod's main chain, and for every block
//! each wallet received, by its own view-key scan, exactly what the PPLNS split of that
//! block's share gives it. An unknown job, a wrong result, a duplicate and a request
//! before login get the errors xmrig prints.

use otedama_node::api::{MetricSources, MoneroApiAdapter, ServiceSet, Services};
use otedama_node::monero::{BlockRecord, MoneroNode, MoneroSettings, MoneroStatus, parse_wallet};
use otedama_node::parent::monero::MonerodClient;
use otedama_rpc::{FoundBlock, MinerView, OnChainState, Payouts, SharePage, Status, Worker};
use otedama_sharechain::monero::SidechainParams;
use otedama_stratum::StratumConfig;
use randomx_rs::{RandomXCache, RandomXFlag, RandomXVM};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "support/monerod.rs"]
#[allow(dead_code)]
mod monerod;
#[path = "../../testnet/src/skip.rs"]
#[allow(dead_code)]
mod skip;

use monerod::monerod_path;
use otedama_node::devnet::monero::{create_wallet, wallet_income};

/// Mainnet-form addresses (regtest uses mainnet prefixes) generated offline.
const NODE_WALLET: &str = "48HfMc3JNky1399DpLdNH1BcUse1eTWGseX94a9UjV2BdfkM2cx3WZthQmgjGhfW8wVnPbvtyHXGTbeExuZFywfH9jwCyPF";
const PROBE: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

/// monerod's block difficulty: above the share difficulty, so not every share is a block.
const MONERO_DIFFICULTY: u64 = 150;
/// Blocks the pool must find.
const BLOCKS: usize = 3;

/// One line-oriented xmrig-dialect connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let writer = TcpStream::connect(addr).expect("connect");
        writer
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let reader = BufReader::new(writer.try_clone().expect("clone"));
        Client {
            reader,
            writer,
            next_id: 1,
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "jsonrpc": "2.0", "method": method, "params": params});
        writeln!(self.writer, "{line}").expect("write");
        id
    }

    fn read(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("json line")),
            Err(_) => None,
        }
    }

    /// Reads until the reply to `id`, keeping the newest job pushed meanwhile.
    fn reply(&mut self, id: u64, job: &mut Value) -> Value {
        loop {
            let v = self.read().expect("a reply");
            if v.get("method").and_then(Value::as_str) == Some("job") {
                *job = v["params"].clone();
            } else if v["id"].as_u64() == Some(id) {
                return v;
            }
        }
    }
}

/// A RandomX light-mode hasher keyed by seed.
struct Hasher {
    seed: String,
    vm: RandomXVM,
}

impl Hasher {
    fn new(seed_hex: &str) -> Hasher {
        let flags = RandomXFlag::get_recommended_flags();
        let key = hex::decode(seed_hex).expect("seed hex");
        let cache = RandomXCache::new(flags, &key).expect("cache");
        Hasher {
            seed: seed_hex.to_owned(),
            vm: RandomXVM::new(flags, Some(cache), None).expect("vm"),
        }
    }

    fn hash(&self, blob: &[u8]) -> [u8; 32] {
        self.vm
            .calculate_hash(blob)
            .expect("hash")
            .try_into()
            .expect("32 bytes")
    }
}

/// The offset of the header nonce in a hashing blob: after two version bytes, the
/// timestamp varint and the previous block id.
fn nonce_offset(blob: &[u8]) -> usize {
    let varint = blob[2..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .expect("varint")
        + 1;
    2 + varint + 32
}

fn target_of(job: &Value) -> u64 {
    let bytes = hex::decode(job["target"].as_str().expect("target")).expect("hex");
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// A solved nonce of `job` at or after `from`: its nonce hex and result hex.
fn solve(h: &Hasher, job: &Value, from: u32, stop: &AtomicBool) -> Option<(u32, String, String)> {
    let blob = hex::decode(job["blob"].as_str().expect("blob")).expect("hex");
    let at = nonce_offset(&blob);
    let target = target_of(job);
    let mut b = blob.clone();
    for nonce in from..from.saturating_add(1_000_000) {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        b[at..at + 4].copy_from_slice(&nonce.to_le_bytes());
        let hash = h.hash(&b);
        let top = u64::from_le_bytes(hash[24..32].try_into().expect("8 bytes"));
        if top < target {
            return Some((nonce, hex::encode(nonce.to_le_bytes()), hex::encode(hash)));
        }
    }
    None
}

/// Mines for `login` until `stop`; returns (accepted, errors seen).
fn mine(addr: SocketAddr, login: &str, stop: &AtomicBool) -> (u64, Vec<String>) {
    let mut c = Client::connect(addr);
    let id = c.send(
        "login",
        json!({"login": login, "pass": "x", "agent": "XMRig/6.21.0", "algo": ["rx/0"]}),
    );
    let mut job = Value::Null;
    let reply = c.reply(id, &mut job);
    assert_eq!(reply["result"]["status"], "OK", "{reply}");
    let sid = reply["result"]["id"].as_str().expect("sid").to_owned();
    job = reply["result"]["job"].clone();
    let mut hasher = Hasher::new(job["seed_hash"].as_str().expect("seed"));
    let (mut accepted, mut errors) = (0u64, Vec::new());
    let mut from = 0u32;
    let mut last_job = job["job_id"].clone();
    while !stop.load(Ordering::Relaxed) {
        if job["job_id"] != last_job {
            last_job = job["job_id"].clone();
            from = 0;
        }
        if hasher.seed != job["seed_hash"].as_str().expect("seed") {
            hasher = Hasher::new(job["seed_hash"].as_str().expect("seed"));
        }
        let Some((nonce, nonce_hex, result)) = solve(&hasher, &job, from, stop) else {
            break;
        };
        from = nonce + 1;
        let id = c.send(
            "submit",
            json!({"id": sid, "job_id": job["job_id"], "nonce": nonce_hex, "result": result, "algo": "rx/0"}),
        );
        let reply = c.reply(id, &mut job);
        if reply["result"]["status"] == "OK" {
            accepted += 1;
        } else {
            errors.push(reply["error"]["message"].as_str().unwrap_or("?").to_owned());
        }
    }
    (accepted, errors)
}

fn wait_status(node: &MoneroNode, what: &str, f: impl Fn(&MoneroStatus) -> bool) -> MoneroStatus {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let s = node.status().borrow().clone();
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} within 240 s: {s:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn get<T: serde::de::DeserializeOwned>(api: &str, path: &str) -> T {
    let answer = reqwest::get(format!("{api}{path}"))
        .await
        .expect("api answers");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.json().await.expect("api JSON")
}

/// Polls `/api/payouts` until block `id` satisfies `want`.
async fn wait_block(
    api: &str,
    id: &str,
    what: &str,
    want: impl Fn(&FoundBlock) -> bool,
) -> FoundBlock {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(90) {
        let p: Payouts = get(api, "/api/payouts").await;
        if let Some(b) = p.blocks.into_iter().find(|b| b.hash == id) {
            if want(&b) {
                return b;
            }
            last = Some(b);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("block {id}: {what} within 90 s; last seen {last:?}");
}

/// The API tells what the wallets' own scans found: each main-chain block's payouts as
/// each wallet received them, proven on chain with a miner transaction that matches;
/// each miner's page lists what it was paid; the status, the shares and the workers
/// are this node's.
async fn check_api(
    api: &str,
    node: &MoneroNode,
    main_blocks: &[BlockRecord],
    wallets: [(&String, &BTreeMap<u64, u64>); 2],
) {
    let local = node.status().borrow().clone();
    let status: Status = get(api, "/api/status").await;
    assert_eq!(status.chain, "xmr-regtest");
    assert!(status.parent.reachable);
    assert!(status.sharechain.height.is_some() && status.sharechain.shares > 0);
    assert!(status.hashrate.local > 0.0, "{status:?}");
    let page: SharePage = get(api, "/api/shares?per_page=5").await;
    assert!(page.total >= 2 && page.shares.len() >= 2, "{page:?}");
    assert_eq!(page.shares[0].height, page.shares[1].height + 1);
    let payouts: Payouts = get(api, "/api/payouts").await;
    let expected: u64 = payouts.expected.iter().map(|p| p.amount_sat).sum();
    assert_eq!(
        expected, payouts.reward_sat,
        "a block found now pays its whole reward"
    );
    for b in main_blocks {
        let found = wait_block(api, &b.id, "confirmed with a matching miner tx", |f| {
            f.chain.state == OnChainState::Confirmed && f.chain.coinbase_matches == Some(true)
        })
        .await;
        assert!(found.chain.confirmations >= 1);
        for (address, income) in wallets {
            let api_amount: u64 = found
                .payouts
                .iter()
                .filter(|p| p.address.as_deref() == Some(address.as_str()))
                .map(|p| p.amount_sat)
                .sum();
            let scanned = income.get(&b.height).copied().unwrap_or(0);
            assert_eq!(api_amount, scanned, "block {} pays {address}", b.height);
        }
    }
    for (address, income) in wallets {
        let view: MinerView = get(api, &format!("/api/miner/{address}")).await;
        for b in main_blocks {
            let scanned = income.get(&b.height).copied().unwrap_or(0);
            let listed = view
                .payouts
                .iter()
                .find(|p| p.hash == b.id)
                .map_or(0, |p| p.amount_sat);
            assert_eq!(listed, scanned, "{address}'s page, block {}", b.height);
        }
        assert!(view.expected.reward_sat > 0);
    }
    let workers: Vec<Worker> = get(api, "/api/workers").await;
    let rig = format!("{}.rig1", wallets[0].0);
    assert!(
        workers.iter().any(|w| w.name == rig && w.accepted > 0),
        "{workers:?}"
    );
    assert!(local.accepted > 0);
}

/// Pops the node's top block off monerod and mines seven others in its place: the API
/// turns it `orphaned`.
async fn orphan_the_top_block(api: &str, client: &MonerodClient, monerod_url: &str) {
    let top = client
        .call("get_last_block_header", json!({}))
        .await
        .expect("last header");
    let id = top["block_header"]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    wait_block(api, &id, "confirmed", |f| {
        f.chain.state == OnChainState::Confirmed
    })
    .await;
    let popped: Value = reqwest::Client::new()
        .post(format!("{monerod_url}/pop_blocks"))
        .json(&json!({"nblocks": 1}))
        .send()
        .await
        .expect("pop_blocks")
        .json()
        .await
        .expect("pop_blocks JSON");
    assert_eq!(popped["status"], "OK", "{popped}");
    // monerod mines them itself: slow on its first call (it sets up RandomX).
    client
        .call_within(
            "generateblocks",
            json!({"amount_of_blocks": 7, "wallet_address": NODE_WALLET}),
            Duration::from_secs(180),
        )
        .await
        .expect("generateblocks");
    let orphaned = wait_block(api, &id, "orphaned", |f| {
        f.chain.state == OnChainState::Orphaned
    })
    .await;
    assert_eq!(orphaned.chain.confirmations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_miners_find_blocks_that_monerod_accepts() {
    let Some(_bin) = skip::or_skip(
        skip::MONERO,
        "two_miners_find_blocks_that_monerod_accepts",
        monerod_path(),
        "install it with: sudo apt-get install monero (or set MONEROD)",
    ) else {
        return;
    };
    let (daemon, _daemon_dir, client) = monerod::start_ready(MONERO_DIFFICULTY).await;
    let wallets = MonerodClient::new(vec![daemon.wallet_url.clone()]);
    let miner_a = create_wallet(&wallets, "a").await.expect("wallet a");
    let miner_b = create_wallet(&wallets, "b").await.expect("wallet b");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = MoneroSettings {
        params: SidechainParams::regtest(),
        daemons: vec![daemon.monerod_url.clone()],
        zmq: Some(daemon.zmq.clone()),
        poll_interval: Duration::from_millis(500),
        store: dir.path().join("sidechain"),
        wallet: parse_wallet(NODE_WALLET).expect("wallet"),
        stratum: StratumConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..StratumConfig::default()
        },
        p2p: None,
        dataset: None,
    };
    let node = MoneroNode::start(settings).await.expect("node starts");
    let addr = node.stratum_addr();
    // The API and dashboard over this node, as `serve` runs them.
    let mut api_config = otedama_node::config::Config::default();
    api_config.app.data_dir = dir.path().join("api");
    let services = Services::start_with(
        MoneroApiAdapter::new(node.handle().clone(), "pool-test".into(), None),
        MetricSources::default(),
        &api_config,
        &ServiceSet {
            api: Some("127.0.0.1:0".parse().expect("addr")),
            ..ServiceSet::default()
        },
    )
    .await
    .expect("api starts");
    let api = format!("http://{}", services.api_addr().expect("api address"));
    let node = Arc::new(node);
    {
        let node = Arc::clone(&node);
        tokio::task::spawn_blocking(move || {
            wait_status(&node, "work", |s| s.share_difficulty.is_some())
        })
        .await
        .expect("status");
    }

    // Protocol errors first, on a connection of their own.
    let errors = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(addr);
        let mut job = Value::Null;
        let id = c.send("submit", json!({"id": "x", "job_id": "0", "nonce": "00000000", "result": "00"}));
        let unauth = c.reply(id, &mut job);
        let id = c.send("login", json!({"login": "not-an-address", "pass": "x"}));
        let bad_login = c.reply(id, &mut job);
        let id = c.send("login", json!({"login": format!("{PROBE}.probe"), "pass": "x", "algo": ["rx/0"]}));
        let ok = c.reply(id, &mut job);
        let sid = ok["result"]["id"].as_str().expect("sid").to_owned();
        job = ok["result"]["job"].clone();
        let id = c.send("submit", json!({"id": sid, "job_id": "ffff", "nonce": "00000000", "result": hex::encode([0u8; 32])}));
        let unknown_job = c.reply(id, &mut job);
        let id = c.send("submit", json!({"id": sid, "job_id": job["job_id"], "nonce": "01000000", "result": hex::encode([0u8; 32])}));
        let wrong_result = c.reply(id, &mut job);
        let id = c.send("submit", json!({"id": sid, "job_id": job["job_id"], "nonce": "01000000", "result": hex::encode([0u8; 32])}));
        let duplicate = c.reply(id, &mut job);
        let id = c.send("keepalived", json!({"id": sid}));
        let keepalive = c.reply(id, &mut job);
        [unauth, bad_login, unknown_job, wrong_result, duplicate, keepalive]
    })
    .await
    .expect("probe");
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e["error"]["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(messages[0], "Unauthenticated", "{errors:?}");
    assert!(messages[1].starts_with("Invalid address"), "{errors:?}");
    assert_eq!(messages[2], "Invalid job id", "{errors:?}");
    assert!(messages[3].starts_with("Invalid result"), "{errors:?}");
    assert_eq!(messages[4], "Duplicate share", "{errors:?}");
    assert_eq!(errors[5]["result"]["status"], "KEEPALIVED", "{errors:?}");

    // Miner A is this test's own xmrig-dialect client; miner B is the node's built-in
    // RandomX miner.
    let stop = Arc::new(AtomicBool::new(false));
    let miner = {
        let (stop, login) = (Arc::clone(&stop), format!("{miner_a}.rig1"));
        std::thread::spawn(move || mine(addr, &login, &stop))
    };
    let builtin_stats = Arc::new(otedama_miner::xmrig::XmrigMinerStats::default());
    let (stop_builtin, stopped) = tokio::sync::watch::channel(false);
    let builtin = tokio::spawn(otedama_miner::xmrig::run(
        otedama_miner::xmrig::XmrigMinerConfig {
            pool: addr.to_string(),
            login: format!("{miner_b}.builtin"),
            threads: 1,
            priority: otedama_miner::ThreadPriority::Normal,
            affinity: otedama_miner::CpuAffinity::default(),
            mode: otedama_miner::randomx::RandomxMode::Light,
            vm: otedama_miner::randomx::VmEngine::Auto,
            dataset: None,
        },
        Arc::clone(&builtin_stats),
        stopped,
    ));
    let status = {
        let node = Arc::clone(&node);
        tokio::task::spawn_blocking(move || {
            // Two shares of one template may both meet Monero's difficulty: monerod takes
            // both, and only one stays on the main chain. Count heights, not blocks.
            wait_status(&node, "blocks accepted by monerod", |s| {
                let heights: std::collections::BTreeSet<u64> = s
                    .blocks
                    .iter()
                    .filter(|b| b.accepted)
                    .map(|b| b.height)
                    .collect();
                heights.len() >= BLOCKS
            })
        })
        .await
        .expect("status")
    };
    stop.store(true, Ordering::Relaxed);
    let _ = stop_builtin.send(true);
    builtin.await.expect("built-in miner");
    let (accepted, errors) = miner.join().expect("miner");
    // This miner reads new jobs only between submissions, so it may submit for a job the
    // Monero tip moved past, or one the session has forgotten; nothing else.
    assert!(accepted > 0, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e == "Stale share" || e == "Invalid job id"),
        "{errors:?}"
    );
    let builtin_accepted = builtin_stats.accepted.load(Ordering::Relaxed);
    let builtin_rejected = builtin_stats.rejected.load(Ordering::Relaxed);
    assert!(builtin_accepted > 0, "the built-in miner found shares");
    assert!(
        builtin_rejected * 4 <= builtin_accepted,
        "built-in miner: {builtin_accepted} accepted, {builtin_rejected} refused"
    );
    // At every height the node found a block, one of its blocks is on monerod's main
    // chain (a second one of the same height is a lost race), and its coinbase pays the
    // full reward in one output per PPLNS payee.
    let mut main_blocks = Vec::new();
    for b in status.blocks.iter().filter(|b| b.accepted) {
        let main = client.header_by_height(b.height).await.expect("by height");
        if main.hash == b.id {
            main_blocks.push(b.clone());
        } else {
            assert!(
                status
                    .blocks
                    .iter()
                    .any(|o| o.height == b.height && o.id == main.hash),
                "height {}: the main-chain block is not the node's",
                b.height
            );
        }
    }
    assert!(main_blocks.len() >= BLOCKS, "{status:?}");
    for b in &main_blocks {
        let header = client
            .call("get_block_header_by_hash", json!({"hash": b.id}))
            .await
            .expect("block known to monerod");
        let h = &header["block_header"];
        let main = client
            .header_by_height(h["height"].as_u64().expect("height"))
            .await
            .expect("by height");
        assert_eq!(main.hash, b.id, "block {} is on the main chain", b.id);
        let block = client
            .call("get_block", json!({"hash": b.id}))
            .await
            .expect("get_block");
        let json: Value =
            serde_json::from_str(block["json"].as_str().expect("json")).expect("block json");
        let outs = json["miner_tx"]["vout"].as_array().expect("outputs");
        let total: u64 = outs
            .iter()
            .map(|o| o["amount"].as_u64().expect("amount"))
            .sum();
        assert_eq!(total, h["reward"].as_u64().expect("reward"), "{json}");
        assert!(
            !outs.is_empty() && outs.len() <= 3,
            "one output per payee: {json}"
        );
    }
    let income_a = wallet_income(&wallets, "a").await.expect("scan a");
    let income_b = wallet_income(&wallets, "b").await.expect("scan b");
    check_api(
        &api,
        &node,
        &main_blocks,
        [(&miner_a, &income_a), (&miner_b, &income_b)],
    )
    .await;
    orphan_the_top_block(&api, &client, &daemon.monerod_url).await;
    services.stop().await;
    let node = Arc::into_inner(node).expect("one owner");
    node.stop().await;

    // What PPLNS gives each wallet in each block, from the shares the node stored.
    let chain = monerod::StoredChain::open(&dir.path().join("sidechain"));
    let mut checked = 0;
    for b in &main_blocks {
        let (height, reward, split) = chain.split(&b.share);
        let expected = |address: &str| split.get(address).copied().unwrap_or(0);
        let got_a = income_a.get(&height).copied().unwrap_or(0);
        let got_b = income_b.get(&height).copied().unwrap_or(0);
        assert_eq!(
            (got_a, got_b),
            (expected(&miner_a), expected(&miner_b)),
            "block at height {height}: {split:?}"
        );
        assert_eq!(
            got_a + got_b,
            reward,
            "the two miners share the whole reward"
        );
        checked += 1;
    }
    assert!(checked >= BLOCKS);
    drop(daemon);
}

/// `otedama-node devnet --chain xmr-regtest`: monerod, monero-wallet-rpc, the node and two
/// built-in miners; its summary reports what each wallet's own scan found in each block.
#[test]
fn the_monero_devnet_pays_its_wallets() {
    if skip::or_skip(
        skip::MONERO,
        "the_monero_devnet_pays_its_wallets",
        monerod_path(),
        "install it with: sudo apt-get install monero (or set MONEROD)",
    )
    .is_none()
    {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args([
            "devnet",
            "--chain",
            "xmr-regtest",
            "--blocks",
            "2",
            "--json",
        ])
        // Free ports: the API and Stratum defaults may be taken on a developer's machine.
        .args(["--stratum", "127.0.0.1:0", "--api", "127.0.0.1:0"])
        .output()
        .expect("devnet runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    let blocks = summary["blocks"].as_array().expect("blocks");
    // The miners stop after the second height; a block in flight may make a third.
    assert!(blocks.len() >= 2, "{summary}");
    for b in blocks {
        let paid: u64 = b["payouts"]
            .as_object()
            .expect("payouts")
            .values()
            .map(|v| v.as_u64().expect("amount"))
            .sum();
        // A regtest block reward is about 35 XMR; the wallets' scans found it all.
        assert!(paid > 1_000_000_000_000, "{summary}");
    }
}
