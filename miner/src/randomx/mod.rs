//! RandomX (Monero's proof of work) on the CPU, in fast mode with a dataset built on
//! every core, or in light mode.
//!
//! - `ffi`: the library's C API, declared over the static library `randomx-rs` links.
//! - [`Cache`], [`Dataset`], [`Vm`] and [`RandomxFlags`] (`engine`): safe wrappers. One
//!   [`Dataset`] is built on N threads at once (`randomx-rs` builds it on one) and shared
//!   by every hashing thread through `Arc`; each thread owns a [`Vm`].
//! - [`RandomxContext`]: the memory of one seed (dataset or cache) chosen by
//!   [`RandomxOptions`]: fast or light mode, huge pages, init threads.
//!   [`RandomxContext::build_in_background`] prepares the next seed's context while the
//!   current one still mines.
//! - `memory`: huge pages ([`HugePages`], [`PageMode`]), `MemAvailable`, and the
//!   `vm.nr_hugepages` hint.
//! - `mining`: [`RandomxJob`], [`RandomxTarget`], [`Vm::scan`] (pipelined nonce scan) and
//!   [`RandomxMiner`] (hashing threads that follow a job and a seed).
//! - `bench`: [`measure_randomx`] (`otedama-node bench --algo randomx`).
//!
//! See `docs/adr/0004-randomx-dataset.md` for why the dataset is built through the C API.

mod bench;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod compiled;
mod engine;
mod ffi;
mod items;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod jit;
mod memory;
mod mining;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod program;

pub use bench::{RandomxBenchReport, RandomxProgress, measure_randomx};
pub use engine::{Cache, Dataset, RandomxFlags, Vm};
pub use memory::{
    CACHE_BYTES, DATASET_BYTES, HugePages, PageMode, PagePlan, SCRATCHPAD_BYTES, fast_mode_bytes,
    hashes_per_thread, huge_pages_hint, huge_pages_needed, mem_available, parse_mem_available,
};
pub use mining::{DatasetSlot, RandomxFound, RandomxJob, RandomxMiner, RandomxScan, RandomxTarget};

use crate::error::RandomxError;
use crate::priority::{CpuAffinity, ThreadPriority};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Monero's nonce offset in a block hashing blob: the 4-byte nonce follows the major and
/// minor version varints, the timestamp varint and the 32-byte previous id.
pub const MONERO_NONCE_OFFSET: usize = 39;

/// Returns the height of the block whose id keys RandomX at `height` (Monero: a new key
/// every 2048 blocks, used from 64 blocks after the key block).
pub fn seed_height(height: u64) -> u64 {
    otedama_sharechain::monero::params::seed_height(height)
}

/// Returns the first height that uses the seed after the one of `height`: the miner can
/// build that seed's dataset from the key block on, 64 blocks before the switch.
pub fn next_seed_switch(height: u64) -> u64 {
    // The seed block 2048k is used by heights 2048k + 65 ..= 2048(k + 1) + 64 (and block 0
    // also by heights 0..=64).
    seed_height(height) + 2048 + 65
}

/// Which memory the hashing threads read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RandomxMode {
    /// Fast mode when the machine has the memory for it (`MemAvailable`), else light
    /// mode with a warning.
    #[default]
    Auto,
    /// The 2080 MiB dataset: about 8x the hash rate of light mode.
    Fast,
    /// The 256 MiB cache only: every dataset item is computed when it is read.
    Light,
}

impl RandomxMode {
    /// Returns the mode's name: `auto`, `fast` or `light`.
    pub fn name(self) -> &'static str {
        match self {
            RandomxMode::Auto => "auto",
            RandomxMode::Fast => "fast",
            RandomxMode::Light => "light",
        }
    }
}

impl fmt::Display for RandomxMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A RandomX mode name that is none of `auto`, `fast`, `light`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown RandomX mode {0:?} (expected auto, fast or light)")]
pub struct UnknownRandomxMode(pub String);

impl FromStr for RandomxMode {
    type Err = UnknownRandomxMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [RandomxMode::Auto, RandomxMode::Fast, RandomxMode::Light]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownRandomxMode(s.to_owned()))
    }
}

/// Which VM hashes in fast mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VmEngine {
    /// Otedama's compiled VM where the CPU has what it needs (x86-64 Linux, AES-NI) and
    /// its first hashes equal the library's, else the library's VM; two hashes at once
    /// a thread ([`VmEngine::Pair`]) where the CPU's cores run one hardware thread each,
    /// one where they run two.
    #[default]
    Auto,
    /// The compiled VM, one hash at a time.
    Single,
    /// The compiled VM, two hashes at once a thread, an iteration of each in turn: the
    /// core runs one's work while the other waits for memory, as a second hardware
    /// thread would (ADR 0006). Two scratchpads a thread.
    Pair,
    /// The library's VM (for comparisons).
    Library,
}

impl VmEngine {
    const ALL: [VmEngine; 4] = [
        VmEngine::Auto,
        VmEngine::Single,
        VmEngine::Pair,
        VmEngine::Library,
    ];

    /// Returns the engine's name: `auto`, `single`, `pair` or `library`.
    pub fn name(self) -> &'static str {
        match self {
            VmEngine::Auto => "auto",
            VmEngine::Single => "single",
            VmEngine::Pair => "pair",
            VmEngine::Library => "library",
        }
    }
}

/// A VM engine name that is none of `auto`, `single`, `pair` and `library`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown RandomX VM {0:?} (expected auto, single, pair or library)")]
pub struct UnknownVmEngine(pub String);

impl FromStr for VmEngine {
    type Err = UnknownVmEngine;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VmEngine::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownVmEngine(s.to_owned()))
    }
}

/// How a [`RandomxContext`] is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomxOptions {
    /// Fast, light, or chosen from the available memory.
    pub mode: RandomxMode,
    /// Which pages the dataset and the cache try.
    pub huge_pages: HugePages,
    /// Threads that compute the dataset; 0: one per logical CPU.
    pub init_threads: usize,
    /// Hashing threads that will read the context (sizes the memory check and the
    /// huge-page hint).
    pub hashing_threads: usize,
    /// Priority of the dataset threads (the mining threads' own).
    pub priority: ThreadPriority,
    /// The CPUs the dataset threads (and the bench's hashing threads) are pinned to, in
    /// thread order, as the mining threads are.
    pub affinity: CpuAffinity,
    /// The library's features; [`RandomxFlags::detect`] by default.
    pub flags: RandomxFlags,
    /// The VM that hashes in fast mode.
    pub vm: VmEngine,
}

impl Default for RandomxOptions {
    fn default() -> Self {
        Self {
            mode: RandomxMode::Auto,
            huge_pages: HugePages::Auto,
            init_threads: 0,
            hashing_threads: 1,
            priority: ThreadPriority::Normal,
            affinity: CpuAffinity::default(),
            flags: RandomxFlags::detect(),
            vm: VmEngine::Auto,
        }
    }
}

impl RandomxOptions {
    /// Returns the mode the options resolve to on this machine now: `Fast` or `Light`.
    /// `Auto` is fast when `MemAvailable` covers [`fast_mode_bytes`] (or cannot be read).
    pub fn resolve_mode(&self) -> RandomxMode {
        match self.mode {
            RandomxMode::Auto => match mem_available() {
                Some(avail) if avail < fast_mode_bytes(self.hashing_threads) => {
                    warn!(target: "otedama::miner", available = avail,
                          needed = fast_mode_bytes(self.hashing_threads),
                          "not enough free memory for the RandomX dataset; mining in light \
                           mode, about 8x slower");
                    RandomxMode::Light
                }
                _ => RandomxMode::Fast,
            },
            mode => mode,
        }
    }
}

/// The memory of one RandomX key that every hashing thread reads: a shared dataset
/// (fast mode) or a shared cache (light mode).
#[derive(Debug, Clone)]
pub enum RandomxContext {
    /// Fast mode.
    Fast(Arc<Dataset>),
    /// Light mode.
    Light(Arc<Cache>),
}

impl RandomxContext {
    /// Builds the context of `key` (for Monero, the seed block id): the cache, and in fast
    /// mode the dataset on `options.init_threads` threads (the cache is freed once the
    /// dataset is built).
    ///
    /// # Errors
    /// [`RandomxError`] when memory cannot be allocated or a thread cannot start.
    pub fn build(key: &[u8], options: &RandomxOptions) -> Result<Self, RandomxError> {
        let start = Instant::now();
        let mode = options.resolve_mode();
        let cache = Cache::new(key, options.flags, options.huge_pages)?;
        let context = match mode {
            RandomxMode::Light => RandomxContext::Light(Arc::new(cache)),
            _ => {
                let dataset = Dataset::build(
                    &cache,
                    options.init_threads,
                    options.huge_pages,
                    options.priority,
                    &options.affinity,
                )?;
                RandomxContext::Fast(Arc::new(dataset))
            }
        };
        info!(target: "otedama::miner", mode = %context.mode(), pages = %context.pages(),
              flags = %options.flags, seconds = start.elapsed().as_secs_f64(),
              "RandomX ready");
        if options.huge_pages == HugePages::Auto && !context.pages().reserved() {
            warn!(target: "otedama::miner", pages = %context.pages(),
                  hint = %huge_pages_hint(options.hashing_threads),
                  "no reserved huge pages for RandomX; hashing is slower");
        }
        Ok(context)
    }

    /// Starts building the context of `key` on a background thread, for the next seed
    /// while the current one still mines. Fast mode holds two datasets (4.2 GB) until
    /// the old one is dropped; [`RandomxOptions::resolve_mode`] sees the memory the
    /// current dataset takes.
    ///
    /// # Errors
    /// [`RandomxError::Spawn`] when the thread cannot start.
    pub fn build_in_background(
        key: &[u8],
        options: &RandomxOptions,
    ) -> Result<PendingContext, RandomxError> {
        let (key_owned, options) = (key.to_vec(), options.clone());
        let handle = std::thread::Builder::new()
            .name("otedama-rx-prepare".into())
            .spawn(move || RandomxContext::build(&key_owned, &options))
            .map_err(RandomxError::Spawn)?;
        Ok(PendingContext {
            key: key.to_vec(),
            handle,
        })
    }

    /// Returns `Fast` or `Light`.
    pub fn mode(&self) -> RandomxMode {
        match self {
            RandomxContext::Fast(_) => RandomxMode::Fast,
            RandomxContext::Light(_) => RandomxMode::Light,
        }
    }

    /// Returns the key the context was built from.
    pub fn key(&self) -> &[u8] {
        match self {
            RandomxContext::Fast(d) => d.key(),
            RandomxContext::Light(c) => c.key(),
        }
    }

    /// Returns the pages of the dataset (fast mode) or of the cache (light mode).
    pub fn pages(&self) -> PageMode {
        match self {
            RandomxContext::Fast(d) => d.pages(),
            RandomxContext::Light(c) => c.pages(),
        }
    }

    /// Returns the library features the context was built with.
    pub fn flags(&self) -> RandomxFlags {
        match self {
            RandomxContext::Fast(d) => d.flags(),
            RandomxContext::Light(c) => c.flags(),
        }
    }

    /// Returns the time the dataset took to build (fast mode).
    pub fn dataset_init_time(&self) -> Option<Duration> {
        match self {
            RandomxContext::Fast(d) => Some(d.init_time()),
            RandomxContext::Light(_) => None,
        }
    }

    /// Creates a VM over the context, for one hashing thread.
    ///
    /// # Errors
    /// [`RandomxError::VmCreate`] when the library cannot create it.
    pub fn vm(&self) -> Result<Vm, RandomxError> {
        self.vm_with(VmEngine::Auto)
    }

    /// Creates a VM over the context with the given engine (fast mode; light mode
    /// always uses the library's VM).
    ///
    /// # Errors
    /// [`RandomxError::VmCreate`] when the library cannot create it.
    pub fn vm_with(&self, engine: VmEngine) -> Result<Vm, RandomxError> {
        match (self, engine) {
            (RandomxContext::Fast(d), VmEngine::Library) => Vm::fast_library(Arc::clone(d)),
            (RandomxContext::Fast(d), engine) => Vm::fast_with(Arc::clone(d), engine),
            (RandomxContext::Light(c), _) => Vm::light(Arc::clone(c)),
        }
    }
}

/// A [`RandomxContext`] being built on a background thread.
#[derive(Debug)]
pub struct PendingContext {
    key: Vec<u8>,
    handle: std::thread::JoinHandle<Result<RandomxContext, RandomxError>>,
}

impl PendingContext {
    /// Returns the key being built.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether the build has finished (successfully or not).
    pub fn is_ready(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the build and returns the context.
    ///
    /// # Errors
    /// The build's [`RandomxError`], or [`RandomxError::InitPanicked`] when its thread
    /// panicked.
    pub fn wait(self) -> Result<RandomxContext, RandomxError> {
        self.handle.join().map_err(|_| RandomxError::InitPanicked)?
    }
}

#[cfg(test)]
mod tests;
