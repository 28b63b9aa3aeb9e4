//! The AVX2 ROMix: two hashes per 256-bit vector, several vectors interleaved. Rotates
//! are two shifts and an or.
//!
//! `romix` takes the token of AVX2 (`crate::simd::Avx2`).

use super::N;
use std::arch::x86_64::*;

/// Rotates each word of `$x` left by `$n`: AVX2 has no vector rotate.
macro_rules! rol_shifts {
    ($x:ident, $n:literal) => {
        _mm256_or_si256(
            _mm256_slli_epi32::<$n>($x),
            _mm256_srli_epi32::<{ 32 - $n }>($x),
        )
    };
}

salsa_vector!(
    #[target_feature(enable = "avx2")]
    V = __m256i,
    PER_VEC = 2,
    add = _mm256_add_epi32,
    xor = _mm256_xor_si256,
    rol = rol_shifts,
    shuffle = _mm256_shuffle_epi32,
    zero = _mm256_setzero_si256,
);
salsa_rows_256!(#[target_feature(enable = "avx2")]);

scrypt_lanes!(
    #[target_feature(enable = "avx2")]
    token = crate::simd::Avx2,
    chains = 3
);
