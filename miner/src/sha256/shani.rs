//! The SHA extensions kernel: `sha256rnds2` does two rounds, `sha256msg1/2` the message
//! schedule. One hash is a chain of dependent round instructions, so several nonces are
//! interleaved to keep the unit busy. The state lives in the (ABEF, CDGH) register
//! layout those instructions use (Intel SHA extensions reference, figure 5).
//!
//! The entry point takes the token of its features (`crate::simd`).

use super::{Candidates, IV, K, PAD, STOP_STRIDE, Sha256dJob};
use crate::simd::ShaNi;
use std::arch::x86_64::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Nonces the stand-alone kernel hashes side by side.
pub(crate) const WAYS: usize = 4;

/// Returns `(ABEF, CDGH)` for the state `[a, b, c, d, e, f, g, h]`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn pack(s: &[u32; 8]) -> (__m128i, __m128i) {
    let w = s.map(|x| x as i32);
    (
        _mm_set_epi32(w[0], w[1], w[4], w[5]),
        _mm_set_epi32(w[2], w[3], w[6], w[7]),
    )
}

/// Returns the vectors `(a, b, c, d)` and `(e, f, g, h)` of an (ABEF, CDGH) state: the
/// digest as message words of the next block.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn unpack(abef: __m128i, cdgh: __m128i) -> (__m128i, __m128i) {
    let fe_ba = _mm_shuffle_epi32::<0x1b>(abef); // lanes a b e f
    let hg_dc = _mm_shuffle_epi32::<0xb1>(cdgh); // lanes g h c d
    (
        _mm_blend_epi16::<0xf0>(fe_ba, hg_dc),
        _mm_alignr_epi8::<8>(hg_dc, fe_ba),
    )
}

/// `K[4i..4i+4]` as a vector.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn kq(i: usize) -> __m128i {
    _mm_set_epi32(
        K[4 * i + 3] as i32,
        K[4 * i + 2] as i32,
        K[4 * i + 1] as i32,
        K[4 * i] as i32,
    )
}

/// Per-job vectors.
struct Consts {
    s2_abef: __m128i,
    s2_cdgh: __m128i,
    mid_abef: __m128i,
    mid_cdgh: __m128i,
    iv_abef: __m128i,
    iv_cdgh: __m128i,
    /// Words 0..3 of the header's second block, the nonce word zero.
    w0_3: __m128i,
    /// `W + K` of inner quads 1..=3 (padding only).
    kw1: __m128i,
    kw2: __m128i,
    kw3: __m128i,
    /// Message words of outer quads 2 and 3 (padding only), and with `K` added.
    outer_w2: __m128i,
    outer_w3: __m128i,
    outer_kw2: __m128i,
    outer_kw3: __m128i,
    target_top: u32,
}

impl Consts {
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn new(job: &Sha256dJob) -> Self {
        let (s2_abef, s2_cdgh) = pack(&job.s2);
        let (mid_abef, mid_cdgh) = pack(&job.mid);
        let (iv_abef, iv_cdgh) = pack(&IV);
        let [w0, w1, w2, _] = job.w0_3.map(|x| x as i32);
        let pad = _mm_set_epi32(0, 0, 0, PAD as i32);
        let outer_w3 = _mm_set_epi32(super::DIGEST_BITS as i32, 0, 0, 0);
        Consts {
            s2_abef,
            s2_cdgh,
            mid_abef,
            mid_cdgh,
            iv_abef,
            iv_cdgh,
            w0_3: _mm_set_epi32(0, w2, w1, w0),
            kw1: _mm_add_epi32(pad, kq(1)),
            kw2: kq(2),
            kw3: _mm_add_epi32(_mm_set_epi32(super::HEADER_BITS as i32, 0, 0, 0), kq(3)),
            outer_w2: pad,
            outer_w3,
            outer_kw2: _mm_add_epi32(pad, kq(2)),
            outer_kw3: _mm_add_epi32(outer_w3, kq(3)),
            target_top: job.target_top,
        }
    }
}

/// The sha256d of `W` nonces in progress. The steps must run in order: [`Stream::new`],
/// [`Stream::rounds_2_3`], [`Stream::inner`] for quads 1..=15, [`Stream::middle`],
/// [`Stream::outer`] for quads 0..=14, [`Stream::finish`].
struct Stream<const W: usize> {
    abef: [__m128i; W],
    cdgh: [__m128i; W],
    /// Message words of quads 0..16 (quad `i` holds words `4i..4i+4`).
    q: [[__m128i; W]; 16],
}

impl<const W: usize> Stream<W> {
    /// Starts the inner hash of the nonces `base..base + W` from the state before round 2.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn new(c: &Consts, base: u32) -> Self {
        let zero = [_mm_setzero_si128(); W];
        let mut q = [zero; 16];
        for (k, q0) in q[0].iter_mut().enumerate() {
            let w3 = base.wrapping_add(k as u32).swap_bytes();
            *q0 = _mm_insert_epi32::<3>(c.w0_3, w3 as i32);
        }
        q[1] = [_mm_set_epi32(0, 0, 0, PAD as i32); W];
        q[3] = [_mm_set_epi32(super::HEADER_BITS as i32, 0, 0, 0); W];
        Self {
            abef: [c.s2_abef; W],
            cdgh: [c.s2_cdgh; W],
            q,
        }
    }

    /// Two rounds with the low half of `m = W + K`; `abef` then holds CDGH and `cdgh`
    /// holds ABEF (the next call swaps them back).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn rounds2(abef: &mut [__m128i; W], cdgh: &mut [__m128i; W], m: [__m128i; W]) {
        for k in 0..W {
            cdgh[k] = _mm_sha256rnds2_epu32(cdgh[k], abef[k], m[k]);
        }
    }

    /// Four rounds with `m = W + K` of the quad.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn quad(&mut self, m: [__m128i; W]) {
        Self::rounds2(&mut self.abef, &mut self.cdgh, m);
        let hi = m.map(|x| _mm_shuffle_epi32::<0x0e>(x));
        Self::rounds2(&mut self.cdgh, &mut self.abef, hi);
    }

    /// Message words of quad `I` from the four before it.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn schedule<const I: usize>(&mut self) {
        for k in 0..W {
            let t = _mm_add_epi32(
                _mm_sha256msg1_epu32(self.q[I - 4][k], self.q[I - 3][k]),
                _mm_alignr_epi8::<4>(self.q[I - 1][k], self.q[I - 2][k]),
            );
            self.q[I][k] = _mm_sha256msg2_epu32(t, self.q[I - 1][k]);
        }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn with_k(&self, i: usize) -> [__m128i; W] {
        let k = kq(i);
        self.q[i].map(|x| _mm_add_epi32(x, k))
    }

    /// Rounds 2 and 3 of the inner hash (the nonce's rounds).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn rounds_2_3(&mut self) {
        let m = self.with_k(0).map(|x| _mm_shuffle_epi32::<0x0e>(x));
        Self::rounds2(&mut self.abef, &mut self.cdgh, m);
        std::mem::swap(&mut self.abef, &mut self.cdgh);
    }

    /// Quad `I` (1..=15) of the inner hash.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn inner<const I: usize>(&mut self, c: &Consts) {
        let m = match I {
            1 => [c.kw1; W],
            2 => [c.kw2; W],
            3 => [c.kw3; W],
            _ => {
                self.schedule::<I>();
                self.with_k(I)
            }
        };
        self.quad(m);
    }

    /// Ends the inner hash and starts the outer one on its digest.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn middle(&mut self, c: &Consts) {
        for k in 0..W {
            let abef = _mm_add_epi32(self.abef[k], c.mid_abef);
            let cdgh = _mm_add_epi32(self.cdgh[k], c.mid_cdgh);
            (self.q[0][k], self.q[1][k]) = unpack(abef, cdgh);
        }
        self.q[2] = [c.outer_w2; W];
        self.q[3] = [c.outer_w3; W];
        self.abef = [c.iv_abef; W];
        self.cdgh = [c.iv_cdgh; W];
    }

    /// Quad `I` (0..=14) of the outer hash.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn outer<const I: usize>(&mut self, c: &Consts) {
        let m = match I {
            0 | 1 => self.with_k(I),
            2 => [c.outer_kw2; W],
            3 => [c.outer_kw3; W],
            _ => {
                self.schedule::<I>();
                self.with_k(I)
            }
        };
        self.quad(m);
    }

    /// Rounds 60 and 61 of the outer hash, whose new ABEF's F is e61 = h64; returns the
    /// mask of nonces passing the filter.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn finish(&mut self, c: &Consts) -> u32 {
        self.schedule::<15>();
        let m = self.with_k(15);
        let mut mask = 0;
        for (k, ((cdgh, abef), m)) in self.cdgh.iter().zip(&self.abef).zip(m).enumerate() {
            let abef = _mm_sha256rnds2_epu32(*cdgh, *abef, m);
            let h7 = (_mm_cvtsi128_si32(abef) as u32).wrapping_add(IV[7]);
            if h7.swap_bytes() <= c.target_top {
                mask |= 1 << k;
            }
        }
        mask
    }
}

/// Returns the filter mask of the `W` nonces from `base`, all steps in a row.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn batch<const W: usize>(c: &Consts, base: u32) -> u32 {
    let mut s = Stream::<W>::new(c, base);
    s.rounds_2_3();
    s.inner::<1>(c);
    s.inner::<2>(c);
    s.inner::<3>(c);
    s.inner::<4>(c);
    s.inner::<5>(c);
    s.inner::<6>(c);
    s.inner::<7>(c);
    s.inner::<8>(c);
    s.inner::<9>(c);
    s.inner::<10>(c);
    s.inner::<11>(c);
    s.inner::<12>(c);
    s.inner::<13>(c);
    s.inner::<14>(c);
    s.inner::<15>(c);
    s.middle(c);
    s.outer::<0>(c);
    s.outer::<1>(c);
    s.outer::<2>(c);
    s.outer::<3>(c);
    s.outer::<4>(c);
    s.outer::<5>(c);
    s.outer::<6>(c);
    s.outer::<7>(c);
    s.outer::<8>(c);
    s.outer::<9>(c);
    s.outer::<10>(c);
    s.outer::<11>(c);
    s.outer::<12>(c);
    s.outer::<13>(c);
    s.outer::<14>(c);
    s.finish(c)
}

/// Scans `WAYS` nonces per step with the SHA extensions; `token` proves that the CPU has
/// them.
#[allow(unsafe_code)]
pub(super) fn scan(
    token: ShaNi,
    job: &Sha256dJob,
    start: u32,
    count: u64,
    stop: &AtomicBool,
    out: &mut Candidates,
) {
    let _ = token;
    // SAFETY: `scan_with_features` needs SHA, SSSE3 and SSE4.1 (SSE2 is part of x86-64),
    // which `ShaNi::detect` confirmed before making the token.
    unsafe { scan_with_features(job, start, count, stop, out) }
}

/// [`scan`], compiled for the SHA extensions.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn scan_with_features(
    job: &Sha256dJob,
    start: u32,
    count: u64,
    stop: &AtomicBool,
    out: &mut Candidates,
) {
    let consts = Consts::new(job);
    let mut done = 0u64;
    while done < count {
        if done.is_multiple_of(STOP_STRIDE) && stop.load(Ordering::Relaxed) {
            break;
        }
        // `done < count <= 2^32`: this is `start + done` modulo 2^32.
        let base = start.wrapping_add(done as u32);
        super::push_lanes(out, batch::<WAYS>(&consts, base), base, count - done);
        done += WAYS as u64;
    }
    out.hashes = done.min(count);
}
