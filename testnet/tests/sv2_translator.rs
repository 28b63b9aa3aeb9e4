//! Stratum V2 for real: two SRI `translator_sv2` proxies (tProxy) connect upstream to the
//! node's SV2 port with the node's authority key, each mining for its own payout address,
//! with an SV1 miner (a node's built-in miner) behind each. Shares arrive over SV2
//! extended channels, and the blocks the node finds on the parent stand-in pay both
//! addresses by PPLNS. A third node's built-in miner speaks SV2 itself, failing over from
//! a dead v1 pool and a wrong key to the right one. A translator pinning another key never
//! gets work. A cgminer-shaped SV1 conversation through a proxy gets its share accepted.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{NodeOptions, TestNode, address, free_port, logs, wait_for};
use otedama_testnet::skip::{self, or_skip};
use otedama_testnet::standin::ParentStandIn;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// The installed translator: on PATH or in cargo's bin directory.
fn translator() -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(Path::new(&home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("translator_sv2"))
        .find(|p| p.is_file())
        .ok_or_else(|| "translator_sv2 not found".to_owned())
}

/// A translator process, killed on drop.
struct Translator(Child);

impl Drop for Translator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a translator on `port` for the pool at `sv2_port` pinning `authority`, mining
/// for `identity` (the translator opens its channels as `IDENTITY.minerN`, so the pool
/// pays that address for every miner behind it); one extended channel per SV1 miner (no
/// aggregation), no extensions, no monitoring.
fn start_translator(
    bin: &Path,
    dir: &Path,
    port: u16,
    sv2_port: u16,
    authority: &str,
    identity: &str,
) -> Translator {
    let config = format!(
        "downstream_address = \"127.0.0.1\"\n\
         downstream_port = {port}\n\
         max_supported_version = 2\n\
         min_supported_version = 2\n\
         downstream_extranonce2_size = 4\n\
         verify_payout = false\n\
         aggregate_channels = false\n\
         supported_extensions = []\n\
         [downstream_difficulty_config]\n\
         min_individual_miner_hashrate = 2000.0\n\
         shares_per_minute = 60.0\n\
         enable_vardiff = true\n\
         job_keepalive_interval_secs = 60\n\
         [[upstreams]]\n\
         address = \"127.0.0.1\"\n\
         port = {sv2_port}\n\
         authority_pubkey = \"{authority}\"\n\
         user_identity = \"{identity}\"\n"
    );
    let path = dir.join(format!("tproxy-{port}.toml"));
    std::fs::write(&path, config).expect("translator config");
    let log = std::fs::File::create(dir.join(format!("tproxy-{port}.log"))).expect("log file");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log.try_clone().expect("log handle")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("translator starts");
    Translator(child)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A node whose built-in miner mines through the translator at `tproxy` (its own
/// payout address is only the SV1 user name there).
fn miner_options(i: u32, parent: &ParentStandIn, tproxy: u16) -> NodeOptions {
    let mut o = NodeOptions::numbered(i, spec(), parent.url(), Vec::new(), false, 2000);
    o.mining = Some(format!(
        "mining:\n  enable_cpu: true\n  algorithm: sha256d\n  payout_address: {}\n  pool_urls: [\"stratum+tcp://127.0.0.1:{tproxy}\"]\n  cpu:\n    threads: 1\n    max_hashrate: 2000\n",
        address(spec(), i)
    ));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translators_and_the_built_in_sv2_miner_mine_through_the_sv2_port_and_are_paid() {
    let Some(bin) = or_skip(
        skip::SV2,
        "translators_and_the_built_in_sv2_miner",
        translator(),
        "install it with: cargo install translator_sv2 --version 0.6.0 --locked --no-default-features",
    ) else {
        return;
    };
    let parent = ParentStandIn::start_easy(Duration::from_secs(30))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    // The pool: SV2 on, its authority key made in advance so the translator can pin it.
    let pool_dir = root.path().join("n0");
    std::fs::create_dir_all(&pool_dir).expect("dir");
    let (key, _) = otedama_node::p2p::key::load_or_create_sv2(&pool_dir).expect("sv2 key");
    let sv2_port = free_port();
    let mut pool_options = NodeOptions::numbered(0, spec(), parent.url(), Vec::new(), false, 0);
    pool_options.pool_extra =
        format!("  sv2:\n    enable: true\n    address: 127.0.0.1:{sv2_port}\n");
    let pool = TestNode::spawn(root.path(), pool_options).expect("pool node");
    let up = wait_for(Duration::from_secs(30), || async {
        pool.get("/api/status").await
    })
    .await;
    assert!(
        up.is_some(),
        "the pool node does not answer\n{}",
        pool.log_tail(30)
    );

    // Two proxies, each mining for its own payout address, each with a miner behind it.
    let (a1, a2) = (address(spec(), 1), address(spec(), 2));
    let (t1, t2) = (free_port(), free_port());
    let authority = key.public_base58();
    let _p1 = start_translator(&bin, root.path(), t1, sv2_port, &authority, &a1);
    let _p2 = start_translator(&bin, root.path(), t2, sv2_port, &authority, &a2);
    let tlog = |port: u16| tail(&root.path().join(format!("tproxy-{port}.log")));
    let miners = [
        TestNode::spawn(root.path(), miner_options(1, &parent, t1)).expect("miner 1"),
        TestNode::spawn(root.path(), miner_options(2, &parent, t2)).expect("miner 2"),
    ];
    // A third miner speaks SV2 itself: its first pools fail (a closed v1 port, then the
    // right SV2 port with a wrong key), and it fails over to the pinned key.
    let a3 = address(spec(), 3);
    let wrong = otedama_stratum::sv2::AuthorityKey::generate().expect("randomness");
    let mut direct = miner_options(3, &parent, 0);
    direct.mining = Some(format!(
        "mining:\n  enable_cpu: true\n  algorithm: sha256d\n  payout_address: {a3}\n  pool_urls: [\"stratum+tcp://127.0.0.1:{closed}\", \"stratum2+tcp://127.0.0.1:{sv2_port}/{bad}\", \"stratum2+tcp://127.0.0.1:{sv2_port}/{authority}\"]\n  cpu:\n    threads: 1\n    max_hashrate: 2000\n",
        closed = free_port(),
        bad = wrong.public_base58(),
    ));
    let direct = TestNode::spawn(root.path(), direct).expect("sv2 miner");
    let all: Vec<&TestNode> = [&pool, &miners[0], &miners[1], &direct].into();

    // Both proxies' shares reach the pool's sharechain over SV2, and the next block pays
    // both of them.
    let paid = wait_for(Duration::from_secs(120), || async {
        let p = pool.get("/api/payouts").await?;
        let expected = p.get("expected")?.as_array()?;
        let pays = |a: &str| {
            expected
                .iter()
                .any(|e| e.get("address").and_then(|x| x.as_str()) == Some(a))
        };
        (pays(&a1) && pays(&a2) && pays(&a3)).then_some(())
    })
    .await;
    assert!(
        paid.is_some(),
        "the window does not pay both translators and the SV2 miner\n--- translator ---\n{}\n{}",
        tlog(t1),
        logs(&all)
    );
    // Every share is a block on the easy stand-in: the daemon accepted blocks, and one
    // block paid both addresses (read from each miner's page, by block hash).
    let paid_hashes = |page: serde_json::Value| -> Vec<String> {
        page["payouts"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|p| p["amount_sat"].as_u64().unwrap_or(0) > 0)
                    .filter_map(|p| p["hash"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let both = wait_for(Duration::from_secs(60), || async {
        let h1 = paid_hashes(pool.get(&format!("/api/miner/{a1}")).await?);
        let h2 = paid_hashes(pool.get(&format!("/api/miner/{a2}")).await?);
        h1.into_iter().find(|h| h2.contains(h))
    })
    .await;
    assert!(
        both.is_some() && parent.submitted() > 0,
        "no found block pays both miners ({} submitted)\n{}",
        parent.submitted(),
        logs(&all)
    );
    // A third-party-shaped SV1 conversation through the first proxy, as cgminer has it:
    // subscribe, authorize, then a share rebuilt from mining.notify, accepted upstream.
    let accepted = cgminer_share(t1).await;
    assert!(
        accepted.is_ok(),
        "{accepted:?}\n--- translator ---\n{}",
        tlog(t1)
    );
    let stats = pool.get("/api/stats").await.expect("stats");
    eprintln!("pool stats: {stats}");

    // A translator pinning another key gets no work: its handshake fails.
    let other = otedama_stratum::sv2::AuthorityKey::generate().expect("randomness");
    let bad_port = free_port();
    let _bad = start_translator(
        &bin,
        root.path(),
        bad_port,
        sv2_port,
        &other.public_base58(),
        &a1,
    );
    let refused = wait_for(Duration::from_secs(20), || async {
        tlog(bad_port)
            .contains("Failed Noise handshake")
            .then_some(())
    })
    .await;
    assert!(
        refused.is_some(),
        "the translator pinning another key did not fail its handshake\n{}",
        tlog(bad_port)
    );
    let addr = format!("127.0.0.1:{bad_port}").parse().expect("address");
    let served = otedama_testnet::client::stratum_job(
        std::net::Ipv4Addr::LOCALHOST,
        addr,
        &a1,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        served.is_err(),
        "a translator with the wrong key served a job\n{}",
        tlog(bad_port)
    );
}

/// Speaks Stratum v1 to the translator at `port` as cgminer does and submits one share
/// that meets the difficulty it was given; `Ok` when the answer is `true`.
async fn cgminer_share(port: u16) -> Result<(), String> {
    use otedama_sharechain::{Difficulty, PowAlgorithm, sha256d, sha256d_pair};
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (r, mut w) = stream.into_split();
    let hello = format!(
        "{}\n{}\n",
        json!({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.11.1"]}),
        json!({"id": 2, "method": "mining.authorize", "params": ["rig7", "x"]})
    );
    w.write_all(hello.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(r).lines();
    let (mut en1, mut en2_size, mut diff, mut notify) = (None, 0usize, None, None);
    let mut answer = None;
    let talk = async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            let v: Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
            match (v["id"].as_u64(), v["method"].as_str()) {
                (Some(1), _) => {
                    en1 = v["result"][1].as_str().and_then(|s| hex::decode(s).ok());
                    en2_size = v["result"][2].as_u64().unwrap_or(0) as usize;
                }
                (Some(2), _) if v["result"] != Value::Bool(true) => {
                    return Err(format!("authorize refused: {line}"));
                }
                (Some(3), _) => {
                    answer = Some(v);
                    return Ok(());
                }
                (_, Some("mining.set_difficulty")) => diff = v["params"][0].as_f64(),
                (_, Some("mining.notify")) => notify = Some(v["params"].clone()),
                _ => {}
            }
            let (Some(en1), Some(d), Some(p)) = (&en1, diff, &notify) else {
                continue;
            };
            if answer.is_some() || en2_size == 0 {
                continue;
            }
            // Build the header exactly as cgminer does from the notify fields.
            let hexb = |i: usize| hex::decode(p[i].as_str().unwrap_or("")).unwrap_or_default();
            let word = |i: usize| u32::from_str_radix(p[i].as_str().unwrap_or(""), 16).unwrap_or(0);
            let en2 = vec![0x5a; en2_size];
            let coinbase = [hexb(2), en1.clone(), en2.clone(), hexb(3)].concat();
            let branch: Vec<[u8; 32]> = p[4]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| hex::decode(b.as_str()?).ok()?.try_into().ok())
                .collect();
            let root = branch
                .iter()
                .fold(sha256d(&coinbase), |acc, b| sha256d_pair(&acc, b));
            let mut prev: [u8; 32] = hexb(1).try_into().map_err(|_| "prevhash")?;
            for w4 in prev.chunks_exact_mut(4) {
                w4.reverse();
            }
            let (version, nbits, ntime) = (word(5), word(6), word(7));
            let target = Difficulty::new(d)
                .ok_or("bad difficulty")?
                .to_stratum_target(PowAlgorithm::Sha256d);
            let mut h = [0u8; 80];
            h[0..4].copy_from_slice(&version.to_le_bytes());
            h[4..36].copy_from_slice(&prev);
            h[36..68].copy_from_slice(&root);
            h[68..72].copy_from_slice(&ntime.to_le_bytes());
            h[72..76].copy_from_slice(&nbits.to_le_bytes());
            let nonce = (0..1u32 << 24)
                .find(|&n| {
                    h[76..80].copy_from_slice(&n.to_le_bytes());
                    target.is_met_by(&PowAlgorithm::Sha256d.hash(&h))
                })
                .ok_or("no nonce")?;
            let submit = json!({"id": 3, "method": "mining.submit", "params": [
                "rig7", p[0], hex::encode(&en2), format!("{ntime:08x}"), format!("{nonce:08x}")]});
            w.write_all(format!("{submit}\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            answer = Some(Value::Null);
        }
        Err("closed".to_owned())
    };
    tokio::time::timeout(Duration::from_secs(30), talk)
        .await
        .map_err(|_| "no answer within 30 s".to_owned())??;
    match answer {
        Some(v) if v["result"] == Value::Bool(true) => Ok(()),
        other => Err(format!("share not accepted: {other:?}")),
    }
}
