//! Where the DAG client hashes an epoch: the CPU light hasher (every dataset item
//! computed from the cache), or an OpenCL or CUDA device holding the epoch's full DAG.
//! Every device result is re-checked on the CPU before it is returned (the device
//! searches do it), so a pool only ever sees what the CPU confirms.

use crate::error::MinerError;
use otedama_stratum::dag::{DagHash, DagHasher, meets};
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// The device the built-in DAG client hashes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DagDevice {
    /// The CPU, with the epoch's light cache.
    #[default]
    Cpu,
    /// OpenCL device `index` (see `otedama-node devices`), `2^intensity` nonces an
    /// enqueue.
    #[cfg(feature = "opencl")]
    OpenCl {
        /// The device's index.
        index: usize,
        /// Nonces an enqueue, as a power of two (8 to 31).
        intensity: u32,
    },
    /// CUDA device `index`, `2^intensity` nonces a launch.
    #[cfg(feature = "cuda")]
    Cuda {
        /// The device's index.
        index: usize,
        /// Nonces a launch, as a power of two.
        intensity: u32,
    },
}

/// Why a device cannot search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// OpenCL (or no device at that index).
    #[error(transparent)]
    OpenCl(#[from] MinerError),
    /// CUDA (or no device at that index).
    #[cfg(feature = "cuda")]
    #[error(transparent)]
    Cuda(#[from] crate::cuda::CudaError),
}

/// One epoch's searcher on a device.
#[derive(Debug)]
pub enum EpochSearcher {
    /// The CPU light hasher.
    Cpu(DagHasher),
    /// Ethash or Etchash on an OpenCL device, its DAG generated.
    #[cfg(feature = "opencl")]
    OpenClEthash(crate::opencl::OpenClEthash),
    /// KawPow on an OpenCL device, its DAG generated.
    #[cfg(feature = "opencl")]
    OpenClKawpow(crate::opencl::OpenClKawpow),
    /// Ethash or Etchash on a CUDA device, its DAG generated.
    #[cfg(feature = "cuda")]
    CudaEthash(crate::cuda::CudaEthash),
    /// KawPow on a CUDA device, its DAG generated.
    #[cfg(feature = "cuda")]
    CudaKawpow(crate::cuda::CudaKawpow),
}

impl EpochSearcher {
    /// Builds the searcher of `hasher`'s epoch on `device`: for a GPU, uploads the light
    /// cache and generates the DAG (blocking; seconds on a GPU, minutes on a CPU device).
    ///
    /// # Errors
    /// The device is missing, its buffers cannot hold the DAG, or OpenCL fails.
    pub fn build(device: DagDevice, hasher: DagHasher) -> Result<Self, SearchError> {
        match device {
            DagDevice::Cpu => Ok(Self::Cpu(hasher)),
            #[cfg(feature = "opencl")]
            DagDevice::OpenCl { index, intensity } => match hasher {
                DagHasher::Ethash(cache) => {
                    let gpu = crate::opencl::OpenClEthash::new(index, cache, intensity)?;
                    gpu.generate_dag()?;
                    Ok(Self::OpenClEthash(gpu))
                }
                DagHasher::Kawpow(context) => {
                    let gpu = crate::opencl::OpenClKawpow::new(index, context, intensity)?;
                    gpu.generate_dag()?;
                    Ok(Self::OpenClKawpow(gpu))
                }
            },
            #[cfg(feature = "cuda")]
            DagDevice::Cuda { index, intensity } => match hasher {
                DagHasher::Ethash(cache) => {
                    let gpu = crate::cuda::CudaEthash::new(index, cache, intensity)?;
                    gpu.generate_dag()?;
                    Ok(Self::CudaEthash(gpu))
                }
                DagHasher::Kawpow(context) => {
                    let gpu = crate::cuda::CudaKawpow::new(index, context, intensity)?;
                    gpu.generate_dag()?;
                    Ok(Self::CudaKawpow(gpu))
                }
            },
        }
    }

    /// Searches `nonces` of `header_hash` at block `height` for final hashes at most
    /// `target` (big-endian) until done or `stop`; returns the solutions and the nonces
    /// hashed.
    ///
    /// # Errors
    /// The device fails.
    pub fn search(
        &self,
        height: u64,
        header_hash: &[u8; 32],
        nonces: Range<u64>,
        target: &[u8; 32],
        stop: &AtomicBool,
    ) -> Result<(Vec<(u64, DagHash)>, u64), SearchError> {
        match self {
            Self::Cpu(hasher) => {
                let mut found = Vec::new();
                let mut hashed = 0;
                for nonce in nonces {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let hash = hasher.hash(height, header_hash, nonce);
                    hashed += 1;
                    if meets(&hash.result, target) {
                        found.push((nonce, hash));
                    }
                }
                Ok((found, hashed))
            }
            #[cfg(feature = "opencl")]
            Self::OpenClEthash(gpu) => {
                let (found, hashed) = gpu.search(header_hash, nonces, target, stop)?;
                Ok((solutions(found), hashed))
            }
            #[cfg(feature = "opencl")]
            Self::OpenClKawpow(gpu) => {
                gpu.prepare(height)?;
                let (found, hashed) = gpu.search(height, header_hash, nonces, target, stop)?;
                Ok((solutions(found), hashed))
            }
            #[cfg(feature = "cuda")]
            Self::CudaEthash(gpu) => {
                let (found, hashed) = gpu.search(header_hash, nonces, target, stop)?;
                Ok((solutions(found), hashed))
            }
            #[cfg(feature = "cuda")]
            Self::CudaKawpow(gpu) => {
                let (found, hashed) = gpu.search(height, header_hash, nonces, target, stop)?;
                Ok((solutions(found), hashed))
            }
        }
    }

    /// Device results the CPU re-check refused so far (0 on the CPU).
    pub fn hardware_errors(&self) -> u64 {
        match self {
            Self::Cpu(_) => 0,
            #[cfg(feature = "opencl")]
            Self::OpenClEthash(gpu) => gpu.hardware_errors(),
            #[cfg(feature = "opencl")]
            Self::OpenClKawpow(gpu) => gpu.hardware_errors(),
            #[cfg(feature = "cuda")]
            Self::CudaEthash(gpu) => gpu.hardware_errors(),
            #[cfg(feature = "cuda")]
            Self::CudaKawpow(gpu) => gpu.hardware_errors(),
        }
    }
}

#[cfg(any(feature = "opencl", feature = "cuda"))]
fn solutions(found: Vec<crate::gpu::dag::DagSolution>) -> Vec<(u64, DagHash)> {
    found
        .into_iter()
        .map(|s| {
            (
                s.nonce,
                DagHash {
                    mix: s.mix,
                    result: s.result,
                },
            )
        })
        .collect()
}

#[cfg(all(test, feature = "cuda"))]
mod cuda_tests {
    use super::*;
    use otedama_sharechain::ethash::LightCache;

    /// Without a CUDA device (as on machines without an NVIDIA GPU) the build says so,
    /// and the client then mines on the CPU.
    #[test]
    fn a_missing_cuda_device_is_an_error_not_a_panic() {
        if crate::cuda::is_available() {
            return;
        }
        let cache = LightCache::with_sizes(&[1; 32], 64 * 101, 128 * 1031).expect("sizes");
        let device = DagDevice::Cuda {
            index: 0,
            intensity: 10,
        };
        let err = EpochSearcher::build(device, DagHasher::Ethash(cache)).expect_err("no device");
        assert!(matches!(err, SearchError::Cuda(_)), "{err}");
    }
}

#[cfg(all(test, feature = "opencl"))]
mod tests {
    use super::*;
    use otedama_sharechain::ethash::LightCache;
    use otedama_sharechain::ethash::kawpow::KawpowContext;

    /// OpenCL device 0 (PoCL's CPU device in CI), or `None` when the OpenCL tests are
    /// opted out; without a device the build below fails the test.
    fn device() -> Option<DagDevice> {
        let skip = std::env::var_os("OTEDAMA_SKIP_OPENCL_TESTS").is_some_and(|v| v == "1");
        (!skip).then_some(DagDevice::OpenCl {
            index: 0,
            intensity: 10,
        })
    }

    /// The same solutions from the CPU and the device over a tiny dataset, both
    /// algorithms: the searcher the client uses finds exactly what the light hash finds.
    #[test]
    fn the_device_searcher_finds_what_the_cpu_finds() {
        let Some(gpu) = device() else {
            return;
        };
        let seed = [7u8; 32];
        let cache = LightCache::with_sizes(&seed, 64 * 1024, 2 * 1024 * 1024).expect("sizes");
        let kawpow = KawpowContext::from_cache(cache.clone());
        let mut target = [0xff; 32];
        target[0] = 0x0f;
        let header = [0x5a; 32];
        let stop = AtomicBool::new(false);
        let nonces = (1u64 << 32) - 300..(1u64 << 32) + 300;
        for hasher in [DagHasher::Ethash(cache), DagHasher::Kawpow(kawpow)] {
            let cpu = EpochSearcher::build(DagDevice::Cpu, hasher.clone()).expect("cpu");
            let dev = EpochSearcher::build(gpu, hasher).expect("device");
            let (want, n) = cpu
                .search(30, &header, nonces.clone(), &target, &stop)
                .expect("cpu search");
            let (mut got, m) = dev
                .search(30, &header, nonces.clone(), &target, &stop)
                .expect("device search");
            got.sort_by_key(|(n, _)| *n);
            assert_eq!((n, m), (600, 600));
            assert!(want.len() > 10, "about one in 16 nonces: {}", want.len());
            assert_eq!(got, want);
            assert_eq!(dev.hardware_errors(), 0);
        }
    }
}
