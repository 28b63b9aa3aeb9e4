//! Hash-rate measurement of a backend, for `otedama-node bench`.

use crate::backend::{HashBackend, ScanResult};
use crate::error::MinerError;
use otedama_sharechain::{PowAlgorithm, PowHash, Target};
use sha2::block_api::compress256;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The hashing crates used directly, as a baseline for the kernels in the same run:
/// sha256d is `sha2`'s compression function from a midstate (two compressions per
/// nonce; this crate's CPU backend before the SIMD kernels), scrypt is the `scrypt`
/// crate through [`PowAlgorithm::hash`] (one allocation per hash).
#[derive(Debug, Clone, Copy)]
pub struct ReferenceBackend {
    algorithm: PowAlgorithm,
}

impl ReferenceBackend {
    /// Returns the baseline backend for `algorithm`.
    pub fn new(algorithm: PowAlgorithm) -> Self {
        Self { algorithm }
    }
}

impl HashBackend for ReferenceBackend {
    fn name(&self) -> &str {
        "reference"
    }

    fn algorithm(&self) -> PowAlgorithm {
        self.algorithm
    }

    fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        let mut result = ScanResult::default();
        match self.algorithm {
            PowAlgorithm::Sha256d => {
                let mut mid = crate::sha256::IV;
                let mut first = [0u8; 64];
                first.copy_from_slice(&header[..64]);
                compress256(&mut mid, &[first]);
                let mut tail = [0u8; 64];
                tail[..16].copy_from_slice(&header[64..80]);
                tail[16] = 0x80;
                tail[56..].copy_from_slice(&640u64.to_be_bytes());
                let mut outer = [0u8; 64];
                outer[32] = 0x80;
                outer[56..].copy_from_slice(&256u64.to_be_bytes());
                for (i, nonce) in nonces.enumerate() {
                    if i % (1 << 16) == 0 && stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tail[12..16].copy_from_slice(&nonce.to_le_bytes());
                    let mut inner = mid;
                    compress256(&mut inner, &[tail]);
                    for (chunk, word) in outer[..32].chunks_exact_mut(4).zip(inner) {
                        chunk.copy_from_slice(&word.to_be_bytes());
                    }
                    let mut state = crate::sha256::IV;
                    compress256(&mut state, &[outer]);
                    result.hashes += 1;
                    let mut digest = [0u8; 32];
                    for (chunk, word) in digest.chunks_exact_mut(4).zip(state) {
                        chunk.copy_from_slice(&word.to_be_bytes());
                    }
                    if target.is_met_by(&PowHash::from_bytes(digest)) {
                        result.found.push(nonce);
                    }
                }
            }
            PowAlgorithm::Scrypt => {
                let mut h = *header;
                for nonce in nonces {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    h[76..80].copy_from_slice(&nonce.to_le_bytes());
                    result.hashes += 1;
                    if target.is_met_by(&PowAlgorithm::Scrypt.hash(&h)) {
                        result.found.push(nonce);
                    }
                }
            }
        }
        result
    }
}

/// What [`measure_hashrate`] counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchReport {
    /// Hashing threads that ran.
    pub threads: usize,
    /// Nonces hashed by all threads together.
    pub hashes: u64,
    /// Wall time from the start of the threads until the last one stopped.
    pub elapsed: Duration,
}

impl BenchReport {
    /// Returns the hashes per second of all threads together.
    pub fn hashrate(&self) -> f64 {
        self.hashes as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Returns the hashes per second per thread.
    pub fn per_thread(&self) -> f64 {
        self.hashrate() / self.threads.max(1) as f64
    }
}

/// Runs `backend` on `threads` threads (0: one per logical CPU) for about `duration`,
/// each thread scanning its own header at the difficulty-1 target, and returns the count.
///
/// # Errors
/// [`MinerError::Spawn`] when the operating system refuses a thread.
pub fn measure_hashrate(
    backend: &dyn HashBackend,
    threads: usize,
    duration: Duration,
) -> Result<BenchReport, MinerError> {
    let threads = crate::hashing_threads(threads);
    // Large enough that the call overhead does not count; the stop flag ends a call early.
    let chunk: u32 = match backend.algorithm() {
        PowAlgorithm::Sha256d => 1 << 24,
        PowAlgorithm::Scrypt => 1 << 12,
    };
    let target = Target::difficulty_one();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let hashes = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let (stop, target) = (&stop, &target);
            let spawned = std::thread::Builder::new()
                .name(format!("otedama-bench-{index}"))
                .spawn_scoped(scope, move || {
                    let mut header: [u8; 80] =
                        std::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
                    header[40] = index as u8;
                    let mut total = 0u64;
                    let mut next = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let end = next.saturating_add(chunk);
                        total += backend.scan(&header, next..end, target, stop).hashes;
                        next = if end == u32::MAX { 0 } else { end };
                    }
                    total
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(MinerError::Spawn(e));
                }
            }
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        Ok(handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<u64>())
    })?;
    Ok(BenchReport {
        threads,
        hashes,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;

    /// The baseline agrees with the kernels it is compared to.
    #[test]
    fn reference_backend_finds_what_the_cpu_backend_finds() {
        let header = [7u8; 80];
        let stop = AtomicBool::new(false);
        let target = Target::from_work(otedama_sharechain::Work::from_u128(64));
        for (algorithm, n) in [(PowAlgorithm::Sha256d, 5000), (PowAlgorithm::Scrypt, 200)] {
            let r = ReferenceBackend::new(algorithm).scan(&header, 0..n, &target, &stop);
            let c = CpuBackend::new(algorithm).scan(&header, 0..n, &target, &stop);
            assert_eq!(r.hashes, u64::from(n));
            assert!(!r.found.is_empty());
            assert_eq!(r, c, "{algorithm}");
        }
    }

    #[test]
    fn counts_hashes_on_every_thread() {
        let backend = CpuBackend::new(PowAlgorithm::Sha256d);
        let r = measure_hashrate(&backend, 2, Duration::from_millis(100)).expect("threads start");
        assert_eq!(r.threads, 2);
        assert!(r.hashes > 0);
        assert!(r.elapsed >= Duration::from_millis(100));
        assert!((r.per_thread() * 2.0 - r.hashrate()).abs() < 1e-6 * r.hashrate());
    }
}
