//! The real main sidechain: 4 543 consecutive P2Pool shares (`sidechain_dump.dat.xz`),
//! verified in file order and shuffled, and mutated one rule at a time.

use std::sync::OnceLock;

use otedama_sharechain::monero::dump::{permutation, split_dump, verify_dump};
use otedama_sharechain::monero::{
    FixedDifficulty, MoneroAddress, NoPowCheck, PoolShare, RuleViolation, ShareState, SideChain,
    SidechainParams,
};

/// Difficulty of Monero block 3 454 976, the seed height of every share in the dump.
pub const MONERO_DIFFICULTY: u128 = 625_461_936_742;

/// The wallet P2Pool's test mines the next block with; it is not in the window.
const MINER: &str = "44MnN1f3Eto8DZYUWuE5XZNUtE3vcRzt2j6PzqWpPau34e6Cf4fAxt6X2MBmrm6F9YMEiMNjN6W4Shn4pLcfNAja621jwyg";

/// Returns the share blobs of the dump, in file order.
pub fn blobs() -> &'static [Vec<u8>] {
    static BLOBS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BLOBS.get_or_init(|| {
        let xz = std::fs::read(super::data("sidechain_dump.dat.xz")).expect("dump");
        let mut raw = Vec::new();
        lzma_rs::xz_decompress(&mut &xz[..], &mut raw).expect("xz");
        split_dump(&raw)
            .expect("framing")
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// A main sidechain with the dump's Monero difficulty and no PoW check.
pub fn chain() -> SideChain {
    SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(MONERO_DIFFICULTY)),
        Box::new(NoPowCheck),
    )
}

fn load(order: &[Vec<u8>]) -> SideChain {
    let mut c = chain();
    for b in order {
        c.add_blob(b).expect("share accepted");
    }
    c
}

fn assert_all_valid_and_tip(c: &mut SideChain) {
    assert_eq!(c.len(), 4543);
    let bad: Vec<_> = c
        .states()
        .filter(|(_, s)| **s != ShareState::Valid)
        .take(5)
        .map(|(id, s)| format!("{id}: {s:?}"))
        .collect();
    assert!(bad.is_empty(), "not valid: {bad:#?}");
    let (_, tip) = c.tip().expect("tip");
    assert_eq!(tip.sidechain_height, 11_704_382);
    assert_eq!(tip.height, 3_456_189);
    let miner: MoneroAddress = MINER.parse().expect("address");
    let next = c.next_block(miner.keys, tip.height).expect("next block");
    assert_eq!(next.height, 11_704_383);
    assert_eq!(next.payees.len(), 53);
}

#[test]
fn pruning_keeps_the_tip_and_the_next_block() {
    let mut c = load(blobs());
    let (tip_id, before) = {
        let (id, tip) = c.tip().expect("tip");
        (*id, tip.sidechain_height)
    };
    let miner: MoneroAddress = MINER.parse().expect("address");
    let next = c.next_block(miner.keys, 3_456_189).expect("next block");
    // The dump spans fewer heights than the two windows a node keeps; one window and a
    // margin is the least that keeps the next block's window whole.
    let keep = SidechainParams::main().window + 64;
    let dropped = c.prune(keep);
    assert!(!dropped.is_empty());
    assert_eq!(c.len() + dropped.len(), 4543);
    assert!(c.states().all(|(id, _)| !dropped.contains(id)));
    assert_eq!(c.tip().map(|(id, _)| *id), Some(tip_id));
    assert!(c.states().all(|(id, _)| {
        otedama_sharechain::monero::pplns::ShareLookup::share(&c, id)
            .is_some_and(|s| s.sidechain_height + keep >= before)
    }));
    // The window below the tip is whole: the next block pays the same wallets the same.
    let after = c.next_block(miner.keys, 3_456_189).expect("next block");
    assert_eq!(after.payees, next.payees);
    assert!(c.prune(keep).is_empty(), "a second prune finds nothing");
}

#[test]
fn every_share_round_trips_byte_for_byte() {
    let blobs = blobs();
    assert_eq!(blobs.len(), 4543);
    let (mut lo, mut hi, mut uncles, mut aux) = (u64::MAX, 0, 0, 0);
    for b in blobs {
        let s = PoolShare::parse(b).expect("parses");
        assert_eq!(&s.serialize(), b);
        lo = lo.min(s.sidechain_height);
        hi = hi.max(s.sidechain_height);
        uncles += usize::from(s.uncles.len() == 1);
        aux += usize::from(s.merge_mining_params().0 == 2);
    }
    assert_eq!((lo, hi), (11_700_047, 11_704_382));
    assert_eq!(uncles, 210);
    assert_eq!(aux, 1621);
}

#[test]
fn dump_verifies_in_file_order() {
    let mut c = load(blobs());
    assert_all_valid_and_tip(&mut c);
    broadcast_forms_expand(&c);
}

/// P2Pool's pruned, compact and compact-pruned broadcasts of recent shares expand back to
/// the full share from the chain.
fn broadcast_forms_expand(c: &SideChain) {
    use otedama_sharechain::monero::pplns::ShareLookup;
    let consensus = SidechainParams::main().consensus_id;
    let tip_height = c.tip().expect("tip").1.sidechain_height;
    let recent: Vec<PoolShare> = blobs()
        .iter()
        .map(|b| PoolShare::parse(b).expect("parses"))
        .filter(|s| s.sidechain_height + 20 > tip_height)
        .collect();
    let mut compacted = 0;
    for s in &recent {
        let id = s.sidechain_id(&consensus);
        let parent = c.share(&s.parent).expect("parent");
        let pruned = s.serialize_broadcast(&id, true, None);
        assert!(pruned.len() < s.serialize().len());
        assert!(PoolShare::parse(&pruned).is_err(), "pruned needs the chain");
        assert!(
            c.expand(&pruned, false, false).is_err(),
            "pruning not allowed"
        );
        assert_eq!(c.expand(&pruned, true, false).as_ref(), Ok(s));
        let compact = s.serialize_broadcast(&id, false, Some(parent));
        compacted += usize::from(compact.len() < s.serialize().len());
        assert_eq!(c.expand(&compact, false, true).as_ref(), Ok(s));
        let both = s.serialize_broadcast(&id, true, Some(parent));
        assert_eq!(c.expand(&both, true, true).as_ref(), Ok(s));
        // A pruned form that claims another reward does not rebuild the same share.
        let mut other = s.clone();
        other.outputs[0].amount += 1;
        let lie = other.serialize_broadcast(&id, true, None);
        assert!(c.expand(&lie, true, false).is_err());
    }
    assert!(recent.len() >= 20 && compacted > 0);
}

#[test]
fn dump_verifies_in_shuffled_order() {
    let blobs: Vec<&[u8]> = blobs().iter().map(Vec::as_slice).collect();
    let order = permutation(blobs.len(), 0x0123_4567_89ab_cdef);
    let miner: MoneroAddress = MINER.parse().expect("address");
    let report = verify_dump(
        SidechainParams::main(),
        &blobs,
        &order,
        Box::new(FixedDifficulty(MONERO_DIFFICULTY)),
        Some(miner.keys),
    );
    assert_eq!(
        (
            report.valid,
            report.invalid,
            report.unverified,
            report.pow_unchecked
        ),
        (4543, 0, 0, 4543),
        "{:#?}",
        report.errors
    );
    let tip = report.tip.expect("tip");
    assert_eq!(
        (tip.sidechain_height, tip.monero_height),
        (11_704_382, 3_456_189)
    );
    assert_eq!(report.next_payees.len(), 53);
    // The new miner is paid, and the payouts add up to the reward they split.
    assert!(report.next_payees.iter().any(|p| p.address == MINER));
    let tip_share = blobs
        .iter()
        .map(|b| PoolShare::parse(b).expect("parses"))
        .find(|s| s.sidechain_height == 11_704_382)
        .expect("tip share");
    let paid: u64 = report.next_payees.iter().map(|p| p.amount).sum();
    assert_eq!(paid, tip_share.total_reward());
}

#[test]
fn standalone_rules_reject_bad_shares() {
    let blob = &blobs()[blobs().len() - 1];
    let s = PoolShare::parse(blob).expect("parses");
    let mut c = chain();
    // A changed seed changes the deterministic tx key.
    let mut bad = s.clone();
    bad.tx_key_seed = bad.parent;
    assert!(matches!(
        c.add(bad),
        Err(otedama_sharechain::monero::AddError::Rejected(
            RuleViolation::TxKey { .. }
        ))
    ));
    // A changed merkle root no longer matches the sidechain id.
    let mut bad = s.clone();
    bad.merkle_root = bad.parent;
    assert!(matches!(
        c.add(bad),
        Err(otedama_sharechain::monero::AddError::Rejected(
            RuleViolation::MerkleProof { .. }
        ))
    ));
    let mut bad = s.clone();
    bad.major_version = 15;
    bad.minor_version = 16;
    assert!(matches!(
        c.add(bad),
        Err(otedama_sharechain::monero::AddError::Rejected(
            RuleViolation::MajorVersion { .. }
        ))
    ));
    assert!(c.is_empty());
}

#[test]
fn the_tip_window_and_payouts_agree_with_the_tip_outputs() {
    let c = load(blobs());
    let (tip_id, tip) = c.tip().map(|(id, s)| (*id, s.clone())).expect("tip");
    // What the tip's block pays: its own outputs, each matched with its payee.
    let paid = c.payouts_of(&tip_id).expect("a valid share");
    assert_eq!(paid.len(), tip.outputs.len());
    for ((_, amount), out) in paid.iter().zip(&tip.outputs) {
        assert_eq!(*amount, out.amount);
    }
    // The window walk credits exactly those wallets, and the split of its weights is
    // the tip's outputs.
    let credits = c.tip_window().expect("whole window");
    let mut weights = std::collections::BTreeMap::new();
    for credit in &credits {
        *weights.entry(credit.wallet).or_insert(0u128) += credit.weight;
    }
    assert_eq!(weights.len(), paid.len());
    for (wallet, _) in &paid {
        assert!(weights.contains_key(wallet), "a payee is credited");
    }
    assert!(!credits[0].uncle, "the walk starts at the tip");
    assert_eq!(credits[0].timestamp, tip.timestamp);
    // The main chain runs from the tip down every height the dump holds, one share each.
    let heights: Vec<u64> = c.main_chain().map(|(_, s)| s.sidechain_height).collect();
    assert_eq!(c.main_chain().next().map(|(id, _)| *id), Some(tip_id));
    assert_eq!(heights.len() as u64, 11_704_382 - 11_700_047 + 1);
    assert!(heights.windows(2).all(|w| w[0] == w[1] + 1));
    // The window holds every main share it credits, newest first, up to the PPLNS cap.
    let main_credits = credits.iter().filter(|c| !c.uncle).count();
    assert!(main_credits > 1 && main_credits as u64 <= SidechainParams::main().window);
}
