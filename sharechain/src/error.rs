//! Error types of the sharechain crate.

use crate::{Amount, BlockHash, CompactTarget, PowHash, ShareHash, Target};

/// A hex string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hex: {reason}")]
pub struct HexError {
    /// What was wrong.
    pub reason: &'static str,
}

/// Errors of consensus decoding (bounded; never panics on any input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value was complete.
    #[error("unexpected end of input reading {what}")]
    UnexpectedEof {
        /// The field being read.
        what: &'static str,
    },
    /// A length prefix exceeded its bound.
    #[error("{what}: length {len} exceeds the limit {max}")]
    TooLong {
        /// The field being read.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A value is outside its allowed set.
    #[error("{what}: invalid value")]
    Invalid {
        /// The field being read.
        what: &'static str,
    },
    /// Input continued after the value ended.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// The version byte names a format this build does not know.
    #[error("unknown encoding version {0}")]
    UnknownVersion(u8),
    /// The bincode part of a message failed.
    #[error("body: {0}")]
    Body(String),
}

/// Errors of target arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The compact form has the sign bit set.
    #[error("compact target {0} is negative")]
    Negative(CompactTarget),
    /// The compact form does not fit in 256 bits.
    #[error("compact target {0} overflows 256 bits")]
    Overflow(CompactTarget),
    /// A zero target can never be met.
    #[error("target is zero")]
    Zero,
}

/// Errors while building a coinbase, a share or a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The coinbase scriptSig exceeds the 100 bytes consensus allows.
    #[error("coinbase scriptSig is {0} bytes, more than 100")]
    ScriptSigTooLong(usize),
    /// The extranonce length is outside the bounds of the chain spec.
    #[error("extranonce of {len} bytes; expected {min}..={max}")]
    ExtranonceLength {
        /// Length given.
        len: usize,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
    },
    /// Payouts add up to more than the coinbase value.
    #[error("payouts sum to {paid}, more than the coinbase value {value}")]
    Overpaid {
        /// Sum of outputs.
        paid: Amount,
        /// Coinbase value of the template.
        value: Amount,
    },
    /// A template field is malformed.
    #[error("template field {field}: {reason}")]
    Template {
        /// The field.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Why a share is invalid. Variants are listed in the order validation checks them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The encoded share exceeds the chain spec's size limit.
    #[error("share is {size} bytes, limit {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit from the chain spec.
        max: usize,
    },
    /// A field is out of its bounds.
    #[error("malformed share: {0}")]
    Malformed(&'static str),
    /// The share version is not the chain spec's.
    #[error("share version {got}, expected {expected}")]
    Version {
        /// Version in the share.
        got: u32,
        /// Version of the chain spec.
        expected: u32,
    },
    /// The share target's compact form is invalid.
    #[error("share target: {0}")]
    BadTarget(#[from] TargetError),
    /// A KawPow seal proves nothing.
    #[error("KawPow seal: {0}")]
    Seal(#[from] crate::SealError),
    /// The proof of work does not meet the share target.
    #[error("pow {pow} above share target {target}")]
    AboveTarget {
        /// The PoW hash.
        pow: PowHash,
        /// The share target.
        target: Target,
    },
    /// The previous share is not known (yet).
    #[error("previous share {0} unknown")]
    MissingParent(ShareHash),
    /// A walk (PPLNS window, uncle depth) reaches below the oldest share this node
    /// holds: `0` is that share, whose own ancestors were pruned or never synced.
    #[error("history below share {0} is not held")]
    PartialHistory(ShareHash),
    /// A share offered without its ancestors claims a target easier than the chain allows.
    #[error("share target {got} easier than the chain's easiest {max}")]
    TargetTooEasy {
        /// The share's target.
        got: CompactTarget,
        /// The chain spec's easiest share target.
        max: CompactTarget,
    },
    /// The share height is not the previous share's height plus one.
    #[error("height {got}, expected {expected}")]
    Height {
        /// Height in the share.
        got: u64,
        /// Expected height.
        expected: u64,
    },
    /// The share target is not the one the retarget rule gives.
    #[error("share target {got}, retarget rule gives {expected}")]
    WrongTarget {
        /// Target in the share.
        got: CompactTarget,
        /// Target required.
        expected: CompactTarget,
    },
    /// The timestamp is not above the median of the last shares.
    #[error("timestamp {time} not above median time past {mtp}")]
    TimeTooOld {
        /// Share time.
        time: u32,
        /// Median time past.
        mtp: u32,
    },
    /// The timestamp is too far in the future.
    #[error("timestamp {time} more than {max_future}s ahead of {now}")]
    TimeTooNew {
        /// Share time.
        time: u32,
        /// The validator's clock.
        now: u64,
        /// Allowed drift.
        max_future: u64,
    },
    /// An uncle that is not held: not a fault of the share, a dependency to fetch first.
    #[error("uncle {0} is not held yet")]
    MissingUncle(ShareHash),
    /// An uncle breaks the uncle rules.
    #[error("uncle {uncle}: {reason}")]
    BadUncle {
        /// The uncle's hash.
        uncle: ShareHash,
        /// Which rule.
        reason: &'static str,
    },
    /// The coinbase differs from the one re-derived from the PPLNS window.
    #[error("coinbase differs from the PPLNS re-derivation at byte {offset}")]
    CoinbaseMismatch {
        /// First differing byte (or the shorter length).
        offset: usize,
    },
    /// The merkle branch does not lead from the coinbase to the header's root.
    #[error("merkle branch does not reproduce the header's merkle root")]
    MerkleMismatch,
    /// The parent-chain block the share builds on is not known to the parent daemon.
    #[error("parent block {0} unknown or not recent")]
    UnknownParentBlock(BlockHash),
    /// Building the expected coinbase failed.
    #[error("building expected coinbase: {0}")]
    Build(#[from] BuildError),
}

/// Errors of the sled store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying database failed.
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// A stored value could not be decoded: the store is from another version or corrupt.
    #[error("stored value {key}: {source}")]
    Corrupt {
        /// The key whose value failed.
        key: String,
        /// The decode error.
        source: DecodeError,
    },
    /// The store was written for another chain spec.
    #[error("store belongs to consensus id {found}, this node runs {expected}")]
    WrongChain {
        /// Consensus id found in the store.
        found: String,
        /// Consensus id of this node.
        expected: String,
    },
    /// A share was inserted whose parent is neither stored nor the genesis marker.
    #[error("share {0} has no stored parent")]
    Orphan(ShareHash),
}
