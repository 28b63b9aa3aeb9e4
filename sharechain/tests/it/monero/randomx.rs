//! RandomX light-mode PoW of real shares through the sidechain's PoW seam.

use otedama_sharechain::monero::randomx::{DEFAULT_CACHES, RandomxVerifier};
use otedama_sharechain::monero::{
    AddError, FixedDifficulty, Hash, PoolShare, PowVerdict, RuleViolation, SideChain,
    SidechainParams,
};

/// The Monero block id P2Pool's test hashes `block.dat` under.
const BLOCK_DAT_SEED: &str = "bf513dbe52c22b09e65edae222ec902d6adb75585a0141b81a165f0fb0c9c0bc";
/// P2Pool's expected PoW hash of `block.dat`.
const BLOCK_DAT_POW: &str = "0906c001cc0900098fe1b62593f8ba52bd1ae2a0806096aa361a9f1702000000";

fn block() -> PoolShare {
    let blob = std::fs::read(super::data("block.dat")).expect("block.dat");
    PoolShare::parse(&blob).expect("parses")
}

fn seed(_: u64) -> Option<Hash> {
    Hash::from_hex(BLOCK_DAT_SEED).ok()
}

#[test]
fn block_dat_pow_hash_is_p2pools() {
    let v = RandomxVerifier::new(seed, DEFAULT_CACHES).expect("start");
    let share = block();
    let pow = v.pow_hash(&share).expect("hash").expect("seed known");
    assert_eq!(hex::encode(pow.as_bytes()), BLOCK_DAT_POW);

    // Through the seam: the share enters the sidechain with a valid PoW verdict.
    let mut chain = SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(u128::MAX)),
        Box::new(v),
    );
    let id = chain.add(share).expect("accepted");
    assert_eq!(chain.pow_verdict(&id), Some(PowVerdict::Valid));
}

#[test]
fn a_share_whose_pow_misses_its_difficulty_is_rejected() {
    // Under another seed block the same share hashes to an unrelated value, which misses
    // the share difficulty (about 2^-28 odds of passing).
    let wrong_seed = |_: u64| Some(Hash::keccak(b"not the seed block"));
    let v = RandomxVerifier::new(wrong_seed, DEFAULT_CACHES).expect("start");
    let share = block();
    let difficulty = share.difficulty;
    let mut chain = SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(u128::MAX)),
        Box::new(v),
    );
    match chain.add(share) {
        Err(AddError::Rejected(RuleViolation::Pow { difficulty: d })) => {
            assert_eq!(d, difficulty);
        }
        other => panic!("expected a PoW rejection, got {other:?}"),
    }
}

#[test]
fn an_unknown_seed_block_leaves_the_pow_unchecked() {
    let v = RandomxVerifier::new(|_: u64| None, DEFAULT_CACHES).expect("start");
    let mut chain = SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(u128::MAX)),
        Box::new(v),
    );
    let id = chain.add(block()).expect("accepted");
    assert_eq!(chain.pow_verdict(&id), Some(PowVerdict::Unchecked));
}
