//! One changed field in a real share in the PPLNS window makes it invalid, with the rule
//! that field breaks. Each mutated share is resealed (its merge-mining root recomputed, as
//! a miner re-mining it would) so that it reaches the rule under test; without resealing,
//! any changed byte already fails the merge-mining proof.

use otedama_sharechain::monero::merkle::{aux_slot, root_from_proof};
use otedama_sharechain::monero::{
    AddError, Hash, PoolShare, RuleViolation, ShareState, SideChain, SidechainParams,
};

use super::dump::{blobs, chain};

/// Recomputes the merge-mining root for the share's new sidechain id.
fn reseal(mut s: PoolShare) -> PoolShare {
    let p = SidechainParams::main();
    let id = s.sidechain_id(&p.consensus_id);
    let (count, nonce) = s.merge_mining_params();
    let slot = aux_slot(&p.consensus_id, nonce, count);
    s.merkle_root = root_from_proof(id, &s.merkle_proof, slot, count).expect("proof fits");
    s
}

/// Adds a resealed mutation and returns the rule it breaks.
fn rule_of(c: &mut SideChain, s: PoolShare) -> RuleViolation {
    let id = c.add(reseal(s)).expect("passes the standalone checks");
    match c.state(&id) {
        Some(ShareState::Invalid(rule)) => rule.clone(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn mutations_break_the_right_rule() {
    let mut c = chain();
    for b in blobs() {
        c.add_blob(b).expect("accepted");
    }
    let tip_height = c.tip().expect("tip").1.sidechain_height;
    let shares: Vec<PoolShare> = blobs()
        .iter()
        .map(|b| PoolShare::parse(b).expect("parses"))
        .collect();
    // A share 100 below the tip, and one with an uncle, both inside the window.
    let plain = shares
        .iter()
        .find(|s| s.sidechain_height == tip_height - 100 && s.uncles.is_empty())
        .expect("a share at depth 100")
        .clone();
    let with_uncle = shares
        .iter()
        .rev()
        .find(|s| s.uncles.len() == 1 && s.sidechain_height + 1000 > tip_height)
        .expect("a recent share with an uncle")
        .clone();
    let (uncle_share, uncle_parent) = (with_uncle.clone(), with_uncle.parent);

    // The untouched copies are valid (and duplicates).
    assert!(matches!(c.add(plain.clone()), Err(AddError::Duplicate(_))));

    // A raw changed byte without resealing fails the merge-mining proof.
    let mut raw = plain.serialize();
    let n = raw.len();
    raw[n - 40] ^= 1;
    assert!(matches!(
        c.add_blob(&raw),
        Err(AddError::Rejected(RuleViolation::MerkleProof { .. }))
    ));

    let mut s = plain.clone();
    s.outputs[3].key = Hash::from_bytes({
        let mut k = *s.outputs[3].key.as_bytes();
        k[7] ^= 0x40;
        k
    });
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::OutputKey { index: 3, .. }
    ));

    let mut s = plain.clone();
    s.outputs[5].view_tag ^= 1;
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::ViewTag { index: 5, .. }
    ));

    let mut s = plain.clone();
    s.outputs[0].amount += 1;
    assert!(matches!(rule_of(&mut c, s), RuleViolation::Amount { .. }));

    let mut s = plain.clone();
    s.outputs.pop();
    s.outputs[0].amount += 1_000_000_000_000;
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::OutputCount { .. }
    ));

    let mut s = plain.clone();
    s.difficulty += 1;
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::CumulativeDifficulty { .. }
    ));

    let mut s = plain.clone();
    s.difficulty += 1;
    s.cumulative_difficulty += 1;
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::Difficulty { .. }
    ));

    // Uncle list: dropped, replaced by the parent, duplicated, zeroed.
    let mut s = uncle_share.clone();
    s.uncles.clear();
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::CumulativeDifficulty { .. }
    ));

    let mut s = uncle_share.clone();
    s.uncles[0] = uncle_parent;
    assert!(matches!(
        rule_of(&mut c, s),
        RuleViolation::UncleAlreadyMined { .. }
    ));

    let mut s = uncle_share.clone();
    s.uncles.push(s.uncles[0]);
    assert!(matches!(rule_of(&mut c, s), RuleViolation::UncleOrder));

    let mut s = uncle_share.clone();
    s.uncles[0] = Hash::ZERO;
    assert!(matches!(rule_of(&mut c, s), RuleViolation::ZeroUncle));

    // Wrong height.
    let mut s = plain.clone();
    s.sidechain_height += 1;
    assert!(matches!(rule_of(&mut c, s), RuleViolation::Height { .. }));

    // Every rule has a stable name.
    assert_eq!(RuleViolation::UncleOrder.rule(), "uncle-order");
}
