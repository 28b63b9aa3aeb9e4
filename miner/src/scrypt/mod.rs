//! Litecoin scrypt (N=1024, r=1, p=1, the header as password and salt) nonce scanning.
//!
//! A hash is PBKDF2-HMAC-SHA256 of the header into 128 bytes, ROMix (2048 BlockMix
//! calls, 4096 Salsa20/8 cores, a 128 KiB scratchpad), and PBKDF2 again down to 32 bytes
//! (RFC 7914). The two PBKDF2 steps are a few percent of the work and run here, one hash
//! at a time, on `sha2`'s compression function (which uses the SHA extensions where the
//! CPU has them). ROMix is the kernel's:
//!
//! - `portable`: one hash at a time in plain Rust, with a scratchpad reused by the thread
//!   (the `scrypt` crate allocates one per call).
//! - `avx2`, `avx512` (`zmm`: four hashes per vector; `ymm`: two, with AVX-512VL rotates):
//!   several hashes per vector in the usual diagonal layout of the Salsa state (each
//!   128-bit part holds one hash's row, so a round is four add/rotate/xor steps and three
//!   in-lane shuffles), and several vectors ("chains") interleaved so that one chain's
//!   latency hides behind the others: 6 hashes per thread with AVX2, 10 with AVX-512VL,
//!   12 with AVX-512 (the best counts measured on Zen 4; more chains spill the 1 MiB L2).
//!   Scratchpads are per thread and reused; an entry holds one block of every hash of a
//!   chain, row by row, so the write phase is plain vector stores.

#[macro_use]
mod lanes;
mod portable;
#[cfg(target_arch = "x86_64")]
#[macro_use]
mod vector;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::backend::ScanResult;
use crate::kernel::CpuKernel;
use crate::sha256::IV;
use crate::simd::Isa;
use otedama_sharechain::{PowHash, Target};
use sha2::block_api::compress256;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Scrypt's N for Litecoin: the number of 128-byte scratchpad entries.
pub(crate) const N: usize = 1024;

/// The scrypt working block `X` of one hash: 32 little-endian words (two Salsa blocks).
pub(crate) type Block = [u32; 32];

/// Returns how many hashes `kernel` computes side by side.
pub(crate) const fn lanes(kernel: CpuKernel) -> usize {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        CpuKernel::Avx512 => avx512::zmm::LANES,
        #[cfg(target_arch = "x86_64")]
        CpuKernel::Avx512Vl => avx512::ymm::LANES,
        #[cfg(target_arch = "x86_64")]
        CpuKernel::Avx2 => avx2::LANES,
        _ => 1,
    }
}

/// The SHA-256 state after the first 64 header bytes, shared by every nonce.
struct Prefix {
    mid: [u32; 8],
}

impl Prefix {
    fn new(header: &[u8; 80]) -> Self {
        let mut mid = IV;
        let mut block = [0u8; 64];
        block.copy_from_slice(&header[..64]);
        compress256(&mut mid, &[block]);
        Self { mid }
    }
}

/// HMAC-SHA256 keyed with one header: the states after the inner and outer pad blocks.
struct Hmac {
    inner: [u32; 8],
    outer: [u32; 8],
}

/// Writes `words` big-endian into `out` (a SHA-256 digest's byte order).
fn put_be(out: &mut [u8], words: &[u32]) {
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
}

/// A final block: `data`, the pad byte, zeros, and the message length in bits.
fn last_block(data: &[u8], bits: u64) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..data.len()].copy_from_slice(data);
    b[data.len()] = 0x80;
    b[56..].copy_from_slice(&bits.to_be_bytes());
    b
}

impl Hmac {
    /// Keys HMAC with the 80-byte `header`. The key is longer than a block, so it is
    /// hashed first (RFC 2104, section 2); its first block is `prefix`.
    fn new(prefix: &Prefix, header: &[u8; 80]) -> Self {
        let mut key = prefix.mid;
        compress256(&mut key, &[last_block(&header[64..], 640)]);
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        let mut k = [0u8; 32];
        put_be(&mut k, &key);
        for (i, b) in k.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let mut inner = IV;
        compress256(&mut inner, &[ipad]);
        let mut outer = IV;
        compress256(&mut outer, &[opad]);
        Self { inner, outer }
    }

    /// Finishes the outer hash over a 32-byte inner digest.
    fn outer(&self, inner_digest: &[u32; 8]) -> [u32; 8] {
        let mut d = [0u8; 32];
        put_be(&mut d, inner_digest);
        let mut s = self.outer;
        // The outer message is the 64-byte pad block and the 32-byte digest.
        compress256(&mut s, &[last_block(&d, (64 + 32) * 8)]);
        s
    }

    /// PBKDF2-HMAC-SHA256(header, salt = header, c = 1, 128 bytes), as scrypt's `X`.
    fn expand(&self, header: &[u8; 80]) -> Block {
        let mut base = self.inner;
        let mut first = [0u8; 64];
        first.copy_from_slice(&header[..64]);
        compress256(&mut base, &[first]);
        let mut tail = [0u8; 20];
        tail[..16].copy_from_slice(&header[64..]);
        let mut x = [0u32; 32];
        for (i, out) in (1u32..).zip(x.chunks_exact_mut(8)) {
            // U1 of block i: HMAC(header, header || INT(i)); c = 1, so T_i = U1.
            tail[16..].copy_from_slice(&i.to_be_bytes());
            let mut s = base;
            compress256(&mut s, &[last_block(&tail, (64 + 84) * 8)]);
            let t = self.outer(&s);
            // Scrypt reads the bytes as little-endian words.
            for (o, w) in out.iter_mut().zip(t) {
                *o = w.swap_bytes();
            }
        }
        x
    }

    /// PBKDF2-HMAC-SHA256(header, salt = X, c = 1, 32 bytes): the PoW hash.
    fn compress(&self, x: &Block) -> [u8; 32] {
        let mut blocks = [[0u8; 64]; 3];
        for (i, w) in x.iter().enumerate() {
            blocks[i / 16][(i % 16) * 4..(i % 16) * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        blocks[2] = last_block(&1u32.to_be_bytes(), (64 + 128 + 4) * 8);
        let mut s = self.inner;
        compress256(&mut s, &blocks);
        let mut out = [0u8; 32];
        put_be(&mut out, &self.outer(&s));
        out
    }
}

/// Hashes `nonces` `L` at a time and calls `f(nonce, hash)` for each; `romix` runs
/// scrypt's ROMix on `L` blocks. Returns the number of nonces hashed, fewer than the
/// range when `stop` is set.
fn hash_batches<const L: usize>(
    header: &[u8; 80],
    nonces: Range<u32>,
    stop: &AtomicBool,
    mut romix: impl FnMut(&mut [Block; L]),
    f: &mut dyn FnMut(u32, [u8; 32]),
) -> u64 {
    let prefix = Prefix::new(header);
    let mut hashes = 0;
    let mut h = *header;
    let mut next = nonces.start;
    while next < nonces.end {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let n = (nonces.end - next).min(L as u32);
        let mut x = [[0u32; 32]; L];
        let mut keys: [Option<Hmac>; L] = [const { None }; L];
        for (i, (x, key)) in (0u32..n).zip(x.iter_mut().zip(&mut keys)) {
            h[76..80].copy_from_slice(&(next + i).to_le_bytes());
            let hmac = Hmac::new(&prefix, &h);
            *x = hmac.expand(&h);
            *key = Some(hmac);
        }
        // Lanes past the range hash zeros; their results are dropped.
        romix(&mut x);
        for (i, (x, key)) in (0u32..).zip(x.iter().zip(&keys)) {
            if let Some(key) = key {
                f(next + i, key.compress(x));
            }
        }
        hashes += u64::from(n);
        next += n;
    }
    hashes
}

/// Hashes `nonces` with `isa`'s kernel, calling `f(nonce, hash)` for each, and returns
/// the number hashed.
fn hash_range(
    isa: Isa,
    header: &[u8; 80],
    nonces: Range<u32>,
    stop: &AtomicBool,
    f: &mut dyn FnMut(u32, [u8; 32]),
) -> u64 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(token) => avx512::zmm::PAD.with_borrow_mut(|pad| {
            hash_batches(
                header,
                nonces,
                stop,
                |x| avx512::zmm::romix(token, x, pad),
                f,
            )
        }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vl(token) => avx512::ymm::PAD.with_borrow_mut(|pad| {
            hash_batches(
                header,
                nonces,
                stop,
                |x| avx512::ymm::romix(token, x, pad),
                f,
            )
        }),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(token) => avx2::PAD.with_borrow_mut(|pad| {
            hash_batches(header, nonces, stop, |x| avx2::romix(token, x, pad), f)
        }),
        // The SHA extensions have no scrypt kernel (`CpuKernel::check` refuses the pair);
        // the portable one is always right.
        _ => portable::PAD.with_borrow_mut(|pad| {
            hash_batches::<1>(header, nonces, stop, |x| portable::romix(&mut x[0], pad), f)
        }),
    }
}

/// Scans `nonces` over `header` with `isa`'s kernel and returns the nonces whose scrypt
/// hash meets `target`.
pub(crate) fn scan(
    isa: Isa,
    header: &[u8; 80],
    nonces: Range<u32>,
    target: &Target,
    stop: &AtomicBool,
) -> ScanResult {
    let mut found = Vec::new();
    let hashes = hash_range(isa, header, nonces, stop, &mut |nonce, hash| {
        if target.is_met_by(&PowHash::from_bytes(hash)) {
            found.push(nonce);
        }
    });
    ScanResult {
        hashes,
        found,
        ..ScanResult::default()
    }
}

#[cfg(test)]
mod tests;
