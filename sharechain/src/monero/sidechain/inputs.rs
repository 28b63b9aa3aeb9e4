//! What the consensus reads from outside the sidechain: the node's view of Monero and a
//! RandomX proof-of-work verifier. Both are traits so that the rules stay pure and testable
//! on recorded data.

use super::super::hash::Hash;
use super::super::share::PoolShare;

/// What the node knows about Monero that P2Pool's rules read.
pub trait MoneroView {
    /// Returns the difficulty of the Monero block at `height`, if known. The PPLNS cap is
    /// twice the difficulty at the tip's RandomX seed height.
    fn difficulty_at(&self, height: u64) -> Option<u128>;

    /// Returns the height and timestamp of the Monero block `id`, if known. Fork choice
    /// between unrelated chains reads it.
    fn header(&self, id: &Hash) -> Option<MoneroHeader> {
        let _ = id;
        None
    }

    /// Returns the Monero height the node mines on, if known. Without it an unrelated
    /// chain never replaces the tip.
    fn current_height(&self) -> Option<u64> {
        None
    }
}

/// A Monero block as fork choice needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoneroHeader {
    /// Block height.
    pub height: u64,
    /// Block timestamp.
    pub timestamp: u64,
}

/// A Monero view that answers one difficulty for every height (tests, offline dumps).
#[derive(Clone, Copy, Debug)]
pub struct FixedDifficulty(pub u128);

impl MoneroView for FixedDifficulty {
    fn difficulty_at(&self, _height: u64) -> Option<u128> {
        Some(self.0)
    }
}

/// The outcome of a RandomX proof-of-work check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowVerdict {
    /// The hash meets the share difficulty.
    Valid,
    /// The hash does not meet the share difficulty.
    Invalid,
    /// Not checked (no RandomX verifier, or the seed block is unknown).
    Unchecked,
}

/// Checks a share's RandomX proof of work. The seam for a RandomX light-mode verifier:
/// it hashes `hashing_blob` with the key of Monero block `seed_height` and compares the
/// result with the share difficulty.
pub trait PowCheck {
    /// Checks `share`.
    fn check(&self, share: &PoolShare, hashing_blob: &[u8], seed_height: u64) -> PowVerdict;
}

/// Returns true when a RandomX hash meets `difficulty`: the hash, read as a 256-bit
/// little-endian integer, times the difficulty stays below 2^256.
pub fn check_pow(hash: &Hash, difficulty: u128) -> bool {
    // Multiply the four 64-bit limbs by the two 64-bit halves of the difficulty and watch
    // for anything carried past bit 255.
    let limbs: [u64; 4] = std::array::from_fn(|i| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&hash.as_bytes()[i * 8..i * 8 + 8]);
        u64::from_le_bytes(b)
    });
    let d = [difficulty as u64, (difficulty >> 64) as u64];
    let mut acc = [0u128; 6];
    for (i, &l) in limbs.iter().enumerate() {
        for (j, &dj) in d.iter().enumerate() {
            let p = u128::from(l) * u128::from(dj);
            acc[i + j] += p & u128::from(u64::MAX);
            acc[i + j + 1] += p >> 64;
        }
    }
    let mut carry = 0u128;
    for (k, a) in acc.iter().enumerate() {
        let v = a + carry;
        if k >= 4 && v as u64 != 0 {
            return false;
        }
        carry = v >> 64;
    }
    carry == 0
}

/// A PoW check that checks nothing: every share is recorded as [`PowVerdict::Unchecked`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPowCheck;

impl PowCheck for NoPowCheck {
    fn check(&self, _: &PoolShare, _: &[u8], _: u64) -> PowVerdict {
        PowVerdict::Unchecked
    }
}
