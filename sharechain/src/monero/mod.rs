//! The Monero parent family: P2Pool's sidechain consensus, byte for byte.
//!
//! A share is a full Monero block template followed by sidechain data (ADR 0002). This
//! module is pure like the rest of the crate: no IO, no clock, no hash-map iteration order.
//!
//! - `varint`: Monero's canonical varints.
//! - `hash`: Keccak-256, [`Hash`] with P2Pool's ordering, the tree hash.
//! - `keys`: key derivations, one-time keys, view tags, deterministic tx keys.
//! - `wallet`: [`Wallet`] (spend, view) and Monero addresses.
//! - `share`: [`PoolShare`], the share codec, its ids and the PoW hashing blob.
//! - `merkle`: merge-mining tree data, aux slots and proofs.
//! - `params`: [`SidechainParams`] of main, mini and nano, hard-fork tables.
//! - `pplns`: the window walk, the shuffle and `split_reward`.
//! - `difficulty`: the share difficulty retarget.
//! - `sidechain`: [`SideChain`], verification of shares in any order, depths, the tip.
//! - `dump`: share dumps (length-framed blobs) and their verification report.
//! - `error`: [`RuleViolation`], the rule a share breaks.

pub mod difficulty;
pub mod dump;
mod error;
pub mod hash;
pub mod keys;
pub mod merkle;
pub mod params;
pub mod pplns;
#[cfg(feature = "randomx")]
pub mod randomx;
pub mod share;
pub mod sidechain;
pub mod varint;
pub mod wallet;

pub use error::RuleViolation;
pub use hash::Hash;
pub use params::{ConfigError, SidechainParams};
pub use share::{PoolShare, TxOutput};
pub use sidechain::{
    AddError, ExpandError, FixedDifficulty, MoneroHeader, MoneroJob, MoneroView, NextBlock,
    NoPowCheck, PowCheck, PowVerdict, ShareState, SideChain, TemplateError, check_pow,
};
pub use wallet::{MoneroAddress, MoneroNetwork, Wallet, WalletError};
