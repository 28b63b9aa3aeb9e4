//! The hash backend trait: what every device (CPU, GPU, ASIC) implements.

use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// The outcome of scanning a nonce range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Number of nonces actually hashed (fewer than the range when stopped early).
    pub hashes: u64,
    /// Nonces whose header the backend believes meets the target. The miner re-checks
    /// every one with [`PowAlgorithm::hash`] before submitting it.
    pub found: Vec<u32>,
}

/// A device that grinds nonces over an 80-byte header template.
pub trait HashBackend: Send + Sync {
    /// Returns a short name for logs ("cpu", "opencl:0", ...).
    fn name(&self) -> &str;

    /// Returns the proof-of-work function this backend computes.
    fn algorithm(&self) -> PowAlgorithm;

    /// Hashes `header` with its nonce field (bytes 76..80, little-endian) set to each value
    /// of `nonces`, and returns the nonces whose PoW hash meets `target`. Bytes 76..80 of
    /// `header` are ignored. Returns early, with the work done so far, once `stop` is set.
    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult;
}
