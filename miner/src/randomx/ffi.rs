//! The C API of the RandomX library (`randomx.h`), declared by hand.
//!
//! `randomx-rs` builds the library from its bundled sources and links it statically
//! (`cargo:rustc-link-lib=static=randomx` plus the C++ runtime); these declarations bind
//! to that same archive, so nothing is built twice. `randomx-rs` keeps the dataset
//! pointer to itself and fills the dataset with one call on one thread; the miner needs
//! the pointer to fill disjoint item ranges from several threads
//! (`randomx_init_dataset(dataset, cache, start, count)` is documented for exactly that)
//! and to advise the kernel about its pages. See `docs/adr/0004-randomx-dataset.md`.
//!
//! Only the functions the miner calls are declared. The signatures follow `randomx.h` of
//! the library version `randomx-rs` 1.6 bundles: `randomx_flags` is a C enum (an `int`),
//! `unsigned long` is `c_ulong`, and every function may be called from any thread on
//! distinct objects. The library checks its preconditions only with `assert`, which is
//! compiled out of its release build: the safe wrappers in `engine` check them instead.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_ulong, c_void};

// Keeps `randomx-rs` (and with it the static library and its link directives) in the
// link even though no Rust item of it is used.
use randomx_rs as _;

/// `RANDOMX_FLAG_LARGE_PAGES`: allocate with 2 MiB huge pages (`MAP_HUGETLB` on Linux).
pub(crate) const FLAG_LARGE_PAGES: c_int = 1;
/// `RANDOMX_FLAG_HARD_AES`: use the CPU's AES instructions.
pub(crate) const FLAG_HARD_AES: c_int = 2;
/// `RANDOMX_FLAG_FULL_MEM`: a VM that reads the 2 GiB dataset (fast mode).
pub(crate) const FLAG_FULL_MEM: c_int = 4;
/// `RANDOMX_FLAG_JIT`: compile programs to machine code.
pub(crate) const FLAG_JIT: c_int = 8;
/// `RANDOMX_FLAG_SECURE`: W^X for the JIT buffers (needed where the OS forbids W+X).
pub(crate) const FLAG_SECURE: c_int = 16;
/// `RANDOMX_FLAG_ARGON2_SSSE3`: the SSSE3 Argon2 fill of the cache.
pub(crate) const FLAG_ARGON2_SSSE3: c_int = 32;
/// `RANDOMX_FLAG_ARGON2_AVX2`: the AVX2 Argon2 fill of the cache.
pub(crate) const FLAG_ARGON2_AVX2: c_int = 64;

/// `RANDOMX_HASH_SIZE`.
pub(crate) const HASH_SIZE: usize = 32;
/// `RANDOMX_DATASET_ITEM_SIZE`: bytes per dataset item.
pub(crate) const DATASET_ITEM_SIZE: usize = 64;

/// Opaque `randomx_cache`.
#[repr(C)]
pub(crate) struct RandomxCache {
    _private: [u8; 0],
}

/// Opaque `randomx_dataset`.
#[repr(C)]
pub(crate) struct RandomxDataset {
    _private: [u8; 0],
}

/// Opaque `randomx_vm`.
#[repr(C)]
pub(crate) struct RandomxVm {
    _private: [u8; 0],
}

unsafe extern "C" {
    /// The flags recommended for this CPU: JIT where a compiler exists, hard AES, the
    /// fastest Argon2; never `FULL_MEM` or `LARGE_PAGES`.
    pub(crate) fn randomx_get_flags() -> c_int;
    /// Allocates a cache (256 MiB); NULL when the memory (or huge pages) is missing.
    pub(crate) fn randomx_alloc_cache(flags: c_int) -> *mut RandomxCache;
    /// Fills the cache from `key` (Argon2d); with `JIT`, also compiles the dataset
    /// programs.
    pub(crate) fn randomx_init_cache(cache: *mut RandomxCache, key: *const c_void, key_size: usize);
    /// Frees a cache.
    pub(crate) fn randomx_release_cache(cache: *mut RandomxCache);
    /// Allocates a dataset (2080 MiB); NULL when the memory (or huge pages) is missing.
    pub(crate) fn randomx_alloc_dataset(flags: c_int) -> *mut RandomxDataset;
    /// The number of 64-byte items of a dataset.
    pub(crate) fn randomx_dataset_item_count() -> c_ulong;
    /// Computes items `start..start + count` from `cache`. Calls on disjoint ranges may
    /// run at the same time on one dataset and one cache.
    pub(crate) fn randomx_init_dataset(
        dataset: *mut RandomxDataset,
        cache: *mut RandomxCache,
        start: c_ulong,
        count: c_ulong,
    );
    /// The first byte of a dataset's memory.
    pub(crate) fn randomx_get_dataset_memory(dataset: *mut RandomxDataset) -> *mut c_void;
    /// Frees a dataset.
    pub(crate) fn randomx_release_dataset(dataset: *mut RandomxDataset);
    /// Creates a VM: light with a cache, fast (`FULL_MEM`) with a dataset. NULL on
    /// failure (memory, huge pages for the scratchpad, an unsupported combination).
    pub(crate) fn randomx_create_vm(
        flags: c_int,
        cache: *mut RandomxCache,
        dataset: *mut RandomxDataset,
    ) -> *mut RandomxVm;
    /// Frees a VM.
    pub(crate) fn randomx_destroy_vm(vm: *mut RandomxVm);
    /// Hashes `input` into the 32 bytes at `output`.
    pub(crate) fn randomx_calculate_hash(
        vm: *mut RandomxVm,
        input: *const c_void,
        input_size: usize,
        output: *mut c_void,
    );
    /// Starts a pipeline with `input`; the hash comes from the next call.
    pub(crate) fn randomx_calculate_hash_first(
        vm: *mut RandomxVm,
        input: *const c_void,
        input_size: usize,
    );
    /// Writes the hash of the previous input to `output` and starts `next_input`.
    pub(crate) fn randomx_calculate_hash_next(
        vm: *mut RandomxVm,
        next_input: *const c_void,
        next_input_size: usize,
        output: *mut c_void,
    );
    /// Writes the hash of the previous input to `output` and ends the pipeline.
    pub(crate) fn randomx_calculate_hash_last(vm: *mut RandomxVm, output: *mut c_void);
}
