//! Helpers of the tests of every backend: headers, targets, real blocks, and the nonces
//! the reference hash accepts.

use otedama_sharechain::{CompactTarget, PowAlgorithm, Target, Work};
use std::ops::Range;

/// Decodes an 80-byte header from hex.
pub(crate) fn header_of(hex_str: &str) -> [u8; 80] {
    hex::decode(hex_str)
        .expect("hex")
        .try_into()
        .expect("80 bytes")
}

/// A header whose bytes follow from `seed`.
pub(crate) fn pseudo_header(seed: u8) -> [u8; 80] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
}

/// Target met by one hash in `n` on average.
pub(crate) fn one_in(n: u128) -> Target {
    Target::from_work(Work::from_u128(n))
}

/// Bitcoin mainnet block 0: its header (nonce bytes included), target and nonce.
pub(crate) fn bitcoin_genesis() -> ([u8; 80], Target, u32) {
    let header = header_of(concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
        "29ab5f49",
        "ffff001d",
        "00000000"
    ));
    let target = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff)).expect("bits");
    (header, target, 0x7c2b_ac1d)
}

/// Litecoin mainnet block 0: its header, target and (scrypt) nonce.
pub(crate) fn litecoin_genesis() -> ([u8; 80], Target, u32) {
    let header = header_of(concat!(
        "01000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97",
        "b9aa8e4e",
        "f0ff0f1e",
        "00000000"
    ));
    let target = Target::from_compact(CompactTarget::from_consensus(0x1e0f_fff0)).expect("bits");
    (header, target, 0x7c3f_51cd)
}

/// The nonces of `nonces` whose reference hash meets `t`.
pub(crate) fn reference(
    algo: PowAlgorithm,
    header: &[u8; 80],
    nonces: Range<u32>,
    t: &Target,
) -> Vec<u32> {
    let mut h = *header;
    nonces
        .filter(|n| {
            h[76..80].copy_from_slice(&n.to_le_bytes());
            t.is_met_by(&algo.hash(&h))
        })
        .collect()
}
