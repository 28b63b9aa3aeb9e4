//! The OpenCL backend: SHA256d and Scrypt kernels on any OpenCL device (GPUs, or PoCL's
//! CPU device).
//!
//! `libOpenCL` is loaded at run time (opencl3's `dynamic` feature): a machine without an
//! ICD loader or without any platform gets [`MinerError::OpenClUnavailable`], never a
//! panic. Every nonce a device reports is re-checked with [`PowAlgorithm::hash`] before
//! [`HashBackend::scan`] returns it; reports that fail the check are dropped and counted.

// The opencl3 calls that pass host memory or set kernel arguments are `unsafe`.
#![allow(unsafe_code)]

use crate::backend::{HashBackend, ScanResult};
use crate::error::MinerError;
use crate::gpu_sensor::{PciAddress, pci_from_amd_topology, pci_from_khr, pci_from_nv};
use crate::sha256::Sha256dJob;
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{
    CL_DEVICE_PCI_BUS_ID_NV, CL_DEVICE_PCI_BUS_INFO_KHR, CL_DEVICE_PCI_SLOT_ID_NV,
    CL_DEVICE_TOPOLOGY_AMD, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU, Device,
    get_device_data,
};
use opencl3::kernel::{ExecuteKernel, Kernel};
use opencl3::memory::{Buffer, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, cl_device_id, cl_uint};
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tracing::warn;

#[cfg(test)]
mod tests;

const LOG: &str = "otedama::miner::opencl";

/// SHA-256 helpers shared by both kernels (prepended to each kernel's source).
const SHA256_CL: &str = include_str!("sha256.cl");
/// The SHA256d kernel.
const SHA256D_CL: &str = include_str!("sha256d.cl");
/// The Scrypt kernel.
const SCRYPT_CL: &str = include_str!("scrypt.cl");

/// Smallest and largest intensity: log2 of the nonces per enqueue.
pub const INTENSITY_RANGE: std::ops::RangeInclusive<u32> = 8..=31;
/// Intensity used when none is given.
pub const DEFAULT_INTENSITY: u32 = 20;
/// Candidate slots of the output buffer; a batch reporting more is re-run in slices.
const OUT_CAP: u32 = 4096;
/// Scratchpad of one Scrypt work item: N = 1024 blocks of 128 bytes.
const SCRYPT_SCRATCH: u64 = 1024 * 128;
/// Most scratch memory one Scrypt enqueue may use (the batch shrinks to fit).
const SCRYPT_SCRATCH_MAX: u64 = 1 << 30;
/// Words of the job buffer.
const JOB_WORDS: usize = 20;

/// An OpenCL device, as [`list_devices`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenClDevice {
    /// Index across all platforms, as [`OpenClBackend::new`] takes it.
    pub index: usize,
    /// The platform's name ("Portable Computing Language", "NVIDIA CUDA", ...).
    pub platform: String,
    /// The device's name.
    pub name: String,
    /// "gpu", "cpu" or "other".
    pub kind: &'static str,
    /// Compute units.
    pub compute_units: u32,
    /// Global memory in bytes.
    pub global_mem: u64,
    /// The card's PCI address, where the platform tells it (GPUs of AMD, NVIDIA and Intel
    /// platforms; not CPU devices).
    pub pci: Option<PciAddress>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> MinerError {
    MinerError::OpenClUnavailable(format!("{what}: {e}"))
}

fn failed(what: &str, e: impl std::fmt::Display) -> MinerError {
    MinerError::OpenCl(format!("{what}: {e}"))
}

/// Serialises discovery: PoCL's first device query races when threads call it at once
/// (a concurrent caller was seen to get no device).
static DISCOVERY: Mutex<()> = Mutex::new(());

/// NVIDIA's `CL_DEVICE_PCI_DOMAIN_ID_NV`, next to its bus (0x4008) and slot (0x4009) ids.
const CL_DEVICE_PCI_DOMAIN_ID_NV: cl_uint = 0x400A;

/// The PCI address of device `id`, from the first query its platform answers:
/// `cl_khr_pci_bus_info`, AMD's topology, or NVIDIA's bus and slot ids. The replies are
/// read as raw bytes and length-checked, so an odd driver gives `None`, not a panic.
fn pci_address(id: cl_device_id) -> Option<PciAddress> {
    let data = |param| get_device_data(id, param).ok();
    let word = |param| {
        data(param)
            .filter(|b| b.len() == 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    data(CL_DEVICE_PCI_BUS_INFO_KHR)
        .and_then(|b| pci_from_khr(&b))
        .or_else(|| data(CL_DEVICE_TOPOLOGY_AMD).and_then(|b| pci_from_amd_topology(&b)))
        .or_else(|| {
            pci_from_nv(
                word(CL_DEVICE_PCI_DOMAIN_ID_NV).unwrap_or(0),
                word(CL_DEVICE_PCI_BUS_ID_NV)?,
                word(CL_DEVICE_PCI_SLOT_ID_NV)?,
            )
        })
}

/// Every device id, in index order, with its platform's name.
fn device_ids() -> Result<Vec<(cl_device_id, String)>, MinerError> {
    let _guard = DISCOVERY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // No loader gives ClError(-2000), no ICD ClError(-1001): both mean "no OpenCL".
    let platforms = get_platforms().map_err(|e| unavailable("listing platforms", e))?;
    let mut ids = Vec::new();
    let mut last_error = None;
    for platform in platforms {
        let name = platform.name().unwrap_or_default();
        // A platform without devices answers CL_DEVICE_NOT_FOUND: skip it.
        match platform.get_devices(CL_DEVICE_TYPE_ALL) {
            Ok(devices) => ids.extend(devices.into_iter().map(|d| (d, name.clone()))),
            Err(e) => last_error = Some(format!("{name}: {e}")),
        }
    }
    if ids.is_empty() {
        return Err(MinerError::OpenClUnavailable(match last_error {
            Some(e) => format!("no OpenCL device found ({e})"),
            None => "no OpenCL device found".into(),
        }));
    }
    Ok(ids)
}

/// Lists the OpenCL devices of every platform.
///
/// # Errors
/// [`MinerError::OpenClUnavailable`] when there is no loader, no platform or no device.
pub fn list_devices() -> Result<Vec<OpenClDevice>, MinerError> {
    Ok(device_ids()?
        .into_iter()
        .enumerate()
        .map(|(index, (id, platform))| {
            let d = Device::new(id);
            let kind = match d.dev_type() {
                Ok(t) if t & CL_DEVICE_TYPE_GPU != 0 => "gpu",
                Ok(t) if t & CL_DEVICE_TYPE_CPU != 0 => "cpu",
                _ => "other",
            };
            OpenClDevice {
                index,
                platform,
                name: d.name().unwrap_or_default().trim().to_owned(),
                kind,
                compute_units: d.max_compute_units().unwrap_or(0),
                global_mem: d.global_mem_size().unwrap_or(0),
                pci: pci_address(id),
            }
        })
        .collect())
}

/// Counters of reports the CPU re-check rejected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenClRejects {
    /// Reports whose hash does not even pass the kernel's 32-bit filter: a wrong result
    /// of the device (hardware error or kernel bug).
    pub hardware_errors: u64,
    /// Reports that pass the 32-bit filter but not the full target (expected, rare).
    pub filter_misses: u64,
}

/// Device objects; `Kernel` is not `Sync`, so one scan at a time uses them.
#[derive(Debug)]
struct DeviceState {
    queue: CommandQueue,
    kernel: Kernel,
    job: Buffer<cl_uint>,
    out: Buffer<cl_uint>,
    scratch: Option<Buffer<cl_uint>>,
    // Kept alive for the objects above.
    _program: Program,
    _context: Context,
}

/// Hashes on one OpenCL device. Shared by every hashing thread; scans are serialised.
#[derive(Debug)]
pub struct OpenClBackend {
    algorithm: PowAlgorithm,
    name: String,
    device_name: String,
    pci: Option<PciAddress>,
    batch: u32,
    state: Mutex<DeviceState>,
    hardware_errors: AtomicU64,
    filter_misses: AtomicU64,
}

impl OpenClBackend {
    /// Builds the `algorithm` kernel for device `device_index` (see [`list_devices`]).
    /// `intensity` is clamped to 8..=31; each enqueue hashes `2^intensity` nonces (for
    /// Scrypt, fewer when the 128 KiB per nonce scratchpad would not fit the device).
    ///
    /// # Errors
    /// [`MinerError::OpenClUnavailable`] without a usable OpenCL device at that index,
    /// [`MinerError::OpenCl`] when building the kernel or allocating buffers fails.
    pub fn new(
        algorithm: PowAlgorithm,
        device_index: usize,
        intensity: u32,
    ) -> Result<Self, MinerError> {
        let ids = device_ids()?;
        let count = ids.len();
        let (id, _) = ids.into_iter().nth(device_index).ok_or_else(|| {
            MinerError::OpenClUnavailable(format!(
                "no device {device_index} ({count} device(s) found)"
            ))
        })?;
        let device = Device::new(id);
        let device_name = device.name().unwrap_or_default().trim().to_owned();
        let context = Context::from_device(&device).map_err(|e| failed("creating context", e))?;
        #[allow(deprecated)] // clCreateCommandQueue: also works on OpenCL 1.x platforms.
        let queue =
            CommandQueue::create_default(&context, 0).map_err(|e| failed("creating queue", e))?;
        let (source, entry) = match algorithm {
            PowAlgorithm::Sha256d => (SHA256D_CL, "sha256d_scan"),
            PowAlgorithm::Scrypt => (SCRYPT_CL, "scrypt_scan"),
        };
        // One source string: opencl3 0.12's multi-source path crashes PoCL.
        let source = format!("{SHA256_CL}\n{source}");
        let program = Program::create_and_build_from_source(&context, &source, "")
            .map_err(|log| failed("building the kernel", log))?;
        let kernel = Kernel::create(&program, entry).map_err(|e| failed("creating kernel", e))?;

        let mut batch = 1u64 << intensity.clamp(*INTENSITY_RANGE.start(), *INTENSITY_RANGE.end());
        let mut scratch = None;
        if algorithm == PowAlgorithm::Scrypt {
            let max_alloc = device.max_mem_alloc_size().unwrap_or(0);
            let global = device.global_mem_size().unwrap_or(0) / 2;
            let limit = max_alloc.min(global).min(SCRYPT_SCRATCH_MAX) / SCRYPT_SCRATCH;
            batch = batch.min(limit).max(1);
            let words = usize::try_from(batch * SCRYPT_SCRATCH / 4)
                .map_err(|e| failed("scratch size", e))?;
            // SAFETY: no host pointer is passed; the buffer is only used by the kernel.
            scratch = Some(
                unsafe {
                    Buffer::<cl_uint>::create(&context, CL_MEM_READ_WRITE, words, ptr::null_mut())
                }
                .map_err(|e| failed("allocating the scratchpad", e))?,
            );
        }
        // SAFETY: no host pointers; both buffers are written before the kernel reads them.
        let job = unsafe {
            Buffer::<cl_uint>::create(&context, CL_MEM_READ_ONLY, JOB_WORDS, ptr::null_mut())
        }
        .map_err(|e| failed("allocating the job buffer", e))?;
        let out = unsafe {
            Buffer::<cl_uint>::create(
                &context,
                CL_MEM_READ_WRITE,
                OUT_CAP as usize + 1,
                ptr::null_mut(),
            )
        }
        .map_err(|e| failed("allocating the output buffer", e))?;

        Ok(Self {
            algorithm,
            name: format!("opencl:{device_index}"),
            device_name,
            pci: pci_address(id),
            batch: u32::try_from(batch).unwrap_or(1 << 31),
            state: Mutex::new(DeviceState {
                queue,
                kernel,
                job,
                out,
                scratch,
                _program: program,
                _context: context,
            }),
            hardware_errors: AtomicU64::new(0),
            filter_misses: AtomicU64::new(0),
        })
    }

    /// Returns the device's name.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Returns the card's PCI address, where the platform tells it.
    pub fn pci_address(&self) -> Option<PciAddress> {
        self.pci
    }

    /// Returns how many nonces one enqueue hashes.
    pub fn batch_size(&self) -> u32 {
        self.batch
    }

    /// Returns the reports the CPU re-check has rejected so far.
    pub fn rejects(&self) -> OpenClRejects {
        OpenClRejects {
            hardware_errors: self.hardware_errors.load(Ordering::Relaxed),
            filter_misses: self.filter_misses.load(Ordering::Relaxed),
        }
    }

    /// The job words of `header` and `target` for this backend's kernel.
    fn job_words(&self, header: &[u8; 80], target: &Target) -> [u32; JOB_WORDS] {
        let target_top = (target.to_u256().as_limbs()[3] >> 32) as u32;
        let mut words = [0u32; JOB_WORDS];
        match self.algorithm {
            PowAlgorithm::Sha256d => {
                let job = Sha256dJob::new(header, target);
                words[..8].copy_from_slice(&job.mid);
                words[8..11].copy_from_slice(&job.w0_3[..3]);
                words[11] = target_top;
            }
            PowAlgorithm::Scrypt => {
                for (i, w) in words.iter_mut().take(19).enumerate() {
                    let b = &header[4 * i..4 * i + 4];
                    *w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                }
                words[19] = target_top;
            }
        }
        words
    }

    /// The 32-bit filter the kernel applies, on the CPU: the hash's top word vs the target's.
    fn passes_filter(hash: &[u8; 32], target: &Target) -> bool {
        let top = u32::from_le_bytes([hash[28], hash[29], hash[30], hash[31]]);
        u64::from(top) <= target.to_u256().as_limbs()[3] >> 32
    }
}

impl DeviceState {
    /// Hashes `count` nonces from `base`; returns the reported nonces.
    fn dispatch(&mut self, base: u32, count: u32, found: &mut Vec<u32>) -> Result<(), MinerError> {
        let zero = [0u32];
        // SAFETY: blocking write from a live slice of the right type into a large
        // enough buffer.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.out, CL_BLOCKING, 0, &zero, &[])
                .map_err(|e| failed("clearing the output", e))?;
        }
        let cap = OUT_CAP;
        let mut exec = ExecuteKernel::new(&self.kernel);
        // SAFETY: the arguments match the kernel's signature (job, base, out, cap[, scratch])
        // and the scratchpad holds one 128 KiB slot per work item of a batch.
        unsafe {
            exec.set_arg(&self.job)
                .set_arg(&base)
                .set_arg(&self.out)
                .set_arg(&cap);
            if let Some(scratch) = &self.scratch {
                exec.set_arg(scratch);
            }
            exec.set_global_work_size(count as usize)
                .enqueue_nd_range(&self.queue)
                .map_err(|e| failed("enqueueing the kernel", e))?;
        }
        let mut n = [0u32];
        // SAFETY: blocking reads into live slices no larger than the buffer.
        unsafe {
            self.queue
                .enqueue_read_buffer(&self.out, CL_BLOCKING, 0, &mut n, &[])
                .map_err(|e| failed("reading the output", e))?;
        }
        let n = n[0];
        if n > cap {
            // More reports than slots: re-run in slices of `cap` nonces, which cannot overflow.
            let mut start = base;
            let end = u64::from(base) + u64::from(count);
            while u64::from(start) < end {
                let len = (end - u64::from(start)).min(u64::from(cap)) as u32;
                self.dispatch(start, len, found)?;
                start = start.wrapping_add(len);
            }
            return Ok(());
        }
        if n > 0 {
            let mut nonces = vec![0u32; n as usize];
            // SAFETY: `n <= cap` words follow the counter in the buffer.
            unsafe {
                self.queue
                    .enqueue_read_buffer(&self.out, CL_BLOCKING, 4, &mut nonces, &[])
                    .map_err(|e| failed("reading the output", e))?;
            }
            found.extend(nonces);
        }
        Ok(())
    }
}

impl HashBackend for OpenClBackend {
    fn name(&self) -> &str {
        &self.name
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
        let mut reported = Vec::new();
        {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let words = self.job_words(header, target);
            // SAFETY: blocking write of JOB_WORDS words into a JOB_WORDS buffer.
            let written = unsafe {
                let DeviceState { queue, job, .. } = &mut *state;
                queue.enqueue_write_buffer(job, CL_BLOCKING, 0, &words, &[])
            };
            if let Err(e) = written {
                warn!(target: LOG, backend = %self.name, "writing the job: {e}");
                return result;
            }
            let mut start = nonces.start;
            while start < nonces.end && !stop.load(Ordering::Relaxed) {
                let count = (nonces.end - start).min(self.batch);
                if let Err(e) = state.dispatch(start, count, &mut reported) {
                    warn!(target: LOG, backend = %self.name, "{e}");
                    break;
                }
                result.hashes += u64::from(count);
                start += count;
            }
        }
        reported.sort_unstable();
        reported.dedup();
        let mut h = *header;
        for nonce in reported {
            h[76..80].copy_from_slice(&nonce.to_le_bytes());
            let hash = self.algorithm.hash(&h);
            if target.is_met_by(&hash) {
                result.found.push(nonce);
            } else if Self::passes_filter(hash.as_bytes(), target) {
                self.filter_misses.fetch_add(1, Ordering::Relaxed);
            } else {
                self.hardware_errors.fetch_add(1, Ordering::Relaxed);
                warn!(target: LOG, backend = %self.name, nonce, "device reported a wrong nonce");
            }
        }
        result
    }
}
