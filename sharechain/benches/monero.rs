//! Monero sidechain figures on P2Pool's real data (`tests/data/monero/`): verifying the
//! whole 4 543-share dump, one share's full validation with its window (the last shares
//! of the dump, each added to a chain holding everything before it), and one RandomX
//! light-mode hash with a warm cache (what PoW adds to a share's validation).
//!
//! Run: `cargo bench -p otedama-sharechain --bench monero`

#![allow(missing_docs)]

use otedama_sharechain::monero::dump::{split_dump, verify_dump};
use otedama_sharechain::monero::randomx::RandomxVerifier;
use otedama_sharechain::monero::{
    FixedDifficulty, Hash, NoPowCheck, PoolShare, SideChain, SidechainParams,
};
use std::time::{Duration, Instant};

/// The Monero difficulty the reference pins the dump's PPLNS cap to.
const MONERO_DIFFICULTY: u128 = 625_461_936_742;
/// Shares timed one by one at the end of the dump.
const TIMED: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let xz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/monero/sidechain_dump.dat.xz"
    ))
    .expect("the dump");
    let mut raw = Vec::new();
    lzma_rs::xz_decompress(&mut &xz[..], &mut raw).expect("xz");
    let blobs = split_dump(&raw).expect("framing");
    let order: Vec<usize> = (0..blobs.len()).collect();

    let mut whole = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = verify_dump(
            SidechainParams::main(),
            &blobs,
            &order,
            Box::new(FixedDifficulty(MONERO_DIFFICULTY)),
            None,
        );
        whole.push(t.elapsed());
        assert_eq!(report.invalid, 0);
    }
    println!(
        "dump: {} shares verified in {:.2?} (median of 3, no PoW)",
        blobs.len(),
        median(whole)
    );

    let mut chain = SideChain::new(
        SidechainParams::main(),
        Box::new(FixedDifficulty(MONERO_DIFFICULTY)),
        Box::new(NoPowCheck),
    );
    let split = blobs.len() - TIMED;
    for blob in &blobs[..split] {
        chain.add_blob(blob).expect("share");
    }
    let mut each = Vec::new();
    for blob in &blobs[split..] {
        let t = Instant::now();
        chain.add_blob(blob).expect("share");
        each.push(t.elapsed());
    }
    let no_pow = median(each);
    println!("one share with its window (2 160 shares), no PoW: {no_pow:.2?} (median of {TIMED})");

    let verifier = RandomxVerifier::new(|_| None::<Hash>, 1).expect("verifier");
    let share = PoolShare::parse(blobs[blobs.len() - 1]).expect("share");
    let blob = share.hashing_blob();
    let key = [0x5a; 32];
    let t = Instant::now();
    verifier.hash(&key, &blob).expect("first hash");
    let cold = t.elapsed();
    let mut hashes = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        verifier.hash(&key, &blob).expect("hash");
        hashes.push(t.elapsed());
    }
    let pow = median(hashes);
    println!(
        "RandomX light mode: cache built and first hash {cold:.2?}, then {pow:.2?} per hash (median of 50)"
    );
    println!("one share with its window, with PoW: {:.2?}", no_pow + pow);
}
