//! The xmrig dialect against a real `XmrigServer` with a scripted node: templates come
//! from a real regtest `SideChain`, and the RandomX hasher is a stand-in whose hash
//! follows the nonce (even: zero, meeting any target; odd: all ones, meeting none), so
//! every rejection string xmrig and its proxies parse can be forced in turn.

use otedama_sharechain::monero::{
    FixedDifficulty, Hash, MoneroJob, NoPowCheck, SideChain, SidechainParams,
};
use otedama_stratum::StratumConfig;
use otedama_stratum::xmrig::{
    RandomxHash, ShareOutcome, SubmitObserver, XmrRequest, XmrTemplate, XmrWork, XmrigServer,
    target_hex,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

/// A mainnet-form address generated offline.
const WALLET: &str = "48HfMc3JNky1399DpLdNH1BcUse1eTWGseX94a9UjV2BdfkM2cx3WZthQmgjGhfW8wVnPbvtyHXGTbeExuZFywfH9jwCyPF";
const HEIGHT: u64 = 100;
const WAIT: Duration = Duration::from_secs(10);

/// The stand-in hash: zero for an even nonce, all ones for an odd one.
struct ByNonce;

/// The offset of the nonce in a hashing blob: two version bytes, the timestamp varint,
/// the previous id.
fn nonce_at(blob: &[u8]) -> usize {
    2 + blob[2..].iter().position(|b| b & 0x80 == 0).unwrap_or(0) + 1 + 32
}

impl RandomxHash for ByNonce {
    fn hash(&self, _seed: &Hash, blob: &[u8]) -> Result<Hash, String> {
        let odd = blob[nonce_at(blob)] & 1 == 1;
        Ok(Hash::from_bytes(if odd { [0xff; 32] } else { [0; 32] }))
    }
}

fn job(height: u64) -> MoneroJob {
    MoneroJob {
        major_version: SidechainParams::regtest().major_version_at(height),
        timestamp: 1_700_000_000 + height,
        prev_id: Hash::from_bytes([height as u8; 32]),
        height,
        reward: 600_000_000_000,
        tx_hashes: Vec::new(),
    }
}

/// Answers template requests from a fresh sidechain at the work's height, and takes
/// every share.
async fn node(mut requests: mpsc::Receiver<XmrRequest>, work: watch::Receiver<Option<XmrWork>>) {
    let params = SidechainParams::regtest();
    while let Some(request) = requests.recv().await {
        match request {
            XmrRequest::Template { wallet, reply } => {
                let Some(w) = work.borrow().clone() else {
                    let _ = reply.send(None);
                    continue;
                };
                let mut chain = SideChain::new(
                    params.clone(),
                    Box::new(FixedDifficulty(1)),
                    Box::new(NoPowCheck),
                );
                let share = chain.build_share(wallet, &job(w.height)).expect("template");
                let _ = reply.send(Some(Arc::new(XmrTemplate {
                    generation: w.generation,
                    share,
                    consensus_id: params.consensus_id,
                    seed_hash: w.seed_hash,
                })));
            }
            XmrRequest::Share { reply, .. } => {
                let _ = reply.send(ShareOutcome::Accepted {
                    id: Hash::ZERO,
                    block: false,
                });
            }
        }
    }
}

/// A server at share difficulty 1 000 on height [`HEIGHT`], with the scripted node.
struct Fixture {
    addr: std::net::SocketAddr,
    work: watch::Sender<Option<XmrWork>>,
    stop: watch::Sender<bool>,
    running: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn start(seed: Hash, observer: Arc<Workers>) -> Self {
        let (work, work_rx) = watch::channel(Some(XmrWork {
            generation: 1,
            height: HEIGHT,
            seed_hash: seed,
            next_seed_hash: None,
            share_difficulty: 1_000,
        }));
        let (req_tx, req_rx) = mpsc::channel(16);
        let server = XmrigServer::bind(
            StratumConfig {
                listen: "127.0.0.1:0".parse().expect("addr"),
                ..StratumConfig::default()
            },
            work_rx.clone(),
            req_tx,
            Arc::new(ByNonce),
        )
        .expect("bind")
        .with_observer(observer);
        let addr = server.local_addr();
        let (stop, shutdown) = watch::channel(false);
        let running = tokio::spawn(server.run(shutdown));
        tokio::spawn(node(req_rx, work_rx));
        Self {
            addr,
            work,
            stop,
            running,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = timeout(WAIT, self.running).await;
    }
}

/// What the server told its observer: each worker's accepted difficulties and refusals.
#[derive(Default)]
struct Workers(std::sync::Mutex<std::collections::BTreeMap<String, (Vec<u64>, u32)>>);

impl SubmitObserver for Workers {
    fn accepted(&self, worker: &str, difficulty: u64) {
        let mut w = self.0.lock().expect("lock");
        w.entry(worker.to_owned()).or_default().0.push(difficulty);
    }

    fn rejected(&self, worker: &str) {
        let mut w = self.0.lock().expect("lock");
        w.entry(worker.to_owned()).or_default().1 += 1;
    }
}

struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    next_id: u64,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let (read, writer) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        Self {
            reader: BufReader::new(read),
            writer,
            next_id: 0,
        }
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let line =
            json!({"id": self.next_id, "jsonrpc": "2.0", "method": method, "params": params});
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
        self.next_id
    }

    async fn read(&mut self) -> Value {
        let mut line = String::new();
        timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("a line in time")
            .expect("read");
        serde_json::from_str(&line).expect("json")
    }

    /// The reply to request `id`; pushed jobs on the way go to `jobs`.
    async fn reply(&mut self, id: u64, jobs: &mut Vec<Value>) -> Value {
        loop {
            let v = self.read().await;
            if v["method"] == "job" {
                jobs.push(v["params"].clone());
            } else if v["id"] == id {
                return v;
            }
        }
    }

    async fn submit(&mut self, sid: &str, job: &Value, nonce: u32, jobs: &mut Vec<Value>) -> Value {
        let result = hex::encode(if nonce & 1 == 1 { [0xff; 32] } else { [0; 32] });
        let id = self
            .send(
                "submit",
                json!({"id": sid, "job_id": job["job_id"], "nonce": hex::encode(nonce.to_le_bytes()), "result": result}),
            )
            .await;
        self.reply(id, jobs).await
    }
}

fn error(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn every_rejection_string_xmrig_parses() {
    let seed = Hash::from_bytes([9; 32]);
    let f = Fixture::start(seed, Arc::new(Workers::default())).await;
    let work_tx = &f.work;
    let mut c = Client::connect(f.addr).await;
    let mut jobs = Vec::new();
    let id = c
        .send(
            "submit",
            json!({"id": "x", "job_id": "0", "nonce": "00000000", "result": "00"}),
        )
        .await;
    assert_eq!(error(&c.reply(id, &mut jobs).await), "Unauthenticated");
    let id = c
        .send("login", json!({"login": format!("{WALLET}.rig1"), "pass": "x", "agent": "XMRig/6.22.2", "algo": ["rx/0", "cn/r"]}))
        .await;
    let login = c.reply(id, &mut jobs).await;
    let sid = login["result"]["id"]
        .as_str()
        .expect("session id")
        .to_owned();
    let first = login["result"]["job"].clone();
    assert_eq!(first["algo"], "rx/0");
    assert_eq!(first["height"], HEIGHT);
    assert_eq!(first["seed_hash"], seed.to_string());
    assert!(first.get("next_seed_hash").is_none());

    // Accepted, then the same nonce again, a hash that meets nothing, a result that is not
    // the hash, and an unknown job.
    let ok = c.submit(&sid, &first, 2, &mut jobs).await;
    assert_eq!(ok["result"]["status"], "OK", "{ok}");
    assert_eq!(
        error(&c.submit(&sid, &first, 2, &mut jobs).await),
        "Duplicate share"
    );
    assert_eq!(
        error(&c.submit(&sid, &first, 3, &mut jobs).await),
        "Low difficulty share"
    );
    let id = c
        .send("submit", json!({"id": sid, "job_id": first["job_id"], "nonce": "04000000", "result": hex::encode([0xff; 32])}))
        .await;
    assert!(error(&c.reply(id, &mut jobs).await).starts_with("Invalid result"));
    let unknown = json!({"job_id": "ffff"});
    assert_eq!(
        error(&c.submit(&sid, &unknown, 6, &mut jobs).await),
        "Invalid job id"
    );

    // Monero moves on: a new job is pushed, and a share of the old height is stale.
    let next_seed = Hash::from_bytes([10; 32]);
    work_tx.send_replace(Some(XmrWork {
        generation: 2,
        height: HEIGHT + 1,
        seed_hash: seed,
        next_seed_hash: Some(next_seed),
        share_difficulty: 1_000,
    }));
    while jobs.is_empty() {
        let v = c.read().await;
        if v["method"] == "job" {
            jobs.push(v["params"].clone());
        }
    }
    assert_eq!(jobs[0]["height"], HEIGHT + 1);
    assert_eq!(jobs[0]["next_seed_hash"], next_seed.to_string());
    assert_eq!(
        error(&c.submit(&sid, &first, 8, &mut jobs).await),
        "Stale share"
    );
    let fresh = jobs[0].clone();
    let ok = c.submit(&sid, &fresh, 8, &mut jobs).await;
    assert_eq!(ok["result"]["status"], "OK", "{ok}");
    let id = c.send("keepalived", json!({"id": sid})).await;
    assert_eq!(
        c.reply(id, &mut jobs).await["result"]["status"],
        "KEEPALIVED"
    );

    f.stop().await;
}

/// xmrig-proxy in NiceHash mode: one connection carries many workers, each with its own
/// top nonce byte on the same job, and the proxy's `submit` names the algorithm. Then a
/// rental-service rig: a bare login (no `algo` list, no agent), its worker name from
/// `rigid`, and a fixed difficulty asked for with `+DIFF`.
#[tokio::test]
async fn xmrig_proxy_and_rental_rigs_mine_unmodified() {
    let workers = Arc::new(Workers::default());
    let f = Fixture::start(Hash::from_bytes([9; 32]), Arc::clone(&workers)).await;
    let mut jobs = Vec::new();

    let mut proxy = Client::connect(f.addr).await;
    let id = proxy
        .send("login", json!({"login": WALLET, "pass": "x", "agent": "xmrig-proxy/6.22.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0", "algo": ["rx/0"]}))
        .await;
    let login = proxy.reply(id, &mut jobs).await;
    let sid = login["result"]["id"]
        .as_str()
        .expect("session id")
        .to_owned();
    let job = login["result"]["job"].clone();
    // The blob's nonce is zero: the proxy may put each worker in the top byte.
    let blob = hex::decode(job["blob"].as_str().expect("blob")).expect("hex");
    let at = nonce_at(&blob);
    assert_eq!(blob[at..at + 4], [0, 0, 0, 0]);
    for worker in 0u32..4 {
        for n in [2u32, 4] {
            let nonce = (worker << 24) | n;
            let id = proxy
                .send("submit", json!({"id": sid, "job_id": job["job_id"], "nonce": hex::encode(nonce.to_le_bytes()), "result": hex::encode([0u8; 32]), "algo": "rx/0"}))
                .await;
            let ok = proxy.reply(id, &mut jobs).await;
            assert_eq!(
                ok["result"]["status"], "OK",
                "worker {worker}, nonce {nonce:#x}: {ok}"
            );
        }
    }
    // A worker's nonce sent twice (two proxied miners on one prefix) is a duplicate.
    let again = proxy.submit(&sid, &job, (2 << 24) | 4, &mut jobs).await;
    assert_eq!(error(&again), "Duplicate share");

    let mut rig = Client::connect(f.addr).await;
    let id = rig
        .send(
            "login",
            json!({"login": format!("{WALLET}+500"), "pass": "x", "rigid": "rental7"}),
        )
        .await;
    let login = rig.reply(id, &mut jobs).await;
    let rig_sid = login["result"]["id"]
        .as_str()
        .expect("session id")
        .to_owned();
    let rig_job = login["result"]["job"].clone();
    assert_eq!(rig_job["algo"], "rx/0");
    assert_eq!(rig_job["target"], target_hex(500));
    let ok = rig.submit(&rig_sid, &rig_job, 10, &mut jobs).await;
    assert_eq!(ok["result"]["status"], "OK", "{ok}");

    let seen = workers.0.lock().expect("lock").clone();
    let proxied = &seen[WALLET];
    assert_eq!((proxied.0.len(), proxied.1), (8, 1), "{seen:?}");
    let rental = &seen[&format!("{WALLET}.rental7")];
    assert_eq!((rental.0.clone(), rental.1), (vec![500], 0), "{seen:?}");
    f.stop().await;
}
