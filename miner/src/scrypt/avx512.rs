//! AVX-512 ROMix: four hashes per 512-bit vector (`zmm`), or two per 256-bit vector with
//! the AVX-512VL instructions (`ymm`, for comparison: 10 % slower on Zen 4, which splits
//! 512-bit operations but has fewer instructions to issue with them). Rotates are one
//! `vprold` each.
//!
//! `romix` takes the token of its features (`crate::simd`).

pub(crate) mod zmm {
    use crate::scrypt::N;
    use std::arch::x86_64::*;

    salsa_vector!(
        #[target_feature(enable = "avx512f")]
        zmm,
        rotate = _mm512_rol_epi32
    );

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn pack(r: [[u32; 4]; PER_VEC]) -> V {
        let [a, b, c, d] = r.map(|row| row.map(|w| w as i32));
        _mm512_setr_epi32(
            a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3], d[0], d[1],
            d[2], d[3],
        )
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn part(v: __m128i) -> [u32; 4] {
        [
            _mm_extract_epi32::<0>(v) as u32,
            _mm_extract_epi32::<1>(v) as u32,
            _mm_extract_epi32::<2>(v) as u32,
            _mm_extract_epi32::<3>(v) as u32,
        ]
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn unpack(v: V) -> [[u32; 4]; PER_VEC] {
        [
            part(_mm512_extracti32x4_epi32::<0>(v)),
            part(_mm512_extracti32x4_epi32::<1>(v)),
            part(_mm512_extracti32x4_epi32::<2>(v)),
            part(_mm512_extracti32x4_epi32::<3>(v)),
        ]
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn index(v: V) -> [usize; PER_VEC] {
        let w = |p: __m128i| _mm_cvtsi128_si32(p) as usize & (N - 1);
        [
            w(_mm512_extracti32x4_epi32::<0>(v)),
            w(_mm512_extracti32x4_epi32::<1>(v)),
            w(_mm512_extracti32x4_epi32::<2>(v)),
            w(_mm512_extracti32x4_epi32::<3>(v)),
        ]
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load(pad: &[E], c: usize, j: [usize; PER_VEC], r: usize) -> V {
        let p = |h: usize| pad[c * N + j[h]].0[r];
        let v = _mm512_mask_blend_epi32(0x00f0, p(0), p(1));
        let v = _mm512_mask_blend_epi32(0x0f00, v, p(2));
        _mm512_mask_blend_epi32(0xf000, v, p(3))
    }

    scrypt_lanes!(
        #[target_feature(enable = "avx512f")]
        token = crate::simd::Avx512,
        chains = 3
    );
}

pub(crate) mod ymm {
    use crate::scrypt::N;
    use std::arch::x86_64::*;

    salsa_vector!(
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        ymm,
        rotate = _mm256_rol_epi32
    );

    scrypt_lanes!(
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        token = crate::simd::Avx512Vl,
        chains = 5
    );
}
