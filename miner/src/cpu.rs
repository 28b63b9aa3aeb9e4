//! The CPU backend: the default and the reference for every other backend.

use crate::backend::{HashBackend, ScanResult};
use otedama_sharechain::{PowAlgorithm, PowHash, Target};
use sha2::block_api::compress256;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// SHA-256 initial state (FIPS 180-4, section 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// How many sha256d nonces run between two looks at the stop flag.
const SHA256D_STOP_STRIDE: usize = 4096;
/// How many scrypt nonces run between two looks at the stop flag.
const SCRYPT_STOP_STRIDE: usize = 16;

/// Hashes on the CPU, one nonce range per call; run one per hashing thread.
#[derive(Debug, Clone, Copy)]
pub struct CpuBackend {
    algorithm: PowAlgorithm,
}

impl CpuBackend {
    /// Returns a CPU backend for `algorithm`.
    pub fn new(algorithm: PowAlgorithm) -> Self {
        Self { algorithm }
    }
}

impl HashBackend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn algorithm(&self) -> PowAlgorithm {
        self.algorithm
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        match self.algorithm {
            PowAlgorithm::Sha256d => scan_sha256d(header, nonces, target, stop),
            PowAlgorithm::Scrypt => {
                scan_generic(PowAlgorithm::Scrypt, header, nonces, target, stop)
            }
        }
    }
}

/// Hashes every nonce with `algorithm.hash`, the reference path.
fn scan_generic(
    algorithm: PowAlgorithm,
    header: &[u8; 80],
    nonces: Range<u32>,
    target: &Target,
    stop: &AtomicBool,
) -> ScanResult {
    let mut h = *header;
    let mut result = ScanResult::default();
    for (i, nonce) in nonces.enumerate() {
        if i % SCRYPT_STOP_STRIDE == 0 && stop.load(Ordering::Relaxed) {
            break;
        }
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        result.hashes += 1;
        if target.is_met_by(&algorithm.hash(&h)) {
            result.found.push(nonce);
        }
    }
    result
}

/// sha256d with the midstate of the first 64 header bytes computed once per range: each
/// nonce costs two compressions instead of three.
fn scan_sha256d(
    header: &[u8; 80],
    nonces: Range<u32>,
    target: &Target,
    stop: &AtomicBool,
) -> ScanResult {
    let mut midstate = SHA256_IV;
    let mut first = [0u8; 64];
    first.copy_from_slice(&header[..64]);
    compress256(&mut midstate, &[first]);

    // Second block of the 80-byte message: 16 bytes, the 0x80 pad, the bit length 640.
    let mut tail = [0u8; 64];
    tail[..16].copy_from_slice(&header[64..80]);
    tail[16] = 0x80;
    tail[56..].copy_from_slice(&640u64.to_be_bytes());
    // The outer hash's single block: the 32-byte digest, the pad, the bit length 256.
    let mut outer = [0u8; 64];
    outer[32] = 0x80;
    outer[56..].copy_from_slice(&256u64.to_be_bytes());

    // The hash is compared as a little-endian integer, so its last four bytes are the
    // most significant: reject on them before the full 256-bit comparison.
    let target_top = (target.to_u256().as_limbs()[3] >> 32) as u32;

    let mut result = ScanResult::default();
    for (i, nonce) in nonces.enumerate() {
        if i % SHA256D_STOP_STRIDE == 0 && stop.load(Ordering::Relaxed) {
            break;
        }
        tail[12..16].copy_from_slice(&nonce.to_le_bytes());
        let mut inner = midstate;
        compress256(&mut inner, &[tail]);
        for (chunk, word) in outer[..32].chunks_exact_mut(4).zip(inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        let mut state = SHA256_IV;
        compress256(&mut state, &[outer]);
        result.hashes += 1;
        // Digest bytes 28..32 are the big-endian bytes of state[7].
        if state[7].swap_bytes() > target_top {
            continue;
        }
        let mut digest = [0u8; 32];
        for (chunk, word) in digest.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        if target.is_met_by(&PowHash::from_bytes(digest)) {
            result.found.push(nonce);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_sharechain::{CompactTarget, Work};

    fn header_of(hex_str: &str) -> [u8; 80] {
        hex::decode(hex_str)
            .expect("hex")
            .try_into()
            .expect("80 bytes")
    }

    fn pseudo_header(seed: u8) -> [u8; 80] {
        std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
    }

    /// Target met by one hash in `n` on average.
    fn one_in(n: u128) -> Target {
        Target::from_work(Work::from_u128(n))
    }

    /// Scans `nonces` and checks the result against `PowAlgorithm::hash` nonce by nonce:
    /// no candidate missed, no false candidate.
    fn agrees_with_reference(algo: PowAlgorithm, header: &[u8; 80], nonces: Range<u32>, t: Target) {
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(algo).scan(header, nonces.clone(), &t, &stop);
        assert_eq!(r.hashes, u64::from(nonces.end - nonces.start));
        let mut h = *header;
        let expected: Vec<u32> = nonces
            .filter(|n| {
                h[76..80].copy_from_slice(&n.to_le_bytes());
                t.is_met_by(&algo.hash(&h))
            })
            .collect();
        assert!(!expected.is_empty(), "target too hard for the test range");
        assert_eq!(r.found, expected);
    }

    #[test]
    fn sha256d_scan_matches_reference() {
        agrees_with_reference(
            PowAlgorithm::Sha256d,
            &pseudo_header(1),
            0..20_000,
            one_in(256),
        );
        // A range far from zero, and a target whose top 32 bits are all ones.
        agrees_with_reference(
            PowAlgorithm::Sha256d,
            &pseudo_header(2),
            u32::MAX - 5000..u32::MAX,
            one_in(2),
        );
    }

    #[test]
    fn scrypt_scan_matches_reference() {
        agrees_with_reference(
            PowAlgorithm::Scrypt,
            &pseudo_header(3),
            1000..1400,
            one_in(16),
        );
    }

    /// The midstate path reproduces sha256d exactly (not only the target decision).
    #[test]
    fn sha256d_every_hash_is_met_by_max_target() {
        let stop = AtomicBool::new(false);
        let r = CpuBackend::new(PowAlgorithm::Sha256d).scan(
            &pseudo_header(4),
            0..64,
            &Target::MAX,
            &stop,
        );
        assert_eq!(r.found, (0..64).collect::<Vec<_>>());
    }

    /// Bitcoin mainnet block 0: the nonce is found at the real target in a range around it.
    #[test]
    fn finds_bitcoin_genesis_nonce() {
        let header = header_of(concat!(
            "01000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
            "29ab5f49",
            "ffff001d",
            "00000000"
        ));
        let target =
            Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff)).expect("bits");
        let stop = AtomicBool::new(false);
        let nonce = 0x7c2b_ac1d;
        let r = CpuBackend::new(PowAlgorithm::Sha256d).scan(
            &header,
            nonce - 3000..nonce + 3000,
            &target,
            &stop,
        );
        assert_eq!(r.found, vec![nonce]);
    }

    /// Litecoin mainnet block 0: the scrypt nonce is found at the real target.
    #[test]
    fn finds_litecoin_genesis_nonce() {
        let header = header_of(concat!(
            "01000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97",
            "b9aa8e4e",
            "f0ff0f1e",
            "00000000"
        ));
        let target =
            Target::from_compact(CompactTarget::from_consensus(0x1e0f_fff0)).expect("bits");
        let stop = AtomicBool::new(false);
        let nonce = 0x7c3f_51cd;
        let r = CpuBackend::new(PowAlgorithm::Scrypt).scan(
            &header,
            nonce - 40..nonce + 40,
            &target,
            &stop,
        );
        assert_eq!(r.found, vec![nonce]);
    }

    #[test]
    fn stop_flag_ends_scan_early() {
        let stop = AtomicBool::new(true);
        for algo in [PowAlgorithm::Sha256d, PowAlgorithm::Scrypt] {
            let r =
                CpuBackend::new(algo).scan(&pseudo_header(5), 0..1_000_000, &Target::MAX, &stop);
            assert_eq!(r.hashes, 0, "{algo}");
        }
    }
}
