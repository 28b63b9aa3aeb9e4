//! AVX-512 ROMix: four hashes per 512-bit vector (`zmm`), or two per 256-bit vector with
//! the AVX-512VL instructions (`ymm`, for comparison: 10 % slower on Zen 4, which splits
//! 512-bit operations but has fewer instructions to issue with them). Rotates are one
//! `vprold` each.
//!
//! `romix` is only called from [`super::hash_range`] after run-time detection.

pub(crate) mod zmm {
    use crate::scrypt::N;
    use std::arch::x86_64::*;

    type V = __m512i;
    const PER_VEC: usize = 4;

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm512_add_epi32(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn xor(a: V, b: V) -> V {
        _mm512_xor_si512(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rol7(x: V) -> V {
        _mm512_rol_epi32::<7>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rol9(x: V) -> V {
        _mm512_rol_epi32::<9>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rol13(x: V) -> V {
        _mm512_rol_epi32::<13>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn rol18(x: V) -> V {
        _mm512_rol_epi32::<18>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn shuf93(x: V) -> V {
        _mm512_shuffle_epi32::<0x93>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn shuf4e(x: V) -> V {
        _mm512_shuffle_epi32::<0x4e>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn shuf39(x: V) -> V {
        _mm512_shuffle_epi32::<0x39>(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn zero() -> V {
        _mm512_setzero_si512()
    }
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
    /// A scratchpad entry: one block of each hash of a chain, row by row (interleaved).
    #[derive(Clone, Copy)]
    pub(crate) struct E([V; 8]);

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn zero_entry() -> E {
        E([zero(); 8])
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn save(pad: &mut [E], c: usize, i: usize, x: &[V; 8]) {
        pad[c * N + i] = E(*x);
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
        chains = 3
    );
}

pub(crate) mod ymm {
    use crate::scrypt::N;
    use std::arch::x86_64::*;

    type V = __m256i;
    const PER_VEC: usize = 2;

    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn add(a: V, b: V) -> V {
        _mm256_add_epi32(a, b)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn xor(a: V, b: V) -> V {
        _mm256_xor_si256(a, b)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn rol7(x: V) -> V {
        _mm256_rol_epi32::<7>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn rol9(x: V) -> V {
        _mm256_rol_epi32::<9>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn rol13(x: V) -> V {
        _mm256_rol_epi32::<13>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn rol18(x: V) -> V {
        _mm256_rol_epi32::<18>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn shuf93(x: V) -> V {
        _mm256_shuffle_epi32::<0x93>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn shuf4e(x: V) -> V {
        _mm256_shuffle_epi32::<0x4e>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn shuf39(x: V) -> V {
        _mm256_shuffle_epi32::<0x39>(x)
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn zero() -> V {
        _mm256_setzero_si256()
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn pack(r: [[u32; 4]; PER_VEC]) -> V {
        let [a, b] = r.map(|row| row.map(|w| w as i32));
        _mm256_setr_epi32(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
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
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
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

    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn zero_entry() -> E {
        E([zero(); 8])
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn save(pad: &mut [E], c: usize, i: usize, x: &[V; 8]) {
        pad[c * N + i] = E(*x);
    }
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    #[inline]
    fn load(pad: &[E], c: usize, j: [usize; PER_VEC], r: usize) -> V {
        _mm256_blend_epi32::<0xf0>(pad[c * N + j[0]].0[r], pad[c * N + j[1]].0[r])
    }

    scrypt_lanes!(
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        chains = 5
    );
}
