//! End to end on real litecoind regtest with a mesh: three node processes, each with its
//! own capped Scrypt miner and payout address, share one litecoind. Every share meets
//! the regtest parent target, so every share is a block that pays the PPLNS window. The
//! nodes mine until litecoind's chain holds blocks found by several nodes, several of
//! which pay several nodes' miners (which needs shares passed over the mesh), and every
//! such block pays exactly what the sharechain predicts.

use otedama_sharechain::{ChainSpec, PayoutScript, Store};
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, converged, fully_connected, logs, spawn_full_mesh, wait_for,
};
use otedama_testnet::{LitecoinRegtest, predicted_split};
use serde_json::json;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

const SPEC: &str = "ltc-regtest";
/// Sharechain blocks litecoind must hold on its best chain.
const BLOCKS: usize = 8;
/// Of those, blocks whose coinbase pays more than one miner.
const PAYING_SEVERAL: usize = 4;
/// Nodes that found some of those blocks.
const FINDERS: usize = 2;
/// Mining rounds (mine until the tally holds, stop, converge, count again) at most.
const ROUNDS: u32 = 3;

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

/// What litecoind holds of node 0's main sharechain, by the nodes' APIs.
#[derive(Debug, Default)]
struct Tally {
    /// Main-chain shares that are blocks on litecoind's best chain.
    blocks: usize,
    /// Those whose coinbase pays more than one address.
    paying_several: usize,
    /// The nodes that found them.
    finders: BTreeSet<usize>,
    /// Each node's count of peers' shares accepted as they were announced.
    from_peers: Vec<u64>,
}

impl Tally {
    fn holds(&self) -> bool {
        self.blocks >= BLOCKS
            && self.paying_several >= PAYING_SEVERAL
            && self.finders.len() >= FINDERS
            && self.from_peers.iter().all(|&n| n > 0)
    }
}

/// The hashes of `node`'s main-chain shares (`None` while it does not answer).
async fn main_chain(node: &TestNode) -> Option<BTreeSet<String>> {
    let mut hashes = BTreeSet::new();
    for page in 1..=100u32 {
        let p = node
            .get(&format!("/api/shares?page={page}&per_page=100"))
            .await?;
        let shares = p.get("shares")?.as_array()?;
        for s in shares {
            hashes.insert(s.get("hash")?.as_str()?.to_owned());
        }
        if shares.is_empty() || hashes.len() as u64 >= p.get("total")?.as_u64()? {
            return Some(hashes);
        }
    }
    Some(hashes)
}

/// Counts, from the nodes' found blocks, node 0's main chain and litecoind's answers.
async fn tally(nodes: &[&TestNode], daemon: &LitecoinRegtest) -> Option<Tally> {
    let main = main_chain(nodes[0]).await?;
    let mut t = Tally::default();
    for (i, n) in nodes.iter().enumerate() {
        let stats = n.get("/api/stats").await?;
        t.from_peers
            .push(stats.pointer("/shares/from_peers")?.as_u64()?);
        let payouts = n.get("/api/payouts").await?;
        for b in payouts.get("blocks")?.as_array()? {
            if !main.contains(b.get("share")?.as_str()?) {
                continue;
            }
            let hash = b.get("hash")?.as_str()?;
            let Ok(block) = daemon.rpc.call("getblock", json!([hash, 2])) else {
                continue;
            };
            if block["confirmations"].as_i64().unwrap_or(-1) < 1 {
                continue;
            }
            t.blocks += 1;
            t.finders.insert(i);
            let paid = otedama_testnet::coinbase_outputs(&block)?;
            t.paying_several += usize::from(paid.len() >= 2);
        }
    }
    Some(t)
}

#[test]
fn a_mesh_on_litecoind_finds_blocks_that_pay_its_miners_by_pplns() {
    let Some(daemon) = otedama_testnet::skip::litecoind_or_skip(
        "a_mesh_on_litecoind_finds_blocks_that_pay_its_miners_by_pplns",
        &["-vbparams=mweb:-2:0"],
    ) else {
        return;
    };
    let spec = ChainSpec::by_name(SPEC).expect("spec");
    let root = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut nodes = spawn_full_mesh(root.path(), 3, |i, bootstrap| NodeOptions {
        parent_cookie: Some(daemon.cookie_path().to_path_buf()),
        // About 256 Scrypt hashes per share: a block every second or two in all.
        ..NodeOptions::numbered(i, spec, daemon.rpc_url(), bootstrap, true, 60)
    })
    .expect("nodes start");

    let live = runtime.block_on(async {
        let all: Vec<&TestNode> = nodes.iter().collect();
        assert!(
            fully_connected(&all, Duration::from_secs(60)).await,
            "no full mesh\n{}",
            logs(&all)
        );
        // Mine until litecoind holds enough of the mesh's blocks, then stop and let the
        // nodes agree; shares near the tip may lose to a sibling then, so count again on
        // the converged chain and mine on if that undid the tally.
        let last = RefCell::new(None);
        for round in 0..ROUNDS {
            if round > 0 {
                for n in &all {
                    n.post("/api/mining/start").await;
                }
            }
            let found = wait_for(Duration::from_secs(300), || async {
                let t = tally(&all, &daemon).await?;
                let holds = t.holds();
                last.replace(Some(t));
                holds.then_some(())
            })
            .await;
            assert!(
                found.is_some(),
                "litecoind never held enough of the mesh's blocks: {:?}\n{}",
                last.borrow(),
                logs(&all)
            );
            for n in &all {
                n.post("/api/mining/stop").await;
            }
            let tip = converged(&all, Duration::from_secs(30)).await;
            assert!(tip.is_some(), "no convergence\n{}", logs(&all));
            let settled = wait_for(Duration::from_secs(10), || tally(&all, &daemon))
                .await
                .expect("the nodes answer");
            eprintln!("round {round}: {settled:?}");
            if settled.holds() {
                return settled;
            }
            last.replace(Some(settled));
        }
        panic!(
            "the tally never held on a converged chain: {:?}\n{}",
            last.borrow(),
            logs(&all)
        );
    });
    for (i, n) in live.from_peers.iter().enumerate() {
        assert!(*n > 0, "node {i} accepted no share announced by a peer");
    }
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
        let predicted = predicted_split(&chain, &share).expect("window");
        let paid = otedama_testnet::coinbase_outputs(&block).expect("a coinbase");
        assert_eq!(paid, predicted, "block {block_hash} (share {hash})");
        assert!(paid.keys().all(|s| scripts.contains(s)), "{paid:?}");
        finders.insert(hex::encode(info.payout_script.as_bytes()));
        paying_several += usize::from(paid.len() >= 2);
        checked += 1;
    }
    eprintln!(
        "{checked} blocks checked, {paying_several} pay several miners, found by {}",
        finders.len()
    );
    // The store holds what the API showed (the API counts found blocks, the walk every
    // main-chain share), so at least as much.
    assert!(
        checked >= live.blocks.max(BLOCKS),
        "only {checked} sharechain blocks on litecoind's chain ({live:?})"
    );
    assert!(finders.len() >= FINDERS, "blocks found by {finders:?}");
    assert!(
        paying_several >= live.paying_several.max(PAYING_SEVERAL),
        "{paying_several} blocks pay several miners ({live:?})"
    );
}
