//! End to end on real litecoind regtest with a mesh: three node processes, each with its
//! own capped Scrypt miner and payout address, share one litecoind. Every share meets
//! the regtest parent target, so every share is a block that pays the PPLNS window. The
//! blocks litecoind accepts are found by several nodes, pay several nodes' miners, and
//! pay exactly what the sharechain predicts.

use otedama_sharechain::pplns::{split_reward, window_weights};
use otedama_sharechain::{ChainSpec, PayoutScript, Store, parent_work};
use otedama_testnet::LitecoinRegtest;
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, converged, fully_connected, logs, spawn_full_mesh, wait_for,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SPEC: &str = "ltc-regtest";

fn payout_script(spec: &ChainSpec, i: u32) -> PayoutScript {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&i.to_be_bytes());
    h[19] = 0x42;
    let script = PayoutScript::p2wpkh(h);
    assert_eq!(
        otedama_sharechain::script_to_address(&script, spec).expect("address"),
        address(spec, i)
    );
    script
}

#[test]
fn a_mesh_on_litecoind_finds_blocks_that_pay_its_miners_by_pplns() {
    let daemon = match LitecoinRegtest::start(&["-vbparams=mweb:-2:0"]) {
        Ok(d) => d,
        Err(e) if std::env::var_os("OTEDAMA_SKIP_DAEMON_TESTS").is_some() => {
            eprintln!("skipped (OTEDAMA_SKIP_DAEMON_TESTS): {e}");
            return;
        }
        Err(e) => panic!("{e} (set OTEDAMA_SKIP_DAEMON_TESTS=1 to skip daemon tests)"),
    };
    let spec = ChainSpec::by_name(SPEC).expect("spec");
    let start_height = daemon
        .rpc
        .call("getblockcount", json!([]))
        .expect("count")
        .as_u64()
        .expect("height");
    let root = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut nodes = spawn_full_mesh(root.path(), 3, |i, bootstrap| NodeOptions {
        parent_cookie: Some(daemon.cookie_path().to_path_buf()),
        // About 256 Scrypt hashes per share: a block every second or two in all.
        ..NodeOptions::numbered(i, spec, daemon.rpc_url(), bootstrap, true, 60)
    })
    .expect("nodes start");

    runtime.block_on(async {
        let all: Vec<&TestNode> = nodes.iter().collect();
        assert!(
            fully_connected(&all, Duration::from_secs(60)).await,
            "no full mesh\n{}",
            logs(&all)
        );
        // Blocks accepted by litecoind from at least two of the nodes.
        let found = wait_for(Duration::from_secs(240), || async {
            let mut finders = 0;
            let mut blocks = 0;
            for n in &all {
                let accepted = n.get("/api/stats").await?["blocks"]["accepted"].as_u64()?;
                blocks += accepted;
                finders += u64::from(accepted > 0);
            }
            (finders >= 2 && blocks >= 8).then_some(())
        })
        .await;
        assert!(found.is_some(), "too few blocks\n{}", logs(&all));
        for n in &all {
            n.post("/api/mining/stop").await;
        }
        let tip = converged(&all, Duration::from_secs(30)).await;
        assert!(tip.is_some(), "no convergence\n{}", logs(&all));
    });
    for n in &mut nodes {
        n.stop();
    }

    // Walk node 0's main chain: each share litecoind holds as a block must pay exactly
    // the PPLNS split of the window below it.
    let scripts: BTreeSet<String> = (0..3)
        .map(|i| hex::encode(payout_script(spec, i).as_bytes()))
        .collect();
    let (store, chain) = Store::open(&nodes[0].dir.join(SPEC).join("shares"), spec).expect("store");
    let tip = chain.tip().expect("a tip").clone();
    let mut checked = 0;
    let mut finders = BTreeSet::new();
    let mut paying_several = 0;
    for height in (0..=tip.height).rev() {
        let Some(hash) = chain.main_at(height) else {
            break;
        };
        let share = store.get(&hash).expect("read").expect("share stored");
        let block_hash = share.header.block.block_hash();
        let Ok(block) = daemon
            .rpc
            .call("getblock", json!([block_hash.to_string(), 2]))
        else {
            continue;
        };
        if block["confirmations"].as_i64().unwrap_or(-1) < 1 {
            continue; // a stale block, not on litecoind's best chain
        }
        let info = &share.header.info;
        let weights = window_weights(
            &chain,
            info.prev_share,
            parent_work(share.header.block.bits).expect("bits"),
            spec,
        )
        .expect("window");
        let predicted: BTreeMap<String, u64> =
            split_reward(&weights, info.coinbase_value, &info.payout_script, spec)
                .iter()
                .map(|(s, a)| (hex::encode(s.as_bytes()), a.to_sat()))
                .collect();
        let paid = otedama_testnet::coinbase_outputs(&block).expect("a coinbase");
        assert_eq!(paid, predicted, "block {block_hash} (share {hash})");
        assert!(paid.keys().all(|s| scripts.contains(s)), "{paid:?}");
        finders.insert(hex::encode(info.payout_script.as_bytes()));
        paying_several += u32::from(paid.len() >= 2);
        checked += 1;
    }
    let best = daemon
        .rpc
        .call("getblockcount", json!([]))
        .expect("count")
        .as_u64()
        .expect("height");
    assert!(best >= start_height + 8, "litecoind at {best}");
    assert!(
        checked >= 8,
        "only {checked} sharechain blocks on litecoind's chain"
    );
    assert!(finders.len() >= 2, "blocks found by {finders:?}");
    assert!(
        paying_several >= 4,
        "{paying_several} blocks pay several miners"
    );
}
