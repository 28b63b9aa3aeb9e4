//! What the CUDA and OpenCL backends share.
//!
//! Both run the same two kernels (SHA256d from a host-computed midstate, Scrypt from the
//! header words) with the same buffers: a job of [`JOB_WORDS`] words, and an output of a
//! counter then [`OUT_CAP`] candidate nonces. Kernels report nonces whose hash passes a
//! 32-bit filter (the hash's top word against the target's); every report is re-checked
//! on the CPU with [`PowAlgorithm::hash`] before a scan returns it, and the reports that
//! fail are counted in [`GpuRejects`].
//!
//! A backend supplies a [`Queue`] (how to write the job, launch the kernel and read the
//! reports on its API); [`GpuDevice`] does the rest: the batch loop, re-running launches
//! that report more nonces than the output holds, and the re-check.

use crate::backend::{ScanResult, default_chunk};
use crate::gpu_sensor::PciAddress;
use crate::sha256::Sha256dJob;
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::{Range, RangeInclusive};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

// The Ethash and KawPow kernels' jobs, reports and CPU re-check.
pub(crate) mod dag;
// KawPow's period programs as kernel source.
pub(crate) mod kawpow;
#[cfg(test)]
pub(crate) mod test_support;

/// Smallest and largest intensity: log2 of the nonces per launch.
pub const INTENSITY_RANGE: RangeInclusive<u32> = 8..=31;
/// Candidate slots of the output buffer; a launch reporting more is re-run in slices.
pub(crate) const OUT_CAP: u32 = 4096;
/// Scratchpad of one Scrypt thread: N = 1024 blocks of 128 bytes.
pub(crate) const SCRYPT_SCRATCH: u64 = 1024 * 128;
/// Words of the job buffer.
pub(crate) const JOB_WORDS: usize = 20;

/// Returns how many nonces one launch hashes: `2^intensity`, with the intensity clamped
/// to [`INTENSITY_RANGE`].
pub(crate) fn intensity_batch(intensity: u32) -> u64 {
    1u64 << intensity.clamp(*INTENSITY_RANGE.start(), *INTENSITY_RANGE.end())
}

/// The most significant 32 bits of `target`: what the kernels' filter compares against.
fn target_top(target: &Target) -> u32 {
    (target.to_u256().as_limbs()[3] >> 32) as u32
}

/// The job words of `header` and `target` for `algorithm`'s kernel (see the layouts at
/// the top of the kernels' sources).
pub(crate) fn job_words(
    algorithm: PowAlgorithm,
    header: &[u8; 80],
    target: &Target,
) -> [u32; JOB_WORDS] {
    let mut words = [0u32; JOB_WORDS];
    match algorithm {
        PowAlgorithm::Sha256d => {
            let job = Sha256dJob::new(header, target);
            words[..8].copy_from_slice(&job.mid);
            words[8..11].copy_from_slice(&job.w0_3[..3]);
            words[11] = target_top(target);
        }
        PowAlgorithm::Scrypt => {
            for (i, w) in words.iter_mut().take(19).enumerate() {
                let b = &header[4 * i..4 * i + 4];
                *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            }
            words[19] = target_top(target);
        }
    }
    words
}

/// The 32-bit filter the kernels apply, on the CPU: the hash's top word vs the target's.
fn passes_filter(hash: &[u8; 32], target: &Target) -> bool {
    let top = u32::from_le_bytes([hash[28], hash[29], hash[30], hash[31]]);
    top <= target_top(target)
}

/// Counters of reports the CPU re-check rejected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GpuRejects {
    /// Reports whose hash does not even pass the kernel's 32-bit filter: a wrong result
    /// of the device (hardware error or kernel bug).
    pub hardware_errors: u64,
    /// Reports that pass the 32-bit filter but not the full target (expected, rare).
    pub filter_misses: u64,
}

/// Something a scan could not do, for the backend to log under its own name.
pub(crate) enum Problem<'a, E> {
    /// A call into the device's API failed; the scan ends with the work done so far.
    Failed(&'a E),
    /// The device reported a nonce whose hash does not pass its own filter.
    WrongNonce(u32),
}

/// One device's buffers and kernel, driven through its API. One scan at a time uses it.
pub(crate) trait Queue: Send {
    /// What a failed API call returns.
    type Error: std::fmt::Display;

    /// Writes the job words to the device.
    fn write_job(&mut self, words: &[u32; JOB_WORDS]) -> Result<(), Self::Error>;

    /// Clears the output counter, runs the kernel over `count` nonces from `base` with
    /// [`OUT_CAP`] output slots, and returns the counter: how many nonces it reported,
    /// which may exceed the slots.
    fn launch(&mut self, base: u32, count: u32) -> Result<u32, Self::Error>;

    /// Reads the first `n` (at most [`OUT_CAP`]) reported nonces.
    fn read_reports(&mut self, n: u32) -> Result<Vec<u32>, Self::Error>;

    /// Whether a scan covers at least one whole launch ([`GpuDevice::chunk`]).
    const WHOLE_LAUNCHES: bool;

    /// Logs `problem` of the backend `backend`.
    fn report(backend: &str, problem: Problem<'_, Self::Error>);
}

/// Gives a public GPU backend, a struct whose field `device` is a [`GpuDevice`], the
/// accessors every GPU backend has (its rejects under the type name `$rejects`) and its
/// [`crate::HashBackend`] implementation.
macro_rules! gpu_backend {
    ($backend:ident, $rejects:ty) => {
        impl $backend {
            /// Returns the device's name.
            pub fn device_name(&self) -> &str {
                self.device.device_name()
            }

            /// Returns the card's PCI address, where the driver tells it.
            pub fn pci_address(&self) -> Option<$crate::gpu_sensor::PciAddress> {
                self.device.pci_address()
            }

            /// Returns how many nonces one launch hashes.
            pub fn batch_size(&self) -> u32 {
                self.device.batch_size()
            }

            /// Returns the reports the CPU re-check has rejected so far.
            pub fn rejects(&self) -> $rejects {
                self.device.rejects()
            }
        }

        impl $crate::backend::HashBackend for $backend {
            fn name(&self) -> &str {
                self.device.name()
            }

            fn algorithm(&self) -> ::otedama_sharechain::PowAlgorithm {
                self.device.algorithm()
            }

            fn chunk(&self) -> u32 {
                self.device.chunk()
            }

            fn scan(
                &self,
                header: &[u8; 80],
                nonces: ::std::ops::Range<u32>,
                target: &::otedama_sharechain::Target,
                stop: &::std::sync::atomic::AtomicBool,
            ) -> $crate::backend::ScanResult {
                self.device.scan(header, nonces, target, stop)
            }
        }
    };
}
pub(crate) use gpu_backend;

/// Hashes `count` nonces from `base`; appends the reported nonces to `found`.
fn dispatch<Q: Queue>(
    queue: &mut Q,
    base: u32,
    count: u32,
    found: &mut Vec<u32>,
) -> Result<(), Q::Error> {
    let n = queue.launch(base, count)?;
    if n > OUT_CAP {
        // More reports than slots: re-run in slices of OUT_CAP nonces, which cannot
        // overflow.
        let mut start = base;
        let end = u64::from(base) + u64::from(count);
        while u64::from(start) < end {
            let len = (end - u64::from(start)).min(u64::from(OUT_CAP)) as u32;
            dispatch(queue, start, len, found)?;
            start = start.wrapping_add(len);
        }
        return Ok(());
    }
    if n > 0 {
        found.extend(queue.read_reports(n)?);
    }
    Ok(())
}

/// A GPU backend's state apart from its API: what it hashes, its names, its queue and
/// the re-check counters. Shared by every hashing thread; scans are serialised.
#[derive(Debug)]
pub(crate) struct GpuDevice<Q> {
    algorithm: PowAlgorithm,
    name: String,
    device_name: String,
    pci: Option<PciAddress>,
    batch: u32,
    queue: Mutex<Q>,
    hardware_errors: AtomicU64,
    filter_misses: AtomicU64,
}

impl<Q: Queue> GpuDevice<Q> {
    /// A device named `name` ("cuda:0") hashing `algorithm` in launches of `batch` nonces.
    pub(crate) fn new(
        algorithm: PowAlgorithm,
        name: String,
        device_name: String,
        pci: Option<PciAddress>,
        batch: u32,
        queue: Q,
    ) -> Self {
        Self {
            algorithm,
            name,
            device_name,
            pci,
            batch,
            queue: Mutex::new(queue),
            hardware_errors: AtomicU64::new(0),
            filter_misses: AtomicU64::new(0),
        }
    }

    /// The backend's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm the kernel hashes.
    pub(crate) fn algorithm(&self) -> PowAlgorithm {
        self.algorithm
    }

    /// The device's name.
    pub(crate) fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The card's PCI address, where the API tells it.
    pub(crate) fn pci_address(&self) -> Option<PciAddress> {
        self.pci
    }

    /// How many nonces one launch hashes.
    pub(crate) fn batch_size(&self) -> u32 {
        self.batch
    }

    /// The nonces per scan: the default of every backend, or at least one launch where
    /// the queue asks for [`Queue::WHOLE_LAUNCHES`].
    pub(crate) fn chunk(&self) -> u32 {
        let default = default_chunk(self.algorithm);
        if Q::WHOLE_LAUNCHES {
            self.batch.max(default)
        } else {
            default
        }
    }

    /// The reports the CPU re-check has rejected so far.
    pub(crate) fn rejects(&self) -> GpuRejects {
        GpuRejects {
            hardware_errors: self.hardware_errors.load(Ordering::Relaxed),
            filter_misses: self.filter_misses.load(Ordering::Relaxed),
        }
    }

    /// Scans `nonces` in launches of the batch size until done or `stop`, then re-checks
    /// the reports on the CPU. A failed API call ends the scan with the work done so far.
    pub(crate) fn scan(
        &self,
        header: &[u8; 80],
        nonces: Range<u32>,
        target: &Target,
        stop: &AtomicBool,
    ) -> ScanResult {
        let mut result = ScanResult::default();
        let mut reported = Vec::new();
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let words = job_words(self.algorithm, header, target);
            if let Err(e) = queue.write_job(&words) {
                Q::report(&self.name, Problem::Failed(&e));
                return result;
            }
            let mut start = nonces.start;
            while start < nonces.end && !stop.load(Ordering::Relaxed) {
                let count = (nonces.end - start).min(self.batch);
                if let Err(e) = dispatch(&mut *queue, start, count, &mut reported) {
                    Q::report(&self.name, Problem::Failed(&e));
                    break;
                }
                result.hashes += u64::from(count);
                start += count;
            }
        }
        result.found = self.recheck(header, reported, target);
        result
    }

    /// The reported nonces whose hash meets `target`, in order, each once; counts the
    /// others.
    fn recheck(&self, header: &[u8; 80], mut reported: Vec<u32>, target: &Target) -> Vec<u32> {
        reported.sort_unstable();
        reported.dedup();
        let mut found = Vec::new();
        let mut h = *header;
        for nonce in reported {
            h[76..80].copy_from_slice(&nonce.to_le_bytes());
            let hash = self.algorithm.hash(&h);
            if target.is_met_by(&hash) {
                found.push(nonce);
            } else if passes_filter(hash.as_bytes(), target) {
                self.filter_misses.fetch_add(1, Ordering::Relaxed);
            } else {
                self.hardware_errors.fetch_add(1, Ordering::Relaxed);
                Q::report(&self.name, Problem::WrongNonce(nonce));
            }
        }
        found
    }
}
