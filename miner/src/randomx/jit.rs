//! Compiles a decoded RandomX program ([`Program`]) to x86-64: the whole program loop
//! (chapter 4.6.2 of the specification), 2048 iterations of 256 instructions, as one
//! function; or the same step of two hashes as one loop that runs an iteration of each
//! in turn ([`assemble_pair`], ADR 0006).
//!
//! Register use: RandomX `r0`-`r7` live in `r8`-`r15`; `f0`-`f3` in `xmm0`-`xmm3`,
//! `e0`-`e3` in `xmm4`-`xmm7`, `a0`-`a3` in `xmm8`-`xmm11`; `xmm12` is scratch,
//! `xmm13` keeps the low 56 bits of a group E value, `xmm14` holds the E masks and
//! `xmm15` FSCAL_R's sign-and-exponent flip. `rsi` is the scratchpad, `rdi` the
//! dataset (at the program's offset), `rbp` holds `ma` (low half) and `mx` (high half),
//! `rbx` counts iterations; `rax`, `rcx`, `rdx` are scratch.
//!
//! Beyond what the specification's loop needs, the code prefetches the next iteration's
//! two scratchpad lines as soon as their addresses are known (before the stores), uses
//! BMI2's `mulx` and `rorx` where the CPU has them, and reads IMUL_RCP's reciprocals
//! from a constant pool at a fixed place in the program's code slot instead of loading
//! 64-bit immediates, and leaves out CFROUNDs whose rounding mode nothing uses.
//!
//! The code is written through one mapping of a memory file and run through another
//! that is executable and never writable, each program to the next of [`SLOTS`] slots.

#![allow(unsafe_code)]

use super::program::{
    Addr, DATASET_LINE_MASK, E_KEEP_MASK, FloatOp, Instr, InstructionSink, IntOp, L3_LINE_MASK,
    MemOp, PROGRAM_BYTES, PROGRAM_SIZE, Program, SCALE_MASK, Src, for_each_instruction,
};
use std::ptr::NonNull;

/// `RANDOMX_PROGRAM_ITERATIONS`.
const ITERATIONS: u32 = 2048;
/// MXCSR with every exception masked, flush-to-zero and denormals-are-zero: the
/// rounding mode goes into bits 13-14.
pub(crate) const MXCSR_DEFAULT: u32 = 0x9FC0;
/// Bytes of one slot of code memory: the code of a program (at most about 7 KiB: 256
/// instructions of at most 25 bytes, and the loop around them) or of a pair (twice
/// that) from the start, its constant pool at [`POOL_OFFSET`].
const SLOT_BYTES: usize = 32 * 1024;
/// Programs go to the slots in turn, so the code written was last run long enough ago
/// to have left the instruction caches: a store to code still cached there costs a
/// pipeline flush per cache line (several microseconds per program).
const SLOTS: usize = 32;
/// Bytes of code memory.
const CODE_BYTES: usize = SLOTS * SLOT_BYTES;

/// What the compiled function reads and writes: the register file first, as the
/// specification lays it out (`r0`-`r7`, `f0`-`f3`, `e0`-`e3`, `a0`-`a3`).
#[repr(C, align(64))]
#[derive(Clone, Debug)]
pub(crate) struct Context {
    pub(crate) r: [u64; 8],
    pub(crate) f: [[u64; 2]; 4],
    pub(crate) e: [[u64; 2]; 4],
    pub(crate) a: [[u64; 2]; 4],
    /// The scratchpad (2 MiB, 64-byte aligned).
    pub(crate) scratchpad: *mut u8,
    /// The dataset plus the program's offset.
    pub(crate) dataset: *const u8,
    /// `ma | mx << 32`.
    pub(crate) memory_registers: u64,
    /// MXCSR of the VM (carries `fprc` from one program to the next).
    pub(crate) mxcsr: u32,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            r: [0; 8],
            f: [[0; 2]; 4],
            e: [[0; 2]; 4],
            a: [[0; 2]; 4],
            scratchpad: std::ptr::null_mut(),
            dataset: std::ptr::null(),
            memory_registers: 0,
            mxcsr: MXCSR_DEFAULT,
        }
    }
}

impl Context {
    /// The 256-byte register file.
    pub(crate) fn register_file(&self) -> [u8; 256] {
        let mut out = [0u8; 256];
        let words = self
            .r
            .iter()
            .chain(self.f.iter().flatten())
            .chain(self.e.iter().flatten())
            .chain(self.a.iter().flatten());
        for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

const SCRATCHPAD_OFFSET: i32 = 256;
const DATASET_OFFSET: i32 = 264;
const MEMORY_REGISTERS_OFFSET: i32 = 272;
const MXCSR_OFFSET: i32 = 280;

/// x86 register numbers.
const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RBX: u8 = 3;
const RSP: u8 = 4;
const RBP: u8 = 5;
const RSI: u8 = 6;
const RDI: u8 = 7;
const XMM_TMP: u8 = 12;
const XMM_E_KEEP: u8 = 13;
const XMM_E_MASK: u8 = 14;
const XMM_SCALE: u8 = 15;

/// Stack slots below the saved registers: spAddr0's line, spAddr1's line, the context
/// pointer, the caller's MXCSR, the offset in the table of the MXCSR last loaded by
/// CFROUND (-1: none yet), and the table of the four MXCSR images; for a pair of
/// programs, the second context and each half's next scratchpad lines (`rax`, `rdx`).
const SLOT_LINE0: i8 = 0;
const SLOT_LINE1: i8 = 8;
const SLOT_CONTEXT: i8 = 16;
const SLOT_CALLER_MXCSR: i8 = 24;
const SLOT_MODE: i8 = 28;
const SLOT_MXCSR_TABLE: i8 = 32;
const SLOT_CONTEXT_B: i8 = 48;
const SLOT_NEXT_LINES: i8 = 56;
const SLOT_NEXT_LINES_B: i8 = 72;
const FRAME: i32 = 88;

/// The stack slot at `offset` (one of the `SLOT_*` above).
fn stack(offset: i8) -> Mem {
    Mem::Base(RSP, i32::from(offset))
}

/// Recommended multi-byte NOPs of 1 to 8 bytes.
const NOPS: [[u8; 8]; 8] = [
    [0x90, 0, 0, 0, 0, 0, 0, 0],
    [0x66, 0x90, 0, 0, 0, 0, 0, 0],
    [0x0f, 0x1f, 0x00, 0, 0, 0, 0, 0],
    [0x0f, 0x1f, 0x40, 0x00, 0, 0, 0, 0],
    [0x0f, 0x1f, 0x44, 0x00, 0x00, 0, 0, 0],
    [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0, 0],
    [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00, 0],
    [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// A memory operand.
#[derive(Clone, Copy)]
enum Mem {
    /// `[base + disp]`.
    Base(u8, i32),
    /// `[base + index + disp]`.
    Indexed(u8, u8, i32),
    /// `[rip + disp]` to a constant-pool slot.
    Constant(usize),
}

/// CPU features the code may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    pub(crate) bmi2: bool,
    pub(crate) avx: bool,
    /// LDMXCSR is slow (AMD's cores): CFROUND loads MXCSR only when the rounding mode
    /// changes. Elsewhere it loads it every time, as xmrig does: there the load costs
    /// about what a compare and branch on a random mode costs.
    pub(crate) slow_ldmxcsr: bool,
}

impl Features {
    pub(crate) fn detect() -> Self {
        Self {
            bmi2: std::arch::is_x86_feature_detected!("bmi2"),
            avx: std::arch::is_x86_feature_detected!("avx"),
            slow_ldmxcsr: amd_core(),
        }
    }
}

/// Whether the CPU is AMD's (or Hygon's, the same cores), from CPUID leaf 0's vendor.
fn amd_core() -> bool {
    let id = std::arch::x86_64::__cpuid(0);
    let mut vendor = [0u8; 12];
    vendor[..4].copy_from_slice(&id.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&id.edx.to_le_bytes());
    vendor[8..].copy_from_slice(&id.ecx.to_le_bytes());
    &vendor == b"AuthenticAMD" || &vendor == b"HygonGenuine"
}

/// Writes machine code into `code` from the start and constants into its constant pool
/// at [`POOL_OFFSET`], so RIP-relative operands are known when emitted.
struct Assembler<'a> {
    code: &'a mut [u8],
    len: usize,
    /// 8-byte slots of the pool in use.
    pool_len: usize,
}

/// Where the constant pool starts in a slot (the code of a program, or of a pair, stays
/// below it).
const POOL_OFFSET: usize = 24 * 1024;
/// 8-byte slots in the pool: four 16-byte masks and at most 256 reciprocals a program,
/// for two programs.
const POOL_SLOTS: usize = 8 + 2 * 256;

impl<'a> Assembler<'a> {
    fn new(code: &'a mut [u8]) -> Self {
        Self {
            code,
            len: 0,
            pool_len: 0,
        }
    }

    #[inline(always)]
    fn emit(&mut self, bytes: &[u8]) {
        self.code[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline(always)]
    fn emit32(&mut self, v: u32) {
        self.emit(&v.to_le_bytes());
    }

    /// Emits the first `len` of `bytes` (at most 4). All four are written, the extra
    /// ones to be overwritten by what follows: a copy of a length known only when the
    /// compiler runs would be a call to `memcpy`.
    #[inline(always)]
    fn emit_first(&mut self, bytes: [u8; 4], len: usize) {
        self.code[self.len..self.len + 4].copy_from_slice(&bytes);
        self.len += len;
    }

    /// Adds a 16-byte constant (two quadwords, 16-byte aligned) and returns its slot.
    #[inline(always)]
    fn constant_pair(&mut self, lo: u64, hi: u64) -> usize {
        self.pool_len += self.pool_len % 2;
        let slot = self.pool_len;
        self.put_constant(slot, lo);
        self.put_constant(slot + 1, hi);
        self.pool_len += 2;
        slot
    }

    #[inline(always)]
    fn constant(&mut self, v: u64) -> usize {
        let slot = self.pool_len.min(POOL_SLOTS - 1);
        self.put_constant(slot, v);
        self.pool_len = slot + 1;
        slot
    }

    #[inline(always)]
    fn put_constant(&mut self, slot: usize, v: u64) {
        let at = POOL_OFFSET + 8 * slot;
        self.code[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Emits `[prefix] [REX] opcode modrm [sib] [disp]` with `reg` in ModRM.reg and the
    /// memory operand `mem`; `w` sets REX.W.
    #[inline(always)]
    fn op_mem(&mut self, prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, mem: Mem) {
        if let Some(p) = prefix {
            self.emit(&[p]);
        }
        let (base, index) = match mem {
            Mem::Base(b, _) => (b, 0),
            Mem::Indexed(b, i, _) => (b, i),
            Mem::Constant(_) => (0, 0),
        };
        let rex = 0x40 | (u8::from(w) << 3) | ((reg >> 3) << 2) | ((index >> 3) << 1) | (base >> 3);
        if rex != 0x40 {
            self.emit(&[rex]);
        }
        self.emit(opcode);
        let r = (reg & 7) << 3;
        match mem {
            Mem::Constant(c) => {
                self.emit(&[r | 0b101]);
                let rel = (POOL_OFFSET + 8 * c) as i64 - (self.len as i64 + 4);
                self.emit32(rel as i32 as u32);
            }
            Mem::Base(b, disp) => {
                let needs_sib = b & 7 == RSP;
                let (mode, len, bytes) = Self::displacement(disp, b & 7 == RBP);
                self.emit(&[(mode << 6) | r | if needs_sib { 0b100 } else { b & 7 }]);
                if needs_sib {
                    self.emit(&[0x24]);
                }
                self.emit_first(bytes, len);
            }
            Mem::Indexed(b, i, disp) => {
                let (mode, len, bytes) = Self::displacement(disp, b & 7 == RBP);
                self.emit(&[(mode << 6) | r | 0b100, ((i & 7) << 3) | (b & 7)]);
                self.emit_first(bytes, len);
            }
        }
    }

    /// `movapd xmm, [mem]`.
    #[inline(always)]
    fn movapd_load(&mut self, xmm: u8, mem: Mem) {
        self.op_mem(Some(0x66), false, &[0x0f, 0x28], xmm, mem);
    }

    /// `mov reg, qword [mem]`.
    #[inline(always)]
    fn load64(&mut self, reg: u8, mem: Mem) {
        self.op_mem(None, true, &[0x8b], reg, mem);
    }

    /// `mov qword [mem], reg`.
    #[inline(always)]
    fn store64(&mut self, mem: Mem, reg: u8) {
        self.op_mem(None, true, &[0x89], reg, mem);
    }

    /// ModRM mode and displacement bytes (`rbp`/`r13` as a base need one).
    #[inline(always)]
    fn displacement(disp: i32, base_needs_disp: bool) -> (u8, usize, [u8; 4]) {
        if disp == 0 && !base_needs_disp {
            (0, 0, [0; 4])
        } else if let Ok(d) = i8::try_from(disp) {
            (1, 1, [d as u8, 0, 0, 0])
        } else {
            (2, 4, disp.to_le_bytes())
        }
    }

    /// `op reg, rm` between registers, 64-bit when `w`.
    #[inline(always)]
    fn op_reg(&mut self, prefix: Option<u8>, w: bool, opcode: &[u8], reg: u8, rm: u8) {
        if let Some(p) = prefix {
            self.emit(&[p]);
        }
        let rex = 0x40 | (u8::from(w) << 3) | ((reg >> 3) << 2) | (rm >> 3);
        if rex != 0x40 {
            self.emit(&[rex]);
        }
        self.emit(opcode);
        self.emit(&[0xc0 | ((reg & 7) << 3) | (rm & 7)]);
    }

    /// A BMI2 instruction (`VEX.LZ.F2.W1`) on general registers: `map` 2 (0F38) or 3
    /// (0F3A), `vvvv` the extra operand (unused: 0).
    #[inline(always)]
    fn bmi2(&mut self, map: u8, vvvv: u8, opcode: u8, reg: u8, rm: u8) {
        let b1 = (((!reg >> 3) & 1) << 7) | (1 << 6) | (((!rm >> 3) & 1) << 5) | map;
        let b2 = (1 << 7) | ((!vvvv & 15) << 3) | 3;
        self.emit(&[0xc4, b1, b2, opcode, 0xc0 | ((reg & 7) << 3) | (rm & 7)]);
    }

    /// `lea eax/ecx, [reg + imm]; and eax/ecx, mask`: a scratchpad address.
    #[inline(always)]
    fn address(&mut self, to: u8, reg: u8, imm: i32, mask: u32) {
        self.op_mem(None, false, &[0x8d], to, Mem::Base(8 + reg, imm));
        if to == RAX {
            self.emit(&[0x25]);
        } else {
            self.op_reg(None, false, &[0x81], 4, to);
        }
        self.emit32(mask);
    }

    /// The memory operand of a scratchpad read or write at `addr`, computing the address
    /// into `to` first where needed.
    #[inline(always)]
    fn scratchpad(&mut self, addr: Addr, to: u8) -> Mem {
        match addr {
            Addr::Reg { reg, imm, mask } => {
                self.address(to, reg, imm, mask);
                Mem::Indexed(RSI, to, 0)
            }
            Addr::Fixed(a) => Mem::Base(RSI, a as i32),
        }
    }

    /// Fills `code[from..to]` with NOPs.
    #[inline(always)]
    fn nops(&mut self, from: usize, to: usize) {
        let mut at = from;
        while at < to {
            let n = (to - at).min(8);
            self.code[at..at + n].copy_from_slice(&NOPS[n - 1][..n]);
            at += n;
        }
    }

    #[inline(always)]
    fn jump_back(&mut self, short: u8, long: &[u8], target: usize) {
        let here = self.len;
        let rel = target as i64 - (here as i64 + 2);
        if let Ok(r) = i8::try_from(rel) {
            self.emit(&[short, r as u8]);
        } else {
            let rel = target as i64 - (here as i64 + long.len() as i64 + 4);
            self.emit(long);
            self.emit32(rel as i32 as u32);
        }
    }
}

/// Compiles the program in `bytes` (configured as `program`) into `code` (a slot's
/// bytes); returns the length of the code.
fn assemble(
    code: &mut [u8],
    program: &Program,
    bytes: &[u8; PROGRAM_BYTES],
    features: Features,
) -> usize {
    // The assembler is a local (the body's sink owns it while it compiles the
    // instructions): behind a reference, any byte stored might be its length, which
    // was then read back from memory after every store.
    let mut a = Assembler::new(code);
    let e_keep = a.constant_pair(E_KEEP_MASK, E_KEEP_MASK);
    let e_mask = a.constant_pair(program.e_mask[0], program.e_mask[1]);
    let scale = a.constant_pair(SCALE_MASK, SCALE_MASK);

    prologue(&mut a, features);
    a.store64(stack(SLOT_CONTEXT), RDI);
    a.op_mem(None, false, &[0x0f, 0xae], 2, Mem::Base(RDI, MXCSR_OFFSET)); // ldmxcsr
    a.load64(RSI, Mem::Base(RDI, SCRATCHPAD_OFFSET));
    a.load64(RBP, Mem::Base(RDI, MEMORY_REGISTERS_OFFSET));
    a.emit(&[0xbb]); // mov ebx, ITERATIONS
    a.emit32(ITERATIONS);
    load_a_registers(&mut a, RDI);
    for (xmm, constant) in [
        (XMM_E_KEEP, e_keep),
        (XMM_E_MASK, e_mask),
        (XMM_SCALE, scale),
    ] {
        a.movapd_load(xmm, Mem::Constant(constant));
    }
    a.load64(RDI, Mem::Base(RDI, DATASET_OFFSET));
    for i in 0..8u8 {
        a.op_reg(None, false, &[0x31], 8 + i, 8 + i); // xor r(8+i)d, r(8+i)d
    }
    first_iteration(&mut a);

    let loop_start = align_loop(&mut a);
    head(&mut a);
    let mut a = body(a, bytes, features);
    tail(&mut a, program.read_regs);
    a.op_reg(None, false, &[0x83], 5, RBX); // sub ebx, 1
    a.emit(&[1]);
    a.jump_back(0x75, &[0x0f, 0x85], loop_start); // jnz loop

    // Epilogue: registers back to the context, MXCSR kept for the next program.
    a.load64(RDI, stack(SLOT_CONTEXT));
    store_r(&mut a, RDI);
    store_f_e(&mut a, RDI);
    a.op_mem(None, false, &[0x0f, 0xae], 3, Mem::Base(RDI, MXCSR_OFFSET)); // stmxcsr
    epilogue(&mut a);
    a.len
}

/// Compiles two programs into one loop that runs an iteration of each in turn, each on
/// its own context (two hashes at once on one thread): while one iteration waits for
/// its dataset item, the core runs the other's. Between the halves the integer
/// registers, `ma`/`mx`, the next scratchpad lines and MXCSR go to the half's context
/// (or stack slots) and the other's come back; `f` and `e` are reloaded by every
/// iteration's head, so they are written to the context only after the last.
fn assemble_pair(
    code: &mut [u8],
    programs: [&Program; 2],
    bytes: [&[u8; PROGRAM_BYTES]; 2],
    features: Features,
) -> usize {
    let mut a = Assembler::new(code);
    let e_keep = a.constant_pair(E_KEEP_MASK, E_KEEP_MASK);
    let scale = a.constant_pair(SCALE_MASK, SCALE_MASK);
    let e_masks = programs.map(|p| a.constant_pair(p.e_mask[0], p.e_mask[1]));
    let contexts = [SLOT_CONTEXT, SLOT_CONTEXT_B];
    let next_lines = [SLOT_NEXT_LINES, SLOT_NEXT_LINES_B];

    prologue(&mut a, features);
    a.store64(stack(SLOT_CONTEXT), RDI);
    a.store64(stack(SLOT_CONTEXT_B), RSI);
    for (xmm, constant) in [(XMM_E_KEEP, e_keep), (XMM_SCALE, scale)] {
        a.movapd_load(xmm, Mem::Constant(constant));
    }
    a.emit(&[0xbb]); // mov ebx, ITERATIONS
    a.emit32(ITERATIONS);
    for k in 0..2 {
        a.load64(RCX, stack(contexts[k]));
        a.load64(RBP, Mem::Base(RCX, MEMORY_REGISTERS_OFFSET));
        a.load64(RDI, Mem::Base(RCX, DATASET_OFFSET));
        first_iteration(&mut a);
        a.store64(stack(next_lines[k]), RAX);
        a.store64(stack(next_lines[k] + 8), RDX);
    }

    let loop_start = align_loop(&mut a);
    for k in 0..2 {
        // In: this half's registers from its context.
        a.load64(RCX, stack(contexts[k]));
        for i in 0..8u8 {
            a.load64(8 + i, Mem::Base(RCX, 8 * i32::from(i)));
        }
        load_a_registers(&mut a, RCX);
        a.op_mem(None, false, &[0x0f, 0xae], 2, Mem::Base(RCX, MXCSR_OFFSET)); // ldmxcsr
        if features.slow_ldmxcsr {
            a.op_mem(None, false, &[0xc7], 0, stack(SLOT_MODE)); // mov dword [mode], -1
            a.emit32(u32::MAX);
        }
        a.load64(RSI, Mem::Base(RCX, SCRATCHPAD_OFFSET));
        a.load64(RDI, Mem::Base(RCX, DATASET_OFFSET));
        a.load64(RBP, Mem::Base(RCX, MEMORY_REGISTERS_OFFSET));
        a.load64(RAX, stack(next_lines[k]));
        a.load64(RDX, stack(next_lines[k] + 8));
        a.movapd_load(XMM_E_MASK, Mem::Constant(e_masks[k]));
        head(&mut a);
        a = body(a, bytes[k], features);
        tail(&mut a, programs[k].read_regs);
        // Out: back to the context.
        a.load64(RCX, stack(contexts[k]));
        store_r(&mut a, RCX);
        a.store64(Mem::Base(RCX, MEMORY_REGISTERS_OFFSET), RBP);
        a.op_mem(None, false, &[0x0f, 0xae], 3, Mem::Base(RCX, MXCSR_OFFSET)); // stmxcsr
        a.store64(stack(next_lines[k]), RAX);
        a.store64(stack(next_lines[k] + 8), RDX);
        a.op_reg(None, false, &[0x83], 7, RBX); // cmp ebx, 1
        a.emit(&[1]);
        a.emit(&[0x75, 0]); // jne over the stores
        let skip_from = a.len;
        store_f_e(&mut a, RCX);
        a.code[skip_from - 1] = (a.len - skip_from) as u8;
    }
    a.op_reg(None, false, &[0x83], 5, RBX); // sub ebx, 1
    a.emit(&[1]);
    a.jump_back(0x75, &[0x0f, 0x85], loop_start); // jnz loop
    epilogue(&mut a);
    a.len
}

/// Saves the callee-saved registers and the caller's MXCSR, reserves the frame and
/// writes the MXCSR images of the four rounding modes (no mode loaded by CFROUND yet).
fn prologue(a: &mut Assembler, features: Features) {
    a.emit(&[0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57]);
    a.op_reg(None, true, &[0x81], 5, RSP); // sub rsp, FRAME
    a.emit32(FRAME as u32);
    if features.avx {
        a.emit(&[0xc5, 0xf8, 0x77]); // vzeroupper
    }
    for mode in 0..4u32 {
        let slot = i32::from(SLOT_MXCSR_TABLE) + 4 * mode as i32;
        a.op_mem(None, false, &[0xc7], 0, Mem::Base(RSP, slot)); // mov dword [rsp+slot], imm
        a.emit32(MXCSR_DEFAULT | (mode << 13));
    }
    a.op_mem(None, false, &[0xc7], 0, stack(SLOT_MODE));
    a.emit32(u32::MAX);
    a.op_mem(None, false, &[0x0f, 0xae], 3, stack(SLOT_CALLER_MXCSR)); // stmxcsr
}

/// Restores the caller's MXCSR and registers and returns.
fn epilogue(a: &mut Assembler) {
    a.op_mem(None, false, &[0x0f, 0xae], 2, stack(SLOT_CALLER_MXCSR)); // ldmxcsr
    a.op_reg(None, true, &[0x81], 0, RSP); // add rsp, FRAME
    a.emit32(FRAME as u32);
    a.emit(&[
        0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3,
    ]);
}

/// `movapd xmm(8+i), [context + 192 + 16i]`: the program's `a0`-`a3`.
fn load_a_registers(a: &mut Assembler, context: u8) {
    for i in 0..4u8 {
        a.movapd_load(8 + i, Mem::Base(context, 192 + 16 * i32::from(i)));
    }
}

/// `mov [context + 8i], r(8+i)`: `r0`-`r7` to the context.
fn store_r(a: &mut Assembler, context: u8) {
    for i in 0..8u8 {
        a.store64(Mem::Base(context, 8 * i32::from(i)), 8 + i);
    }
}

/// `movapd [context + 64 + 16i], xmm(i)`: `f` then `e` to the context.
fn store_f_e(a: &mut Assembler, context: u8) {
    for i in 0..8u8 {
        a.op_mem(
            Some(0x66),
            false,
            &[0x0f, 0x29],
            i,
            Mem::Base(context, 64 + 16 * i32::from(i)),
        );
    }
}

/// With `ma | mx << 32` in `rbp` and the dataset in `rdi`: prefetches the first
/// iteration's item and leaves its scratchpad lines in `eax` and `edx`.
fn first_iteration(a: &mut Assembler) {
    a.op_reg(None, false, &[0x8b], RCX, RBP); // mov ecx, ebp
    a.op_reg(None, false, &[0x81], 4, RCX); // and ecx, DATASET_LINE_MASK
    a.emit32(DATASET_LINE_MASK);
    a.op_mem(None, false, &[0x0f, 0x18], 0, Mem::Indexed(RDI, RCX, 0)); // prefetchnta
    // rax = spAddr0 | spAddr1 << 32 = mx | ma << 32 (the registers are zero).
    a.op_reg(None, true, &[0x89], RBP, RAX); // mov rax, rbp
    a.op_reg(None, true, &[0xc1], 1, RAX); // ror rax, 32
    a.emit(&[32]);
    // rdx = spAddr1, eax = spAddr0, both L3 lines (the loop's tail computes them for
    // the iterations after the first).
    a.op_reg(None, true, &[0x89], RAX, RDX); // mov rdx, rax
    a.emit(&[0x25]); // and eax, L3_LINE_MASK
    a.emit32(L3_LINE_MASK);
    a.op_reg(None, true, &[0xc1], 5, RDX); // shr rdx, 32
    a.emit(&[32]);
    a.op_reg(None, false, &[0x81], 4, RDX); // and edx, L3_LINE_MASK
    a.emit32(L3_LINE_MASK);
}

/// Pads to the next cache line, where the loop starts; returns its position.
fn align_loop(a: &mut Assembler) -> usize {
    let line = a.len.next_multiple_of(64);
    a.nops(a.len, line);
    a.len = line;
    line
}

/// The iteration's head: `r` ^= spAddr0's line, `f` and `e` from spAddr1's.
fn head(a: &mut Assembler) {
    a.op_mem(None, true, &[0x8d], RCX, Mem::Indexed(RSI, RAX, 0)); // lea rcx, [rsi+rax]
    a.store64(stack(SLOT_LINE0), RCX);
    for i in 0..8u8 {
        a.op_mem(None, true, &[0x33], 8 + i, Mem::Base(RCX, 8 * i32::from(i))); // xor r, [rcx+8i]
    }
    a.op_mem(None, true, &[0x8d], RCX, Mem::Indexed(RSI, RDX, 0)); // lea rcx, [rsi+rdx]
    a.store64(stack(SLOT_LINE1), RCX);
    for i in 0..8u8 {
        // cvtdq2pd xmm(i), [rcx + 8i]
        a.op_mem(
            Some(0xf3),
            false,
            &[0x0f, 0xe6],
            i,
            Mem::Base(RCX, 8 * i32::from(i)),
        );
    }
    for i in 4..8u8 {
        a.op_reg(None, false, &[0x0f, 0x54], i, XMM_E_KEEP); // andps
        a.op_reg(None, false, &[0x0f, 0x56], i, XMM_E_MASK); // orps
    }
}

/// The program's 256 instructions.
fn body<'a>(a: Assembler<'a>, bytes: &[u8; PROGRAM_BYTES], features: Features) -> Assembler<'a> {
    let mut body = Body {
        a,
        starts: [0; PROGRAM_SIZE],
        features,
        last_rounding: None,
        last_cfround: None,
    };
    for_each_instruction(bytes, &mut body);
    body.a
}

/// The iteration's tail: the dataset item, the next scratchpad lines, the stores.
fn tail(a: &mut Assembler, read_regs: [u8; 4]) {
    let [rr0, rr1, rr2, rr3] = read_regs;
    // mx ^= low32(r[readReg2] ^ r[readReg3]); prefetch mx's item; read ma's; swap.
    a.op_reg(None, false, &[0x8b], RAX, 8 + rr2); // mov eax, rr2d
    a.op_reg(None, false, &[0x33], RAX, 8 + rr3); // xor eax, rr3d
    a.op_reg(None, false, &[0x8b], RCX, RBP); // mov ecx, ebp
    a.op_reg(None, false, &[0x81], 4, RCX); // and ecx, DATASET_LINE_MASK
    a.emit32(DATASET_LINE_MASK);
    a.op_mem(None, true, &[0x33], 8, Mem::Indexed(RDI, RCX, 0)); // xor r8, [rdi+rcx]
    a.op_reg(None, true, &[0xc1], 1, RBP); // ror rbp, 32
    a.emit(&[32]);
    a.op_reg(None, true, &[0x33], RBP, RAX); // xor rbp, rax
    a.op_reg(None, false, &[0x8b], RDX, RBP); // mov edx, ebp
    a.op_reg(None, false, &[0x81], 4, RDX); // and edx, DATASET_LINE_MASK
    a.emit32(DATASET_LINE_MASK);
    a.op_mem(None, false, &[0x0f, 0x18], 0, Mem::Indexed(RDI, RDX, 0)); // prefetchnta
    for i in 1..8u8 {
        a.op_mem(
            None,
            true,
            &[0x33],
            8 + i,
            Mem::Indexed(RDI, RCX, 8 * i32::from(i)),
        );
    }
    // The next iteration's spAddr0/1 (eax, edx: the head reads them), and their lines
    // prefetched before the stores.
    a.op_reg(None, true, &[0x8b], RAX, 8 + rr0); // mov rax, rr0
    a.op_reg(None, true, &[0x33], RAX, 8 + rr1); // xor rax, rr1
    a.op_reg(None, true, &[0x89], RAX, RDX); // mov rdx, rax
    a.emit(&[0x25]); // and eax, L3_LINE_MASK
    a.emit32(L3_LINE_MASK);
    a.op_mem(None, false, &[0x0f, 0x18], 1, Mem::Indexed(RSI, RAX, 0)); // prefetcht0
    a.op_reg(None, true, &[0xc1], 5, RDX); // shr rdx, 32
    a.emit(&[32]);
    a.op_reg(None, false, &[0x81], 4, RDX); // and edx, L3_LINE_MASK
    a.emit32(L3_LINE_MASK);
    a.op_mem(None, false, &[0x0f, 0x18], 1, Mem::Indexed(RSI, RDX, 0)); // prefetcht0
    // r0-r7 to spAddr1's line; f ^= e to spAddr0's.
    a.load64(RCX, stack(SLOT_LINE1));
    for i in 0..8u8 {
        a.store64(Mem::Base(RCX, 8 * i32::from(i)), 8 + i);
    }
    a.load64(RCX, stack(SLOT_LINE0));
    for i in 0..4u8 {
        a.op_reg(Some(0x66), false, &[0x0f, 0x57], i, 4 + i); // xorpd f, e
        a.op_mem(
            Some(0x66),
            false,
            &[0x0f, 0x29],
            i,
            Mem::Base(RCX, 16 * i32::from(i)),
        ); // movapd
    }
}

/// The program body being compiled: each instruction's start, for branch targets, and
/// what CFROUND elision needs.
struct Body<'a> {
    a: Assembler<'a>,
    starts: [usize; PROGRAM_SIZE],
    features: Features,
    /// Where the last instruction that rounds starts (or a branch that can jump back
    /// over one: it may run one again).
    last_rounding: Option<usize>,
    /// The code of the last CFROUND.
    last_cfround: Option<(usize, usize)>,
}

impl InstructionSink for Body<'_> {
    #[inline(always)]
    fn instruction(&mut self, index: usize, instr: Instr) {
        let start = self.a.len;
        self.starts[index] = start;
        match instr {
            Instr::Float { .. } | Instr::FloatMem { .. } | Instr::Sqrt { .. } => {
                self.last_rounding = Some(start);
            }
            Instr::Branch { target, .. }
                if self
                    .last_rounding
                    .is_some_and(|at| self.starts[target] <= at) =>
            {
                self.last_rounding = Some(start);
            }
            Instr::RoundingMode { .. } => {
                // A rounding mode that every path replaces before anything rounds with
                // it is never used: its CFROUND becomes NOPs.
                if let Some((from, to)) = self.last_cfround
                    && self.last_rounding.is_none_or(|at| at < from)
                {
                    self.a.nops(from, to);
                }
            }
            _ => {}
        }
        instruction(&mut self.a, instr, &self.starts[..=index], self.features);
        if let Instr::RoundingMode { .. } = instr {
            self.last_cfround = Some((start, self.a.len));
        }
    }
}

/// Emits one instruction. `starts` holds the code position of every instruction so far
/// (the current one last).
#[inline(always)]
fn instruction(a: &mut Assembler, instr: Instr, starts: &[usize], features: Features) {
    match instr {
        Instr::AddShifted {
            dst,
            src,
            shift,
            imm,
        } => {
            // lea dst, [dst + src << shift + imm]
            let (dst, src) = (8 + dst, 8 + src);
            let rex = 0x48 | ((dst >> 3) << 2) | ((src >> 3) << 1) | (dst >> 3);
            let sib = (shift << 6) | ((src & 7) << 3) | (dst & 7);
            match imm {
                Some(imm) => {
                    a.emit(&[rex, 0x8d, 0x80 | ((dst & 7) << 3) | 4, sib]);
                    a.emit32(imm as u32);
                }
                None if dst & 7 == RBP => a.emit(&[rex, 0x8d, 0x40 | ((dst & 7) << 3) | 4, sib, 0]),
                None => a.emit(&[rex, 0x8d, ((dst & 7) << 3) | 4, sib]),
            }
        }
        Instr::Int { op, dst, src } => int_op(a, op, 8 + dst, src, features),
        Instr::IntMem { op, dst, addr } => {
            let dst = 8 + dst;
            match op {
                MemOp::MulHigh | MemOp::SignedMulHigh => {
                    let mem = a.scratchpad(addr, RCX);
                    a.op_reg(None, true, &[0x89], dst, RAX); // mov rax, dst
                    let ext = if op == MemOp::MulHigh { 4 } else { 5 };
                    a.op_mem(None, true, &[0xf7], ext, mem); // (i)mul qword [mem]
                    a.op_reg(None, true, &[0x89], RDX, dst); // mov dst, rdx
                }
                _ => {
                    let mem = a.scratchpad(addr, RAX);
                    let opcode: &[u8] = match op {
                        MemOp::Add => &[0x03],
                        MemOp::Sub => &[0x2b],
                        MemOp::Mul => &[0x0f, 0xaf],
                        _ => &[0x33],
                    };
                    a.op_mem(None, true, opcode, dst, mem);
                }
            }
        }
        Instr::MulHigh { dst, src, signed } => {
            let (dst, src) = (8 + dst, 8 + src);
            if features.bmi2 && !signed {
                a.op_reg(None, true, &[0x89], dst, RDX); // mov rdx, dst
                a.bmi2(2, RAX, 0xf6, dst, src); // mulx dst, rax, src
            } else {
                a.op_reg(None, true, &[0x89], dst, RAX); // mov rax, dst
                a.op_reg(None, true, &[0xf7], if signed { 5 } else { 4 }, src);
                a.op_reg(None, true, &[0x89], RDX, dst); // mov dst, rdx
            }
        }
        Instr::MulReciprocal { dst, rcp } => {
            let c = a.constant(rcp);
            a.op_mem(None, true, &[0x0f, 0xaf], 8 + dst, Mem::Constant(c)); // imul dst, [rip+c]
        }
        Instr::Neg { dst } => a.op_reg(None, true, &[0xf7], 3, 8 + dst),
        Instr::Swap { dst, src } => a.op_reg(None, true, &[0x87], 8 + src, 8 + dst),
        Instr::FloatSwap { reg } => {
            a.op_reg(Some(0x66), false, &[0x0f, 0xc6], reg, reg); // shufpd x, x, 1
            a.emit(&[1]);
        }
        Instr::Float { op, dst, src } => {
            let (opcode, reg) = match op {
                FloatOp::Add => (0x58, dst),
                FloatOp::Sub => (0x5c, dst),
                _ => (0x59, 4 + dst),
            };
            a.op_reg(Some(0x66), false, &[0x0f, opcode], reg, 8 + src);
        }
        Instr::FloatMem { op, dst, addr } => {
            let mem = a.scratchpad(addr, RAX);
            a.op_mem(Some(0xf3), false, &[0x0f, 0xe6], XMM_TMP, mem); // cvtdq2pd
            match op {
                FloatOp::Div => {
                    a.op_reg(None, false, &[0x0f, 0x54], XMM_TMP, XMM_E_KEEP); // andps
                    a.op_reg(None, false, &[0x0f, 0x56], XMM_TMP, XMM_E_MASK); // orps
                    a.op_reg(Some(0x66), false, &[0x0f, 0x5e], 4 + dst, XMM_TMP);
                }
                FloatOp::Add => a.op_reg(Some(0x66), false, &[0x0f, 0x58], dst, XMM_TMP),
                _ => a.op_reg(Some(0x66), false, &[0x0f, 0x5c], dst, XMM_TMP),
            }
        }
        Instr::Scale { dst } => a.op_reg(None, false, &[0x0f, 0x57], dst, XMM_SCALE), // xorps
        Instr::Sqrt { dst } => a.op_reg(Some(0x66), false, &[0x0f, 0x51], 4 + dst, 4 + dst),
        Instr::Branch {
            dst,
            imm,
            mask,
            target,
        } => {
            let dst = 8 + dst;
            a.op_reg(None, true, &[0x81], 0, dst); // add dst, imm32
            a.emit32(imm as u32);
            a.op_reg(None, true, &[0xf7], 0, dst); // test dst, mask
            a.emit32(mask);
            a.jump_back(0x74, &[0x0f, 0x84], starts[target]); // jz target
        }
        Instr::RoundingMode { src, rotate } => {
            // eax = ((src >>> rotate) & 3) * 4, the mode's offset in the MXCSR table;
            // where LDMXCSR is slow, loaded only when it differs from the mode in effect.
            let r = (i32::from(rotate) - 2).rem_euclid(64) as u8;
            if features.bmi2 {
                a.bmi2(3, 0, 0xf0, RAX, 8 + src); // rorx rax, src, r
                a.emit(&[r]);
            } else {
                a.op_reg(None, true, &[0x8b], RAX, 8 + src); // mov rax, src
                a.op_reg(None, true, &[0xc1], 1, RAX); // ror rax, r
                a.emit(&[r]);
            }
            a.emit(&[0x83, 0xe0, 0x0c]); // and eax, 12
            let table = Mem::Indexed(RSP, RAX, i32::from(SLOT_MXCSR_TABLE));
            if !features.slow_ldmxcsr {
                a.op_mem(None, false, &[0x0f, 0xae], 2, table); // ldmxcsr [rsp+rax+table]
                return;
            }
            let mode = stack(SLOT_MODE);
            a.op_mem(None, false, &[0x3b], RAX, mode); // cmp eax, [mode]
            a.emit(&[0x74, 0]); // je over the load
            let skip_from = a.len;
            a.op_mem(None, false, &[0x0f, 0xae], 2, table); // ldmxcsr [rsp+rax+table]
            a.op_mem(None, false, &[0x89], RAX, mode); // mov [mode], eax
            a.code[skip_from - 1] = (a.len - skip_from) as u8;
        }
        Instr::Store { addr, src } => {
            let mem = a.scratchpad(addr, RAX);
            a.store64(mem, 8 + src);
        }
        Instr::Nop => {}
    }
}

#[inline(always)]
fn int_op(a: &mut Assembler, op: IntOp, dst: u8, src: Src, features: Features) {
    match (op, src) {
        (IntOp::Sub, Src::Reg(s)) => a.op_reg(None, true, &[0x29], 8 + s, dst),
        (IntOp::Xor, Src::Reg(s)) => a.op_reg(None, true, &[0x31], 8 + s, dst),
        (IntOp::Mul, Src::Reg(s)) => a.op_reg(None, true, &[0x0f, 0xaf], dst, 8 + s),
        (IntOp::Sub | IntOp::Xor, Src::Imm(i)) => {
            let ext = if op == IntOp::Sub { 5 } else { 6 };
            a.op_reg(None, true, &[0x81], ext, dst);
            a.emit32(i as u32);
        }
        (IntOp::Mul, Src::Imm(i)) => {
            a.op_reg(None, true, &[0x69], dst, dst); // imul dst, dst, imm32
            a.emit32(i as u32);
        }
        (IntOp::Ror | IntOp::Rol, Src::Reg(s)) => {
            a.op_reg(None, false, &[0x8b], RCX, 8 + s); // mov ecx, src
            a.op_reg(
                None,
                true,
                &[0xd3],
                if op == IntOp::Ror { 1 } else { 0 },
                dst,
            );
        }
        (IntOp::Ror | IntOp::Rol, Src::Imm(i)) => {
            let right = if op == IntOp::Ror {
                i & 63
            } else {
                (64 - (i & 63)) & 63
            };
            if features.bmi2 {
                a.bmi2(3, 0, 0xf0, dst, dst); // rorx dst, dst, right
                a.emit(&[right as u8]);
            } else {
                a.op_reg(None, true, &[0xc1], 1, dst); // ror dst, right
                a.emit(&[right as u8]);
            }
        }
    }
}

/// Compiled programs in memory written through one mapping and run through another.
pub(crate) struct Jit {
    write: NonNull<u8>,
    exec: NonNull<u8>,
    features: Features,
    /// The slot the next program is written to.
    next_slot: usize,
}

// SAFETY: the mappings belong to this value alone; a `Jit` is used by one thread at a
// time (`&mut self` to compile and run).
unsafe impl Send for Jit {}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: both mappings came from `mmap` with `CODE_BYTES` and are unmapped once.
        unsafe {
            libc::munmap(self.write.as_ptr().cast(), CODE_BYTES);
            libc::munmap(self.exec.as_ptr().cast(), CODE_BYTES);
        }
    }
}

impl Jit {
    /// Maps the code memory: a memory file mapped writable once and executable once.
    /// `None` when the system refuses (then the library's VM hashes).
    pub(crate) fn new(features: Features) -> Option<Self> {
        // SAFETY: plain system calls; every result is checked and the descriptor closed.
        unsafe {
            let fd = libc::memfd_create(c"otedama-randomx-jit".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return None;
            }
            let mapped = (|| {
                if libc::ftruncate(fd, CODE_BYTES as libc::off_t) != 0 {
                    return None;
                }
                let map = |prot| {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        CODE_BYTES,
                        prot,
                        libc::MAP_SHARED,
                        fd,
                        0,
                    );
                    (p != libc::MAP_FAILED).then_some(p)
                };
                let write = map(libc::PROT_READ | libc::PROT_WRITE)?;
                let Some(exec) = map(libc::PROT_READ | libc::PROT_EXEC) else {
                    libc::munmap(write, CODE_BYTES);
                    return None;
                };
                Some((write, exec))
            })();
            libc::close(fd);
            let (write, exec) = mapped?;
            Some(Self {
                write: NonNull::new(write.cast())?,
                exec: NonNull::new(exec.cast())?,
                features,
                next_slot: 0,
            })
        }
    }

    /// The next slot in turn: its offset, and its bytes in the writable mapping.
    fn take_slot(&mut self) -> (usize, &mut [u8]) {
        let offset = self.next_slot * SLOT_BYTES;
        self.next_slot = (self.next_slot + 1) % SLOTS;
        // SAFETY: the slot lies inside the writable mapping (CODE_BYTES long), which is
        // ours alone; nothing runs the code while it is written (one thread, `&mut self`).
        let code =
            unsafe { std::slice::from_raw_parts_mut(self.write.as_ptr().add(offset), SLOT_BYTES) };
        (offset, code)
    }

    /// Compiles the program in `bytes` (configured as `program`), then runs it on `context` (whose scratchpad and dataset
    /// pointers must be live: 2 MiB of scratchpad and the dataset at the program's
    /// offset).
    ///
    /// # Safety
    /// `context.scratchpad` must point to 2 MiB of writable, 64-byte aligned memory and
    /// `context.dataset` to at least `2^31` readable bytes.
    pub(crate) unsafe fn run(
        &mut self,
        program: &Program,
        bytes: &[u8; PROGRAM_BYTES],
        context: &mut Context,
    ) {
        let features = self.features;
        let (offset, code) = self.take_slot();
        assemble(code, program, bytes, features);
        // SAFETY: the executable mapping shows the code just written: a System V
        // function that reads and writes `context` as `Context` lays it out, uses the
        // scratchpad and dataset behind its pointers (the caller's promise) and restores
        // every callee-saved register and MXCSR.
        unsafe {
            let f: unsafe extern "sysv64" fn(*mut Context) =
                std::mem::transmute(self.exec.as_ptr().add(offset));
            f(context);
        }
    }

    /// Compiles two programs into one loop ([`assemble_pair`]) and runs it, the first
    /// on `contexts[0]`, the second on `contexts[1]`; each context's `r` must be zero.
    ///
    /// # Safety
    /// As for [`Jit::run`], for both contexts.
    pub(crate) unsafe fn run_pair(
        &mut self,
        programs: [&Program; 2],
        bytes: [&[u8; PROGRAM_BYTES]; 2],
        contexts: [&mut Context; 2],
    ) {
        let features = self.features;
        let (offset, code) = self.take_slot();
        assemble_pair(code, programs, bytes, features);
        let [first, second] = contexts;
        // SAFETY: as in `run`, the function reading and writing both contexts.
        unsafe {
            let f: unsafe extern "sysv64" fn(*mut Context, *mut Context) =
                std::mem::transmute(self.exec.as_ptr().add(offset));
            f(first, second);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opcode bytes (the first of each kind's range).
    const ISUB_R: u8 = 23;
    const FADD_R: u8 = 124;
    const FSCAL_R: u8 = 166;
    const CBRANCH: u8 = 214;
    const CFROUND: u8 = 239;

    /// A CFROUND is compiled to NOPs exactly when every path from it meets another
    /// CFROUND before an instruction that rounds (a branch back over one counts as one).
    #[test]
    fn unused_rounding_modes_are_left_out() {
        let mut bytes = [0u8; PROGRAM_BYTES];
        let mut set = |i: usize, opcode: u8, dst: u8| {
            let at = 128 + 8 * i;
            bytes[at..at + 8].copy_from_slice(&[opcode, dst, 2, 0, 1, 0, 0, 0]);
        };
        for i in 0..PROGRAM_SIZE {
            set(i, ISUB_R, 1);
        }
        // Replaced at once: left out.
        set(10, CFROUND, 0);
        set(11, CFROUND, 0);
        set(12, FADD_R, 0);
        // FSCAL_R does not round: left out.
        set(20, CFROUND, 0);
        set(21, FSCAL_R, 0);
        set(22, CFROUND, 0);
        set(23, FADD_R, 0);
        // Branches back to the start (r5 is never written), over the FADD_R at 30: kept.
        set(30, FADD_R, 0);
        set(31, CFROUND, 0);
        set(32, CBRANCH, 5);
        set(33, CFROUND, 0);
        set(34, FADD_R, 0);
        // Branches back to 33, over the FADD_R at 34: kept.
        set(40, CFROUND, 0);
        set(41, CBRANCH, 5);
        set(42, CFROUND, 0);
        set(43, FADD_R, 0);
        // 44 branches back over the FADD_R at 43; 51 only to 45, after it: left out.
        set(44, CBRANCH, 5);
        set(50, CFROUND, 0);
        set(51, CBRANCH, 5);
        set(52, CFROUND, 0);
        set(53, FADD_R, 0);
        let program = Program::decode(&bytes);
        // `ldmxcsr [rsp + rax + SLOT_MXCSR_TABLE]`, once in each CFROUND kept.
        let load = [0x0f, 0xae, 0x54, 0x04, SLOT_MXCSR_TABLE as u8];
        for slow_ldmxcsr in [false, true] {
            let features = Features {
                slow_ldmxcsr,
                ..Features::default()
            };
            let mut code = vec![0u8; SLOT_BYTES];
            let len = assemble(&mut code, &program, &bytes, features);
            let kept = code[..len]
                .windows(load.len())
                .filter(|w| *w == load)
                .count();
            assert_eq!(kept, 7, "slow_ldmxcsr {slow_ldmxcsr}");
        }
    }

    /// Compile time per program (`cargo test --release -p otedama-miner
    /// compile_time -- --ignored --nocapture`).
    #[test]
    #[ignore = "a timing, not a check"]
    fn compile_time() {
        // Distinct programs, as mining compiles them: the same one over and over would
        // let the branch predictor learn it.
        let mut x = 0x1234_5678_9abc_def0u64;
        let programs: Vec<[u8; PROGRAM_BYTES]> = (0..256)
            .map(|_| {
                let mut bytes = [0u8; PROGRAM_BYTES];
                for b in bytes.iter_mut() {
                    *b = crate::randomx::tests::xorshift64(&mut x) as u8;
                }
                bytes
            })
            .collect();
        let decoded: Vec<Program> = programs.iter().map(Program::decode).collect();
        let mut code = vec![0u8; SLOT_BYTES];
        let features = Features::detect();
        let n = 20_000;
        let t = std::time::Instant::now();
        let mut len = 0;
        for i in 0..n {
            let k = i % programs.len();
            len += assemble(&mut code, &decoded[k], &programs[k], features);
        }
        let len = len / n;
        println!("{:?} per program, {len} bytes", t.elapsed() / n as u32);
    }
}
