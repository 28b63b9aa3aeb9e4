//! The AVX2 ROMix: two hashes per 256-bit vector, several vectors interleaved. Rotates
//! are two shifts and an or.
//!
//! `romix` takes the token of AVX2 (`crate::simd::Avx2`).

use super::N;
use std::arch::x86_64::*;

salsa_vector!(
    #[target_feature(enable = "avx2")]
    ymm,
    rotate = shifts
);

scrypt_lanes!(
    #[target_feature(enable = "avx2")]
    token = crate::simd::Avx2,
    chains = 3
);
