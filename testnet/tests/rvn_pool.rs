//! A KawPow sharechain end to end: `otedama-node serve` on `rvn-regtest` against the
//! Ravencoin stand-in (which verifies KawPow, the merkle root and the coinbase for
//! real). The built-in miner mines through the node's own Stratum in the KawPow
//! dialect; every share meets the regtest parent target, so shares become blocks that
//! the stand-in takes, each paying the PPLNS window: here, the one miner.

use otedama_sharechain::{ChainSpec, parse_address};
use otedama_testnet::cluster::{NodeOptions, TestNode, address, logs, wait_for};
use otedama_testnet::ravend::RavendStandIn;
use std::time::Duration;

/// Blocks the stand-in must take.
const BLOCKS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rvn_regtest_blocks_are_mined_through_the_kawpow_dialect() {
    let spec = ChainSpec::by_name("rvn-regtest").expect("spec");
    let ravend = RavendStandIn::start_easy().await.expect("stand-in");
    let root = tempfile::tempdir().expect("tempdir");
    let node = TestNode::spawn(
        root.path(),
        NodeOptions::numbered(1, spec, ravend.url(), Vec::new(), true, 0),
    )
    .expect("node starts");
    let taken = wait_for(Duration::from_secs(240), || async {
        (ravend.blocks().len() >= BLOCKS).then_some(())
    })
    .await;
    assert!(
        taken.is_some(),
        "the stand-in took {} blocks, refused {:?}\n{}",
        ravend.blocks().len(),
        ravend.rejections(),
        logs(&[&node])
    );
    let payout = address(spec, 1);
    let script = hex::encode(parse_address(&payout, spec).expect("address").as_bytes());
    for block in ravend.blocks() {
        assert_eq!(
            block.coinbase_outputs.keys().collect::<Vec<_>>(),
            vec![&script],
            "block {} pays the one miner",
            block.height
        );
        assert_eq!(
            block.coinbase_outputs.values().sum::<u64>(),
            otedama_testnet::ravend::block_subsidy(block.height),
            "the whole reward"
        );
    }
    assert!(
        ravend
            .rejections()
            .iter()
            .all(|r| r != "invalid-mix-hash" && r != "high-hash"),
        "{:?}",
        ravend.rejections()
    );
    let status = node.get("/api/status").await.expect("status");
    assert_eq!(status["chain"], "rvn-regtest");
    assert_eq!(status["coin"]["ticker"], "RVN");
    assert!(
        status["sharechain"]["height"].as_u64() >= Some(BLOCKS as u64 - 1),
        "{status}"
    );
}

/// Three nodes on one stand-in, each mining KawPow to its own address: blocks pay
/// several nodes' miners (shares crossed the mesh), and once mining stops the nodes
/// agree on the tip and build the same coinbase byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "not yet stable on 2 cores: converged nodes were once seen building different coinbases; run with --ignored"]
async fn a_kawpow_mesh_converges_with_identical_coinbases() {
    use otedama_testnet::cluster::{agreed_coinbase, converged, fully_connected, spawn_full_mesh};
    let spec = ChainSpec::by_name("rvn-regtest").expect("spec");
    let ravend = RavendStandIn::start_easy().await.expect("stand-in");
    let root = tempfile::tempdir().expect("tempdir");
    let url = ravend.url();
    let nodes = spawn_full_mesh(root.path(), 3, |i, bootstrap| {
        NodeOptions::numbered(i, spec, url.clone(), bootstrap, true, 0)
    })
    .expect("nodes start");
    let all: Vec<&TestNode> = nodes.iter().collect();
    assert!(
        fully_connected(&all, Duration::from_secs(60)).await,
        "no full mesh\n{}",
        logs(&all)
    );
    let shared = wait_for(Duration::from_secs(300), || async {
        (ravend
            .blocks()
            .iter()
            .filter(|b| b.coinbase_outputs.len() >= 2)
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    assert!(
        shared.is_some(),
        "no two blocks paying several miners: {} blocks\n{}",
        ravend.blocks().len(),
        logs(&all)
    );
    for n in &all {
        n.post("/api/mining/stop").await;
    }
    assert!(
        converged(&all, Duration::from_secs(60)).await.is_some(),
        "no convergence\n{}",
        logs(&all)
    );
    let (coinbase, payees) = agreed_coinbase(&all, &address(spec, 0), Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the nodes build different coinbases\n{}", logs(&all)));
    assert!(!coinbase.is_empty());
    assert!(payees >= 2, "the window pays several miners: {payees}");
}
