//! The CUDA backend: SHA256d and Scrypt kernels on NVIDIA GPUs.
//!
//! The kernels are CUDA C (`sha256d.cu`, `scrypt.cu`, each after the shared
//! `sha256.cuh`), compiled at run time by NVRTC and loaded through the driver API. A
//! backend compiles them to device code (CUBIN) for its GPU's architecture, `sm_XY`, which
//! any CUDA 12 driver loads; only where NVRTC cannot target that architecture does it fall
//! back to PTX, which the driver compiles itself and refuses when the PTX is newer than
//! the driver.
//! Nothing of CUDA is needed to build: cudarc opens two libraries at run time, by name,
//! through the system's dynamic loader (so `LD_LIBRARY_PATH` and the `ld.so` cache
//! decide where they are found):
//!
//! - `libcuda.so.1`, the NVIDIA driver: devices, memory and launches;
//! - `libnvrtc.so.12`, CUDA 12's runtime compiler: from a CUDA 12 toolkit, or from the
//!   PyPI wheel `nvidia-cuda-nvrtc-cu12`, whose `nvidia/cuda_nvrtc/lib` folder then goes
//!   on `LD_LIBRARY_PATH`.
//!
//! cudarc panics when it calls into a library that is not there, so every entry point
//! first checks that the library can be opened and returns
//! [`CudaError::DriverUnavailable`] or [`CudaError::NvrtcUnavailable`] otherwise. The
//! calls also run under `catch_unwind`: a symbol missing from an old library becomes
//! [`CudaError::Panicked`], not a crash.
//!
//! As with the OpenCL backend, the host computes the SHA256d midstate, kernels report
//! candidate nonces through a 32-bit filter, and every candidate is re-checked with
//! [`PowAlgorithm::hash`] before [`HashBackend::scan`] returns it.

use crate::backend::{HashBackend, ScanResult};
use crate::gpu_sensor::PciAddress;
use crate::sha256::Sha256dJob;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
    result as driver, sys as driver_sys,
};
use cudarc::nvrtc::{
    CompileError, CompileOptions, Ptx, compile_ptx_with_opts, result as nvrtc, sys as nvrtc_sys,
};
use otedama_sharechain::{PowAlgorithm, Target};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tracing::{debug, warn};

#[cfg(test)]
mod tests;

const LOG: &str = "otedama::miner";

/// SHA-256 helpers shared by both kernels (prepended to each kernel's source).
const SHA256_CUH: &str = include_str!("sha256.cuh");
/// The SHA256d kernel.
const SHA256D_CU: &str = include_str!("sha256d.cu");
/// The Scrypt kernel.
const SCRYPT_CU: &str = include_str!("scrypt.cu");

/// Smallest and largest intensity: log2 of the nonces per launch.
pub const INTENSITY_RANGE: std::ops::RangeInclusive<u32> = 8..=31;
/// Intensity used when none is given.
pub const DEFAULT_INTENSITY: u32 = 22;
/// Candidate slots of the output buffer; a launch reporting more is re-run in slices.
const OUT_CAP: u32 = 4096;
/// Scratchpad of one Scrypt thread: N = 1024 blocks of 128 bytes.
const SCRYPT_SCRATCH: u64 = 1024 * 128;
/// Most scratch memory one Scrypt launch may use (the batch shrinks to fit).
const SCRYPT_SCRATCH_MAX: u64 = 4 << 30;
/// Words of the job buffer.
const JOB_WORDS: usize = 20;

/// Why the CUDA backend cannot be used, or what failed while setting it up.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// `libcuda` (the NVIDIA driver library) cannot be loaded.
    #[error("CUDA unavailable: the NVIDIA driver library (libcuda.so.1) was not found")]
    DriverUnavailable,
    /// `libnvrtc` (CUDA 12's runtime compiler) cannot be loaded.
    #[error("CUDA unavailable: the CUDA runtime compiler (libnvrtc.so.12) was not found")]
    NvrtcUnavailable,
    /// The driver is there but has no device at the index asked for.
    #[error("CUDA unavailable: no device {index} ({count} device(s) found)")]
    NoDevice {
        /// The index asked for.
        index: usize,
        /// How many devices the driver reports.
        count: usize,
    },
    /// NVRTC rejected a kernel.
    #[error("compiling the {algorithm} kernel: {log}")]
    Compile {
        /// The kernel's algorithm.
        algorithm: PowAlgorithm,
        /// NVRTC's log, or the failing call.
        log: String,
    },
    /// A driver call failed.
    #[error("CUDA error {op}: {source}")]
    Driver {
        /// What was being done.
        op: &'static str,
        /// The driver's status.
        #[source]
        source: DriverError,
    },
    /// A call into a CUDA library panicked (for example, a symbol missing from an old
    /// library version).
    #[error("CUDA error {op}: the library call panicked: {message}")]
    Panicked {
        /// What was being done.
        op: &'static str,
        /// The panic's message.
        message: String,
    },
}

impl CudaError {
    /// Returns whether the error means "no usable CUDA here" (no driver, no NVRTC or no
    /// such device) rather than a failure of a present device.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::DriverUnavailable | Self::NvrtcUnavailable | Self::NoDevice { .. }
        )
    }
}

/// Wraps a driver error with what was being done.
fn failed(op: &'static str) -> impl FnOnce(DriverError) -> CudaError {
    move |source| CudaError::Driver { op, source }
}

/// Runs `f`, turning a panic of a CUDA library call into [`CudaError::Panicked`].
fn guarded<T>(op: &'static str, f: impl FnOnce() -> Result<T, CudaError>) -> Result<T, CudaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(CudaError::Panicked { op, message })
    })
}

/// Tries to open the driver library under each of cudarc's candidate names.
#[allow(unsafe_code)]
fn probe_driver() -> bool {
    // SAFETY: only opens (and closes) the library; none of its functions is called.
    unsafe { driver_sys::is_culib_present() }
}

/// Tries to open the NVRTC library under each of cudarc's candidate names.
#[allow(unsafe_code)]
fn probe_nvrtc() -> bool {
    // SAFETY: only opens (and closes) the library; none of its functions is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Returns whether `libcuda` can be loaded (probed once per process: the loader's search
/// path does not change while it runs).
fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| guarded("probing libcuda", || Ok(probe_driver())).unwrap_or(false))
}

/// Returns whether `libnvrtc` can be loaded (probed once per process).
fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| guarded("probing libnvrtc", || Ok(probe_nvrtc())).unwrap_or(false))
}

fn ensure_driver() -> Result<(), CudaError> {
    if driver_present() {
        Ok(())
    } else {
        Err(CudaError::DriverUnavailable)
    }
}

fn ensure_nvrtc() -> Result<(), CudaError> {
    if nvrtc_present() {
        Ok(())
    } else {
        Err(CudaError::NvrtcUnavailable)
    }
}

/// Returns whether the CUDA backend can run here: `libcuda` and `libnvrtc` load and the
/// driver reports at least one device.
pub fn is_available() -> bool {
    nvrtc_present() && devices().is_ok_and(|d| !d.is_empty())
}

/// A CUDA device, as [`devices`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDevice {
    /// The driver's device ordinal, as [`CudaBackend::new`] takes it.
    pub index: usize,
    /// The device's name.
    pub name: String,
    /// Global memory in bytes.
    pub total_mem: u64,
    /// Compute capability (major, minor): (8, 6) for an RTX 30xx, (9, 0) for an H100.
    pub compute_capability: (u32, u32),
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// The card's PCI address.
    pub pci: Option<PciAddress>,
}

/// Initialises the driver and returns its device count (0 when it has no device).
fn device_count() -> Result<usize, CudaError> {
    match driver::init() {
        Ok(()) => {}
        Err(DriverError(driver_sys::CUresult::CUDA_ERROR_NO_DEVICE)) => return Ok(0),
        Err(e) => return Err(failed("initialising the driver")(e)),
    }
    let count = driver::device::get_count().map_err(failed("counting devices"))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// Reads one attribute of `device`.
#[allow(unsafe_code)]
fn attribute(
    device: driver_sys::CUdevice,
    attribute: driver_sys::CUdevice_attribute,
) -> Result<u32, CudaError> {
    // SAFETY: `device` comes from `cuDeviceGet` of an initialised driver.
    let value = unsafe { driver::device::get_attribute(device, attribute) }
        .map_err(failed("reading a device attribute"))?;
    Ok(u32::try_from(value).unwrap_or(0))
}

/// Reads the global memory size of `device`.
#[allow(unsafe_code)]
fn total_mem(device: driver_sys::CUdevice) -> Result<u64, CudaError> {
    // SAFETY: `device` comes from `cuDeviceGet` of an initialised driver.
    let bytes =
        unsafe { driver::device::total_mem(device) }.map_err(failed("reading the memory size"))?;
    Ok(bytes as u64)
}

fn device_info(index: usize) -> Result<CudaDevice, CudaError> {
    use driver_sys::CUdevice_attribute as Attr;
    let ordinal = i32::try_from(index).map_err(|_| CudaError::NoDevice { index, count: 0 })?;
    let device = driver::device::get(ordinal).map_err(failed("opening a device"))?;
    Ok(CudaDevice {
        index,
        name: driver::device::get_name(device)
            .map_err(failed("reading the device name"))?
            .trim()
            .to_owned(),
        total_mem: total_mem(device)?,
        compute_capability: (
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ),
        multiprocessors: attribute(device, Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
        pci: PciAddress::new(
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID)?,
            attribute(device, Attr::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID)?,
            0,
        ),
    })
}

/// Lists the CUDA devices; empty when the driver is installed but sees no device.
///
/// # Errors
/// [`CudaError::DriverUnavailable`] without `libcuda`; [`CudaError::Driver`] when the
/// driver fails to initialise or to describe a device.
pub fn devices() -> Result<Vec<CudaDevice>, CudaError> {
    ensure_driver()?;
    guarded("listing devices", || {
        (0..device_count()?).map(device_info).collect()
    })
}

/// The source, entry point and file name of `algorithm`'s kernel.
fn kernel_source(algorithm: PowAlgorithm) -> (String, &'static str, &'static str) {
    let (source, entry, file) = match algorithm {
        PowAlgorithm::Sha256d => (SHA256D_CU, "sha256d_scan", "sha256d.cu"),
        PowAlgorithm::Scrypt => (SCRYPT_CU, "scrypt_scan", "scrypt.cu"),
    };
    (format!("{SHA256_CUH}\n{source}"), entry, file)
}

/// Compiles `source` (the kernel of `algorithm`) to PTX with NVRTC.
fn compile_source(algorithm: PowAlgorithm, source: &str, file: &str) -> Result<Ptx, CudaError> {
    ensure_nvrtc()?;
    let options = CompileOptions {
        name: Some(file.to_owned()),
        ..CompileOptions::default()
    };
    guarded("compiling a kernel", || {
        compile_ptx_with_opts(source, options).map_err(|e| CudaError::Compile {
            algorithm,
            log: match e {
                CompileError::CompileError { log, .. } => log.to_string_lossy().trim().to_owned(),
                other => other.to_string(),
            },
        })
    })
}

/// Compiles `source` (the kernel of `algorithm`) with NVRTC to device code for
/// architecture `sm_{major}{minor}`: an ELF image the driver loads as it is.
#[allow(unsafe_code)]
fn compile_cubin_source(
    algorithm: PowAlgorithm,
    source: &str,
    file: &str,
    (major, minor): (u32, u32),
) -> Result<Vec<u8>, CudaError> {
    ensure_nvrtc()?;
    let error = |log: String| CudaError::Compile { algorithm, log };
    let src =
        std::ffi::CString::new(source).map_err(|_| error("a NUL byte in the source".into()))?;
    let name = std::ffi::CString::new(file).map_err(|_| error("a NUL byte in the name".into()))?;
    let arch = format!("--gpu-architecture=sm_{major}{minor}");
    guarded("compiling a kernel to device code", || {
        let program = nvrtc::create_program(&src, Some(&name)).map_err(|e| error(e.to_string()))?;
        // SAFETY: `program` was created just above from `src` and `name`, which outlive
        // it, and is destroyed exactly once, at the end.
        let built = match unsafe { nvrtc::compile_program(program, &[arch.as_str()]) } {
            Ok(()) => unsafe { cubin(program) }.map_err(|e| error(e.to_string())),
            Err(e) => Err(error(
                unsafe { nvrtc::get_program_log(program) }
                    .ok()
                    .map(|log| {
                        let bytes: Vec<u8> = log.iter().map(|c| *c as u8).collect();
                        String::from_utf8_lossy(&bytes)
                            .trim_matches(char::from(0))
                            .trim()
                            .to_owned()
                    })
                    .filter(|log| !log.is_empty())
                    .unwrap_or_else(|| format!("{arch}: {e}")),
            )),
        };
        // SAFETY: as above; `program` is not used after this.
        let _ = unsafe { nvrtc::destroy_program(program) };
        built
    })
}

/// Reads the device code of a compiled program.
///
/// # Safety
/// `program` must come from [`nvrtc::create_program`], compiled for a real architecture
/// (`sm_XY`), and not yet destroyed.
#[allow(unsafe_code)]
unsafe fn cubin(program: nvrtc_sys::nvrtcProgram) -> Result<Vec<u8>, nvrtc::NvrtcError> {
    let mut size = 0usize;
    // SAFETY: the caller's contract; `size` is a valid out-pointer.
    unsafe { nvrtc_sys::nvrtcGetCUBINSize(program, &mut size) }.result()?;
    let mut image = vec![0u8; size];
    // SAFETY: `image` holds the `size` bytes NVRTC reported.
    unsafe { nvrtc_sys::nvrtcGetCUBIN(program, image.as_mut_ptr().cast()) }.result()?;
    Ok(image)
}

/// Compiles `algorithm`'s kernel to device code (CUBIN) for compute capability
/// `(major, minor)`. Needs `libnvrtc` only: no driver and no device.
///
/// # Errors
/// [`CudaError::NvrtcUnavailable`] without `libnvrtc`, [`CudaError::Compile`] when NVRTC
/// rejects the kernel or does not know the architecture.
pub fn compile_kernels_for(
    algorithm: PowAlgorithm,
    compute_capability: (u32, u32),
) -> Result<Vec<u8>, CudaError> {
    let (source, _, file) = kernel_source(algorithm);
    compile_cubin_source(algorithm, &source, file, compute_capability)
}

fn compile(algorithm: PowAlgorithm) -> Result<Ptx, CudaError> {
    let (source, _, file) = kernel_source(algorithm);
    compile_source(algorithm, &source, file)
}

/// Compiles `algorithm`'s kernel to PTX with NVRTC and returns the PTX text. Needs
/// `libnvrtc` only: no driver and no device.
///
/// # Errors
/// [`CudaError::NvrtcUnavailable`] without `libnvrtc`, [`CudaError::Compile`] when NVRTC
/// rejects the kernel.
pub fn compile_kernels(algorithm: PowAlgorithm) -> Result<String, CudaError> {
    let ptx = compile(algorithm)?;
    guarded("reading the PTX", || Ok(ptx.to_src()))
}

/// Returns how many nonces one launch hashes: `2^intensity` (intensity clamped to
/// [`INTENSITY_RANGE`]), and for Scrypt no more scratchpads than fit in half of
/// `free_mem` (and [`SCRYPT_SCRATCH_MAX`]).
fn batch_size(algorithm: PowAlgorithm, intensity: u32, free_mem: u64) -> u32 {
    let mut batch = 1u64 << intensity.clamp(*INTENSITY_RANGE.start(), *INTENSITY_RANGE.end());
    if algorithm == PowAlgorithm::Scrypt {
        let limit = (free_mem / 2).min(SCRYPT_SCRATCH_MAX) / SCRYPT_SCRATCH;
        batch = batch.min(limit).max(1);
    }
    u32::try_from(batch).unwrap_or(1 << 31)
}

/// Counters of reports the CPU re-check rejected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CudaRejects {
    /// Reports whose hash does not even pass the kernel's 32-bit filter: a wrong result
    /// of the device (hardware error or kernel bug).
    pub hardware_errors: u64,
    /// Reports that pass the 32-bit filter but not the full target (expected, rare).
    pub filter_misses: u64,
}

/// Device objects; one scan at a time uses them.
#[derive(Debug)]
struct DeviceState {
    stream: Arc<CudaStream>,
    function: CudaFunction,
    /// Threads per block of a launch.
    block: u32,
    job: CudaSlice<u32>,
    out: CudaSlice<u32>,
    /// Scrypt's scratchpads and how many threads they serve.
    scratch: Option<(CudaSlice<u32>, u32)>,
    // Kept alive for the objects above.
    _context: Arc<CudaContext>,
}

/// Hashes on one CUDA device. Shared by every hashing thread; scans are serialised.
#[derive(Debug)]
pub struct CudaBackend {
    algorithm: PowAlgorithm,
    name: String,
    device_name: String,
    pci: Option<PciAddress>,
    batch: u32,
    state: Mutex<DeviceState>,
    hardware_errors: AtomicU64,
    filter_misses: AtomicU64,
}

impl CudaBackend {
    /// Compiles the `algorithm` kernel for device `device_index` (see [`devices`]) and
    /// allocates its buffers. `intensity` is clamped to 8..=31; each launch hashes
    /// `2^intensity` nonces (for Scrypt, fewer when the 128 KiB per nonce scratchpads
    /// would not fit in half the device's free memory, or in 4 GiB).
    ///
    /// # Errors
    /// [`CudaError::DriverUnavailable`], [`CudaError::NvrtcUnavailable`] or
    /// [`CudaError::NoDevice`] when CUDA cannot be used here ([`CudaError::is_unavailable`]);
    /// [`CudaError::Compile`], [`CudaError::Driver`] or [`CudaError::Panicked`] when the
    /// device is there but the backend could not be set up on it.
    pub fn new(
        algorithm: PowAlgorithm,
        device_index: usize,
        intensity: u32,
    ) -> Result<Self, CudaError> {
        ensure_driver()?;
        guarded("setting up the backend", || {
            Self::build(algorithm, device_index, intensity)
        })
    }

    fn build(
        algorithm: PowAlgorithm,
        device_index: usize,
        intensity: u32,
    ) -> Result<Self, CudaError> {
        let count = device_count()?;
        if device_index >= count {
            return Err(CudaError::NoDevice {
                index: device_index,
                count,
            });
        }
        let (source, entry, file) = kernel_source(algorithm);
        let info = device_info(device_index)?;
        let capability = info.compute_capability;
        let image = match compile_cubin_source(algorithm, &source, file, capability) {
            Ok(cubin) => Ptx::from_binary(cubin),
            Err(e) => {
                warn!(target: LOG, error = %e, "no device code for sm_{}{}; loading PTX instead", capability.0, capability.1);
                compile_source(algorithm, &source, file)?
            }
        };

        let context = CudaContext::new(device_index).map_err(failed("creating the context"))?;
        let device_name = context
            .name()
            .map_err(failed("reading the device name"))?
            .trim()
            .to_owned();
        let module = context.load_module(image).map_err(|source| {
            let op = if source.0 == driver_sys::CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION {
                "loading the kernel (its PTX comes from a libnvrtc newer than the driver)"
            } else {
                "loading the kernel"
            };
            CudaError::Driver { op, source }
        })?;
        let function = module
            .load_function(entry)
            .map_err(failed("finding the kernel's entry point"))?;
        let stream = context.default_stream();

        let (block, batch, scratch) = match algorithm {
            PowAlgorithm::Sha256d => (256, batch_size(algorithm, intensity, 0), None),
            PowAlgorithm::Scrypt => {
                let (free, _) = context
                    .mem_get_info()
                    .map_err(failed("reading free memory"))?;
                let batch = batch_size(algorithm, intensity, free as u64);
                // At most SCRYPT_SCRATCH_MAX / 4 = 2^30 words.
                let words = (u64::from(batch) * SCRYPT_SCRATCH / 4) as usize;
                let scratch = stream
                    .alloc_zeros::<u32>(words)
                    .map_err(failed("allocating the scratchpads"))?;
                (128, batch, Some((scratch, batch)))
            }
        };
        let job = stream
            .alloc_zeros::<u32>(JOB_WORDS)
            .map_err(failed("allocating the job buffer"))?;
        let out = stream
            .alloc_zeros::<u32>(OUT_CAP as usize + 1)
            .map_err(failed("allocating the output buffer"))?;
        debug!(target: LOG, device = device_index, name = %device_name, %algorithm, batch, "CUDA backend ready");

        Ok(Self {
            algorithm,
            name: format!("cuda:{device_index}"),
            device_name,
            pci: info.pci,
            batch,
            state: Mutex::new(DeviceState {
                stream,
                function,
                block,
                job,
                out,
                scratch,
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

    /// Returns the card's PCI address.
    pub fn pci_address(&self) -> Option<PciAddress> {
        self.pci
    }

    /// Returns how many nonces one launch hashes.
    pub fn batch_size(&self) -> u32 {
        self.batch
    }

    /// Returns the reports the CPU re-check has rejected so far.
    pub fn rejects(&self) -> CudaRejects {
        CudaRejects {
            hardware_errors: self.hardware_errors.load(Ordering::Relaxed),
            filter_misses: self.filter_misses.load(Ordering::Relaxed),
        }
    }

    /// The 32-bit filter the kernel applies, on the CPU: the hash's top word vs the target's.
    fn passes_filter(hash: &[u8; 32], target: &Target) -> bool {
        let top = u32::from_le_bytes([hash[28], hash[29], hash[30], hash[31]]);
        u64::from(top) <= target.to_u256().as_limbs()[3] >> 32
    }
}

/// The job words of `header` and `target` for `algorithm`'s kernel (see the layouts at
/// the top of `sha256d.cu` and `scrypt.cu`).
fn job_words(algorithm: PowAlgorithm, header: &[u8; 80], target: &Target) -> [u32; JOB_WORDS] {
    let target_top = (target.to_u256().as_limbs()[3] >> 32) as u32;
    let mut words = [0u32; JOB_WORDS];
    match algorithm {
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

impl DeviceState {
    /// Hashes `count` nonces from `base`; appends the reported nonces to `found`.
    fn dispatch(&mut self, base: u32, count: u32, found: &mut Vec<u32>) -> Result<(), CudaError> {
        let cap = OUT_CAP;
        self.stream
            .memset_zeros(&mut self.out.slice_mut(0..1))
            .map_err(failed("clearing the output"))?;
        self.launch(base, count, cap)?;
        let mut n = [0u32];
        self.stream
            .memcpy_dtoh(&self.out.slice(0..1), &mut n)
            .map_err(failed("reading the output"))?;
        self.stream
            .synchronize()
            .map_err(failed("running the kernel"))?;
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
            let nonces = self
                .stream
                .clone_dtoh(&self.out.slice(1..1 + n as usize))
                .map_err(failed("reading the output"))?;
            self.stream
                .synchronize()
                .map_err(failed("reading the output"))?;
            found.extend(nonces);
        }
        Ok(())
    }

    /// Launches the kernel over `count` nonces from `base`.
    #[allow(unsafe_code)]
    fn launch(&mut self, base: u32, count: u32, cap: u32) -> Result<(), CudaError> {
        let config = LaunchConfig {
            grid_dim: (count.div_ceil(self.block), 1, 1),
            block_dim: (self.block, 1, 1),
            shared_mem_bytes: 0,
        };
        let Self {
            stream,
            function,
            job,
            out,
            scratch,
            ..
        } = self;
        let mut args = stream.launch_builder(function);
        args.arg(&*job).arg(&base).arg(&count).arg(out).arg(&cap);
        if let Some((scratch, slots)) = scratch {
            args.arg(scratch).arg(&*slots);
        }
        // SAFETY: the arguments match the kernel's signature, (job, base, count, out, cap)
        // then (scratch, slots) for Scrypt, with the types the kernel declares (u32 and
        // device pointers). `job` holds JOB_WORDS words, `out` 1 + cap, and the scratch
        // buffer one 128 KiB scratchpad per slot, with count <= slots (the batch size);
        // the kernel skips threads at or past `count`.
        unsafe { args.launch(config) }.map_err(failed("launching the kernel"))?;
        Ok(())
    }
}

impl HashBackend for CudaBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn algorithm(&self) -> PowAlgorithm {
        self.algorithm
    }

    /// At least one launch per scan.
    fn chunk(&self) -> u32 {
        let default = match self.algorithm {
            PowAlgorithm::Sha256d => 1 << 20,
            PowAlgorithm::Scrypt => 4096,
        };
        self.batch.max(default)
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
            let words = job_words(self.algorithm, header, target);
            let written = guarded("writing the job", || {
                let DeviceState { stream, job, .. } = &mut *state;
                stream
                    .memcpy_htod(&words, job)
                    .map_err(failed("writing the job"))
            });
            if let Err(e) = written {
                warn!(target: LOG, backend = %self.name, error = %e, "CUDA scan failed");
                return result;
            }
            let mut start = nonces.start;
            while start < nonces.end && !stop.load(Ordering::Relaxed) {
                let count = (nonces.end - start).min(self.batch);
                let dispatched = guarded("running the kernel", || {
                    state.dispatch(start, count, &mut reported)
                });
                if let Err(e) = dispatched {
                    warn!(target: LOG, backend = %self.name, error = %e, "CUDA scan failed");
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
