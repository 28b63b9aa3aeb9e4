//! A dishonest peer: it copies the honest chain and announces shares that build on the
//! honest tip but pay only itself, or miss their proof of work. Honest nodes reject both,
//! never relay or keep them, take score from the peer until it is banned, and go on
//! agreeing with each other.

use otedama_sharechain::{ChainSpec, PayoutScript, Share};
use otedama_testnet::adversary::{Adversary, Forgery, parent_template};
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, agreed_coinbase, assert_late_joiner_agrees, converged,
    fully_connected, logs, spawn_full_mesh, wait_for,
};
use otedama_testnet::standin::ParentStandIn;
use std::time::Duration;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// Announces `share` until `node` scores `peer` at or below `score`, or has dropped it
/// (`None`). The announcement is repeated because the adversary's first ones may leave
/// before gossipsub knows that `node` subscribes to the topic; once one was sent, the
/// others are duplicates that neither side passes on again.
async fn announced_until_scored(
    evil: &Adversary,
    share: &Share,
    node: &TestNode,
    peer: &str,
    score: i64,
) -> Option<Option<i64>> {
    wait_for(Duration::from_secs(20), || async {
        evil.announce(share);
        let ids = node.peer_ids().await?;
        if !ids.iter().any(|p| p == peer) {
            return Some(None);
        }
        let s = node.peer_score(peer).await?;
        (s <= score).then_some(Some(s))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_shares_are_rejected_and_their_sender_banned() {
    let parent = ParentStandIn::start(Duration::from_secs(600))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = spawn_full_mesh(root.path(), 3, |i, bootstrap| {
        NodeOptions::numbered(i, spec(), parent.url(), bootstrap, true, 40)
    })
    .expect("nodes start");
    let honest: Vec<&TestNode> = nodes.iter().collect();
    assert!(
        fully_connected(&honest, Duration::from_secs(60)).await,
        "no full mesh\n{}",
        logs(&honest)
    );
    let grown = wait_for(Duration::from_secs(90), || async {
        (nodes[0].tip().await?.0 >= 4).then_some(())
    })
    .await;
    assert!(grown.is_some(), "no shares\n{}", logs(&honest));

    let dir = root.path().join("adversary");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut evil = Adversary::join(
        spec(),
        &dir,
        &[nodes[0].p2p_addr.clone()],
        PayoutScript::p2wpkh([0xee; 20]),
    )
    .expect("adversary joins");
    let me = evil.p2p.local_peer_id().to_string();
    let joined = wait_for(Duration::from_secs(20), || async {
        nodes[0].peer_ids().await?.contains(&me).then_some(())
    })
    .await;
    assert!(joined.is_some(), "the adversary did not connect");

    // 1. A share with valid proof of work that pays the whole reward to its finder.
    let held = evil.copy_chain(&nodes[0].peer_id).await.expect("copy");
    assert!(held >= 4, "copied {held} shares");
    let block = parent_template(spec(), &parent.url())
        .await
        .expect("template");
    let greedy = evil
        .forge(block.clone(), Forgery::WrongPayouts)
        .expect("forge");
    let score = announced_until_scored(&evil, &greedy, &nodes[0], &me, -1).await;
    assert!(
        matches!(score, Some(Some(s)) if s <= -50),
        "wrong payouts were not penalised: {score:?}\n{}",
        nodes[0].log_tail(30)
    );
    assert!(
        nodes[0]
            .log_tail(200)
            .contains("coinbase differs from the PPLNS re-derivation"),
        "rejected for another reason\n{}",
        nodes[0].log_tail(30)
    );

    // 2. A share with the right payouts whose hash misses the target: the second offence
    //    takes the score to the ban line, and the node drops the peer.
    let weak = evil.forge(block, Forgery::BadProofOfWork).expect("forge");
    let dropped = announced_until_scored(&evil, &weak, &nodes[0], &me, i64::MIN).await;
    assert!(
        matches!(dropped, Some(None)),
        "the adversary was not dropped: {dropped:?}\n{}",
        nodes[0].log_tail(30)
    );
    assert!(
        nodes[0].log_tail(200).contains("above share target"),
        "rejected for another reason\n{}",
        nodes[0].log_tail(30)
    );
    // Banned: a new dial does not bring it back. A fresh peer that dials after it, and
    // so needs a swarm started first, is let in: by then the adversary's dial was
    // answered too.
    evil.p2p
        .dial(nodes[0].p2p_addr.parse().expect("addr"))
        .await
        .expect("the dial starts");
    let control_dir = root.path().join("control");
    std::fs::create_dir_all(&control_dir).expect("dir");
    let control = Adversary::join(
        spec(),
        &control_dir,
        &[nodes[0].p2p_addr.clone()],
        PayoutScript::p2wpkh([0xcc; 20]),
    )
    .expect("a fresh peer joins");
    let control_id = control.p2p.local_peer_id().to_string();
    let answered = wait_for(Duration::from_secs(20), || async {
        let peers = nodes[0].peer_ids().await?;
        peers.contains(&control_id).then_some(peers)
    })
    .await;
    let Some(peers) = answered else {
        panic!("a fresh peer could not connect\n{}", nodes[0].log_tail(30));
    };
    assert!(
        !peers.contains(&me),
        "the banned adversary reconnected\n{}",
        nodes[0].log_tail(30)
    );
    drop(control);

    // The honest chain is unaffected: neither forgery is held anywhere, and the honest
    // nodes still agree.
    for n in &nodes {
        n.post("/api/mining/stop").await;
    }
    let tip = converged(&honest, Duration::from_secs(30)).await;
    assert!(tip.is_some(), "honest nodes diverged\n{}", logs(&honest));
    let forged = [greedy.hash().to_string(), weak.hash().to_string()];
    for n in &nodes {
        let recent = n.recent_shares(100).await.expect("shares");
        assert!(
            !recent.iter().any(|h| forged.contains(h)),
            "{} holds a forged share",
            n.options.name
        );
    }
    let finder = address(spec(), 0);
    let agreed = agreed_coinbase(&honest, &finder, Duration::from_secs(30)).await;
    assert!(
        agreed.is_some(),
        "honest nodes build different coinbases\n{}",
        logs(&honest)
    );
    let evil_payee =
        otedama_sharechain::script_to_address(&PayoutScript::p2wpkh([0xee; 20]), spec())
            .expect("address");
    let payouts = nodes[1].get("/api/payouts").await.expect("payouts");
    assert!(
        !payouts.to_string().contains(&evil_payee),
        "the forger is in the window"
    );
}

/// An orphan beside the tip (a valid share that lost the race) is an uncle candidate on
/// the node that saw it. A node that joins later syncs the main chain, which does not
/// name the orphan, then asks its peer for the side shares at the tip, so both credit
/// the same uncles and build the same coinbase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_fetches_the_orphans_beside_the_tip() {
    let parent = ParentStandIn::start(Duration::from_secs(600))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let mut miner = TestNode::spawn(
        root.path(),
        NodeOptions::numbered(0, spec(), parent.url(), Vec::new(), true, 40),
    )
    .expect("node starts");
    let grown = wait_for(Duration::from_secs(90), || async {
        (miner.tip().await?.0 >= 3).then_some(())
    })
    .await;
    assert!(grown.is_some(), "no shares\n{}", miner.log_tail(30));
    miner.post("/api/mining/stop").await;

    let dir = root.path().join("orphan");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut peer = Adversary::join(
        spec(),
        &dir,
        &[miner.p2p_addr.clone()],
        PayoutScript::p2wpkh([0xdd; 20]),
    )
    .expect("peer joins");
    let me = peer.p2p.local_peer_id().to_string();
    let joined = wait_for(Duration::from_secs(20), || async {
        miner.peer_ids().await?.contains(&me).then_some(())
    })
    .await;
    assert!(joined.is_some(), "the peer did not connect");
    // Mining stopped, but a share may still have been on its way: copy once the tip
    // holds still.
    let finder = address(spec(), 0);
    let (before, orphan) = loop {
        let tip = miner.tip().await.expect("tip");
        peer.copy_chain(&miner.peer_id).await.expect("copy");
        if peer.tip().map(|(h, t)| (h, t.to_string())) == Some(tip.clone()) {
            let block = parent_template(spec(), &parent.url())
                .await
                .expect("template");
            let coinbase = miner.coinbase_for(&finder).await.expect("coinbase");
            break (coinbase, peer.side_share(block).expect("side share"));
        }
    };
    let taken = wait_for(Duration::from_secs(20), || async {
        peer.announce(&orphan);
        let now = miner.coinbase_for(&finder).await?;
        (now != before).then_some(())
    })
    .await;
    assert!(
        taken.is_some(),
        "the orphan did not change the miner's work\n{}",
        miner.log_tail(30)
    );
    drop(peer);

    let (height, hash) = miner.tip().await.expect("tip");
    let late = TestNode::spawn(
        root.path(),
        NodeOptions::numbered(
            1,
            spec(),
            parent.url(),
            vec![miner.p2p_addr.clone()],
            false,
            0,
        ),
    )
    .expect("late node");
    assert_late_joiner_agrees(&late, &miner, &(height, hash), &finder).await;
    miner.kill();
}
