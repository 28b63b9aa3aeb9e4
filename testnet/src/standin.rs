//! A deterministic parent-chain stand-in for large, fast runs: a JSON-RPC server on
//! loopback that answers `getblocktemplate` (with longpoll) and `submitblock` the way
//! bitcoind does for a chain with no transactions. It is **not** a parent chain: its
//! blocks are the hashes of their heights, a new one comes every `block_interval`, and
//! its target is out of reach, so shares never become blocks. End-to-end runs use real
//! litecoind instead ([`crate::LitecoinRegtest`]).

use otedama_sharechain::sha256d;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Longest a longpoll waits.
const LONGPOLL: Duration = Duration::from_secs(30);

/// The running stand-in.
#[derive(Debug)]
pub struct ParentStandIn {
    addr: SocketAddr,
    height: watch::Receiver<u32>,
    submitted: Arc<AtomicU64>,
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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(100u32);
        let submitted = Arc::new(AtomicU64::new(0));
        let sub = Arc::clone(&submitted);
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
                        let sub = Arc::clone(&sub);
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
            submitted,
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
        self.submitted.load(Ordering::Relaxed)
    }
}

/// The hash of the block below `height`, in display (RPC) byte order.
fn prev_hash(height: u32) -> String {
    let mut h = sha256d(&height.to_le_bytes());
    h.reverse();
    hex::encode(h)
}

fn template(height: u32) -> Value {
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
        "bits": "1d00ffff",
        "height": height,
        "longpollid": height.to_string(),
    })
}

async fn serve(
    stream: tokio::net::TcpStream,
    mut height: watch::Receiver<u32>,
    submitted: Arc<AtomicU64>,
) -> std::io::Result<()> {
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
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params = req.get("params").cloned().unwrap_or(Value::Null);
        let result = match req.get("method").and_then(Value::as_str) {
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
                json!({"result": template(h), "error": null, "id": id})
            }
            Some("submitblock") => {
                submitted.fetch_add(1, Ordering::Relaxed);
                // The target is out of reach: anything submitted is "high-hash".
                json!({"result": "high-hash", "error": null, "id": id})
            }
            _ => {
                json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": id})
            }
        };
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
