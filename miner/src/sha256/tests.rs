//! Every sha256d kernel the CPU has against the `sha2` reference.

use super::*;
use crate::test_support::{bitcoin_genesis, header_of, one_in};
use otedama_sharechain::{CompactTarget, PowHash};
use ruint::aliases::U256;

/// A small deterministic generator (splitmix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn header(&mut self) -> [u8; 80] {
        std::array::from_fn(|_| self.next() as u8)
    }
}

/// Every kernel the CPU has, with the proof of its features.
fn kernels() -> Vec<Isa> {
    Isa::supported(PowAlgorithm::Sha256d)
}

fn with_nonce(header: &[u8; 80], nonce: u32) -> [u8; 80] {
    let mut h = *header;
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

fn reference(header: &[u8; 80], nonce: u32) -> PowHash {
    PowAlgorithm::Sha256d.hash(&with_nonce(header, nonce))
}

/// The most significant 32 bits of a hash read as a little-endian integer.
fn top_word(h: &PowHash) -> u32 {
    let b = h.to_bytes();
    u32::from_le_bytes([b[28], b[29], b[30], b[31]])
}

/// The filter of every kernel passes exactly the nonces whose hash has a top word at or
/// below the target's: the kernels compute the outer hash's last word bit for bit.
#[test]
fn filter_matches_reference_top_word() {
    let mut rng = Rng(1);
    let stop = AtomicBool::new(false);
    for kernel in kernels() {
        for _ in 0..40 {
            let header = rng.header();
            let len = 1 + rng.below(200) as u32;
            let start = if rng.below(4) == 0 {
                u32::MAX - len
            } else {
                rng.next() as u32 / 2
            };
            // A random top word passes about half the nonces.
            let top = rng.next() as u32;
            let target = Target::from_u256((U256::from(top) << 224) | (U256::MAX >> 32));
            let job = Sha256dJob::new(&header, &target);
            assert_eq!(job.target_top, top);
            let c = candidates(kernel, &job, start..start + len, &stop);
            let expected: Vec<u32> = (start..start + len)
                .filter(|&n| top_word(&reference(&header, n)) <= top)
                .collect();
            assert_eq!(c.hashes, u64::from(len), "{kernel}");
            assert_eq!(
                c.nonces,
                expected,
                "{kernel} header {}",
                hex::encode(header)
            );
        }
    }
}

/// Random headers and targets of many difficulties: `scan` returns exactly the nonces
/// the reference accepts.
#[test]
fn scan_matches_reference_on_random_headers() {
    let mut rng = Rng(2);
    let stop = AtomicBool::new(false);
    for kernel in kernels() {
        for round in 0..60u32 {
            let header = rng.header();
            let len = 1 + rng.below(600) as u32;
            let start = rng.next() as u32 / 2;
            let target = match round % 4 {
                0 => Target::MAX,
                1 => one_in(1 << rng.below(8)),
                // Some hash of the range exactly: the comparison is `<=`.
                2 => Target::from_u256(U256::from_le_bytes(
                    reference(&header, start + rng.below(u64::from(len)) as u32).to_bytes(),
                )),
                _ => one_in(u128::from(rng.below(50) + 2)),
            };
            let r = scan(kernel, &header, start..start + len, &target, &stop);
            let expected: Vec<u32> = (start..start + len)
                .filter(|&n| target.is_met_by(&reference(&header, n)))
                .collect();
            assert_eq!(r.hashes, u64::from(len));
            assert_eq!(r.found, expected, "{kernel} round {round}");
        }
    }
}

/// Over a long range at an easy target, no winning nonce is missed and none is invented.
#[test]
fn full_range_finds_exactly_the_reference_winners() {
    let header = Rng(3).header();
    let target = one_in(2000);
    let range = 1_000_000..1_120_000;
    let expected: Vec<u32> = range
        .clone()
        .filter(|&n| target.is_met_by(&reference(&header, n)))
        .collect();
    assert!(expected.len() > 20, "{} winners", expected.len());
    let stop = AtomicBool::new(false);
    for kernel in kernels() {
        let r = scan(kernel, &header, range.clone(), &target, &stop);
        assert_eq!(r.hashes, 120_000);
        assert_eq!(r.found, expected, "{kernel}");
    }
}

/// Bitcoin mainnet blocks 0 and 125552: each kernel finds the real nonce at the real
/// target, and nothing else in a window around it.
#[test]
fn finds_real_bitcoin_nonces() {
    let blocks = [
        bitcoin_genesis(),
        (
            header_of(concat!(
                "01000000",
                "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
                "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
                "c7f5d74d",
                "f2b9441a",
                "00000000"
            )),
            Target::from_compact(CompactTarget::from_consensus(0x1a44_b9f2)).expect("bits"),
            0x9546_a142,
        ),
    ];
    let stop = AtomicBool::new(false);
    for (header, target, nonce) in blocks {
        for kernel in kernels() {
            let r = scan(kernel, &header, nonce - 3001..nonce + 2999, &target, &stop);
            assert_eq!(r.found, vec![nonce], "{kernel}");
            // At a target one below the hash, the nonce is no longer found.
            let exact = U256::from_le_bytes(reference(&header, nonce).to_bytes());
            let harder = Target::from_u256(exact - U256::from(1u8));
            let r = scan(kernel, &header, nonce - 40..nonce + 40, &harder, &stop);
            assert!(r.found.is_empty(), "{kernel}");
        }
    }
}

#[test]
fn stop_flag_and_empty_ranges() {
    let header = Rng(4).header();
    for kernel in kernels() {
        let r = scan(
            kernel,
            &header,
            0..1_000_000,
            &Target::MAX,
            &AtomicBool::new(true),
        );
        assert_eq!(r.hashes, 0, "{kernel}");
        let r = scan(kernel, &header, 7..7, &Target::MAX, &AtomicBool::new(false));
        assert_eq!((r.hashes, r.found.len()), (0, 0), "{kernel}");
    }
}
