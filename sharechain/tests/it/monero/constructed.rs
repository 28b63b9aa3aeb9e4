//! Constructed chains: shares built by `SideChain::build_share` on a fresh sidechain, for the
//! rules the real dump does not exercise (genesis, uncles from the template, uncle depth,
//! fork choice between branches).

use otedama_sharechain::monero::keys::{deterministic_tx_keys, output_key, public_key};
use otedama_sharechain::monero::merkle::{aux_slot, root_from_proof};
use otedama_sharechain::monero::{
    FixedDifficulty, Hash, MoneroJob, NoPowCheck, PoolShare, RuleViolation, ShareState, SideChain,
    SidechainParams, Wallet,
};

fn wallet(i: u8) -> Wallet {
    let k = |b: u8| public_key(&Hash::from_bytes([b; 32]));
    Wallet::new(
        k(i.wrapping_mul(2).wrapping_add(1)),
        k(i.wrapping_mul(2).wrapping_add(2)),
    )
    .expect("points")
}

/// The Monero side of share `n`: a new Monero block every third share, 10 s apart.
fn job(n: u64) -> MoneroJob {
    MoneroJob {
        major_version: 16,
        timestamp: 1_700_000_000 + 10 * n,
        prev_id: Hash::keccak(&(n / 3).to_le_bytes()),
        height: 3_000_000 + n / 3,
        reward: 600_000_000_000 + n,
        tx_hashes: vec![Hash::keccak(&n.to_be_bytes())],
    }
}

/// Returns true when one of `share`'s outputs pays `w`.
fn pays(share: &PoolShare, w: &Wallet) -> bool {
    let (sec, _) = deterministic_tx_keys(&share.tx_key_seed, &share.prev_id);
    share.outputs.iter().enumerate().any(|(i, o)| {
        output_key(&sec, w.spend(), w.view(), i as u64).is_some_and(|k| k.key == o.key)
    })
}

fn chain() -> SideChain {
    SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(1_000_000_000_000)),
        Box::new(NoPowCheck),
    )
}

fn reseal(mut s: PoolShare) -> PoolShare {
    let p = SidechainParams::main();
    let id = s.sidechain_id(&p.consensus_id);
    let (count, nonce) = s.merge_mining_params();
    s.merkle_root = root_from_proof(
        id,
        &s.merkle_proof,
        aux_slot(&p.consensus_id, nonce, count),
        count,
    )
    .expect("proof fits");
    s
}

fn add_valid(c: &mut SideChain, s: PoolShare) -> Hash {
    let id = c.add(s).expect("accepted");
    assert_eq!(c.state(&id), Some(&ShareState::Valid));
    id
}

fn invalid_rule(c: &mut SideChain, s: PoolShare) -> RuleViolation {
    let id = c.add(reseal(s)).expect("passes the standalone checks");
    match c.state(&id) {
        Some(ShareState::Invalid(r)) => r.clone(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

/// Grows `c` to `n` shares, miners in turn.
fn grow(c: &mut SideChain, from: u64, to: u64) -> Vec<PoolShare> {
    (from..to)
        .map(|n| {
            let s = c
                .build_share(wallet((n % 7) as u8), &job(n))
                .expect("template");
            add_valid(c, s.clone());
            s
        })
        .collect()
}

#[test]
fn built_shares_verify_and_pay_the_window() {
    let mut c = chain();
    let shares = grow(&mut c, 0, 40);
    let (tip_id, tip) = c.tip().expect("tip");
    assert_eq!(tip.sidechain_height, 39);
    assert_eq!(
        *tip_id,
        tip.sidechain_id(&SidechainParams::main().consensus_id)
    );
    // Genesis pays its miner alone; later shares pay every miner of the window once.
    assert_eq!(shares[0].outputs.len(), 1);
    assert_eq!(shares[0].tx_key_seed, SidechainParams::main().consensus_id);
    assert_eq!(shares[39].outputs.len(), 7);
    assert_eq!(shares[39].total_reward(), job(39).reward);
    // Shares on the same Monero block keep the seed; a new block derives a new one.
    assert_eq!(shares[4].tx_key_seed, shares[3].tx_key_seed);
    assert_eq!(shares[3].tx_key_seed, shares[2].child_tx_key_seed());
    // Every built share round-trips through the codec.
    for s in &shares {
        assert_eq!(PoolShare::parse(&s.serialize()).as_ref(), Ok(s));
    }
}

#[test]
fn genesis_rules() {
    let mut c = chain();
    let g = c.build_share(wallet(0), &job(0)).expect("genesis");
    let mut bad = g.clone();
    bad.difficulty += 1;
    bad.cumulative_difficulty += 1;
    assert_eq!(invalid_rule(&mut c, bad), RuleViolation::Genesis);
    let mut bad = g.clone();
    bad.uncles = vec![Hash::keccak(b"x")];
    assert_eq!(invalid_rule(&mut c, bad), RuleViolation::Genesis);
    add_valid(&mut c, g);
}

#[test]
fn siblings_become_uncles_and_are_paid() {
    let mut c = chain();
    grow(&mut c, 0, 6);
    let a = c.build_share(wallet(1), &job(6)).expect("a");
    let b = c.build_share(wallet(9), &job(6)).expect("b");
    let a_id = add_valid(&mut c, a);
    let b_id = add_valid(&mut c, b.clone());
    // Equal work: the first one stays the tip.
    assert_eq!(c.tip().expect("tip").0, &a_id);
    let n = c.build_share(wallet(3), &job(7)).expect("nephew");
    assert_eq!(n.uncles, vec![b_id]);
    let tip = c.tip().expect("tip").1.clone();
    assert_eq!(
        n.cumulative_difficulty,
        tip.cumulative_difficulty + n.difficulty + b.difficulty
    );
    add_valid(&mut c, n.clone());
    // The uncle's miner (not otherwise in the window) is paid by the nephew.
    assert_eq!(n.outputs.len(), 7);
    assert!(pays(&n, &wallet(9)));
    assert!(!pays(&n, &wallet(8)));

    // The same uncle cannot be mined twice.
    let mut again = c.build_share(wallet(4), &job(8)).expect("next");
    assert!(again.uncles.is_empty());
    again.uncles = vec![b_id];
    again.cumulative_difficulty += b.difficulty;
    assert!(matches!(
        invalid_rule(&mut c, again),
        RuleViolation::UncleAlreadyMined { .. }
    ));
}

#[test]
fn uncles_deeper_than_three_are_refused() {
    let mut c = chain();
    grow(&mut c, 0, 3);
    // A sibling of share 3, kept aside until the chain is 4 shares past it.
    let old = c.build_share(wallet(5), &job(3)).expect("sibling");
    grow(&mut c, 3, 8);
    let old_id = add_valid(&mut c, old.clone());
    let mut s = c.build_share(wallet(6), &job(8)).expect("share 8");
    assert!(s.uncles.is_empty(), "too deep for the template");
    s.uncles = vec![old_id];
    s.cumulative_difficulty += old.difficulty;
    assert!(matches!(
        invalid_rule(&mut c, s),
        RuleViolation::UncleHeight { .. }
    ));
}

#[test]
fn heavier_branch_takes_the_tip() {
    let mut c = chain();
    let base = grow(&mut c, 0, 6);
    // A second node with the same history mines a competing branch.
    let mut other = chain();
    for s in &base {
        add_valid(&mut other, s.clone());
    }
    let x = c.build_share(wallet(1), &job(6)).expect("x");
    let x_id = add_valid(&mut c, x);
    let y = other.build_share(wallet(2), &job(6)).expect("y");
    add_valid(&mut other, y.clone());
    let z = other.build_share(wallet(3), &job(7)).expect("z");
    add_valid(&mut other, z.clone());
    assert_eq!(c.tip().expect("tip").0, &x_id);
    add_valid(&mut c, y);
    assert_eq!(c.tip().expect("tip").0, &x_id, "equal work does not switch");
    let z_id = add_valid(&mut c, z);
    assert_eq!(c.tip().expect("tip").0, &z_id, "more work wins");
}

/// A node whose daemon has not answered yet.
struct NoDifficulty;

impl otedama_sharechain::monero::MoneroView for NoDifficulty {
    fn difficulty_at(&self, _height: u64) -> Option<u128> {
        None
    }
}

#[test]
fn unknown_monero_difficulty_leaves_window_shares_unverified() {
    let mut builder = chain();
    let shares = grow(&mut builder, 0, 3);
    let mut c = SideChain::new(
        SidechainParams::main(),
        Box::new(NoDifficulty),
        Box::new(NoPowCheck),
    );
    // Genesis needs no cap; its children need the Monero difficulty for the PPLNS cap.
    let ids: Vec<Hash> = shares
        .iter()
        .map(|s| c.add(s.clone()).expect("accepted"))
        .collect();
    assert_eq!(c.state(&ids[0]), Some(&ShareState::Valid));
    assert_eq!(c.state(&ids[1]), Some(&ShareState::Unverified));
    assert_eq!(c.state(&ids[2]), Some(&ShareState::Unverified));
}

#[test]
fn hand_built_shares_must_be_canonical() {
    let mut c = chain();
    let mut g = c.build_share(wallet(0), &job(0)).expect("genesis");
    g.extra_nonce_size = 200;
    assert!(matches!(
        c.add(g),
        Err(otedama_sharechain::monero::AddError::Rejected(
            RuleViolation::Decode(_)
        ))
    ));
    assert!(c.is_empty());
}

/// A daemon that knows the Monero block of job 0 at height 2 999 999 (so shares on it must
/// be at 3 000 000) and refuses every PoW.
struct KnowsJobZero;

impl otedama_sharechain::monero::MoneroView for KnowsJobZero {
    fn difficulty_at(&self, _height: u64) -> Option<u128> {
        Some(1_000_000_000_000)
    }

    fn header(&self, id: &Hash) -> Option<otedama_sharechain::monero::MoneroHeader> {
        (*id == job(0).prev_id).then_some(otedama_sharechain::monero::MoneroHeader {
            height: 2_999_999,
            timestamp: 1_700_000_000,
        })
    }
}

struct RejectAll;

impl otedama_sharechain::monero::PowCheck for RejectAll {
    fn check(&self, _: &PoolShare, _: &[u8], _: u64) -> otedama_sharechain::monero::PowVerdict {
        otedama_sharechain::monero::PowVerdict::Invalid
    }
}

#[test]
fn intake_policies_use_the_monero_view_and_the_pow_seam() {
    use otedama_sharechain::monero::AddError;
    let mut c = SideChain::new(
        SidechainParams::main(),
        Box::new(KnowsJobZero),
        Box::new(NoPowCheck),
    );
    let mut wrong = job(0);
    wrong.height += 5;
    let s = c.build_share(wallet(0), &wrong).expect("genesis");
    assert!(matches!(
        c.add(s),
        Err(AddError::Rejected(RuleViolation::MoneroHeight {
            got: 3_000_005,
            expected: 3_000_000
        }))
    ));
    let good = c.build_share(wallet(0), &job(0)).expect("genesis");
    let mut strict = SideChain::new(
        SidechainParams::main(),
        Box::new(KnowsJobZero),
        Box::new(RejectAll),
    );
    assert!(matches!(
        strict.add(good.clone()),
        Err(AddError::Rejected(RuleViolation::Pow { .. }))
    ));
    add_valid(&mut c, good);
}
