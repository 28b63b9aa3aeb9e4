//! Every scrypt kernel the CPU has against the `scrypt` crate.

use super::*;
use crate::test_support::litecoin_genesis;
use otedama_sharechain::{PowAlgorithm, Work};

/// Every kernel the CPU has, with the proof of its features.
fn kernels() -> Vec<Isa> {
    Isa::supported(PowAlgorithm::Scrypt)
}

fn with_nonce(header: &[u8; 80], nonce: u32) -> [u8; 80] {
    let mut h = *header;
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

fn pseudo_header(seed: u8) -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(73).wrapping_add(seed) ^ 0x5a)
}

/// Each kernel's hash of every nonce equals the reference, over more nonces than one
/// batch holds and ending in a partial batch.
#[test]
fn hashes_match_reference() {
    let stop = AtomicBool::new(false);
    for (seed, kernel) in (1u8..).zip(kernels()) {
        let header = pseudo_header(seed);
        let n = 2 * kernel.lanes(PowAlgorithm::Scrypt) as u32 + 3;
        let start = u32::MAX - 1000 * u32::from(seed);
        let mut got = Vec::new();
        let hashes = hash_range(kernel, &header, start..start + n, &stop, &mut |nonce, h| {
            got.push((nonce, h))
        });
        assert_eq!(hashes, u64::from(n));
        let expected: Vec<_> = (start..start + n)
            .map(|nonce| {
                let h = PowAlgorithm::Scrypt.hash(&with_nonce(&header, nonce));
                (nonce, h.to_bytes())
            })
            .collect();
        assert_eq!(got, expected, "{kernel}");
    }
}

/// A scan at an easy target returns exactly the nonces the reference accepts.
#[test]
fn scan_matches_reference() {
    let header = pseudo_header(99);
    let target = Target::from_work(Work::from_u128(6));
    let range = 5000..5100;
    let expected: Vec<u32> = range
        .clone()
        .filter(|&n| target.is_met_by(&PowAlgorithm::Scrypt.hash(&with_nonce(&header, n))))
        .collect();
    assert!(expected.len() > 5);
    for kernel in kernels() {
        let r = scan(
            kernel,
            &header,
            range.clone(),
            &target,
            &AtomicBool::new(false),
        );
        assert_eq!(r.hashes, 100);
        assert_eq!(r.found, expected, "{kernel}");
    }
}

/// Litecoin mainnet block 0: each kernel finds the real nonce at the real target.
#[test]
fn finds_litecoin_genesis_nonce() {
    let (header, target, nonce) = litecoin_genesis();
    for kernel in kernels() {
        let r = scan(
            kernel,
            &header,
            nonce - 11..nonce + 10,
            &target,
            &AtomicBool::new(false),
        );
        assert_eq!(r.found, vec![nonce], "{kernel}");
    }
}

#[test]
fn stop_flag_and_empty_ranges() {
    for kernel in kernels() {
        let header = pseudo_header(7);
        let r = scan(
            kernel,
            &header,
            0..1_000_000,
            &Target::MAX,
            &AtomicBool::new(true),
        );
        assert_eq!(r.hashes, 0, "{kernel}");
        let r = scan(kernel, &header, 9..9, &Target::MAX, &AtomicBool::new(false));
        assert_eq!((r.hashes, r.found.len()), (0, 0), "{kernel}");
    }
}
