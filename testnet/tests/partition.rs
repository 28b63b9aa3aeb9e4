//! A network partition and its healing: five node processes split 2|3 by operator bans,
//! each side mines its own branch, and once the bans are lifted every node reorganises
//! onto the branch with the most work.

use otedama_sharechain::ChainSpec;
use otedama_testnet::cluster::{
    NodeOptions, TestNode, address, converged, fully_connected, logs, spawn_full_mesh, wait_for,
};
use otedama_testnet::standin::ParentStandIn;
use serde_json::json;
use std::time::Duration;

fn spec() -> &'static ChainSpec {
    ChainSpec::by_name("btc-regtest").expect("built-in spec")
}

/// Makes every node of `side` ban (or unban) every node of `other`.
async fn set_bans(side: &[&TestNode], other: &[&TestNode], ban: bool) {
    for a in side {
        for b in other {
            let (path, body) = if ban {
                (
                    "/api/peers/ban",
                    json!({"peer": b.peer_id, "duration_secs": 3600}),
                )
            } else {
                ("/api/peers/unban", json!({"peer": b.peer_id}))
            };
            assert!(
                a.post_json(path, &body).await.is_some(),
                "{} could not {path} {}",
                a.options.name,
                b.options.name
            );
        }
    }
}

/// Stops the miners of `side` and waits until its nodes agree; returns their tip and work.
async fn settle(side: &[&TestNode]) -> ((u64, String), u128) {
    for n in side {
        n.post("/api/mining/stop").await;
    }
    let tip = converged(side, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("a side did not converge\n{}", logs(side)));
    let work = side[0].chain_work().await.expect("chain work");
    (tip, work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_onto_the_branch_with_the_most_work() {
    let parent = ParentStandIn::start(Duration::from_secs(300))
        .await
        .expect("stand-in starts");
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = spawn_full_mesh(root.path(), 5, |i, bootstrap| {
        NodeOptions::numbered(i, spec(), parent.url(), bootstrap, true, 40)
    })
    .expect("nodes start");
    let all: Vec<&TestNode> = nodes.iter().collect();
    let (left, right) = all.split_at(2);
    assert!(
        fully_connected(&all, Duration::from_secs(60)).await,
        "no full mesh\n{}",
        logs(&all)
    );
    let grown = wait_for(Duration::from_secs(90), || async {
        (nodes[4].tip().await?.0 >= 5).then_some(())
    })
    .await;
    assert!(grown.is_some(), "no shares\n{}", logs(&all));

    // Split 2|3: each side refuses the other; both keep mining their own branch.
    set_bans(left, right, true).await;
    set_bans(right, left, true).await;
    assert!(
        fully_connected(left, Duration::from_secs(20)).await
            && fully_connected(right, Duration::from_secs(20)).await,
        "the partition did not take\n{}",
        logs(&all)
    );
    let split_height = nodes[0].tip().await.expect("tip").0;
    let apart = wait_for(Duration::from_secs(120), || async {
        let (l, r) = (left[0].tip().await?, right[0].tip().await?);
        (l.0 >= split_height + 4 && r.0 >= split_height + 4 && l.1 != r.1).then_some(())
    })
    .await;
    assert!(apart.is_some(), "the sides did not diverge\n{}", logs(&all));

    // Stop mining and settle each side. Equal work would leave each node on its own
    // branch (first seen wins a tie), so the right side mines until it leads: however
    // many shares that takes (the sides' share targets differ), bounded in time.
    let (left_tip, left_work) = settle(left).await;
    let (mut right_tip, mut right_work) = settle(right).await;
    if right_work <= left_work {
        right[0].post("/api/mining/start").await;
        wait_for(Duration::from_secs(240), || async {
            (right[0].chain_work().await? > left_work).then_some(())
        })
        .await;
        (right_tip, right_work) = settle(right).await;
    }
    assert!(
        right_work > left_work,
        "the right side never led: work {right_work:#x} at height {} against {left_work:#x} at {}",
        right_tip.0,
        left_tip.0
    );
    assert_ne!(left_tip, right_tip);

    // Heal: lift the bans and dial across.
    set_bans(left, right, false).await;
    set_bans(right, left, false).await;
    for b in right {
        assert!(
            left[0]
                .post_json("/api/peers/dial", &json!({"address": b.p2p_addr}))
                .await
                .is_some(),
            "dial failed"
        );
    }

    // Everyone, the left side included, ends on the right side's tip.
    let healed = converged(&all, Duration::from_secs(60)).await;
    assert_eq!(
        healed.as_ref(),
        Some(&right_tip),
        "nodes did not reorganise onto the most-work branch\n{}",
        logs(&all)
    );
    for n in left {
        assert_eq!(n.chain_work().await, Some(right_work));
        // The branch the left side mined is no longer on its main chain.
        let recent = n.recent_shares(100).await.expect("shares");
        assert!(
            !recent.contains(&left_tip.1),
            "{} kept its own branch",
            n.options.name
        );
    }

    // And they agree on who a block found now pays, and how much. (The coinbases
    // themselves may differ in their share commitment: the left side still holds its
    // old branch, whose newest shares are valid uncle candidates it would include; the
    // right side never fetched them.)
    // Read again while a new parent block reaches some nodes first.
    let finder = address(spec(), 0);
    let last = std::cell::RefCell::new(Vec::new());
    let agreed = wait_for(Duration::from_secs(30), || async {
        let mut splits = Vec::with_capacity(all.len());
        for n in &all {
            let p = n.get(&format!("/api/payouts?finder={finder}")).await?;
            splits.push(p.get("expected")?.clone());
        }
        let same = splits.windows(2).all(|w| w[0] == w[1]);
        last.replace(splits);
        same.then_some(())
    })
    .await;
    let splits = last.into_inner();
    assert!(agreed.is_some(), "{splits:?}");
    assert!(
        splits[0].as_array().is_some_and(|a| a.len() >= 2),
        "{splits:?}"
    );
}
