//! The AVX2 ROMix: two hashes per 256-bit vector, several vectors interleaved. Rotates
//! are two shifts and an or.
//!
//! `romix` is only called from [`super::hash_range`] after run-time detection.

use super::N;
use std::arch::x86_64::*;

type V = __m256i;
const PER_VEC: usize = 2;

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
macro_rules! rol {
    ($name:ident, $l:literal, $r:literal) => {
        #[target_feature(enable = "avx2")]
        #[inline]
        fn $name(x: V) -> V {
            _mm256_or_si256(_mm256_slli_epi32::<$l>(x), _mm256_srli_epi32::<$r>(x))
        }
    };
}
rol!(rol7, 7, 25);
rol!(rol9, 9, 23);
rol!(rol13, 13, 19);
rol!(rol18, 18, 14);
#[target_feature(enable = "avx2")]
#[inline]
fn shuf93(x: V) -> V {
    _mm256_shuffle_epi32::<0x93>(x)
}
#[target_feature(enable = "avx2")]
#[inline]
fn shuf4e(x: V) -> V {
    _mm256_shuffle_epi32::<0x4e>(x)
}
#[target_feature(enable = "avx2")]
#[inline]
fn shuf39(x: V) -> V {
    _mm256_shuffle_epi32::<0x39>(x)
}
#[target_feature(enable = "avx2")]
#[inline]
fn zero() -> V {
    _mm256_setzero_si256()
}
#[target_feature(enable = "avx2")]
#[inline]
fn pack(r: [[u32; 4]; PER_VEC]) -> V {
    let [a, b] = r.map(|row| row.map(|w| w as i32));
    _mm256_setr_epi32(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
}
#[target_feature(enable = "avx2")]
#[inline]
fn unpack(v: V) -> [[u32; 4]; PER_VEC] {
    [
        [
            _mm256_extract_epi32::<0>(v) as u32,
            _mm256_extract_epi32::<1>(v) as u32,
            _mm256_extract_epi32::<2>(v) as u32,
            _mm256_extract_epi32::<3>(v) as u32,
        ],
        [
            _mm256_extract_epi32::<4>(v) as u32,
            _mm256_extract_epi32::<5>(v) as u32,
            _mm256_extract_epi32::<6>(v) as u32,
            _mm256_extract_epi32::<7>(v) as u32,
        ],
    ]
}
#[target_feature(enable = "avx2")]
#[inline]
fn index(v: V) -> [usize; PER_VEC] {
    [
        _mm256_extract_epi32::<0>(v) as usize & (N - 1),
        _mm256_extract_epi32::<4>(v) as usize & (N - 1),
    ]
}
/// A scratchpad entry: one block of each hash of a chain, row by row (interleaved).
#[derive(Clone, Copy)]
pub(crate) struct E([V; 8]);

#[target_feature(enable = "avx2")]
#[inline]
fn zero_entry() -> E {
    E([zero(); 8])
}
#[target_feature(enable = "avx2")]
#[inline]
fn save(pad: &mut [E], c: usize, i: usize, x: &[V; 8]) {
    pad[c * N + i] = E(*x);
}
#[target_feature(enable = "avx2")]
#[inline]
fn load(pad: &[E], c: usize, j: [usize; PER_VEC], r: usize) -> V {
    _mm256_blend_epi32::<0xf0>(pad[c * N + j[0]].0[r], pad[c * N + j[1]].0[r])
}

scrypt_lanes!(
    #[target_feature(enable = "avx2")]
    chains = 3
);
