//! SIGKILL and restart: a node killed without warning comes back from its store, fetches
//! only the shares it missed, and goes on mining on the common chain.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, agreed_coinbase, all_reach, converged, fully_connected, logs,
    spawn_full_mesh, wait_for,
};
use otedama_testnet::standin::ParentStandIn;
use std::time::Duration;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

async fn counter(node: &TestNode, path: &str) -> Option<u64> {
    let stats = node.get("/api/stats").await?;
    stats.pointer(path)?.as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_resumes_from_its_store_resyncs_and_keeps_mining() {
    let parent = ParentStandIn::start(Duration::from_secs(300))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let mut nodes = spawn_full_mesh(root.path(), 3, |i, bootstrap| {
        NodeOptions::numbered(i, spec(), parent.url(), bootstrap, true, 60)
    })
    .expect("nodes start");
    {
        let all: Vec<&TestNode> = nodes.iter().collect();
        assert!(
            fully_connected(&all, Duration::from_secs(60)).await,
            "no full mesh\n{}",
            logs(&all)
        );
        assert!(
            all_reach(&all, 16, Duration::from_secs(120)).await,
            "no shares\n{}",
            logs(&all)
        );
    }

    let (before, _) = nodes[2].tip().await.expect("tip");
    let held = nodes[2].get("/api/chain").await.expect("chain")["shares"]
        .as_u64()
        .expect("shares held");
    nodes[2].kill();
    // The others go on without it.
    let others_moved = wait_for(Duration::from_secs(90), || async {
        (nodes[0].tip().await?.0 >= before + 6).then_some(())
    })
    .await;
    assert!(
        others_moved.is_some(),
        "the others stopped\n{}",
        nodes[0].log_tail(20)
    );

    nodes[2].start().expect("restart");
    // Back from its store: its first answer already has (nearly) the height it had; a
    // SIGKILL may lose the last writes that were not yet on disk.
    let resumed = wait_for(Duration::from_secs(30), || async { nodes[2].tip().await })
        .await
        .expect("the restarted node answers");
    assert!(
        resumed.0 + 2 >= before,
        "restarted at height {} after being killed at {before}",
        resumed.0
    );

    // It catches up with the others and mines again: its miner gets shares accepted.
    let mining = wait_for(Duration::from_secs(90), || async {
        (counter(&nodes[2], "/shares/accepted").await? >= 2).then_some(())
    })
    .await;
    assert!(
        mining.is_some(),
        "the restarted node does not mine\n{}",
        nodes[2].log_tail(30)
    );
    for n in &nodes {
        n.post("/api/mining/stop").await;
    }
    let all: Vec<&TestNode> = nodes.iter().collect();
    let tip = converged(&all, Duration::from_secs(30)).await;
    let Some((height, _)) = tip else {
        panic!("no convergence after the restart\n{}", logs(&all));
    };
    assert!(height > before + 6);
    // Every share it holds now came back from its store, was fetched once (synced or
    // announced) or was mined by it since the restart: what is left for the store is
    // what it held when it was killed, less the last writes a SIGKILL may lose. A node
    // that lost its store and synced the whole chain again would be left with nothing.
    let fetched = counter(&nodes[2], "/shares/synced").await.expect("stats")
        + counter(&nodes[2], "/shares/from_peers")
            .await
            .expect("stats");
    let mined = counter(&nodes[2], "/shares/accepted").await.expect("stats");
    let now_held = nodes[2].get("/api/chain").await.expect("chain")["shares"]
        .as_u64()
        .expect("shares held");
    let from_store = now_held.checked_sub(fetched + mined);
    eprintln!(
        "held {held} when killed; holds {now_held} now: {fetched} fetched, {mined} mined, {from_store:?} from the store"
    );
    assert!(
        from_store.is_some_and(|s| s <= held && s + 3 >= held),
        "it holds {now_held} shares: {fetched} fetched and {mined} mined since the restart, \
         so {from_store:?} from its store; it held {held} at height {before}, the chain is now at {height}"
    );
    let finder = address(spec(), 0);
    let agreed = agreed_coinbase(&[&nodes[0], &nodes[2]], &finder, Duration::from_secs(30)).await;
    assert!(
        agreed.is_some(),
        "the restarted node builds another coinbase\n{}",
        logs(&all)
    );
}
