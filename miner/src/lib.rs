//! Otedama's mining engine: a Stratum v1 client with pool failover plus hash backends
//! behind one trait.
//!
//! - [`Miner`]: started with a [`MinerConfig`], it runs one tokio task for the pool
//!   connection (`client`), one OS thread per hashing thread (`worker`) and a hashrate
//!   ticker; [`Miner::stats`] reads the counters and [`Miner::stop`] ends everything.
//! - `job`: from `mining.notify` to the 80-byte header; `protocol`: the Stratum v1 messages.
//! - [`DagClient`]: EthereumStratum/1.0.0 and KawPow pools, mined with the CPU light
//!   hasher (slow and exact; the GPU DAG kernels are not wired to it yet).
//! - [`HashBackend`]: a device that scans nonce ranges. [`CpuBackend`] is the default and
//!   the reference; every candidate of every backend is re-checked with
//!   [`PowAlgorithm::hash`] before it is submitted. Its [`CpuKernel`] (portable, AVX2,
//!   AVX-512, SHA extensions) is picked at run time from the CPU's features; `sha256`
//!   and `scrypt` hold the kernels.
//! - `opencl` (cargo feature `opencl`, on by default): [`OpenClBackend`], SHA256d and
//!   Scrypt kernels on an OpenCL device; libOpenCL is loaded at run time.
//! - `cuda` (cargo feature `cuda`, on by default): [`CudaBackend`], the same kernels in
//!   CUDA C for NVIDIA GPUs, compiled at run time by NVRTC; libcuda and libnvrtc are
//!   loaded at run time, and their absence is an error, never a crash.
//! - [`randomx`]: RandomX (Monero) on the CPU: a fast-mode dataset computed on every
//!   core and shared by the hashing threads, huge pages, light mode, a pipelined nonce
//!   scan, [`randomx::RandomxMiner`] and [`randomx::measure_randomx`].
//! - [`measure_hashrate`]: the hash rate of a backend on N threads (`otedama-node bench`).
//! - [`fleet`]: a client and poller of the cgminer API (TCP 4028) of network ASIC miners
//!   (Antminer, Whatsminer, Avalon): hash rates, shares, pools, chains, fans, temperatures.
//! - [`thermal`]: a pure thermal governor that turns temperature readings into an
//!   intensity, a pause or a latched cut-off, fed by a [`thermal::TemperatureSource`].
//! - [`gpu_sensor`]: finds a GPU's temperature sensor by its PCI address: its hwmon files,
//!   or NVML (cargo feature `nvml`, on by default; libnvidia-ml is loaded at run time).

// BM13xx ASIC chains on USB bridges: protocol, chips, PLLs, a simulator.
pub mod asic;
// The [`HashBackend`] trait, its scan result, and the hash-rate throttle.
mod backend;
// Hash rate measurement of a backend ([`measure_hashrate`]).
mod bench;
// The Stratum v1 client task: pool connection, failover, share submission.
mod client;
// [`MinerConfig`] and pool URLs.
mod config;
// [`DagClient`]: the EthereumStratum/1.0.0 and KawPow client, hashing on the CPU.
mod dag_client;
mod dag_search;
// [`CpuBackend`]: the CPU kernels behind [`HashBackend`].
mod cpu;
// [`CudaBackend`]: NVIDIA GPUs through the driver API and NVRTC.
#[cfg(feature = "cuda")]
pub mod cuda;
// [`MinerError`] and [`UrlError`].
mod error;
// Network ASIC miners through the cgminer API.
pub mod fleet;
// What the CUDA and OpenCL backends share: job words, the scan loop, the CPU re-check.
#[cfg(any(feature = "cuda", feature = "opencl"))]
mod gpu;
// GPU temperature sensors found by PCI address.
pub mod gpu_sensor;
// From `mining.notify` to the 80-byte header.
mod job;
// [`CpuKernel`]: which instruction set the CPU hashing loop uses.
mod kernel;
// [`Miner`]: the running miner.
mod miner;
// Scheduling priority of the hashing threads.
mod priority;
// [`OpenClBackend`]: any OpenCL device.
#[cfg(feature = "opencl")]
pub mod opencl;
// The Stratum v1 messages.
mod protocol;
// RandomX: a dataset built on every core, fast and light mode, huge pages, hashing threads.
pub mod randomx;
// Scrypt (N=1024) kernels.
mod scrypt;
// SHA256d kernels.
mod sha256;
// Run-time CPU feature checks, as tokens the SIMD kernels take.
mod simd;
// Shared counters and the hashrate meter.
mod stats;
// The Stratum V2 session of the pool client.
mod sv2_client;
// Helpers of the tests of every backend.
#[cfg(test)]
mod test_support;
// The thermal governor, temperature sources and the governed backend.
pub mod thermal;
// Hashing threads and the work board they read.
mod worker;
// A RandomX miner speaking xmrig's dialect (Monero sidechains).
pub mod xmrig;

pub use backend::{HashBackend, ScanResult, next_rolled_version};
pub use bench::{BenchReport, ReferenceBackend, measure_hashrate};
pub use config::{MinerConfig, check_pool_url, dag_pool_endpoint};
pub use cpu::CpuBackend;
#[cfg(feature = "cuda")]
pub use cuda::{CudaBackend, CudaDevice, CudaError};
pub use dag_client::{ClientDialect, DagClient, DagClientConfig, DagClientStats};
pub use dag_search::{DagDevice, EpochSearcher, SearchError};
pub use error::{DagClientError, DagError, MinerError, RandomxError, UrlError};
#[cfg(any(feature = "cuda", feature = "opencl"))]
pub use gpu::GpuRejects;
pub use kernel::{CpuKernel, UnknownKernel};
pub use miner::{MAX_THREADS, Miner};
#[cfg(feature = "opencl")]
pub use opencl::{OpenClBackend, OpenClDevice};
pub use otedama_sharechain::PowAlgorithm;
pub use priority::{CpuAffinity, ThreadPriority};

/// Hashing threads for a request of `requested`: itself, or one per logical CPU for 0.
pub fn hashing_threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}
pub use stats::MinerStats;
