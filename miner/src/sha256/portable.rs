//! The portable kernel: plain Rust, one nonce per step.

type V = u32;
pub(super) const LANES: usize = 1;

#[inline(always)]
fn splat(x: u32) -> V {
    x
}
#[inline(always)]
fn add(a: V, b: V) -> V {
    a.wrapping_add(b)
}
#[inline(always)]
fn bsig0(x: V) -> V {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}
#[inline(always)]
fn bsig1(x: V) -> V {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}
#[inline(always)]
fn ssig0(x: V) -> V {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
#[inline(always)]
fn ssig1(x: V) -> V {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}
#[inline(always)]
fn ch(e: V, f: V, g: V) -> V {
    g ^ (e & (f ^ g))
}
#[inline(always)]
fn maj(a: V, b: V, c: V) -> V {
    b ^ ((a ^ b) & (b ^ c))
}
#[inline(always)]
fn bswap(x: V) -> V {
    x.swap_bytes()
}
#[inline(always)]
fn nonce_lanes(base: u32) -> V {
    base
}
#[inline(always)]
fn filter(h7: V, top: u32) -> u32 {
    u32::from(h7.swap_bytes() <= top)
}

sha256d_lanes!(
    /// Scans with the portable kernel.
    fn scan
);
