//! End-to-end tests of the miner against a fake Stratum v1 pool on 127.0.0.1. The pool
//! checks every submitted share on its own (coinbase, merkle root, header, PoW) with the
//! sharechain primitives, independently of the miner's job code.

use otedama_miner::{Miner, MinerConfig, MinerStats, PowAlgorithm};
use otedama_sharechain::{
    BlockHash, BlockHeader, CompactTarget, Difficulty, Target, sha256d, sha256d_pair,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::{sleep, timeout};

const USER: &str = "ltc1qtestpayout.rig1";

/// How the fake pool behaves.
#[derive(Clone)]
struct Behaviour {
    algorithm: PowAlgorithm,
    difficulty: f64,
    extranonce2_size: usize,
    authorize: bool,
    /// After this many accepted shares, job 2 is notified and job 1 shares are stale.
    switch_after: usize,
    /// Whether job 2 is notified with `clean_jobs`.
    clean_switch: bool,
    /// After this many accepted shares, submits get no answer (so counts settle).
    accept_limit: usize,
    /// Close the first connection right after the first notify.
    drop_first: bool,
    /// The version-rolling mask granted to `mining.configure`; `None` answers it as an
    /// unknown method, as pools without BIP310 do.
    version_mask: Option<u32>,
    seed: u64,
}

impl Behaviour {
    fn new(algorithm: PowAlgorithm, difficulty: f64) -> Self {
        Self {
            algorithm,
            difficulty,
            extranonce2_size: 4,
            authorize: true,
            switch_after: usize::MAX,
            clean_switch: true,
            accept_limit: usize::MAX,
            drop_first: false,
            version_mask: None,
            seed: 1,
        }
    }
}

/// What the fake pool observed.
#[derive(Default)]
struct Log {
    connections: AtomicUsize,
    authorized: AtomicUsize,
    accepted: AtomicUsize,
    stale: AtomicUsize,
    /// Valid submits whose version differs from the job's.
    rolled: AtomicUsize,
    agents: Mutex<Vec<String>>,
    invalid: Mutex<Vec<String>>,
}

impl Log {
    fn invalid(&self) -> Vec<String> {
        self.invalid.lock().expect("lock").clone()
    }
}

/// A job as the pool sent it, kept to verify submits.
struct PoolJob {
    prev: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
}

/// splitmix64: a fixed-seed generator for the pool's coinbase and branch bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn hash(&mut self) -> [u8; 32] {
        std::array::from_fn(|_| self.next() as u8)
    }
}

impl PoolJob {
    fn random(rng: &mut Rng) -> Self {
        let coinb1_len = 40 + (rng.next() % 20) as usize;
        let coinb2_len = 30 + (rng.next() % 60) as usize;
        let branch_len = 1 + (rng.next() % 4) as usize;
        Self {
            prev: rng.hash(),
            coinb1: rng.bytes(coinb1_len),
            coinb2: rng.bytes(coinb2_len),
            branch: (0..branch_len).map(|_| rng.hash()).collect(),
            version: 0x2000_0000 | (rng.next() as u32 & 0xffff),
            nbits: 0x1d00_ffff,
            ntime: 1_700_000_000 + (rng.next() % 1000) as u32,
        }
    }

    fn notify(&self, job_id: &str, clean: bool) -> Value {
        // Stratum prevhash: each 4-byte word of the internal bytes, byte-reversed.
        let prev: String = self
            .prev
            .chunks(4)
            .map(|w| {
                w.iter()
                    .rev()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .collect();
        json!({"id": null, "method": "mining.notify", "params": [
            job_id, prev, hex::encode(&self.coinb1), hex::encode(&self.coinb2),
            self.branch.iter().map(hex::encode).collect::<Vec<_>>(),
            format!("{:08x}", self.version), format!("{:08x}", self.nbits),
            format!("{:08x}", self.ntime), clean,
        ]})
    }

    /// Rebuilds the header of a submit and checks its proof of work; returns whether the
    /// version was rolled.
    fn check(&self, en1: &[u8], b: &Behaviour, p: &[Value]) -> Result<bool, String> {
        let field = |i: usize| p.get(i).and_then(Value::as_str).ok_or(format!("param {i}"));
        if field(0)? != USER {
            return Err("wrong user".into());
        }
        let en2 = hex::decode(field(2)?).map_err(|e| e.to_string())?;
        if en2.len() != b.extranonce2_size {
            return Err(format!("extranonce2 of {} bytes", en2.len()));
        }
        let ntime = u32::from_str_radix(field(3)?, 16).map_err(|e| e.to_string())?;
        if field(3)?.len() != 8 || ntime != self.ntime {
            return Err(format!("ntime {}", field(3)?));
        }
        let nonce_hex = field(4)?;
        let nonce = u32::from_str_radix(nonce_hex, 16).map_err(|e| e.to_string())?;
        if nonce_hex.len() != 8 {
            return Err(format!("nonce {nonce_hex}"));
        }
        let version = match (p.get(5), b.version_mask) {
            (None, _) => self.version,
            (Some(_), None) => return Err("version bits without a granted mask".into()),
            (Some(bits), Some(mask)) => {
                let bits = bits.as_str().ok_or("version bits")?;
                let bits = u32::from_str_radix(bits, 16).map_err(|e| e.to_string())?;
                if bits & !mask != 0 {
                    return Err(format!("version bits {bits:08x} outside the mask"));
                }
                (self.version & !mask) | bits
            }
        };
        let coinbase = [&self.coinb1[..], en1, &en2, &self.coinb2].concat();
        let merkle_root = self
            .branch
            .iter()
            .fold(sha256d(&coinbase), |acc, e| sha256d_pair(&acc, e));
        let header = BlockHeader {
            version: version as i32,
            prev_block: BlockHash::from_bytes(self.prev),
            merkle_root,
            time: ntime,
            bits: CompactTarget::from_consensus(self.nbits),
            nonce,
        };
        let target = pool_target(b);
        if !target.is_met_by(&b.algorithm.hash(&header.to_bytes())) {
            return Err(format!("above target: en2 {} nonce {nonce_hex}", field(2)?));
        }
        Ok(version != self.version)
    }
}

fn pool_target(b: &Behaviour) -> Target {
    Difficulty::new(b.difficulty)
        .expect("positive difficulty")
        .to_stratum_target(b.algorithm)
}

async fn send(w: &mut OwnedWriteHalf, v: Value) -> std::io::Result<()> {
    w.write_all(format!("{v}\n").as_bytes()).await
}

/// Starts a fake pool; returns its URL and log.
async fn fake_pool(b: Behaviour) -> (String, Arc<Log>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "stratum+tcp://{}",
        listener.local_addr().expect("local addr")
    );
    let log = Arc::new(Log::default());
    let server_log = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = server_log.connections.fetch_add(1, Ordering::SeqCst);
            let (b, log) = (b.clone(), Arc::clone(&server_log));
            tokio::spawn(async move {
                let _ = serve(stream, b, log, n).await;
            });
        }
    });
    (url, log)
}

async fn serve(
    stream: tokio::net::TcpStream,
    b: Behaviour,
    log: Arc<Log>,
    connection: usize,
) -> std::io::Result<()> {
    let mut rng = Rng(b.seed.wrapping_add(connection as u64));
    let en1 = rng.bytes(4);
    let jobs = [PoolJob::random(&mut rng), PoolJob::random(&mut rng)];
    let mut current = 0;
    let mut seen = HashSet::new();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            log.invalid
                .lock()
                .expect("lock")
                .push(format!("bad json {line}"));
            continue;
        };
        let id = msg["id"].clone();
        let params = msg["params"].as_array().cloned().unwrap_or_default();
        match msg["method"].as_str() {
            Some("mining.configure") => {
                let reply = match b.version_mask {
                    Some(mask) => json!({"id": id, "error": null, "result": {
                        "version-rolling": true,
                        "version-rolling.mask": format!("{mask:08x}"),
                    }}),
                    None => {
                        json!({"id": id, "result": null, "error": [20, "unknown method", null]})
                    }
                };
                send(&mut w, reply).await?;
            }
            Some("mining.subscribe") => {
                if let Some(agent) = params.first().and_then(Value::as_str) {
                    log.agents.lock().expect("lock").push(agent.to_owned());
                }
                let result = json!([
                    [["mining.notify", "1"]],
                    hex::encode(&en1),
                    b.extranonce2_size
                ]);
                send(&mut w, json!({"id": id, "result": result, "error": null})).await?;
            }
            Some("mining.authorize") => {
                if !b.authorize {
                    let error = json!([24, "unauthorized worker", null]);
                    send(&mut w, json!({"id": id, "result": null, "error": error})).await?;
                    continue;
                }
                log.authorized.fetch_add(1, Ordering::SeqCst);
                send(&mut w, json!({"id": id, "result": true, "error": null})).await?;
                let diff = json!({"id": null, "method": "mining.set_difficulty", "params": [b.difficulty]});
                send(&mut w, diff).await?;
                send(&mut w, jobs[0].notify("1", true)).await?;
                if b.drop_first && connection == 0 {
                    return Ok(());
                }
            }
            Some("mining.submit") => {
                if log.accepted.load(Ordering::SeqCst) >= b.accept_limit {
                    continue;
                }
                let job_index = match params.get(1).and_then(Value::as_str) {
                    Some("1") => 0,
                    Some("2") => 1,
                    other => {
                        log.invalid
                            .lock()
                            .expect("lock")
                            .push(format!("job {other:?}"));
                        continue;
                    }
                };
                let checked = jobs[job_index].check(&en1, &b, &params).and_then(|rolled| {
                    let key = (
                        job_index,
                        params[2].clone(),
                        params[4].clone(),
                        params.get(5).cloned(),
                    );
                    if rolled {
                        log.rolled.fetch_add(1, Ordering::SeqCst);
                    }
                    seen.insert(key).then_some(()).ok_or("duplicate".to_owned())
                });
                if let Err(e) = checked {
                    log.invalid.lock().expect("lock").push(e);
                    let error = json!([23, "invalid share", null]);
                    send(&mut w, json!({"id": id, "result": null, "error": error})).await?;
                } else if job_index != current {
                    log.stale.fetch_add(1, Ordering::SeqCst);
                    let error = json!([21, "Job not found", null]);
                    send(&mut w, json!({"id": id, "result": null, "error": error})).await?;
                } else {
                    let accepted = log.accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    send(&mut w, json!({"id": id, "result": true, "error": null})).await?;
                    if accepted == b.switch_after {
                        current = 1;
                        send(&mut w, jobs[1].notify("2", b.clean_switch)).await?;
                    }
                }
            }
            _ => log
                .invalid
                .lock()
                .expect("lock")
                .push(format!("unexpected {line}")),
        }
    }
    Ok(())
}

/// Polls `cond` until it holds; panics after `limit`.
async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let polled = timeout(limit, async {
        while !cond() {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "timed out waiting for {what}");
}

fn config(pools: Vec<String>, threads: usize, algorithm: PowAlgorithm) -> MinerConfig {
    MinerConfig {
        pools,
        user: USER.into(),
        password: "x".into(),
        threads,
        algorithm,
        max_hashrate: None,
        priority: otedama_miner::ThreadPriority::default(),
        affinity: otedama_miner::CpuAffinity::default(),
    }
}

/// Mines against a pool that switches jobs after three accepted shares (answering
/// "stale" for the old job from then on) and stops answering after six; every submit
/// must verify, and the miner's counts must match the pool's.
async fn mines_verified_shares(b: Behaviour, threads: usize) -> MinerStats {
    let b = Behaviour {
        switch_after: 3,
        accept_limit: 6,
        ..b
    };
    let (url, log) = fake_pool(b.clone()).await;
    let miner = Miner::start(config(vec![url.clone()], threads, b.algorithm)).expect("start");
    // A bad share ends the wait at once instead of running into the timeout.
    wait_until("six accepted shares", Duration::from_secs(120), || {
        log.accepted.load(Ordering::SeqCst) >= 6 || !log.invalid().is_empty()
    })
    .await;
    assert_eq!(log.invalid(), Vec::<String>::new());
    wait_until(
        "the miner's counts to settle",
        Duration::from_secs(10),
        || {
            let s = miner.stats();
            s.accepted == 6 && s.stale == log.stale.load(Ordering::SeqCst) as u64
        },
    )
    .await;
    wait_until("a hashrate", Duration::from_secs(15), || {
        miner.stats().hashrate > 0.0
    })
    .await;
    let stats = miner.stats();
    assert_eq!(stats.rejected, 0);
    assert!(stats.connected);
    assert_eq!(stats.pool.as_deref(), Some(url.as_str()));
    assert_eq!(stats.difficulty, b.difficulty);
    assert!(stats.hashes > 0);
    assert_eq!(
        *log.agents.lock().expect("lock"),
        vec!["otedama-miner/0.1".to_owned()]
    );
    timeout(Duration::from_secs(10), miner.stop())
        .await
        .expect("stop returns promptly");
    assert_eq!(log.invalid(), Vec::<String>::new());
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha256d_shares_verify_at_the_pool() {
    // One hash in 2^16 meets the target: shares come fast, but not a flood.
    let d = 1.0 / 65536.0;
    // Without `clean_jobs` the threads finish their chunk of job 1 first: stale answers.
    let b = Behaviour {
        clean_switch: false,
        ..Behaviour::new(PowAlgorithm::Sha256d, d)
    };
    mines_verified_shares(b, 2).await;
}

/// A pool that grants BIP310 version rolling gets shares with rolled versions, each
/// within the granted mask and meeting the target with the rolled version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha256d_shares_roll_the_version_when_the_pool_allows_it() {
    // One share per 2^20 hashes: about one per nonce chunk and version.
    let b = Behaviour {
        version_mask: Some(0x0001_e000),
        seed: 3,
        ..Behaviour::new(PowAlgorithm::Sha256d, 1.0 / 1_048_576.0)
    };
    let (url, log) = fake_pool(b.clone()).await;
    let miner = Miner::start(config(vec![url], 2, b.algorithm)).expect("start");
    wait_until("a rolled share", Duration::from_secs(120), || {
        log.rolled.load(Ordering::SeqCst) >= 1 || !log.invalid().is_empty()
    })
    .await;
    assert_eq!(log.invalid(), Vec::<String>::new());
    timeout(Duration::from_secs(10), miner.stop())
        .await
        .expect("stop returns promptly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrypt_shares_verify_at_the_pool() {
    // Scrypt difficulty units are 65536x smaller: one hash in 2^8 meets 1/256.
    let b = Behaviour {
        extranonce2_size: 3,
        seed: 7,
        ..Behaviour::new(PowAlgorithm::Scrypt, 1.0 / 256.0)
    };
    mines_verified_shares(b, 1).await;
}

/// A port that refuses connections: bound, then released.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("stratum+tcp://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_the_second_pool() {
    let dead = closed_port_url().await;
    let (url, log) = fake_pool(Behaviour::new(PowAlgorithm::Sha256d, 1.0)).await;
    let miner =
        Miner::start(config(vec![dead, url.clone()], 1, PowAlgorithm::Sha256d)).expect("start");
    wait_until(
        "a session on the second pool",
        Duration::from_secs(10),
        || {
            let s = miner.stats();
            s.connected && s.pool.as_deref() == Some(url.as_str())
        },
    )
    .await;
    assert_eq!(log.authorized.load(Ordering::SeqCst), 1);
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_move_to_the_next_pool() {
    let refusing = Behaviour {
        authorize: false,
        ..Behaviour::new(PowAlgorithm::Sha256d, 1.0)
    };
    let (bad, bad_log) = fake_pool(refusing).await;
    let (good, good_log) = fake_pool(Behaviour::new(PowAlgorithm::Sha256d, 1.0)).await;
    let miner =
        Miner::start(config(vec![bad, good.clone()], 1, PowAlgorithm::Sha256d)).expect("start");
    wait_until(
        "a session on the second pool",
        Duration::from_secs(10),
        || {
            let s = miner.stats();
            s.connected && s.pool.as_deref() == Some(good.as_str())
        },
    )
    .await;
    assert_eq!(bad_log.connections.load(Ordering::SeqCst), 1);
    assert_eq!(bad_log.authorized.load(Ordering::SeqCst), 0);
    assert_eq!(good_log.authorized.load(Ordering::SeqCst), 1);
    miner.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_pool_drops_the_connection() {
    let dropping = Behaviour {
        drop_first: true,
        ..Behaviour::new(PowAlgorithm::Sha256d, 1.0)
    };
    let (url, log) = fake_pool(dropping).await;
    let miner = Miner::start(config(vec![url], 1, PowAlgorithm::Sha256d)).expect("start");
    wait_until(
        "a second authorized session",
        Duration::from_secs(10),
        || log.authorized.load(Ordering::SeqCst) >= 2 && miner.stats().connected,
    )
    .await;
    assert_eq!(log.connections.load(Ordering::SeqCst), 2);
    miner.stop().await;
}
