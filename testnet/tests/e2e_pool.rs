//! End to end on a real litecoind regtest: the node, two built-in miners with different
//! payout addresses over Stratum, blocks accepted by litecoind whose coinbases pay both
//! miners exactly what PPLNS predicts, and the Stratum errors for bad, stale and
//! duplicate submissions.

use otedama_miner::{Miner, MinerConfig};
use otedama_node::config::{ChainConfig, Config, DaemonConfig, MiningAlgorithm};
use otedama_node::devnet::devnet_payouts;
use otedama_node::{Node, NodeEvent};
use otedama_sharechain::{
    BlockHash, ChainSpec, Difficulty, PowAlgorithm, ShareHash, Store, Target, sha256d, sha256d_pair,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

const SPEC: &str = "ltc-regtest";

/// A line-oriented Stratum client that speaks the protocol by hand.
struct RawClient {
    lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    write: tokio::net::tcp::OwnedWriteHalf,
    next_id: u64,
    en1: Vec<u8>,
    difficulty: f64,
    jobs: Vec<Value>,
}

impl RawClient {
    async fn connect(addr: SocketAddr, user: &str) -> RawClient {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut c = RawClient {
            lines: BufReader::new(r).lines(),
            write: w,
            next_id: 1,
            en1: Vec::new(),
            difficulty: 0.0,
            jobs: Vec::new(),
        };
        let sub = c.call("mining.subscribe", json!(["e2e-raw/1"])).await;
        c.en1 = hex::decode(sub["result"][1].as_str().expect("extranonce1")).expect("hex");
        let auth = c.call("mining.authorize", json!([user, "x"])).await;
        assert_eq!(auth["result"], json!(true), "{auth}");
        c
    }

    async fn read(&mut self) -> Value {
        let line = timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("no line within 30 s")
            .expect("read")
            .expect("connection open");
        let v: Value = serde_json::from_str(&line).expect("json line");
        match v["method"].as_str() {
            Some("mining.set_difficulty") => {
                self.difficulty = v["params"][0].as_f64().expect("difficulty")
            }
            Some("mining.notify") => self.jobs.push(v["params"].clone()),
            _ => {}
        }
        v
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.write.write_all(line.as_bytes()).await.expect("write");
        loop {
            let v = self.read().await;
            if v["id"] == json!(id) {
                return v;
            }
        }
    }

    /// Sends two requests in one write and returns both answers. The server reads the
    /// second before anything the first may cause (a found block's clean job) reaches
    /// the session.
    async fn call_pair(&mut self, method: &str, params: Value) -> (Value, Value) {
        let (first, second) = (self.next_id, self.next_id + 1);
        self.next_id += 2;
        let lines = format!(
            "{}\n{}\n",
            json!({"id": first, "method": method, "params": params}),
            json!({"id": second, "method": method, "params": params})
        );
        self.write.write_all(lines.as_bytes()).await.expect("write");
        let (mut a, mut b) = (None, None);
        while a.is_none() || b.is_none() {
            let v = self.read().await;
            if v["id"] == json!(first) {
                a = Some(v);
            } else if v["id"] == json!(second) {
                b = Some(v);
            }
        }
        (a.unwrap_or_default(), b.unwrap_or_default())
    }

    /// Waits for a notify (with `clean` if asked).
    async fn job(&mut self, clean: bool) -> Value {
        loop {
            if let Some(j) = self.jobs.last()
                && (!clean || j[8] == json!(true))
            {
                let j = j.clone();
                self.jobs.clear();
                return j;
            }
            self.read().await;
        }
    }
}

/// Builds the header of `job` for `en2` and `nonce` exactly as the Stratum conventions say.
fn header(job: &Value, en1: &[u8], en2: &[u8], nonce: u32) -> [u8; 80] {
    let h = |i: usize| hex::decode(job[i].as_str().expect("hex field")).expect("hex");
    let word = |i: usize| u32::from_str_radix(job[i].as_str().expect("word"), 16).expect("hex u32");
    let mut coinbase = h(2);
    coinbase.extend_from_slice(en1);
    coinbase.extend_from_slice(en2);
    coinbase.extend_from_slice(&h(3));
    let mut root = sha256d(&coinbase);
    for b in job[4].as_array().expect("branch") {
        let b: [u8; 32] = hex::decode(b.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        root = sha256d_pair(&root, &b);
    }
    let mut prev = h(1);
    for w in prev.chunks_mut(4) {
        w.reverse();
    }
    let mut out = [0u8; 80];
    out[..4].copy_from_slice(&word(5).to_le_bytes());
    out[4..36].copy_from_slice(&prev);
    out[36..68].copy_from_slice(&root);
    out[68..72].copy_from_slice(&word(7).to_le_bytes());
    out[72..76].copy_from_slice(&word(6).to_le_bytes());
    out[76..].copy_from_slice(&nonce.to_le_bytes());
    out
}

/// Finds a nonce whose PoW meets (or, with `meet = false`, misses) the client's target.
fn find_nonce(job: &Value, en1: &[u8], en2: &[u8], target: Target, meet: bool) -> u32 {
    (0..10_000u32)
        .find(|n| target.is_met_by(&PowAlgorithm::Scrypt.hash(&header(job, en1, en2, *n))) == meet)
        .expect("a nonce within 10 000 tries")
}

fn submit_params(user: &str, job: &Value, en2: &[u8], nonce: u32) -> Value {
    json!([
        user,
        job[0],
        hex::encode(en2),
        job[7],
        format!("{nonce:08x}")
    ])
}

#[test]
fn pool_blocks_pay_both_miners_exactly_pplns() {
    let Some(daemon) = otedama_testnet::skip::litecoind_or_skip(
        "pool_blocks_pay_both_miners_exactly_pplns",
        &["-vbparams=mweb:-2:0"],
    ) else {
        return;
    };
    let spec = ChainSpec::by_name(SPEC).expect("spec");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.app.data_dir = dir.path().join("node");
    config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.pool.address = "127.0.0.1:0".parse().expect("addr");
    config.mining.algorithm = MiningAlgorithm::Scrypt;
    config.chains = vec![ChainConfig {
        spec: SPEC.into(),
        daemons: vec![DaemonConfig {
            url: daemon.rpc_url(),
            cookie_file: Some(daemon.cookie_path().to_path_buf()),
            user: None,
            password: None,
            zmq: None,
        }],
    }];
    let [(addr_a, script_a), (addr_b, script_b)] = devnet_payouts(spec);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // Blocks whose coinbase pays both miners: (block hash, share hash).
    let found: Vec<(BlockHash, ShareHash)> = runtime.block_on(async {
        let node = Node::start(&config, None).await.expect("node starts");
        let mut events = node.events();
        let stratum = node.stratum_addr();

        // Stratum errors from a raw client, while nobody else mines (jobs stay put).
        let user = format!("{addr_a}.raw");
        let mut raw = RawClient::connect(stratum, &user).await;
        let job = raw.job(false).await;
        let target = Difficulty::new(raw.difficulty)
            .expect("difficulty")
            .to_stratum_target(PowAlgorithm::Scrypt);
        let en2 = [0, 0, 0, 1];
        let bad = find_nonce(&job, &raw.en1, &en2, target, false);
        let r = raw
            .call("mining.submit", submit_params(&user, &job, &en2, bad))
            .await;
        assert_eq!(r["error"][0], json!(23), "bad PoW: {r}");
        let good = find_nonce(&job, &raw.en1, &en2, target, true);
        // The share and its duplicate in one write: the share is a block (regtest), and
        // the duplicate must be judged before the block's clean job replaces the job.
        let submitted = std::time::Instant::now();
        let (r, dup) = raw
            .call_pair("mining.submit", submit_params(&user, &job, &en2, good))
            .await;
        assert_eq!(r["result"], json!(true), "valid share: {r}");
        assert_eq!(dup["error"][0], json!(22), "duplicate: {dup}");
        // That share met the parent target (regtest): the new block (litecoind accepts it,
        // the node's long-poll returns, new work goes out) reaches this miner as a clean
        // job within 100 ms of the submission.
        let _fresh = raw.job(true).await;
        let latency = submitted.elapsed();
        eprintln!("new block to clean notify: {latency:?}");
        assert!(
            latency < Duration::from_millis(100),
            "new block reached the miner after {latency:?}"
        );
        let en2 = [0, 0, 0, 2];
        let other = find_nonce(&job, &raw.en1, &en2, target, true);
        let r = raw
            .call("mining.submit", submit_params(&user, &job, &en2, other))
            .await;
        assert_eq!(r["error"][0], json!(21), "stale: {r}");
        drop(raw);

        let mut miners = Vec::new();
        for addr in [&addr_a, &addr_b] {
            miners.push(
                Miner::start(MinerConfig {
                    pools: vec![format!("stratum+tcp://{stratum}")],
                    user: format!("{addr}.e2e"),
                    password: "x".into(),
                    threads: 1,
                    algorithm: PowAlgorithm::Scrypt,
                    max_hashrate: None,
                    priority: otedama_miner::ThreadPriority::default(),
                    affinity: otedama_miner::CpuAffinity::default(),
                })
                .expect("miner starts"),
            );
        }
        let mut found = Vec::new();
        let wait = async {
            while found.len() < 3 {
                match events.recv().await {
                    Ok(NodeEvent::BlockFound {
                        hash,
                        share,
                        payouts,
                        accepted,
                        stale,
                        errors,
                        ..
                    }) => {
                        if stale {
                            // Valid, but a sibling share won the race at this height.
                            continue;
                        }
                        assert!(accepted, "litecoind rejected {hash}: {errors:?}");
                        let scripts: Vec<_> = payouts.iter().map(|p| &p.0).collect();
                        if scripts.contains(&&script_a) && scripts.contains(&&script_b) {
                            found.push((hash, share));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
        };
        timeout(Duration::from_secs(180), wait)
            .await
            .expect("3 blocks paying both miners within 180 s");
        for m in miners {
            m.stop().await;
        }
        node.stop().await;
        found
    });

    // Predict each coinbase from the stored sharechain, and read what litecoind has.
    let (store, chain) =
        Store::open(&dir.path().join("node").join(SPEC).join("shares"), spec).expect("store");
    for (block_hash, share_hash) in found {
        let share = store.get(&share_hash).expect("read").expect("share stored");
        let predicted = otedama_testnet::predicted_split(&chain, &share).expect("window");
        let block = daemon
            .rpc
            .call("getblock", json!([block_hash.to_string(), 2]))
            .expect("litecoind knows the block");
        assert!(
            block["confirmations"].as_i64().expect("confirmations") >= 1,
            "on the best chain"
        );
        let paid = otedama_testnet::coinbase_outputs(&block).expect("a coinbase");
        assert_eq!(paid, predicted, "block {block_hash}");
        assert!(paid.contains_key(&hex::encode(script_a.as_bytes())));
        assert!(paid.contains_key(&hex::encode(script_b.as_bytes())));
    }
}
