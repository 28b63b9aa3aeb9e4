//! Start-up time: from spawning `otedama-node serve` to Stratum and the API both
//! answering, on a warm store (target: <= 500 ms).
//!
//! `cargo bench -p otedama-node --bench startup [-- --shares N --runs R]`
//!
//! It mines N real btc-regtest shares (default 17 280: the retention of ltc-main, twice
//! its 8 640-share window; SHA256d keeps building the store quick) into a store, runs the node once to warm the page cache, then
//! times R starts (default 10). A start ends when a TCP connection to Stratum is accepted
//! and `GET /api/status` answers 200. The parent daemon's URL refuses connections: the
//! node serves miners and the API without one, and retries it in the background.

use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{ChainSpec, ShareChain, Store};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build_store(data: &Path, n: usize) -> usize {
    let spec = ChainSpec::by_name("btc-regtest").expect("spec");
    let (store, _) = Store::open(&data.join(spec.name).join("shares"), spec).expect("store");
    let mut chain = ShareChain::new(spec.clone());
    for i in 0..n {
        let share = mine_on_tip(&mut chain, script(i as u32 % 50), &(i as u64).to_le_bytes());
        let meta = chain.derive_meta(&share).expect("parent known");
        let change = chain.insert(meta.clone());
        store
            .accept(&share, &meta, &change, &chain)
            .expect("stored");
    }
    store.flush().expect("flush");
    chain.len()
}

fn api_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Spawns the node and returns the time until Stratum and the API serve.
fn time_start(config: &Path, stratum: SocketAddr, api: SocketAddr) -> Duration {
    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("OTEDAMA_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let (mut stratum_up, mut api_up) = (false, false);
    while !(stratum_up && api_up) {
        stratum_up = stratum_up || TcpStream::connect(stratum).is_ok();
        api_up = api_up || api_ok(api);
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the node never served"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = t0.elapsed();
    stop(child);
    elapsed
}

fn main() {
    let shares = arg("--shares", 17_280);
    let runs = arg("--runs", 10).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let t = Instant::now();
    let held = build_store(&data, shares);
    println!(
        "warm store: {held} btc-regtest shares, built in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let (stratum, api, metrics, health, dead) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = dir.path().join("node.yaml");
    std::fs::write(
        &config,
        format!(
            "app:\n  data_dir: {}\nmining:\n  algorithm: sha256d\npool:\n  address: {stratum}\napi:\n  address: {api}\n\
             monitoring:\n  metrics:\n    address: {metrics}\n  health:\n    address: {health}\n\
             p2p:\n  listen: [\"/ip4/127.0.0.1/tcp/0\"]\n\
             chains:\n  - spec: btc-regtest\n    daemons:\n      - url: http://{dead}\n        user: u\n        password: p\n",
            data.display()
        ),
    )
    .expect("config");

    let warm = time_start(&config, stratum, api);
    println!(
        "first start (page cache warming): {:.1} ms",
        warm.as_secs_f64() * 1e3
    );
    let mut times: Vec<f64> = (0..runs)
        .map(|_| time_start(&config, stratum, api).as_secs_f64() * 1e3)
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "start to serving Stratum and API, {runs} runs: min {:.1} ms, median {median:.1} ms, max {:.1} ms (bar: <= 500 ms)",
        times[0],
        times[times.len() - 1]
    );
}
