//! Dataset items computed several at a time (x86-64).
//!
//! An item runs the cache's eight superscalar programs in turn; after each, it XORs in
//! the 64-byte cache line that its registers picked before the program ran. Those are
//! eight dependent reads into 256 MiB, each a main-memory latency (about 235 ns on the
//! machines measured) that one item cannot hide, and the library computes one item at
//! a time. Here each init thread keeps [`LANES`] items in flight: it runs program `p`
//! on each of them in turn, so the line prefetched for one item arrives while the others
//! compute.
//!
//! The programs are the library's own: read out of its initialised cache and compiled
//! here to x86-64, one function per program, the way its own JIT compiles them. Reading
//! them relies on the layout of `randomx_cache` in the RandomX release that `randomx-rs`
//! 1.6.0 bundles (the version is pinned for it); everything read is bounds-checked, and
//! [`ItemKernel::new`] compares items with the library's before any is used. When
//! anything is off, `Dataset::build` uses the library's own item loop.

#![allow(unsafe_code)]

use super::ffi;
use super::memory::CACHE_BYTES;
use std::ptr::NonNull;

/// Items one thread keeps in flight: enough programs run between the prefetch of an
/// item's line and its use to cover a main-memory read.
pub(crate) const LANES: usize = 8;
/// `RANDOMX_CACHE_ACCESSES`: programs per item.
const PROGRAMS: usize = 8;
/// `SuperscalarMaxSize` (3 × 170 + 2).
const MAX_PROGRAM: usize = 512;
/// Bytes of one `randomx::Instruction`: opcode, dst, src, mod, imm32.
const INSTRUCTION_BYTES: usize = 8;
/// Offset of `programs` in `randomx_cache`: after `memory`, `dealloc`, `jit`,
/// `initialize` and `datasetInit`, five pointers.
const PROGRAMS_OFFSET: usize = 5 * 8;
/// Bytes of one `randomx::SuperscalarProgram`: the instruction buffer, `size` (u32),
/// `addrReg` (i32), `ipc` (f64), six ints of statistics and two arrays of eight ints.
const PROGRAM_BYTES: usize = MAX_PROGRAM * INSTRUCTION_BYTES + 4 + 4 + 8 + 6 * 4 + 2 * 8 * 4;
/// Offset of `size` in a program; `addrReg` follows it.
const SIZE_OFFSET: usize = MAX_PROGRAM * INSTRUCTION_BYTES;
/// Offset of `reciprocalCache` (a `std::vector<uint64_t>`: begin, end, capacity).
const RECIPROCALS_OFFSET: usize = PROGRAMS_OFFSET + PROGRAMS * PROGRAM_BYTES;
/// Cache lines of the cache: an item's line is its register value modulo this.
const CACHE_LINES: u64 = CACHE_BYTES / 64;

/// The constants an item's registers start from (RandomX specification, 7.3).
const MUL0: u64 = 6_364_136_223_846_793_005;
const ADD: [u64; 7] = [
    9_298_411_001_130_361_340,
    12_065_312_585_734_608_966,
    9_306_329_213_124_626_780,
    5_281_919_268_842_080_866,
    10_536_153_434_571_861_004,
    3_398_623_926_847_679_864,
    9_549_104_520_008_361_294,
];

/// Superscalar instruction types, as the library numbers them.
mod op {
    pub(super) const ISUB_R: u8 = 0;
    pub(super) const IXOR_R: u8 = 1;
    pub(super) const IADD_RS: u8 = 2;
    pub(super) const IMUL_R: u8 = 3;
    pub(super) const IROR_C: u8 = 4;
    pub(super) const IADD_C7: u8 = 5;
    pub(super) const IXOR_C7: u8 = 6;
    pub(super) const IADD_C8: u8 = 7;
    pub(super) const IXOR_C8: u8 = 8;
    pub(super) const IADD_C9: u8 = 9;
    pub(super) const IXOR_C9: u8 = 10;
    pub(super) const IMULH_R: u8 = 11;
    pub(super) const ISMULH_R: u8 = 12;
    pub(super) const IMUL_RCP: u8 = 13;
    pub(super) const COUNT: u8 = 14;
}

/// One superscalar instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Instruction {
    op: u8,
    dst: u8,
    src: u8,
    modifier: u8,
    imm: u32,
}

/// One superscalar program, with the register whose value picks the next cache line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Program {
    code: Vec<Instruction>,
    address_register: usize,
}

/// The cache's programs, its reciprocals (what `IMUL_RCP` multiplies by, indexed by its
/// immediate) and its memory.
struct CachePrograms {
    programs: Vec<Program>,
    reciprocals: Vec<u64>,
    memory: *const u8,
}

/// The cache's `memory` pointer: the first member of `randomx_cache`, a standard-layout
/// struct (`dataset.hpp`), allocated with the cache by `randomx_alloc_cache`.
///
/// # Safety
/// `cache` must be a live cache of the bundled release.
pub(crate) unsafe fn cache_memory(cache: NonNull<ffi::RandomxCache>) -> *mut u8 {
    // SAFETY: as this function's contract; the first member is a pointer.
    unsafe { cache.as_ptr().cast::<*mut u8>().read() }
}

/// Reads the programs out of an initialised cache, checking every field read.
///
/// # Safety
/// `cache` must be a cache initialised by `randomx_init_cache` of the bundled release,
/// alive and not written during the call.
unsafe fn read_programs(cache: NonNull<ffi::RandomxCache>) -> Option<CachePrograms> {
    let base = cache.as_ptr().cast::<u8>().cast_const();
    // SAFETY (whole block): every offset lies inside `randomx_cache` of the bundled
    // release (its size is past `RECIPROCALS_OFFSET + 24`); the vector's buffer is read
    // only after its bounds were checked.
    unsafe {
        let memory = cache_memory(cache).cast_const();
        let begin = base.add(RECIPROCALS_OFFSET).cast::<*const u64>().read();
        let end = base.add(RECIPROCALS_OFFSET + 8).cast::<*const u64>().read();
        let bytes = (end as usize).checked_sub(begin as usize)?;
        let count = bytes / 8;
        if memory.is_null()
            || bytes % 8 != 0
            || count > PROGRAMS * MAX_PROGRAM
            || (count > 0 && (begin.is_null() || !begin.is_aligned()))
        {
            return None;
        }
        let reciprocals = if count == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(begin, count).to_vec()
        };
        let mut programs = Vec::with_capacity(PROGRAMS);
        for p in 0..PROGRAMS {
            let program = base.add(PROGRAMS_OFFSET + p * PROGRAM_BYTES);
            let size = program.add(SIZE_OFFSET).cast::<u32>().read_unaligned() as usize;
            let address_register = program.add(SIZE_OFFSET + 4).cast::<i32>().read_unaligned();
            let address_register = usize::try_from(address_register).ok().filter(|r| *r < 8)?;
            if size == 0 || size > MAX_PROGRAM {
                return None;
            }
            let mut code = Vec::with_capacity(size);
            for j in 0..size {
                let i = program.add(j * INSTRUCTION_BYTES);
                let instruction = Instruction {
                    op: i.read(),
                    dst: i.add(1).read(),
                    src: i.add(2).read(),
                    modifier: i.add(3).read(),
                    imm: i.add(4).cast::<u32>().read_unaligned(),
                };
                let rcp_out_of_range =
                    instruction.op == op::IMUL_RCP && instruction.imm as usize >= count;
                if instruction.op >= op::COUNT
                    || instruction.dst >= 8
                    || instruction.src >= 8
                    || rcp_out_of_range
                {
                    return None;
                }
                code.push(instruction);
            }
            programs.push(Program {
                code,
                address_register,
            });
        }
        Some(CachePrograms {
            programs,
            reciprocals,
            memory,
        })
    }
}

/// The registers an item starts from.
fn initial_registers(item: u64) -> [u64; 8] {
    let r0 = item.wrapping_add(1).wrapping_mul(MUL0);
    let mut r = [r0; 8];
    for (reg, add) in r[1..].iter_mut().zip(ADD) {
        *reg ^= add;
    }
    r
}

/// Machine code of the eight programs, each `extern "sysv64" fn(*mut [u64; 8])`: it
/// loads the registers into r8-r15, runs the program and stores them back.
struct Code {
    memory: NonNull<u8>,
    len: usize,
    entries: [usize; PROGRAMS],
}

// SAFETY: the mapping is executable and read-only once built; it is unmapped only in
// `Drop`, when no thread runs it.
unsafe impl Send for Code {}
// SAFETY: as above.
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `mmap` with this length and is unmapped once.
        unsafe { libc::munmap(self.memory.as_ptr().cast(), self.len) };
    }
}

impl Code {
    /// Compiles `programs` and maps the code executable (written first, then made
    /// read-only and executable: never writable and executable at once).
    fn compile(programs: &[Program], reciprocals: &[u64]) -> Option<Self> {
        let mut asm = Assembler::default();
        let mut entries = [0; PROGRAMS];
        for (entry, program) in entries.iter_mut().zip(programs) {
            *entry = asm.bytes.len();
            asm.program(program, reciprocals);
        }
        let len = asm.bytes.len().next_multiple_of(4096);
        // SAFETY: an anonymous private mapping; the result is checked.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let memory = NonNull::new(raw.cast::<u8>())?;
        let code = Self {
            memory,
            len,
            entries,
        };
        // SAFETY: the mapping is `len >= bytes.len()` bytes, writable, and ours alone.
        unsafe {
            std::ptr::copy_nonoverlapping(asm.bytes.as_ptr(), memory.as_ptr(), asm.bytes.len());
            if libc::mprotect(raw, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                return None;
            }
        }
        Some(code)
    }

    /// Runs program `p` on `registers`.
    fn run(&self, p: usize, registers: &mut [u64; 8]) {
        // SAFETY: `entries[p]` is the start of a function compiled by `Assembler::program`
        // with the System V calling convention that reads and writes exactly the eight
        // registers behind its argument and saves the callee-saved registers it uses.
        unsafe {
            let f: unsafe extern "sysv64" fn(*mut u64) =
                std::mem::transmute(self.memory.as_ptr().add(self.entries[p]));
            f(registers.as_mut_ptr());
        }
    }
}

/// x86-64 machine code for superscalar programs. RandomX register `i` lives in
/// `r(8+i)`; `rax` and `rdx` are scratch; `rdi` holds the register array.
#[derive(Default)]
struct Assembler {
    bytes: Vec<u8>,
}

/// `rax`, `rdx`, `rdi` in ModRM numbering.
const RAX: u8 = 0;
const RDX: u8 = 2;
const RDI: u8 = 7;

impl Assembler {
    fn emit(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// REX.W prefix with the high bits of `reg`, `index` and `base` (x86 numbering).
    fn rex(reg: u8, index: u8, base: u8) -> u8 {
        0x48 | ((reg >> 3) << 2) | ((index >> 3) << 1) | (base >> 3)
    }

    fn modrm(mode: u8, reg: u8, rm: u8) -> u8 {
        (mode << 6) | ((reg & 7) << 3) | (rm & 7)
    }

    /// `op reg, rm` (register to register) with a one- or two-byte opcode.
    fn reg_reg(&mut self, opcode: &[u8], reg: u8, rm: u8) {
        self.emit(&[Self::rex(reg, 0, rm)]);
        self.emit(opcode);
        self.emit(&[Self::modrm(3, reg, rm)]);
    }

    /// `op rm` with an opcode extension (`/ext`).
    fn ext(&mut self, opcode: u8, ext: u8, rm: u8) {
        self.emit(&[Self::rex(0, 0, rm), opcode, Self::modrm(3, ext, rm)]);
    }

    /// Moves the eight registers between r8-r15 and `[rdi]`: opcode 0x8b loads them,
    /// 0x89 stores them.
    fn move_registers(&mut self, opcode: u8) {
        for i in 0..8u8 {
            self.emit(&[
                Self::rex(8 + i, 0, RDI),
                opcode,
                Self::modrm(1, i, RDI),
                8 * i,
            ]);
        }
    }

    fn program(&mut self, program: &Program, reciprocals: &[u64]) {
        // push r12..r15 (callee-saved); r8-r11 are the caller's to save.
        self.emit(&[0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57]);
        // mov r(8+i), [rdi + 8i]
        self.move_registers(0x8b);
        for instruction in &program.code {
            self.instruction(*instruction, reciprocals);
        }
        // mov [rdi + 8i], r(8+i)
        self.move_registers(0x89);
        // pop r15..r12; ret
        self.emit(&[0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0xc3]);
    }

    fn instruction(&mut self, i: Instruction, reciprocals: &[u64]) {
        let (dst, src) = (8 + i.dst, 8 + i.src);
        match i.op {
            op::ISUB_R => self.reg_reg(&[0x2b], dst, src),
            op::IXOR_R => self.reg_reg(&[0x33], dst, src),
            op::IMUL_R => self.reg_reg(&[0x0f, 0xaf], dst, src),
            op::IADD_RS => {
                // lea dst, [dst + src << shift]; r13 as a base needs a displacement.
                let shift = (i.modifier >> 2) % 4;
                let sib = (shift << 6) | ((src & 7) << 3) | (dst & 7);
                let rex = Self::rex(dst, src, dst);
                if dst & 7 == 5 {
                    self.emit(&[rex, 0x8d, Self::modrm(1, dst, 4), sib, 0]);
                } else {
                    self.emit(&[rex, 0x8d, Self::modrm(0, dst, 4), sib]);
                }
            }
            op::IROR_C => {
                self.ext(0xc1, 1, dst);
                self.emit(&[(i.imm & 63) as u8]);
            }
            op::IADD_C7 | op::IADD_C8 | op::IADD_C9 => {
                self.ext(0x81, 0, dst);
                self.emit(&i.imm.to_le_bytes());
            }
            op::IXOR_C7 | op::IXOR_C8 | op::IXOR_C9 => {
                self.ext(0x81, 6, dst);
                self.emit(&i.imm.to_le_bytes());
            }
            op::IMULH_R | op::ISMULH_R => {
                // mov rax, dst; mul/imul src; mov dst, rdx
                self.reg_reg(&[0x89], dst, RAX);
                self.ext(0xf7, if i.op == op::IMULH_R { 4 } else { 5 }, src);
                self.reg_reg(&[0x89], RDX, dst);
            }
            op::IMUL_RCP => {
                // mov rax, imm64; imul dst, rax
                self.emit(&[0x48, 0xb8]);
                self.emit(&reciprocals[i.imm as usize].to_le_bytes());
                self.reg_reg(&[0x0f, 0xaf], dst, RAX);
            }
            // `read_programs` admits no other opcode.
            _ => {}
        }
    }
}

/// Computes dataset items from one cache with compiled programs, [`LANES`] at a time.
pub(crate) struct ItemKernel {
    code: Code,
    address_registers: [usize; PROGRAMS],
    memory: *const u8,
}

// SAFETY: the kernel only reads the cache's memory, which the `Dataset::build` caller
// keeps alive and unchanged while any thread computes items.
unsafe impl Send for ItemKernel {}
// SAFETY: as above: shared use is read-only.
unsafe impl Sync for ItemKernel {}

impl ItemKernel {
    /// Compiles the programs of `cache` and checks items at both ends of the dataset
    /// against the library's. `None` on any doubt: another layout, no executable
    /// memory, or a differing item.
    ///
    /// # Safety
    /// `cache` must be an initialised cache that outlives the kernel and is not written
    /// while it exists.
    pub(crate) unsafe fn new(cache: NonNull<ffi::RandomxCache>, items: u64) -> Option<Self> {
        if !cfg!(all(target_arch = "x86_64", unix)) || items < 2 * LANES as u64 {
            return None;
        }
        // SAFETY: as this function's contract.
        let read = unsafe { read_programs(cache) }?;
        let code = Code::compile(&read.programs, &read.reciprocals)?;
        let mut address_registers = [0; PROGRAMS];
        for (a, p) in address_registers.iter_mut().zip(&read.programs) {
            *a = p.address_register;
        }
        let kernel = Self {
            code,
            address_registers,
            memory: read.memory,
        };
        let checked = [0, items - LANES as u64 - 1]
            .into_iter()
            .all(|first| kernel.agrees_with_library(cache, first));
        checked.then_some(kernel)
    }

    /// Whether items `first..first + LANES + 1` equal the library's (the odd count runs
    /// a partial batch too).
    fn agrees_with_library(&self, cache: NonNull<ffi::RandomxCache>, first: u64) -> bool {
        const N: usize = LANES + 1;
        let mut ours = vec![0u8; N * 64];
        // SAFETY: `ours` holds N items.
        unsafe { self.compute(ours.as_mut_ptr(), first, N as u64) };
        // A dataset object around our own buffer: `randomx_init_dataset` writes item
        // `first + k` at `memory + (first + k) * 64`, so the buffer is addressed from
        // `first` items before it; only the N items inside it are written.
        let mut theirs = vec![0u8; N * 64];
        let base = theirs.as_mut_ptr().wrapping_sub(first as usize * 64);
        let mut fake = [base as usize, 0usize];
        // SAFETY: `randomx_dataset` is `{ memory, dealloc }`; the library's item loop
        // reads only `memory`, and writes only items `first..first + N`, which lie in
        // `theirs`. The cache is initialised (this function's caller's contract).
        unsafe {
            ffi::randomx_init_dataset(
                fake.as_mut_ptr().cast(),
                cache.as_ptr(),
                first as std::os::raw::c_ulong,
                N as std::os::raw::c_ulong,
            );
        }
        ours == theirs
    }

    /// Writes items `first..first + count` to `out` (item `first` at `out`).
    ///
    /// # Safety
    /// `out` must be valid for `count * 64` bytes of writes, not read or written by
    /// anything else meanwhile.
    pub(crate) unsafe fn compute(&self, out: *mut u8, first: u64, count: u64) {
        let mut done = 0;
        while done < count {
            let n = (count - done).min(LANES as u64) as usize;
            let mut registers = [[0u64; 8]; LANES];
            let mut lines = [std::ptr::null::<u8>(); LANES];
            for k in 0..n {
                let item = first + done + k as u64;
                registers[k] = initial_registers(item);
                lines[k] = self.line(item);
                prefetch(lines[k]);
            }
            for (p, &address_register) in self.address_registers.iter().enumerate() {
                for k in 0..n {
                    let r = &mut registers[k];
                    self.code.run(p, r);
                    // SAFETY: `line` points at a whole 64-byte line of the cache.
                    let line = unsafe { std::slice::from_raw_parts(lines[k], 64) };
                    for (reg, word) in r.iter_mut().zip(line.chunks_exact(8)) {
                        let mut w = [0u8; 8];
                        w.copy_from_slice(word);
                        *reg ^= u64::from_le_bytes(w);
                    }
                    lines[k] = self.line(r[address_register]);
                    prefetch(lines[k]);
                }
            }
            for (k, r) in registers.iter().take(n).enumerate() {
                // SAFETY: item `done + k` lies inside `out`'s `count` items.
                unsafe { store_item(out.add((done as usize + k) * 64), r) };
            }
            done += n as u64;
        }
        store_fence();
    }

    /// The cache line a register value picks.
    fn line(&self, value: u64) -> *const u8 {
        self.memory
            .wrapping_add(((value % CACHE_LINES) * 64) as usize)
    }
}

/// Writes an item's registers (little-endian) to `out`, past the caches when `out` is
/// 16-byte aligned (the dataset is written once and read only by hashing later).
///
/// # Safety
/// `out` must be valid for 64 bytes of writes.
#[cfg(target_arch = "x86_64")]
unsafe fn store_item(out: *mut u8, r: &[u64; 8]) {
    use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_stream_si128};
    if out.cast::<__m128i>().is_aligned() {
        for (i, pair) in r.chunks_exact(2).enumerate() {
            // SAFETY: 16 aligned bytes inside the item; SSE2 is part of x86-64.
            unsafe {
                _mm_stream_si128(
                    out.cast::<__m128i>().add(i),
                    _mm_set_epi64x(pair[1] as i64, pair[0] as i64),
                );
            }
        }
    } else {
        // SAFETY: as the caller's contract.
        unsafe { store_item_plain(out, r) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn store_item(out: *mut u8, r: &[u64; 8]) {
    // SAFETY: as the caller's contract.
    unsafe { store_item_plain(out, r) };
}

/// # Safety
/// `out` must be valid for 64 bytes of writes.
unsafe fn store_item_plain(out: *mut u8, r: &[u64; 8]) {
    for (i, reg) in r.iter().enumerate() {
        // SAFETY: 8 bytes inside the item.
        unsafe { out.add(i * 8).cast::<u64>().write_unaligned(reg.to_le()) };
    }
}

/// Orders the streaming stores before whatever the thread does next.
fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a fence has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

#[cfg(target_arch = "x86_64")]
fn prefetch(p: *const u8) {
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe { std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0) };
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch(_: *const u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's meaning of each instruction, to check the compiled code by.
    fn interpret(program: &Program, reciprocals: &[u64], r: &mut [u64; 8]) {
        for i in &program.code {
            let (d, s) = (usize::from(i.dst), usize::from(i.src));
            let imm = i64::from(i.imm as i32) as u64;
            r[d] = match i.op {
                op::ISUB_R => r[d].wrapping_sub(r[s]),
                op::IXOR_R => r[d] ^ r[s],
                op::IADD_RS => r[d].wrapping_add(r[s] << ((i.modifier >> 2) % 4)),
                op::IMUL_R => r[d].wrapping_mul(r[s]),
                op::IROR_C => r[d].rotate_right(i.imm % 64),
                op::IADD_C7 | op::IADD_C8 | op::IADD_C9 => r[d].wrapping_add(imm),
                op::IXOR_C7 | op::IXOR_C8 | op::IXOR_C9 => r[d] ^ imm,
                op::IMULH_R => ((u128::from(r[d]) * u128::from(r[s])) >> 64) as u64,
                op::ISMULH_R => ((i128::from(r[d] as i64) * i128::from(r[s] as i64)) >> 64) as u64,
                op::IMUL_RCP => r[d].wrapping_mul(reciprocals[i.imm as usize]),
                _ => r[d],
            };
        }
    }

    /// Every opcode on every destination and source, r12 and r13 (special encodings)
    /// included, against the interpreter.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn compiled_instructions_match_their_specification() {
        let reciprocals = [0x8000_0000_0000_0001, 0xdead_beef_0123_4567];
        let mut code = Vec::new();
        for op in 0..op::COUNT {
            for dst in 0..8u8 {
                for src in 0..8u8 {
                    let seed = u32::from(op) * 64 + u32::from(dst) * 8 + u32::from(src);
                    code.push(Instruction {
                        op,
                        dst,
                        src,
                        modifier: (seed % 16) as u8,
                        imm: if op == op::IMUL_RCP {
                            seed % 2
                        } else {
                            seed.wrapping_mul(0x9e37_79b9)
                        },
                    });
                }
            }
        }
        let programs: Vec<Program> = code
            .chunks(code.len().div_ceil(PROGRAMS))
            .enumerate()
            .map(|(i, c)| Program {
                code: c.to_vec(),
                address_register: i % 8,
            })
            .collect();
        assert_eq!(programs.len(), PROGRAMS);
        let compiled = Code::compile(&programs, &reciprocals).expect("executable memory");
        for (p, program) in programs.iter().enumerate() {
            let mut ours = initial_registers(p as u64 + 7);
            let mut spec = ours;
            compiled.run(p, &mut ours);
            interpret(program, &reciprocals, &mut spec);
            assert_eq!(ours, spec, "program {p}");
        }
    }

    /// The programs read from a real cache, compiled and run several items at a time,
    /// give the library's items: at both ends (checked by `new`) and at scattered
    /// positions, in batches that do not start on a multiple of [`LANES`].
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn interleaved_items_equal_the_library_items() {
        use crate::randomx::{Cache, RandomxFlags};
        let cache = Cache::new(
            b"otedama items",
            RandomxFlags::detect(),
            crate::randomx::HugePages::Off,
        )
        .expect("cache");
        let items = crate::randomx::Dataset::item_count();
        // SAFETY: the cache is initialised and outlives the kernel.
        let kernel = unsafe { ItemKernel::new(cache.raw(), items) }.expect("the layout is read");
        for first in [3, 1_000_003, items / 2 + 5, items - 100] {
            assert!(
                kernel.agrees_with_library(cache.raw(), first),
                "items from {first}"
            );
        }
        // Another key gives other programs: the check would notice stale ones.
        let other = Cache::new(
            b"otedama items 2",
            RandomxFlags::detect(),
            crate::randomx::HugePages::Off,
        )
        .expect("cache");
        assert!(!kernel.agrees_with_library(other.raw(), 3));
    }

    #[test]
    fn the_layout_constants_match_the_bundled_release() {
        assert_eq!(PROGRAM_BYTES, 4200);
        assert_eq!(RECIPROCALS_OFFSET, 33_640);
        assert_eq!(initial_registers(0)[0], MUL0);
    }
}
