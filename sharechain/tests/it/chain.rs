use crate::{accept, chain, compete_with_tip, grow};
use otedama_sharechain::pplns::{miner_window, window_weights};
use otedama_sharechain::test_utils::{regtest_template, script, solve};
use otedama_sharechain::{ShareTemplate, TipChange, parent_work};

#[test]
fn most_work_branch_wins_and_reorg_lists_are_exact() {
    let mut c = chain("btc-regtest");
    let base = grow(&mut c, 3, &[script(1)]);
    let fork_point = base[1].hash();
    let main_tip = base[2].hash();
    // Build a two-share branch from the fork point.
    let t = ShareTemplate::on(
        &mut c,
        regtest_template(500, 0),
        script(9),
        fork_point,
        vec![],
    )
    .expect("template");
    let b1 = solve(
        &t,
        c.spec().algorithm,
        base[2].header.block.time,
        &[0xb1; 8],
    );
    let first = accept(&mut c, &b1);
    // Equal work: the smaller hash is best, whatever the arrival order.
    let expect_tip = main_tip.min(b1.hash());
    assert_eq!(c.tip().expect("tip").hash, expect_tip);
    if expect_tip == main_tip {
        assert_eq!(first, TipChange::Unchanged);
    }
    let t = ShareTemplate::on(
        &mut c,
        regtest_template(500, 0),
        script(9),
        b1.hash(),
        vec![],
    )
    .expect("template");
    let b2 = solve(&t, c.spec().algorithm, b1.header.block.time + 2, &[0xb2; 8]);
    let change = accept(&mut c, &b2);
    if expect_tip == main_tip {
        assert_eq!(
            change,
            TipChange::Reorg {
                disconnected: vec![main_tip],
                connected: vec![b1.hash(), b2.hash()],
            }
        );
    } else {
        assert_eq!(change, TipChange::Extended(b2.hash()));
    }
    assert_eq!(c.tip().expect("tip").hash, b2.hash());
    assert_eq!(c.main_at(2), Some(b1.hash()));
    assert!(!c.is_main(&main_tip));
}

#[test]
fn incremental_window_equals_full_walk() {
    let mut spec = otedama_sharechain::ChainSpec::by_name("btc-regtest")
        .expect("spec")
        .clone();
    spec.window_max_shares = 7;
    let mut c = otedama_sharechain::ShareChain::new(spec.clone());
    let pw = parent_work(regtest_template(1, 0).bits).expect("bits");
    for i in 0..25u32 {
        let s = otedama_sharechain::test_utils::mine_on_tip(&mut c, script(i % 4), &[i as u8; 8]);
        accept(&mut c, &s);
        let tip = c.tip().expect("tip").hash;
        let full = window_weights(&c, tip, pw, &spec).expect("window");
        let inc = c.window_for(tip, pw).expect("window").weights().clone();
        assert_eq!(inc, full, "after share {i}");
        let work = otedama_sharechain::Target::from_compact(spec.max_share_target)
            .expect("valid")
            .to_work();
        assert_eq!(
            full.total(),
            u128::from((i + 1).min(7)) * work.to_u128(),
            "7-share cap"
        );
    }
}

#[test]
fn pruning_keeps_twice_the_window() {
    let mut spec = otedama_sharechain::ChainSpec::by_name("btc-regtest")
        .expect("spec")
        .clone();
    spec.window_max_shares = 5;
    let mut c = otedama_sharechain::ShareChain::new(spec);
    grow(&mut c, 30, &[script(1)]);
    let removed = c.prune_below(30 - 1 - 10);
    assert_eq!(removed, 19);
    assert_eq!(c.len(), 11);
    // Still extends and validates after pruning.
    grow(&mut c, 2, &[script(2)]);
}

#[test]
fn a_miners_window_is_its_part_of_the_full_walk() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 3, &[script(1)]);
    // A competing share by miner 7 becomes an uncle of miner 2's next share.
    let (_, tip) = compete_with_tip(&mut c, script(7));
    let uncle_miner = if c.tip().expect("tip").hash == tip.hash {
        script(7)
    } else {
        script(1)
    };
    grow(&mut c, 4, &[script(2), script(3)]);
    let spec = c.spec().clone();
    let pw = parent_work(regtest_template(1, 0).bits).expect("bits");
    let tip = c.tip().expect("tip").hash;
    let full = window_weights(&c, tip, pw, &spec).expect("window");
    let mut main_shares = 0;
    for m in [1, 2, 3, 7, 9].map(script) {
        let w = miner_window(&c, tip, pw, &m, &spec).expect("window");
        let want = full.iter().find(|(s, _)| **s == m).map_or(0, |(_, w)| w);
        assert_eq!(w.weight, want, "{m:?}");
        assert_eq!(w.window_weight, full.total());
        assert_eq!(w.window_miners as usize, full.len());
        assert_eq!(w.window_shares, 7);
        assert_eq!(w.found.len() as u32, w.shares + w.uncles);
        let found: u128 = w.found.iter().map(|f| f.1).sum();
        if m == script(3) {
            assert_eq!(
                found, w.weight,
                "no uncles found or included: weight is found work"
            );
        }
        assert_eq!(w.uncles, u32::from(m == uncle_miner));
        assert!(w.oldest_time <= w.newest_time);
        main_shares += w.shares;
    }
    assert_eq!(main_shares, 7, "every main-chain share has one finder");
    let nobody = miner_window(&c, tip, pw, &script(9), &spec).expect("window");
    assert_eq!((nobody.shares, nobody.weight), (0, 0));
    assert!(nobody.found.is_empty());
}
