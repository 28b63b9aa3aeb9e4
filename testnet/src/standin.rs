//! A deterministic parent-chain stand-in for large, fast runs: a JSON-RPC server on
//! loopback that answers `getblocktemplate` (with longpoll) and `submitblock` the way
//! bitcoind does for a chain with no transactions. It is **not** a parent chain: its
//! blocks are the hashes of their heights, a new one comes every `block_interval`, and
//! its target is out of reach, so shares never become blocks. End-to-end runs use real
//! litecoind instead ([`crate::LitecoinRegtest`]). [`ParentStandIn::start_easy`] turns
//! the target to regtest's easiest, so every share is a block: it accepts each one and
//! records when it arrived (the block-latency benchmark).

use otedama_sharechain::sha256d;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Longest a longpoll waits.
const LONGPOLL: Duration = Duration::from_secs(30);
/// Block arrivals recorded at most.
const MAX_ARRIVALS: usize = 1 << 16;
/// An unreachable target (shares never become blocks).
const HARD_BITS: &str = "1d00ffff";
/// Regtest's easiest target (every share is a block).
const EASY_BITS: &str = "207fffff";

/// A submitted block: when its request arrived, and its header's nonce.
pub type Arrival = (Instant, u32);

/// What the stand-in does with blocks.
#[derive(Clone, Debug)]
struct Chain {
    bits: &'static str,
    submitted: Arc<AtomicU64>,
    /// `Some`: blocks are accepted and their arrivals recorded.
    arrivals: Option<Arc<Mutex<Vec<Arrival>>>>,
}

/// The running stand-in.
#[derive(Debug)]
pub struct ParentStandIn {
    addr: SocketAddr,
    height: watch::Receiver<u32>,
    chain: Chain,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ParentStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ParentStandIn {
    /// Starts on an ephemeral loopback port with a parent block every `block_interval`.
    ///
    /// # Errors
    /// The listener could not bind.
    pub async fn start(block_interval: Duration) -> std::io::Result<Self> {
        let chain = Chain {
            bits: HARD_BITS,
            submitted: Arc::new(AtomicU64::new(0)),
            arrivals: None,
        };
        Self::run(block_interval, chain).await
    }

    /// Starts with regtest's easiest target: every share is a block, accepted, and its
    /// arrival recorded (see [`ParentStandIn::arrivals`]).
    ///
    /// # Errors
    /// The listener could not bind.
    pub async fn start_easy(block_interval: Duration) -> std::io::Result<Self> {
        let chain = Chain {
            bits: EASY_BITS,
            submitted: Arc::new(AtomicU64::new(0)),
            arrivals: Some(Arc::new(Mutex::new(Vec::new()))),
        };
        Self::run(block_interval, chain).await
    }

    async fn run(block_interval: Duration, chain: Chain) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(100u32);
        let sub = chain.clone();
        let rx2 = rx.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(block_interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => { tx.send_modify(|h| *h += 1); }
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let height = rx2.clone();
                        let sub = sub.clone();
                        tokio::spawn(async move {
                            let _ = serve(stream, height, sub).await;
                        });
                    }
                }
            }
        });
        Ok(Self {
            addr,
            height: rx,
            chain,
            task,
        })
    }

    /// The RPC URL (any user and password are accepted).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The height the next block would have.
    pub fn height(&self) -> u32 {
        *self.height.borrow()
    }

    /// Blocks submitted so far.
    pub fn submitted(&self) -> u64 {
        self.chain.submitted.load(Ordering::Relaxed)
    }

    /// The blocks submitted so far with [`ParentStandIn::start_easy`], in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.chain.arrivals.as_ref().map_or_else(Vec::new, |a| {
            a.lock().unwrap_or_else(PoisonError::into_inner).clone()
        })
    }
}

/// The hash of the block below `height`, in display (RPC) byte order.
fn prev_hash(height: u32) -> String {
    let mut h = sha256d(&height.to_le_bytes());
    h.reverse();
    hex::encode(h)
}

fn template(height: u32, bits: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "version": 0x2000_0000,
        "previousblockhash": prev_hash(height),
        "transactions": [],
        "coinbasevalue": 5_000_000_000u64,
        "mintime": 1_600_000_000u32,
        "curtime": now,
        "bits": bits,
        "height": height,
        "longpollid": height.to_string(),
    })
}

async fn serve(
    stream: tokio::net::TcpStream,
    height: watch::Receiver<u32>,
    chain: Chain,
) -> std::io::Result<()> {
    serve_json_rpc(stream, |req, arrived| {
        let (mut height, chain) = (height.clone(), chain.clone());
        async move { answer(&req, arrived, &mut height, &chain).await }
    })
    .await
}

/// Answers one bitcoind request.
async fn answer(
    req: &Value,
    arrived: Instant,
    height: &mut watch::Receiver<u32>,
    chain: &Chain,
) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    match req.get("method").and_then(Value::as_str) {
        Some("getblocktemplate") => {
            let wait_for = params
                .get(0)
                .and_then(|p| p.get("longpollid"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(seen) = wait_for
                && *height.borrow() == seen
            {
                let _ = tokio::time::timeout(LONGPOLL, height.changed()).await;
            }
            let h = *height.borrow();
            json!({"result": template(h, chain.bits), "error": null, "id": id})
        }
        Some("submitblock") => {
            chain.submitted.fetch_add(1, Ordering::Relaxed);
            match &chain.arrivals {
                Some(arrivals) => {
                    // The header's nonce (bytes 76..80) names the block.
                    let nonce = params
                        .get(0)
                        .and_then(Value::as_str)
                        .and_then(|h| h.get(152..160))
                        .and_then(|h| hex::decode(h).ok())
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map(u32::from_le_bytes);
                    let mut a = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(nonce) = nonce
                        && a.len() < MAX_ARRIVALS
                    {
                        a.push((arrived, nonce));
                    }
                    json!({"result": null, "error": null, "id": id})
                }
                // The target is out of reach: anything submitted is "high-hash".
                None => json!({"result": "high-hash", "error": null, "id": id}),
            }
        }
        _ => {
            json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": id})
        }
    }
}

/// Serves JSON-RPC over HTTP/1.1 on `stream` until the client closes it: each request
/// body (at most [`MAX_BODY`] bytes) goes to `answer` with its arrival time, and its
/// reply is written back. What both stand-ins share.
pub(crate) async fn serve_json_rpc<F, Fut>(
    stream: tokio::net::TcpStream,
    mut answer: F,
) -> std::io::Result<()>
where
    F: FnMut(Value, Instant) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = None;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() && !first {
                break;
            }
            first = false;
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let len = length.unwrap_or(0).min(MAX_BODY);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).await?;
        let arrived = Instant::now();
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let result = answer(req, arrived).await;
        let out = serde_json::to_vec(&result).unwrap_or_default();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            out.len()
        );
        let stream = reader.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&out).await?;
    }
}
