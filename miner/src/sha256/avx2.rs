//! The AVX2 kernel: eight nonces per 256-bit vector. AVX2 has no vector rotate, so each
//! rotate is two shifts, and the three rotates of a sigma share one xor tree.
//!
//! The entry point takes the token of its features (`crate::simd`).

use std::arch::x86_64::*;

type V = __m256i;
const LANES: usize = 8;

#[target_feature(enable = "avx2")]
#[inline]
fn splat(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}
#[target_feature(enable = "avx2")]
#[inline]
fn add(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn xor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn and(a: V, b: V) -> V {
    _mm256_and_si256(a, b)
}
/// `ror(x, R1) ^ ror(x, R2) ^ ror(x, R3)` with `L_i = 32 - R_i`.
macro_rules! sigma3 {
    ($x:expr, $r1:literal, $l1:literal, $r2:literal, $l2:literal, $r3:literal, $l3:literal) => {{
        let x = $x;
        let r = xor(
            xor(_mm256_srli_epi32::<$r1>(x), _mm256_srli_epi32::<$r2>(x)),
            _mm256_srli_epi32::<$r3>(x),
        );
        let l = xor(
            xor(_mm256_slli_epi32::<$l1>(x), _mm256_slli_epi32::<$l2>(x)),
            _mm256_slli_epi32::<$l3>(x),
        );
        xor(r, l)
    }};
}
#[target_feature(enable = "avx2")]
#[inline]
fn bsig0(x: V) -> V {
    sigma3!(x, 2, 30, 13, 19, 22, 10)
}
#[target_feature(enable = "avx2")]
#[inline]
fn bsig1(x: V) -> V {
    sigma3!(x, 6, 26, 11, 21, 25, 7)
}
#[target_feature(enable = "avx2")]
#[inline]
fn ssig0(x: V) -> V {
    let r = xor(
        xor(_mm256_srli_epi32::<7>(x), _mm256_srli_epi32::<18>(x)),
        _mm256_srli_epi32::<3>(x),
    );
    xor(
        r,
        xor(_mm256_slli_epi32::<25>(x), _mm256_slli_epi32::<14>(x)),
    )
}
#[target_feature(enable = "avx2")]
#[inline]
fn ssig1(x: V) -> V {
    let r = xor(
        xor(_mm256_srli_epi32::<17>(x), _mm256_srli_epi32::<19>(x)),
        _mm256_srli_epi32::<10>(x),
    );
    xor(
        r,
        xor(_mm256_slli_epi32::<15>(x), _mm256_slli_epi32::<13>(x)),
    )
}
#[target_feature(enable = "avx2")]
#[inline]
fn ch(e: V, f: V, g: V) -> V {
    xor(g, and(e, xor(f, g)))
}
/// `b ^ ((a ^ b) & (b ^ c))`: the compiler reuses the previous round's `a ^ b` as this
/// round's `b ^ c`.
#[target_feature(enable = "avx2")]
#[inline]
fn maj(a: V, b: V, c: V) -> V {
    xor(b, and(xor(a, b), xor(b, c)))
}
#[target_feature(enable = "avx2")]
#[inline]
fn bswap(x: V) -> V {
    _mm256_shuffle_epi8(
        x,
        _mm256_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10,
            9, 8, 15, 14, 13, 12,
        ),
    )
}
#[target_feature(enable = "avx2")]
#[inline]
fn nonce_lanes(base: u32) -> V {
    add(splat(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}
/// Lanes where `bswap(h7) <= top` (unsigned): `max(x, top) == top`.
#[target_feature(enable = "avx2")]
#[inline]
fn filter(h7: V, top: u32) -> u32 {
    let t = splat(top);
    let le = _mm256_cmpeq_epi32(_mm256_max_epu32(bswap(h7), t), t);
    _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
}

sha256d_lanes!(
    /// Scans eight nonces per step.
    #[target_feature(enable = "avx2")]
    fn scan(crate::simd::Avx2)
);
