//! Load benchmark of the Stratum server. Not part of CI:
//!
//! ```text
//! cargo bench -p otedama-stratum --bench load -- --idle 10000 --active 5000 --rate 1500 --secs 60
//! cargo bench -p otedama-stratum --bench load -- --sv2 --idle 10000 --active 5000 --rate 1500 --secs 60
//! ```
//!
//! With `--sv2` the miners speak Stratum V2 to the server's SV2 port instead: the Noise
//! handshake pinning the server's authority key, one extended channel each, and
//! `SubmitSharesExtended`.
//!
//! This process runs the real [`StratumServer`] on 127.0.0.1 (btc-regtest, default
//! config apart from the connection caps) and measures it; the simulated miners run in
//! a child process (this binary again, with `--client`), so the server's RSS holds only
//! the server and each process stays under its own descriptor limit. Two phases:
//!
//! 1. `--idle N` miners connect, subscribe, authorize and receive their first job,
//!    then hold the connection: connections held, and server RSS growth per connection.
//! 2. `--active M` miners submit real shares (valid proof of work for their session
//!    target, rebuilt from `mining.notify`) at `--rate` shares/s in total for `--secs`:
//!    throughput, submit latency (send to answer, measured by the client), errors, and
//!    server CPU time.
//!
//! Everything is bounded: miner counts, a deadline per phase, and timeouts per setup and
//! per answer. Only 127.0.0.1 is used.

// setrlimit needs libc; see `raise_fd_limit`.
#![allow(unsafe_code)]

mod client;
mod miner;
mod sv2;

use otedama_sharechain::test_utils::{regtest_template, script};
use otedama_sharechain::{ChainSpec, PayoutScript, ShareChain, ShareTemplate};
use otedama_stratum::sv2::{AuthorityKey, Sv2Config};
use otedama_stratum::{StratumConfig, StratumServer, Work, WorkError, WorkSource};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

/// The longest any phase may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

struct Args {
    client: bool,
    addr: Option<std::net::SocketAddr>,
    idle: usize,
    active: usize,
    rate: f64,
    secs: u64,
    /// Stratum V2; in the client process, the server's authority key.
    sv2: bool,
    key: Option<[u8; 32]>,
}

fn args() -> Args {
    let mut a = Args {
        client: false,
        addr: None,
        idle: 10_000,
        active: 5_000,
        rate: 1_500.0,
        secs: 60,
        sv2: false,
        key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--client" => a.client = true,
            "--sv2" => a.sv2 = true,
            "--key" => {
                a.key = hex::decode(value())
                    .ok()
                    .and_then(|k| <[u8; 32]>::try_from(k).ok())
            }
            "--addr" => a.addr = value().parse().ok(),
            "--idle" => a.idle = value().parse().unwrap_or(a.idle),
            "--active" => a.active = value().parse().unwrap_or(a.active),
            "--rate" => a.rate = value().parse().unwrap_or(a.rate),
            "--secs" => {
                a.secs = value()
                    .parse()
                    .unwrap_or(a.secs)
                    .min(PHASE_LIMIT.as_secs() / 2)
            }
            // `cargo bench` passes `--bench`; anything else is ignored too.
            _ => {}
        }
    }
    a
}

/// Raises the open-file limit to its hard maximum (and that to 65 536 where allowed):
/// the equivalent of `ulimit -n 65536`.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass, which lives
    // for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let wanted = lim.rlim_max.max(65_536);
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return wanted;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

/// The node stand-in: one template per payout script, cached like the node does.
struct BenchSource {
    chain: Mutex<ShareChain>,
    cache: Mutex<HashMap<PayoutScript, Arc<ShareTemplate>>>,
}

impl WorkSource for BenchSource {
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError> {
        let mut cache = self.cache.lock().map_err(|e| WorkError(e.to_string()))?;
        if let Some(t) = cache.get(payout) {
            return Ok(t.clone());
        }
        let mut chain = self.chain.lock().map_err(|e| WorkError(e.to_string()))?;
        let t = ShareTemplate::new(&mut chain, regtest_template(100, 8), payout.clone())
            .map_err(|e| WorkError(e.to_string()))?;
        let t = Arc::new(t);
        cache.insert(payout.clone(), t.clone());
        Ok(t)
    }
}

/// Starts the client process for one phase.
fn spawn_client(
    addr: std::net::SocketAddr,
    miners: usize,
    active: bool,
    a: &Args,
    key: Option<[u8; 32]>,
) -> Child {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    if let Some(key) = key {
        cmd.args(["--key", &hex::encode(key)]);
    }
    cmd.args(["--client", "--addr", &addr.to_string()])
        .args(["--secs", &a.secs.to_string(), "--rate", &a.rate.to_string()])
        .args([
            if active { "--active" } else { "--idle" },
            &miners.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn the client process")
}

/// Reads the child's next line starting with `tag`.
async fn expect_line(out: &mut tokio::io::Lines<BufReader<ChildStdout>>, tag: &str) -> String {
    let read = async {
        while let Ok(Some(line)) = out.next_line().await {
            if let Some(rest) = line.strip_prefix(tag) {
                return rest.trim().to_owned();
            }
        }
        panic!("client ended before {tag}");
    };
    tokio::time::timeout(PHASE_LIMIT, read)
        .await
        .unwrap_or_else(|_| panic!("no {tag} within {PHASE_LIMIT:?}"))
}

fn main() {
    let a = args();
    let fds = raise_fd_limit();
    if a.client {
        let Some(addr) = a.addr else {
            eprintln!("--client needs --addr");
            return;
        };
        // The parent passes exactly one of --active and --idle.
        let active = std::env::args().any(|x| x == "--active");
        let miners = if active { a.active } else { a.idle };
        client::run(client::Plan {
            addr,
            miners,
            active,
            rate: a.rate,
            secs: a.secs,
            sv2: a.key,
        });
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(server(a, fds));
}

async fn server(a: Args, fds: u64) {
    let spec = ChainSpec::by_name("btc-regtest").expect("built in");
    let source = Arc::new(BenchSource {
        chain: Mutex::new(ShareChain::new(spec.clone())),
        cache: Mutex::new(HashMap::new()),
    });
    // The node's template cache is not the server's memory: fill it first.
    for n in 0..100 {
        let _ = source.template_for(&script(n));
    }
    let (_work_tx, work_rx) = watch::channel(Some(Work {
        generation: 1,
        source,
        clean: true,
    }));
    let (sub_tx, mut sub_rx) = mpsc::channel(65_536);
    let authority = a.sv2.then(|| AuthorityKey::generate().expect("randomness"));
    let config = StratumConfig {
        listen: "127.0.0.1:0".parse().expect("valid"),
        max_connections: 20_000,
        max_connections_per_ip: 20_000,
        sv2: authority.clone().map(|authority| Sv2Config {
            listen: "127.0.0.1:0".parse().expect("valid"),
            authority,
            cert_validity: Duration::from_secs(3600),
        }),
        ..StratumConfig::default()
    };
    let server = StratumServer::bind(config, spec, work_rx, sub_tx)
        .await
        .expect("binds");
    let addr = server.sv2_addr().unwrap_or(server.local_addr());
    let key = authority.as_ref().map(AuthorityKey::public);
    let stats = server.stats();
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = tokio::spawn(server.run(stop_rx));
    let forwarded = tokio::spawn(async move {
        let mut n = 0u64;
        while sub_rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let protocol = if key.is_some() { "v2" } else { "v1" };
    println!("stratum load bench ({protocol}): server {addr}, fd limit {fds}");

    // Phase 1: idle connections.
    let rss0 = status_kib("VmRSS:");
    let mut child = spawn_client(addr, a.idle, false, &a, key);
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let ready = expect_line(&mut out, "READY").await;
    let held = stats.snapshot().connections;
    let rss1 = status_kib("VmRSS:");
    let per_conn = (rss1.saturating_sub(rss0) * 1024) as f64 / held.max(1) as f64;
    println!(
        "idle: READY {ready}; connections held {held}; RSS {rss0} -> {rss1} KiB; {per_conn:.0} B per idle connection ({:.2} KiB)",
        per_conn / 1024.0
    );
    drop(child.stdin.take());
    let _ = expect_line(&mut out, "RESULT").await;
    let _ = child.wait().await;
    let closed = tokio::time::timeout(PHASE_LIMIT, async {
        while stats.snapshot().connections > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    println!("idle: all closed: {}", closed.is_ok());

    // Phase 2: active miners.
    let before = stats.snapshot();
    let mut child = spawn_client(addr, a.active, true, &a, key);
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let ready = expect_line(&mut out, "READY").await;
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    let result = expect_line(&mut out, "RESULT").await;
    let (cpu1, wall) = (cpu_secs(), t0.elapsed().as_secs_f64());
    let _ = child.wait().await;
    let after = stats.snapshot();
    let r: Value = serde_json::from_str(&result).unwrap_or(Value::Null);
    println!("active: READY {ready}");
    println!("active: client {result}");
    println!(
        "active: server accepted {}, rejected {} (stale {}, dup {}, low {}, other {}), forwarded {}, dropped {}",
        after.accepted - before.accepted,
        (after.rejected_stale
            + after.rejected_duplicate
            + after.rejected_low_difficulty
            + after.rejected_other)
            - (before.rejected_stale
                + before.rejected_duplicate
                + before.rejected_low_difficulty
                + before.rejected_other),
        after.rejected_stale - before.rejected_stale,
        after.rejected_duplicate - before.rejected_duplicate,
        after.rejected_low_difficulty - before.rejected_low_difficulty,
        after.rejected_other - before.rejected_other,
        after.shares_forwarded - before.shares_forwarded,
        after.shares_dropped - before.shares_dropped,
    );
    println!(
        "active: server CPU {:.1} s over {wall:.1} s ({:.0}% of one core); peak RSS {} KiB",
        cpu1 - cpu0,
        100.0 * (cpu1 - cpu0) / wall,
        status_kib("VmHWM:")
    );
    println!(
        "summary: idle {held} held, {:.2} KiB/conn | active {} miners, {:.0} shares/s, p50 {} ms, p99 {} ms, max {} ms, errors {}",
        per_conn / 1024.0,
        r["connected"],
        r["shares_per_sec"].as_f64().unwrap_or(0.0),
        r["p50_ms"],
        r["p99_ms"],
        r["max_ms"],
        r["errors"]
    );
    let _ = stop_tx.send(true);
    let _ = running.await;
    println!(
        "forwarded to the node stand-in: {}",
        forwarded.await.unwrap_or(0)
    );
}
