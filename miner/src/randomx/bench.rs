//! RandomX hash-rate measurement, for `otedama-node bench --algo randomx`.

use super::{
    PageMode, RandomxContext, RandomxFlags, RandomxJob, RandomxMode, RandomxOptions, RandomxTarget,
};
use crate::error::RandomxError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The key the benchmark hashes under (any key costs the same).
const BENCH_KEY: &[u8] = b"otedama randomx bench";

/// What [`measure_randomx`] set up and counted.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomxBenchReport {
    /// Fast or light.
    pub mode: RandomxMode,
    /// The pages of the dataset (fast) or cache (light).
    pub pages: PageMode,
    /// The library's features in use.
    pub flags: RandomxFlags,
    /// Hashing threads that ran.
    pub threads: usize,
    /// Hashes of all threads together.
    pub hashes: u64,
    /// Wall time of the hashing, from the start of the threads until the last one
    /// stopped.
    pub elapsed: Duration,
    /// Time to allocate and build the cache and, in fast mode, the dataset.
    pub setup: Duration,
    /// Time to allocate and compute the dataset alone (fast mode).
    pub dataset_init: Option<Duration>,
    /// Threads that computed the dataset.
    pub init_threads: usize,
    /// Whether Otedama's compiled VM hashed (otherwise the library's).
    pub compiled_vm: bool,
    /// Inputs each thread hashed at once (2: the compiled VM's pairs).
    pub hashes_per_thread: usize,
}

impl RandomxBenchReport {
    /// Returns the count alone, as every other algorithm's bench reports it.
    pub fn counts(&self) -> crate::BenchReport {
        crate::BenchReport {
            threads: self.threads,
            hashes: self.hashes,
            elapsed: self.elapsed,
        }
    }

    /// Returns the hashes per second of all threads together.
    pub fn hashrate(&self) -> f64 {
        self.counts().hashrate()
    }

    /// Returns the hashes per second per thread.
    pub fn per_thread(&self) -> f64 {
        self.counts().per_thread()
    }
}

/// The count so far, handed to the caller of [`measure_randomx`] every reporting period
/// while the threads hash: a hash rate over any window of the run, to compare with
/// another program's reports over the same window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomxProgress {
    /// Since the threads started.
    pub elapsed: Duration,
    /// Hashes of all threads so far, each counted as its thread starts it (so a window's
    /// difference is the hashes of that window, give or take one a thread).
    pub hashes: u64,
    /// The pages of the dataset (fast) or cache (light).
    pub pages: PageMode,
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Builds a RandomX context as `options` say, then hashes on `threads` threads (0: one
/// per logical CPU) for about `duration`, each thread scanning its own Monero-sized
/// blob, and returns what it measured. VMs are created before the clock starts. With
/// `progress`, its callback gets the count every period (on this thread, while the
/// others hash).
///
/// # Errors
/// [`RandomxError`] when the context or a VM cannot be created or a thread cannot start.
pub fn measure_randomx(
    options: &RandomxOptions,
    threads: usize,
    duration: Duration,
    progress: Option<(Duration, &mut dyn FnMut(RandomxProgress))>,
) -> Result<RandomxBenchReport, RandomxError> {
    let threads = crate::hashing_threads(threads);
    let options = RandomxOptions {
        hashing_threads: threads,
        ..options.clone()
    };
    let setup_start = Instant::now();
    let context = RandomxContext::build(BENCH_KEY, &options)?;
    let setup = setup_start.elapsed();
    let init_threads = match &context {
        RandomxContext::Fast(d) => d.init_threads(),
        RandomxContext::Light(_) => 0,
    };
    let mut vms = (0..threads)
        .map(|_| context.vm_with(options.vm))
        .collect::<Result<Vec<_>, _>>()?;
    let compiled_vm = vms.first().is_some_and(super::Vm::is_compiled);
    let hashes_per_thread = vms.first().map_or(1, super::Vm::hashes_at_once);
    let stop = AtomicBool::new(false);
    let started = AtomicU64::new(0);
    let (hashes, elapsed) = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for (index, vm) in vms.iter_mut().enumerate() {
            let (stop, started, options) = (&stop, &started, &options);
            let spawned = std::thread::Builder::new()
                .name(format!("otedama-rx-bench-{index}"))
                .spawn_scoped(scope, move || {
                    crate::priority::place_current_thread(
                        options.priority,
                        &options.affinity,
                        index,
                        "bench threads",
                    );
                    // A 76-byte blob like a Monero block's, distinct per thread.
                    let mut blob: Vec<u8> = (0..76u8)
                        .map(|i| i.wrapping_mul(151).wrapping_add(7))
                        .collect();
                    blob[0] = index as u8;
                    let job = RandomxJob::new(
                        0,
                        blob,
                        super::MONERO_NONCE_OFFSET,
                        RandomxTarget::from_u64(0),
                        BENCH_KEY.to_vec(),
                        0,
                    );
                    let Ok(job) = job else {
                        return 0;
                    };
                    let mut total = 0u64;
                    let mut next = 0u32;
                    // Asked before each nonce: counts the hashes as they start.
                    let stopping = || {
                        let stopping = stop.load(Ordering::Relaxed);
                        if !stopping {
                            started.fetch_add(1, Ordering::Relaxed);
                        }
                        stopping
                    };
                    while !stop.load(Ordering::Relaxed) {
                        let end = next.saturating_add(1 << 16);
                        total += vm.scan_with(&job, next..end, stopping, |_| {});
                        next = if end == u32::MAX { 0 } else { end };
                    }
                    total
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(RandomxError::Spawn(e));
                }
            }
        }
        // The threads stop however this thread leaves, a panicking report included.
        let _stop_threads = StopOnDrop(&stop);
        let start = Instant::now();
        if let Some((every, report)) = progress
            && !every.is_zero()
        {
            let mut due = every;
            while due <= duration {
                std::thread::sleep(due.saturating_sub(start.elapsed()));
                report(RandomxProgress {
                    elapsed: start.elapsed(),
                    hashes: started.load(Ordering::Relaxed),
                    pages: context.pages(),
                });
                due += every;
            }
        }
        std::thread::sleep(duration.saturating_sub(start.elapsed()));
        stop.store(true, Ordering::Relaxed);
        let hashes = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(0))
            .sum::<u64>();
        Ok((hashes, start.elapsed()))
    })?;
    Ok(RandomxBenchReport {
        mode: context.mode(),
        pages: context.pages(),
        flags: context.flags(),
        threads,
        hashes,
        elapsed,
        setup,
        dataset_init: context.dataset_init_time(),
        init_threads,
        compiled_vm,
        hashes_per_thread,
    })
}
