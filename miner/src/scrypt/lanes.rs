//! ROMix written once over an abstract vector of Salsa rows.
//!
//! A kernel module defines `type V` (a vector holding one 4-word Salsa row of `PER_VEC`
//! hashes, one hash per 128-bit part), `PER_VEC`, the functions `add`, `xor`, `rol7`,
//! `rol9`, `rol13`, `rol18`, `shuf93`, `shuf4e`, `shuf39` (in-lane `pshufd` with those
//! immediates), `zero`, `pack` / `unpack` (rows of each hash to and from a vector),
//! `index(v)` (word 0 of each hash's row, masked to `N - 1`), the scratchpad entry type
//! `E` (one block of every hash of a chain) with `zero_entry()`, `save(pad, c, i, x)`
//! (stores chain `c`'s block as its entry `i`) and `load(pad, c, j, r)` (row `r` of
//! entry `j[h]` for each hash `h` of chain `c`), then expands [`scrypt_lanes!`]. A pad
//! holds `N` entries per chain.
//!
//! The Salsa state is kept in the diagonal layout: rows `A = (x0, x5, x10, x15)`,
//! `B = (x4, x9, x14, x3)`, `C = (x8, x13, x2, x7)`, `D = (x12, x1, x6, x11)`, so that a
//! column round is four vector steps, and a row round is the same four steps after
//! rotating rows B, C and D by one, two and three words.

/// Word indices of the diagonal rows A, B, C, D of a 16-word Salsa block.
pub(crate) const DIAG: [[usize; 4]; 4] =
    [[0, 5, 10, 15], [4, 9, 14, 3], [8, 13, 2, 7], [12, 1, 6, 11]];

/// Runs `$body` with `$i` bound to each of `0..$n`, written out rather than looped: the
/// chains, rows and words then index their arrays with constants, which keeps them in
/// registers whatever the optimiser's unrolling settings (the size-optimised `dist`
/// build turns unrolling off).
macro_rules! unroll {
    ($i:ident in 0..1 => $body:block) => {{ let $i: usize = 0; $body }};
    ($i:ident in 0..2 => $body:block) => {{
        unroll!($i in 0..1 => $body);
        { let $i: usize = 1; $body }
    }};
    ($i:ident in 0..3 => $body:block) => {{
        unroll!($i in 0..2 => $body);
        { let $i: usize = 2; $body }
    }};
    ($i:ident in 0..4 => $body:block) => {{
        unroll!($i in 0..3 => $body);
        { let $i: usize = 3; $body }
    }};
    ($i:ident in 0..5 => $body:block) => {{
        unroll!($i in 0..4 => $body);
        { let $i: usize = 4; $body }
    }};
    ($i:ident in 0..6 => $body:block) => {{
        unroll!($i in 0..5 => $body);
        { let $i: usize = 5; $body }
    }};
    ($i:ident in 0..7 => $body:block) => {{
        unroll!($i in 0..6 => $body);
        { let $i: usize = 6; $body }
    }};
    ($i:ident in 0..8 => $body:block) => {{
        unroll!($i in 0..7 => $body);
        { let $i: usize = 7; $body }
    }};
}

/// `dst ^= rot(s1 + s2)` in every one of the `$n` chains of `$x`.
macro_rules! step {
    ($n:tt, $x:ident, $dst:literal, $s1:literal, $s2:literal, $rot:ident) => {
        unroll!(c in 0..$n => {
            $x[c][$dst] = xor($x[c][$dst], $rot(add($x[c][$s1], $x[c][$s2])));
        })
    };
}

/// Expands to `LANES`, a per-thread scratchpad `PAD` and `fn romix(token, x, pad)`, which runs
/// ROMix on `LANES` blocks: `PER_VEC` hashes per vector times `$chains` interleaved
/// vectors.
macro_rules! scrypt_lanes {
    (#[$feat:meta] token = $token:ty, chains = $chains:tt) => {
        /// Hashes computed side by side.
        pub(crate) const LANES: usize = PER_VEC * CHAINS;
        const CHAINS: usize = $chains;

        thread_local! {
            /// This thread's scratchpad, kept between scans.
            pub(crate) static PAD: ::std::cell::RefCell<Vec<E>> =
                const { ::std::cell::RefCell::new(Vec::new()) };
        }

        /// Salsa20/8 of each chain's block, in place (the core plus the feed-forward).
        #[$feat]
        #[inline]
        fn salsa8(b: &mut [[V; 4]; CHAINS]) {
            let mut x = *b;
            for _ in 0..4 {
                // Column round.
                step!($chains, x, 1, 0, 3, rol7);
                step!($chains, x, 2, 1, 0, rol9);
                step!($chains, x, 3, 2, 1, rol13);
                step!($chains, x, 0, 3, 2, rol18);
                unroll!(c in 0..$chains => {
                    x[c][1] = shuf93(x[c][1]);
                    x[c][2] = shuf4e(x[c][2]);
                    x[c][3] = shuf39(x[c][3]);
                });
                // Row round: B and D swap roles.
                step!($chains, x, 3, 0, 1, rol7);
                step!($chains, x, 2, 3, 0, rol9);
                step!($chains, x, 1, 2, 3, rol13);
                step!($chains, x, 0, 1, 2, rol18);
                unroll!(c in 0..$chains => {
                    x[c][1] = shuf39(x[c][1]);
                    x[c][2] = shuf4e(x[c][2]);
                    x[c][3] = shuf93(x[c][3]);
                });
            }
            unroll!(c in 0..$chains => {
                unroll!(k in 0..4 => {
                    b[c][k] = add(b[c][k], x[c][k]);
                });
            });
        }

        /// BlockMix with r = 1: `X0 = salsa(X0 ^ X1)`, then `X1 = salsa(X1 ^ X0)`.
        #[$feat]
        #[inline]
        fn block_mix(x: &mut [[V; 8]; CHAINS]) {
            let mut t = [[zero(); 4]; CHAINS];
            unroll!(c in 0..$chains => {
                unroll!(k in 0..4 => {
                    t[c][k] = xor(x[c][k], x[c][4 + k]);
                });
            });
            salsa8(&mut t);
            unroll!(c in 0..$chains => {
                unroll!(k in 0..4 => {
                    x[c][k] = t[c][k];
                    t[c][k] = xor(t[c][k], x[c][4 + k]);
                });
            });
            salsa8(&mut t);
            unroll!(c in 0..$chains => {
                unroll!(k in 0..4 => {
                    x[c][4 + k] = t[c][k];
                });
            });
        }

        /// Runs ROMix (RFC 7914, section 5) on `blocks`, using `pad` as scratchpad;
        /// `token` proves that the CPU has the kernel's instructions.
        #[allow(unsafe_code)]
        #[inline]
        pub(crate) fn romix(
            token: $token,
            blocks: &mut [$crate::scrypt::Block; LANES],
            pad: &mut Vec<E>,
        ) {
            let _ = token;
            // SAFETY: `romix_with_features` needs the target features of `$token`, whose
            // only constructor returns a value after detecting them on this CPU.
            unsafe { romix_with_features(blocks, pad) }
        }

        /// [`romix`], compiled for the kernel's instructions.
        #[$feat]
        fn romix_with_features(blocks: &mut [$crate::scrypt::Block; LANES], pad: &mut Vec<E>) {
            use $crate::scrypt::N;
            use $crate::scrypt::lanes::DIAG;
            if pad.len() != CHAINS * N {
                *pad = vec![zero_entry(); CHAINS * N];
            }
            let mut x = [[zero(); 8]; CHAINS];
            for c in 0..CHAINS {
                for r in 0..8 {
                    let mut rows = [[0u32; 4]; PER_VEC];
                    for (h, row) in rows.iter_mut().enumerate() {
                        let block = &blocks[c * PER_VEC + h];
                        for k in 0..4 {
                            row[k] = block[16 * (r / 4) + DIAG[r % 4][k]];
                        }
                    }
                    x[c][r] = pack(rows);
                }
            }
            for i in 0..N {
                unroll!(c in 0..$chains => {
                    save(pad, c, i, &x[c]);
                });
                block_mix(&mut x);
            }
            for _ in 0..N {
                unroll!(c in 0..$chains => {
                    // Integerify: word 0 of the second Salsa block, row A.
                    let j = index(x[c][4]);
                    unroll!(r in 0..8 => {
                        x[c][r] = xor(x[c][r], load(pad, c, j, r));
                    });
                });
                block_mix(&mut x);
            }
            for c in 0..CHAINS {
                for r in 0..8 {
                    let rows = unpack(x[c][r]);
                    for (h, row) in rows.iter().enumerate() {
                        let block = &mut blocks[c * PER_VEC + h];
                        for k in 0..4 {
                            block[16 * (r / 4) + DIAG[r % 4][k]] = row[k];
                        }
                    }
                }
            }
        }
    };
}
