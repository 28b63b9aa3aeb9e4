//! The kernels' CUDA C sources and their compilation by NVRTC, to PTX or to device code
//! (CUBIN) for one architecture.

use super::CudaError;
use super::load::{ensure_nvrtc, guarded};
use cudarc::nvrtc::{
    CompileError, CompileOptions, Ptx, compile_ptx_with_opts, result as nvrtc, sys as nvrtc_sys,
};
use otedama_sharechain::PowAlgorithm;

/// SHA-256 helpers shared by both kernels (prepended to each kernel's source).
const SHA256_CUH: &str = include_str!("sha256.cuh");
/// The SHA256d kernel.
const SHA256D_CU: &str = include_str!("sha256d.cu");
/// The Scrypt kernel.
const SCRYPT_CU: &str = include_str!("scrypt.cu");

/// The source, entry point and file name of `algorithm`'s kernel.
pub(super) fn kernel_source(algorithm: PowAlgorithm) -> (String, &'static str, &'static str) {
    let (source, entry, file) = match algorithm {
        PowAlgorithm::Sha256d => (SHA256D_CU, "sha256d_scan", "sha256d.cu"),
        PowAlgorithm::Scrypt => (SCRYPT_CU, "scrypt_scan", "scrypt.cu"),
    };
    (format!("{SHA256_CUH}\n{source}"), entry, file)
}

/// Compiles `source` (the kernel named `kernel` in errors) to PTX with NVRTC.
pub(super) fn compile_source(kernel: &str, source: &str, file: &str) -> Result<Ptx, CudaError> {
    ensure_nvrtc()?;
    let options = CompileOptions {
        name: Some(file.to_owned()),
        ..CompileOptions::default()
    };
    guarded("compiling a kernel", || {
        compile_ptx_with_opts(source, options).map_err(|e| CudaError::Compile {
            kernel: kernel.to_owned(),
            log: match e {
                CompileError::CompileError { log, .. } => log.to_string_lossy().trim().to_owned(),
                other => other.to_string(),
            },
        })
    })
}

/// Compiles `source` (the kernel named `kernel` in errors) with NVRTC to device code
/// for architecture `sm_{major}{minor}`: an ELF image the driver loads as it is.
#[allow(unsafe_code)]
pub(super) fn compile_cubin_source(
    kernel: &str,
    source: &str,
    file: &str,
    (major, minor): (u32, u32),
) -> Result<Vec<u8>, CudaError> {
    ensure_nvrtc()?;
    let error = |log: String| CudaError::Compile {
        kernel: kernel.to_owned(),
        log,
    };
    let src =
        std::ffi::CString::new(source).map_err(|_| error("a NUL byte in the source".into()))?;
    let name = std::ffi::CString::new(file).map_err(|_| error("a NUL byte in the name".into()))?;
    let arch = format!("--gpu-architecture=sm_{major}{minor}");
    guarded("compiling a kernel to device code", || {
        let program = nvrtc::create_program(&src, Some(&name)).map_err(|e| error(e.to_string()))?;
        // SAFETY: `program` was created just above from `src` and `name`, which outlive
        // it, and is destroyed exactly once, at the end.
        let built = match unsafe { nvrtc::compile_program(program, &[arch.as_str()]) } {
            // SAFETY: `program` is live and was just compiled for the real architecture
            // `sm_{major}{minor}`, as `cubin` requires.
            Ok(()) => unsafe { cubin(program) }.map_err(|e| error(e.to_string())),
            Err(e) => Err(error(
                // SAFETY: `program` is live; its log is read before it is destroyed.
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
    compile_cubin_source(&algorithm.to_string(), &source, file, compute_capability)
}

fn compile(algorithm: PowAlgorithm) -> Result<Ptx, CudaError> {
    let (source, _, file) = kernel_source(algorithm);
    compile_source(&algorithm.to_string(), &source, file)
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
