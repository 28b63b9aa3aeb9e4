//! What proves a parent block's work beyond its 80-byte header.
//!
//! A Bitcoin-family header is its own proof: the 32-bit nonce is in the 80 bytes that
//! SHA256d or Scrypt hash ([`Seal::Nonce`]). Ravencoin's KawPow header is 120 bytes:
//! the 80 bytes hold the block height where the nonce was, and a [`KawpowSeal`] (a
//! 64-bit nonce and the mix hash) follows ([`Seal::Kawpow`]):
//!
//! - the *header hash* KawPow starts from is sha256d of the 80 bytes, handed to
//!   ProgPoW in display byte order ([`kawpow_header_hash`]);
//! - the final hash, compared big-endian with the target, is the proof of work, and
//!   also the block's id ([`kawpow_block_hash`]: cheap, from the claimed mix);
//! - the mix is stored in the header reversed (Ravencoin keeps it as a `uint256`).
//!
//! [`KawpowVerifier`] proves the mix with the epoch's light cache (16 MiB and up,
//! seconds to build), keeping the last few epochs.

use crate::encode::Reader;
use crate::error::DecodeError;
use crate::ethash::Epoch;
use crate::ethash::kawpow::{self, KawpowContext};
use crate::{BlockHash, BlockHeader, PowHash, sha256d};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How a chain's headers prove their work.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Seal {
    /// The 80-byte header alone (its 32-bit nonce): Bitcoin, Litecoin.
    Nonce,
    /// KawPow: the 80 bytes carry the height, then a [`KawpowSeal`] (Ravencoin).
    Kawpow,
}

impl Seal {
    /// A stable one-byte code, part of the consensus id of sealed chains.
    pub const fn code(self) -> u8 {
        match self {
            Seal::Nonce => 0,
            Seal::Kawpow => 1,
        }
    }
}

/// A KawPow header's last 40 bytes: the 64-bit nonce and the mix hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KawpowSeal {
    /// The nonce.
    pub nonce: u64,
    /// The mix hash, in ProgPoW's byte order (as miners send it).
    pub mix: [u8; 32],
}

impl KawpowSeal {
    /// Encoded size.
    pub const SIZE: usize = 40;

    /// Returns the header's last 40 bytes: the nonce little-endian, the mix reversed.
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(&self.nonce.to_le_bytes());
        let mut mix = self.mix;
        mix.reverse();
        b[8..].copy_from_slice(&mix);
        b
    }

    /// Reads the header's last 40 bytes.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer than 40 bytes remain.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let nonce = r.u64("seal.nonce")?;
        let mut mix: [u8; 32] = r.array("seal.mix")?;
        mix.reverse();
        Ok(Self { nonce, mix })
    }
}

/// KawPow's header hash: sha256d of the 80 bytes, in the byte order ProgPoW hashes
/// (the hash's display order).
pub fn kawpow_header_hash(header: &BlockHeader) -> [u8; 32] {
    let mut h = sha256d(&header.to_bytes());
    h.reverse();
    h
}

/// The id of a KawPow block: its final hash, computed from the claimed mix.
pub fn kawpow_block_hash(header: &BlockHeader, seal: &KawpowSeal) -> BlockHash {
    let mut id = kawpow::final_hash_of(&kawpow_header_hash(header), seal.nonce, &seal.mix);
    id.reverse();
    BlockHash::from_bytes(id)
}

/// Why a KawPow seal proves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The height in the header is past the last supported epoch.
    #[error("height {0} is past the last KawPow epoch")]
    Epoch(u64),
    /// The mix hash is not the one the header and nonce give.
    #[error("the mix hash does not match the header and nonce")]
    BadMix,
}

/// Epoch contexts kept: the current one, and the last for shares across a boundary.
const KEPT_EPOCHS: usize = 2;

/// Proves KawPow seals with the light caches of the last few epochs. Building a cache
/// blocks the caller (a second or more); everything else takes milliseconds.
#[derive(Default)]
pub struct KawpowVerifier {
    contexts: Mutex<VecDeque<(Epoch, Arc<KawpowContext>)>>,
}

impl std::fmt::Debug for KawpowVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contexts = self.contexts.lock().unwrap_or_else(PoisonError::into_inner);
        let epochs: Vec<u32> = contexts.iter().map(|(e, _)| e.number).collect();
        f.debug_struct("KawpowVerifier")
            .field("epochs", &epochs)
            .finish()
    }
}

impl KawpowVerifier {
    /// A verifier with no cache built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the context of the epoch of block `height`, building it if needed.
    ///
    /// # Errors
    /// [`SealError::Epoch`] past the last supported epoch.
    pub fn context(&self, height: u64) -> Result<Arc<KawpowContext>, SealError> {
        let epoch = kawpow::epoch(height).map_err(|_| SealError::Epoch(height))?;
        let mut contexts = self.contexts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, ctx)) = contexts.iter().find(|(e, _)| *e == epoch) {
            return Ok(Arc::clone(ctx));
        }
        let ctx = Arc::new(KawpowContext::new(epoch));
        if contexts.len() >= KEPT_EPOCHS {
            contexts.pop_front();
        }
        contexts.push_back((epoch, Arc::clone(&ctx)));
        Ok(ctx)
    }

    /// Returns the proof of work of a sealed header (the final hash, in [`PowHash`]'s
    /// byte order) once its mix is proven. The height is the header's: its last four
    /// bytes.
    ///
    /// # Errors
    /// [`SealError`]: a height past the last epoch, or a mix that does not match.
    pub fn pow(&self, header: &BlockHeader, seal: &KawpowSeal) -> Result<PowHash, SealError> {
        let height = u64::from(header.nonce);
        let h = self
            .context(height)?
            .hash(height, &kawpow_header_hash(header), seal.nonce);
        if h.mix != seal.mix {
            return Err(SealError::BadMix);
        }
        let mut pow = h.result;
        pow.reverse();
        Ok(PowHash::from_bytes(pow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompactTarget;

    fn header() -> BlockHeader {
        BlockHeader {
            version: 0x2000_0000,
            prev_block: BlockHash::from_bytes([7; 32]),
            merkle_root: [9; 32],
            time: 1_700_000_000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 12,
        }
    }

    #[test]
    fn the_seal_is_stored_as_ravencoin_serializes_it() {
        let mut mix = [0u8; 32];
        mix[0] = 0xaa;
        mix[31] = 0x01;
        let seal = KawpowSeal {
            nonce: 0x0102_0304_0506_0708,
            mix,
        };
        let b = seal.to_bytes();
        assert_eq!(b[..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!((b[8], b[39]), (0x01, 0xaa));
        let back = KawpowSeal::decode(&mut Reader::new(&b)).expect("40 bytes");
        assert_eq!(back, seal);
        assert!(KawpowSeal::decode(&mut Reader::new(&b[..39])).is_err());
    }

    #[test]
    fn the_header_hash_is_sha256d_in_display_order() {
        let h = header();
        let mut want = sha256d(&h.to_bytes());
        want.reverse();
        assert_eq!(kawpow_header_hash(&h), want);
        assert_eq!(hex::encode(want), h.block_hash().to_string());
    }

    /// A mined epoch-0 seal proves itself, its block id is the final hash, and a flipped
    /// mix byte or a height in another period is refused.
    #[test]
    fn the_verifier_proves_the_mix() {
        let verifier = KawpowVerifier::new();
        let h = header();
        let ctx = verifier.context(12).expect("epoch 0");
        let hash = ctx.hash(12, &kawpow_header_hash(&h), 5);
        let seal = KawpowSeal {
            nonce: 5,
            mix: hash.mix,
        };
        let pow = verifier.pow(&h, &seal).expect("valid");
        let mut be = pow.to_bytes();
        be.reverse();
        assert_eq!(be, hash.result);
        assert_eq!(
            kawpow_block_hash(&h, &seal).to_string(),
            hex::encode(hash.result)
        );
        let mut bad = seal;
        bad.mix[3] ^= 1;
        assert_eq!(verifier.pow(&h, &bad), Err(SealError::BadMix));
        let mut other = h;
        other.nonce = 15;
        assert_eq!(verifier.pow(&other, &seal), Err(SealError::BadMix));
        let mut far = h;
        far.nonce = u32::MAX;
        assert_eq!(
            verifier.pow(&far, &seal),
            Err(SealError::Epoch(u64::from(u32::MAX)))
        );
    }
}
