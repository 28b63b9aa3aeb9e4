//! The DAG dialects, replayed message by message as each miner sends them (shapes from
//! their public documentation and sources: ethminer, lolMiner, T-Rex, NBMiner,
//! TeamRedMiner on EthereumStratum/1.0.0; ethminer's `stratum1+tcp` and Claymore on
//! ETHPROXY; kawpowminer, T-Rex, NBMiner and TeamRedMiner on KawPow) against a real
//! server on epoch 0, every share hashed here with the project's light hasher.

use otedama_sharechain::ethash::kawpow::KawpowContext;
use otedama_sharechain::ethash::{Epoch, LightCache};
use otedama_sharechain::test_utils::script;
use otedama_sharechain::{PayoutScript, sha256d};
use otedama_stratum::dag::{
    DagAlgorithm, DagConfig, DagHash, DagHasher, DagServer, DagSubmission, DagTemplate, DagWork,
    DagWorkError, DagWorkSource, difficulty_to_boundary, meets,
};
use otedama_stratum::{OperatorFee, StratumConfig, StratumStats, VardiffConfig};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

/// Replies that need the server's first light cache (built on a blocking thread, in a
/// debug build) may take this long; everything else is immediate.
const WAIT: Duration = Duration::from_secs(60);
/// A quarter of all hashes meet the session difficulty, one in 32 the block target.
const SESSION_DIFFICULTY: f64 = 1.0 / (1u64 << 30) as f64;
const BLOCK_DIFFICULTY: f64 = 1.0 / (1u64 << 27) as f64;
const HEADER: [u8; 32] = [0x5a; 32];
const HEIGHT: u64 = 1_234;

/// Epoch 0's light cache, built once for every test (Ethash and KawPow share it).
fn cache() -> &'static LightCache {
    static CACHE: OnceLock<LightCache> = OnceLock::new();
    CACHE.get_or_init(|| LightCache::new(Epoch::ethash(0)))
}

fn hasher(algorithm: DagAlgorithm) -> &'static DagHasher {
    static ETHASH: OnceLock<DagHasher> = OnceLock::new();
    static KAWPOW: OnceLock<DagHasher> = OnceLock::new();
    match algorithm {
        DagAlgorithm::Kawpow => {
            KAWPOW.get_or_init(|| DagHasher::Kawpow(KawpowContext::from_cache(cache().clone())))
        }
        _ => ETHASH.get_or_init(|| DagHasher::Ethash(cache().clone())),
    }
}

/// A job source with one template for everyone; logins starting with `bad` fail.
struct Source {
    template: Arc<DagTemplate>,
}

impl Source {
    fn new(header: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            template: Arc::new(DagTemplate {
                height: HEIGHT,
                header_hash: header,
                share_target: difficulty_to_boundary(SESSION_DIFFICULTY),
                block_target: difficulty_to_boundary(BLOCK_DIFFICULTY),
                bits: 0x1d00_ffff,
            }),
        })
    }
}

impl DagWorkSource for Source {
    fn payout(&self, address: &str) -> Result<String, DagWorkError> {
        if address.starts_with("bad") {
            return Err(DagWorkError::BadAddress(address.into()));
        }
        Ok(address.to_ascii_lowercase())
    }

    fn template_for(&self, _payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        Ok(self.template.clone())
    }
}

struct Pool {
    addr: SocketAddr,
    work: watch::Sender<Option<DagWork>>,
    submissions: mpsc::Receiver<DagSubmission>,
    stats: Arc<StratumStats>,
    _shutdown: watch::Sender<bool>,
}

/// A template per payout and generation, its header naming both (see [`header_of`]);
/// a login `r<n>` is paid to `script(n)`.
struct PayoutSource {
    generation: u64,
}

fn header_of(payout: &str, generation: u64) -> [u8; 32] {
    sha256d(format!("{payout}/{generation}").as_bytes())
}

impl DagWorkSource for PayoutSource {
    fn payout(&self, address: &str) -> Result<String, DagWorkError> {
        Ok(address.to_owned())
    }

    fn template_for(&self, payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        Ok(Arc::new(DagTemplate {
            header_hash: header_of(payout, self.generation),
            ..(*Source::new(HEADER).template).clone()
        }))
    }

    fn script(&self, payout: &str) -> Option<PayoutScript> {
        payout.strip_prefix('r')?.parse().ok().map(script)
    }
}

impl Pool {
    async fn start(algorithm: DagAlgorithm) -> Self {
        let fixed = VardiffConfig {
            enabled: false,
            ..VardiffConfig::default()
        };
        Self::start_with(algorithm, Source::new(HEADER), None, fixed).await
    }

    async fn start_with(
        algorithm: DagAlgorithm,
        source: Arc<dyn DagWorkSource>,
        fee: Option<OperatorFee>,
        vardiff: VardiffConfig,
    ) -> Self {
        let config = StratumConfig {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            vardiff,
            fee,
            ..StratumConfig::default()
        };
        let (work, work_rx) = watch::channel(Some(DagWork {
            generation: 1,
            source,
            clean: true,
        }));
        let (tx, submissions) = mpsc::channel(64);
        let mut dag = DagConfig::new(algorithm);
        dag.start_difficulty = SESSION_DIFFICULTY;
        let server = DagServer::bind(config, dag, work_rx, tx).expect("binds");
        let addr = server.local_addr();
        let stats = server.stats();
        let (shutdown, shutdown_rx) = watch::channel(false);
        tokio::spawn(server.run(shutdown_rx));
        Self {
            addr,
            work,
            submissions,
            stats,
            _shutdown: shutdown,
        }
    }

    fn publish(&self, header: [u8; 32], generation: u64) {
        self.work.send_replace(Some(DagWork {
            generation,
            source: Source::new(header),
            clean: true,
        }));
    }

    async fn next_submission(&mut self) -> DagSubmission {
        timeout(WAIT, self.submissions.recv())
            .await
            .expect("a submission in time")
            .expect("channel open")
    }
}

/// A raw line client.
struct Line {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Line {
    async fn connect(addr: SocketAddr) -> Self {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connects")
            .into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
    }

    async fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("a line in time")
            .expect("read");
        assert!(n > 0, "connection closed");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("JSON: {line}"))
    }

    /// Sends `line` and returns the reply to it.
    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.read().await
    }
}

/// The first nonce from `start` (under `prefix`, in the top 16 bits) whose result does
/// or does not meet `target`.
fn find(
    algorithm: DagAlgorithm,
    header: &[u8; 32],
    prefix: u16,
    start: u64,
    target: &[u8; 32],
    meeting: bool,
) -> (u64, DagHash) {
    find_where(algorithm, header, prefix, start, |h| {
        meets(&h.result, target) == meeting
    })
}

/// The first nonce from `start` (under `prefix`, in the top 16 bits) whose hash passes
/// `wanted`.
fn find_where(
    algorithm: DagAlgorithm,
    header: &[u8; 32],
    prefix: u16,
    start: u64,
    wanted: impl Fn(&DagHash) -> bool,
) -> (u64, DagHash) {
    (start..start + 10_000)
        .map(|i| (u64::from(prefix) << 48) | i)
        .map(|n| (n, hasher(algorithm).hash(HEIGHT, header, n)))
        .find(|(_, h)| wanted(h))
        .expect("found within 10 000 nonces")
}

fn session_target() -> [u8; 32] {
    difficulty_to_boundary(SESSION_DIFFICULTY)
}

fn assert_rejected(reply: &Value, code: u64, message: &str) {
    assert_eq!(reply["result"], false, "{reply}");
    assert_eq!(reply["error"][0], code, "{reply}");
    assert_eq!(reply["error"][1], message, "{reply}");
}

/// Subscribes and authorizes as EthereumStratum/1.0.0; returns the extranonce and the
/// first job id after checking set_difficulty and notify.
async fn ethereum_stratum_setup(c: &mut Line, agent: &str, user: &str) -> (u16, String) {
    let r = c
        .ask(&format!(
            r#"{{"id":1,"method":"mining.subscribe","params":["{agent}","EthereumStratum/1.0.0"]}}"#
        ))
        .await;
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["result"][0][0], "mining.notify");
    assert_eq!(r["result"][0][2], "EthereumStratum/1.0.0");
    let en = r["result"][1].as_str().expect("extranonce").to_owned();
    assert_eq!(en.len(), 4, "two bytes of extranonce");
    let prefix = u16::from_str_radix(&en, 16).expect("hex");
    let r = c
        .ask(r#"{"id":2,"method":"mining.extranonce.subscribe","params":[]}"#)
        .await;
    assert_eq!(r["result"], true);
    let r = c
        .ask(&format!(
            r#"{{"id":3,"method":"mining.authorize","params":["{user}","x"]}}"#
        ))
        .await;
    assert_eq!(r["result"], true, "{r}");
    let d = c.read().await;
    assert_eq!(d["method"], "mining.set_difficulty");
    assert_eq!(d["params"][0].as_f64(), Some(SESSION_DIFFICULTY));
    let n = c.read().await;
    assert_eq!(n["method"], "mining.notify");
    let p = &n["params"];
    // Epoch 0's seed is 32 zero bytes; plain hex, no 0x.
    assert_eq!(p[1], "0".repeat(64));
    assert_eq!(p[2], hex::encode(HEADER));
    assert_eq!(p[3], true);
    (prefix, p[0].as_str().expect("job id").to_owned())
}

#[tokio::test]
async fn ethereum_stratum_miners_get_their_shares_checked() {
    let algo = DagAlgorithm::Ethash;
    let mut pool = Pool::start(algo).await;
    let target = session_target();

    // ethminer 0.19: subscribe, extranonce.subscribe, authorize; shares as 12 hex digits.
    let mut c = Line::connect(pool.addr).await;
    let (en, job) = ethereum_stratum_setup(&mut c, "ethminer 0.19.0", "0xAbC.rig1").await;
    let (nonce, hash) = find(algo, &HEADER, en, 0, &target, true);
    let suffix = format!("{:012x}", nonce & 0xffff_ffff_ffff);
    let submit = format!(
        r#"{{"id":4,"method":"mining.submit","params":["0xAbC.rig1","{job}","{suffix}"]}}"#
    );
    let r = c.ask(&submit).await;
    assert_eq!(r["result"], true, "{r}");
    let s = pool.next_submission().await;
    assert_eq!((s.nonce, s.mix, s.result), (nonce, hash.mix, hash.result));
    assert_eq!(
        (s.worker.as_str(), s.payout.as_str()),
        ("0xAbC.rig1", "0xabc")
    );
    assert_eq!(
        s.is_block,
        meets(&hash.result, &difficulty_to_boundary(BLOCK_DIFFICULTY))
    );
    assert_rejected(&c.ask(&submit).await, 22, "Duplicate share");
    let (low, _) = find(algo, &HEADER, en, 0, &target, false);
    let r = c
        .ask(&format!(
            r#"{{"id":5,"method":"mining.submit","params":["0xAbC.rig1","{job}","{:012x}"]}}"#,
            low & 0xffff_ffff_ffff
        ))
        .await;
    assert_rejected(&r, 23, "Low difficulty share");
    let r = c
        .ask(r#"{"id":6,"method":"mining.submit","params":["0xAbC.rig1","ffffff","000000000001"]}"#)
        .await;
    assert_rejected(&r, 21, "Job not found");
    let r = c
        .ask(&format!(
            r#"{{"id":7,"method":"mining.submit","params":["other.rig","{job}","000000000001"]}}"#
        ))
        .await;
    assert_rejected(&r, 24, "Unauthorized worker");
    // A full nonce outside the session's extranonce.
    let r = c
        .ask(&format!(
            r#"{{"id":8,"method":"mining.submit","params":["0xAbC.rig1","{job}","{:016x}"]}}"#,
            (u64::from(en ^ 1) << 48) | 5
        ))
        .await;
    assert_rejected(&r, 20, "Nonce does not start with the session extranonce");

    // lolMiner and T-Rex pipeline the same requests; NBMiner and TeamRedMiner too, with
    // their own agents. A new block makes the old job stale.
    let mut l = Line::connect(pool.addr).await;
    let (en2, job2) = ethereum_stratum_setup(&mut l, "lolMiner 1.88", "0xdef").await;
    assert_ne!(en, en2, "sessions get distinct extranonces");
    let mut header2 = HEADER;
    header2[0] = 1;
    pool.publish(header2, 2);
    for client in [&mut c, &mut l] {
        let n = client.read().await;
        assert_eq!(n["method"], "mining.notify");
        assert_eq!(n["params"][2], hex::encode(header2));
        assert_eq!(n["params"][3], true);
    }
    let (stale, _) = find(algo, &HEADER, en2, 0, &target, true);
    let r = l
        .ask(&format!(
            r#"{{"id":4,"method":"mining.submit","params":["0xdef","{job2}","{:012x}"]}}"#,
            stale & 0xffff_ffff_ffff
        ))
        .await;
    assert_rejected(&r, 21, "Job not found");
    // An unknown method is "Not supported." with code 20, and the session stays.
    let r = l
        .ask(r#"{"id":9,"method":"mining.hashrate","params":["0x1"]}"#)
        .await;
    assert_eq!(r["error"][0], 20);
    assert_eq!(r["error"][1], "Not supported.");
    let r = l
        .ask(r#"{"id":10,"method":"mining.authorize","params":["bad.rig","x"]}"#)
        .await;
    assert_eq!(r["error"][0], 24, "{r}");

    let s = pool.stats.snapshot();
    assert_eq!(s.accepted, 1);
    assert_eq!(
        (
            s.rejected_duplicate,
            s.rejected_low_difficulty,
            s.rejected_stale
        ),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn ethproxy_miners_log_in_get_work_and_submit() {
    let algo = DagAlgorithm::Ethash;
    let mut pool = Pool::start(algo).await;
    let target = session_target();
    // ethminer's stratum1+tcp and Claymore: login with the worker beside the params,
    // then getWork, then submitWork with 0x-prefixed nonce, header and mix.
    let mut c = Line::connect(pool.addr).await;
    let r = c
        .ask(r#"{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","worker":"rig","params":["0x1234","x"]}"#)
        .await;
    assert_eq!(
        (r["id"].clone(), r["result"].clone()),
        (json!(1), json!(true))
    );
    let r = c
        .ask(r#"{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}"#)
        .await;
    let work = r["result"].as_array().expect("work").clone();
    assert_eq!(work[0], format!("0x{}", hex::encode(HEADER)));
    assert_eq!(work[1], format!("0x{}", "0".repeat(64)));
    assert_eq!(work[2], format!("0x{}", hex::encode(target)));
    assert_eq!(work[3], format!("0x{HEIGHT:x}"));
    let r = c
        .ask(r#"{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1dcd6500","0x59daa26581d0acd1fce254fb7e85952f4c09d0915afd33d3886cd914bc7d283c"]}"#)
        .await;
    assert_eq!(r["result"], true);
    let (nonce, hash) = find(algo, &HEADER, 0x0bad, 7, &target, true);
    let submit = |nonce: u64, mix: [u8; 32]| {
        format!(
            r#"{{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x{nonce:016x}","0x{}","0x{}"]}}"#,
            hex::encode(HEADER),
            hex::encode(mix)
        )
    };
    assert_eq!(c.ask(&submit(nonce, hash.mix)).await["result"], true);
    assert_eq!(pool.next_submission().await.nonce, nonce);
    let r = c.ask(&submit(nonce, hash.mix)).await;
    assert_eq!(
        (r["result"].clone(), r["error"]["message"].clone()),
        (json!(false), json!("Duplicate share"))
    );
    let (other, other_hash) = find(algo, &HEADER, 0x0bad, nonce + 1, &target, true);
    let mut wrong = other_hash.mix;
    wrong[0] ^= 1;
    let r = c.ask(&submit(other, wrong)).await;
    assert_eq!(r["error"]["message"], "Invalid mix hash");
    let (low, low_hash) = find(algo, &HEADER, 0x0bad, 7, &target, false);
    let r = c.ask(&submit(low, low_hash.mix)).await;
    assert_eq!(r["error"]["message"], "Low difficulty share");
    // New work is pushed as a response with id 0; the old header is then unknown.
    let mut header2 = HEADER;
    header2[31] = 2;
    pool.publish(header2, 2);
    let push = c.read().await;
    assert_eq!(push["id"], 0);
    assert_eq!(push["result"][0], format!("0x{}", hex::encode(header2)));
    let r = c.ask(&submit(other, other_hash.mix)).await;
    assert_eq!(r["error"]["message"], "Job not found");
    // A mining.* request on an ETHPROXY session is not supported.
    let r = c
        .ask(r#"{"id":9,"method":"mining.subscribe","params":[]}"#)
        .await;
    assert_eq!(r["error"]["code"], -20);
}

/// ETHPROXY shares name no job: after a retarget repeats the header at a harder target,
/// a share found at the old one still counts at the old difficulty, as a
/// `mining.submit` for the old job id would, and one meeting neither is low.
#[tokio::test]
async fn ethproxy_shares_at_the_target_before_a_retarget_still_count() {
    let algo = DagAlgorithm::Ethash;
    // The sharechain's target lets vardiff raise a fast miner fourfold (1 hash in 16).
    let share_difficulty = 4.0 * SESSION_DIFFICULTY;
    let source = Arc::new(Source {
        template: Arc::new(DagTemplate {
            share_target: difficulty_to_boundary(share_difficulty),
            ..(*Source::new(HEADER).template).clone()
        }),
    });
    // Aiming at a share every 100 minutes, any two shares ask for more than the
    // sharechain's difficulty, however long the debug build takes to hash them.
    let vardiff = VardiffConfig {
        enabled: true,
        shares_per_minute: 0.01,
        retarget_shares: 2,
        ..VardiffConfig::default()
    };
    let mut pool = Pool::start_with(algo, source, None, vardiff).await;
    let (old, new) = (session_target(), difficulty_to_boundary(share_difficulty));
    let mut c = Line::connect(pool.addr).await;
    let r = c
        .ask(r#"{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","worker":"rig","params":["0x1234","x"]}"#)
        .await;
    assert_eq!(r["result"], true, "{r}");
    let r = c
        .ask(r#"{"id":2,"jsonrpc":"2.0","method":"eth_getWork","params":[]}"#)
        .await;
    assert_eq!(r["result"][2], format!("0x{}", hex::encode(old)));
    let submit = |nonce: u64, mix: [u8; 32]| {
        format!(
            r#"{{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x{nonce:016x}","0x{}","0x{}"]}}"#,
            hex::encode(HEADER),
            hex::encode(mix)
        )
    };
    // Shares at the old target only, so none reaches the node; the second retargets.
    let old_only = |h: &DagHash| meets(&h.result, &old) && !meets(&h.result, &new);
    let mut start = 0;
    for _ in 0..2 {
        let (nonce, hash) = find_where(algo, &HEADER, 0x0bad, start, old_only);
        assert_eq!(c.ask(&submit(nonce, hash.mix)).await["result"], true);
        start = nonce + 1;
    }
    let push = c.read().await;
    assert_eq!(push["id"], 0, "{push}");
    assert_eq!(push["result"][0], format!("0x{}", hex::encode(HEADER)));
    assert_eq!(push["result"][2], format!("0x{}", hex::encode(new)));
    // Found at the old target, in flight over the retarget: accepted, and below the
    // sharechain's target, so not forwarded.
    let (late, late_hash) = find_where(algo, &HEADER, 0x0bad, start, old_only);
    let r = c.ask(&submit(late, late_hash.mix)).await;
    assert_eq!(r["result"], true, "{r}");
    // At the new target: accepted and forwarded, the first share to reach the node.
    let (share, share_hash) = find(algo, &HEADER, 0x0bad, start, &new, true);
    let r = c.ask(&submit(share, share_hash.mix)).await;
    assert_eq!(r["result"], true, "{r}");
    assert_eq!(pool.next_submission().await.nonce, share);
    // Meeting neither target is still low.
    let (low, low_hash) = find(algo, &HEADER, 0x0bad, 0, &old, false);
    let r = c.ask(&submit(low, low_hash.mix)).await;
    assert_eq!(r["error"]["message"], "Low difficulty share", "{r}");
    let stats = pool.stats.snapshot();
    assert_eq!((stats.accepted, stats.retargets), (4, 1), "{stats:?}");
}

#[tokio::test]
async fn kawpow_miners_get_their_shares_checked() {
    let algo = DagAlgorithm::Kawpow;
    let mut pool = Pool::start(algo).await;
    let target = session_target();
    // kawpowminer, T-Rex, NBMiner, TeamRedMiner: subscribe (agent only), authorize,
    // then set_target and a 7-parameter notify.
    for (i, (agent, user)) in [
        ("kawpowminer/1.2.4", "RXaddr.rig"),
        ("T-Rex/0.26.8", "RTrex"),
        ("NBMiner/42.3", "RNb.1"),
        ("TeamRedMiner/0.10.21", "RTrm.x"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Line::connect(pool.addr).await;
        let r = c
            .ask(&format!(
                r#"{{"id":1,"method":"mining.subscribe","params":["{agent}"]}}"#
            ))
            .await;
        assert_eq!(r["result"][0], Value::Null, "{r}");
        let en = u16::from_str_radix(r["result"][1].as_str().expect("en"), 16).expect("hex");
        let r = c
            .ask(&format!(
                r#"{{"id":2,"method":"mining.authorize","params":["{user}","x"]}}"#
            ))
            .await;
        assert_eq!(r["result"], true);
        let t = c.read().await;
        assert_eq!(t["method"], "mining.set_target");
        assert_eq!(t["params"][0], hex::encode(target));
        let n = c.read().await;
        let p = n["params"].as_array().expect("params").clone();
        assert_eq!(p.len(), 7);
        assert_eq!(
            (p[1].clone(), p[2].clone()),
            (json!(hex::encode(HEADER)), json!("0".repeat(64)))
        );
        assert_eq!(
            (p[3].clone(), p[4].clone(), p[5].clone(), p[6].clone()),
            (
                json!(hex::encode(target)),
                json!(true),
                json!(HEIGHT),
                json!("1d00ffff")
            )
        );
        let job = p[0].as_str().expect("job").to_owned();
        let (nonce, hash) = find(algo, &HEADER, en, 100 * i as u64, &target, true);
        let submit = |id: u64, nonce: u64, header: [u8; 32], mix: [u8; 32]| {
            format!(
                r#"{{"id":{id},"method":"mining.submit","params":["{user}","{job}","0x{nonce:016x}","0x{}","0x{}"]}}"#,
                hex::encode(header),
                hex::encode(mix)
            )
        };
        let r = c.ask(&submit(40, nonce, HEADER, hash.mix)).await;
        assert_eq!(r["result"], true, "{agent}: {r}");
        let s = pool.next_submission().await;
        assert_eq!((s.nonce, s.mix), (nonce, hash.mix));
        if agent.starts_with("kawpowminer") {
            assert_rejected(
                &c.ask(&submit(41, nonce, HEADER, hash.mix)).await,
                22,
                "Duplicate share",
            );
            let mut wrong = hash.mix;
            wrong[5] ^= 0x80;
            let (other, _) = find(
                algo,
                &HEADER,
                en,
                nonce + 1 - (u64::from(en) << 48),
                &target,
                true,
            );
            assert_rejected(
                &c.ask(&submit(42, other, HEADER, wrong)).await,
                20,
                "Invalid mix hash",
            );
            let (low, low_hash) = find(algo, &HEADER, en, 0, &target, false);
            assert_rejected(
                &c.ask(&submit(43, low, HEADER, low_hash.mix)).await,
                23,
                "Low difficulty share",
            );
            assert_rejected(
                &c.ask(&submit(44, other, [9; 32], wrong)).await,
                20,
                "Header hash does not match the job",
            );
            assert_rejected(
                &c.ask(&submit(45, other ^ (1 << 63), HEADER, wrong)).await,
                20,
                "Nonce does not start with the session extranonce",
            );
        }
    }
    assert_eq!(pool.stats.snapshot().accepted, 4);
}

/// Subscribes and authorizes `user` in the KawPow dialect; returns the extranonce, the
/// `client.show_message` text before the first job (if any), and that job's notify
/// parameters.
async fn kawpow_login(c: &mut Line, user: &str) -> (u16, Option<String>, Vec<Value>) {
    let r = c
        .ask(r#"{"id":1,"method":"mining.subscribe","params":["kawpowminer/1.2.4"]}"#)
        .await;
    let en = u16::from_str_radix(r["result"][1].as_str().expect("en"), 16).expect("hex");
    let r = c
        .ask(&format!(
            r#"{{"id":2,"method":"mining.authorize","params":["{user}","x"]}}"#
        ))
        .await;
    assert_eq!(r["result"], true, "{r}");
    let mut next = c.read().await;
    let mut message = None;
    if next["method"] == "client.show_message" {
        message = next["params"][0].as_str().map(str::to_owned);
        next = c.read().await;
    }
    assert_eq!(next["method"], "mining.set_target", "{next}");
    (en, message, kawpow_notify(c).await)
}

async fn kawpow_notify(c: &mut Line) -> Vec<Value> {
    let n = c.read().await;
    assert_eq!(n["method"], "mining.notify", "{n}");
    n["params"].as_array().expect("params").clone()
}

/// The operator's fee in the KawPow dialect: a charged miner is told of it, exactly the
/// jobs the fee picks carry the operator's template (and a share found on one pays the
/// operator), the rest the miner's own; an exempt miner is told nothing and keeps every
/// job.
#[tokio::test]
async fn the_operator_fee_takes_its_share_of_a_kawpow_miners_jobs() {
    let algo = DagAlgorithm::Kawpow;
    let fee = OperatorFee::new(10.0, script(0), "r0".into())
        .expect("fee")
        .exempting(script(2))
        .charging_loopback();
    let mut pool = Pool::start_with(
        algo,
        Arc::new(PayoutSource { generation: 1 }),
        Some(fee.clone()),
        VardiffConfig {
            enabled: false,
            ..VardiffConfig::default()
        },
    )
    .await;
    let mut charged = Line::connect(pool.addr).await;
    let (en, message, mut job) = kawpow_login(&mut charged, "r1.rig").await;
    let message = message.expect("the fee is announced");
    assert!(
        message.contains("10% fee") && message.contains("r0"),
        "{message}"
    );
    let mut exempt = Line::connect(pool.addr).await;
    let (_, message, mut exempt_job) = kawpow_login(&mut exempt, "r2").await;
    assert_eq!(message, None);

    let target = session_target();
    let (mut fee_jobs, mut paid_fee, mut paid_own) = (0, false, false);
    for generation in 1..=120u64 {
        if generation > 1 {
            pool.work.send_replace(Some(DagWork {
                generation,
                source: Arc::new(PayoutSource { generation }),
                clean: true,
            }));
            job = kawpow_notify(&mut charged).await;
            exempt_job = kawpow_notify(&mut exempt).await;
        }
        assert_eq!(exempt_job[1], hex::encode(header_of("r2", generation)));
        let id = u64::from_str_radix(job[0].as_str().expect("job id"), 16).expect("hex");
        let payee = if fee.takes(id) { "r0" } else { "r1" };
        let header = header_of(payee, generation);
        assert_eq!(job[1], hex::encode(header), "job {id} pays {payee}");
        fee_jobs += usize::from(payee == "r0");
        // One share on a fee job and one on the miner's own: each pays its job's payee.
        let paid = if payee == "r0" {
            &mut paid_fee
        } else {
            &mut paid_own
        };
        if !*paid {
            *paid = true;
            let (nonce, hash) = find(algo, &header, en, 0, &target, true);
            let r = charged
                .ask(&format!(
                    r#"{{"id":9,"method":"mining.submit","params":["r1.rig","{}","0x{nonce:016x}","0x{}","0x{}"]}}"#,
                    job[0].as_str().expect("job id"),
                    hex::encode(header),
                    hex::encode(hash.mix)
                ))
                .await;
            assert_eq!(r["result"], true, "{r}");
            let s = pool.next_submission().await;
            assert_eq!((s.payout.as_str(), s.worker.as_str()), (payee, "r1.rig"));
        }
    }
    assert!(paid_fee && paid_own);
    assert!((4..=30).contains(&fee_jobs), "{fee_jobs} fee jobs in 120");
}
