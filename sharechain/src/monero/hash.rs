//! Hashes of the Monero family: original Keccak-256 (`cn_fast_hash`), the 32-byte
//! [`Hash`] with P2Pool's ordering, and the CryptoNote tree hash.

use std::cmp::Ordering;
use std::fmt;

use tiny_keccak::{Hasher, Keccak};

/// Returns the original Keccak-256 (padding byte 0x01, not NIST SHA3) of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    keccak256_parts(&[data])
}

/// Returns Keccak-256 over the concatenation of `parts`.
pub fn keccak256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut k = Keccak::v256();
    for p in parts {
        k.update(p);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// A 32-byte hash or key as it appears on the wire.
///
/// Ordered as P2Pool orders hashes: as 256-bit little-endian unsigned integers, so byte 31
/// is the most significant. Uncle lists, merge-mining extra keys and PPLNS wallets are
/// sorted in this order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The all-zero hash (no parent, at genesis).
    pub const ZERO: Hash = Hash([0; 32]);

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Returns the raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Returns true for the all-zero hash.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// Parses 64 hex digits in wire order.
    ///
    /// # Errors
    /// [`crate::HexError`] when the string is not 32 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, crate::HexError> {
        crate::encode::hex32(s).map(Self)
    }

    /// Returns Keccak-256 of `data` as a hash.
    pub fn keccak(data: &[u8]) -> Self {
        Self(keccak256(data))
    }
}

impl Ord for Hash {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for Hash {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Returns Keccak-256 of `a || b`.
pub fn hash_pair(a: &Hash, b: &Hash) -> Hash {
    Hash(keccak256_parts(&[&a.0, &b.0]))
}

/// Most leaves [`tree_hash`] accepts.
pub const MAX_TREE_LEAVES: usize = 1 << 20;

/// Returns the CryptoNote tree hash of `leaves` (Monero's `tree_hash`), or `None` for an
/// empty list or more than [`MAX_TREE_LEAVES`].
///
/// One leaf is its own root, two are hashed together; otherwise, with `c` the largest
/// power of two below the count, the first `2c - n` leaves pass through, the rest are
/// hashed in pairs, and the `c` nodes are halved pairwise up to the root.
pub fn tree_hash(leaves: &[Hash]) -> Option<Hash> {
    // The underlying implementation asserts 2^28 leaves at most; shares carry a few thousand.
    if leaves.len() > MAX_TREE_LEAVES {
        return None;
    }
    let (first, rest) = leaves.split_first()?;
    let extra: Vec<monero::Hash> = rest.iter().map(|h| monero::Hash(h.0)).collect();
    Some(Hash(
        monero::cryptonote::hash::tree_hash(monero::Hash(first.0), &extra).0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_is_original_keccak() {
        assert_eq!(
            hex::encode(keccak256(&[0])),
            "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a"
        );
    }

    #[test]
    fn order_is_little_endian() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[0] = 0xff;
        b[31] = 0x01;
        assert!(Hash(a) < Hash(b));
    }

    #[test]
    fn tree_hash_shapes() {
        let l: Vec<Hash> = (0u8..5).map(|i| Hash([i; 32])).collect();
        assert_eq!(tree_hash(&[]), None);
        assert_eq!(tree_hash(&l[..1]), Some(l[0]));
        assert_eq!(tree_hash(&l[..2]), Some(hash_pair(&l[0], &l[1])));
        // Three leaves: the first passes through, the last two are paired.
        let three = hash_pair(&l[0], &hash_pair(&l[1], &l[2]));
        assert_eq!(tree_hash(&l[..3]), Some(three));
        // Five leaves: three pass through, the last two are paired, then 4 -> 2 -> 1.
        let n = [l[0], l[1], l[2], hash_pair(&l[3], &l[4])];
        let five = hash_pair(&hash_pair(&n[0], &n[1]), &hash_pair(&n[2], &n[3]));
        assert_eq!(tree_hash(&l), Some(five));
    }
}
