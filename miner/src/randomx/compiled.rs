//! Otedama's own fast-mode RandomX VM (x86-64 with AES-NI): the hash of chapter 2 of
//! the specification, with programs decoded by [`super::program`] and compiled by
//! [`super::jit`], over the dataset the library initialised.
//!
//! [`super::Vm`] uses it in fast mode when [`CompiledVm::new`] succeeds and its hash of
//! RandomX's reference vector and of inputs compared with the library's VM agree;
//! otherwise the library's VM hashes.

#![allow(unsafe_code)]

use super::jit::{Context, Features, Jit, MXCSR_DEFAULT};
use super::memory::{self, PageMode, SCRATCHPAD_BYTES};
use super::program::{self, PROGRAM_BYTES, Program};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Blake2b512, Digest};
use std::ptr::NonNull;

/// `RANDOMX_PROGRAM_COUNT`.
const PROGRAMS: usize = 8;
const SCRATCHPAD: usize = SCRATCHPAD_BYTES as usize;

/// The 2 MiB scratchpad, on a reserved huge page when asked and one is free, else on a
/// transparent huge page where the kernel gives one.
struct Scratchpad {
    map: NonNull<u8>,
    map_len: usize,
    base: NonNull<u8>,
}

impl Drop for Scratchpad {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `mmap` with `map_len` and is unmapped once.
        unsafe { libc::munmap(self.map.as_ptr().cast(), self.map_len) };
    }
}

impl Scratchpad {
    fn new(reserved: bool) -> Option<Self> {
        let map = |len, extra| {
            // SAFETY: an anonymous private mapping; the result is checked.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
                    -1,
                    0,
                )
            };
            (p != libc::MAP_FAILED)
                .then(|| NonNull::new(p.cast::<u8>()))
                .flatten()
        };
        if reserved && let Some(p) = map(SCRATCHPAD, libc::MAP_HUGETLB) {
            return Some(Self {
                map: p,
                map_len: SCRATCHPAD,
                base: p,
            });
        }
        // Twice the size, so that an aligned 2 MiB inside it can be one huge page.
        let len = 2 * SCRATCHPAD;
        let p = map(len, 0)?;
        let offset = p.as_ptr().align_offset(SCRATCHPAD);
        // SAFETY: `offset < SCRATCHPAD`, so the aligned 2 MiB lie inside the mapping.
        let base = unsafe { p.add(offset) };
        if !memory::transparent_huge_pages_off() {
            memory::advise_huge_pages(base.as_ptr(), SCRATCHPAD);
        }
        Some(Self {
            map: p,
            map_len: len,
            base,
        })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `base` starts SCRATCHPAD bytes of the mapping, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), SCRATCHPAD) }
    }
}

/// A fast-mode VM over a dataset's memory. One thread at a time (`&mut self`).
pub(crate) struct CompiledVm {
    jit: Jit,
    scratchpad: Scratchpad,
    dataset: *const u8,
    context: Box<Context>,
    /// The generator state: after a scratchpad fill, `AesGenerator1R`'s final state.
    seed: [u8; 64],
    buffer: Box<[u8; PROGRAM_BYTES]>,
}

// SAFETY: the dataset memory is read-only and outlives the VM (its owner, `super::Vm`,
// holds the dataset's `Arc`); everything else belongs to the VM.
unsafe impl Send for CompiledVm {}

impl CompiledVm {
    /// Creates a VM over `dataset` (the start of a live, initialised dataset, which must
    /// outlive the VM). `None` when the CPU lacks AES-NI or the memory cannot be mapped.
    ///
    /// # Safety
    /// `dataset` must point to a whole initialised dataset that outlives the VM.
    pub(crate) unsafe fn new(dataset: *const u8, pages: PageMode) -> Option<Self> {
        // SAFETY: the caller's promise.
        unsafe { Self::with_features(dataset, pages, Features::detect()) }
    }

    /// [`CompiledVm::new`] with the code compiled for `features` (which the CPU must
    /// have).
    ///
    /// # Safety
    /// As for [`CompiledVm::new`].
    pub(crate) unsafe fn with_features(
        dataset: *const u8,
        pages: PageMode,
        features: Features,
    ) -> Option<Self> {
        if !std::arch::is_x86_feature_detected!("aes")
            || !std::arch::is_x86_feature_detected!("sse4.1")
        {
            return None;
        }
        Some(Self {
            jit: Jit::new(features)?,
            scratchpad: Scratchpad::new(pages.reserved())?,
            dataset,
            context: Box::default(),
            seed: [0; 64],
            buffer: Box::new([0; PROGRAM_BYTES]),
        })
    }

    /// Seeds the generator with `Hash512(input)` and fills the scratchpad.
    fn start(&mut self, input: &[u8]) {
        self.seed = Blake2b512::digest(input).into();
        // SAFETY: `new` checked AES-NI.
        unsafe { program::fill_aes_1r(&mut self.seed, self.scratchpad.bytes()) };
    }

    /// Runs the eight programs (chapter 2, steps 6-11) from the current seed.
    fn run_programs(&mut self) {
        self.context.mxcsr = MXCSR_DEFAULT;
        for p in 0..PROGRAMS {
            // SAFETY: `new` checked AES-NI.
            unsafe { program::fill_aes_4r(&self.seed, &mut self.buffer[..]) };
            let program = Program::decode(&self.buffer);
            let c = &mut *self.context;
            for (i, a) in c.a.iter_mut().enumerate() {
                *a = [program.a[2 * i], program.a[2 * i + 1]];
            }
            c.scratchpad = self.scratchpad.base.as_ptr();
            // SAFETY: the offset is below the dataset's extra size, inside it.
            c.dataset = unsafe { self.dataset.add(program.dataset_offset as usize) };
            c.memory_registers = u64::from(program.ma) | (u64::from(program.mx) << 32);
            // SAFETY: the scratchpad is 2 MiB and aligned; the dataset is whole (`new`).
            unsafe { self.jit.run(&program, &self.buffer, c) };
            if p + 1 < PROGRAMS {
                self.seed = Blake2b512::digest(c.register_file()).into();
            }
        }
    }

    /// Fingerprints the scratchpad into `a0`-`a3` (refilling it for `next` when given)
    /// and returns `Hash256(RegisterFile)`.
    fn finish(&mut self, next: Option<&[u8]>) -> [u8; 32] {
        let mut next_seed = next.map(|n| <[u8; 64]>::from(Blake2b512::digest(n)));
        // SAFETY: `new` checked AES-NI.
        let fingerprint =
            unsafe { program::hash_and_fill_aes_1r(self.scratchpad.bytes(), next_seed.as_mut()) };
        for (i, a) in self.context.a.iter_mut().enumerate() {
            let lo = u64::from_le_bytes(
                fingerprint[16 * i..16 * i + 8]
                    .try_into()
                    .unwrap_or_default(),
            );
            let hi = u64::from_le_bytes(
                fingerprint[16 * i + 8..16 * i + 16]
                    .try_into()
                    .unwrap_or_default(),
            );
            *a = [lo, hi];
        }
        if let Some(seed) = next_seed {
            self.seed = seed;
        }
        Blake2b::<U32>::digest(self.context.register_file()).into()
    }

    /// The RandomX hash of `input`.
    pub(crate) fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        self.start(input);
        self.run_programs();
        self.finish(None)
    }

    /// Starts a pipeline with `input` (its scratchpad filled).
    pub(crate) fn hash_first(&mut self, input: &[u8]) {
        self.start(input);
    }

    /// The hash of the pipeline's previous input; starts `input`, whose scratchpad is
    /// filled while the previous one is fingerprinted.
    pub(crate) fn hash_next(&mut self, input: &[u8]) -> [u8; 32] {
        self.run_programs();
        self.finish(Some(input))
    }

    /// The hash of the pipeline's last input.
    pub(crate) fn hash_last(&mut self) -> [u8; 32] {
        self.run_programs();
        self.finish(None)
    }
}
