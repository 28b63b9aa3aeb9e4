//! RandomX light-mode proof-of-work verification for Monero shares.
//!
//! The verifier keeps one RandomX cache (256 MiB, about half a second to build) per key
//! in a small least-recently-used set, so that the current and the previous seed epoch
//! stay warm. The RandomX objects live on one worker thread that owns them; callers send
//! it work through a channel, which makes the verifier `Send + Sync` without sharing the
//! library's raw pointers between threads.
//!
//! A cache other than the one last used is freed once it has gone unused for
//! [`CACHE_IDLE`]: around a seed switch the previous seed's cache checks the late shares
//! of the old epoch, then goes, so a node holds one cache (or only the dataset) between
//! switches.
//!
//! Where the process mines in fast mode, the miner's dataset is shared
//! ([`SharedDataset`], [`RandomxVerifier::with_dataset`]): a key the dataset holds is
//! hashed on it, and the verifier's own cache of that key is freed. One dataset per seed
//! then serves mining and validation, and a mining node holds no cache beside it.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use randomx_rs::{RandomXCache, RandomXFlag, RandomXVM};

use super::hash::Hash;
use super::share::PoolShare;
use super::sidechain::{PowCheck, PowVerdict, check_pow};

/// How many RandomX caches a verifier keeps by default: the current seed epoch and the
/// previous one.
pub const DEFAULT_CACHES: usize = 2;

/// How long a cache other than the last used one is kept without use: long enough for
/// the late shares of the previous seed epoch around a switch, far shorter than an epoch
/// (2048 Monero blocks, about three days).
pub const CACHE_IDLE: Duration = Duration::from_secs(600);

/// A failure of the RandomX library or of the verifier's worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomxError {
    /// The cache or the VM for a key could not be created.
    #[error("RandomX initialisation failed: {0}")]
    Init(String),
    /// Hashing failed.
    #[error("RandomX hashing failed: {0}")]
    Hash(String),
    /// The library returned a hash that is not 32 bytes long.
    #[error("RandomX returned a {0}-byte hash")]
    HashLength(usize),
    /// The RandomX key is empty.
    #[error("RandomX key is empty")]
    EmptyKey,
    /// The worker thread is gone (it could not start, or it panicked).
    #[error("RandomX worker is not running")]
    WorkerGone,
}

/// Where the verifier finds the RandomX key of a share: the id of the Monero block at the
/// share's seed height.
pub trait SeedSource: Send + Sync {
    /// Returns the id of the Monero block at `seed_height`, if known.
    fn seed_hash(&self, seed_height: u64) -> Option<Hash>;
}

impl<F: Fn(u64) -> Option<Hash> + Send + Sync> SeedSource for F {
    fn seed_hash(&self, seed_height: u64) -> Option<Hash> {
        self(seed_height)
    }
}

/// A fast-mode dataset owned elsewhere in the process (the built-in miner's), which the
/// verifier hashes with for the key it holds.
pub trait SharedDataset: Send + Sync + std::fmt::Debug {
    /// Hashes `input` under `key` when a dataset of `key` is ready; `None` otherwise.
    fn hash(&self, key: &[u8], input: &[u8]) -> Option<[u8; 32]>;
}

/// What the worker is asked.
enum Request {
    /// Hash `input` under `key`.
    Hash {
        key: Vec<u8>,
        input: Vec<u8>,
        reply: mpsc::Sender<Result<Hash, RandomxError>>,
    },
    /// Count the caches held.
    Caches(mpsc::Sender<usize>),
}

/// A RandomX light-mode verifier behind the sidechain's [`PowCheck`] seam.
///
/// A share whose seed block is unknown to the [`SeedSource`], or that the library fails
/// to hash, gets [`PowVerdict::Unchecked`]; it is never rejected for a local failure.
pub struct RandomxVerifier {
    jobs: mpsc::Sender<Request>,
    seeds: Box<dyn SeedSource>,
}

/// The verifier worker's state: its light VMs, most recently used last, and the shared
/// dataset if any.
struct Worker {
    vms: VecDeque<LightVm>,
    flags: RandomXFlag,
    capacity: usize,
    idle: Duration,
    shared: Option<std::sync::Arc<dyn SharedDataset>>,
}

/// A light VM over its own cache of `key`.
struct LightVm {
    key: Vec<u8>,
    vm: RandomXVM,
    used: Instant,
}

impl std::fmt::Debug for RandomxVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomxVerifier").finish_non_exhaustive()
    }
}

impl RandomxVerifier {
    /// Starts a verifier that keeps up to `caches` RandomX caches (at least one) and
    /// reads seed hashes from `seeds`.
    ///
    /// # Errors
    /// [`RandomxError::WorkerGone`] when the worker thread cannot be started.
    pub fn new(seeds: impl SeedSource + 'static, caches: usize) -> Result<Self, RandomxError> {
        Self::start(seeds, caches, CACHE_IDLE, None)
    }

    /// As [`RandomxVerifier::new`], hashing on `dataset` whenever it holds the key asked
    /// for (and then freeing the verifier's own cache of that key).
    ///
    /// # Errors
    /// As [`RandomxVerifier::new`].
    pub fn with_dataset(
        seeds: impl SeedSource + 'static,
        caches: usize,
        dataset: std::sync::Arc<dyn SharedDataset>,
    ) -> Result<Self, RandomxError> {
        Self::start(seeds, caches, CACHE_IDLE, Some(dataset))
    }

    fn start(
        seeds: impl SeedSource + 'static,
        caches: usize,
        idle: Duration,
        shared: Option<std::sync::Arc<dyn SharedDataset>>,
    ) -> Result<Self, RandomxError> {
        let (jobs, rx) = mpsc::channel::<Request>();
        let capacity = caches.max(1);
        thread::Builder::new()
            .name("randomx-verify".into())
            .spawn(move || {
                // The library's objects are made and used on this thread alone.
                let mut worker = Worker {
                    vms: VecDeque::new(),
                    flags: RandomXFlag::get_recommended_flags(),
                    capacity,
                    idle,
                    shared,
                };
                let tick = (idle / 4).max(Duration::from_millis(1));
                loop {
                    let request = match rx.recv_timeout(tick) {
                        Ok(request) => Some(request),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let now = Instant::now();
                    worker.free_idle(now);
                    // The caller may have gone away; nothing to do then.
                    match request {
                        Some(Request::Hash { key, input, reply }) => {
                            let _ = reply.send(worker.hash(&key, &input, now));
                        }
                        Some(Request::Caches(reply)) => {
                            let _ = reply.send(worker.vms.len());
                        }
                        None => {}
                    }
                }
            })
            .map_err(|_| RandomxError::WorkerGone)?;
        Ok(Self {
            jobs,
            seeds: Box::new(seeds),
        })
    }

    /// Hashes `input` with RandomX under `key` (for Monero, the seed block id).
    ///
    /// # Errors
    /// A [`RandomxError`] when the key is empty or the library fails.
    pub fn hash(&self, key: &[u8], input: &[u8]) -> Result<Hash, RandomxError> {
        if key.is_empty() {
            return Err(RandomxError::EmptyKey);
        }
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(Request::Hash {
                key: key.to_vec(),
                input: input.to_vec(),
                reply,
            })
            .map_err(|_| RandomxError::WorkerGone)?;
        answer.recv().map_err(|_| RandomxError::WorkerGone)?
    }

    /// Returns how many light caches (256 MiB each) the verifier holds now.
    ///
    /// # Errors
    /// [`RandomxError::WorkerGone`] when the worker is not running.
    pub fn caches(&self) -> Result<usize, RandomxError> {
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(Request::Caches(reply))
            .map_err(|_| RandomxError::WorkerGone)?;
        answer.recv().map_err(|_| RandomxError::WorkerGone)
    }

    /// Returns the PoW hash of a share: its hashing blob under the id of the Monero block
    /// at its seed height. `Ok(None)` when the seed block is unknown.
    ///
    /// # Errors
    /// A [`RandomxError`] when the library fails.
    pub fn pow_hash(&self, share: &PoolShare) -> Result<Option<Hash>, RandomxError> {
        let Some(seed) = self
            .seeds
            .seed_hash(super::params::seed_height(share.height))
        else {
            return Ok(None);
        };
        self.hash(seed.as_bytes(), &share.hashing_blob()).map(Some)
    }
}

impl PowCheck for RandomxVerifier {
    fn check(&self, share: &PoolShare, hashing_blob: &[u8], seed_height: u64) -> PowVerdict {
        let Some(seed) = self.seeds.seed_hash(seed_height) else {
            return PowVerdict::Unchecked;
        };
        match self.hash(seed.as_bytes(), hashing_blob) {
            Ok(h) if check_pow(&h, share.difficulty) => PowVerdict::Valid,
            Ok(_) => PowVerdict::Invalid,
            Err(_) => PowVerdict::Unchecked,
        }
    }
}

impl Worker {
    /// Frees the caches unused for longer than the idle limit, except the last used one
    /// when no dataset is shared (a validating node's cache of the current seed). The
    /// caches are kept in the order of their last use, so the idle ones come first.
    fn free_idle(&mut self, now: Instant) {
        let keep = usize::from(self.shared.is_none());
        while self.vms.len() > keep
            && self
                .vms
                .front()
                .is_some_and(|vm| now.saturating_duration_since(vm.used) > self.idle)
        {
            self.vms.pop_front();
        }
    }

    /// Hashes on the shared dataset when it holds `key` (freeing the light VM of that
    /// key), else on the light VM of `key`, built if missing; `now` is its last use.
    fn hash(&mut self, key: &[u8], input: &[u8], now: Instant) -> Result<Hash, RandomxError> {
        if let Some(h) = self.shared.as_ref().and_then(|d| d.hash(key, input)) {
            self.vms.retain(|vm| vm.key != key);
            return Ok(Hash::from_bytes(h));
        }
        let vms = &mut self.vms;
        if let Some(pos) = vms.iter().position(|vm| vm.key == key) {
            if let Some(entry) = vms.remove(pos) {
                vms.push_back(entry);
            }
        } else {
            let cache = RandomXCache::new(self.flags, key)
                .map_err(|e| RandomxError::Init(e.to_string()))?;
            let vm = RandomXVM::new(self.flags, Some(cache), None)
                .map_err(|e| RandomxError::Init(e.to_string()))?;
            while vms.len() >= self.capacity {
                vms.pop_front();
            }
            vms.push_back(LightVm {
                key: key.to_vec(),
                vm,
                used: now,
            });
        }
        let entry = vms.back_mut().ok_or(RandomxError::WorkerGone)?;
        entry.used = now;
        let out = entry
            .vm
            .calculate_hash(input)
            .map_err(|e| RandomxError::Hash(e.to_string()))?;
        let bytes: [u8; 32] = out
            .as_slice()
            .try_into()
            .map_err(|_| RandomxError::HashLength(out.len()))?;
        Ok(Hash::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_seeds(_: u64) -> Option<Hash> {
        None
    }

    #[test]
    fn reference_vector_and_cache_eviction() {
        let v = RandomxVerifier::new(no_seeds, 1).expect("start");
        let want = "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f";
        let got = v.hash(b"test key 000", b"This is a test").expect("hash");
        assert_eq!(hex::encode(got.as_bytes()), want);
        assert_eq!(v.hash(b"", b"x"), Err(RandomxError::EmptyKey));
        // A second key evicts the first from a one-cache verifier; hashing under the
        // first key again rebuilds it and gives the same answer.
        let other = v.hash(b"test key 001", b"This is a test").expect("hash");
        assert_ne!(other, got);
        assert_eq!(v.hash(b"test key 000", b"This is a test"), Ok(got));
    }

    /// A dataset that holds one key and answers a marker instead of a RandomX hash.
    #[derive(Debug)]
    struct OneKey;

    impl SharedDataset for OneKey {
        fn hash(&self, key: &[u8], _input: &[u8]) -> Option<[u8; 32]> {
            (key == b"mined key").then_some([0xd5; 32])
        }
    }

    #[test]
    fn the_shared_dataset_answers_for_its_key_and_light_mode_for_others() {
        let v =
            RandomxVerifier::with_dataset(no_seeds, 1, std::sync::Arc::new(OneKey)).expect("start");
        assert_eq!(v.hash(b"mined key", b"x"), Ok(Hash::from_bytes([0xd5; 32])));
        let want = "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f";
        let got = v.hash(b"test key 000", b"This is a test").expect("hash");
        assert_eq!(hex::encode(got.as_bytes()), want);
    }

    /// A cache left unused past the idle limit is freed, but a validating node keeps the
    /// one it used last; with a shared dataset, none is kept.
    #[test]
    fn idle_caches_are_freed() {
        let idle = Duration::from_millis(500);
        let v = RandomxVerifier::start(no_seeds, 2, idle, None).expect("start");
        let a = v.hash(b"test key 000", b"x").expect("hash");
        v.hash(b"test key 001", b"x").expect("hash");
        wait_for_caches(&v, 1, idle);
        // The last used cache stays, however long it idles.
        std::thread::sleep(2 * idle);
        assert_eq!(v.caches(), Ok(1));
        // The freed key is rebuilt, with the same hash (and the other, idle since before
        // the wait, goes).
        assert_eq!(v.hash(b"test key 000", b"x"), Ok(a));
        assert_eq!(v.caches(), Ok(1));

        let shared = std::sync::Arc::new(OneKey);
        let v = RandomxVerifier::start(no_seeds, 2, idle, Some(shared)).expect("start");
        v.hash(b"test key 000", b"x").expect("hash");
        assert_eq!(v.caches(), Ok(1));
        assert_eq!(v.hash(b"mined key", b"x"), Ok(Hash::from_bytes([0xd5; 32])));
        wait_for_caches(&v, 0, idle);
    }

    /// Waits (at most ten idle limits) until `v` holds `want` caches.
    fn wait_for_caches(v: &RandomxVerifier, want: usize, idle: Duration) {
        let deadline = Instant::now() + 10 * idle;
        while v.caches() != Ok(want) {
            assert!(Instant::now() < deadline, "still {:?} caches", v.caches());
            std::thread::sleep(idle / 10);
        }
    }

    #[test]
    fn verifier_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RandomxVerifier>();
    }
}
