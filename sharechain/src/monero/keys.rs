//! Monero key arithmetic on ed25519: key derivations, one-time output keys, view tags and
//! P2Pool's deterministic transaction keys.
//!
//! Points travel as 32-byte compressed encodings ([`Hash`]); a key that does not
//! decompress makes the operation return `None`, never panic.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;

use super::hash::{Hash, keccak256, keccak256_parts};
use super::varint::write_varint;

/// Decompresses a point, as Monero's `ge_frombytes_vartime`.
fn point(key: &Hash) -> Option<EdwardsPoint> {
    let p = CompressedEdwardsY(*key.as_bytes()).decompress()?;
    // Monero rejects encodings whose y is not reduced mod p; dalek accepts them, so a
    // re-compression must give back the same bytes (the x = 0, sign = 1 case included).
    (p.compress().as_bytes() == key.as_bytes()).then_some(p)
}

/// Returns true when `key` is a valid curve point (Monero `check_key`).
pub fn check_key(key: &Hash) -> bool {
    point(key).is_some()
}

/// Returns true when `key` is a valid point in the prime-order subgroup.
pub fn check_torsion(key: &Hash) -> bool {
    point(key).is_some_and(|p| p.is_torsion_free() && !p.is_small_order())
}

/// Returns the secret scalar of a 32-byte key, reduced mod l.
fn scalar(sec: &Hash) -> Scalar {
    Scalar::from_bytes_mod_order(*sec.as_bytes())
}

/// Returns the key derivation `8 * sec * public` (Monero `generate_key_derivation`).
pub fn key_derivation(public: &Hash, sec: &Hash) -> Option<Hash> {
    let p = point(public)?;
    let d = (scalar(sec) * p).mul_by_cofactor();
    Some(Hash::from_bytes(d.compress().to_bytes()))
}

/// Returns `Hs(derivation || varint index)` (Monero `derivation_to_scalar`).
fn derivation_scalar(derivation: &Hash, index: u64) -> Scalar {
    let mut buf = Vec::with_capacity(42);
    buf.extend_from_slice(derivation.as_bytes());
    write_varint(&mut buf, index);
    Scalar::from_bytes_mod_order(keccak256(&buf))
}

/// Returns the one-time key `Hs(derivation || index) * G + spend` (Monero `derive_public_key`).
pub fn derive_public_key(derivation: &Hash, index: u64, spend: &Hash) -> Option<Hash> {
    let b = point(spend)?;
    let p = ED25519_BASEPOINT_TABLE * &derivation_scalar(derivation, index) + b;
    Some(Hash::from_bytes(p.compress().to_bytes()))
}

/// Returns the view tag: the first byte of `keccak("view_tag" || derivation || varint index)`.
pub fn derive_view_tag(derivation: &Hash, index: u64) -> u8 {
    let mut idx = Vec::with_capacity(10);
    write_varint(&mut idx, index);
    keccak256_parts(&[b"view_tag", derivation.as_bytes(), &idx])[0]
}

/// Returns `sec * G` for a secret key.
pub fn public_key(sec: &Hash) -> Hash {
    Hash::from_bytes(
        (ED25519_BASEPOINT_TABLE * &scalar(sec))
            .compress()
            .to_bytes(),
    )
}

/// `15 * l`, the largest multiple of the group order below 2^256, little-endian.
const FIFTEEN_L: [u8; 32] = [
    0xe3, 0x6a, 0x67, 0x72, 0x8b, 0xce, 0x13, 0x29, 0x8f, 0x30, 0x82, 0x8c, 0x0b, 0xa4, 0x10, 0x39,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0,
];

/// Returns true when `a < b`, both read as 256-bit little-endian integers.
fn less_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().lt(b.iter().rev())
}

/// Returns P2Pool's deterministic transaction key pair `(secret, public)` for a block
/// built with `seed` (the txkeySecSeed) on Monero block `prev_id`.
///
/// The secret is the first `keccak("tx_secret_key" || seed || prev_id || counter)` (counter
/// a u32 LE from 1) that lies below `15 * l`, reduced mod l and non-zero; rejecting the top
/// of the range keeps the reduction unbiased.
pub fn deterministic_tx_keys(seed: &Hash, prev_id: &Hash) -> (Hash, Hash) {
    let mut counter: u32 = 1;
    loop {
        let h = keccak256_parts(&[
            b"tx_secret_key",
            seed.as_bytes(),
            prev_id.as_bytes(),
            &counter.to_le_bytes(),
        ]);
        if less_le(&h, &FIFTEEN_L) {
            let s = Scalar::from_bytes_mod_order(h);
            if s != Scalar::ZERO {
                let sec = Hash::from_bytes(s.to_bytes());
                return (sec, public_key(&sec));
            }
        }
        // Each try fails with probability about 1/16, so 2^32 failures cannot happen.
        counter = counter.wrapping_add(1);
    }
}

/// One payout output: the one-time key and its view tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputKey {
    /// The one-time public key.
    pub key: Hash,
    /// The 1-byte view tag.
    pub view_tag: u8,
}

/// Returns output `index` of a transaction with secret key `tx_sec` paying the wallet
/// (`spend`, `view`), or `None` if a wallet key is not a point.
pub fn output_key(tx_sec: &Hash, spend: &Hash, view: &Hash, index: u64) -> Option<OutputKey> {
    let d = key_derivation(view, tx_sec)?;
    Some(OutputKey {
        key: derive_public_key(&d, index, spend)?,
        view_tag: derive_view_tag(&d, index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_l_is_right() {
        // l = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] =
            Hash::from_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .expect("hex")
                .as_bytes()
                .to_owned();
        let mut acc = [0u8; 32];
        for _ in 0..15 {
            let mut carry = 0u16;
            for i in 0..32 {
                let s = u16::from(acc[i]) + u16::from(l[i]) + carry;
                acc[i] = s as u8;
                carry = s >> 8;
            }
            assert_eq!(carry, 0);
        }
        assert_eq!(acc, FIFTEEN_L);
        // A 16th multiple would not fit in 256 bits.
        assert!(acc[31] >= 0xf0);
    }
}
