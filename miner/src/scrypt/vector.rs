//! The vector helpers of the SIMD ROMix kernels, written once for every width.
//!
//! [`salsa_vector!`] defines what `scrypt_lanes!` needs of a vector type, from the
//! intrinsics of one width (add, xor, rotate, in-lane shuffle, zero) and the scratchpad
//! entry built on them; [`salsa_rows_256!`] adds the row packing of 256-bit vectors (two
//! hashes per vector), shared by the AVX2 and AVX-512VL kernels. The names in the
//! expansions resolve in the expanding module, which imports `std::arch::x86_64::*` and
//! `N`, so each expansion compiles with that module's instructions.

/// Defines `type V`, `PER_VEC`, `add`, `xor`, `rol7`, `rol9`, `rol13`, `rol18`, `shuf93`,
/// `shuf4e`, `shuf39`, `zero`, and the scratchpad entry `E` with `zero_entry` and `save`,
/// each with `#[$feat]`, for 256-bit (`ymm`, with the row helpers of
/// [`salsa_rows_256!`]) or 512-bit (`zmm`) vectors. `rotate` is the rotate-left
/// intrinsic, or `shifts` where there is none.
macro_rules! salsa_vector {
    (#[$feat:meta] ymm, rotate = $rotate:tt) => {
        salsa_vector!(
            @with #[$feat]
            V = __m256i,
            PER_VEC = 2,
            add = _mm256_add_epi32,
            xor = _mm256_xor_si256,
            rotate = $rotate,
            shuffle = _mm256_shuffle_epi32,
            zero = _mm256_setzero_si256,
        );
        salsa_rows_256!(#[$feat]);
    };
    (#[$feat:meta] zmm, rotate = $rotate:tt) => {
        salsa_vector!(
            @with #[$feat]
            V = __m512i,
            PER_VEC = 4,
            add = _mm512_add_epi32,
            xor = _mm512_xor_si512,
            rotate = $rotate,
            shuffle = _mm512_shuffle_epi32,
            zero = _mm512_setzero_si512,
        );
    };
    // AVX2 has no vector rotate: two shifts and an or.
    (@rol shifts, $x:ident, $n:literal) => {
        _mm256_or_si256(
            _mm256_slli_epi32::<$n>($x),
            _mm256_srli_epi32::<{ 32 - $n }>($x),
        )
    };
    (@rol $rotate:ident, $x:ident, $n:literal) => {
        $rotate::<$n>($x)
    };
    (
        @with #[$feat:meta]
        V = $v:ty,
        PER_VEC = $per_vec:literal,
        add = $add:ident,
        xor = $xor:ident,
        rotate = $rotate:tt,
        shuffle = $shuffle:ident,
        zero = $zero:ident $(,)?
    ) => {
        type V = $v;
        const PER_VEC: usize = $per_vec;

        #[$feat]
        #[inline]
        fn add(a: V, b: V) -> V {
            $add(a, b)
        }
        #[$feat]
        #[inline]
        fn xor(a: V, b: V) -> V {
            $xor(a, b)
        }
        #[$feat]
        #[inline]
        fn rol7(x: V) -> V {
            salsa_vector!(@rol $rotate, x, 7)
        }
        #[$feat]
        #[inline]
        fn rol9(x: V) -> V {
            salsa_vector!(@rol $rotate, x, 9)
        }
        #[$feat]
        #[inline]
        fn rol13(x: V) -> V {
            salsa_vector!(@rol $rotate, x, 13)
        }
        #[$feat]
        #[inline]
        fn rol18(x: V) -> V {
            salsa_vector!(@rol $rotate, x, 18)
        }
        #[$feat]
        #[inline]
        fn shuf93(x: V) -> V {
            $shuffle::<0x93>(x)
        }
        #[$feat]
        #[inline]
        fn shuf4e(x: V) -> V {
            $shuffle::<0x4e>(x)
        }
        #[$feat]
        #[inline]
        fn shuf39(x: V) -> V {
            $shuffle::<0x39>(x)
        }
        #[$feat]
        #[inline]
        fn zero() -> V {
            $zero()
        }

        /// A scratchpad entry: one block of each hash of a chain, row by row (interleaved).
        #[derive(Clone, Copy)]
        pub(crate) struct E([V; 8]);

        #[$feat]
        #[inline]
        fn zero_entry() -> E {
            E([zero(); 8])
        }
        #[$feat]
        #[inline]
        fn save(pad: &mut [E], c: usize, i: usize, x: &[V; 8]) {
            pad[c * N + i] = E(*x);
        }
    };
}

/// Defines `pack`, `unpack`, `index` and `load` for 256-bit vectors holding two hashes'
/// rows (one per 128-bit half), each with `#[$feat]`.
macro_rules! salsa_rows_256 {
    (#[$feat:meta]) => {
        #[$feat]
        #[inline]
        fn pack(r: [[u32; 4]; PER_VEC]) -> V {
            let [a, b] = r.map(|row| row.map(|w| w as i32));
            _mm256_setr_epi32(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3])
        }
        #[$feat]
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
        #[$feat]
        #[inline]
        fn index(v: V) -> [usize; PER_VEC] {
            [
                _mm256_extract_epi32::<0>(v) as usize & (N - 1),
                _mm256_extract_epi32::<4>(v) as usize & (N - 1),
            ]
        }
        #[$feat]
        #[inline]
        fn load(pad: &[E], c: usize, j: [usize; PER_VEC], r: usize) -> V {
            _mm256_blend_epi32::<0xf0>(pad[c * N + j[0]].0[r], pad[c * N + j[1]].0[r])
        }
    };
}
