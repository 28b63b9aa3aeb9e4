//! RandomX mining: jobs, targets, the pipelined nonce scan of one [`Vm`], and
//! [`RandomxMiner`], the hashing threads that follow a job and a seed.

use super::{
    PendingContext, RandomxContext, RandomxOptions, Vm, VmEngine, fast_mode_bytes, mem_available,
};
use crate::error::RandomxError;
use crate::priority::{CpuAffinity, ThreadPriority};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tracing::warn;

/// A 64-bit share target as Monero pools send it (`job.target`, widened to 8 bytes): a
/// hash meets it when its last 8 bytes, read little-endian (the top 64 bits of the hash
/// as a 256-bit little-endian number), are at most the target.
///
/// This is the miners' usual approximation of Monero's rule (`hash * difficulty <
/// 2^256`); the pool re-checks every share with the exact rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomxTarget(u64);

impl RandomxTarget {
    /// Returns the target `value`.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// Returns the target of `difficulty` (`u64::MAX / difficulty`; 0 counts as 1).
    pub fn from_difficulty(difficulty: u64) -> Self {
        Self(u64::MAX / difficulty.max(1))
    }

    /// Returns the target's value.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Returns the difficulty the target stands for.
    pub fn difficulty(self) -> u64 {
        u64::MAX / self.0.max(1)
    }

    /// Whether `hash` meets the target.
    pub fn is_met_by(self, hash: &[u8; 32]) -> bool {
        let mut top = [0u8; 8];
        top.copy_from_slice(&hash[24..]);
        u64::from_le_bytes(top) <= self.0
    }
}

/// Work for RandomX hashing threads: a hashing blob with a 4-byte little-endian nonce at
/// `nonce_offset`, its share target, and the key (seed hash) it is hashed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomxJob {
    id: u64,
    blob: Vec<u8>,
    nonce_offset: usize,
    target: RandomxTarget,
    seed: Vec<u8>,
    height: u64,
}

impl RandomxJob {
    /// Returns a job. `id` is the caller's, echoed in every [`RandomxFound`]; `seed` is
    /// the RandomX key (for Monero, the id of the block at [`super::seed_height`] of
    /// `height`); `nonce_offset` is 39 for Monero blocks
    /// ([`super::MONERO_NONCE_OFFSET`]).
    ///
    /// # Errors
    /// [`RandomxError::NonceOffset`] when the blob has no 4 bytes at `nonce_offset`.
    pub fn new(
        id: u64,
        blob: Vec<u8>,
        nonce_offset: usize,
        target: RandomxTarget,
        seed: Vec<u8>,
        height: u64,
    ) -> Result<Self, RandomxError> {
        if nonce_offset
            .checked_add(4)
            .is_none_or(|end| end > blob.len())
        {
            return Err(RandomxError::NonceOffset {
                len: blob.len(),
                offset: nonce_offset,
            });
        }
        Ok(Self {
            id,
            blob,
            nonce_offset,
            target,
            seed,
            height,
        })
    }

    /// Returns the caller's id of the job.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns the hashing blob (with whatever nonce it came with).
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// Returns the blob with `nonce` written in at the nonce offset.
    pub fn blob_with_nonce(&self, nonce: u32) -> Vec<u8> {
        let mut blob = self.blob.clone();
        put_nonce(&mut blob, self.nonce_offset, nonce);
        blob
    }

    /// Returns the share target.
    pub fn target(&self) -> RandomxTarget {
        self.target
    }

    /// Returns the RandomX key.
    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    /// Returns the height of the block being mined.
    pub fn height(&self) -> u64 {
        self.height
    }
}

/// `RandomxJob::new` checked that the nonce fits.
fn put_nonce(blob: &mut [u8], offset: usize, nonce: u32) {
    if let Some(slot) = blob.get_mut(offset..offset + 4) {
        slot.copy_from_slice(&nonce.to_le_bytes());
    }
}

/// A nonce whose hash meets the job's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomxFound {
    /// The id of the job it was found for.
    pub job_id: u64,
    /// The nonce, as written little-endian at the nonce offset.
    pub nonce: u32,
    /// The RandomX hash of the blob with the nonce.
    pub hash: [u8; 32],
}

/// What one scan hashed and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RandomxScan {
    /// Nonces hashed.
    pub hashes: u64,
    /// The nonces (in scan order) whose hash meets the target.
    pub found: Vec<RandomxFound>,
}

impl Vm {
    /// Hashes `job`'s blob with every nonce of `nonces` in order, each hash overlapped
    /// with the start of the next (`randomx_calculate_hash_first/next/last`), and returns
    /// those that meet the target. Stops early once `stop` is set; every nonce counted in
    /// [`RandomxScan::hashes`] was hashed and checked.
    ///
    /// The VM must have been built for `job.seed()`; a VM of another key returns hashes
    /// no pool accepts (the caller checks [`Vm::key`]).
    pub fn scan(&mut self, job: &RandomxJob, nonces: Range<u32>, stop: &AtomicBool) -> RandomxScan {
        let mut found = Vec::new();
        let hashes = self.scan_with(
            job,
            nonces,
            || stop.load(Ordering::Relaxed),
            |f| found.push(f),
        );
        RandomxScan { hashes, found }
    }

    /// [`Vm::scan`] with any stop condition, asked before each nonce, handing each
    /// result to `on_found` as soon as it is hashed; returns the nonces hashed.
    pub(crate) fn scan_with(
        &mut self,
        job: &RandomxJob,
        mut nonces: Range<u32>,
        stop: impl Fn() -> bool,
        mut on_found: impl FnMut(RandomxFound),
    ) -> u64 {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if let Some(vm) = self.pair() {
            return scan_pairs(vm, job, nonces, stop, on_found);
        }
        let mut hashes = 0u64;
        let mut blob = job.blob.clone();
        let Some(first) = nonces.next() else {
            return hashes;
        };
        if stop() {
            return hashes;
        }
        let mut record = |nonce: u32, hash: [u8; 32]| {
            hashes += 1;
            report(job, nonce, hash, &mut on_found);
        };
        put_nonce(&mut blob, job.nonce_offset, first);
        self.hash_first(&blob);
        let mut previous = first;
        for nonce in nonces {
            if stop() {
                break;
            }
            put_nonce(&mut blob, job.nonce_offset, nonce);
            let Some(hash) = self.hash_next(&blob) else {
                break;
            };
            record(previous, hash);
            previous = nonce;
        }
        if let Some(hash) = self.hash_last() {
            record(previous, hash);
        }
        hashes
    }
}

/// Hands a hash to `on_found` when it meets the job's target.
fn report(job: &RandomxJob, nonce: u32, hash: [u8; 32], on_found: &mut impl FnMut(RandomxFound)) {
    if job.target.is_met_by(&hash) {
        on_found(RandomxFound {
            job_id: job.id,
            nonce,
            hash,
        });
    }
}

/// [`Vm::scan_with`] on a VM that hashes two inputs at once: nonces in pairs, each pair
/// pipelined with the next, and an odd one left at the end (or when the stop comes
/// between the two of a pair) hashed alone.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn scan_pairs(
    vm: &mut super::compiled::CompiledVm,
    job: &RandomxJob,
    mut nonces: Range<u32>,
    stop: impl Fn() -> bool,
    mut on_found: impl FnMut(RandomxFound),
) -> u64 {
    let mut hashes = 0u64;
    let mut record = |nonce: u32, hash: [u8; 32]| {
        hashes += 1;
        report(job, nonce, hash, &mut on_found);
    };
    let mut blobs = [job.blob.clone(), job.blob.clone()];
    // The pair being hashed, whose hashes the next call returns.
    let mut running: Option<[u32; 2]> = None;
    // A nonce started without a partner.
    let mut alone = None;
    while let Some(a) = nonces.next() {
        if stop() {
            break;
        }
        let b = match nonces.next() {
            Some(b) if !stop() => b,
            _ => {
                alone = Some(a);
                break;
            }
        };
        put_nonce(&mut blobs[0], job.nonce_offset, a);
        put_nonce(&mut blobs[1], job.nonce_offset, b);
        let inputs = [&blobs[0][..], &blobs[1][..]];
        match running {
            None => vm.pair_first(inputs),
            Some([x, y]) => {
                let [hx, hy] = vm.pair_next(inputs);
                record(x, hx);
                record(y, hy);
            }
        }
        running = Some([a, b]);
    }
    if let Some([x, y]) = running {
        let [hx, hy] = vm.pair_last();
        record(x, hx);
        record(y, hy);
    }
    if let Some(a) = alone {
        put_nonce(&mut blobs[0], job.nonce_offset, a);
        record(a, vm.hash(&blobs[0]));
    }
    hashes
}

/// Nonces a hashing thread scans between looks at the shared state (the stop condition
/// is checked before every nonce regardless).
const CHUNK: u32 = 1 << 12;
/// Results waiting for the caller before new ones are dropped.
const RESULT_QUEUE: usize = 256;

/// What the hashing threads read.
#[derive(Debug, Default)]
struct State {
    job: Option<Arc<RandomxJob>>,
    context: Option<RandomxContext>,
    /// Bumped on every new job or context.
    generation: u64,
    /// Bumped on every new context (or none), to tell a thread its VM is stale.
    context_id: u64,
    /// VMs the threads hold.
    vms: usize,
    shutdown: bool,
}

impl State {
    /// The job and the context when they belong together.
    fn runnable(&self) -> Option<(Arc<RandomxJob>, RandomxContext)> {
        match (&self.job, &self.context) {
            (Some(job), Some(context)) if job.seed() == context.key() => {
                Some((Arc::clone(job), context.clone()))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// A copy of `State::generation` the threads read without the lock.
    generation: AtomicU64,
    shutdown: AtomicBool,
    hashes: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A hashing thread never panics while holding the lock; if one did, the state is
        // still consistent (every update is a single assignment).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        f(&mut state);
        state.generation += 1;
        self.generation.store(state.generation, Ordering::Release);
        drop(state);
        self.changed.notify_all();
    }
}

/// RandomX hashing threads that follow a job and the context (dataset or cache) of its
/// seed.
///
/// The threads share one context; each has its own [`Vm`] and its own slice of the
/// nonce space. A job whose seed differs from the context's waits until
/// [`RandomxMiner::set_context`] brings the matching one; the old context is freed when
/// the last thread drops its VM. Results go to the bounded channel
/// [`RandomxMiner::start`] returns; those the caller does not take in time are dropped
/// and counted ([`RandomxMiner::dropped`]).
#[derive(Debug)]
pub struct RandomxMiner {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    threads: usize,
    prepared: Mutex<Option<PendingContext>>,
    slot: Option<Arc<DatasetSlot>>,
}

/// Where a [`RandomxMiner`] publishes its fast-mode dataset, so that another part of the
/// process (a node's share verifier) hashes with it instead of building a RandomX cache
/// of its own: one dataset per seed, for mining and for validation. The slot holds a
/// weak reference, so the dataset is still freed when the miner lets go of it.
#[derive(Debug, Default)]
pub struct DatasetSlot(Mutex<Option<std::sync::Weak<super::Dataset>>>);

impl DatasetSlot {
    pub(crate) fn publish(&self, context: Option<&RandomxContext>) {
        let weak = match context {
            Some(RandomxContext::Fast(dataset)) => Some(Arc::downgrade(dataset)),
            _ => None,
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = weak;
    }

    /// Hashes `input` under `key` on the published dataset, when there is one and it is
    /// `key`'s; `None` otherwise (the caller falls back to a light cache). Each call makes
    /// a VM of its own (its 2 MiB scratchpad), which it frees before returning. Shares
    /// are checked with the library's VM, RandomX's reference, whatever VM mines.
    pub fn hash(&self, key: &[u8], input: &[u8]) -> Option<[u8; 32]> {
        let dataset = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()?
            .upgrade()?;
        if dataset.key() != key {
            return None;
        }
        let mut vm = super::Vm::fast_library(dataset).ok()?;
        Some(vm.hash(input))
    }
}

impl RandomxMiner {
    /// Starts `threads` hashing threads (0: one per logical CPU) at `priority`, pinned
    /// as `affinity` says, each hashing with a VM of `engine` (fast mode), idle until a
    /// job and its context are set, and returns the miner with the receiver of its
    /// results.
    ///
    /// # Errors
    /// [`RandomxError::Spawn`] when a thread cannot start (those started are stopped).
    pub fn start(
        threads: usize,
        priority: ThreadPriority,
        affinity: &CpuAffinity,
        engine: VmEngine,
    ) -> Result<(Self, mpsc::Receiver<RandomxFound>), RandomxError> {
        let threads = crate::hashing_threads(threads);
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::sync_channel(RESULT_QUEUE);
        let mut miner = Self {
            shared: Arc::clone(&shared),
            handles: Vec::with_capacity(threads),
            threads,
            prepared: Mutex::new(None),
            slot: None,
        };
        for index in 0..threads {
            let (shared, tx) = (Arc::clone(&shared), tx.clone());
            let slice = nonce_slice(index, threads);
            let affinity = affinity.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("otedama-rx-{index}"))
                .spawn(move || {
                    crate::priority::place_current_thread(
                        priority,
                        &affinity,
                        index,
                        "RandomX threads",
                    );
                    hashing_thread(&shared, slice, engine, &tx);
                });
            match spawned {
                // Dropping `miner` stops and joins the threads already started.
                Ok(handle) => miner.handles.push(handle),
                Err(e) => return Err(RandomxError::Spawn(e)),
            }
        }
        Ok((miner, rx))
    }

    /// Publishes every fast-mode dataset the threads hash with in `slot` from now on.
    pub fn publish_to(&mut self, slot: Arc<DatasetSlot>) {
        slot.publish(self.shared.lock().context.as_ref());
        self.slot = Some(slot);
    }

    /// Returns the number of hashing threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Hands the threads a new job; they leave the previous one at once.
    pub fn set_job(&self, job: RandomxJob) {
        self.shared.update(|s| s.job = Some(Arc::new(job)));
    }

    /// Stops hashing until the next job.
    pub fn clear_job(&self) {
        self.shared.update(|s| s.job = None);
    }

    /// Replaces the context the threads hash with; each thread drops its VM over the old
    /// one first, so the old dataset is freed once no thread reads it.
    pub fn set_context(&self, context: RandomxContext) {
        if let Some(slot) = &self.slot {
            slot.publish(Some(&context));
        }
        self.shared.update(|s| {
            s.context = Some(context);
            s.context_id += 1;
        });
    }

    /// Returns the key of the context the threads hash with.
    pub fn context_key(&self) -> Option<Vec<u8>> {
        self.shared
            .lock()
            .context
            .as_ref()
            .map(|c| c.key().to_vec())
    }

    /// Starts building the context of the next seed `key` in the background, when the
    /// machine has the memory for a second dataset (or `options` ask for light mode).
    /// Returns whether a build started; without one, [`RandomxMiner::switch_seed`] builds
    /// the next context after freeing the current one.
    ///
    /// # Errors
    /// [`RandomxError::Spawn`] when the thread cannot start.
    pub fn prepare_seed(&self, key: &[u8], options: &RandomxOptions) -> Result<bool, RandomxError> {
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if prepared.as_ref().is_some_and(|p| p.key() == key) {
            return Ok(true);
        }
        let fits = options.mode == super::RandomxMode::Light
            || mem_available().is_none_or(|m| m >= fast_mode_bytes(options.hashing_threads));
        if !fits {
            return Ok(false);
        }
        *prepared = Some(RandomxContext::build_in_background(key, options)?);
        Ok(true)
    }

    /// Makes `key` the threads' seed: takes the context [`RandomxMiner::prepare_seed`]
    /// built if it is for `key`, else frees the current context (the threads pause) and
    /// builds the new one here. Does nothing when `key` is already the seed.
    ///
    /// # Errors
    /// [`RandomxError`] when the new context cannot be built; the threads then idle.
    pub fn switch_seed(&self, key: &[u8], options: &RandomxOptions) -> Result<(), RandomxError> {
        if self.context_key().as_deref() == Some(key) {
            return Ok(());
        }
        let pending = self
            .prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(pending) = pending
            && pending.key() == key
            && let Ok(context) = pending.wait()
        {
            self.set_context(context);
            return Ok(());
        }
        // No prepared context: free the current one before building a second.
        if let Some(slot) = &self.slot {
            slot.publish(None);
        }
        self.shared.update(|s| {
            s.context = None;
            s.context_id += 1;
        });
        self.wait_for_vms_dropped();
        let context = RandomxContext::build(key, options)?;
        self.set_context(context);
        Ok(())
    }

    /// Waits until every thread has dropped its VM over the context just cleared, so
    /// its dataset is freed before another is allocated.
    fn wait_for_vms_dropped(&self) {
        // The threads drop their VMs as soon as they see the cleared context; each
        // checks before every nonce, so this takes at most one hash.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut state = self.shared.lock();
        while state.vms > 0 && std::time::Instant::now() < deadline {
            state = self
                .shared
                .changed
                .wait_timeout(state, std::time::Duration::from_millis(50))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Returns the hashes of all threads since the start.
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.load(Ordering::Relaxed)
    }

    /// Returns the results dropped because the receiver fell behind or was gone.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops the threads and waits for them.
    pub fn stop(self) {}
}

impl Drop for RandomxMiner {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        self.shared.update(|s| s.shutdown = true);
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

/// The nonces thread `index` of `threads` scans.
fn nonce_slice(index: usize, threads: usize) -> Range<u32> {
    let span = 1u64 << 32;
    let bound = |i: usize| (span * i as u64 / threads as u64).min(u64::from(u32::MAX)) as u32;
    bound(index)..bound(index + 1)
}

/// One hashing thread: waits for a runnable job, keeps a VM over the current context,
/// scans its nonce slice in chunks, and sends what meets the target.
fn hashing_thread(
    shared: &Shared,
    slice: Range<u32>,
    engine: VmEngine,
    results: &mpsc::SyncSender<RandomxFound>,
) {
    // The VM and the id of the context it was made over.
    let mut vm: Option<(Vm, u64)> = None;
    let mut seen = u64::MAX;
    let mut next = slice.end;
    loop {
        let (job, context, context_id) = {
            let mut state = shared.lock();
            loop {
                if state.shutdown {
                    return;
                }
                // A VM over a context that is no longer current goes at once: it keeps
                // that context's dataset alive.
                if vm.as_ref().is_some_and(|(_, id)| *id != state.context_id) {
                    vm = None;
                    state.vms -= 1;
                    shared.changed.notify_all();
                }
                if state.generation != seen {
                    seen = state.generation;
                    next = slice.start;
                }
                if next < slice.end
                    && let Some((job, context)) = state.runnable()
                {
                    break (job, context, state.context_id);
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        if vm.is_none() {
            match context.vm_with(engine) {
                Ok(v) => {
                    vm = Some((v, context_id));
                    shared.lock().vms += 1;
                }
                Err(error) => {
                    warn!(target: "otedama::miner", %error, "RandomX thread idles until the next job");
                    next = slice.end;
                    continue;
                }
            }
        }
        // The VM holds what it needs of the context.
        drop(context);
        let Some((machine, _)) = vm.as_mut() else {
            continue;
        };
        let end = next.saturating_add(CHUNK).min(slice.end);
        let hashes = machine.scan_with(
            &job,
            next..end,
            || {
                shared.generation.load(Ordering::Acquire) != seen
                    || shared.shutdown.load(Ordering::Relaxed)
            },
            |found| {
                if results.try_send(found).is_err() {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
        );
        shared.hashes.fetch_add(hashes, Ordering::Relaxed);
        // `hashes <= end - next`, so this stays in the slice.
        next = next.saturating_add(u32::try_from(hashes).unwrap_or(u32::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::nonce_slice;

    /// The threads' slices are disjoint, in order, and cover the nonces.
    #[test]
    fn nonce_slices_split_the_space() {
        for threads in [1usize, 2, 3, 7, 64] {
            let slices: Vec<_> = (0..threads).map(|i| nonce_slice(i, threads)).collect();
            assert_eq!(slices[0].start, 0);
            assert_eq!(slices[threads - 1].end, u32::MAX);
            for pair in slices.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert!(pair[0].start < pair[0].end);
            }
        }
    }
}
