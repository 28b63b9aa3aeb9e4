//! Otedama's consensus core for Bitcoin-family parent chains and, in [`monero`], for
//! Monero's P2Pool sidechains (ADR 0002).
//!
//! Everything here is a pure function of its inputs: no networking, no async runtime,
//! no clock reads, no hash-map iteration order. Time is passed in by the caller.
//!
//! - `address`: payout addresses to scripts and back (bech32, base58check).
//! - `encode`: the explicit consensus encoding ([`Reader`], varints).
//! - `error`: every error type of the crate.
//! - `hash`: [`ShareHash`], [`BlockHash`], [`PowHash`], [`ConsensusId`], sha256d.
//! - `header`: [`BlockHeader`] and [`PowAlgorithm`] (SHA256d, Scrypt).
//! - `money`: [`Amount`] and [`PayoutScript`].
//! - `seal`: KawPow's 120-byte headers ([`Seal`], [`KawpowSeal`], [`KawpowVerifier`]).
//! - `spec`: [`ChainSpec`], the consensus parameters, and their [`ConsensusId`].
//! - `target`: [`Target`], [`CompactTarget`], [`Work`], [`Difficulty`] (integer arithmetic).
//! - `share`: [`Share`] (header with explicit encoding, body in bincode behind a version).
//! - `coinbase`: coinbase, merkle branch and full block assembly from a template.
//! - `pplns`: the difficulty-weighted window and the integer reward split.
//! - `retarget`: ASERT share difficulty.
//! - `validate`: the validation pipeline, cheapest checks first.
//! - `chain`: [`ShareChain`], the in-memory share tree with fork choice and reorgs.
//! - `queries`: the chain's read-only queries (sync locators, header ranges, pages).
//! - `store`: [`Store`], sled storage, and its read-only [`StoreReader`].
//! - `template`: [`WorkTemplate`], one work generation; [`ShareTemplate`], its job for one
//!   payout script.

pub mod address;
mod encode;
mod error;
pub mod ethash;
mod hash;
mod header;
pub mod monero;
mod money;
mod seal;
mod spec;
mod target;

pub use address::{AddressError, parse_address, script_to_address};
pub use encode::{Reader, hex32, write_bytes, write_varint};
pub use error::{BuildError, DecodeError, HexError, ShareError, StoreError, TargetError};
pub use hash::{BlockHash, ConsensusId, PowHash, ShareHash, Txid, sha256d, sha256d_pair};
pub use header::{BlockHeader, PowAlgorithm, scrypt_1024_1_1};
pub use money::{Amount, PayoutScript, ScriptError};
pub use seal::{
    KawpowSeal, KawpowVerifier, Seal, SealError, kawpow_block_hash, kawpow_header_hash,
};
pub use spec::{ChainSpec, ParentCoin, ParentNetwork};
pub use target::{CompactTarget, Difficulty, Target, Work};

mod chain;
pub mod coinbase;
pub mod pplns;
mod queries;
pub mod retarget;
mod share;
mod store;
mod template;
mod validate;

pub use chain::{ShareChain, ShareMeta, ShareSource, TipChange};
pub use queries::SyncMeta;
pub use share::{FORMAT_VERSION, SEALED_FORMAT_VERSION, Share, ShareBody, ShareHeader, ShareInfo};
pub use store::{Store, StoreReader, StoreReport};
#[cfg(feature = "test-utils")]
pub use template::test_utils;
pub use template::{ShareTemplate, WorkTemplate};
pub use validate::{
    BaseClaim, ValidationContext, parent_work, payouts_for, required_target, validate_base,
    validate_share,
};
