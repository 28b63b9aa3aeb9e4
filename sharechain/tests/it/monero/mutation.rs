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

    // Random byte changes anywhere in recent shares, resealed so that they reach the
    // chain rules: never a panic, a rule for every rejection, and a valid share only when
    // the change is in a field no rule covers (PoW aside: the nonces, the timestamp, the
    // transaction list, the minor version, the merge-mining data, the sidechain extra).
    let recent: Vec<&Vec<u8>> = blobs()
        .iter()
        .filter(|b| PoolShare::parse(b).is_ok_and(|s| s.sidechain_height + 500 > tip_height))
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut decoded, mut verdicts) = (0, 0);
    for _ in 0..400 {
        let original = recent[(next() % recent.len() as u64) as usize];
        let mut blob = original.clone();
        let pos = (next() % blob.len() as u64) as usize;
        blob[pos] ^= 1 << (next() % 8);
        let Ok(share) = PoolShare::parse(&blob) else {
            continue;
        };
        decoded += 1;
        match c.add(reseal(share)) {
            Ok(id) => {
                verdicts += 1;
                if c.state(&id) == Some(&ShareState::Valid) {
                    let orig = PoolShare::parse(original).expect("parses");
                    let mut rest = PoolShare::parse(&blob).expect("parses");
                    rest.timestamp = orig.timestamp;
                    rest.nonce = orig.nonce;
                    rest.extra_nonce = orig.extra_nonce;
                    rest.minor_version = orig.minor_version;
                    rest.tx_hashes = orig.tx_hashes.clone();
                    rest.merkle_tree_data = orig.merkle_tree_data;
                    rest.merkle_root = orig.merkle_root;
                    rest.merkle_proof = orig.merkle_proof.clone();
                    rest.mm_extra = orig.mm_extra.clone();
                    rest.sidechain_extra = orig.sidechain_extra;
                    assert_eq!(
                        rest, orig,
                        "byte {pos} changed a checked field, still valid"
                    );
                }
            }
            Err(AddError::Rejected(rule)) => assert!(!rule.rule().is_empty()),
            Err(AddError::Duplicate(_)) => {}
        }
    }
    assert!(
        decoded > 100 && verdicts > 50,
        "{decoded} decoded, {verdicts} reached the chain"
    );
}
