//! RandomX programs: the AES generators and fingerprint, and the decoding of a program
//! buffer into instructions with their operands resolved (RandomX specification,
//! chapters 3, 4.5 and 5, with the instruction frequencies and generator keys of the
//! release `randomx-rs` bundles). [`super::jit`] compiles the result to x86-64.
//!
//! Everything here is pure: the same bytes give the same program on every machine.

#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, _mm_aesdec_si128, _mm_aesenc_si128, _mm_loadu_si128, _mm_set_epi32, _mm_storeu_si128,
};

/// Instructions in a program (`RANDOMX_PROGRAM_SIZE`).
pub(crate) const PROGRAM_SIZE: usize = 256;
/// Bytes of program configuration before the instructions.
const CONFIG_BYTES: usize = 128;
/// Bytes `AesGenerator4R` produces to program the VM.
pub(crate) const PROGRAM_BYTES: usize = CONFIG_BYTES + 8 * PROGRAM_SIZE;
/// Scratchpad levels as 8-byte aligned masks (Table 4.2.1).
pub(crate) const L1_MASK: u32 = (16 * 1024 - 1) & !7;
pub(crate) const L2_MASK: u32 = (256 * 1024 - 1) & !7;
pub(crate) const L3_MASK: u32 = (2 * 1024 * 1024 - 1) & !7;
/// The L3 mask for 64-byte aligned accesses.
pub(crate) const L3_LINE_MASK: u32 = (2 * 1024 * 1024 - 1) & !63;
/// Dataset reads: `RANDOMX_DATASET_BASE_SIZE - 1` aligned to a cache line.
pub(crate) const DATASET_LINE_MASK: u32 = (1 << 31) - 64;
/// `RANDOMX_DATASET_EXTRA_SIZE / 64`: the dataset offset's mask, in items.
const DATASET_EXTRA_ITEMS: u64 = 33_554_368 / 64;
/// `RANDOMX_JUMP_BITS` and `RANDOMX_JUMP_OFFSET`.
const JUMP_BITS: u32 = 8;
const JUMP_OFFSET: u32 = 8;
/// ISTORE writes to L3 from this `mod.cond` on.
const STORE_L3_CONDITION: u8 = 14;
/// The fraction and four low exponent bits a group E value keeps from its conversion.
pub(crate) const E_KEEP_MASK: u64 = (1 << 56) - 1;
/// FSCAL_R flips these bits.
pub(crate) const SCALE_MASK: u64 = 0x80F0_0000_0000_0000;

/// Keys of `AesGenerator1R`, as `_mm_set_epi32` takes them.
const GEN1_KEYS: [[u32; 4]; 4] = [
    [0xb4f44917, 0xdbb5552b, 0x62716609, 0x6daca553],
    [0x0da1dc4e, 0x1725d378, 0x846a710d, 0x6d7caf07],
    [0x3e20e345, 0xf4c0794f, 0x9f947ec6, 0x3f1262f1],
    [0x49169154, 0x16314c88, 0xb1ba317c, 0x6aef8135],
];
/// Keys of `AesGenerator4R`: 0-3 for columns 0 and 1, 4-7 for columns 2 and 3.
const GEN4_KEYS: [[u32; 4]; 8] = [
    [0x99e5d23f, 0x2f546d2b, 0xd1833ddb, 0x6421aadd],
    [0xa5dfcde5, 0x06f79d53, 0xb6913f55, 0xb20e3450],
    [0x171c02bf, 0x0aa4679f, 0x515e7baf, 0x5c3ed904],
    [0xd8ded291, 0xcd673785, 0xe78f5d08, 0x85623763],
    [0x229effb4, 0x3d518b6d, 0xe3d6a7a6, 0xb5826f73],
    [0xb272b7d2, 0xe9024d4e, 0x9c10b3d9, 0xc7566bf3],
    [0xf63befa7, 0x2ba9660a, 0xf765a38b, 0xf273c9e7],
    [0xc0b0762d, 0x0c06d1fd, 0x915839de, 0x7a7cd609],
];
/// Initial state of `AesHash1R`.
const HASH_STATE: [[u32; 4]; 4] = [
    [0xd7983aad, 0xcc82db47, 0x9fa856de, 0x92b52c0d],
    [0xace78057, 0xf59e125a, 0x15c7b798, 0x338d996e],
    [0xe8a07ce4, 0x5079506b, 0xae62c7d0, 0x6a770017],
    [0x7e994948, 0x79a10005, 0x07ad828d, 0x630a240c],
];
/// The two extra keys `AesHash1R` finishes with.
const HASH_XKEYS: [[u32; 4]; 2] = [
    [0x06890201, 0x90dc56bf, 0x8b24949f, 0xf6fa8389],
    [0xed18f99b, 0xee1043c6, 0x51f4e03c, 0x61b263d1],
];

#[inline(always)]
fn key(k: [u32; 4]) -> __m128i {
    // SAFETY: SSE2 is part of x86-64.
    unsafe { _mm_set_epi32(k[0] as i32, k[1] as i32, k[2] as i32, k[3] as i32) }
}

#[inline(always)]
fn load4(bytes: &[u8; 64]) -> [__m128i; 4] {
    // SAFETY: four unaligned 16-byte loads inside the 64-byte array.
    unsafe { std::array::from_fn(|i| _mm_loadu_si128(bytes.as_ptr().add(16 * i).cast())) }
}

#[inline(always)]
fn store4(state: &[__m128i; 4], out: &mut [u8; 64]) {
    for (i, s) in state.iter().enumerate() {
        // SAFETY: four unaligned 16-byte stores inside the 64-byte array.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(16 * i).cast(), *s) };
    }
}

/// One output block of `AesGenerator1R`: columns 0 and 2 decrypted, 1 and 3 encrypted.
#[inline]
#[target_feature(enable = "aes")]
fn gen1_round(s: &mut [__m128i; 4], k: &[__m128i; 4]) {
    s[0] = _mm_aesdec_si128(s[0], k[0]);
    s[1] = _mm_aesenc_si128(s[1], k[1]);
    s[2] = _mm_aesdec_si128(s[2], k[2]);
    s[3] = _mm_aesenc_si128(s[3], k[3]);
}

/// One block of `AesHash1R`: columns 0 and 2 encrypted, 1 and 3 decrypted.
#[inline]
#[target_feature(enable = "aes")]
fn hash_round(s: &mut [__m128i; 4], k: &[__m128i; 4]) {
    s[0] = _mm_aesenc_si128(s[0], k[0]);
    s[1] = _mm_aesdec_si128(s[1], k[1]);
    s[2] = _mm_aesenc_si128(s[2], k[2]);
    s[3] = _mm_aesdec_si128(s[3], k[3]);
}

/// Fills `out` (a multiple of 64 bytes) with `AesGenerator1R` seeded by `state`, which
/// ends as the generator's final state.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn fill_aes_1r(state: &mut [u8; 64], out: &mut [u8]) {
    let k = GEN1_KEYS.map(key);
    let mut s = load4(state);
    for block in out.as_chunks_mut::<64>().0 {
        gen1_round(&mut s, &k);
        store4(&s, block);
    }
    store4(&s, state);
}

/// Computes `AesHash1R` of `scratchpad` while refilling it with `AesGenerator1R` seeded
/// by `fill` (the next hash's scratchpad), in one pass; `fill` ends as the generator's
/// final state. Returns the fingerprint.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn hash_and_fill_aes_1r(
    scratchpad: &mut [u8],
    fill: Option<&mut [u8; 64]>,
) -> [u8; 64] {
    let fk = GEN1_KEYS.map(key);
    let mut h = HASH_STATE.map(key);
    match fill {
        Some(fill) => {
            let mut f = load4(fill);
            for block in scratchpad.as_chunks_mut::<64>().0 {
                hash_round(&mut h, &load4(block));
                gen1_round(&mut f, &fk);
                store4(&f, block);
            }
            store4(&f, fill);
        }
        None => {
            for block in scratchpad.as_chunks::<64>().0 {
                hash_round(&mut h, &load4(block));
            }
        }
    }
    for x in HASH_XKEYS {
        let x = key(x);
        hash_round(&mut h, &[x; 4]);
    }
    let mut out = [0u8; 64];
    store4(&h, &mut out);
    out
}

/// Fills `out` (a multiple of 64 bytes) with `AesGenerator4R` seeded by `state`.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
pub(crate) unsafe fn fill_aes_4r(state: &[u8; 64], out: &mut [u8]) {
    let k = GEN4_KEYS.map(key);
    let mut s = load4(state);
    for block in out.as_chunks_mut::<64>().0 {
        for r in 0..4 {
            s[0] = _mm_aesdec_si128(s[0], k[r]);
            s[1] = _mm_aesenc_si128(s[1], k[r]);
            s[2] = _mm_aesdec_si128(s[2], k[r + 4]);
            s[3] = _mm_aesenc_si128(s[3], k[r + 4]);
        }
        store4(&s, block);
    }
}

/// A scratchpad address: `(r[reg] + imm) & mask`, or a fixed address when the
/// instruction's source and destination are one register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Reg { reg: u8, imm: i32, mask: u32 },
    Fixed(u32),
}

/// An integer source operand: a register or the sign-extended immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    Reg(u8),
    Imm(i32),
}

/// Integer operations with a register or immediate source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntOp {
    Sub,
    Mul,
    Xor,
    Ror,
    Rol,
}

/// Integer operations with a memory source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MemOp {
    Add,
    Sub,
    Mul,
    MulHigh,
    SignedMulHigh,
    Xor,
}

/// Floating point operations on a group F (add, sub) or E (mul, div) register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FloatOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// One decoded instruction. Integer registers are 0-7; `f` registers 0-3; `e` registers
/// 0-3; `a` registers 0-3; FSWAP_R's register 0-7 is `f0-f3, e0-e3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Instr {
    /// `dst += src << shift (+ imm when dst is r5)`.
    AddShifted {
        dst: u8,
        src: u8,
        shift: u8,
        imm: Option<i32>,
    },
    Int {
        op: IntOp,
        dst: u8,
        src: Src,
    },
    IntMem {
        op: MemOp,
        dst: u8,
        addr: Addr,
    },
    /// `dst = (dst * src) >> 64`, unsigned or signed.
    MulHigh {
        dst: u8,
        src: u8,
        signed: bool,
    },
    MulReciprocal {
        dst: u8,
        rcp: u64,
    },
    Neg {
        dst: u8,
    },
    Swap {
        dst: u8,
        src: u8,
    },
    FloatSwap {
        reg: u8,
    },
    /// `f[dst] op a[src]` (add, sub) or `e[dst] * a[src]` (mul).
    Float {
        op: FloatOp,
        dst: u8,
        src: u8,
    },
    /// `f[dst] op [mem]` (add, sub) or `e[dst] / masked [mem]` (div).
    FloatMem {
        op: FloatOp,
        dst: u8,
        addr: Addr,
    },
    Scale {
        dst: u8,
    },
    Sqrt {
        dst: u8,
    },
    /// `dst += imm`; jump to instruction `target` when `dst & mask == 0`.
    Branch {
        dst: u8,
        imm: i32,
        mask: u32,
        target: usize,
    },
    /// `fprc = (src >>> rotate) & 3`.
    RoundingMode {
        src: u8,
        rotate: u8,
    },
    Store {
        addr: Addr,
        src: u8,
    },
    Nop,
}

/// The instruction each opcode byte encodes: (kind, opcode count), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    IaddRs,
    IaddM,
    IsubR,
    IsubM,
    ImulR,
    ImulM,
    ImulhR,
    ImulhM,
    IsmulhR,
    IsmulhM,
    ImulRcp,
    InegR,
    IxorR,
    IxorM,
    IrorR,
    IrolR,
    IswapR,
    FswapR,
    FaddR,
    FaddM,
    FsubR,
    FsubM,
    FscalR,
    FmulR,
    FdivM,
    FsqrtR,
    Cbranch,
    Cfround,
    Istore,
}

/// `RANDOMX_FREQ_*`: how many of the 256 opcodes each instruction takes.
const FREQUENCIES: [(Kind, u16); 29] = [
    (Kind::IaddRs, 16),
    (Kind::IaddM, 7),
    (Kind::IsubR, 16),
    (Kind::IsubM, 7),
    (Kind::ImulR, 16),
    (Kind::ImulM, 4),
    (Kind::ImulhR, 4),
    (Kind::ImulhM, 1),
    (Kind::IsmulhR, 4),
    (Kind::IsmulhM, 1),
    (Kind::ImulRcp, 8),
    (Kind::InegR, 2),
    (Kind::IxorR, 15),
    (Kind::IxorM, 5),
    (Kind::IrorR, 8),
    (Kind::IrolR, 2),
    (Kind::IswapR, 4),
    (Kind::FswapR, 4),
    (Kind::FaddR, 16),
    (Kind::FaddM, 5),
    (Kind::FsubR, 16),
    (Kind::FsubM, 5),
    (Kind::FscalR, 6),
    (Kind::FmulR, 32),
    (Kind::FdivM, 4),
    (Kind::FsqrtR, 6),
    (Kind::Cbranch, 25),
    (Kind::Cfround, 1),
    (Kind::Istore, 16),
];

/// The kind of each opcode byte.
const KINDS: [Kind; 256] = {
    let mut table = [Kind::IaddRs; 256];
    let (mut next, mut f) = (0usize, 0usize);
    while f < FREQUENCIES.len() {
        let (kind, count) = FREQUENCIES[f];
        let mut i = 0;
        while i < count as usize {
            table[next + i] = kind;
            i += 1;
        }
        next += count as usize;
        f += 1;
    }
    table
};

/// `2^x / divisor` for the largest `x` that keeps it below `2^64` (`divisor` is not 0
/// and not a power of two).
///
/// With `bits` the divisor's length, `2^(63 + bits) = 2^(bits - 1) * 2^64` and
/// `2^(bits - 1) < divisor`: the quotient is two 32-bit digits of long division, two
/// 64-bit divisions where a 128-bit one is a call to a slow library routine.
pub(crate) fn reciprocal(divisor: u32) -> u64 {
    let d = u64::from(divisor);
    let first = 1u64 << (31 - divisor.leading_zeros());
    let (high, rest) = ((first << 32) / d, (first << 32) % d);
    (high << 32) | ((rest << 32) / d)
}

/// A programmed VM's configuration (4.5); its instructions come from
/// [`for_each_instruction`] over the same bytes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Program {
    /// `a0`-`a3`, low and high halves, as bits.
    pub(crate) a: [u64; 8],
    /// `ma` (cache-line aligned) and `mx`.
    pub(crate) ma: u32,
    pub(crate) mx: u32,
    /// `readReg0`-`readReg3`.
    pub(crate) read_regs: [u8; 4],
    /// The dataset offset in bytes.
    pub(crate) dataset_offset: u64,
    /// The group E masks (exponent and fraction bits), low and high halves.
    pub(crate) e_mask: [u64; 2],
}

fn quad(bytes: &[u8; PROGRAM_BYTES], i: usize) -> u64 {
    let mut q = [0u8; 8];
    q.copy_from_slice(&bytes[8 * i..8 * i + 8]);
    u64::from_le_bytes(q)
}

/// A small positive float `+1.fraction × 2^exponent`, exponent 0-31 (4.5.2).
fn small_positive_float(entropy: u64) -> u64 {
    let exponent = ((entropy >> 59) + 1023) & 2047;
    (exponent << 52) | (entropy & ((1 << 52) - 1))
}

/// A group E mask: 22 fraction bits, and exponent bits `0x300 | top4 << 4` (4.5.6).
fn e_mask(entropy: u64) -> u64 {
    let exponent = 0x300 | ((entropy >> 60) << 4);
    (entropy & ((1 << 22) - 1)) | (exponent << 52)
}

impl Program {
    /// Decodes the configuration of the `AesGenerator4R` output that programs the VM.
    pub(crate) fn decode(bytes: &[u8; PROGRAM_BYTES]) -> Self {
        let select = quad(bytes, 12);
        Self {
            a: std::array::from_fn(|i| small_positive_float(quad(bytes, i))),
            ma: (quad(bytes, 8) as u32) & DATASET_LINE_MASK,
            mx: quad(bytes, 10) as u32,
            read_regs: std::array::from_fn(|i| 2 * i as u8 + ((select >> i) & 1) as u8),
            dataset_offset: (quad(bytes, 13) & DATASET_EXTRA_ITEMS) * 64,
            e_mask: [e_mask(quad(bytes, 14)), e_mask(quad(bytes, 15))],
        }
    }
}

/// What takes decoded instructions in order ([`for_each_instruction`]).
pub(crate) trait InstructionSink {
    /// Takes instruction `index`.
    fn instruction(&mut self, index: usize, instr: Instr);
}

/// Decodes the program's instructions in order, handing each to `sink`. Decoding and
/// compiling in one pass (the sink's method inlined into each opcode's arm) takes one
/// unpredictable branch per instruction: a program's 256 opcodes are random, and every
/// further branch on them is a misprediction in about half the instructions.
#[inline(always)]
pub(crate) fn for_each_instruction(bytes: &[u8; PROGRAM_BYTES], sink: &mut impl InstructionSink) {
    {
        // The instruction after each register's last modification (0: none yet).
        let mut modified = [0usize; 8];
        for i in 0..PROGRAM_SIZE {
            let w = quad(bytes, 16 + i).to_le_bytes();
            let kind = KINDS[usize::from(w[0])];
            let (dst, src, modifier) = (w[1] % 8, w[2] % 8, w[3]);
            let imm = i32::from_le_bytes([w[4], w[5], w[6], w[7]]);
            let mem = modifier % 4;
            let shift = (modifier >> 2) % 4;
            let cond = modifier >> 4;
            let read_addr = |reg: u8| {
                if reg == dst {
                    Addr::Fixed(imm as u32 & L3_MASK)
                } else {
                    let mask = if mem == 0 { L2_MASK } else { L1_MASK };
                    Addr::Reg { reg, imm, mask }
                }
            };
            let reg_or_imm = if src == dst {
                Src::Imm(imm)
            } else {
                Src::Reg(src)
            };
            let int = |op| Instr::Int {
                op,
                dst,
                src: reg_or_imm,
            };
            let int_mem = |op| Instr::IntMem {
                op,
                dst,
                addr: read_addr(src),
            };
            let rotate = |op| Instr::Int {
                op,
                dst,
                src: if src == dst {
                    Src::Imm(imm & 63)
                } else {
                    Src::Reg(src)
                },
            };
            let float = |op| Instr::Float {
                op,
                dst: dst % 4,
                src: src % 4,
            };
            let float_mem = |op| Instr::FloatMem {
                op,
                dst: dst % 4,
                addr: Addr::Reg {
                    reg: src,
                    imm,
                    mask: if mem == 0 { L2_MASK } else { L1_MASK },
                },
            };
            // Each arm hands its instruction to the sink itself, so that with the sink
            // inlined its code knows which instruction it has: one unpredictable branch
            // per instruction (this match), where a match on the returned value would
            // take another.
            macro_rules! give {
                ($instr:expr, $writes_dst:expr $(,)?) => {{
                    if $writes_dst {
                        modified[usize::from(dst)] = i + 1;
                    }
                    sink.instruction(i, $instr)
                }};
            }
            match kind {
                Kind::IaddRs => {
                    let imm = (dst == 5).then_some(imm);
                    give!(
                        Instr::AddShifted {
                            dst,
                            src,
                            shift,
                            imm,
                        },
                        true,
                    )
                }
                Kind::IaddM => give!(int_mem(MemOp::Add), true),
                Kind::IsubR => give!(int(IntOp::Sub), true),
                Kind::IsubM => give!(int_mem(MemOp::Sub), true),
                Kind::ImulR => give!(int(IntOp::Mul), true),
                Kind::ImulM => give!(int_mem(MemOp::Mul), true),
                Kind::ImulhR => give!(
                    Instr::MulHigh {
                        dst,
                        src,
                        signed: false,
                    },
                    true,
                ),
                Kind::ImulhM => give!(int_mem(MemOp::MulHigh), true),
                Kind::IsmulhR => give!(
                    Instr::MulHigh {
                        dst,
                        src,
                        signed: true,
                    },
                    true,
                ),
                Kind::IsmulhM => give!(int_mem(MemOp::SignedMulHigh), true),
                Kind::ImulRcp => {
                    let divisor = imm as u32;
                    if divisor == 0 || divisor.is_power_of_two() {
                        give!(Instr::Nop, false)
                    } else {
                        give!(
                            Instr::MulReciprocal {
                                dst,
                                rcp: reciprocal(divisor),
                            },
                            true,
                        )
                    }
                }
                Kind::InegR => give!(Instr::Neg { dst }, true),
                Kind::IxorR => give!(int(IntOp::Xor), true),
                Kind::IxorM => give!(int_mem(MemOp::Xor), true),
                Kind::IrorR => give!(rotate(IntOp::Ror), true),
                Kind::IrolR => give!(rotate(IntOp::Rol), true),
                Kind::IswapR => {
                    if src != dst {
                        modified[usize::from(src)] = i + 1;
                        give!(Instr::Swap { dst, src }, true)
                    } else {
                        give!(Instr::Nop, false)
                    }
                }
                Kind::FswapR => give!(Instr::FloatSwap { reg: dst }, false),
                Kind::FaddR => give!(float(FloatOp::Add), false),
                Kind::FsubR => give!(float(FloatOp::Sub), false),
                Kind::FmulR => give!(float(FloatOp::Mul), false),
                Kind::FaddM => give!(float_mem(FloatOp::Add), false),
                Kind::FsubM => give!(float_mem(FloatOp::Sub), false),
                Kind::FdivM => give!(float_mem(FloatOp::Div), false),
                Kind::FscalR => give!(Instr::Scale { dst: dst % 4 }, false),
                Kind::FsqrtR => give!(Instr::Sqrt { dst: dst % 4 }, false),
                Kind::Cbranch => {
                    let b = u32::from(cond) + JUMP_OFFSET;
                    let cimm = (imm as u32 | (1 << b)) & !(1 << (b - 1));
                    let mask = ((1u32 << JUMP_BITS) - 1) << b;
                    let target = modified[usize::from(dst)];
                    modified = [i + 1; 8];
                    give!(
                        Instr::Branch {
                            dst,
                            imm: cimm as i32,
                            mask,
                            target,
                        },
                        false,
                    )
                }
                Kind::Cfround => give!(
                    Instr::RoundingMode {
                        src,
                        rotate: (imm & 63) as u8,
                    },
                    false,
                ),
                Kind::Istore => {
                    let mask = if cond >= STORE_L3_CONDITION {
                        L3_MASK
                    } else if mem == 0 {
                        L2_MASK
                    } else {
                        L1_MASK
                    };
                    give!(
                        Instr::Store {
                            addr: Addr::Reg {
                                reg: dst,
                                imm,
                                mask,
                            },
                            src,
                        },
                        false,
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_frequencies_cover_every_byte() {
        assert_eq!(FREQUENCIES.iter().map(|f| f.1).sum::<u16>(), 256);
        let k = KINDS;
        assert_eq!(k[0], Kind::IaddRs);
        assert_eq!(k[255], Kind::Istore);
        assert_eq!(k[16], Kind::IaddM);
    }

    #[test]
    fn reciprocals_match_the_specification() {
        // 2^x / d for the largest x with the result below 2^64.
        for d in [3u32, 5, 7, 10, 1_000_000_007, u32::MAX, 0x8000_0001] {
            let r = reciprocal(d);
            assert!(r > (1 << 63), "{d}: {r:#x}");
            let bits = 32 - d.leading_zeros();
            assert_eq!(u128::from(r), (1u128 << (63 + bits)) / u128::from(d));
        }
        assert_eq!(reciprocal(3), 0xaaaa_aaaa_aaaa_aaaa);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            let x = crate::randomx::tests::xorshift64(&mut state);
            let d = (x >> 32) as u32 >> (x % 32);
            if d == 0 || d.is_power_of_two() {
                continue;
            }
            let bits = 32 - d.leading_zeros();
            assert_eq!(
                u128::from(reciprocal(d)),
                (1u128 << (63 + bits)) / u128::from(d),
                "{d}"
            );
        }
    }
}
