//! Errors of the Monero family: which consensus rule a share breaks.

use super::hash::Hash;
use crate::error::DecodeError;

/// A consensus rule a Monero share breaks. [`RuleViolation::rule`] names the rule in a
/// stable, machine-readable way; the `Display` form adds the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    /// The share does not decode.
    #[error("undecodable share: {0}")]
    Decode(#[from] DecodeError),
    /// The block major version is not the Monero hard-fork version at its height.
    #[error("major version {got}, the hard-fork table requires {expected} at height {height}")]
    MajorVersion {
        /// Version found.
        got: u8,
        /// Version required.
        expected: u8,
        /// Monero height.
        height: u64,
    },
    /// The transaction public key is not the one derived from the seed and prev_id.
    #[error("tx public key {got} is not the deterministic key {expected}")]
    TxKey {
        /// Key found.
        got: Hash,
        /// Key derived.
        expected: Hash,
    },
    /// The merge-mining proof does not lead from the sidechain id to the merkle root.
    #[error("merge-mining proof does not reproduce the merkle root {root}")]
    MerkleProof {
        /// The root in the coinbase tag.
        root: Hash,
    },
    /// The share names a Monero height other than its known prev_id's height plus one.
    #[error("Monero height {got}, prev_id is at {expected} - 1")]
    MoneroHeight {
        /// Height in the coinbase.
        got: u64,
        /// Height the prev_id requires.
        expected: u64,
    },
    /// The share's proof of work does not meet its difficulty.
    #[error("proof of work does not meet difficulty {difficulty}")]
    Pow {
        /// The share difficulty.
        difficulty: u128,
    },
    /// A genesis share with a parent, uncles, a wrong difficulty or a wrong seed.
    #[error("invalid genesis share")]
    Genesis,
    /// A non-genesis share without a parent.
    #[error("share at height {height} has no parent")]
    NoParent {
        /// Sidechain height.
        height: u64,
    },
    /// The parent is invalid.
    #[error("parent {parent} is invalid")]
    InvalidParent {
        /// Parent id.
        parent: Hash,
    },
    /// The txkeySecSeed does not follow from the parent.
    #[error("tx key seed {got}, expected {expected}")]
    TxKeySeed {
        /// Seed found.
        got: Hash,
        /// Seed required.
        expected: Hash,
    },
    /// The height is not the parent's plus one.
    #[error("sidechain height {got}, expected {expected}")]
    Height {
        /// Height found.
        got: u64,
        /// Height required.
        expected: u64,
    },
    /// More than five uncles.
    #[error("{count} uncles, at most 5")]
    TooManyUncles {
        /// Uncle count.
        count: usize,
    },
    /// Uncles not strictly ascending in hash order.
    #[error("uncles are not strictly ascending")]
    UncleOrder,
    /// An all-zero uncle id.
    #[error("zero uncle id")]
    ZeroUncle,
    /// The uncle was already included by the parent chain within three generations.
    #[error("uncle {uncle} was already mined")]
    UncleAlreadyMined {
        /// Uncle id.
        uncle: Hash,
    },
    /// The uncle is invalid.
    #[error("uncle {uncle} is invalid")]
    InvalidUncle {
        /// Uncle id.
        uncle: Hash,
    },
    /// The uncle is not 1 to 3 heights below the share.
    #[error("uncle {uncle} at height {uncle_height} cannot be an uncle at height {height}")]
    UncleHeight {
        /// Uncle id.
        uncle: Hash,
        /// Uncle height.
        uncle_height: u64,
        /// Share height.
        height: u64,
    },
    /// The uncle does not share an ancestor with the parent within three generations.
    #[error("uncle {uncle} is from a different chain")]
    UncleChain {
        /// Uncle id.
        uncle: Hash,
    },
    /// The cumulative difficulty is not parent + own + uncles.
    #[error("cumulative difficulty {got}, expected {expected}")]
    CumulativeDifficulty {
        /// Value found.
        got: u128,
        /// Value required.
        expected: u128,
    },
    /// The difficulty window spans more than 2^32 seconds.
    #[error("difficulty window timestamps span more than 2^32 s")]
    TimestampRange,
    /// The difficulty is not the retarget of the parent's window.
    #[error("difficulty {got}, expected {expected}")]
    Difficulty {
        /// Value found.
        got: u128,
        /// Value required.
        expected: u128,
    },
    /// A share in the PPLNS window is missing.
    #[error("PPLNS window incomplete: share {missing} not found")]
    PplnsWindow {
        /// The missing id.
        missing: Hash,
    },
    /// The coinbase does not have one output per PPLNS payee.
    #[error("{got} outputs, the PPLNS window has {expected} payees")]
    OutputCount {
        /// Outputs found.
        got: usize,
        /// Payees.
        expected: usize,
    },
    /// The reward cannot be split (zero weight or an output above 2^56 - 1).
    #[error("reward {reward} cannot be split over the window")]
    SplitReward {
        /// The coinbase total.
        reward: u64,
    },
    /// An output amount is not the PPLNS split.
    #[error("output {index} pays {got}, the split gives {expected}")]
    Amount {
        /// Output index.
        index: usize,
        /// Amount found.
        got: u64,
        /// Amount required.
        expected: u64,
    },
    /// An output's view tag is wrong.
    #[error("output {index} has view tag {got:#04x}, expected {expected:#04x}")]
    ViewTag {
        /// Output index.
        index: usize,
        /// Tag found.
        got: u8,
        /// Tag required.
        expected: u8,
    },
    /// An output's one-time key does not pay the payee.
    #[error("output {index} key {got} does not pay the payee (expected {expected})")]
    OutputKey {
        /// Output index.
        index: usize,
        /// Key found.
        got: Hash,
        /// Key required.
        expected: Hash,
    },
    /// A payee's keys do not form a valid derivation.
    #[error("output {index}: payee keys are not usable")]
    PayeeKeys {
        /// Output index.
        index: usize,
    },
}

impl RuleViolation {
    /// Returns the name of the broken rule (stable, for logs, metrics and the API).
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Decode(_) => "decode",
            Self::MajorVersion { .. } => "major-version",
            Self::TxKey { .. } => "tx-key",
            Self::MerkleProof { .. } => "merkle-proof",
            Self::MoneroHeight { .. } => "monero-height",
            Self::Pow { .. } => "pow",
            Self::Genesis => "genesis",
            Self::NoParent { .. } => "no-parent",
            Self::InvalidParent { .. } => "invalid-parent",
            Self::TxKeySeed { .. } => "tx-key-seed",
            Self::Height { .. } => "height",
            Self::TooManyUncles { .. } => "too-many-uncles",
            Self::UncleOrder => "uncle-order",
            Self::ZeroUncle => "zero-uncle",
            Self::UncleAlreadyMined { .. } => "uncle-already-mined",
            Self::InvalidUncle { .. } => "invalid-uncle",
            Self::UncleHeight { .. } => "uncle-height",
            Self::UncleChain { .. } => "uncle-chain",
            Self::CumulativeDifficulty { .. } => "cumulative-difficulty",
            Self::TimestampRange => "timestamp-range",
            Self::Difficulty { .. } => "difficulty",
            Self::PplnsWindow { .. } => "pplns-window",
            Self::OutputCount { .. } => "output-count",
            Self::SplitReward { .. } => "split-reward",
            Self::Amount { .. } => "amount",
            Self::ViewTag { .. } => "view-tag",
            Self::OutputKey { .. } => "output-key",
            Self::PayeeKeys { .. } => "payee-keys",
        }
    }
}
