//! The API of a node mining on a real litecoind regtest: the blocks `/api/payouts` lists
//! paid exactly what litecoind's copy of each coinbase says, the expected split sums to
//! the template's reward, workers and shares fill, and `/readyz` turns ready once a
//! template arrived. Needs `litecoind` (skipped with OTEDAMA_SKIP_DAEMON_TESTS=1).

use otedama_miner::{Miner, MinerConfig};
use otedama_node::api::{ServiceSet, Services};
use otedama_node::devnet::devnet_payouts;
use otedama_node::{Node, NodeEvent};
use otedama_rpc::{BlockStatus, Payouts, SharePage, Status, Worker};
use otedama_sharechain::{ChainSpec, PowAlgorithm};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::timeout;

// Shared with the testnet crate's tests (which depend on this crate, so it cannot be a
// dev-dependency here).
#[allow(dead_code)]
#[path = "../../testnet/src/skip.rs"]
mod skip;

#[path = "support/regtest_node.rs"]
mod regtest_node;

async fn get<T: serde::de::DeserializeOwned>(url: String) -> T {
    reqwest::get(&url)
        .await
        .expect("request")
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[test]
fn api_payouts_match_the_blocks_litecoind_accepted() {
    let Some(daemon) = skip::litecoind_or_skip(
        "api_payouts_match_the_blocks_litecoind_accepted",
        &["-vbparams=mweb:-2:0"],
    ) else {
        return;
    };
    let spec = ChainSpec::by_name("ltc-regtest").expect("spec");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = regtest_node::config(&daemon, &dir.path().join("node"));
    let any = "127.0.0.1:0".parse().expect("addr");
    let set = ServiceSet {
        api: Some(any),
        metrics: None,
        health: Some(any),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (block_hash, payouts) = rt.block_on(async {
        let node = Node::start(&config, None).await.expect("node starts");
        let services = Services::start(&node, &config, &set)
            .await
            .expect("services start");
        let api = format!("http://{}", services.api_addr().expect("api"));
        let health = format!("http://{}", services.health_addr().expect("health"));
        let mut events = node.events();

        // Ready once a template arrived.
        let ready = timeout(Duration::from_secs(30), async {
            loop {
                let r = reqwest::get(format!("{health}/readyz"))
                    .await
                    .expect("readyz");
                if r.status() == 200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ready.is_ok(), "never ready");

        let mut miners = Vec::new();
        for (addr, _) in devnet_payouts(spec) {
            miners.push(
                Miner::start(MinerConfig {
                    pools: vec![format!("stratum+tcp://{}", node.stratum_addr())],
                    user: format!("{addr}.api"),
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
        // An accepted block paying both miners.
        let wanted: Vec<String> = devnet_payouts(spec).into_iter().map(|(a, _)| a).collect();
        let hash = timeout(Duration::from_secs(180), async {
            loop {
                if let Ok(NodeEvent::BlockFound {
                    hash,
                    accepted: true,
                    payouts,
                    ..
                }) = events.recv().await
                    && payouts.len() == 2
                {
                    return hash.to_string();
                }
            }
        })
        .await
        .expect("a block paying both miners within 180 s");
        for m in miners {
            m.stop().await;
        }
        // The tracker records the block right after the event.
        let payouts: Payouts = timeout(Duration::from_secs(10), async {
            loop {
                let p: Payouts = get(format!("{api}/api/payouts")).await;
                if p.blocks.iter().any(|b| b.hash == hash) {
                    return p;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the block is listed");
        let expected_total: u64 = payouts.expected.iter().map(|e| e.amount_sat).sum();
        assert_eq!(
            expected_total, payouts.reward_sat,
            "the expected split pays the whole reward"
        );
        assert!(payouts.expected.len() == 2, "{:?}", payouts.expected);

        let workers: Vec<Worker> = get(format!("{api}/api/workers")).await;
        for a in &wanted {
            let w = workers
                .iter()
                .find(|w| &w.address == a)
                .unwrap_or_else(|| panic!("worker {a} listed: {workers:?}"));
            assert!(w.accepted > 0 && w.last_share_time.is_some());
        }
        let shares: SharePage = get(format!("{api}/api/shares?per_page=5")).await;
        assert!(shares.total > 0 && !shares.shares.is_empty());
        assert!(
            shares
                .shares
                .windows(2)
                .all(|w| w[0].height == w[1].height + 1)
        );
        let status: Status = get(format!("{api}/api/status")).await;
        assert!(status.parent.reachable);
        assert_eq!(status.sharechain.height, Some(shares.shares[0].height));

        services.stop().await;
        node.stop().await;
        let block = payouts
            .blocks
            .into_iter()
            .find(|b| b.hash == hash)
            .expect("listed");
        assert_eq!(block.status, BlockStatus::Accepted);
        let addresses: Vec<String> = block
            .payouts
            .iter()
            .map(|p| p.address.clone().expect("address form"))
            .collect();
        for a in &wanted {
            assert!(addresses.contains(a), "{a} paid: {addresses:?}");
        }
        let paid: BTreeMap<String, u64> = block
            .payouts
            .iter()
            .map(|p| (p.script.clone(), p.amount_sat))
            .collect();
        (hash, paid)
    });

    // What litecoind's coinbase paid.
    let block = daemon
        .rpc
        .call("getblock", json!([block_hash, 2]))
        .expect("litecoind knows the block");
    let outputs = block["tx"][0]["vout"].as_array().expect("coinbase outputs");
    let onchain: BTreeMap<String, u64> = outputs
        .iter()
        .filter_map(|o| {
            let sat = (o["value"].as_f64()? * 1e8).round() as u64;
            let script = o["scriptPubKey"]["hex"].as_str()?;
            (sat > 0).then(|| (script.to_owned(), sat))
        })
        .collect();
    assert_eq!(payouts, onchain, "the API shows what the coinbase paid");
}
