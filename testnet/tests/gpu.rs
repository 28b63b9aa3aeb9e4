//! An OpenCL device mines real shares through the node's Stratum server.
//!
//! PoCL's CPU device (installed by CI) stands in for a GPU: the node runs as a process
//! with `mining.enable_gpu` and the device listed in `mining.gpu.devices` (OpenCL CPU
//! devices are never picked by themselves). It sits on no PCI card, so the node finds no
//! temperature sensor and mines without a limit. Fails without an OpenCL device unless
//! `OTEDAMA_SKIP_OPENCL_TESTS=1` is set.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{NodeOptions, TestNode, address, wait_for};
use otedama_testnet::skip;
use otedama_testnet::standin::ParentStandIn;
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opencl_device_mines_through_the_nodes_stratum_server() {
    let Some(devices) = skip::or_skip(
        skip::OPENCL,
        "an_opencl_device_mines_through_the_nodes_stratum_server",
        otedama_miner::opencl::list_devices()
            .map_err(|e| format!("no OpenCL device ({e})"))
            .and_then(|d| {
                if d.is_empty() {
                    Err("no OpenCL device".to_owned())
                } else {
                    Ok(d)
                }
            }),
        "install an OpenCL driver, e.g. `sudo apt-get install ocl-icd-libopencl1 pocl-opencl-icd`",
    ) else {
        return;
    };
    let device = devices
        .iter()
        .find(|d| d.kind == "cpu")
        .unwrap_or(&devices[0]);
    let index = device.index;

    let spec = ChainSpec::by_name("btc-regtest").expect("built-in spec");
    let parent = ParentStandIn::start(Duration::from_secs(300))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let payout = address(spec, 0);
    let mining = format!(
        "mining:\n  enable_cpu: false\n  enable_gpu: true\n  algorithm: sha256d\n  \
         payout_address: {payout}\n  gpu:\n    backend: opencl\n    devices: [{index}]\n    \
         intensity: 16\n"
    );
    let node = TestNode::spawn(
        root.path(),
        NodeOptions {
            mining: Some(mining),
            ..NodeOptions::numbered(0, spec, parent.url(), Vec::new(), false, 0)
        },
    )
    .expect("node starts");

    let name = format!("opencl:{index}");
    let rig = wait_for(Duration::from_secs(120), || async {
        let stats = node.get("/api/stats").await?;
        let devices = stats.pointer("/miner/devices")?.as_array()?.clone();
        devices
            .into_iter()
            .find(|d| d["name"] == name.as_str() && d["accepted"].as_u64() >= Some(3))
    })
    .await
    .unwrap_or_else(|| panic!("no accepted OpenCL shares\n{}", node.log_tail(40)));
    assert_eq!(rig["kind"], "gpu", "{rig}");
    assert_eq!(rig["rejected"], 0, "{rig}");
    assert_eq!(rig["hardware_errors"], 0, "{rig}");
    assert_eq!(rig["status"], "ok", "{rig}");
    assert!(rig["temperature"].is_null(), "{rig}");
    let log = std::fs::read_to_string(node.dir.join("node.log")).expect("node log");
    assert!(
        log.contains("no temperature sensor found"),
        "{}",
        node.log_tail(40)
    );

    // The shares are the rig's worker's, paying the miner's address. The worker's
    // statistics follow the node's events, so they are waited for, not read once.
    let worker_name = format!("{payout}.opencl{index}");
    let worker = wait_for(Duration::from_secs(60), || async {
        let workers = node.get("/api/workers").await?;
        workers
            .as_array()?
            .iter()
            .find(|w| w["name"] == worker_name.as_str() && w["accepted"].as_u64() >= Some(3))
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("worker {worker_name} never had 3 accepted shares"));
    assert_eq!(worker["address"], payout.as_str());
    let height = wait_for(Duration::from_secs(120), || async {
        node.tip().await.map(|(h, _)| h).filter(|h| *h >= 3)
    })
    .await;
    assert!(
        height.is_some(),
        "the sharechain did not grow\n{}",
        node.log_tail(40)
    );
    let stats = node.get("/api/stats").await.expect("stats");
    assert_eq!(
        stats.pointer("/stratum/rejected_other"),
        Some(&Value::from(0))
    );
}
