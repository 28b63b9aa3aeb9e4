//! Multi-node scenarios: node processes on loopback, mining with capped built-in miners
//! against the deterministic parent stand-in.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, agreed_coinbase, all_reach, assert_late_joiner_agrees,
    converged, logs, wait_for,
};
use otedama_testnet::standin::ParentStandIn;
use std::time::Duration;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// About 256 hashes per share at the easiest target: five miners at 40 H/s make a share
/// every 1-2 s, near the spec's 2 s period.
const RATE: u64 = 40;

fn options(i: u32, parent: &ParentStandIn, bootstrap: Vec<String>, mine: bool) -> NodeOptions {
    NodeOptions::numbered(i, spec(), parent.url(), bootstrap, mine, RATE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_converge_agree_on_the_coinbase_and_a_late_joiner_syncs() {
    let parent = ParentStandIn::start(Duration::from_secs(30))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let first = TestNode::spawn(root.path(), options(0, &parent, Vec::new(), true)).expect("n0");
    let seed = vec![first.p2p_addr.clone()];
    let mut nodes = vec![first];
    for i in 1..5 {
        nodes.push(
            TestNode::spawn(root.path(), options(i, &parent, seed.clone(), true)).expect("node"),
        );
    }

    let all: Vec<&TestNode> = nodes.iter().collect();
    // Every node sees the others and the chain grows to 15 shares everywhere.
    assert!(
        all_reach(&all, 15, Duration::from_secs(120)).await,
        "the chain did not grow on every node\n{}",
        logs(&all)
    );
    // Mining goes on until every node has peers and the window pays several miners
    // (shares that crossed the mesh), however fast the shares came before that.
    let finder = address(spec(), 0);
    let mixed = wait_for(Duration::from_secs(120), || async {
        for n in &nodes {
            if n.peer_ids().await?.is_empty() {
                return None;
            }
        }
        (nodes[0].coinbase_for(&finder).await?.1 >= 2).then_some(())
    })
    .await;
    assert!(
        mixed.is_some(),
        "a node has no peers, or the window pays one miner\n{}",
        logs(&all)
    );

    // Stop the miners; every node must settle on one tip.
    for n in &nodes {
        n.post("/api/mining/stop").await;
    }
    let tip = converged(&all, Duration::from_secs(30)).await;
    let Some((height, _)) = tip else {
        panic!("nodes did not converge\n{}", logs(&all));
    };

    // Byte-identical coinbases for the next block, paying several miners (read again
    // while a new parent block, which comes every 30 s, reaches some nodes first).
    let Some(coinbase) = agreed_coinbase(&all, &finder, Duration::from_secs(30)).await else {
        panic!("the nodes build different coinbases\n{}", logs(&all));
    };
    assert!(
        coinbase.1 >= 2,
        "the window pays only {} miner(s)",
        coinbase.1
    );

    // Shares came over the mesh: each node accepted shares it did not mine.
    for n in &nodes {
        let stats = n.get("/api/workers").await.expect("workers");
        let own: u64 = stats
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|w| w.get("accepted").and_then(serde_json::Value::as_u64))
            .sum();
        assert!(
            own < height + 1,
            "{} mined everything itself",
            n.options.name
        );
    }

    // A late joiner syncs the main chain and the uncles it references, not the orphans
    // that no share has included yet; those are uncle candidates for the next share, so
    // the two would commit to different uncle lists. One node mines alone for more than
    // the uncle depth: every orphan is then included or too deep, and no new one appears.
    let settle = height + u64::from(spec().uncle_depth) + 1;
    // At a fifth of the hashrate the target made for, a share takes about 10 s at first.
    nodes[0]
        .post("/api/mining/start")
        .await
        .expect("mining starts");
    assert!(
        all_reach(&all, settle, Duration::from_secs(150)).await,
        "the chain did not grow to {settle} with one miner\n{}",
        logs(&all)
    );
    nodes[0].post("/api/mining/stop").await;
    let Some((height, hash)) = converged(&all, Duration::from_secs(30)).await else {
        panic!(
            "nodes did not converge after the lone miner\n{}",
            logs(&all)
        );
    };

    // A late joiner, bootstrapping from another node, syncs the whole chain and then
    // builds the same coinbase. The node it dials tells its WebSocket clients.
    let ws_url = format!("{}/api/ws", nodes[2].api.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket");
    let mut late = TestNode::spawn(
        root.path(),
        options(9, &parent, vec![nodes[2].p2p_addr.clone()], false),
    )
    .expect("late node");
    assert_late_joiner_agrees(&late, &nodes[2], &(height, hash), &finder).await;
    let status = late.get("/api/status").await.expect("status");
    assert_eq!(status["sync"]["synced"], true, "{status}");

    let joined = next_event(&mut ws, "peer_joined", &late.peer_id).await;
    assert!(joined.is_some(), "no peer_joined event for the late joiner");
    late.kill();
    let left = next_event(&mut ws, "peer_left", &late.peer_id).await;
    assert!(left.is_some(), "no peer_left event for the late joiner");
}

/// Reads WebSocket events until one of type `kind` about peer `id` (for 30 s at most).
async fn next_event<S>(ws: &mut S, kind: &str, id: &str) -> Option<serde_json::Value>
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        let Ok(text) = msg.to_text() else { continue };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        if event["type"] == kind && event["data"]["id"] == id {
            return Some(event);
        }
    }
}
