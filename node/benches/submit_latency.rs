//! Stratum submit latency while the machine mines flat out, by the priority of the
//! mining threads (`mining.cpu.priority`): the node's Stratum server must stay as quick
//! with `idle` miners as with none. A benchmark binary, not run by CI:
//!
//! ```text
//! cargo bench -p otedama-node --bench submit_latency
//! ```

use otedama_miner::ThreadPriority;
use otedama_sharechain::test_utils::{regtest_template, script};
use otedama_sharechain::{
    ChainSpec, PayoutScript, PowAlgorithm, ShareChain, ShareTemplate, script_to_address,
};
use otedama_stratum::{StratumConfig, StratumServer, Work, WorkError, WorkSource};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// Submissions timed per scenario and round.
const SUBMITS: u32 = 500;
/// Rounds over the scenarios, interleaved so that drifts of the machine hit each alike.
const ROUNDS: usize = 3;

struct Source {
    chain: Mutex<ShareChain>,
}

impl WorkSource for Source {
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError> {
        let mut chain = self.chain.lock().map_err(|e| WorkError(e.to_string()))?;
        ShareTemplate::new(&mut chain, regtest_template(100, 2), payout.clone())
            .map(Arc::new)
            .map_err(|e| WorkError(e.to_string()))
    }
}

/// Busy threads hashing scrypt at `priority` on every core, until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(priority: ThreadPriority) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = (0..cores)
            .map(|i| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    priority
                        .apply_to_current_thread()
                        .expect("priority applies");
                    let mut header = [0u8; 80];
                    header[0] = i as u8;
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        header[76..].copy_from_slice(&n.to_le_bytes());
                        std::hint::black_box(PowAlgorithm::Scrypt.hash(&header));
                        n = n.wrapping_add(1);
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Times `SUBMITS` submissions (each hashed by the server, then refused as too easy);
/// returns the round trips.
async fn measure(addr: std::net::SocketAddr, spec: &'static ChainSpec) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let user = script_to_address(&script(1), spec).expect("address");
    let send = |v: Value| format!("{v}\n");
    write
        .write_all(send(json!({"id": 1, "method": "mining.subscribe", "params": []})).as_bytes())
        .await
        .expect("write");
    write
        .write_all(
            send(json!({"id": 2, "method": "mining.authorize", "params": [user, "x"]})).as_bytes(),
        )
        .await
        .expect("write");
    let job = loop {
        let line = lines.next_line().await.expect("read").expect("open");
        let v: Value = serde_json::from_str(&line).expect("json");
        if v["method"] == "mining.notify" {
            break v["params"].clone();
        }
    };
    let (job_id, ntime) = (job[0].clone(), job[7].clone());
    let mut times = Vec::with_capacity(SUBMITS as usize);
    for n in 0..SUBMITS {
        let id = 10 + u64::from(n);
        let line = send(json!({"id": id, "method": "mining.submit",
            "params": [user, job_id, "00000000", ntime, format!("{n:08x}")]}));
        let started = Instant::now();
        write.write_all(line.as_bytes()).await.expect("write");
        loop {
            let reply = lines.next_line().await.expect("read").expect("open");
            let v: Value = serde_json::from_str(&reply).expect("json");
            if v["id"] == id {
                break;
            }
        }
        times.push(started.elapsed());
    }
    times
}

/// The median and 99th percentile of `times`.
fn summary(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
    let source = Arc::new(Source {
        chain: Mutex::new(ShareChain::new(spec.clone())),
    });
    let (_work_tx, work_rx) = watch::channel(Some(Work {
        generation: 1,
        source,
        clean: true,
    }));
    let (sub_tx, mut sub_rx) = mpsc::channel(1024);
    tokio::spawn(async move { while sub_rx.recv().await.is_some() {} });
    let mut config = StratumConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..StratumConfig::default()
    };
    // Every submission is refused as too easy: the session must not be closed for it.
    config.bans.enabled = false;
    config.bans.invalid_shares = u32::MAX;
    let server = StratumServer::bind(config, spec, work_rx, sub_tx)
        .await
        .expect("binds");
    let addr = server.local_addr();
    let (_stop, stop_rx) = watch::channel(false);
    tokio::spawn(server.run(stop_rx));

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{cores} mining threads (one per core), {ROUNDS} x {SUBMITS} submits per scenario, scrypt"
    );
    let scenarios: [(&str, Option<ThreadPriority>); 4] = [
        ("no mining", None),
        ("normal", Some(ThreadPriority::Normal)),
        ("low", Some(ThreadPriority::Low)),
        ("idle", Some(ThreadPriority::Idle)),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); scenarios.len()];
    for _ in 0..ROUNDS {
        for (i, (_, priority)) in scenarios.iter().enumerate() {
            let load = priority.map(Load::start);
            tokio::time::sleep(Duration::from_millis(200)).await;
            times[i].extend(measure(addr, spec).await);
            drop(load);
        }
    }
    let summaries: Vec<(Duration, Duration)> = times.into_iter().map(summary).collect();
    let (base, _) = summaries[0];
    for ((name, _), (median, p99)) in scenarios.iter().zip(summaries) {
        let ratio = median.as_secs_f64() / base.as_secs_f64();
        println!("{name:<10} median {median:>10.1?} ({ratio:.2}x)  p99 {p99:>10.1?}");
    }
}
