//! sha256d nonce scanning: the nonce-independent work done once per header, and kernels
//! that hash many nonces per call.
//!
//! Every kernel works on the second 64-byte block of the 80-byte header from a midstate,
//! skips what does not depend on the nonce (rounds 0-2, most of the message schedule of
//! both blocks, round 0 of the outer hash), stops the outer hash after round 60 (only its
//! last state word is needed for the filter) and reports the nonces whose hash passes a
//! test on its most significant 32 bits. The caller re-hashes those with the reference
//! and compares the full 256 bits, so the filter may pass extra nonces but never drops one.
//!
//! - `portable`: plain Rust, one nonce at a time.
//! - `avx2`: eight nonces per 256-bit vector.
//! - `avx512`: sixteen nonces per 512-bit vector; rotates and three-input logic are one
//!   instruction each.
//! - `shani`: the SHA extensions, four nonces interleaved to hide the round latency.
//!
//! The SIMD kernels' entry points take the token of their features (`crate::simd`).

#[macro_use]
mod lanes;
mod portable;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod shani;

use crate::backend::ScanResult;
use crate::kernel::CpuKernel;
use crate::simd::Isa;
use otedama_sharechain::{PowAlgorithm, Target};
use sha2::block_api::compress256;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// SHA-256 initial state (FIPS 180-4, section 5.3.3).
pub(crate) const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 round constants (FIPS 180-4, section 4.2.2).
pub(crate) const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// Word 4 of a padded message block that ends after word 3 (the 0x80 pad byte).
pub(crate) const PAD: u32 = 0x8000_0000;
/// Bit length of the 80-byte header, the last word of its second block.
const HEADER_BITS: u32 = 640;
/// Bit length of a 32-byte digest, the last word of the outer hash's block.
const DIGEST_BITS: u32 = 256;

const fn bsig0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}
const fn bsig1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}
const fn ssig0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
const fn ssig1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}
const fn ch(e: u32, f: u32, g: u32) -> u32 {
    (e & f) ^ (!e & g)
}
const fn maj(a: u32, b: u32, c: u32) -> u32 {
    (a & b) ^ (a & c) ^ (b & c)
}

/// One scalar round: returns the state after round `t` with message word `w`.
const fn round(s: [u32; 8], t: usize, w: u32) -> [u32; 8] {
    let [a, b, c, d, e, f, g, h] = s;
    let t1 = h
        .wrapping_add(bsig1(e))
        .wrapping_add(ch(e, f, g))
        .wrapping_add(K[t])
        .wrapping_add(w);
    let t2 = bsig0(a).wrapping_add(maj(a, b, c));
    [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g]
}

/// Constants of the outer hash, whose block is the inner digest `x0..x7` then fixed padding.
///
/// Round 0 depends on `x0` only through additions: after it, `a = x0 + OUTER_A1` and
/// `e = x0 + OUTER_E1`, and `b, c, d, f, g, h` are `IV[0], IV[1], IV[2], IV[4], IV[5], IV[6]`.
pub(crate) const OUTER_A1: u32 = round(IV, 0, 0)[0];
/// See [`OUTER_A1`].
pub(crate) const OUTER_E1: u32 = round(IV, 0, 0)[4];
/// `K[t] + W[t]` of the outer block for rounds 8..16, where the words are constant.
pub(crate) const OUTER_KW: [u32; 8] = [
    K[8].wrapping_add(PAD),
    K[9],
    K[10],
    K[11],
    K[12],
    K[13],
    K[14],
    K[15].wrapping_add(DIGEST_BITS),
];
/// `ssig1(W15)` of the outer block (part of W17).
pub(crate) const OUTER_S1_W15: u32 = ssig1(DIGEST_BITS);
/// `ssig0(W8)` of the outer block (part of W23).
pub(crate) const OUTER_S0_W8: u32 = ssig0(PAD);
/// `ssig0(W15)` of the outer block (part of W30).
pub(crate) const OUTER_S0_W15: u32 = ssig0(DIGEST_BITS);
/// Part of the inner block's W20: `W4`.
pub(crate) const INNER_C20: u32 = PAD;
/// Part of the inner block's W22: `W15`.
pub(crate) const INNER_C22: u32 = HEADER_BITS;
/// Part of the inner block's W30: `ssig0(W15)`.
pub(crate) const INNER_C30: u32 = ssig0(HEADER_BITS);
/// Added to the last state word to finish the outer hash.
pub(crate) const OUTER_H7: u32 = IV[7];

/// Everything about one header template and target that does not depend on the nonce.
///
/// Naming: `W[t]` is the message schedule of the header's second block, whose words are
/// `W0..W2` (end of the merkle root, time, bits), `W3` (the nonce, byte-swapped), then
/// padding; `s` states are `[a, b, c, d, e, f, g, h]`.
#[derive(Debug, Clone)]
pub(crate) struct Sha256dJob {
    /// SHA-256 state after the first 64 header bytes.
    pub mid: [u32; 8],
    /// State before round 2 of the second block (for kernels that do rounds in pairs).
    pub s2: [u32; 8],
    /// `W0..W3` of the second block with `W3 = 0`.
    pub w0_3: [u32; 4],
    /// State after round 3, less `W3` in `a` and `e`: `a = s4[0] + W3`, `e = s4[4] + W3`.
    pub s4: [u32; 8],
    /// `h + K4 + W4` of round 4 (the state's `h` is `s4[7]`).
    pub h4kw: u32,
    /// `K[t] + W[t]` for rounds 0..18, meaningful where `W[t]` is nonce-independent
    /// (all but `t = 3`).
    pub kw: [u32; 18],
    /// `W16`.
    pub w16: u32,
    /// `W17`.
    pub w17: u32,
    /// `W18 = ssig0(W3) + c18`.
    pub c18: u32,
    /// `W19 = W3 + c19`.
    pub c19: u32,
    /// `W31 = ssig1(W29) + W24 + c31`.
    pub c31: u32,
    /// `W32 = ssig1(W30) + W25 + c32`.
    pub c32: u32,
    /// The most significant 32 bits of the target: a hash whose last four bytes, read
    /// as a little-endian integer, exceed this cannot meet it.
    pub target_top: u32,
}

impl Sha256dJob {
    /// Precomputes the nonce-independent part of hashing `header` against `target`.
    pub fn new(header: &[u8; 80], target: &Target) -> Self {
        let mut mid = IV;
        let mut first = [0u8; 64];
        first.copy_from_slice(&header[..64]);
        compress256(&mut mid, &[first]);

        let word =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let mut w = [0u32; 16];
        w[0] = word(64);
        w[1] = word(68);
        w[2] = word(72);
        w[4] = PAD;
        w[15] = HEADER_BITS;

        let s1 = round(mid, 0, w[0]);
        let s2 = round(s1, 1, w[1]);
        let s3 = round(s2, 2, w[2]);
        // Round 3 with W3 = 0; the nonce enters `a` and `e` only through additions.
        let s4 = round(s3, 3, 0);

        let mut kw = [0u32; 18];
        for (t, slot) in kw.iter_mut().enumerate().take(16) {
            *slot = K[t].wrapping_add(w[t]);
        }
        let w16 = ssig1(w[14])
            .wrapping_add(w[9])
            .wrapping_add(ssig0(w[1]))
            .wrapping_add(w[0]);
        let w17 = ssig1(w[15])
            .wrapping_add(w[10])
            .wrapping_add(ssig0(w[2]))
            .wrapping_add(w[1]);
        kw[16] = K[16].wrapping_add(w16);
        kw[17] = K[17].wrapping_add(w17);

        Self {
            h4kw: s4[7].wrapping_add(kw[4]),
            mid,
            s2,
            w0_3: [w[0], w[1], w[2], 0],
            s4,
            kw,
            w16,
            w17,
            c18: ssig1(w16).wrapping_add(w[11]).wrapping_add(w[2]),
            c19: ssig1(w17).wrapping_add(w[12]).wrapping_add(ssig0(w[4])),
            c31: ssig0(w16).wrapping_add(w[15]),
            c32: ssig0(w17).wrapping_add(w16),
            target_top: (target.to_u256().as_limbs()[3] >> 32) as u32,
        }
    }
}

/// Returns how many nonces `kernel` hashes side by side.
pub(crate) const fn lanes(kernel: CpuKernel) -> usize {
    match kernel {
        CpuKernel::Avx512 => 16,
        CpuKernel::Avx512Vl | CpuKernel::Avx2 => 8,
        #[cfg(target_arch = "x86_64")]
        CpuKernel::ShaNi => shani::WAYS,
        _ => portable::LANES,
    }
}

/// Candidate nonces from a kernel, and how many nonces it hashed.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    /// Nonces hashed (those of `nonces` only, even when a kernel computed spare lanes).
    pub hashes: u64,
    /// Nonces that passed the 32-bit filter, in increasing order.
    pub nonces: Vec<u32>,
}

/// Runs `isa`'s filter over `nonces`.
fn candidates(isa: Isa, job: &Sha256dJob, nonces: Range<u32>, stop: &AtomicBool) -> Candidates {
    let mut out = Candidates::default();
    let (start, count) = (
        nonces.start,
        u64::from(nonces.end.saturating_sub(nonces.start)),
    );
    if count == 0 {
        return out;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(token) => avx512::scan(token, job, start, count, stop, &mut out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vl(token) => avx512::scan_vl(token, job, start, count, stop, &mut out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(token) => avx2::scan(token, job, start, count, stop, &mut out),
        #[cfg(target_arch = "x86_64")]
        Isa::ShaNi(token) => shani::scan(token, job, start, count, stop, &mut out),
        Isa::Portable => portable::scan(job, start, count, stop, &mut out),
    }
    out
}

/// Scans `nonces` over `header` with `isa`'s kernel and returns the nonces whose sha256d
/// meets `target`, each confirmed with the reference hash.
pub(crate) fn scan(
    isa: Isa,
    header: &[u8; 80],
    nonces: Range<u32>,
    target: &Target,
    stop: &AtomicBool,
) -> ScanResult {
    let job = Sha256dJob::new(header, target);
    let c = candidates(isa, &job, nonces, stop);
    let mut h = *header;
    let found = c
        .nonces
        .into_iter()
        .filter(|n| {
            h[76..80].copy_from_slice(&n.to_le_bytes());
            target.is_met_by(&PowAlgorithm::Sha256d.hash(&h))
        })
        .collect();
    ScanResult {
        hashes: c.hashes,
        found,
        ..ScanResult::default()
    }
}

/// Appends to `out` the nonces `base + lane` of the set bits of `mask`, for lanes below
/// `left` (the nonces of the range not yet hashed).
#[inline]
pub(crate) fn push_lanes(out: &mut Candidates, mut mask: u32, base: u32, left: u64) {
    while mask != 0 {
        let lane = mask.trailing_zeros();
        mask &= mask - 1;
        if u64::from(lane) < left {
            out.nonces.push(base.wrapping_add(lane));
        }
    }
}

/// How many nonces a kernel hashes between two looks at the stop flag.
pub(crate) const STOP_STRIDE: u64 = 1 << 16;

#[cfg(test)]
mod tests;
