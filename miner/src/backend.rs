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
    /// Candidates of backends that roll the header version themselves
    /// ([`HashBackend::rolls_version`]): `(version, nonce)` pairs, re-checked the same way.
    pub rolled: Vec<(u32, u32)>,
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

    /// Returns how many nonces one [`HashBackend::scan`] call should cover: small enough
    /// to notice new work quickly, large enough to keep the device busy.
    fn chunk(&self) -> u32 {
        default_chunk(self.algorithm())
    }

    /// Returns whether the device rolls the header version within the pool's mask
    /// itself (BIP310; ASIC chips do). The miner then hands it the mask through
    /// [`HashBackend::scan_rolling`] instead of rolling the version for it.
    fn rolls_version(&self) -> bool {
        false
    }

    /// Like [`HashBackend::scan`], with the pool's version-rolling mask; candidates
    /// with a rolled version go to [`ScanResult::rolled`]. Backends that do not roll
    /// the version ignore the mask.
    fn scan_rolling(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        version_mask: u32,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        let _ = version_mask;
        self.scan(header, nonces, target, stop)
    }
}

/// The nonces per scan of a backend that does not say otherwise ([`HashBackend::chunk`]):
/// about a tenth of a second of one CPU thread.
pub(crate) const fn default_chunk(algorithm: PowAlgorithm) -> u32 {
    match algorithm {
        PowAlgorithm::Sha256d => 1 << 20,
        PowAlgorithm::Scrypt => 4096,
    }
}

/// Returns the next version after `version` that differs only in the bits of `mask`:
/// the masked bits count up as one number, the others stay (BIP310 rolling).
pub fn next_rolled_version(version: u32, mask: u32) -> u32 {
    let rolled = ((version & mask) | !mask).wrapping_add(1) & mask;
    (version & !mask) | rolled
}

/// Caps a backend's hashrate: scans in slices of about 50 ms of work and sleeps off
/// whatever is ahead of the rate, returning as soon as a candidate is found. For
/// laptops, shared machines and local test networks.
pub struct Throttled {
    inner: std::sync::Arc<dyn HashBackend>,
    /// Hashes per second for one thread calling `scan`.
    rate: f64,
}

impl Throttled {
    /// Wraps `inner`, allowing each calling thread `rate` hashes per second (at least 1).
    pub fn new(inner: std::sync::Arc<dyn HashBackend>, rate: f64) -> Self {
        Self {
            inner,
            rate: rate.max(1.0),
        }
    }
}

impl HashBackend for Throttled {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn algorithm(&self) -> PowAlgorithm {
        self.inner.algorithm()
    }

    /// About a tenth of a second at the capped rate, as the backends' own chunks are at
    /// full speed: threads pick up a new job that does not clean the old one when their
    /// chunk ends, and a full-speed chunk at a capped rate would keep them on stale work
    /// for minutes.
    fn chunk(&self) -> u32 {
        ((self.rate / 10.0) as u32).clamp(1, self.inner.chunk().max(1))
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        let slice = ((self.rate / 20.0) as u32).max(1);
        let started = std::time::Instant::now();
        let mut out = ScanResult::default();
        let mut start = nonces.start;
        while start < nonces.end && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let end = start.saturating_add(slice).min(nonces.end);
            let r = self.inner.scan(header, start..end, target, stop);
            out.hashes += r.hashes;
            out.found.extend(r.found);
            out.rolled.extend(r.rolled);
            start = end;
            // A slow scan of a large range must not sit on a share: hand it over now
            // (the rest of the range is skipped; the worker moves on).
            if !out.found.is_empty() || !out.rolled.is_empty() {
                break;
            }
            let due = std::time::Duration::from_secs_f64(out.hashes as f64 / self.rate);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(ahead);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{HashBackend, Throttled, next_rolled_version};
    use crate::CpuBackend;
    use otedama_sharechain::PowAlgorithm;
    use std::sync::Arc;

    #[test]
    fn a_capped_backend_takes_a_tenth_of_a_second_per_chunk() {
        let cpu: Arc<dyn HashBackend> = Arc::new(CpuBackend::new(PowAlgorithm::Sha256d));
        let full = cpu.chunk();
        assert_eq!(Throttled::new(Arc::clone(&cpu), 6.0).chunk(), 1);
        assert_eq!(Throttled::new(Arc::clone(&cpu), 600.0).chunk(), 60);
        assert_eq!(Throttled::new(Arc::clone(&cpu), 1e12).chunk(), full);
    }

    #[test]
    fn rolled_versions_count_through_the_mask_only() {
        let mask = 0x1fff_e000;
        assert_eq!(next_rolled_version(0x2000_0000, mask), 0x2000_2000);
        assert_eq!(next_rolled_version(0x2000_2000, mask), 0x2000_4000);
        // Bits outside the mask never change; the masked bits wrap to zero.
        assert_eq!(next_rolled_version(0x3fff_e004, mask), 0x2000_0004);
        assert_eq!(next_rolled_version(0x2000_0000, 0), 0x2000_0000);
        // A mask with a hole: the carry jumps over it.
        assert_eq!(next_rolled_version(0x0000_0100, 0x0000_0500), 0x0000_0400);
    }
}
