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
//! [`otedama_sharechain::PowAlgorithm::hash`] before [`crate::HashBackend::scan`]
//! returns it.
//!
//! - `load`: the library probes, the panic guard and device discovery;
//! - `compile`: the kernels' sources and NVRTC (to PTX, or to device code);
//! - `dag`: the Ethash and KawPow kernels' sources and their compilation;
//! - `dag_backend`, `kawpow_backend`: [`CudaEthash`] and [`CudaKawpow`], their host
//!   side;
//! - `backend`: [`CudaBackend`], the buffers and launches behind the shared GPU scan
//!   loop of `crate::gpu`.

use cudarc::driver::DriverError;

mod backend;
mod compile;
mod dag;
mod dag_backend;
mod kawpow_backend;
mod load;
#[cfg(test)]
mod tests;

pub use crate::gpu::INTENSITY_RANGE;
pub use backend::{CudaBackend, CudaRejects, DEFAULT_INTENSITY};
pub use compile::{compile_kernels, compile_kernels_for};
pub use dag::{DagKernel, compile_dag_kernel, compile_dag_kernel_for, dag_kernel_source};
pub use dag_backend::CudaEthash;
pub use kawpow_backend::CudaKawpow;
pub use load::{CudaDevice, devices, is_available};

const LOG: &str = "otedama::miner";

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
    #[error("compiling the {kernel} kernel: {log}")]
    Compile {
        /// The kernel: its algorithm ("sha256d", "ethash", "kawpow period 12", ...).
        kernel: String,
        /// NVRTC's log, or the failing call.
        log: String,
    },
    /// The Ethash or KawPow kernels refused a request.
    #[error(transparent)]
    Dag(#[from] crate::error::DagError),
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
