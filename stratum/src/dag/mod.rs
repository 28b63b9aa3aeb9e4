//! The Stratum dialects of the DAG proofs of work (Ethash, Etchash, KawPow), served by a
//! [`DagServer`] of their own (a chain of these algorithms has no v1 miners):
//!
//! - **EthereumStratum/1.0.0** (NiceHash's specification; ethminer, lolMiner, T-Rex,
//!   NBMiner, TeamRedMiner on Ethash and Etchash): `mining.subscribe` naming the
//!   protocol, an extranonce prefix of the 64-bit nonce, `mining.set_difficulty`,
//!   `mining.notify [job, seed, header, clean]` and `mining.submit [worker, job, nonce
//!   suffix]`; the server computes the mix hash itself.
//! - **ETHPROXY** (the `eth_*` methods of geth's work API over a socket; ethminer's
//!   `stratum1+tcp`, Claymore): `eth_submitLogin`, `eth_getWork`, `eth_submitWork
//!   [nonce, header, mix]`, `eth_submitHashrate`, and new work pushed as a response
//!   with id 0.
//! - **KawPow** (Ravencoin pools; kawpowminer, T-Rex, NBMiner, TeamRedMiner):
//!   `mining.set_target`, `mining.notify [job, header, seed, target, clean, height,
//!   bits]` and `mining.submit [worker, job, nonce, header, mix]`.
//!
//! The server's [`DagAlgorithm`] picks the dialects: Ethash and Etchash servers
//! speak EthereumStratum/1.0.0 or ETHPROXY, told apart by the client's first request;
//! KawPow servers speak the KawPow dialect. Every share is checked on the CPU with the
//! epoch's light cache (`verify`, a few epochs kept), and those meeting the share target
//! go to the node as [`DagSubmission`]s. Work comes from a [`DagWorkSource`] published
//! as [`DagWork`] on a `watch` channel, as v1 work does.
//!
//! Difficulty, in every dialect: difficulty 1 is the boundary `0x00000000ffff0000...`
//! (`0xffff * 2^208`, NiceHash's convention), so a share of difficulty `d` takes about
//! `d * 2^32` hashes; [`difficulty_to_boundary`] and [`boundary_to_difficulty`] convert.

mod codec;
mod server;
pub(crate) mod session;
mod submit;
mod verify;

pub use server::DagServer;
pub use verify::{DagHash, DagHasher};

use otedama_sharechain::PayoutScript;
use otedama_sharechain::ethash::{Epoch, EthashError, Schedule, kawpow};
use ruint::aliases::U256;
use std::sync::Arc;

/// A DAG proof of work served by a server (a bench- and Stratum-level choice; the
/// sharechain's consensus ids are not involved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DagAlgorithm {
    /// Ethash: 30 000-block epochs.
    Ethash,
    /// Etchash: Ethereum Classic's schedule (ECIP-1099).
    Etchash,
    /// KawPow: Ravencoin's ProgPoW 0.9.4.
    Kawpow,
}

impl DagAlgorithm {
    /// Returns the epoch of block `height`.
    ///
    /// # Errors
    /// [`EthashError::EpochTooLarge`] past the largest supported epoch.
    pub fn epoch(self, height: u64) -> Result<Epoch, EthashError> {
        match self {
            DagAlgorithm::Ethash => Schedule::Ethash.epoch(height),
            DagAlgorithm::Etchash => Schedule::ETC.epoch(height),
            DagAlgorithm::Kawpow => kawpow::epoch(height),
        }
    }

    /// Returns the algorithm's lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            DagAlgorithm::Ethash => "ethash",
            DagAlgorithm::Etchash => "etchash",
            DagAlgorithm::Kawpow => "kawpow",
        }
    }
}

/// The Stratum dialect a DAG session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// NiceHash's EthereumStratum/1.0.0.
    EthereumStratum,
    /// The `eth_*` work methods (ETHPROXY).
    EthProxy,
    /// Ravencoin pools' KawPow dialect.
    Kawpow,
}

/// What a [`DagServer`] serves, and its difficulty bounds (in the DAG dialects' units,
/// see the module documentation). The address, limits, timeouts, bans and vardiff come
/// from its [`StratumConfig`](crate::StratumConfig).
#[derive(Debug, Clone, PartialEq)]
pub struct DagConfig {
    /// The proof of work served.
    pub algorithm: DagAlgorithm,
    /// The first difficulty of each session.
    pub start_difficulty: f64,
    /// The lowest difficulty vardiff may set.
    pub min_difficulty: f64,
    /// The highest, if any (the share target's difficulty is an upper bound anyway).
    pub max_difficulty: Option<f64>,
}

impl DagConfig {
    /// Serves `algorithm` starting at difficulty 1 (about 4.3 G hashes a share) with no
    /// lower bound to speak of.
    pub fn new(algorithm: DagAlgorithm) -> Self {
        Self {
            algorithm,
            start_difficulty: 1.0,
            min_difficulty: 1e-9,
            max_difficulty: None,
        }
    }
}

/// One block to mine, as the job source builds it for a payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagTemplate {
    /// The block's height (it picks the epoch, and KawPow's period).
    pub height: u64,
    /// The hash of the header without its nonce and mix (what miners hash).
    pub header_hash: [u8; 32],
    /// The share target, big-endian: a result at or below it is a share for the node.
    /// Session difficulties are never harder than it.
    pub share_target: [u8; 32],
    /// The block target, big-endian: a result at or below it solves the block.
    pub block_target: [u8; 32],
    /// The block's compact target as KawPow miners are sent it (`nbits`); 0 where the
    /// chain has none.
    pub bits: u32,
}

/// Why a [`DagWorkSource`] cannot serve a miner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagWorkError {
    /// The login's address is not a payout address of this chain.
    #[error("invalid payout address: {0}")]
    BadAddress(String),
    /// No block template yet.
    #[error("no work: {0}")]
    NoWork(String),
}

/// Produces DAG block templates: the interface a DAG sharechain (or a test) implements.
pub trait DagWorkSource: Send + Sync + 'static {
    /// Checks the address part of a miner's login and returns its canonical form.
    ///
    /// # Errors
    /// [`DagWorkError::BadAddress`] when it does not pay on this chain.
    fn payout(&self, address: &str) -> Result<String, DagWorkError>;

    /// Returns the current template for miners paid to `payout` (as [`Self::payout`]
    /// returned it).
    ///
    /// # Errors
    /// [`DagWorkError::NoWork`] when no template is available yet.
    fn template_for(&self, payout: &str) -> Result<Arc<DagTemplate>, DagWorkError>;

    /// Returns the output script `payout` (as [`Self::payout`] returned it) is paid to,
    /// where the chain pays scripts: the operator's fee charges only such miners (a
    /// chain of single-beneficiary blocks takes none).
    fn script(&self, _payout: &str) -> Option<PayoutScript> {
        None
    }
}

/// One generation of DAG work, published through a `tokio::sync::watch` channel.
#[derive(Clone)]
pub struct DagWork {
    /// Increases with every publication.
    pub generation: u64,
    /// Where sessions get their templates.
    pub source: Arc<dyn DagWorkSource>,
    /// Whether older jobs are now worthless (a new block): sent as `clean`, and older
    /// jobs' shares are then rejected as stale.
    pub clean: bool,
}

impl std::fmt::Debug for DagWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DagWork")
            .field("generation", &self.generation)
            .field("clean", &self.clean)
            .finish_non_exhaustive()
    }
}

/// A verified DAG share that meets its template's share target.
#[derive(Debug, Clone)]
pub struct DagSubmission {
    /// The user name as authorized (`ADDRESS[.worker]`).
    pub worker: String,
    /// The payout address, as the source's [`DagWorkSource::payout`] returned it.
    pub payout: String,
    /// The template the job came from.
    pub template: Arc<DagTemplate>,
    /// The full 64-bit nonce.
    pub nonce: u64,
    /// The mix hash (recomputed by the server).
    pub mix: [u8; 32],
    /// The final hash, big-endian.
    pub result: [u8; 32],
    /// Whether it also meets the block target.
    pub is_block: bool,
}

/// The boundary of difficulty 1: `0xffff * 2^208`.
fn diff1() -> U256 {
    U256::from(0xffffu64) << 208
}

/// Returns the boundary (big-endian) of a DAG Stratum difficulty: `floor(0xffff * 2^208
/// / difficulty)`, computed in units of `2^-32` of difficulty and capped at `2^256 - 1`.
/// A difficulty that is not a positive number gives the easiest boundary.
pub fn difficulty_to_boundary(difficulty: f64) -> [u8; 32] {
    let scaled = difficulty * 4_294_967_296.0;
    let units = if scaled.is_nan() || scaled < 1.0 {
        1
    } else if scaled >= u128::MAX as f64 {
        u128::MAX
    } else {
        scaled as u128
    };
    // 0xffff * 2^240 fits in 256 bits.
    let top: U256 = diff1() << 32;
    let boundary: U256 = top / U256::from(units);
    boundary.to_be_bytes()
}

/// Returns the DAG Stratum difficulty of a boundary: `0xffff * 2^208 / boundary` (an
/// all-zero boundary gives infinity).
pub fn boundary_to_difficulty(boundary: &[u8; 32]) -> f64 {
    let value = boundary
        .iter()
        .fold(0.0f64, |acc, b| acc * 256.0 + f64::from(*b));
    65535.0 * 2f64.powi(208) / value
}

/// Whether a big-endian `result` is at or below a big-endian `boundary`.
pub fn meets(result: &[u8; 32], boundary: &[u8; 32]) -> bool {
    result <= boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_one_is_nicehash_boundary() {
        let b = difficulty_to_boundary(1.0);
        assert_eq!(
            hex::encode(b),
            "00000000ffff0000000000000000000000000000000000000000000000000000"
        );
        let half = difficulty_to_boundary(2.0);
        assert_eq!(&hex::encode(half)[..16], "000000007fff8000");
        assert!((boundary_to_difficulty(&b) - 1.0).abs() < 1e-12);
        assert!((boundary_to_difficulty(&difficulty_to_boundary(1000.5)) - 1000.5).abs() < 1e-6);
        // Tiny difficulties stay in range; nonsense is the easiest boundary.
        assert_eq!(
            difficulty_to_boundary(0.0),
            difficulty_to_boundary(f64::NAN)
        );
        assert_eq!(
            &hex::encode(difficulty_to_boundary(2f64.powi(-32)))[..4],
            "ffff"
        );
        assert_eq!(difficulty_to_boundary(f64::INFINITY)[..12], [0u8; 12]);
    }

    #[test]
    fn epochs_follow_each_schedule() {
        assert_eq!(DagAlgorithm::Ethash.epoch(30_000).map(|e| e.number), Ok(1));
        assert_eq!(DagAlgorithm::Kawpow.epoch(7_500).map(|e| e.number), Ok(1));
        let etc = DagAlgorithm::Etchash.epoch(11_700_000).expect("epoch");
        assert_eq!((etc.number, etc.seed_rounds), (195, 390));
    }
}
