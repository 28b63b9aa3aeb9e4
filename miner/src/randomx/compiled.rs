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

/// One hash in progress: its scratchpad, register file and generator state.
struct Lane {
    scratchpad: Scratchpad,
    context: Box<Context>,
    /// The generator state: after a scratchpad fill, `AesGenerator1R`'s final state.
    seed: [u8; 64],
    buffer: Box<[u8; PROGRAM_BYTES]>,
}

impl Lane {
    fn new(pages: PageMode) -> Option<Self> {
        Some(Self {
            scratchpad: Scratchpad::new(pages.reserved())?,
            context: Box::default(),
            seed: [0; 64],
            buffer: Box::new([0; PROGRAM_BYTES]),
        })
    }

    /// Seeds the generator with `Hash512(input)` and fills the scratchpad.
    fn start(&mut self, input: &[u8]) {
        self.seed = Blake2b512::digest(input).into();
        // SAFETY: the VM checked AES-NI when it was made.
        unsafe { program::fill_aes_1r(&mut self.seed, self.scratchpad.bytes()) };
    }

    /// Generates the next program (chapter 2, step 6) and sets the context up for it:
    /// `a0`-`a3`, the scratchpad, the dataset at the program's offset, `ma` and `mx`,
    /// and `r` zero.
    fn next_program(&mut self, dataset: *const u8) -> Program {
        // SAFETY: the VM checked AES-NI when it was made.
        unsafe { program::fill_aes_4r(&self.seed, &mut self.buffer[..]) };
        let program = Program::decode(&self.buffer);
        let c = &mut *self.context;
        for (i, a) in c.a.iter_mut().enumerate() {
            *a = [program.a[2 * i], program.a[2 * i + 1]];
        }
        c.r = [0; 8];
        c.scratchpad = self.scratchpad.base.as_ptr();
        // SAFETY: the offset is below the dataset's extra size, inside it.
        c.dataset = unsafe { dataset.add(program.dataset_offset as usize) };
        c.memory_registers = u64::from(program.ma) | (u64::from(program.mx) << 32);
        program
    }

    /// After a program that is not the last: the next seed from the register file.
    fn reseed(&mut self) {
        self.seed = Blake2b512::digest(self.context.register_file()).into();
    }

    /// Fingerprints the scratchpad into `a0`-`a3` (refilling it for `next` when given)
    /// and returns `Hash256(RegisterFile)`.
    fn finish(&mut self, next: Option<&[u8]>) -> [u8; 32] {
        let mut next_seed = next.map(|n| <[u8; 64]>::from(Blake2b512::digest(n)));
        // SAFETY: the VM checked AES-NI when it was made.
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
}

/// A fast-mode VM over a dataset's memory. One thread at a time (`&mut self`).
///
/// With a second lane it also hashes two inputs at once: each program of one runs in
/// the same loop as the same program of the other, an iteration of each in turn
/// ([`Jit::run_pair`]), so that each hides the other's waits for dataset items where
/// the core has no second hardware thread to do it (ADR 0006).
pub(crate) struct CompiledVm {
    jit: Jit,
    lane: Lane,
    second: Option<Lane>,
    dataset: *const u8,
}

// SAFETY: the dataset memory is read-only and outlives the VM (its owner, `super::Vm`,
// holds the dataset's `Arc`); everything else belongs to the VM.
unsafe impl Send for CompiledVm {}

impl CompiledVm {
    /// Creates a VM over `dataset` (the start of a live, initialised dataset, which must
    /// outlive the VM), with a second lane for [`CompiledVm::pair_first`] when `pair`.
    /// `None` when the CPU lacks AES-NI or the memory cannot be mapped.
    ///
    /// # Safety
    /// `dataset` must point to a whole initialised dataset that outlives the VM.
    pub(crate) unsafe fn new(dataset: *const u8, pages: PageMode, pair: bool) -> Option<Self> {
        // SAFETY: the caller's promise.
        unsafe { Self::with_features(dataset, pages, pair, Features::detect()) }
    }

    /// [`CompiledVm::new`] with the code compiled for `features` (which the CPU must
    /// have).
    ///
    /// # Safety
    /// As for [`CompiledVm::new`].
    pub(crate) unsafe fn with_features(
        dataset: *const u8,
        pages: PageMode,
        pair: bool,
        features: Features,
    ) -> Option<Self> {
        if !std::arch::is_x86_feature_detected!("aes")
            || !std::arch::is_x86_feature_detected!("sse4.1")
        {
            return None;
        }
        let second = match pair {
            true => Some(Lane::new(pages)?),
            false => None,
        };
        Some(Self {
            jit: Jit::new(features)?,
            lane: Lane::new(pages)?,
            second,
            dataset,
        })
    }

    /// Whether the VM hashes two inputs at once ([`CompiledVm::pair_first`]).
    pub(crate) fn is_pair(&self) -> bool {
        self.second.is_some()
    }

    /// Runs the eight programs (chapter 2, steps 6-11) of the first lane.
    fn run_programs(&mut self) {
        self.lane.context.mxcsr = MXCSR_DEFAULT;
        for p in 0..PROGRAMS {
            let program = self.lane.next_program(self.dataset);
            let lane = &mut self.lane;
            // SAFETY: the scratchpad is 2 MiB and aligned; the dataset is whole (`new`).
            unsafe { self.jit.run(&program, &lane.buffer, &mut lane.context) };
            if p + 1 < PROGRAMS {
                lane.reseed();
            }
        }
    }

    /// Runs the eight programs of both lanes, each program of one with the same of the
    /// other. Without a second lane, those of the first.
    fn run_pair_programs(&mut self) {
        let Some(second) = self.second.as_mut() else {
            return self.run_programs();
        };
        let x = &mut self.lane;
        x.context.mxcsr = MXCSR_DEFAULT;
        second.context.mxcsr = MXCSR_DEFAULT;
        for p in 0..PROGRAMS {
            let y = &mut *second;
            let programs = [x.next_program(self.dataset), y.next_program(self.dataset)];
            // SAFETY: both scratchpads are 2 MiB and aligned; the dataset is whole.
            unsafe {
                self.jit.run_pair(
                    [&programs[0], &programs[1]],
                    [&x.buffer, &y.buffer],
                    [&mut x.context, &mut y.context],
                );
            }
            if p + 1 < PROGRAMS {
                x.reseed();
                y.reseed();
            }
        }
    }

    /// The RandomX hash of `input` (on the first lane).
    pub(crate) fn hash(&mut self, input: &[u8]) -> [u8; 32] {
        self.lane.start(input);
        self.run_programs();
        self.lane.finish(None)
    }

    /// Starts a pipeline with `input` (its scratchpad filled).
    pub(crate) fn hash_first(&mut self, input: &[u8]) {
        self.lane.start(input);
    }

    /// The hash of the pipeline's previous input; starts `input`, whose scratchpad is
    /// filled while the previous one is fingerprinted.
    pub(crate) fn hash_next(&mut self, input: &[u8]) -> [u8; 32] {
        self.run_programs();
        self.lane.finish(Some(input))
    }

    /// The hash of the pipeline's last input.
    pub(crate) fn hash_last(&mut self) -> [u8; 32] {
        self.run_programs();
        self.lane.finish(None)
    }

    /// Starts a pipeline of pairs with `inputs`, one a lane (the second on the first
    /// lane too without a second lane: callers check [`CompiledVm::is_pair`]).
    pub(crate) fn pair_first(&mut self, inputs: [&[u8]; 2]) {
        self.lane.start(inputs[0]);
        if let Some(second) = &mut self.second {
            second.start(inputs[1]);
        }
    }

    /// The hashes of the pipeline's previous pair; starts `inputs`.
    pub(crate) fn pair_next(&mut self, inputs: [&[u8]; 2]) -> [[u8; 32]; 2] {
        self.run_pair_programs();
        self.finish_pair([Some(inputs[0]), Some(inputs[1])])
    }

    /// The hashes of the pipeline's last pair.
    pub(crate) fn pair_last(&mut self) -> [[u8; 32]; 2] {
        self.run_pair_programs();
        self.finish_pair([None, None])
    }

    fn finish_pair(&mut self, next: [Option<&[u8]>; 2]) -> [[u8; 32]; 2] {
        let first = self.lane.finish(next[0]);
        let second = self.second.as_mut().map_or(first, |l| l.finish(next[1]));
        [first, second]
    }
}
