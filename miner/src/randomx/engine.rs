//! Safe wrappers over the RandomX C API: [`RandomxFlags`], [`Cache`], [`Dataset`] and
//! [`Vm`].
//!
//! Ownership follows the library's rules: a cache or a dataset is written once (when it
//! is built) and only read afterwards, by any number of VMs on any threads, so both are
//! `Send + Sync` and shared through `Arc`. A VM has mutable state (its scratchpad and
//! registers) and belongs to one thread at a time: it is `Send`, not `Sync`, and holds
//! an `Arc` of the memory it reads so that memory outlives it.

#![allow(unsafe_code)]

use super::memory::{self, HugePages, PageMode};
use super::{ffi, items};
use crate::error::RandomxError;
use crate::priority::{CpuAffinity, ThreadPriority};
use std::ffi::{c_int, c_ulong};
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The RandomX features the library found on this CPU (`randomx_get_flags`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RandomxFlags(c_int);

impl RandomxFlags {
    /// Returns the flags the library recommends for the running CPU.
    pub fn detect() -> Self {
        // SAFETY: a pure query without arguments; it reads CPUID.
        let raw = unsafe { ffi::randomx_get_flags() };
        Self(raw & !(ffi::FLAG_FULL_MEM | ffi::FLAG_LARGE_PAGES))
    }

    /// Returns the flags with the JIT turned off (the interpreter; for comparisons).
    pub fn without_jit(self) -> Self {
        Self(self.0 & !(ffi::FLAG_JIT | ffi::FLAG_SECURE))
    }

    /// Whether programs are compiled to machine code (otherwise interpreted, about 5x
    /// slower).
    pub fn jit(self) -> bool {
        self.0 & ffi::FLAG_JIT != 0
    }

    /// Whether the CPU's AES instructions are used (otherwise software AES).
    pub fn hard_aes(self) -> bool {
        self.0 & ffi::FLAG_HARD_AES != 0
    }

    /// Whether the JIT keeps its code W^X (write and execute never at once), which some
    /// systems require and which costs a little speed.
    pub fn secure_jit(self) -> bool {
        self.0 & ffi::FLAG_SECURE != 0
    }

    /// Returns the Argon2 implementation the cache is filled with: `avx2`, `ssse3` or
    /// `portable`.
    pub fn argon2(self) -> &'static str {
        if self.0 & ffi::FLAG_ARGON2_AVX2 != 0 {
            "avx2"
        } else if self.0 & ffi::FLAG_ARGON2_SSSE3 != 0 {
            "ssse3"
        } else {
            "portable"
        }
    }

    /// The raw flags of a VM over these features.
    fn vm(self, fast: bool, pages: PageMode) -> c_int {
        let mut raw = self.0 & (ffi::FLAG_JIT | ffi::FLAG_HARD_AES | ffi::FLAG_SECURE);
        if fast {
            raw |= ffi::FLAG_FULL_MEM;
        }
        if pages.reserved() {
            raw |= ffi::FLAG_LARGE_PAGES;
        }
        raw
    }
}

impl fmt::Display for RandomxFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jit = match (self.jit(), self.secure_jit()) {
            (true, true) => "jit (secure)",
            (true, false) => "jit",
            (false, _) => "interpreter",
        };
        let aes = if self.hard_aes() {
            "hard-aes"
        } else {
            "soft-aes"
        };
        write!(f, "{jit}, {aes}, argon2-{}", self.argon2())
    }
}

impl fmt::Debug for RandomxFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RandomxFlags({self})")
    }
}

/// A RandomX cache (256 MiB): the Argon2d fill of one key. Light-mode VMs hash from it;
/// a [`Dataset`] is computed from it.
pub struct Cache {
    ptr: NonNull<ffi::RandomxCache>,
    key: Vec<u8>,
    flags: RandomxFlags,
    pages: PageMode,
}

// SAFETY: after `Cache::new` returns, the library only reads the cache (VM hashing and
// `randomx_init_dataset` on disjoint ranges, which its own multi-threaded benchmark does
// from many threads at once); the pointer is freed only in `Drop`, with no borrow left.
unsafe impl Send for Cache {}
// SAFETY: as above: shared use is read-only.
unsafe impl Sync for Cache {}

impl Cache {
    /// Builds the cache of `key` (for Monero, the seed block id; about 0.3 s with AVX2
    /// Argon2). With [`HugePages::Auto`] it tries reserved huge pages first; then, unless
    /// [`HugePages::Off`], transparent huge pages.
    ///
    /// # Errors
    /// [`RandomxError::CacheAlloc`] when the memory cannot be allocated.
    pub fn new(
        key: &[u8],
        flags: RandomxFlags,
        huge_pages: HugePages,
    ) -> Result<Self, RandomxError> {
        let base = flags.0 & (ffi::FLAG_JIT | ffi::FLAG_ARGON2_AVX2 | ffi::FLAG_ARGON2_SSSE3);
        let mut attempts = Vec::with_capacity(2);
        if huge_pages == HugePages::Auto {
            attempts.push((base | ffi::FLAG_LARGE_PAGES, PageMode::HugeTlb));
        }
        attempts.push((base, PageMode::Normal));
        for (raw, mut pages) in attempts {
            // SAFETY: any flag combination is accepted; NULL reports failure.
            let Some(ptr) = NonNull::new(unsafe { ffi::randomx_alloc_cache(raw) }) else {
                continue;
            };
            // The dataset's items read random cache lines: on 4 KiB pages nearly every
            // read is a TLB miss. Advise transparent huge pages before Argon2 first
            // writes the memory. The advice changes no contents, so a wrong pointer
            // could cost nothing but the advice.
            if pages == PageMode::Normal && huge_pages != HugePages::Off {
                // SAFETY: a live cache just allocated by the bundled library.
                let memory = unsafe { items::cache_memory(ptr) };
                if !memory.is_null()
                    && memory::advise_huge_pages(memory, memory::CACHE_BYTES as usize)
                {
                    pages = PageMode::Transparent;
                }
            }
            // SAFETY: `ptr` is a live cache; `key` is valid for `key.len()` bytes (an
            // empty key is allowed with any pointer).
            unsafe { ffi::randomx_init_cache(ptr.as_ptr(), key.as_ptr().cast(), key.len()) };
            return Ok(Self {
                ptr,
                key: key.to_vec(),
                flags,
                pages,
            });
        }
        Err(RandomxError::CacheAlloc {
            bytes: memory::CACHE_BYTES,
        })
    }

    /// Returns the key the cache was built from.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The library's cache, for the item computation that reads its programs.
    pub(crate) fn raw(&self) -> NonNull<ffi::RandomxCache> {
        self.ptr
    }

    /// Returns the pages the cache lives on.
    pub fn pages(&self) -> PageMode {
        self.pages
    }

    /// Returns the features the cache was built with.
    pub fn flags(&self) -> RandomxFlags {
        self.flags
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `randomx_alloc_cache` and is released once; no VM
        // or dataset build borrows it any more (they hold `&Cache` or `Arc<Cache>`).
        unsafe { ffi::randomx_release_cache(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("key", &hex::encode(&self.key))
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}

/// A RandomX dataset (2080 MiB), computed from a [`Cache`] on several threads at once.
/// Fast-mode VMs read it; all mining threads share one through `Arc`.
pub struct Dataset {
    ptr: NonNull<ffi::RandomxDataset>,
    key: Vec<u8>,
    flags: RandomxFlags,
    pages: PageMode,
    init_time: Duration,
    init_threads: usize,
    /// Whether the items were computed several at a time (`items`), not by the library.
    interleaved: bool,
    /// On 1 GiB pages: the memory the dataset reads instead of the library's.
    gigantic: Option<GiganticMemory>,
}

/// A dataset's memory on 1 GiB pages: the mapping it reads, and the memory the library
/// allocated for it (never touched), handed back to the library on release.
struct GiganticMemory {
    /// Held for its `Drop`, which unmaps it after the dataset is released.
    _mapping: memory::GiganticMapping,
    library: *mut u8,
}

// SAFETY: the dataset is written only inside `Dataset::build`, before the value exists;
// afterwards VMs only read it. Freed only in `Drop`, when no VM holds it.
unsafe impl Send for Dataset {}
// SAFETY: as above: shared use is read-only.
unsafe impl Sync for Dataset {}

/// The dataset pointer handed to the init threads, each of which writes its own item
/// range, with the dataset's memory for the interleaved item computation.
#[derive(Clone, Copy)]
struct InitTarget {
    dataset: *mut ffi::RandomxDataset,
    cache: *mut ffi::RandomxCache,
    memory: *mut u8,
}

// SAFETY: the threads of `Dataset::build` write disjoint item ranges of one dataset and
// only read the cache; `build` joins them all before it returns.
unsafe impl Send for InitTarget {}

impl Dataset {
    /// Returns whether the items were computed several at a time with the cache's
    /// programs compiled here, rather than one at a time by the library.
    pub fn interleaved(&self) -> bool {
        self.interleaved
    }

    /// Returns the number of 64-byte items of a dataset.
    // `c_ulong` is 32 bits on Windows, 64 elsewhere.
    #[allow(clippy::useless_conversion)]
    pub fn item_count() -> u64 {
        // SAFETY: a constant query.
        u64::from(unsafe { ffi::randomx_dataset_item_count() })
    }

    /// Allocates a dataset and computes it from `cache` on `threads` threads (0: one per
    /// logical CPU), each running at `priority`.
    ///
    /// The pages are, with [`HugePages::Auto`], reserved 1 GiB pages when the system has
    /// enough of them, else reserved 2 MiB pages, else memory advised to be backed by
    /// transparent huge pages (before the threads first touch it), else normal pages;
    /// see [`Dataset::pages`].
    ///
    /// # Errors
    /// [`RandomxError::DatasetAlloc`] when the memory cannot be allocated;
    /// [`RandomxError::Spawn`] when a thread cannot be started.
    pub fn build(
        cache: &Cache,
        threads: usize,
        huge_pages: HugePages,
        priority: ThreadPriority,
        affinity: &CpuAffinity,
    ) -> Result<Self, RandomxError> {
        let threads = crate::hashing_threads(threads);
        let start = Instant::now();
        let (ptr, pages, gigantic) = Self::allocate(huge_pages)?;
        let mut dataset = Self {
            ptr,
            key: cache.key.clone(),
            flags: cache.flags,
            pages,
            init_time: Duration::ZERO,
            init_threads: threads,
            interleaved: false,
            gigantic,
        };
        let items = Self::item_count();
        // SAFETY: the cache is initialised, outlives the kernel (dropped at the end of
        // this function) and is only read from here on.
        let kernel = unsafe { items::ItemKernel::new(cache.raw(), items) };
        dataset.interleaved = kernel.is_some();
        let target = InitTarget {
            dataset: dataset.ptr.as_ptr(),
            cache: cache.ptr.as_ptr(),
            // SAFETY: a live dataset.
            memory: unsafe { ffi::randomx_get_dataset_memory(dataset.ptr.as_ptr()) }.cast(),
        };
        let kernel = kernel.as_ref();
        std::thread::scope(|scope| {
            let mut handles = Vec::with_capacity(threads);
            for index in 0..threads as u64 {
                let first = items * index / threads as u64;
                let end = items * (index + 1) / threads as u64;
                let spawned = std::thread::Builder::new()
                    .name(format!("otedama-rx-init-{index}"))
                    .spawn_scoped(scope, move || {
                        // A refusal only costs speed; mining threads report it.
                        let _ = priority.apply_to_current_thread();
                        let _ = affinity.apply_to_current_thread(index as usize);
                        let target = target;
                        // SAFETY: `first..end` lies inside `0..items` and no other thread
                        // writes it; the dataset and the cache outlive the scope.
                        unsafe {
                            match kernel {
                                Some(k) => k.compute(
                                    target.memory.add(first as usize * ffi::DATASET_ITEM_SIZE),
                                    first,
                                    end - first,
                                ),
                                None => ffi::randomx_init_dataset(
                                    target.dataset,
                                    target.cache,
                                    first as c_ulong,
                                    (end - first) as c_ulong,
                                ),
                            }
                        }
                    });
                match spawned {
                    Ok(handle) => handles.push(handle),
                    // The scope joins the threads already started before `dataset` drops.
                    Err(e) => return Err(RandomxError::Spawn(e)),
                }
            }
            for handle in handles {
                handle.join().map_err(|_| RandomxError::InitPanicked)?;
            }
            Ok(())
        })?;
        dataset.init_time = start.elapsed();
        Ok(dataset)
    }

    /// Allocates the dataset's memory on the best pages `huge_pages` allows.
    fn allocate(
        huge_pages: HugePages,
    ) -> Result<
        (
            NonNull<ffi::RandomxDataset>,
            PageMode,
            Option<GiganticMemory>,
        ),
        RandomxError,
    > {
        if huge_pages == HugePages::Auto {
            if let Some(mapping) = memory::GiganticMapping::new(memory::DATASET_BYTES as usize)
                // SAFETY: NULL reports failure.
                && let Some(ptr) = NonNull::new(unsafe { ffi::randomx_alloc_dataset(0) })
            {
                // SAFETY: a live dataset nothing has read or written yet.
                match unsafe { replace_dataset_memory(ptr, mapping.base()) } {
                    Some(library) => {
                        let memory = GiganticMemory {
                            _mapping: mapping,
                            library,
                        };
                        return Ok((ptr, PageMode::Gigantic, Some(memory)));
                    }
                    // SAFETY: from `randomx_alloc_dataset`, released once, unused.
                    None => unsafe { ffi::randomx_release_dataset(ptr.as_ptr()) },
                }
            }
            // SAFETY: NULL reports failure (no reserved pages, or too few).
            if let Some(ptr) =
                NonNull::new(unsafe { ffi::randomx_alloc_dataset(ffi::FLAG_LARGE_PAGES) })
            {
                return Ok((ptr, PageMode::HugeTlb, None));
            }
        }
        // SAFETY: as above.
        let ptr = NonNull::new(unsafe { ffi::randomx_alloc_dataset(0) }).ok_or(
            RandomxError::DatasetAlloc {
                bytes: memory::DATASET_BYTES,
            },
        )?;
        let mut pages = PageMode::Normal;
        if huge_pages != HugePages::Off && !memory::transparent_huge_pages_off() {
            // SAFETY: a live dataset's memory is `item_count() * 64` bytes; nothing has
            // touched it yet, so the advice applies before the first fault.
            let base = unsafe { ffi::randomx_get_dataset_memory(ptr.as_ptr()) };
            let len = Self::item_count() as usize * ffi::DATASET_ITEM_SIZE;
            if memory::advise_huge_pages(base.cast(), len) {
                pages = PageMode::Transparent;
            }
        }
        Ok((ptr, pages, None))
    }

    /// Returns the key of the cache the dataset was computed from.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Returns the pages the dataset lives on.
    pub fn pages(&self) -> PageMode {
        self.pages
    }

    /// Returns the features of the cache the dataset was computed with.
    pub fn flags(&self) -> RandomxFlags {
        self.flags
    }

    /// Returns the wall time of [`Dataset::build`]: allocation and computation.
    pub fn init_time(&self) -> Duration {
        self.init_time
    }

    /// Returns how many threads computed the dataset.
    pub fn init_threads(&self) -> usize {
        self.init_threads
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        if let Some(gigantic) = &self.gigantic {
            // SAFETY: the pointer was replaced by `replace_dataset_memory`; no VM is
            // left to read the mapping.
            unsafe { put_back_dataset_memory(self.ptr, gigantic.library) };
        }
        // SAFETY: from `randomx_alloc_dataset`, released once; every VM that reads it
        // holds an `Arc<Dataset>`, so none is left. The mapping, if any, is unmapped
        // after this, when the field drops.
        unsafe { ffi::randomx_release_dataset(self.ptr.as_ptr()) }
    }
}

/// Points `dataset` at `memory` instead of the memory the library allocated for it, and
/// returns the library's pointer (to be put back before `randomx_release_dataset`).
///
/// The C API has no call for it: `randomx_dataset` (`dataset.hpp` of the library
/// `randomx-rs` bundles) begins with its `uint8_t* memory`. That is checked here against
/// `randomx_get_dataset_memory` before and after the write; on any mismatch nothing is
/// changed and `None` returned, and the caller falls back to the library's allocation.
///
/// # Safety
/// `dataset` is live and unused (no VM, no init yet); `memory` holds
/// `randomx_dataset_item_count() * 64` writable bytes and outlives the dataset.
unsafe fn replace_dataset_memory(
    dataset: NonNull<ffi::RandomxDataset>,
    memory: *mut u8,
) -> Option<*mut u8> {
    let field = dataset.as_ptr().cast::<*mut u8>();
    // SAFETY: the struct is at least one pointer long and pointer-aligned (allocated by
    // `new`); reading its first word is sound whatever it holds.
    let own = unsafe { field.read() };
    // SAFETY: a live dataset.
    if own.cast() != unsafe { ffi::randomx_get_dataset_memory(dataset.as_ptr()) } {
        return None;
    }
    // SAFETY: the first word is the memory pointer (checked above), and nothing reads it
    // concurrently.
    unsafe { field.write(memory) };
    // SAFETY: as above.
    if unsafe { ffi::randomx_get_dataset_memory(dataset.as_ptr()) }.cast::<u8>() != memory {
        // SAFETY: as above: restore what was there.
        unsafe { field.write(own) };
        return None;
    }
    Some(own)
}

/// Puts back the library's own memory pointer, which [`replace_dataset_memory`]
/// returned, so that `randomx_release_dataset` frees what the library allocated.
///
/// # Safety
/// `dataset`'s pointer was replaced by [`replace_dataset_memory`], which returned
/// `library`; nothing reads the dataset any more.
unsafe fn put_back_dataset_memory(dataset: NonNull<ffi::RandomxDataset>, library: *mut u8) {
    // SAFETY: the first word is the memory pointer, as checked when it was replaced.
    unsafe { dataset.as_ptr().cast::<*mut u8>().write(library) };
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("key", &hex::encode(&self.key))
            .field("pages", &self.pages)
            .field("init_time", &self.init_time)
            .field("init_threads", &self.init_threads)
            .finish_non_exhaustive()
    }
}

/// The memory a [`Vm`] reads, kept alive by the VM.
#[derive(Debug)]
enum Memory {
    Fast(Arc<Dataset>),
    Light(Arc<Cache>),
}

/// What computes a [`Vm`]'s hashes.
enum Engine {
    /// The library's VM.
    Library(NonNull<ffi::RandomxVm>),
    /// Otedama's own fast-mode VM (`compiled`), once it agreed with the library.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    Compiled(Box<super::compiled::CompiledVm>),
}

/// A RandomX virtual machine: hashes inputs, one thread at a time.
pub struct Vm {
    engine: Engine,
    memory: Memory,
    /// Whether a `calculate_hash_first` awaits its `next` or `last`.
    pending: bool,
}

// SAFETY: a VM may move between threads; it is used by one at a time (`&mut self` for
// every hash), and the memory it reads is `Sync`.
unsafe impl Send for Vm {}

impl Vm {
    /// Creates a fast-mode VM over `dataset`. Its 2 MiB scratchpad goes on a reserved
    /// huge page when the dataset is on them and one is free.
    ///
    /// # Errors
    /// [`RandomxError::VmCreate`] when the library cannot create it.
    pub fn fast(dataset: Arc<Dataset>) -> Result<Self, RandomxError> {
        Self::fast_with(dataset, super::VmEngine::Auto)
    }

    /// Creates a fast-mode VM that hashes with `engine` where it can (the compiled VM,
    /// one or two hashes at once), else with the library's VM.
    ///
    /// # Errors
    /// As [`Vm::fast`].
    pub fn fast_with(dataset: Arc<Dataset>, engine: super::VmEngine) -> Result<Self, RandomxError> {
        let mut vm = Self::fast_library(dataset)?;
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        match engine {
            super::VmEngine::Library => {}
            super::VmEngine::Single => vm.use_compiled(false),
            super::VmEngine::Pair => vm.use_compiled(true),
            super::VmEngine::Auto => vm.use_compiled(memory::hashes_per_thread() == 2),
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        let _ = engine;
        Ok(vm)
    }

    /// Creates a fast-mode VM that hashes with the library's VM only.
    ///
    /// # Errors
    /// As [`Vm::fast`].
    pub fn fast_library(dataset: Arc<Dataset>) -> Result<Self, RandomxError> {
        let flags = dataset.flags;
        let pages = dataset.pages;
        let raw_dataset = dataset.ptr.as_ptr();
        Self::create(
            flags,
            true,
            pages,
            std::ptr::null_mut(),
            raw_dataset,
            Memory::Fast(dataset),
        )
    }

    /// Switches a fast-mode VM to the compiled VM (with a second lane when `pair`) when
    /// one can be made and its hashes of three inputs, and of two pairs with a second
    /// lane, equal the library's; otherwise leaves the library's VM.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn use_compiled(&mut self, pair: bool) {
        let (Engine::Library(ptr), Memory::Fast(dataset)) = (&self.engine, &self.memory) else {
            return;
        };
        let ptr = *ptr;
        // SAFETY: a live, initialised dataset; `self.memory` keeps it alive as long as
        // the VM, which owns the compiled VM.
        let compiled = unsafe {
            super::compiled::CompiledVm::new(
                ffi::randomx_get_dataset_memory(dataset.ptr.as_ptr()).cast(),
                dataset.pages,
                pair,
            )
        };
        let Some(mut compiled) = compiled else {
            return;
        };
        let inputs = [&b"otedama"[..], &[0u8; 76][..], &[0xffu8; 43][..]];
        let expected = inputs.map(|input| self.hash(input));
        let mut agrees = inputs
            .iter()
            .zip(&expected)
            .all(|(input, hash)| compiled.hash(input) == *hash);
        if pair {
            compiled.pair_first([inputs[0], inputs[1]]);
            let first = compiled.pair_next([inputs[2], inputs[0]]);
            let second = compiled.pair_last();
            agrees &= first == [expected[0], expected[1]] && second == [expected[2], expected[0]];
        }
        if !agrees {
            tracing::warn!(
                "the compiled RandomX VM disagrees with the library's; using the library's"
            );
            return;
        }
        // SAFETY: from `randomx_create_vm`, destroyed once; the engine no longer holds it.
        unsafe { ffi::randomx_destroy_vm(ptr.as_ptr()) };
        self.engine = Engine::Compiled(Box::new(compiled));
    }

    /// A compiled VM over this fast-mode VM's dataset, its code compiled for `features`.
    #[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
    pub(crate) fn compiled_with(
        &self,
        pair: bool,
        features: super::jit::Features,
    ) -> Option<super::compiled::CompiledVm> {
        let Memory::Fast(dataset) = &self.memory else {
            return None;
        };
        // SAFETY: a live, initialised dataset, which `self` keeps alive; the test drops
        // the compiled VM first.
        unsafe {
            super::compiled::CompiledVm::with_features(
                ffi::randomx_get_dataset_memory(dataset.ptr.as_ptr()).cast(),
                dataset.pages,
                pair,
                features,
            )
        }
    }

    /// Whether Otedama's own compiled VM hashes (otherwise the library's).
    pub fn is_compiled(&self) -> bool {
        !matches!(self.engine, Engine::Library(_))
    }

    /// Inputs hashed at once: 2 for the compiled VM with a second lane, else 1.
    pub fn hashes_at_once(&self) -> usize {
        match &self.engine {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Engine::Compiled(vm) if vm.is_pair() => 2,
            _ => 1,
        }
    }

    /// The compiled VM when it hashes two inputs at once; ends a running pipeline.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    pub(crate) fn pair(&mut self) -> Option<&mut super::compiled::CompiledVm> {
        self.pending = false;
        match &mut self.engine {
            Engine::Compiled(vm) if vm.is_pair() => Some(vm),
            _ => None,
        }
    }

    /// Creates a light-mode VM over `cache` (about 8x slower per hash than fast mode).
    ///
    /// # Errors
    /// [`RandomxError::VmCreate`] when the library cannot create it.
    pub fn light(cache: Arc<Cache>) -> Result<Self, RandomxError> {
        let flags = cache.flags;
        let pages = cache.pages;
        let raw_cache = cache.ptr.as_ptr();
        Self::create(
            flags,
            false,
            pages,
            raw_cache,
            std::ptr::null_mut(),
            Memory::Light(cache),
        )
    }

    fn create(
        flags: RandomxFlags,
        fast: bool,
        pages: PageMode,
        cache: *mut ffi::RandomxCache,
        dataset: *mut ffi::RandomxDataset,
        memory: Memory,
    ) -> Result<Self, RandomxError> {
        let mut attempts = vec![flags.vm(fast, pages)];
        if pages.reserved() {
            // The scratchpad alone may not find a free reserved page.
            attempts.push(flags.vm(fast, PageMode::Normal));
        }
        for raw in attempts {
            // SAFETY: fast mode passes a live dataset with FULL_MEM and no cache; light
            // mode a live, initialised cache without FULL_MEM, as `randomx.h` requires.
            // `memory` keeps both alive as long as the VM.
            if let Some(ptr) = NonNull::new(unsafe { ffi::randomx_create_vm(raw, cache, dataset) })
            {
                return Ok(Self {
                    engine: Engine::Library(ptr),
                    memory,
                    pending: false,
                });
            }
        }
        Err(RandomxError::VmCreate {
            mode: if fast { "fast" } else { "light" },
        })
    }

    /// Returns the key of the memory the VM reads.
    pub fn key(&self) -> &[u8] {
        match &self.memory {
            Memory::Fast(d) => d.key(),
            Memory::Light(c) => c.key(),
        }
    }

    /// Whether the VM reads a dataset (fast mode).
    pub fn is_fast(&self) -> bool {
        matches!(self.memory, Memory::Fast(_))
    }

    /// Returns the RandomX hash of `input`. A running pipeline is abandoned (its
    /// pending hash is lost).
    pub fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        self.pending = false;
        let ptr = match &mut self.engine {
            Engine::Library(ptr) => *ptr,
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Engine::Compiled(vm) => return vm.hash(input),
        };
        let mut out = [0u8; ffi::HASH_SIZE];
        // SAFETY: a live VM used by this thread only; `input` is valid for its length and
        // `out` has room for the 32-byte hash.
        unsafe {
            ffi::randomx_calculate_hash(
                ptr.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
            );
        }
        out
    }

    /// Starts a hash pipeline with `input`: its hash comes from the following
    /// [`Vm::hash_next`] or [`Vm::hash_last`], which overlap it with the next input.
    /// A running pipeline is abandoned.
    pub fn hash_first(&mut self, input: &[u8]) {
        self.pending = true;
        let ptr = match &mut self.engine {
            Engine::Library(ptr) => *ptr,
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Engine::Compiled(vm) => return vm.hash_first(input),
        };
        // SAFETY: as in `hash`.
        unsafe {
            ffi::randomx_calculate_hash_first(ptr.as_ptr(), input.as_ptr().cast(), input.len())
        }
    }

    /// Returns the hash of the previous input of the pipeline and starts `input`;
    /// `None` (and nothing started) when no pipeline is running.
    pub fn hash_next(&mut self, input: &[u8]) -> Option<[u8; 32]> {
        if !self.pending {
            return None;
        }
        let ptr = match &mut self.engine {
            Engine::Library(ptr) => *ptr,
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Engine::Compiled(vm) => return Some(vm.hash_next(input)),
        };
        let mut out = [0u8; ffi::HASH_SIZE];
        let _fp = FpState::save();
        // SAFETY: as in `hash`; a pipeline was started, so the library's state holds the
        // previous input's seed.
        unsafe {
            ffi::randomx_calculate_hash_next(
                ptr.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
            );
        }
        Some(out)
    }

    /// Returns the hash of the last input of the pipeline and ends it; `None` when no
    /// pipeline is running.
    pub fn hash_last(&mut self) -> Option<[u8; 32]> {
        if !self.pending {
            return None;
        }
        self.pending = false;
        let ptr = match &mut self.engine {
            Engine::Library(ptr) => *ptr,
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Engine::Compiled(vm) => return Some(vm.hash_last()),
        };
        let mut out = [0u8; ffi::HASH_SIZE];
        let _fp = FpState::save();
        // SAFETY: as in `hash_next`.
        unsafe { ffi::randomx_calculate_hash_last(ptr.as_ptr(), out.as_mut_ptr().cast()) }
        Some(out)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Engine::Library(ptr) = self.engine {
            // SAFETY: from `randomx_create_vm`, destroyed once, before `memory` drops.
            unsafe { ffi::randomx_destroy_vm(ptr.as_ptr()) }
        }
    }
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

/// Restores the thread's floating-point control word when dropped.
///
/// A RandomX program sets the rounding mode of the thread it runs on;
/// `randomx_calculate_hash` restores it, the pipelined calls do not. Hashing threads
/// run Rust code between hashes, which must see the default mode.
struct FpState {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    saved: u32,
}

impl FpState {
    fn save() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE is part of x86_64; reading MXCSR has no other effect.
            #[allow(deprecated)]
            saved: unsafe { std::arch::x86_64::_mm_getcsr() },
            #[cfg(target_arch = "x86")]
            // SAFETY: RandomX's x86 builds require SSE2.
            #[allow(deprecated)]
            saved: unsafe { std::arch::x86::_mm_getcsr() },
        }
    }
}

impl Drop for FpState {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: writes back the value read from MXCSR on this thread.
        #[allow(deprecated)]
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved);
        }
        #[cfg(target_arch = "x86")]
        // SAFETY: as above.
        #[allow(deprecated)]
        unsafe {
            std::arch::x86::_mm_setcsr(self.saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dataset's memory pointer is found, replaced and put back as the 1 GiB page
    /// path does it (here over a stand-in buffer nothing reads, so no 1 GiB pages are
    /// needed).
    #[test]
    fn the_dataset_memory_pointer_is_replaced_and_put_back() {
        // SAFETY: NULL reports failure; the memory is virtual until written.
        let ptr = NonNull::new(unsafe { ffi::randomx_alloc_dataset(0) }).expect("dataset");
        let mut stand_in = [0u8; 64];
        let memory = |p: NonNull<ffi::RandomxDataset>| {
            // SAFETY: a live dataset.
            unsafe { ffi::randomx_get_dataset_memory(p.as_ptr()) }.cast::<u8>()
        };
        let before = memory(ptr);
        // SAFETY: unused dataset; nothing reads the stand-in before it is put back.
        let own = unsafe { replace_dataset_memory(ptr, stand_in.as_mut_ptr()) }
            .expect("the library's layout as expected");
        assert_eq!(own, before);
        assert_eq!(memory(ptr), stand_in.as_mut_ptr());
        // SAFETY: as `Drop for Dataset` does: the library's pointer back, then release.
        unsafe { put_back_dataset_memory(ptr, own) };
        assert_eq!(memory(ptr), before);
        // SAFETY: from `randomx_alloc_dataset`, released once.
        unsafe { ffi::randomx_release_dataset(ptr.as_ptr()) };
    }
}
