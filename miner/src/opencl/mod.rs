//! The OpenCL backend: SHA256d and Scrypt kernels on any OpenCL device (GPUs, or PoCL's
//! CPU device).
//!
//! `libOpenCL` is loaded at run time (opencl3's `dynamic` feature): a machine without an
//! ICD loader or without any platform gets [`MinerError::OpenClUnavailable`], never a
//! panic. Every nonce a device reports is re-checked with [`PowAlgorithm::hash`] before
//! [`crate::HashBackend::scan`] returns it; reports that fail the check are dropped and
//! counted.
//!
//! The kernels, buffers, batch loop and re-check are those of every GPU backend
//! (`crate::gpu`); this module finds devices, builds the program and drives the queue.
//! The opencl3 calls that pass host memory, create buffers or set kernel arguments are
//! `unsafe`: each sits in a small function allowed to use it, with its reasons.

use crate::error::MinerError;
use crate::gpu::{
    GpuDevice, GpuRejects, JOB_WORDS, OUT_CAP, Problem, Queue, SCRYPT_SCRATCH, gpu_backend,
    intensity_batch,
};
use crate::gpu_sensor::{PciAddress, pci_from_amd_topology, pci_from_khr, pci_from_nv};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{
    CL_DEVICE_PCI_BUS_ID_NV, CL_DEVICE_PCI_BUS_INFO_KHR, CL_DEVICE_PCI_SLOT_ID_NV,
    CL_DEVICE_TOPOLOGY_AMD, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU, Device,
    get_device_data,
};
use opencl3::kernel::{ExecuteKernel, Kernel};
use opencl3::memory::{Buffer, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE, cl_mem_flags};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use opencl3::types::{CL_BLOCKING, cl_device_id, cl_uint};
use otedama_sharechain::PowAlgorithm;
use std::ptr;
use std::sync::Mutex;
use tracing::warn;

mod dag;
#[cfg(test)]
mod dag_tests;
mod kawpow;
#[cfg(test)]
mod tests;

pub use crate::gpu::dag::{DagSolution, MAX_ITEMS_PER_CALL};
pub use dag::OpenClEthash;
pub use kawpow::OpenClKawpow;

const LOG: &str = "otedama::miner::opencl";

/// SHA-256 helpers shared by both kernels (prepended to each kernel's source).
const SHA256_CL: &str = include_str!("sha256.cl");
/// The SHA256d kernel.
const SHA256D_CL: &str = include_str!("sha256d.cl");
/// The Scrypt kernel.
const SCRYPT_CL: &str = include_str!("scrypt.cl");

/// Smallest and largest intensity: log2 of the nonces per enqueue.
pub use crate::gpu::INTENSITY_RANGE;
/// Intensity used when none is given.
pub const DEFAULT_INTENSITY: u32 = 20;
/// Most scratch memory one Scrypt enqueue may use (the batch shrinks to fit).
const SCRYPT_SCRATCH_MAX: u64 = 1 << 30;

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

/// Counters of reports the CPU re-check rejected (the name this backend has always
/// given them).
pub type OpenClRejects = GpuRejects;

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
    device: GpuDevice<DeviceState>,
}

/// An opened device: its id and handle, name, context and in-order queue.
struct Opened {
    id: cl_device_id,
    device: Device,
    name: String,
    context: Context,
    queue: CommandQueue,
}

/// Opens device `device_index` of every platform's devices: a context and a queue.
///
/// # Errors
/// [`MinerError::OpenClUnavailable`] without a device at that index,
/// [`MinerError::OpenCl`] when the context or queue cannot be created.
fn open_device(device_index: usize) -> Result<Opened, MinerError> {
    let ids = device_ids()?;
    let count = ids.len();
    let (id, _) = ids.into_iter().nth(device_index).ok_or_else(|| {
        MinerError::OpenClUnavailable(format!(
            "no device {device_index} ({count} device(s) found)"
        ))
    })?;
    let device = Device::new(id);
    let name = device.name().unwrap_or_default().trim().to_owned();
    let context = Context::from_device(&device).map_err(|e| failed("creating context", e))?;
    #[allow(deprecated)] // clCreateCommandQueue: also works on OpenCL 1.x platforms.
    let queue =
        CommandQueue::create_default(&context, 0).map_err(|e| failed("creating queue", e))?;
    Ok(Opened {
        id,
        device,
        name,
        context,
        queue,
    })
}

/// Allocates a device buffer of `words` words, used by the kernel only (no host memory).
#[allow(unsafe_code)]
fn device_buffer(
    context: &Context,
    flags: cl_mem_flags,
    words: usize,
    what: &str,
) -> Result<Buffer<cl_uint>, MinerError> {
    // SAFETY: no host pointer is passed (and no flag asks for one), so the call cannot
    // read or keep host memory; the buffer is written by the queue before any kernel
    // reads it.
    unsafe { Buffer::<cl_uint>::create(context, flags, words, ptr::null_mut()) }
        .map_err(|e| failed(what, e))
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
        let Opened {
            id,
            device,
            name: device_name,
            context,
            queue,
        } = open_device(device_index)?;
        let (source, entry) = match algorithm {
            PowAlgorithm::Sha256d => (SHA256D_CL, "sha256d_scan"),
            PowAlgorithm::Scrypt => (SCRYPT_CL, "scrypt_scan"),
        };
        // One source string: opencl3 0.12's multi-source path crashes PoCL.
        let source = format!("{SHA256_CL}\n{source}");
        let program = Program::create_and_build_from_source(&context, &source, "")
            .map_err(|log| failed("building the kernel", log))?;
        let kernel = Kernel::create(&program, entry).map_err(|e| failed("creating kernel", e))?;

        let mut batch = intensity_batch(intensity);
        let mut scratch = None;
        if algorithm == PowAlgorithm::Scrypt {
            let max_alloc = device.max_mem_alloc_size().unwrap_or(0);
            let global = device.global_mem_size().unwrap_or(0) / 2;
            let limit = max_alloc.min(global).min(SCRYPT_SCRATCH_MAX) / SCRYPT_SCRATCH;
            batch = batch.min(limit).max(1);
            let words = usize::try_from(batch * SCRYPT_SCRATCH / 4)
                .map_err(|e| failed("scratch size", e))?;
            scratch = Some(device_buffer(
                &context,
                CL_MEM_READ_WRITE,
                words,
                "allocating the scratchpad",
            )?);
        }
        let job = device_buffer(
            &context,
            CL_MEM_READ_ONLY,
            JOB_WORDS,
            "allocating the job buffer",
        )?;
        let out = device_buffer(
            &context,
            CL_MEM_READ_WRITE,
            OUT_CAP as usize + 1,
            "allocating the output buffer",
        )?;

        let state = DeviceState {
            queue,
            kernel,
            job,
            out,
            scratch,
            _program: program,
            _context: context,
        };
        Ok(Self {
            device: GpuDevice::new(
                algorithm,
                format!("opencl:{device_index}"),
                device_name,
                pci_address(id),
                u32::try_from(batch).unwrap_or(1 << 31),
                state,
            ),
        })
    }
}

gpu_backend!(OpenClBackend, OpenClRejects);

impl Queue for DeviceState {
    type Error = MinerError;

    #[allow(unsafe_code)]
    fn write_job(&mut self, words: &[u32; JOB_WORDS]) -> Result<(), MinerError> {
        // SAFETY: a blocking write of JOB_WORDS words from a live array into the job
        // buffer, which holds JOB_WORDS words.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.job, CL_BLOCKING, 0, words, &[])
        }
        .map_err(|e| failed("writing the job", e))?;
        Ok(())
    }

    #[allow(unsafe_code)]
    fn launch(&mut self, base: u32, count: u32) -> Result<u32, MinerError> {
        let zero = [0u32];
        // SAFETY: a blocking write of one word from a live array into the output
        // buffer, which holds 1 + OUT_CAP words.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.out, CL_BLOCKING, 0, &zero, &[])
        }
        .map_err(|e| failed("clearing the output", e))?;
        let cap = OUT_CAP;
        let mut exec = ExecuteKernel::new(&self.kernel);
        // SAFETY: the arguments match the kernel's signature (job, base, out, cap[, scratch])
        // with the types it declares, and the scratchpad holds one 128 KiB slot per work
        // item of a batch (count <= the batch size).
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
        // SAFETY: a blocking read of one word into a live array, from a buffer of
        // 1 + OUT_CAP words.
        unsafe {
            self.queue
                .enqueue_read_buffer(&self.out, CL_BLOCKING, 0, &mut n, &[])
        }
        .map_err(|e| failed("reading the output", e))?;
        Ok(n[0])
    }

    #[allow(unsafe_code)]
    fn read_reports(&mut self, n: u32) -> Result<Vec<u32>, MinerError> {
        let mut nonces = vec![0u32; n as usize];
        // SAFETY: a blocking read into a live vector of `n <= OUT_CAP` words, from the
        // words after the counter of a buffer of 1 + OUT_CAP words.
        unsafe {
            self.queue
                .enqueue_read_buffer(&self.out, CL_BLOCKING, 4, &mut nonces, &[])
        }
        .map_err(|e| failed("reading the output", e))?;
        Ok(nonces)
    }

    /// Scans keep the default size, whatever the batch.
    const WHOLE_LAUNCHES: bool = false;

    fn report(backend: &str, problem: Problem<'_, MinerError>) {
        match problem {
            Problem::Failed(e) => warn!(target: LOG, backend, "{e}"),
            Problem::WrongNonce(nonce) => {
                warn!(target: LOG, backend, nonce, "device reported a wrong nonce");
            }
        }
    }
}
