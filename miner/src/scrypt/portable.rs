//! The portable ROMix: one hash at a time, with a scratchpad reused by the thread.

use super::{Block, N};
use std::cell::RefCell;

thread_local! {
    /// This thread's scratchpad, kept between scans.
    pub(crate) static PAD: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Salsa20/8 (the core with its feed-forward) of `b`, in place.
#[inline(always)]
fn salsa8(b: &mut [u32; 16]) {
    let mut x = *b;
    macro_rules! qr {
        ($a:literal, $b:literal, $c:literal, $d:literal) => {
            x[$b] ^= x[$a].wrapping_add(x[$d]).rotate_left(7);
            x[$c] ^= x[$b].wrapping_add(x[$a]).rotate_left(9);
            x[$d] ^= x[$c].wrapping_add(x[$b]).rotate_left(13);
            x[$a] ^= x[$d].wrapping_add(x[$c]).rotate_left(18);
        };
    }
    for _ in 0..4 {
        qr!(0, 4, 8, 12);
        qr!(5, 9, 13, 1);
        qr!(10, 14, 2, 6);
        qr!(15, 3, 7, 11);
        qr!(0, 1, 2, 3);
        qr!(5, 6, 7, 4);
        qr!(10, 11, 8, 9);
        qr!(15, 12, 13, 14);
    }
    for (b, x) in b.iter_mut().zip(x) {
        *b = b.wrapping_add(x);
    }
}

/// BlockMix with r = 1.
#[inline(always)]
fn block_mix(x: &mut Block) {
    let (lo, hi) = x.split_at_mut(16);
    let lo: &mut [u32; 16] = lo.try_into().expect("32 words split in halves");
    let hi: &mut [u32; 16] = hi.try_into().expect("32 words split in halves");
    for (l, h) in lo.iter_mut().zip(hi.iter()) {
        *l ^= h;
    }
    salsa8(lo);
    for (h, l) in hi.iter_mut().zip(lo.iter()) {
        *h ^= l;
    }
    salsa8(hi);
}

/// ROMix (RFC 7914, section 5) of one block.
pub(crate) fn romix(x: &mut Block, pad: &mut Vec<Block>) {
    pad.resize(N, [0; 32]);
    for v in pad.iter_mut() {
        *v = *x;
        block_mix(x);
    }
    for _ in 0..N {
        let j = x[16] as usize % N;
        for (x, v) in x.iter_mut().zip(&pad[j]) {
            *x ^= v;
        }
        block_mix(x);
    }
}
