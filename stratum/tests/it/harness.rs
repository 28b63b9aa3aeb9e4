//! A real server on 127.0.0.1:0 fed by a regtest work source, a raw line client, and a
//! miner that rebuilds headers from `mining.notify` exactly as real miners do.

use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::test_utils::{regtest_template, script};
use otedama_sharechain::{
    BlockHash, ChainSpec, Difficulty, PayoutScript, PowAlgorithm, ShareChain, ShareTemplate,
    Target, script_to_address,
};
use otedama_stratum::{
    StratumConfig, StratumServer, StratumStats, Submission, Work, WorkError, WorkSource,
};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub use crate::view::{JobView, target_for, target_of};

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(5);

/// This machine's address on its default route, if it has one that is not loopback:
/// connections from it are subject to bans, unlike loopback ones. (A UDP `connect`
/// only looks up the route; nothing is sent.)
pub fn lan_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("198.51.100.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Waits until `cond` holds, letting the server run; panics after [`WAIT`].
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    timeout(WAIT, async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"));
}

/// The chain the tests mine: sha256d with trivial targets, so grinding is instant.
pub fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// The regtest address paying `script(n)`.
pub fn address(n: u32) -> String {
    script_to_address(&script(n), spec()).expect("p2wpkh has an address")
}

/// A node stand-in: templates on an empty share chain.
pub struct TestSource {
    /// The chain templates are built on; validation uses it too.
    pub chain: Mutex<ShareChain>,
    height: u32,
}

impl TestSource {
    /// A btc-regtest source whose parent template has height `height`.
    pub fn new(height: u32) -> Arc<Self> {
        Self::on(spec(), height)
    }

    /// A source for `spec` whose parent template has height `height`.
    pub fn on(spec: &'static ChainSpec, height: u32) -> Arc<Self> {
        Arc::new(Self {
            chain: Mutex::new(ShareChain::new(spec.clone())),
            height,
        })
    }

    /// The parent template; prev_block is 00 01 02 .. 1f (plus height - 100) so that
    /// the word swap of `prevhash` is visible.
    pub fn block(&self) -> BlockTemplate {
        let mut t = regtest_template(self.height, 2);
        let shift = (self.height - 100) as u8;
        t.prev_block =
            BlockHash::from_bytes(std::array::from_fn(|i| (i as u8).wrapping_add(shift)));
        t
    }

    /// The template for `payout`, built the way the server gets it.
    pub fn template(&self, payout: &PayoutScript) -> ShareTemplate {
        let mut chain = self.chain.lock().expect("not poisoned");
        ShareTemplate::new(&mut chain, self.block(), payout.clone()).expect("template")
    }
}

impl WorkSource for TestSource {
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError> {
        Ok(Arc::new(self.template(payout)))
    }
}

/// A running server and the node's ends of its channels.
pub struct Harness {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The node's work channel.
    pub work: watch::Sender<Option<Work>>,
    /// Shares handed to the node.
    pub submissions: mpsc::Receiver<Submission>,
    /// Set to stop the server.
    pub shutdown: watch::Sender<bool>,
    /// The server task.
    pub server: JoinHandle<()>,
    /// Server counters.
    pub stats: Arc<StratumStats>,
    /// The source of the current work.
    pub source: Arc<TestSource>,
    /// The chain served.
    pub spec: &'static ChainSpec,
    /// Where Stratum V2 listens, when the config turns it on.
    pub sv2: Option<SocketAddr>,
    generation: u64,
}

impl Harness {
    /// A server with test defaults and work already published.
    pub async fn start() -> Self {
        Self::with(|_| {}, 16, true).await
    }

    /// A server with `tweak` applied to the config, a submission channel of `queue`
    /// and, if `with_work`, generation 1 already published.
    pub async fn with(
        tweak: impl FnOnce(&mut StratumConfig),
        queue: usize,
        with_work: bool,
    ) -> Self {
        Self::on(spec(), tweak, queue, with_work).await
    }

    /// As [`Harness::with`], for the chain `spec`.
    pub async fn on(
        spec: &'static ChainSpec,
        tweak: impl FnOnce(&mut StratumConfig),
        queue: usize,
        with_work: bool,
    ) -> Self {
        let mut config = StratumConfig {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            ..StratumConfig::default()
        };
        tweak(&mut config);
        let source = TestSource::on(spec, 100);
        let initial = with_work.then(|| Work {
            generation: 1,
            source: source.clone(),
            clean: true,
        });
        let (work, work_rx) = watch::channel(initial);
        let (tx, submissions) = mpsc::channel(queue);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let server = StratumServer::bind(config, spec, work_rx, tx)
            .await
            .expect("binds");
        let addr = server.local_addr();
        let sv2 = server.sv2_addr();
        let stats = server.stats();
        let server = tokio::spawn(server.run(shutdown_rx));
        Self {
            addr,
            work,
            submissions,
            shutdown,
            server,
            stats,
            source,
            spec,
            sv2,
            generation: u64::from(with_work),
        }
    }

    /// Publishes the next generation from `source`.
    pub fn publish(&mut self, source: Arc<TestSource>, clean: bool) {
        self.generation += 1;
        self.source = source.clone();
        self.work.send_replace(Some(Work {
            generation: self.generation,
            source,
            clean,
        }));
    }

    /// A fresh connection.
    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A fresh connection to the server's port at `ip` (the server must listen on
    /// 0.0.0.0 for a non-loopback `ip`).
    pub async fn client_at(&self, ip: IpAddr) -> Client {
        Client::connect(SocketAddr::new(ip, self.addr.port())).await
    }

    /// The Stratum difficulty of the current template's share target.
    pub fn share_difficulty(&self) -> f64 {
        let t = self.source.template(&script(1));
        let target = Target::from_compact(t.info.share_target).expect("valid");
        Difficulty::from_stratum_target(target, self.spec.algorithm).get()
    }

    /// A subscribed and authorized miner holding its first job.
    pub async fn miner(&self) -> Miner {
        let user = script_to_address(&script(1), self.spec).expect("standard script");
        Miner::start_on(
            self.client().await,
            &format!("{user}.rig1"),
            self.spec.algorithm,
        )
        .await
    }

    /// Waits for the next share handed to the node.
    pub async fn next_submission(&mut self) -> Submission {
        timeout(WAIT, self.submissions.recv())
            .await
            .expect("a submission in time")
            .expect("channel open")
    }
}

/// A raw newline-delimited JSON client.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications read while waiting for a response.
    pending: VecDeque<String>,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connects");
        let (r, w) = stream.into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            pending: VecDeque::new(),
        }
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Sends one line (the newline is added).
    pub async fn send_line(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// Reads the next line; `None` at EOF or on a reset.
    pub async fn try_read_line(&mut self) -> Option<String> {
        if let Some(line) = self.pending.pop_front() {
            return Some(line);
        }
        let mut line = String::new();
        match timeout(WAIT, self.reader.read_line(&mut line)).await {
            Err(_) => panic!("no line within {WAIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => None,
            Ok(Ok(_)) => Some(line.trim_end().to_owned()),
        }
    }

    /// Reads the next line, which must come.
    pub async fn read_line(&mut self) -> String {
        self.try_read_line().await.expect("connection open")
    }

    /// Reads the next line as JSON.
    pub async fn read_json(&mut self) -> Value {
        serde_json::from_str(&self.read_line().await).expect("server sends JSON")
    }

    /// Sends a request and returns the raw response line; notifications that arrive
    /// first are kept for [`Client::notification`].
    pub async fn call(&mut self, method: &str, params: Value) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"id": id, "method": method, "params": params});
        self.send_line(&request.to_string()).await;
        let mut skipped = VecDeque::new();
        loop {
            let line = self.read_line().await;
            let v: Value = serde_json::from_str(&line).expect("server sends JSON");
            if v["id"] == json!(id) {
                skipped.extend(self.pending.drain(..));
                self.pending = skipped;
                return (id, line);
            }
            skipped.push_back(line);
        }
    }

    /// Returns the params of the next notification, which must be `method`.
    pub async fn notification(&mut self, method: &str) -> Value {
        let v = self.read_json().await;
        assert_eq!(v["method"], method, "unexpected message {v}");
        assert_eq!(v["id"], Value::Null);
        v["params"].clone()
    }

    /// Asserts the server closes the connection (EOF or reset) in time.
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match timeout(WAIT, self.reader.read(&mut buf)).await {
                Err(_) => panic!("connection still open after {WAIT:?}"),
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// A subscribed, authorized miner.
pub struct Miner {
    pub client: Client,
    pub en1: Vec<u8>,
    pub username: String,
    pub difficulty: f64,
    pub job: JobView,
    pub algo: PowAlgorithm,
}

impl Miner {
    /// Subscribes, authorizes `username` and reads the first difficulty and job.
    pub async fn start(client: Client, username: &str) -> Self {
        Self::start_on(client, username, PowAlgorithm::Sha256d).await
    }

    /// As [`Miner::start`], hashing with `algo`.
    pub async fn start_on(mut client: Client, username: &str, algo: PowAlgorithm) -> Self {
        let (_, sub) = client
            .call("mining.subscribe", json!(["test-miner/1.0"]))
            .await;
        let sub: Value = serde_json::from_str(&sub).expect("json");
        let en1 = hex::decode(sub["result"][1].as_str().expect("en1")).expect("hex");
        let (id, auth) = client
            .call("mining.authorize", json!([username, "x"]))
            .await;
        assert_eq!(auth, format!(r#"{{"id":{id},"result":true,"error":null}}"#));
        let difficulty = client.notification("mining.set_difficulty").await[0]
            .as_f64()
            .expect("number");
        let job = JobView::parse(&client.notification("mining.notify").await);
        Self {
            client,
            en1,
            username: username.to_owned(),
            difficulty,
            job,
            algo,
        }
    }

    /// Returns the first nonce (from `start`) whose header meets (`meets`) or misses the
    /// session target, with the header.
    pub fn grind(&self, en2: &[u8], start: u32, meets: bool) -> (u32, [u8; 80]) {
        self.grind_job(&self.job, self.difficulty, en2, start, meets)
    }

    /// As [`Miner::grind`], for `job` at `difficulty`.
    pub fn grind_job(
        &self,
        job: &JobView,
        difficulty: f64,
        en2: &[u8],
        start: u32,
        meets: bool,
    ) -> (u32, [u8; 80]) {
        let target = target_for(difficulty, self.algo);
        (start..=u32::MAX)
            .map(|n| (n, job.header(&self.en1, en2, job.ntime, n, job.version)))
            .find(|(_, h)| target.is_met_by(&self.algo.hash(h)) == meets)
            .expect("regtest targets are easy to meet and to miss")
    }

    /// Submits and returns the raw response line and its id.
    pub async fn submit(
        &mut self,
        job_id: &str,
        en2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> (u64, String) {
        let params = json!([
            self.username,
            job_id,
            hex::encode(en2),
            format!("{ntime:08x}"),
            format!("{nonce:08x}")
        ]);
        self.client.call("mining.submit", params).await
    }
}

/// The exact error line for request `id`.
pub fn error_line(id: u64, code: u8, message: &str) -> String {
    format!(
        r#"{{"id":{id},"result":null,"error":[{code},{},null]}}"#,
        Value::String(message.to_owned())
    )
}

/// The exact line rejecting share request `id`: `result` false, the error, and ckpool's
/// `reject-reason`.
pub fn reject_line(id: u64, code: u8, message: &str) -> String {
    let m = Value::String(message.to_owned());
    format!(r#"{{"id":{id},"result":false,"error":[{code},{m},null],"reject-reason":{m}}}"#)
}

/// The exact success line for request `id` with result `true`.
pub fn true_line(id: u64) -> String {
    format!(r#"{{"id":{id},"result":true,"error":null}}"#)
}
