//! The sha256d filter written once over an abstract lane vector.
//!
//! A kernel module defines `type V` (a vector of `LANES` u32 lanes, or plain `u32`), the
//! constant `LANES`, and the functions `splat`, `add`, `bsig0`, `bsig1`, `ssig0`, `ssig1`,
//! `ch`, `maj`, `bswap`, `nonce_lanes(base)` (lane `i` holds `base + i`) and
//! `filter(h7, top)` (the bit mask of lanes where `bswap(h7) <= top`), then expands
//! [`sha256d_lanes!`] with its target-feature attribute. The macro's names resolve in
//! the expanding module, so each expansion compiles with that module's instructions.

/// Round `t` on the state array `$s`. The eight roles rotate through the array instead of
/// moving data: at round `t`, `a` is `$s[(64 - t) % 8]`, `b` the next slot, and so on.
///
/// The `h` slot already holds `h + K[t] + W[t]`. With `$kw_next` (`K + W` of round
/// `t + 1`), the round adds it to `g`, which is next round's `h`, before `Ch` consumes
/// `g`: `vpternlogd` overwrites one of its inputs, and `g` is then the one that is dead.
/// `a` selects whether the new `a` is computed: the last rounds of the outer hash only
/// need `e`.
macro_rules! rnd {
    (@ $s:ident, $t:expr, a = $full:literal, $($kw_next:expr)?) => {{
        let i: usize = (64 - $t) % 8;
        let e = $s[(i + 4) % 8];
        let g = $s[(i + 6) % 8];
        $( $s[(i + 6) % 8] = add(g, $kw_next); )?
        let t1 = add($s[(i + 7) % 8], add(bsig1(e), ch(e, $s[(i + 5) % 8], g)));
        $s[(i + 3) % 8] = add($s[(i + 3) % 8], t1);
        if $full {
            let a = $s[i];
            $s[(i + 7) % 8] = add(t1, add(bsig0(a), maj(a, $s[(i + 1) % 8], $s[(i + 2) % 8])));
        }
    }};
    ($s:ident, $t:expr, $kw_next:expr) => { rnd!(@ $s, $t, a = true, $kw_next) };
    ($s:ident, $t:expr) => { rnd!(@ $s, $t, a = true,) };
}

/// [`rnd!`] computing only the new `e`.
macro_rules! rnd_e {
    ($s:ident, $t:expr, $kw_next:expr) => { rnd!(@ $s, $t, a = false, $kw_next) };
    ($s:ident, $t:expr) => { rnd!(@ $s, $t, a = false,) };
}

/// Message word `t` from the four earlier words (FIPS 180-4, section 6.2.2, step 1).
macro_rules! sched {
    ($w:ident, $t:expr) => {{
        let t: usize = $t;
        $w[t] = add(
            add(ssig1($w[t - 2]), $w[t - 7]),
            add(ssig0($w[t - 15]), $w[t - 16]),
        );
    }};
}

/// `K[t] + W[t]` from the schedule.
macro_rules! kw {
    ($w:ident, $t:expr) => {
        add($w[$t], splat(K[$t]))
    };
}

/// Full rounds `t` whose next round's `K + W` is the job constant `$kw[t + 1]`.
macro_rules! rnds_const {
    ($s:ident, $kw:expr; $($t:literal)*) => {
        $( rnd!($s, $t, splat($kw[$t + 1])); )*
    };
}

/// Full rounds `t` whose next round's word `W[t + 1]` is already in `$w`.
macro_rules! rnds_w {
    ($s:ident, $w:ident; $($t:literal)*) => {
        $( rnd!($s, $t, kw!($w, $t + 1)); )*
    };
}

/// Schedules `W[t + 1]`, then full round `t`.
macro_rules! sched_rnds {
    ($s:ident, $w:ident; $($t:literal)*) => {
        $( sched!($w, $t + 1); rnd!($s, $t, kw!($w, $t + 1)); )*
    };
}

/// Schedules `W[t + 1]`, then `e`-only round `t`.
macro_rules! sched_rnds_e {
    ($s:ident, $w:ident; $($t:literal)*) => {
        $( sched!($w, $t + 1); rnd_e!($s, $t, kw!($w, $t + 1)); )*
    };
}

/// Expands to `fn batch(job, base)`, which returns the filter mask of the `LANES` nonces
/// from `base` (wrapping), and `fn $name(job, start, count, stop, out)`, which hashes the
/// `count` nonces from `start` and appends those passing the filter to `out`.
///
/// With a token type, `fn $name(token)`, the target-feature function is
/// `scan_with_features` (unsafe to call where the features are not enabled), and
/// `$name(token, job, start, count, stop, out)` calls it safely: the token is the proof
/// of the run-time check.
macro_rules! sha256d_lanes {
    ($(#[$attr:meta])* fn $name:ident($token:ty)) => {
        sha256d_lanes!($(#[$attr])* fn scan_with_features);

        /// Hashes the `count` nonces from `start` with this kernel; `token` proves that
        /// the CPU has its instructions.
        #[allow(unsafe_code)]
        pub(crate) fn $name(
            token: $token,
            job: &$crate::sha256::Sha256dJob,
            start: u32,
            count: u64,
            stop: &::std::sync::atomic::AtomicBool,
            out: &mut $crate::sha256::Candidates,
        ) {
            let _ = token;
            // SAFETY: `scan_with_features` needs the target features of `$token`, whose
            // only constructor returns a value after detecting them on this CPU.
            unsafe { scan_with_features(job, start, count, stop, out) }
        }
    };
    ($(#[$attr:meta])* fn $name:ident) => {
        $(#[$attr])*
        #[inline]
        pub(crate) fn batch(job: &$crate::sha256::Sha256dJob, base: u32) -> u32 {
            use $crate::sha256::{
                INNER_C20, INNER_C22, INNER_C30, K, OUTER_A1, OUTER_E1, OUTER_H7, OUTER_KW,
                OUTER_S0_W8, OUTER_S0_W15, OUTER_S1_W15, IV, PAD,
            };
            const DIGEST_BITS: u32 = 256;
            {
                // Inner hash, second block. Rounds 0..=3 are in `job.s4`, the nonce word
                // W3 enters `a` and `e` by addition. Roles at round 4: a = s[4], e = s[0],
                // and h = s[3] holds h + K4 + W4.
                let w3 = bswap(nonce_lanes(base));
                let mut s = [
                    add(splat(job.s4[4]), w3),
                    splat(job.s4[5]),
                    splat(job.s4[6]),
                    splat(job.h4kw),
                    add(splat(job.s4[0]), w3),
                    splat(job.s4[1]),
                    splat(job.s4[2]),
                    splat(job.s4[3]),
                ];
                rnds_const!(s, job.kw; 4 5 6 7 8 9 10 11 12 13 14 15 16);
                // W4..W15 are padding, so most terms of W16..W33 are constants or zero.
                let mut w = [splat(0); 64];
                w[16] = splat(job.w16);
                w[17] = splat(job.w17);
                w[18] = add(ssig0(w3), splat(job.c18));
                w[19] = add(w3, splat(job.c19));
                w[20] = add(ssig1(w[18]), splat(INNER_C20));
                w[21] = ssig1(w[19]);
                w[22] = add(ssig1(w[20]), splat(INNER_C22));
                w[23] = add(ssig1(w[21]), w[16]);
                w[24] = add(ssig1(w[22]), w[17]);
                w[25] = add(ssig1(w[23]), w[18]);
                w[26] = add(ssig1(w[24]), w[19]);
                w[27] = add(ssig1(w[25]), w[20]);
                w[28] = add(ssig1(w[26]), w[21]);
                w[29] = add(ssig1(w[27]), w[22]);
                w[30] = add(add(ssig1(w[28]), w[23]), splat(INNER_C30));
                w[31] = add(add(ssig1(w[29]), w[24]), splat(job.c31));
                w[32] = add(add(ssig1(w[30]), w[25]), splat(job.c32));
                w[33] = add(add(ssig1(w[31]), w[26]), add(ssig0(w[18]), w[17]));
                rnds_w!(s, w; 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
                sched_rnds!(s, w; 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52
                    53 54 55 56 57 58 59 60 61 62);
                rnd!(s, 63);
                // After round 63 the roles are back in order: a = s[0] .. h = s[7].
                let x: [V; 8] = [
                    add(s[0], splat(job.mid[0])),
                    add(s[1], splat(job.mid[1])),
                    add(s[2], splat(job.mid[2])),
                    add(s[3], splat(job.mid[3])),
                    add(s[4], splat(job.mid[4])),
                    add(s[5], splat(job.mid[5])),
                    add(s[6], splat(job.mid[6])),
                    add(s[7], splat(job.mid[7])),
                ];

                // Outer hash of the 32-byte digest `x`. Round 0 only adds x0 to constants.
                // Roles at round 1: a = s[7], b = s[0], .., e = s[3], .., h = s[6], which
                // holds h + K1 + W1.
                let mut s = [
                    splat(IV[0]),
                    splat(IV[1]),
                    splat(IV[2]),
                    add(x[0], splat(OUTER_E1)),
                    splat(IV[4]),
                    splat(IV[5]),
                    add(x[1], splat(IV[6].wrapping_add(K[1]))),
                    add(x[0], splat(OUTER_A1)),
                ];
                let mut w = [splat(0); 64];
                w[..8].copy_from_slice(&x);
                rnds_w!(s, w; 1 2 3 4 5 6);
                rnd!(s, 7, splat(OUTER_KW[0]));
                rnd!(s, 8, splat(OUTER_KW[1]));
                rnd!(s, 9, splat(OUTER_KW[2]));
                rnd!(s, 10, splat(OUTER_KW[3]));
                rnd!(s, 11, splat(OUTER_KW[4]));
                rnd!(s, 12, splat(OUTER_KW[5]));
                rnd!(s, 13, splat(OUTER_KW[6]));
                rnd!(s, 14, splat(OUTER_KW[7]));
                // W8 = pad, W9..W14 = 0, W15 = 256.
                w[16] = add(ssig0(w[1]), w[0]);
                w[17] = add(add(ssig0(w[2]), w[1]), splat(OUTER_S1_W15));
                w[18] = add(add(ssig1(w[16]), ssig0(w[3])), w[2]);
                w[19] = add(add(ssig1(w[17]), ssig0(w[4])), w[3]);
                w[20] = add(add(ssig1(w[18]), ssig0(w[5])), w[4]);
                w[21] = add(add(ssig1(w[19]), ssig0(w[6])), w[5]);
                w[22] = add(add(ssig1(w[20]), ssig0(w[7])), add(w[6], splat(DIGEST_BITS)));
                w[23] = add(add(ssig1(w[21]), w[16]), add(w[7], splat(OUTER_S0_W8)));
                w[24] = add(add(ssig1(w[22]), w[17]), splat(PAD));
                w[25] = add(ssig1(w[23]), w[18]);
                w[26] = add(ssig1(w[24]), w[19]);
                w[27] = add(ssig1(w[25]), w[20]);
                w[28] = add(ssig1(w[26]), w[21]);
                w[29] = add(ssig1(w[27]), w[22]);
                w[30] = add(add(ssig1(w[28]), w[23]), splat(OUTER_S0_W15));
                w[31] = add(add(ssig1(w[29]), w[24]), add(ssig0(w[16]), splat(DIGEST_BITS)));
                rnds_w!(s, w; 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30);
                sched_rnds!(s, w; 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50
                    51 52 53 54 55 56);
                // The last state word is h64 + IV7 = e61 + IV7: rounds 57..=60 need only `e`,
                // and rounds 61..=63 are skipped. e61 lands in round 60's `d` slot, s[7].
                sched_rnds_e!(s, w; 57 58 59);
                rnd_e!(s, 60);
                let h7 = add(s[7], splat(OUTER_H7));
                filter(h7, job.target_top)
            }
        }

        $(#[$attr])*
        pub(crate) fn $name(
            job: &$crate::sha256::Sha256dJob,
            start: u32,
            count: u64,
            stop: &::std::sync::atomic::AtomicBool,
            out: &mut $crate::sha256::Candidates,
        ) {
            let lanes = LANES as u64;
            let mut done = 0u64;
            while done < count {
                if done.is_multiple_of($crate::sha256::STOP_STRIDE)
                    && stop.load(::std::sync::atomic::Ordering::Relaxed)
                {
                    break;
                }
                // `done < count <= 2^32`, so this is the nonce `start + done` modulo 2^32.
                let base = start.wrapping_add(done as u32);
                $crate::sha256::push_lanes(out, batch(job, base), base, count - done);
                done += lanes;
            }
            out.hashes = done.min(count);
        }
    };
}
