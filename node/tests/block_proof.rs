//! Found blocks are proven by the parent chain: a block the node found on a real
//! litecoind regtest turns `confirmed` in `/api/payouts` with the daemon's confirmation
//! count, which grows as the daemon mines on top, with a coinbase that matches the
//! recorded payouts; once the daemon invalidates it and mines a longer competing chain,
//! the block turns `orphaned`, and back to `confirmed` when its branch wins again. Needs `litecoind` (skipped with
//! OTEDAMA_SKIP_DAEMON_TESTS=1).

use otedama_miner::{Miner, MinerConfig};
use otedama_node::api::{ServiceSet, Services};
use otedama_node::devnet::{LitecoinRegtest, devnet_payouts};
use otedama_node::{Node, NodeEvent};
use otedama_rpc::{FoundBlock, OnChainState, Payouts};
use otedama_sharechain::{ChainSpec, PowAlgorithm};
use serde_json::json;
use std::time::Duration;
use tokio::time::timeout;

#[allow(dead_code)]
#[path = "../../testnet/src/skip.rs"]
mod skip;

#[path = "support/regtest_node.rs"]
mod regtest_node;

/// How long the node gets to notice a change on the daemon's chain.
const NOTICE: Duration = Duration::from_secs(60);

async fn block(api: &str, hash: &str) -> Option<FoundBlock> {
    let p: Payouts = reqwest::get(format!("{api}/api/payouts"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    p.blocks.into_iter().find(|b| b.hash == hash)
}

/// Polls `/api/payouts` until the block satisfies `want`; returns it.
async fn wait_for(
    api: &str,
    hash: &str,
    what: &str,
    want: impl Fn(&FoundBlock) -> bool,
) -> FoundBlock {
    let mut last = None;
    let found = timeout(NOTICE, async {
        loop {
            if let Some(b) = block(api, hash).await {
                if want(&b) {
                    return b;
                }
                last = Some(b);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{what} within {NOTICE:?}; last seen: {last:?}"))
}

fn confirmations(daemon: &LitecoinRegtest, hash: &str) -> i64 {
    daemon
        .rpc
        .call("getblockheader", json!([hash, true]))
        .expect("getblockheader")["confirmations"]
        .as_i64()
        .expect("confirmations")
}

fn generate(daemon: &LitecoinRegtest, n: u64) {
    daemon
        .rpc
        .call("generatetodescriptor", json!([n, "raw(51)"]))
        .expect("generate");
}

#[test]
fn a_found_block_is_confirmed_orphaned_by_a_reorg_and_confirmed_again() {
    let Some(daemon) = skip::litecoind_or_skip(
        "a_found_block_is_confirmed_orphaned_by_a_reorg_and_confirmed_again",
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
        health: None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let node = Node::start(&config, None).await.expect("node starts");
        let services = Services::start(&node, &config, &set)
            .await
            .expect("services start");
        let api = format!("http://{}", services.api_addr().expect("api"));
        let mut events = node.events();
        let (address, _) = devnet_payouts(spec)
            .into_iter()
            .next()
            .expect("a devnet address");
        let miner = Miner::start(MinerConfig {
            pools: vec![format!("stratum+tcp://{}", node.stratum_addr())],
            user: format!("{address}.proof"),
            password: "x".into(),
            threads: 1,
            algorithm: PowAlgorithm::Scrypt,
            max_hashrate: None,
            priority: otedama_miner::ThreadPriority::default(),
            affinity: otedama_miner::CpuAffinity::default(),
        })
        .expect("miner starts");
        let hash = timeout(Duration::from_secs(180), async {
            loop {
                if let Ok(NodeEvent::BlockFound {
                    hash,
                    accepted: true,
                    ..
                }) = events.recv().await
                {
                    return hash.to_string();
                }
            }
        })
        .await
        .expect("an accepted block within 180 s");
        miner.stop().await;

        // Confirmed with the daemon's count, and the coinbase on chain is what the
        // node recorded.
        let b = wait_for(&api, &hash, "confirmed", |b| {
            b.chain.state == OnChainState::Confirmed && b.chain.coinbase_matches.is_some()
        })
        .await;
        assert_eq!(b.chain.coinbase_matches, Some(true), "{b:?}");
        assert!(b.chain.coinbase_onchain.is_empty());
        assert!(b.chain.confirmations >= 1 && !b.chain.mature);
        assert!(b.chain.checked_at.is_some());

        // The count grows as the daemon mines on top.
        let before = b.chain.confirmations;
        generate(&daemon, 3);
        let want = confirmations(&daemon, &hash);
        assert!(want >= i64::from(before) + 3, "{want} after {before}");
        let b = wait_for(&api, &hash, "three more confirmations", |b| {
            i64::from(b.chain.confirmations) >= want
        })
        .await;
        assert_eq!(b.chain.state, OnChainState::Confirmed);
        eprintln!(
            "confirmed: {} then {} confirmations",
            before, b.chain.confirmations
        );

        // A longer competing chain orphans it.
        let depth = confirmations(&daemon, &hash);
        daemon
            .rpc
            .call("invalidateblock", json!([hash]))
            .expect("invalidateblock");
        generate(&daemon, u64::try_from(depth).expect("positive") + 1);
        assert_eq!(confirmations(&daemon, &hash), -1, "off the best chain");
        let b = wait_for(&api, &hash, "orphaned", |b| {
            b.chain.state == OnChainState::Orphaned
        })
        .await;
        assert_eq!(b.chain.confirmations, 0);
        assert!(!b.chain.mature);

        // Back on the best chain (its branch reconsidered, the competing one
        // invalidated), it is confirmed again.
        let height = b.height;
        let competing = daemon
            .rpc
            .call("getblockhash", json!([height]))
            .expect("getblockhash");
        daemon
            .rpc
            .call("reconsiderblock", json!([hash]))
            .expect("reconsiderblock");
        daemon
            .rpc
            .call("invalidateblock", json!([competing]))
            .expect("invalidateblock");
        let want = confirmations(&daemon, &hash);
        assert_eq!(want, depth, "the old branch is the best chain again");
        let b = wait_for(&api, &hash, "confirmed again", |b| {
            b.chain.state == OnChainState::Confirmed && i64::from(b.chain.confirmations) == want
        })
        .await;
        assert_eq!(b.chain.coinbase_matches, Some(true));
        // Orphaned for good: a longer chain on the competing side.
        daemon
            .rpc
            .call("reconsiderblock", json!([competing]))
            .expect("reconsiderblock");
        daemon
            .rpc
            .call("invalidateblock", json!([hash]))
            .expect("invalidateblock");
        wait_for(&api, &hash, "orphaned again", |b| {
            b.chain.state == OnChainState::Orphaned
        })
        .await;

        services.stop().await;
        node.stop().await;

        // The verdict is kept with the block across a restart.
        let log = std::fs::read_to_string(config.app.data_dir.join(spec.name).join("blocks.jsonl"))
            .expect("block log");
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains(&hash))
            .expect("the block is logged");
        assert!(last.contains(r#""state":"orphaned""#), "{last}");
    });
}
