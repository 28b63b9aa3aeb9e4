//! AVX-512 kernels: sixteen nonces per 512-bit vector, and eight per 256-bit vector with
//! the AVX-512VL forms of the same instructions (for CPUs or comparisons where 512-bit
//! operations do not pay; on Zen 4, which splits them in two, the 512-bit kernel is still
//! 20 % faster, having half the instructions to issue). Rotates (`vprord`) and the
//! three-input functions (`vpternlogd`: xor of three, Ch, Maj) are single instructions.
//!
//! The entry points take the token of their features (`crate::simd`).

pub(super) use ymm::scan as scan_vl;
pub(super) use zmm::scan;

/// `vpternlogd` truth tables over inputs (a, b, c) = (0xf0, 0xcc, 0xaa).
const XOR3: i32 = 0x96;
/// `(a & b) ^ (!a & c)`.
const CH: i32 = 0xca;
/// Majority of a, b, c.
const MAJ: i32 = 0xe8;
/// `c ? a : b` bit by bit.
const SELECT: i32 = 0xe4;

mod zmm {
    use super::{CH, MAJ, SELECT, XOR3};
    use std::arch::x86_64::*;

    type V = __m512i;
    const LANES: usize = 16;

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn splat(x: u32) -> V {
        _mm512_set1_epi32(x as i32)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm512_add_epi32(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bsig0(x: V) -> V {
        _mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<2>(x),
            _mm512_ror_epi32::<13>(x),
            _mm512_ror_epi32::<22>(x),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bsig1(x: V) -> V {
        _mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<6>(x),
            _mm512_ror_epi32::<11>(x),
            _mm512_ror_epi32::<25>(x),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn ssig0(x: V) -> V {
        _mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<7>(x),
            _mm512_ror_epi32::<18>(x),
            _mm512_srli_epi32::<3>(x),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn ssig1(x: V) -> V {
        _mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<17>(x),
            _mm512_ror_epi32::<19>(x),
            _mm512_srli_epi32::<10>(x),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn ch(e: V, f: V, g: V) -> V {
        _mm512_ternarylogic_epi32::<CH>(e, f, g)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn maj(a: V, b: V, c: V) -> V {
        _mm512_ternarylogic_epi32::<MAJ>(a, b, c)
    }
    /// Byte swap without AVX-512BW: bytes 3 and 1 come from `ror 8`, bytes 2 and 0 from
    /// `rol 8`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn bswap(x: V) -> V {
        _mm512_ternarylogic_epi32::<SELECT>(
            _mm512_ror_epi32::<8>(x),
            _mm512_rol_epi32::<8>(x),
            splat(0xff00_ff00),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn nonce_lanes(base: u32) -> V {
        add(
            splat(base),
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn filter(h7: V, top: u32) -> u32 {
        u32::from(_mm512_cmple_epu32_mask(bswap(h7), splat(top)))
    }

    sha256d_lanes!(
        /// Scans sixteen nonces per step.
        #[target_feature(enable = "avx512f")]
        fn scan(crate::simd::Avx512)
    );
}

mod ymm {
    use super::{CH, MAJ, XOR3};
    use std::arch::x86_64::*;

    type V = __m256i;
    const LANES: usize = 8;

    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn splat(x: u32) -> V {
        _mm256_set1_epi32(x as i32)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm256_add_epi32(a, b)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn bsig0(x: V) -> V {
        _mm256_ternarylogic_epi32::<XOR3>(
            _mm256_ror_epi32::<2>(x),
            _mm256_ror_epi32::<13>(x),
            _mm256_ror_epi32::<22>(x),
        )
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn bsig1(x: V) -> V {
        _mm256_ternarylogic_epi32::<XOR3>(
            _mm256_ror_epi32::<6>(x),
            _mm256_ror_epi32::<11>(x),
            _mm256_ror_epi32::<25>(x),
        )
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn ssig0(x: V) -> V {
        _mm256_ternarylogic_epi32::<XOR3>(
            _mm256_ror_epi32::<7>(x),
            _mm256_ror_epi32::<18>(x),
            _mm256_srli_epi32::<3>(x),
        )
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn ssig1(x: V) -> V {
        _mm256_ternarylogic_epi32::<XOR3>(
            _mm256_ror_epi32::<17>(x),
            _mm256_ror_epi32::<19>(x),
            _mm256_srli_epi32::<10>(x),
        )
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn ch(e: V, f: V, g: V) -> V {
        _mm256_ternarylogic_epi32::<CH>(e, f, g)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn maj(a: V, b: V, c: V) -> V {
        _mm256_ternarylogic_epi32::<MAJ>(a, b, c)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn bswap(x: V) -> V {
        _mm256_shuffle_epi8(
            x,
            _mm256_setr_epi8(
                3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11,
                10, 9, 8, 15, 14, 13, 12,
            ),
        )
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn nonce_lanes(base: u32) -> V {
        add(splat(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn filter(h7: V, top: u32) -> u32 {
        u32::from(_mm256_cmple_epu32_mask(bswap(h7), splat(top)))
    }

    sha256d_lanes!(
        /// Scans eight nonces per step with AVX-512VL.
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        fn scan(crate::simd::Avx512Vl)
    );
}
