//! [`CudaBackend`]: the kernel's buffers and launches on one device, behind the shared
//! GPU scan loop.

use super::compile::{compile_cubin_source, compile_source, kernel_source};
use super::load::{device_count, device_info, ensure_driver, failed, guarded};
use super::{CudaError, LOG};
use crate::gpu::{
    GpuDevice, GpuRejects, JOB_WORDS, OUT_CAP, Problem, Queue, SCRYPT_SCRATCH, gpu_backend,
    intensity_batch,
};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
    sys as driver_sys,
};
use cudarc::nvrtc::Ptx;
use otedama_sharechain::PowAlgorithm;
use std::sync::Arc;
use tracing::{debug, warn};

/// Intensity used when none is given.
pub const DEFAULT_INTENSITY: u32 = 22;
/// Most scratch memory one Scrypt launch may use (the batch shrinks to fit).
const SCRYPT_SCRATCH_MAX: u64 = 4 << 30;

/// Returns how many nonces one launch hashes: `2^intensity` (intensity clamped to
/// [`crate::gpu::INTENSITY_RANGE`]), and for Scrypt no more scratchpads than fit in half
/// of `free_mem` (and [`SCRYPT_SCRATCH_MAX`]).
pub(super) fn batch_size(algorithm: PowAlgorithm, intensity: u32, free_mem: u64) -> u32 {
    let mut batch = intensity_batch(intensity);
    if algorithm == PowAlgorithm::Scrypt {
        let limit = (free_mem / 2).min(SCRYPT_SCRATCH_MAX) / SCRYPT_SCRATCH;
        batch = batch.min(limit).max(1);
    }
    u32::try_from(batch).unwrap_or(1 << 31)
}

/// Counters of reports the CPU re-check rejected (the name this backend has always
/// given them).
pub type CudaRejects = GpuRejects;

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
    device: GpuDevice<DeviceState>,
}

impl CudaBackend {
    /// Compiles the `algorithm` kernel for device `device_index` (see
    /// [`super::devices`]) and allocates its buffers. `intensity` is clamped to 8..=31;
    /// each launch hashes `2^intensity` nonces (for Scrypt, fewer when the 128 KiB per
    /// nonce scratchpads would not fit in half the device's free memory, or in 4 GiB).
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
        let kernel = algorithm.to_string();
        let image = match compile_cubin_source(&kernel, &source, file, capability) {
            Ok(cubin) => Ptx::from_binary(cubin),
            Err(e) => {
                warn!(target: LOG, error = %e, "no device code for sm_{}{}; loading PTX instead", capability.0, capability.1);
                compile_source(&kernel, &source, file)?
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

        let state = DeviceState {
            stream,
            function,
            block,
            job,
            out,
            scratch,
            _context: context,
        };
        Ok(Self {
            device: GpuDevice::new(
                algorithm,
                format!("cuda:{device_index}"),
                device_name,
                info.pci,
                batch,
                state,
            ),
        })
    }
}

gpu_backend!(CudaBackend, CudaRejects);

impl DeviceState {
    /// Launches the kernel over `count` nonces from `base`.
    #[allow(unsafe_code)]
    fn run_kernel(&mut self, base: u32, count: u32) -> Result<(), CudaError> {
        let cap = OUT_CAP;
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

impl Queue for DeviceState {
    type Error = CudaError;

    fn write_job(&mut self, words: &[u32; JOB_WORDS]) -> Result<(), CudaError> {
        guarded("writing the job", || {
            self.stream
                .memcpy_htod(words, &mut self.job)
                .map_err(failed("writing the job"))
        })
    }

    fn launch(&mut self, base: u32, count: u32) -> Result<u32, CudaError> {
        guarded("running the kernel", || {
            self.stream
                .memset_zeros(&mut self.out.slice_mut(0..1))
                .map_err(failed("clearing the output"))?;
            self.run_kernel(base, count)?;
            let mut n = [0u32];
            self.stream
                .memcpy_dtoh(&self.out.slice(0..1), &mut n)
                .map_err(failed("reading the output"))?;
            self.stream
                .synchronize()
                .map_err(failed("running the kernel"))?;
            Ok(n[0])
        })
    }

    fn read_reports(&mut self, n: u32) -> Result<Vec<u32>, CudaError> {
        guarded("running the kernel", || {
            let nonces = self
                .stream
                .clone_dtoh(&self.out.slice(1..1 + n as usize))
                .map_err(failed("reading the output"))?;
            self.stream
                .synchronize()
                .map_err(failed("reading the output"))?;
            Ok(nonces)
        })
    }

    /// A scan hashes at least one whole launch: launches are what keep a GPU busy.
    const WHOLE_LAUNCHES: bool = true;

    fn report(backend: &str, problem: Problem<'_, CudaError>) {
        match problem {
            Problem::Failed(e) => {
                warn!(target: LOG, backend = %backend, error = %e, "CUDA scan failed");
            }
            Problem::WrongNonce(nonce) => {
                warn!(target: LOG, backend = %backend, nonce, "device reported a wrong nonce");
            }
        }
    }
}
