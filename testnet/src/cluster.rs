//! Nodes as separate `otedama-node serve` processes on loopback, each with its own data
//! dir, ports, node key and built-in miner, for multi-node scenario tests.

use otedama_sharechain::{ChainSpec, PayoutScript, Seal, script_to_address};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Returns a free loopback TCP port (bound, then released), never the same one twice in
/// this process: a node binds its ports only once its process runs, so a port handed to
/// one node could otherwise be handed to the next before it is taken.
///
/// # Panics
/// If no new port can be bound on loopback.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if let Ok(mut given) = GIVEN.lock()
            && given.insert(port)
        {
            return port;
        }
    }
    panic!("no new loopback port in 1000 tries")
}

/// Finds the `otedama-node` binary next to the running test's target dir.
pub fn node_binary() -> PathBuf {
    if let Ok(p) = std::env::var("OTEDAMA_NODE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/<bin> or target/<profile>/deps/<test> -> target/<profile>/otedama-node
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("otedama-node"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("otedama-node"))
}

/// A distinct payout address per number on `spec`'s network: segwit where the network
/// has it, else P2PKH (Ravencoin).
pub fn address(spec: &ChainSpec, n: u32) -> String {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h[19] = 0x42;
    script_to_address(&PayoutScript::p2wpkh(h), spec)
        .or_else(|| script_to_address(&PayoutScript::p2pkh(h), spec))
        .unwrap_or_default()
}

/// How to start one node.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Its name (also its data dir's name).
    pub name: String,
    /// The chain spec.
    pub spec: &'static ChainSpec,
    /// The parent daemon's RPC URL.
    pub parent_url: String,
    /// The daemon's cookie file (`None`: any user and password, as the stand-in takes).
    pub parent_cookie: Option<PathBuf>,
    /// The built-in miner's payout address (`None`: no miner).
    pub payout: Option<String>,
    /// The miner's hashrate cap, hashes per second.
    pub max_hashrate: u64,
    /// Multiaddrs of peers to dial at start.
    pub bootstrap: Vec<String>,
    /// Serve Prometheus metrics (see [`TestNode::metrics_url`]).
    pub metrics: bool,
    /// The whole `mining:` section, replacing the one made from `payout`; `{stratum}`
    /// stands for the node's Stratum port.
    pub mining: Option<String>,
    /// More keys of the `api:` section, each line indented by two spaces.
    pub api_extra: String,
    /// More keys of the `pool:` section, each line indented by two spaces.
    pub pool_extra: String,
    /// The process's file-descriptor limit (`ulimit -n`), when set.
    pub fd_limit: Option<u64>,
}

impl NodeOptions {
    /// Node `n{i}` on `spec`: mines to [`address`]`(spec, i)` at `max_hashrate` when `mine`.
    pub fn numbered(
        i: u32,
        spec: &'static ChainSpec,
        parent_url: String,
        bootstrap: Vec<String>,
        mine: bool,
        max_hashrate: u64,
    ) -> Self {
        Self {
            name: format!("n{i}"),
            spec,
            parent_url,
            parent_cookie: None,
            payout: mine.then(|| address(spec, i)),
            max_hashrate,
            bootstrap,
            metrics: false,
            mining: None,
            api_extra: String::new(),
            pool_extra: String::new(),
            fd_limit: None,
        }
    }
}

/// A running node process.
#[derive(Debug)]
pub struct TestNode {
    /// How it was started.
    pub options: NodeOptions,
    /// Its data dir.
    pub dir: PathBuf,
    /// Its API base URL.
    pub api: String,
    /// Its P2P address, ending in `/p2p/<peer id>`.
    pub p2p_addr: String,
    /// Its peer id.
    pub peer_id: String,
    /// Its metrics URL (`http://127.0.0.1:<port>/metrics`) when enabled.
    pub metrics_url: Option<String>,
    child: Option<Child>,
    config: PathBuf,
}

impl TestNode {
    /// Writes the config (fresh ports, a node key made in advance so the peer id is known)
    /// and starts the process.
    ///
    /// # Errors
    /// Writing the files or starting the process failed.
    pub fn spawn(root: &Path, options: NodeOptions) -> std::io::Result<TestNode> {
        let dir = root.join(&options.name);
        std::fs::create_dir_all(&dir)?;
        let (key, _) = otedama_node::p2p::key::load_or_create(&dir)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let peer_id = key.public().to_peer_id().to_string();
        let (p2p, stratum, api, metrics) = (free_port(), free_port(), free_port(), free_port());
        let p2p_addr = format!("/ip4/127.0.0.1/tcp/{p2p}/p2p/{peer_id}");
        // A KawPow chain's built-in miner always mines on the node's own port.
        let pool_urls = match options.spec.seal {
            Seal::Nonce => format!("  pool_urls: [\"stratum+tcp://127.0.0.1:{stratum}\"]\n"),
            Seal::Kawpow => String::new(),
        };
        let mining = match (&options.mining, &options.payout) {
            (Some(section), _) => section.replace("{stratum}", &stratum.to_string()),
            (None, payout) => match payout {
                Some(addr) => format!(
                    "mining:\n  enable_cpu: true\n  algorithm: {algo}\n  payout_address: {addr}\n{pool_urls}  cpu:\n    threads: 1\n    max_hashrate: {rate}\n",
                    algo = options.spec.pow_name(),
                    rate = options.max_hashrate
                ),
                None => format!(
                    "mining:\n  enable_cpu: false\n  algorithm: {}\n",
                    options.spec.pow_name()
                ),
            },
        };
        let bootstrap: Vec<String> = options
            .bootstrap
            .iter()
            .map(|b| format!("\"{b}\""))
            .collect();
        let yaml = format!(
            "app:\n  name: {name}\n  data_dir: {dir}\n  log_level: info,otedama::p2p=debug\n{mining}\
             pool:\n  address: 127.0.0.1:{stratum}\n{pool_extra}\
             api:\n  address: 127.0.0.1:{api}\n  auth:\n    enabled: false\n{api_extra}\
             monitoring:\n  metrics:\n    enabled: {metrics_on}\n    address: 127.0.0.1:{metrics}\n  health:\n    enabled: false\n\
             p2p:\n  listen: [\"/ip4/127.0.0.1/tcp/{p2p}\"]\n  bootstrap: [{boot}]\n\
             chains:\n  - spec: {spec}\n    daemons:\n      - url: {url}\n        user: u\n        password: p\n",
            name = options.name,
            dir = dir.display(),
            boot = bootstrap.join(", "),
            spec = options.spec.name,
            url = options.parent_url,
            metrics_on = options.metrics,
            api_extra = options.api_extra,
            pool_extra = options.pool_extra,
        );
        let yaml = match &options.parent_cookie {
            Some(cookie) => yaml.replace(
                "        user: u\n        password: p\n",
                &format!("        cookie_file: {}\n", cookie.display()),
            ),
            None => yaml,
        };
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml)?;
        let metrics_url = options
            .metrics
            .then(|| format!("http://127.0.0.1:{metrics}/metrics"));
        let mut node = TestNode {
            options,
            dir,
            api: format!("http://127.0.0.1:{api}"),
            p2p_addr,
            peer_id,
            metrics_url,
            child: None,
            config,
        };
        node.start()?;
        Ok(node)
    }

    /// Starts (or restarts) the process with the same config and data dir.
    ///
    /// # Errors
    /// The process could not start.
    pub fn start(&mut self) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))?;
        let mut command = match self.options.fd_limit {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(node_binary());
                c
            }
            None => Command::new(node_binary()),
        };
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG_STYLE", "never")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the process with SIGKILL (no shutdown, no flush) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the process with SIGTERM (a clean shutdown that flushes the store) and
    /// waits up to 20 s for it to exit; SIGKILL after that.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of its log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// GETs an API path as JSON (`None` while the node is not answering).
    pub async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let r = client
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        json_body(r).await
    }

    /// POSTs to an API path (auth is off in these configs).
    pub async fn post(&self, path: &str) -> Option<serde_json::Value> {
        self.post_json(path, &serde_json::json!({})).await
    }

    /// POSTs a JSON body to an API path; `None` unless the node answers 2xx.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let r = client
            .post(format!("{}{path}", self.api))
            .json(body)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        json_body(r).await
    }

    /// The peer ids this node is connected to.
    pub async fn peer_ids(&self) -> Option<Vec<String>> {
        let peers = self.get("/api/peers").await?;
        Some(
            peers
                .as_array()?
                .iter()
                .filter_map(|p| Some(p.get("id")?.as_str()?.to_owned()))
                .collect(),
        )
    }

    /// The score this node gives `peer`, if connected.
    pub async fn peer_score(&self, peer: &str) -> Option<i64> {
        let peers = self.get("/api/peers").await?;
        peers
            .as_array()?
            .iter()
            .find(|p| p.get("id").and_then(serde_json::Value::as_str) == Some(peer))?
            .get("score")?
            .as_i64()
    }

    /// The cumulative work of the best chain, as the API's hex string.
    pub async fn chain_work(&self) -> Option<u128> {
        let c = self.get("/api/chain").await?;
        u128::from_str_radix(c.get("chain_work")?.as_str()?, 16).ok()
    }

    /// The coinbase this node would build for a block found by `finder` now (hex), and
    /// how many addresses it pays.
    pub async fn coinbase_for(&self, finder: &str) -> Option<(String, usize)> {
        let p = self.get(&format!("/api/payouts?finder={finder}")).await?;
        let cb = p.get("coinbase")?.as_str()?.to_owned();
        let payees = p.get("expected")?.as_array()?.len();
        Some((cb, payees))
    }

    /// Hashes of the newest `n` (at most 100) main-chain shares.
    pub async fn recent_shares(&self, n: u32) -> Option<Vec<String>> {
        let page = self
            .get(&format!("/api/shares?page=1&per_page={}", n.clamp(1, 100)))
            .await?;
        Some(
            page.get("shares")?
                .as_array()?
                .iter()
                .filter_map(|s| Some(s.get("hash")?.as_str()?.to_owned()))
                .collect(),
        )
    }

    /// The best share's `(height, hash)`.
    pub async fn tip(&self) -> Option<(u64, String)> {
        let s = self.get("/api/status").await?;
        let sc = s.get("sharechain")?;
        Some((
            sc.get("height")?.as_u64()?,
            sc.get("tip")?.as_str()?.to_owned(),
        ))
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// Waits until every node reports the same tip; returns it.
pub async fn converged(nodes: &[&TestNode], limit: Duration) -> Option<(u64, String)> {
    wait_for(limit, || async {
        let mut tips = Vec::with_capacity(nodes.len());
        for n in nodes {
            tips.push(n.tip().await?);
        }
        tips.windows(2)
            .all(|w| w[0] == w[1])
            .then(|| tips[0].clone())
    })
    .await
}

/// Waits until every node builds the same coinbase for a block found by `finder` (see
/// [`TestNode::coinbase_for`]); returns it. Read one node after another, the answers can
/// differ for a moment while a new parent block or share reaches the nodes, so they are
/// read again until they agree or `limit` passes.
pub async fn agreed_coinbase(
    nodes: &[&TestNode],
    finder: &str,
    limit: Duration,
) -> Option<(String, usize)> {
    wait_for(limit, || async {
        let mut coinbases = Vec::with_capacity(nodes.len());
        for n in nodes {
            coinbases.push(n.coinbase_for(finder).await?);
        }
        coinbases
            .windows(2)
            .all(|w| w[0] == w[1])
            .then(|| coinbases[0].clone())
    })
    .await
}

/// Waits until `late` holds `tip` (60 s at most), then until it builds the same coinbase
/// for `finder` as `peer` (30 s); panics with what each node built otherwise.
pub async fn assert_late_joiner_agrees(
    late: &TestNode,
    peer: &TestNode,
    tip: &(u64, String),
    finder: &str,
) {
    let synced = wait_for(Duration::from_secs(60), || async {
        (late.tip().await.as_ref() == Some(tip)).then_some(())
    })
    .await;
    assert!(
        synced.is_some(),
        "late joiner did not sync\n{}",
        late.log_tail(30)
    );
    let agreed = agreed_coinbase(&[late, peer], finder, Duration::from_secs(30)).await;
    assert!(
        agreed.is_some(),
        "the late joiner builds another coinbase than {}: {:?} / {:?}\n{}",
        peer.options.name,
        late.coinbase_for(finder).await,
        peer.coinbase_for(finder).await,
        late.log_tail(30)
    );
}

/// Waits until every node's tip is at least `height`.
pub async fn all_reach(nodes: &[&TestNode], height: u64, limit: Duration) -> bool {
    wait_for(limit, || async {
        for n in nodes {
            if n.tip().await?.0 < height {
                return None;
            }
        }
        Some(())
    })
    .await
    .is_some()
}

/// The tails of the nodes' logs, for failure messages.
pub fn logs(nodes: &[&TestNode]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} ---\n{}", n.options.name, n.log_tail(20)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `n` nodes where each one bootstraps from every node started before it, so
/// that they form a full mesh; `options(i, bootstrap)` describes node `i`.
///
/// # Errors
/// A node could not be started.
pub fn spawn_full_mesh(
    root: &Path,
    n: u32,
    options: impl Fn(u32, Vec<String>) -> NodeOptions,
) -> std::io::Result<Vec<TestNode>> {
    let mut nodes: Vec<TestNode> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let bootstrap = nodes.iter().map(|n| n.p2p_addr.clone()).collect();
        nodes.push(TestNode::spawn(root, options(i, bootstrap))?);
    }
    Ok(nodes)
}

/// Waits until every node is connected to exactly the others in `nodes` (and no one else).
pub async fn fully_connected(nodes: &[&TestNode], limit: Duration) -> bool {
    wait_for(limit, || async {
        for n in nodes {
            let mut have = n.peer_ids().await?;
            have.sort();
            let mut want: Vec<String> = nodes
                .iter()
                .filter(|m| m.peer_id != n.peer_id)
                .map(|m| m.peer_id.clone())
                .collect();
            want.sort();
            if have != want {
                return None;
            }
        }
        Some(())
    })
    .await
    .is_some()
}

/// Decodes a JSON answer of at most [`otedama_rpc::MAX_ANSWER`] bytes, as the CLI reads
/// them; `None` past it or on any error.
async fn json_body(r: reqwest::Response) -> Option<serde_json::Value> {
    let body = otedama_rpc::read_body(hyper::Response::from(r), otedama_rpc::MAX_ANSWER)
        .await
        .ok()?;
    serde_json::from_slice(&body).ok()
}
