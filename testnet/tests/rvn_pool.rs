//! A KawPow sharechain end to end: `otedama-node serve` on `rvn-regtest` against the
//! Ravencoin stand-in (which verifies KawPow, the merkle root and the coinbase for
//! real). The built-in miner mines through the node's own Stratum in the KawPow
//! dialect; every share meets the regtest parent target, so shares become blocks that
//! the stand-in takes, each paying the PPLNS window: here, the one miner.

use otedama_sharechain::{ChainSpec, ShareChain, ShareHash, Store, parse_address};
use otedama_testnet::cluster::{NodeOptions, TestNode, address, free_port, logs, wait_for};
use otedama_testnet::predicted_split;
use otedama_testnet::ravend::{RavendBlock, RavendStandIn};
use std::collections::BTreeMap;
use std::time::Duration;

/// Blocks the stand-in must take.
const BLOCKS: usize = 3;

/// The Ravencoin stand-in and node `n1` on it, mining to its own address when `mine`;
/// the data dirs live in the returned directory.
async fn stand_in_and_node(mine: bool) -> (RavendStandIn, tempfile::TempDir, TestNode) {
    let spec = ChainSpec::by_name("rvn-regtest").expect("spec");
    let ravend = RavendStandIn::start_easy().await.expect("stand-in");
    let root = tempfile::tempdir().expect("tempdir");
    let node = TestNode::spawn(
        root.path(),
        NodeOptions::numbered(1, spec, ravend.url(), Vec::new(), mine, 0),
    )
    .expect("node starts");
    (ravend, root, node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rvn_regtest_blocks_are_mined_through_the_kawpow_dialect() {
    let spec = ChainSpec::by_name("rvn-regtest").expect("spec");
    let (ravend, _root, node) = stand_in_and_node(true).await;
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
    // The built-in miner reports its session with the node's KawPow Stratum.
    let stats = node.get("/api/stats").await.expect("stats");
    assert_eq!(stats["miner"]["connected"], true, "{stats}");
    assert!(stats["miner"]["accepted"].as_u64() > Some(0), "{stats}");
    // Proven on chain: a block confirmed, its coinbase read back (ravend's
    // `getrawtransaction` takes no block hash) paying whom the node recorded.
    let proven = wait_for(Duration::from_secs(60), || async {
        let payouts = node.get("/api/payouts").await?;
        payouts["blocks"]
            .as_array()?
            .iter()
            .find(|b| {
                b["chain"]["state"] == "confirmed" && !b["chain"]["coinbase_matches"].is_null()
            })
            .cloned()
    })
    .await;
    let Some(proven) = proven else {
        let blocks = node.get("/api/payouts").await.map(|p| p["blocks"].clone());
        panic!("no block proven on chain\n{blocks:?}\n{}", logs(&[&node]));
    };
    assert_eq!(proven["chain"]["coinbase_matches"], true, "{proven}");
}

/// The built-in KawPow miner on remote pools: a node whose `mining.pool_urls` names a
/// dead port first and another node's Stratum second fails over to the second, mines
/// there, and the blocks that node finds pay the miner's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_kawpow_miner_fails_over_to_a_remote_pool() {
    let spec = ChainSpec::by_name("rvn-regtest").expect("spec");
    let (ravend, root, pool) = stand_in_and_node(false).await;
    let stratum = wait_for(Duration::from_secs(60), || async {
        let s = pool.get("/api/status").await?;
        Some(s["stratum"]["address"].as_str()?.to_owned())
    })
    .await
    .expect("the pool node's Stratum address");
    let payout = address(spec, 2);
    let mut options = NodeOptions::numbered(2, spec, ravend.url(), Vec::new(), false, 0);
    options.mining = Some(format!(
        "mining:\n  enable_cpu: true\n  algorithm: kawpow\n  payout_address: {payout}\n  \
         pool_urls: [\"stratum+tcp://127.0.0.1:{dead}\", \"stratum+tcp://{stratum}\"]\n  \
         cpu:\n    threads: 1\n",
        dead = free_port()
    ));
    let miner = TestNode::spawn(root.path(), options).expect("mining node starts");
    let script = hex::encode(parse_address(&payout, spec).expect("address").as_bytes());
    let paid = wait_for(Duration::from_secs(180), || async {
        ravend
            .blocks()
            .iter()
            .any(|b| b.coinbase_outputs.contains_key(&script))
            .then_some(())
    })
    .await;
    assert!(
        paid.is_some(),
        "no block pays the remote miner: {} blocks\n{}",
        ravend.blocks().len(),
        logs(&[&pool, &miner])
    );
    let stats = miner.get("/api/stats").await.expect("stats");
    assert_eq!(stats["miner"]["pool"], stratum, "{stats}");
    assert_eq!(stats["miner"]["connected"], true, "{stats}");
    assert!(stats["miner"]["accepted"].as_u64() > Some(0), "{stats}");
    // The miner's own node found nothing: its miner worked for the other node.
    let own = miner.get("/api/status").await.expect("status");
    assert_eq!(
        own["sharechain"]["height"],
        serde_json::Value::Null,
        "{own}"
    );
}

/// Three nodes on one stand-in, each mining KawPow to its own address: blocks pay
/// several nodes' miners (shares crossed the mesh), and once mining stops the nodes
/// agree on the tip and build the same coinbase byte for byte. Every block of the
/// converged main chain pays exactly the PPLNS split recomputed from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let finder = address(spec, 0);
    let Some((coinbase, payees)) = agreed_coinbase(&all, &finder, Duration::from_secs(30)).await
    else {
        let mut views = String::new();
        for n in &all {
            let p = n.get(&format!("/api/payouts?finder={finder}")).await;
            views.push_str(&format!("{}: {p:?}\n", n.options.name));
        }
        panic!("the nodes build different coinbases\n{views}{}", logs(&all));
    };
    assert!(!coinbase.is_empty());
    assert!(payees >= 2, "the window pays several miners: {payees}");

    // Which share each block came from, as its finder recorded it.
    let mut share_of: BTreeMap<String, ShareHash> = BTreeMap::new();
    for n in &all {
        let p = n.get("/api/payouts").await.expect("payouts");
        for b in p["blocks"].as_array().expect("blocks") {
            let (Some(hash), Some(share)) = (b["hash"].as_str(), b["share"].as_str()) else {
                continue;
            };
            share_of.insert(
                hash.to_owned(),
                ShareHash::from_display_hex(share).expect("share hash"),
            );
        }
    }
    let mut nodes = nodes;
    for n in &mut nodes {
        n.stop();
    }
    // Every block the stand-in holds pays exactly the split its share's window gives,
    // recomputed from a store that holds the share (main chain or not).
    let stores: Vec<(Store, ShareChain)> = nodes
        .iter()
        .map(|n| Store::open(&n.dir.join(spec.name).join("shares"), spec).expect("store"))
        .collect();
    let blocks: Vec<RavendBlock> = ravend
        .blocks()
        .into_iter()
        .filter(|b| !b.found_elsewhere)
        .collect();
    let mut paying_several = 0;
    for block in &blocks {
        let hash = block.hash.to_string();
        let share = share_of
            .get(&hash)
            .unwrap_or_else(|| panic!("no node recorded block {hash}"));
        let (share, chain) = stores
            .iter()
            .find_map(|(store, chain)| Some((store.get(share).ok()??, chain)))
            .unwrap_or_else(|| panic!("no store holds share {share}"));
        let predicted = predicted_split(chain, &share).expect("window");
        assert_eq!(block.coinbase_outputs, predicted, "block {hash}");
        paying_several += usize::from(predicted.len() >= 2);
    }
    assert!(
        paying_several >= 2,
        "{paying_several} blocks pay several miners"
    );
}
