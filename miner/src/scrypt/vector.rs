//! The vector helpers of the SIMD ROMix kernels, written once for every width.
//!
//! [`salsa_vector!`] defines what `scrypt_lanes!` needs of a vector type, from the
//! intrinsics of one width (add, xor, rotate, in-lane shuffle, zero) and the scratchpad
//! entry built on them; [`salsa_rows_256!`] adds the row packing of 256-bit vectors (two
//! hashes per vector), shared by the AVX2 and AVX-512VL kernels. The names in the
//! expansions resolve in the expanding module, which imports `std::arch::x86_64::*` and
//! `N`, so each expansion compiles with that module's instructions.

/// Defines `type V` (`$v`), `PER_VEC`, `add`, `xor`, `rol7`, `rol9`, `rol13`, `rol18`
/// (`$rol!(x, n)` rotates each word left by `n`), `shuf93`, `shuf4e`, `shuf39`, `zero`,
/// and the scratchpad entry `E` with `zero_entry` and `save`, each with `#[$feat]`.
macro_rules! salsa_vector {
    (
        #[$feat:meta]
        V = $v:ty,
        PER_VEC = $per_vec:literal,
        add = $add:ident,
        xor = $xor:ident,
        rol = $rol:ident,
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
            $rol!(x, 7)
        }
        #[$feat]
        #[inline]
        fn rol9(x: V) -> V {
            $rol!(x, 9)
        }
        #[$feat]
        #[inline]
        fn rol13(x: V) -> V {
            $rol!(x, 13)
        }
        #[$feat]
        #[inline]
        fn rol18(x: V) -> V {
            $rol!(x, 18)
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
