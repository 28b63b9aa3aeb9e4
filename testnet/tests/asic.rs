//! Emulated ASIC chains mine real shares through the node's Stratum server, and a
//! network miner's cgminer API feeds the node's stats and metrics.
//!
//! The node runs as a process with `mining.asic.devices` naming two emulated chains (a
//! BM1366 chain that rolls the version itself, a BM1397 chain fed midstates) and a local
//! fake cgminer API that replays Whatsminer-format replies. No USB device or network
//! miner exists here; the emulator speaks the chips' serial protocol to the real driver.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{NodeOptions, TestNode, address, wait_for};
use otedama_testnet::standin::ParentStandIn;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SUMMARY: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":11,"Msg":"Summary","Description":"btminer"}],"SUMMARY":[{"Elapsed":86400,"MHS av":110432125.50,"MHS 5s":111250250.25,"Accepted":5760,"Rejected":6,"Temperature":78.50,"Fan Speed In":4530,"Fan Speed Out":4500,"Power":3300}],"id":1}"#;
const DEVS: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":9,"Msg":"2 ASC(s)","Description":"btminer"}],"DEVS":[{"ASC":0,"Slot":0,"Enabled":"Y","Status":"Alive","Temperature":76.00,"MHS 5s":55625125.0,"Effective Chips":156},{"ASC":1,"Slot":1,"Enabled":"Y","Status":"Alive","Temperature":"77.25","MHS 5s":55625125.25,"Effective Chips":156}],"id":1}"#;
const POOLS: &str = r#"{"STATUS":[{"STATUS":"S","When":1690000000,"Code":7,"Msg":"1 Pool(s)","Description":"btminer"}],"POOLS":[{"POOL":0,"URL":"stratum+tcp://127.0.0.1:3333","Status":"Alive","Priority":0,"Accepted":5760,"Rejected":6,"User":"acct.m30","Stratum Active":true}],"id":1}"#;
const INVALID: &str = r#"{"STATUS":[{"STATUS":"E","When":1690000000,"Code":14,"Msg":"Invalid command","Description":"btminer"}],"id":1}"#;

/// A cgminer-API server on loopback: one request per connection, a NUL-terminated reply,
/// `+` multi-reports refused (as some firmwares do).
async fn fake_cgminer() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = stream.read(&mut buf).await else {
                    return;
                };
                let request: Value = serde_json::from_slice(&buf[..n]).unwrap_or(Value::Null);
                let reply = match request["command"].as_str() {
                    Some("summary") => SUMMARY,
                    Some("devs") => DEVS,
                    Some("pools") => POOLS,
                    _ => INVALID,
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(b"\0").await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_chains_mine_through_stratum_and_network_miners_are_watched() {
    let spec = ChainSpec::by_name("btc-regtest").expect("built-in spec");
    let parent = ParentStandIn::start(Duration::from_secs(300))
        .await
        .expect("stand-in starts");
    let cgminer = fake_cgminer().await;
    let root = tempfile::tempdir().expect("tempdir");
    let payout = address(spec, 0);
    let mining = format!(
        "mining:\n  enable_cpu: false\n  enable_asic: true\n  algorithm: sha256d\n  payout_address: {payout}\n  \
         pool_urls: [\"stratum+tcp://127.0.0.1:{{stratum}}\"]\n  \
         asic:\n    devices: [\"sim:bm1366x4\", \"sim:bm1397x2\", \"{cgminer}\"]\n    poll_interval: 1s\n    \
         temperature_limit: 60\n"
    );
    let node = TestNode::spawn(
        root.path(),
        NodeOptions {
            metrics: true,
            mining: Some(mining),
            ..NodeOptions::numbered(0, spec, parent.url(), Vec::new(), false, 0)
        },
    )
    .expect("node starts");

    // Both chains get shares accepted by the node's Stratum server.
    let devices = wait_for(Duration::from_secs(120), || async {
        let stats = node.get("/api/stats").await?;
        let devices = stats.pointer("/miner/devices")?.as_array()?.clone();
        let accepted = |name: &str| {
            devices
                .iter()
                .find(|d| d["name"] == name)
                .and_then(|d| d["accepted"].as_u64())
                .unwrap_or(0)
        };
        (accepted("asic0:sim") >= 3 && accepted("asic1:sim") >= 3).then_some(devices)
    })
    .await;
    let Some(devices) = devices else {
        panic!("no accepted ASIC shares\n{}", node.log_tail(40));
    };
    for name in ["asic0:sim", "asic1:sim"] {
        let d = devices
            .iter()
            .find(|d| d["name"] == name)
            .expect("rig listed");
        assert_eq!(d["kind"], "asic");
        assert_eq!(d["rejected"], 0, "{d}");
        assert_eq!(d["hardware_errors"], 0, "{d}");
        assert!(d["hashrate"].as_f64().unwrap_or(0.0) > 0.0 || d["accepted"].as_u64() > Some(0));
    }
    let chips: Vec<u64> = ["asic0:sim", "asic1:sim"]
        .iter()
        .map(|n| {
            devices.iter().find(|d| d["name"] == *n).expect("rig")["chips"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(chips, vec![4, 2]);

    // The emulated dies heat towards 70 °C at full clock; held to 60 °C, the governor
    // clocks both chains down (BM1366 defaults to 485 MHz, BM1397 to 425 MHz).
    let throttled = wait_for(Duration::from_secs(60), || async {
        let stats = node.get("/api/stats").await?;
        let devices = stats.pointer("/miner/devices")?.as_array()?.clone();
        let held = |name: &str, default_mhz: f64| {
            devices.iter().find(|d| d["name"] == name).is_some_and(|d| {
                d["status"] == "throttled"
                    && d["frequency_mhz"].as_f64().unwrap_or(f64::MAX) < 0.95 * default_mhz
                    && d["temperature"]
                        .as_f64()
                        .is_some_and(|t| t > 50.0 && t < 66.0)
            })
        };
        (held("asic0:sim", 485.0) && held("asic1:sim", 425.0)).then_some(devices)
    })
    .await;
    assert!(
        throttled.is_some(),
        "the chains were not held to their limit\n{}\n{}",
        node.get("/api/stats")
            .await
            .map(|s| s["miner"]["devices"].to_string())
            .unwrap_or_default(),
        node.log_tail(40)
    );

    // The network miner's report arrives through the fleet monitor.
    let network = wait_for(Duration::from_secs(30), || async {
        let stats = node.get("/api/stats").await?;
        let devices = stats.pointer("/miner/devices")?.as_array()?.clone();
        devices
            .into_iter()
            .find(|d| d["kind"] == "network" && d["hashrate"].as_f64() > Some(0.0))
    })
    .await
    .unwrap_or_else(|| panic!("no network miner report\n{}", node.log_tail(40)));
    assert_eq!(network["name"], cgminer.to_string());
    assert_eq!(network["hashrate"].as_f64(), Some(111_250_250.25e6));
    assert_eq!(network["accepted"], 5760);
    assert_eq!(network["status"], "ok");
    assert_eq!(network["temperature"].as_f64(), Some(78.5));
    assert_eq!(network["fans"], serde_json::json!([4530, 4500]));

    // Both reach the Prometheus metrics.
    let url = node.metrics_url.clone().expect("metrics enabled");
    let lines = [
        format!("otedama_device_temperature_celsius{{device=\"{cgminer}\",kind=\"network\"}} 78.5"),
        format!("otedama_device_fan_rpm{{device=\"{cgminer}\",kind=\"network\",fan=\"0\"}} 4530.0"),
        "otedama_device_up{device=\"asic0:sim\",kind=\"asic\"} 1.0".to_owned(),
        "otedama_device_temperature_celsius{device=\"asic1:sim\",kind=\"asic\"} ".to_owned(),
    ];
    // The last scrape, for the failure message.
    let text = std::cell::RefCell::new(String::new());
    let scraped = wait_for(Duration::from_secs(30), || async {
        let body = reqwest::get(&url).await.ok()?.text().await.ok()?;
        let all = lines.iter().all(|l| body.contains(l));
        text.replace(body);
        all.then_some(())
    })
    .await;
    let text = text.into_inner();
    for line in &lines {
        assert!(
            scraped.is_some() || text.contains(line),
            "missing {line:?} in\n{text}"
        );
    }

    // The shares are in the sharechain, paying the miner's address.
    let grown = wait_for(Duration::from_secs(60), || async {
        let (height, _) = node.tip().await?;
        (height >= 6).then_some(height)
    })
    .await;
    assert!(
        grown.is_some(),
        "sharechain height {:?}",
        node.tip().await.map(|t| t.0)
    );
    let stats = node.get("/api/stats").await.expect("stats");
    assert_eq!(
        stats.pointer("/stratum/rejected_other"),
        Some(&Value::from(0))
    );
}
