use crate::{accept, chain, check, compete_with_tip, grow};
use otedama_sharechain::test_utils::{mine_on_tip, regtest_template, script, solve};
use otedama_sharechain::{
    Amount, CompactTarget, ShareError, ShareHash, ShareTemplate, ValidationContext, validate_share,
};

#[test]
fn chain_of_shares_pays_the_window_exactly() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 19, &[script(1), script(2)]);
    assert_eq!(c.tip().expect("tip").height, 18);
    // 19 equal-work shares: 10 for script 1, 9 for script 2; reward 50 coins.
    let t = ShareTemplate::new(&mut c, regtest_template(200, 2), script(3)).expect("template");
    let a = 5_000_000_000u64 * 10 / 19;
    assert_eq!(
        t.payouts,
        vec![
            (script(1), Amount::from_sat(a)),
            (script(2), Amount::from_sat(5_000_000_000 - a))
        ]
    );
}

#[test]
fn scrypt_chain_validates() {
    let mut c = chain("ltc-regtest");
    grow(&mut c, 5, &[script(1), script(2)]);
    assert_eq!(c.tip().expect("tip").height, 4);
}

fn next(c: &mut otedama_sharechain::ShareChain) -> ShareTemplate {
    ShareTemplate::new(c, regtest_template(300, 3), script(5)).expect("template")
}

fn time_of(c: &otedama_sharechain::ShareChain) -> u32 {
    c.tip().expect("tip").time + 2
}

#[test]
fn bad_pow_is_rejected() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 3, &[script(1)]);
    let t = next(&mut c);
    let mut s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    // Walk nonces until the PoW misses the (easy) target.
    let target =
        otedama_sharechain::Target::from_compact(s.header.info.share_target).expect("valid");
    while target.is_met_by(&c.spec().algorithm.hash(&s.header.block.to_bytes())) {
        s.header.block.nonce += 1;
    }
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::AboveTarget { .. })
    ));
}

#[test]
fn wrong_share_target_is_rejected() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 3, &[script(1)]);
    let mut t = next(&mut c);
    t.info.share_target = CompactTarget::from_consensus(0x207f_0000);
    t.commitment = t.info.commitment(&c.spec().consensus_id());
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::WrongTarget { .. })
    ));
}

#[test]
fn wrong_payouts_are_rejected() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 4, &[script(1), script(2)]);
    let mut t = next(&mut c);
    // A greedy miner moves one satoshi from the other payee to himself.
    t.payouts[0].1 = Amount::from_sat(t.payouts[0].1.to_sat() + 1);
    t.payouts[1].1 = Amount::from_sat(t.payouts[1].1.to_sat() - 1);
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::CoinbaseMismatch { .. })
    ));
}

#[test]
fn share_committed_to_another_chain_spec_is_rejected() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 2, &[script(1)]);
    let mut t = next(&mut c);
    t.commitment = t.info.commitment(
        &otedama_sharechain::ChainSpec::by_name("btc-main")
            .expect("spec")
            .consensus_id(),
    );
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::CoinbaseMismatch { .. })
    ));
}

#[test]
fn bad_merkle_branch_is_rejected() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 2, &[script(1)]);
    let t = next(&mut c);
    let mut s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    s.body.merkle_branch[0][0] ^= 1;
    assert_eq!(check(&mut c, &s), Err(ShareError::MerkleMismatch));
}

#[test]
fn unknown_parent_height_and_time_rules() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 12, &[script(1)]);
    // Missing parent.
    let mut t = next(&mut c);
    t.info.prev_share = ShareHash::from_bytes([0xee; 32]);
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::MissingParent(_))
    ));
    // Wrong height.
    let mut t = next(&mut c);
    t.info.height += 1;
    t.commitment = t.info.commitment(&c.spec().consensus_id());
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    assert!(matches!(check(&mut c, &s), Err(ShareError::Height { .. })));
    // Timestamp at the median time past.
    let mtp = c.median_time_past(c.tip().expect("tip").hash).expect("mtp");
    let t = next(&mut c);
    let s = solve(&t, c.spec().algorithm, mtp, &[9; 8]);
    assert!(matches!(
        check(&mut c, &s),
        Err(ShareError::TimeTooOld { .. })
    ));
    // Too far in the future for the validator's clock.
    let s = solve(&t, c.spec().algorithm, time_of(&c), &[9; 8]);
    let ctx = ValidationContext {
        now: u64::from(time_of(&c)) - 121,
        parent_block_known: &|_| true,
    };
    assert!(matches!(
        validate_share(&mut c, &s, s.to_bytes().len(), &ctx),
        Err(ShareError::TimeTooNew { .. })
    ));
    // Parent block unknown to the daemon.
    let ctx = ValidationContext {
        now: u64::from(time_of(&c)),
        parent_block_known: &|_| false,
    };
    assert!(matches!(
        validate_share(&mut c, &s, s.to_bytes().len(), &ctx),
        Err(ShareError::UnknownParentBlock(_))
    ));
    // Size bound.
    let ctx = ValidationContext {
        now: u64::from(time_of(&c)),
        parent_block_known: &|_| true,
    };
    assert!(matches!(
        validate_share(&mut c, &s, 70_000, &ctx),
        Err(ShareError::TooLarge { .. })
    ));
    // And the untouched share is fine.
    assert!(check(&mut c, &s).is_ok());
}

#[test]
fn uncles_are_credited_once_and_bounded() {
    let mut c = chain("btc-regtest");
    grow(&mut c, 3, &[script(1)]);
    // A competing share at the tip's height, by miner 7.
    let (side, tip) = compete_with_tip(&mut c, script(7));
    assert_eq!(
        c.tip().expect("tip").hash,
        tip.hash.min(side.hash()),
        "tie goes to the smaller hash"
    );
    let best = c.tip().expect("tip").hash;
    let uncle = if best == tip.hash {
        side.hash()
    } else {
        tip.hash
    };
    // The next share includes the uncle; its miner gets 90% of the uncle's work.
    let s = mine_on_tip(&mut c, script(2), &[1; 8]);
    assert_eq!(s.header.info.uncles, vec![uncle]);
    accept(&mut c, &s);
    let after = mine_on_tip(&mut c, script(2), &[2; 8]);
    assert!(
        after.header.info.uncles.is_empty(),
        "an uncle is credited once"
    );
    // Including it again by hand is rejected.
    let t = ShareTemplate::on(
        &mut c,
        regtest_template(300, 1),
        script(2),
        s.hash(),
        vec![uncle],
    )
    .expect("template");
    let again = solve(&t, c.spec().algorithm, s.header.block.time + 2, &[3; 8]);
    assert!(matches!(
        check(&mut c, &again),
        Err(ShareError::BadUncle {
            reason: "already included",
            ..
        })
    ));
    // A main-chain share is not an uncle.
    let t = ShareTemplate::on(
        &mut c,
        regtest_template(300, 1),
        script(2),
        s.hash(),
        vec![best],
    )
    .expect("template");
    let bad = solve(&t, c.spec().algorithm, s.header.block.time + 2, &[3; 8]);
    assert!(matches!(
        check(&mut c, &bad),
        Err(ShareError::BadUncle { .. })
    ));
}

/// A KawPow chain: shares carry the 120-byte header, round-trip through their wire
/// form, pay the window like any other chain, and are refused with a forged mix, a
/// header height that is not the committed one, or no seal at all.
#[test]
fn kawpow_chain_validates_its_seals() {
    use otedama_sharechain::{Seal, Share, kawpow_block_hash};
    let mut c = chain("rvn-regtest");
    assert_eq!(c.spec().seal, Seal::Kawpow);
    let shares = grow(&mut c, 4, &[script(1), script(2)]);
    assert_eq!(c.tip().expect("tip").height, 3);
    for s in &shares {
        let seal = s.header.seal.expect("sealed");
        assert_eq!(s.header.block.nonce, s.header.info.parent_height);
        assert_eq!(s.header.parent_header_bytes().len(), 120);
        assert_eq!(
            s.header.block_hash(),
            kawpow_block_hash(&s.header.block, &seal)
        );
        let bytes = s.to_bytes();
        assert_eq!(bytes[0], otedama_sharechain::SEALED_FORMAT_VERSION);
        assert_eq!(Share::from_bytes(&bytes).expect("decodes"), *s);
    }
    let t = ShareTemplate::new(&mut c, regtest_template(300, 2), script(3)).expect("template");
    assert_eq!(t.payouts.len(), 2, "the window pays both miners");

    let good = mine_on_tip(&mut c, script(3), &[7; 8]);
    let mut forged = good.clone();
    if let Some(seal) = forged.header.seal.as_mut() {
        seal.mix[0] ^= 1;
    }
    assert!(matches!(check(&mut c, &forged), Err(ShareError::Seal(_))));
    let mut moved = good.clone();
    moved.header.block.nonce += 1;
    assert!(matches!(
        check(&mut c, &moved),
        Err(ShareError::Malformed(_))
    ));
    let mut bare = good.clone();
    bare.header.seal = None;
    assert!(matches!(
        check(&mut c, &bare),
        Err(ShareError::Malformed(_))
    ));
    check(&mut c, &good).expect("the honest share");
}
