//! The CUDA C twins of the OpenCL Ethash and KawPow kernels (`keccak.cuh`, `ethash.cu`,
//! `kawpow.cu`) and their compilation by NVRTC. KawPow's period program is the C source
//! `crate::gpu::kawpow` generates from the CPU's [`PeriodProgram`], in the CUDA dialect.
//! Their host side is `super::dag_backend`.

use super::CudaError;
use super::compile::{compile_cubin_source, compile_source};
use super::load::guarded;
use crate::gpu::kawpow::program_source;
use otedama_sharechain::ethash::kawpow::PeriodProgram;

/// Keccak-f[1600] and Keccak-f[800], the final-hash comparison and the report.
const KECCAK_CUH: &str = include_str!("keccak.cuh");
/// DAG generation and hashimoto.
const ETHASH_CU: &str = include_str!("ethash.cu");
/// The KawPow search kernel around the generated program.
const KAWPOW_CU: &str = include_str!("kawpow.cu");
/// How the generated program's primitives are spelled in CUDA C (`ROTL32` comes with
/// `keccak.cuh`; the funnel shifts take the count modulo 32, as the program needs).
const CUDA_DIALECT: &str = "\
typedef unsigned int uint;
#define ROTR32(x, n) __funnelshift_r((u32)(x), (u32)(x), (u32)(n))
#define MUL_HI(a, b) __umulhi((u32)(a), (u32)(b))
#define MIN(a, b) min((u32)(a), (u32)(b))
#define CLZ(x) ((u32)__clz((int)(x)))
#define POPCOUNT(x) ((u32)__popc((u32)(x)))
#define L1_SPACE
#define ITEM_SPACE
#define DEVICE_FN __device__ __forceinline__
";

/// Which DAG kernels to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DagKernel {
    /// `ethash_dag` and `ethash_search` (Ethash and Etchash; KawPow's DAG too, with 512
    /// parents).
    Ethash,
    /// `kawpow_search` for one ProgPoW period (`block / 3`).
    Kawpow {
        /// The period.
        period: u64,
    },
}

impl DagKernel {
    fn name(self) -> String {
        match self {
            Self::Ethash => "ethash".into(),
            Self::Kawpow { period } => format!("kawpow period {period}"),
        }
    }

    fn file(self) -> &'static str {
        match self {
            Self::Ethash => "ethash.cu",
            Self::Kawpow { .. } => "kawpow.cu",
        }
    }
}

/// Returns the CUDA C source of `kernel`.
pub fn dag_kernel_source(kernel: DagKernel) -> String {
    match kernel {
        DagKernel::Ethash => format!("{KECCAK_CUH}\n{ETHASH_CU}"),
        DagKernel::Kawpow { period } => {
            let program = program_source(&PeriodProgram::new(period));
            format!("{KECCAK_CUH}\n{CUDA_DIALECT}\n{program}\n{KAWPOW_CU}")
        }
    }
}

/// Compiles `kernel` to PTX with NVRTC and returns the PTX text. Needs `libnvrtc`
/// only: no driver and no device.
///
/// # Errors
/// [`CudaError::NvrtcUnavailable`] without `libnvrtc`, [`CudaError::Compile`] when NVRTC
/// rejects the kernel.
pub fn compile_dag_kernel(kernel: DagKernel) -> Result<String, CudaError> {
    let ptx = compile_source(&kernel.name(), &dag_kernel_source(kernel), kernel.file())?;
    guarded("reading the PTX", || Ok(ptx.to_src()))
}

/// Compiles `kernel` to device code (CUBIN) for compute capability `(major, minor)`.
///
/// # Errors
/// As [`compile_dag_kernel`], and [`CudaError::Compile`] for an architecture NVRTC does
/// not know.
pub fn compile_dag_kernel_for(
    kernel: DagKernel,
    compute_capability: (u32, u32),
) -> Result<Vec<u8>, CudaError> {
    compile_cubin_source(
        &kernel.name(),
        &dag_kernel_source(kernel),
        kernel.file(),
        compute_capability,
    )
}
