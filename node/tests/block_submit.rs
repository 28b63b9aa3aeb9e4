//! Blocks first, in parallel, off the coordinator's loop. Two daemons are configured:
//! the first is a proxy in front of a real litecoind that accepts `submitblock` and
//! never answers it; the second forwards everything to the same litecoind. A block
//! found by the node must reach the second as soon as the first (not after the first
//! one's 15 s timeout), litecoind must accept it, and shares and queries must keep
//! flowing while the first submission hangs. Needs `litecoind` (skipped with
//! OTEDAMA_SKIP_DAEMON_TESTS=1).

use otedama_miner::{Miner, MinerConfig};
use otedama_node::config::{ChainConfig, Config, DaemonConfig, MiningAlgorithm};
use otedama_node::devnet::devnet_payouts;
use otedama_node::{Node, NodeEvent};
use otedama_sharechain::{ChainSpec, PowAlgorithm};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

#[path = "../../testnet/src/skip.rs"]
#[allow(dead_code)]
mod skip;

/// Largest request the proxy reads (a regtest block is a few kilobytes).
const MAX_REQUEST: usize = 4 << 20;

/// A JSON-RPC proxy in front of the daemon that records when `submitblock` arrives
/// and, if `hang`, never answers it.
struct Proxy {
    url: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl Proxy {
    async fn start(upstream: String, hang: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&arrivals);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((sock, _)) = listener.accept().await {
                let (upstream, seen, client) =
                    (upstream.clone(), Arc::clone(&seen), client.clone());
                tokio::spawn(async move {
                    let _ = relay(sock, &upstream, hang, &seen, &client).await;
                });
            }
        });
        Proxy { url, arrivals }
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Relays HTTP/1.1 requests on one keep-alive connection.
async fn relay(
    mut sock: TcpStream,
    upstream: &str,
    hang: bool,
    seen: &Mutex<Vec<Instant>>,
    client: &reqwest::Client,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 || buf.len() > MAX_REQUEST {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > MAX_REQUEST {
            return Ok(());
        }
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf.drain(..head_end + len).skip(head_end).collect();
        let method = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["method"].as_str().map(str::to_string));
        if method.as_deref() == Some("submitblock") {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Instant::now());
            if hang {
                // Holds the connection open and never answers.
                std::future::pending::<()>().await;
            }
        }
        let mut request = client
            .post(upstream)
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = header("authorization") {
            request = request.header("authorization", auth);
        }
        let Ok(reply) = request.send().await else {
            return Ok(());
        };
        let status = reply.status().as_u16();
        let bytes = reply.bytes().await.unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        );
        sock.write_all(head.as_bytes()).await?;
        sock.write_all(&bytes).await?;
    }
}

#[test]
fn a_hung_daemon_delays_neither_the_block_to_the_other_nor_the_node() {
    let Some(daemon) = skip::litecoind_or_skip(
        "a_hung_daemon_delays_neither_the_block_to_the_other_nor_the_node",
        &["-vbparams=mweb:-2:0"],
    ) else {
        return;
    };
    let start_height = daemon
        .rpc
        .call("getblockcount", json!([]))
        .expect("getblockcount")
        .as_u64()
        .expect("a height");
    let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let hung = Proxy::start(daemon.rpc_url(), true).await;
        let live = Proxy::start(daemon.rpc_url(), false).await;
        let mut config = Config::default();
        config.app.data_dir = dir.path().join("node");
        config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.pool.address = "127.0.0.1:0".parse().expect("addr");
        config.mining.algorithm = MiningAlgorithm::Scrypt;
        let endpoint = |url: &str| DaemonConfig {
            url: url.to_string(),
            cookie_file: Some(daemon.cookie_path().to_path_buf()),
            user: None,
            password: None,
            zmq: None,
        };
        // The hung daemon first: a node that submits in turn waits out its timeout.
        config.chains = vec![ChainConfig {
            spec: spec.name.into(),
            daemons: vec![endpoint(&hung.url), endpoint(&live.url)],
        }];
        let node = Node::start(&config, None).await.expect("node starts");
        let handle = node.handle();
        let mut events = node.events();
        let mut miners = Vec::new();
        for (addr, _) in devnet_payouts(spec) {
            miners.push(
                Miner::start(MinerConfig {
                    pools: vec![format!("stratum+tcp://{}", node.stratum_addr())],
                    user: format!("{addr}.hang"),
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

        // The first block reaches both daemons.
        let (first_hung, first_live) = timeout(Duration::from_secs(120), async {
            loop {
                if let (Some(h), Some(l)) = (hung.arrivals().first(), live.arrivals().first()) {
                    return (*h, *l);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("a block submitted to both daemons within 120 s");
        let skew = first_live.max(first_hung) - first_live.min(first_hung);
        eprintln!("submitblock arrived {skew:?} apart at the two daemons");
        assert!(
            skew < Duration::from_millis(250),
            "the live daemon got the block {skew:?} after the hung one"
        );

        // While that submission hangs (it never ends before the client's 15 s timeout),
        // the block's acceptance is reported, and shares and queries keep flowing.
        let hang_ends = first_hung + Duration::from_secs(14);
        let mut accepted_during_hang = 0;
        let mut first_outcome = None;
        while (first_outcome.is_none() || accepted_during_hang < 2) && Instant::now() < hang_ends {
            let query = timeout(Duration::from_secs(2), handle.shares(0, 10)).await;
            assert!(
                matches!(query, Ok(Ok(_))),
                "a query went unanswered while a submission hung"
            );
            match timeout(Duration::from_millis(200), events.recv()).await {
                Ok(Ok(NodeEvent::ShareAccepted { .. })) => accepted_during_hang += 1,
                Ok(Ok(NodeEvent::BlockFound {
                    accepted, errors, ..
                })) if first_outcome.is_none() => first_outcome = Some((accepted, errors)),
                _ => {}
            }
        }
        assert!(
            Instant::now() < hang_ends,
            "{accepted_during_hang} shares accepted and outcome {first_outcome:?} while the first submission hung"
        );
        let (accepted, errors) = first_outcome.expect("checked above");
        assert!(accepted, "litecoind accepted the block through the live daemon: {errors:?}");

        // litecoind holds the block.
        let height = daemon
            .rpc
            .call("getblockcount", json!([]))
            .expect("getblockcount")
            .as_u64()
            .expect("a height");
        assert!(
            height > start_height,
            "litecoind's height is still {height}"
        );
        for m in miners {
            m.stop().await;
        }
        node.stop().await;
    });
}
