//! The P2Pool share ("pool block"): a full Monero block template followed directly by the
//! sidechain data, parsed and written byte for byte.
//!
//! Layout (all integers are canonical Monero varints unless noted):
//!
//! ```text
//! header:   major u8 | minor u8 | timestamp | prev_id 32 | nonce u32 LE
//! miner tx: 0x02 | unlock = height + 60 | 0x01 0xff height | n_out
//!           n_out x (amount | 0x03 | key 32 | view_tag u8)
//!           extra_len | 0x01 R 32 | 0x02 size(4..=14) extra_nonce u32 LE, zero padding
//!           | 0x03 tag_len tree_data root 32 | 0x00 (rct null)
//! txs:      n | n x hash 32
//! sidechain: spend 32 | view 32 | tx_key_seed 32 | parent 32 | k (<= 5) | k x uncle 32
//!           | height | diff lo | diff hi | cum lo | cum hi | m u8 (<= 8) | m x proof 32
//!           | c (<= 256) | c x (chain id 32 | len | bytes) | extra 4 x u32 LE
//! ```
//!
//! Only the full (unpruned, non-compact) form is accepted here; it is what P2Pool stores,
//! answers block requests with, and what Otedama's own mesh carries.

use crate::encode::Reader;
use crate::error::DecodeError;

use super::hash::Hash;
use super::varint::{read_varint, write_varint};
use super::wallet::Wallet;

/// Largest share blob, bytes (128 KiB - 5).
pub const MAX_SHARE_SIZE: usize = 131_067;
/// Highest Monero block height a coinbase may name.
pub const MAX_MONERO_HEIGHT: u64 = 500_000_000;
/// Largest output amount (2^56 - 1).
pub const MAX_OUTPUT_AMOUNT: u64 = (1 << 56) - 1;
/// Smallest total coinbase reward, atomic units (0.6 XMR, Monero's tail emission).
pub const MIN_BLOCK_REWARD: u64 = 600_000_000_000;
/// Coinbase outputs unlock this many blocks after the block.
pub const UNLOCK_BLOCKS: u64 = 60;
/// Most uncles per share.
pub const MAX_UNCLES: usize = 5;
/// Highest sidechain height.
pub const MAX_SIDECHAIN_HEIGHT: u64 = 31_556_952_000;
/// Largest cumulative difficulty.
pub const MAX_CUMULATIVE_DIFFICULTY: u128 = (1710u128 << 64) | 13_019_633_956_666_736_640;
/// Most hashes in an aux-chain merkle proof.
pub const MAX_MERKLE_PROOF: usize = 8;
/// Most merge-mining extra entries.
pub const MAX_MM_EXTRA: u64 = 256;
/// Extra-nonce field size bounds.
pub const EXTRA_NONCE_MIN: u8 = 4;
/// See [`EXTRA_NONCE_MIN`].
pub const EXTRA_NONCE_MAX: u8 = 14;

const TX_VERSION: u8 = 2;
const TXIN_GEN: u8 = 0xff;
const TXOUT_TO_TAGGED_KEY: u8 = 3;
const EXTRA_PUBKEY: u8 = 1;
const EXTRA_NONCE: u8 = 2;
const EXTRA_MERGE_MINING: u8 = 3;
/// Smallest encoded output: 1-byte amount, type, key, view tag.
const MIN_OUTPUT_SIZE: usize = 35;

/// One coinbase output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOutput {
    /// Atomic units.
    pub amount: u64,
    /// One-time public key.
    pub key: Hash,
    /// View tag.
    pub view_tag: u8,
}

/// A P2Pool share, every field as on the wire.
///
/// [`PoolShare::parse`] enforces the format rules; [`PoolShare::serialize`] writes the same
/// bytes back. The fields are plain data: a share built by hand is checked only when it is
/// parsed or verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolShare {
    /// Monero block major version.
    pub major_version: u8,
    /// Monero block minor version.
    pub minor_version: u8,
    /// Block timestamp, seconds.
    pub timestamp: u64,
    /// Id of the Monero block this one builds on.
    pub prev_id: Hash,
    /// Header nonce.
    pub nonce: u32,
    /// Monero height (the coinbase's `txin_gen` height).
    pub height: u64,
    /// Coinbase outputs, one per PPLNS payee.
    pub outputs: Vec<TxOutput>,
    /// Transaction public key `R`.
    pub tx_pub: Hash,
    /// Size of the extra-nonce field (4..=14; padding keeps the coinbase size constant).
    pub extra_nonce_size: u8,
    /// The extra nonce (first four bytes of the field).
    pub extra_nonce: u32,
    /// Merge-mining merkle tree data (aux chain count and nonce).
    pub merkle_tree_data: u64,
    /// Merge-mining merkle root.
    pub merkle_root: Hash,
    /// Hashes of the block's transactions, without the coinbase.
    pub tx_hashes: Vec<Hash>,
    /// The miner's wallet.
    pub wallet: Wallet,
    /// Seed of the deterministic transaction key.
    pub tx_key_seed: Hash,
    /// Sidechain id of the parent share (zero at genesis).
    pub parent: Hash,
    /// Sidechain ids of the uncles.
    pub uncles: Vec<Hash>,
    /// Sidechain height.
    pub sidechain_height: u64,
    /// Share difficulty.
    pub difficulty: u128,
    /// Cumulative difficulty including this share and its uncles.
    pub cumulative_difficulty: u128,
    /// Aux-chain merkle proof of the sidechain id.
    pub merkle_proof: Vec<Hash>,
    /// Merge-mining extra data, strictly ascending by chain id.
    pub mm_extra: Vec<(Hash, Vec<u8>)>,
    /// Software id, software version, a random word and the sidechain extra nonce.
    pub sidechain_extra: [u32; 4],
}

/// Outputs a pruned broadcast left out: the receiver rebuilds them from its chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrunedOutputs {
    /// Sum of the left-out amounts.
    pub total_reward: u64,
    /// Encoded size of the output list (count and outputs).
    pub outputs_size: usize,
    /// The share's sidechain id, which the rebuilt share must reproduce.
    pub sidechain_id: Hash,
}

/// What a broadcast form leaves for the chain to fill in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BroadcastParts {
    /// Pruned outputs, if pruned.
    pub pruned: Option<PrunedOutputs>,
    /// Per transaction: 0 for a literal hash, j >= 1 for the parent's j-th transaction.
    pub tx_refs: Vec<u64>,
}

/// Byte offsets inside a serialised share, for ids that blank some fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Length of the block header.
    pub header_len: usize,
    /// Offset of the 4-byte header nonce.
    pub nonce: usize,
    /// Offset of the 4-byte extra nonce.
    pub extra_nonce: usize,
    /// Offset of the 32-byte merge-mining merkle root.
    pub merkle_root: usize,
    /// End of the coinbase (after its final rct byte).
    pub miner_tx_end: usize,
    /// Length of the Monero block (header, coinbase, tx list).
    pub mainchain_len: usize,
}

fn hash(r: &mut Reader<'_>, what: &'static str) -> Result<Hash, DecodeError> {
    r.array(what).map(Hash::from_bytes)
}

fn expect(r: &mut Reader<'_>, byte: u8, what: &'static str) -> Result<(), DecodeError> {
    if r.u8(what)? == byte {
        Ok(())
    } else {
        Err(DecodeError::Invalid { what })
    }
}

fn read_difficulty(r: &mut Reader<'_>, what: &'static str) -> Result<u128, DecodeError> {
    let lo = read_varint(r, u64::MAX, what)?;
    let hi = read_varint(r, u64::MAX, what)?;
    Ok((u128::from(hi) << 64) | u128::from(lo))
}

fn write_difficulty(out: &mut Vec<u8>, d: u128) {
    write_varint(out, d as u64);
    write_varint(out, (d >> 64) as u64);
}

impl PoolShare {
    /// Parses a full share blob.
    ///
    /// Checks everything that needs no context: sizes and counts, canonical varints, the
    /// exact coinbase shape P2Pool writes, amounts, the unlock time, the tx_extra layout and
    /// lengths, wallet keys, uncle count, height and difficulty bounds, the order of
    /// merge-mining extra keys, and that nothing follows the sidechain extra.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field.
    pub fn parse(blob: &[u8]) -> Result<Self, DecodeError> {
        Self::parse_form(blob, false, false).map(|(share, _)| share)
    }

    /// Parses a full, pruned and/or compact blob (P2Pool's broadcast forms). Pruned outputs
    /// and compact tx references come back in [`BroadcastParts`] for the chain to resolve.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field.
    pub(crate) fn parse_form(
        blob: &[u8],
        allow_pruned: bool,
        compact: bool,
    ) -> Result<(Self, BroadcastParts), DecodeError> {
        let mut parts = BroadcastParts::default();
        if blob.len() > MAX_SHARE_SIZE {
            return Err(DecodeError::TooLong {
                what: "share",
                len: blob.len() as u64,
                max: MAX_SHARE_SIZE as u64,
            });
        }
        let mut r = Reader::new(blob);
        let major_version = r.u8("major version")?;
        let minor_version = r.u8("minor version")?;
        if minor_version < major_version || minor_version > 127 {
            return Err(DecodeError::Invalid {
                what: "minor version",
            });
        }
        let timestamp = read_varint(&mut r, u64::MAX, "timestamp")?;
        let prev_id = hash(&mut r, "prev id")?;
        let nonce = r.u32("nonce")?;

        expect(&mut r, TX_VERSION, "tx version")?;
        let unlock = read_varint(&mut r, MAX_MONERO_HEIGHT, "unlock time")?;
        expect(&mut r, 1, "input count")?;
        expect(&mut r, TXIN_GEN, "input type")?;
        let height = read_varint(&mut r, MAX_MONERO_HEIGHT, "height")?;
        if unlock != height + UNLOCK_BLOCKS {
            return Err(DecodeError::Invalid {
                what: "unlock time",
            });
        }
        let max_out = (r.remaining() / MIN_OUTPUT_SIZE) as u64;
        let n_out = read_varint(&mut r, max_out, "outputs")?;
        let mut outputs = Vec::with_capacity(n_out as usize);
        let mut total: u64 = 0;
        if n_out == 0 {
            // A pruned broadcast: its outputs must be rebuilt from the chain first.
            if !allow_pruned {
                return Err(DecodeError::Invalid {
                    what: "outputs (pruned form)",
                });
            }
            total = read_varint(&mut r, u64::MAX, "total reward")?;
            let size = read_varint(&mut r, MAX_SHARE_SIZE as u64, "outputs size")?;
            let id = hash(&mut r, "sidechain id")?;
            if size == 0 || id.is_zero() {
                return Err(DecodeError::Invalid {
                    what: "pruned outputs",
                });
            }
            parts.pruned = Some(PrunedOutputs {
                total_reward: total,
                outputs_size: size as usize,
                sidechain_id: id,
            });
        }
        for _ in 0..n_out {
            let amount = read_varint(&mut r, MAX_OUTPUT_AMOUNT, "output amount")?;
            total = total.checked_add(amount).ok_or(DecodeError::Invalid {
                what: "output total",
            })?;
            expect(&mut r, TXOUT_TO_TAGGED_KEY, "output type")?;
            let key = hash(&mut r, "output key")?;
            let view_tag = r.u8("view tag")?;
            outputs.push(TxOutput {
                amount,
                key,
                view_tag,
            });
        }
        if total < MIN_BLOCK_REWARD {
            return Err(DecodeError::Invalid {
                what: "block reward",
            });
        }

        let left = r.remaining() as u64;
        let extra_len = read_varint(&mut r, left, "tx extra length")?;
        let extra_start = r.remaining();
        expect(&mut r, EXTRA_PUBKEY, "tx extra pubkey tag")?;
        let tx_pub = hash(&mut r, "tx pubkey")?;
        expect(&mut r, EXTRA_NONCE, "tx extra nonce tag")?;
        let extra_nonce_size = read_varint(&mut r, u64::from(EXTRA_NONCE_MAX), "extra nonce size")?;
        if extra_nonce_size < u64::from(EXTRA_NONCE_MIN) {
            return Err(DecodeError::Invalid {
                what: "extra nonce size",
            });
        }
        let extra_nonce = r.u32("extra nonce")?;
        for _ in u64::from(EXTRA_NONCE_MIN)..extra_nonce_size {
            expect(&mut r, 0, "extra nonce padding")?;
        }
        expect(&mut r, EXTRA_MERGE_MINING, "merge mining tag")?;
        let left = r.remaining() as u64;
        let mm_len = read_varint(&mut r, left, "merge mining tag length")?;
        let mm_start = r.remaining();
        let merkle_tree_data = read_varint(&mut r, u64::MAX, "merkle tree data")?;
        let merkle_root = hash(&mut r, "merkle root")?;
        if (mm_start - r.remaining()) as u64 != mm_len {
            return Err(DecodeError::Invalid {
                what: "merge mining tag length",
            });
        }
        if (extra_start - r.remaining()) as u64 != extra_len {
            return Err(DecodeError::Invalid {
                what: "tx extra length",
            });
        }
        expect(&mut r, 0, "rct type")?;

        let n_tx = read_varint(&mut r, (MAX_SHARE_SIZE / 32) as u64, "tx count")?;
        let min_entry = if compact { 1 } else { 32 };
        if (r.remaining() as u64) < n_tx * min_entry {
            return Err(DecodeError::UnexpectedEof { what: "tx hashes" });
        }
        let mut tx_hashes = Vec::with_capacity(n_tx as usize);
        for _ in 0..n_tx {
            // Compact: varint j >= 1 names the parent's j-th transaction (the coinbase is
            // 0); 0 is followed by the hash itself.
            let index = if compact {
                read_varint(&mut r, MAX_SHARE_SIZE as u64, "tx parent index")?
            } else {
                0
            };
            parts.tx_refs.push(index);
            tx_hashes.push(if index == 0 {
                hash(&mut r, "tx hash")?
            } else {
                Hash::ZERO
            });
        }

        let spend = hash(&mut r, "spend key")?;
        let view = hash(&mut r, "view key")?;
        let wallet = Wallet::new(spend, view).map_err(|_| DecodeError::Invalid {
            what: "miner wallet",
        })?;
        let tx_key_seed = hash(&mut r, "tx key seed")?;
        let parent = hash(&mut r, "parent")?;
        let n_uncles = read_varint(&mut r, MAX_UNCLES as u64, "uncle count")?;
        let uncles = (0..n_uncles)
            .map(|_| hash(&mut r, "uncle"))
            .collect::<Result<Vec<_>, _>>()?;
        let sidechain_height = read_varint(&mut r, MAX_SIDECHAIN_HEIGHT, "sidechain height")?;
        let difficulty = read_difficulty(&mut r, "difficulty")?;
        let cumulative_difficulty = read_difficulty(&mut r, "cumulative difficulty")?;
        if cumulative_difficulty > MAX_CUMULATIVE_DIFFICULTY {
            return Err(DecodeError::Invalid {
                what: "cumulative difficulty",
            });
        }
        if difficulty > cumulative_difficulty {
            return Err(DecodeError::Invalid { what: "difficulty" });
        }
        let n_proof = r.u8("merkle proof size")?;
        if usize::from(n_proof) > MAX_MERKLE_PROOF {
            return Err(DecodeError::TooLong {
                what: "merkle proof",
                len: u64::from(n_proof),
                max: MAX_MERKLE_PROOF as u64,
            });
        }
        let merkle_proof = (0..n_proof)
            .map(|_| hash(&mut r, "merkle proof"))
            .collect::<Result<Vec<_>, _>>()?;
        let n_extra = read_varint(&mut r, MAX_MM_EXTRA, "merge mining extra count")?;
        let mut mm_extra: Vec<(Hash, Vec<u8>)> = Vec::with_capacity(n_extra as usize);
        for _ in 0..n_extra {
            let id = hash(&mut r, "merge mining chain id")?;
            if mm_extra.last().is_some_and(|(prev, _)| *prev >= id) {
                return Err(DecodeError::Invalid {
                    what: "merge mining chain id order",
                });
            }
            let left = r.remaining() as u64;
            let len = read_varint(&mut r, left, "merge mining data length")?;
            let data = r.take(len as usize, "merge mining data")?.to_vec();
            mm_extra.push((id, data));
        }
        let mut sidechain_extra = [0u32; 4];
        for w in &mut sidechain_extra {
            *w = r.u32("sidechain extra")?;
        }
        r.finish()?;

        let share = Self {
            major_version,
            minor_version,
            timestamp,
            prev_id,
            nonce,
            height,
            outputs,
            tx_pub,
            extra_nonce_size: extra_nonce_size as u8,
            extra_nonce,
            merkle_tree_data,
            merkle_root,
            tx_hashes,
            wallet,
            tx_key_seed,
            parent,
            uncles,
            sidechain_height,
            difficulty,
            cumulative_difficulty,
            merkle_proof,
            mm_extra,
            sidechain_extra,
        };
        Ok((share, parts))
    }
}

mod ids;
mod write;
