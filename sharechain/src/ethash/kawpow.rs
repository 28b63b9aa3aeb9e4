//! KawPow: ProgPoW 0.9.4 with Ravencoin's parameters, over the Ethash light cache of
//! 7 500-block epochs and a dataset whose items mix 512 cache items (Ethash: 256).
//!
//! - A Keccak-f[800] of the header hash, the nonce and the 15 words of `rAVENCOINKAWPOW`
//!   seeds 16 lanes of 32 registers (KISS99 streams).
//! - Every 3 blocks (a *period*) a new program: a KISS99 stream seeded by the period
//!   number picks, for each of the 64 rounds alike, 11 reads of a 16 KiB cache (the
//!   dataset's first 16 KiB), 18 random math operations and merges, and how the round's
//!   256-byte dataset item is merged into the lanes.
//! - The lanes reduce (FNV-1a) to the 32-byte mix hash; a second Keccak-f[800] of the
//!   first output, the mix hash and its first 9 words gives the final hash, compared
//!   big-endian with the boundary.

use super::{Epoch, EthashError, Item, LightCache, MAX_EPOCH, f800};

/// Blocks per KawPow epoch (Ravencoin's Ethash epochs are a quarter of Ethereum's).
pub const EPOCH_LENGTH: u64 = 7_500;
/// Blocks per ProgPoW period (one program each).
pub const PERIOD_LENGTH: u64 = 3;

/// Registers of each lane.
pub const REGS: usize = 32;
/// Lanes of the mix.
pub const LANES: usize = 16;
const CACHE_ACCESSES: usize = 11;
const MATH_OPERATIONS: usize = 18;
/// Rounds of each hash.
pub const ROUNDS: u32 = 64;
/// Words of the 16 KiB cache of the dataset's first items.
pub const L1_WORDS: usize = 16 * 1024 / 4;
/// Words of a 256-byte dataset item each lane merges.
pub const WORDS_PER_LANE: usize = 256 / 4 / LANES;
/// Cache items mixed into each dataset item: twice Ethash's.
pub const DATASET_PARENTS: u32 = 512;
const FNV_PRIME: u32 = 0x0100_0193;
const FNV_OFFSET: u32 = 0x811c_9dc5;
/// `rAVENCOINKAWPOW` (the first letter is a lower-case `r`, 0x72), one letter a word:
/// the padding of both Keccak-f[800] inputs.
pub const RAVENCOIN_KAWPOW: [u32; 15] = [
    0x72, 0x41, 0x56, 0x45, 0x4e, 0x43, 0x4f, 0x49, 0x4e, 0x4b, 0x41, 0x57, 0x50, 0x4f, 0x57,
];

fn fnv1a(u: u32, v: u32) -> u32 {
    (u ^ v).wrapping_mul(FNV_PRIME)
}

/// The KISS99 generator (Marsaglia, 1999).
#[derive(Clone, Copy, Debug)]
struct Kiss99 {
    z: u32,
    w: u32,
    jsr: u32,
    jcong: u32,
}

impl Kiss99 {
    fn next(&mut self) -> u32 {
        self.z = 36969u32
            .wrapping_mul(self.z & 0xffff)
            .wrapping_add(self.z >> 16);
        self.w = 18000u32
            .wrapping_mul(self.w & 0xffff)
            .wrapping_add(self.w >> 16);
        self.jcong = 69069u32.wrapping_mul(self.jcong).wrapping_add(1_234_567);
        self.jsr ^= self.jsr << 17;
        self.jsr ^= self.jsr >> 13;
        self.jsr ^= self.jsr << 5;
        ((self.z << 16).wrapping_add(self.w) ^ self.jcong).wrapping_add(self.jsr)
    }
}

/// A period's program: its random stream and the register permutations it walks. Each
/// round starts from the same copy, so every round runs the same program.
#[derive(Clone, Copy, Debug)]
struct Program {
    rng: Kiss99,
    dst: [u32; REGS],
    src: [u32; REGS],
    dst_at: usize,
    src_at: usize,
}

impl Program {
    fn new(period: u64) -> Self {
        let (lo, hi) = (period as u32, (period >> 32) as u32);
        let z = fnv1a(FNV_OFFSET, lo);
        let w = fnv1a(z, hi);
        let jsr = fnv1a(w, lo);
        let jcong = fnv1a(jsr, hi);
        let mut rng = Kiss99 { z, w, jsr, jcong };
        let mut dst: [u32; REGS] = std::array::from_fn(|i| i as u32);
        let mut src = dst;
        for i in (2..=REGS).rev() {
            dst.swap(i - 1, (rng.next() % i as u32) as usize);
            src.swap(i - 1, (rng.next() % i as u32) as usize);
        }
        Self {
            rng,
            dst,
            src,
            dst_at: 0,
            src_at: 0,
        }
    }

    fn next_dst(&mut self) -> usize {
        let d = self.dst[self.dst_at % REGS];
        self.dst_at += 1;
        d as usize
    }

    fn next_src(&mut self) -> usize {
        let s = self.src[self.src_at % REGS];
        self.src_at += 1;
        s as usize
    }
}

/// ProgPoW's random math: operation `selector % 11` of `a` and `b`.
pub fn random_math(a: u32, b: u32, selector: u32) -> u32 {
    match selector % 11 {
        0 => a.wrapping_add(b),
        1 => a.wrapping_mul(b),
        2 => ((u64::from(a) * u64::from(b)) >> 32) as u32,
        3 => a.min(b),
        4 => a.rotate_left(b % 32),
        5 => a.rotate_right(b % 32),
        6 => a & b,
        7 => a | b,
        8 => a ^ b,
        9 => a.leading_zeros() + b.leading_zeros(),
        _ => a.count_ones() + b.count_ones(),
    }
}

/// Merges `b` into `a` keeping `a`'s entropy: operation `selector % 4`, rotating by
/// `(selector >> 16) % 31 + 1`.
pub fn random_merge(a: &mut u32, b: u32, selector: u32) {
    let x = (selector >> 16) % 31 + 1;
    *a = match selector % 4 {
        0 => a.wrapping_mul(33).wrapping_add(b),
        1 => (*a ^ b).wrapping_mul(33),
        2 => a.rotate_left(x) ^ b,
        _ => a.rotate_right(x) ^ b,
    };
}

type Mix = [[u32; REGS]; LANES];

/// The output of a KawPow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KawpowHash {
    /// The 32-byte mix hash a block header carries.
    pub mix: [u8; 32],
    /// The final hash, compared big-endian with the boundary.
    pub result: [u8; 32],
}

/// Returns the KawPow epoch of `block`.
///
/// # Errors
/// [`EthashError::EpochTooLarge`] past [`MAX_EPOCH`].
pub fn epoch(block: u64) -> Result<Epoch, EthashError> {
    let n = block / EPOCH_LENGTH;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_EPOCH)
        .map(Epoch::ethash)
        .ok_or(EthashError::EpochTooLarge(n))
}

/// An epoch's light cache with the 16 KiB cache of the dataset's first items: enough to
/// verify any KawPow hash of the epoch.
#[derive(Clone, Debug)]
pub struct KawpowContext {
    cache: LightCache,
    l1: Vec<u32>,
}

impl KawpowContext {
    /// Builds the context of `epoch` (its light cache: about a second on one core).
    pub fn new(epoch: Epoch) -> Self {
        Self::from_cache(LightCache::new(epoch))
    }

    /// Builds the context over an existing light cache (a tiny one in tests).
    pub fn from_cache(cache: LightCache) -> Self {
        let l1 = (0..(L1_WORDS / 16) as u32)
            .flat_map(|i| cache.dataset_item_with_parents(i, DATASET_PARENTS))
            .collect();
        Self { cache, l1 }
    }

    /// The light cache.
    pub fn cache(&self) -> &LightCache {
        &self.cache
    }

    /// The 16 KiB cache of the dataset's first items, as words.
    pub fn l1(&self) -> &[u32] {
        &self.l1
    }

    /// The number of 256-byte dataset items the rounds pick from.
    fn items_2048(&self) -> u32 {
        (self.cache.dataset_items() / 4) as u32
    }

    fn item_2048(&self, index: u32) -> [u32; 64] {
        let mut out = [0u32; 64];
        for (k, chunk) in out.chunks_exact_mut(16).enumerate() {
            let item: Item = self
                .cache
                .dataset_item_with_parents(index * 4 + k as u32, DATASET_PARENTS);
            chunk.copy_from_slice(&item);
        }
        out
    }

    /// Hashes `header_hash` and `nonce` at `block` (its period picks the program).
    pub fn hash(&self, block: u64, header_hash: &[u8; 32], nonce: u64) -> KawpowHash {
        let seed = seed_state(header_hash, nonce);
        let mix = self.mix_hash(block, seed[0], seed[1]);
        KawpowHash {
            mix: words_to_bytes(&mix),
            result: final_hash(&seed, &mix),
        }
    }

    /// Whether `mix` and `nonce` are a valid KawPow solution of `header_hash` at `block`
    /// whose final hash is at most `boundary` (big-endian). The cheap final hash is
    /// checked first, the mix (64 rounds) only when it passes.
    pub fn verify(
        &self,
        block: u64,
        header_hash: &[u8; 32],
        mix: &[u8; 32],
        nonce: u64,
        boundary: &[u8; 32],
    ) -> bool {
        let seed = seed_state(header_hash, nonce);
        let claimed = bytes_to_words(mix);
        if final_hash(&seed, &claimed) > *boundary {
            return false;
        }
        self.mix_hash(block, seed[0], seed[1]) == claimed
    }

    fn mix_hash(&self, block: u64, seed_lo: u32, seed_hi: u32) -> [u32; 8] {
        let mut mix = init_mix(seed_lo, seed_hi);
        let program = PeriodProgram::new(block / PERIOD_LENGTH);
        for r in 0..ROUNDS {
            self.round(r, &mut mix, &program);
        }
        let mut out = [FNV_OFFSET; 8];
        for (l, lane) in mix.iter().enumerate() {
            let lane_hash = lane.iter().fold(FNV_OFFSET, |h, w| fnv1a(h, *w));
            out[l % 8] = fnv1a(out[l % 8], lane_hash);
        }
        out
    }

    fn round(&self, r: u32, mix: &mut Mix, program: &PeriodProgram) {
        let index = mix[r as usize % LANES][0] % self.items_2048();
        let item = self.item_2048(index);
        for op in &program.ops {
            match *op {
                Operation::Cache { src, dst, merge } => {
                    for lane in mix.iter_mut() {
                        let word = self.l1[lane[src] as usize % L1_WORDS];
                        random_merge(&mut lane[dst], word, merge);
                    }
                }
                Operation::Math {
                    src1,
                    src2,
                    math,
                    dst,
                    merge,
                } => {
                    for lane in mix.iter_mut() {
                        let data = random_math(lane[src1], lane[src2], math);
                        random_merge(&mut lane[dst], data, merge);
                    }
                }
            }
        }
        for (l, lane) in mix.iter_mut().enumerate() {
            let offset = ((l ^ r as usize) % LANES) * WORDS_PER_LANE;
            for (i, m) in program.item_merges.iter().enumerate() {
                random_merge(&mut lane[m.dst], item[offset + i], m.merge);
            }
        }
    }
}

/// One step of a period's program, applied to every lane alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `merge(reg[dst], l1[reg[src] % L1_WORDS], merge)`: a read of the 16 KiB cache.
    Cache {
        /// The register whose value picks the cache word.
        src: usize,
        /// The register merged into.
        dst: usize,
        /// The merge selector ([`random_merge`]).
        merge: u32,
    },
    /// `merge(reg[dst], math(reg[src1], reg[src2], math), merge)`.
    Math {
        /// The first operand's register.
        src1: usize,
        /// The second operand's register (never `src1`).
        src2: usize,
        /// The math selector ([`random_math`]).
        math: u32,
        /// The register merged into.
        dst: usize,
        /// The merge selector.
        merge: u32,
    },
}

/// How one word of the round's dataset item is merged into each lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemMerge {
    /// The register merged into (the first word always goes to register 0).
    pub dst: usize,
    /// The merge selector.
    pub merge: u32,
}

/// A period's program, the same for all 64 rounds: the cache reads and math in the
/// order they run, then the merges of the round's dataset item. The CPU hash runs it
/// and the device kernels are generated from it, so both follow one description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodProgram {
    /// The period (`block / PERIOD_LENGTH`).
    pub period: u64,
    /// The operations in order: cache read `i` (for `i < 11`) before math `i`.
    pub ops: Vec<Operation>,
    /// The merges of the dataset item's [`WORDS_PER_LANE`] words of each lane.
    pub item_merges: [ItemMerge; WORDS_PER_LANE],
}

impl PeriodProgram {
    /// Generates `period`'s program from its KISS99 stream.
    pub fn new(period: u64) -> Self {
        let mut p = Program::new(period);
        let mut ops = Vec::with_capacity(CACHE_ACCESSES + MATH_OPERATIONS);
        for i in 0..MATH_OPERATIONS.max(CACHE_ACCESSES) {
            if i < CACHE_ACCESSES {
                let src = p.next_src();
                let dst = p.next_dst();
                let merge = p.rng.next();
                ops.push(Operation::Cache { src, dst, merge });
            }
            if i < MATH_OPERATIONS {
                let pick = p.rng.next() % (REGS * (REGS - 1)) as u32;
                let src1 = (pick % REGS as u32) as usize;
                let mut src2 = (pick / REGS as u32) as usize;
                if src2 >= src1 {
                    src2 += 1;
                }
                let math = p.rng.next();
                let dst = p.next_dst();
                let merge = p.rng.next();
                ops.push(Operation::Math {
                    src1,
                    src2,
                    math,
                    dst,
                    merge,
                });
            }
        }
        let item_merges = std::array::from_fn(|i| ItemMerge {
            dst: if i == 0 { 0 } else { p.next_dst() },
            merge: p.rng.next(),
        });
        Self {
            period,
            ops,
            item_merges,
        }
    }
}

/// Returns the final hash of a claimed solution without recomputing its mix: cheap (two
/// Keccak-f[800] permutations, no cache), and what a chain takes as the block id of a
/// KawPow header. Only [`KawpowContext::verify`] proves the mix.
pub fn final_hash_of(header_hash: &[u8; 32], nonce: u64, mix: &[u8; 32]) -> [u8; 32] {
    final_hash(&seed_state(header_hash, nonce), &bytes_to_words(mix))
}

fn init_mix(seed_lo: u32, seed_hi: u32) -> Mix {
    let z = fnv1a(FNV_OFFSET, seed_lo);
    let w = fnv1a(z, seed_hi);
    std::array::from_fn(|l| {
        let jsr = fnv1a(w, l as u32);
        let jcong = fnv1a(jsr, l as u32);
        let mut rng = Kiss99 { z, w, jsr, jcong };
        std::array::from_fn(|_| rng.next())
    })
}

/// The first Keccak-f[800]: header words, nonce, `rAVENCOINKAWPOW`; its first 8 words.
fn seed_state(header_hash: &[u8; 32], nonce: u64) -> [u32; 8] {
    let mut state = [0u32; 25];
    state[..8].copy_from_slice(&bytes_to_words(header_hash));
    state[8] = nonce as u32;
    state[9] = (nonce >> 32) as u32;
    state[10..].copy_from_slice(&RAVENCOIN_KAWPOW);
    f800(&mut state);
    let mut out = [0u32; 8];
    out.copy_from_slice(&state[..8]);
    out
}

/// The second Keccak-f[800]: the seed state, the mix hash, `rAVENCOINK`.
fn final_hash(seed: &[u32; 8], mix: &[u32; 8]) -> [u8; 32] {
    let mut state = [0u32; 25];
    state[..8].copy_from_slice(seed);
    state[8..16].copy_from_slice(mix);
    state[16..].copy_from_slice(&RAVENCOIN_KAWPOW[..9]);
    f800(&mut state);
    let mut out = [0u32; 8];
    out.copy_from_slice(&state[..8]);
    words_to_bytes(&out)
}

fn bytes_to_words(b: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    })
}

fn words_to_bytes(w: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(w) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kiss99_follows_the_published_sequence() {
        // Marsaglia's default seeds: the 100 000th output of his published test.
        let mut k = Kiss99 {
            z: 362_436_069,
            w: 521_288_629,
            jsr: 123_456_789,
            jcong: 380_116_160,
        };
        assert_eq!(k.next(), 769_445_856);
        assert_eq!(k.next(), 742_012_328);
        assert_eq!(k.next(), 2_121_196_314);
        assert_eq!(k.next(), 2_805_620_942);
        for _ in 4..99_999 {
            k.next();
        }
        assert_eq!(k.next(), 941_074_834);
    }

    #[test]
    fn the_l1_cache_is_the_datasets_first_16_kib() {
        // The reference implementation's unit test of epoch 0's first 20 words.
        let ctx = KawpowContext::new(Epoch::ethash(0));
        assert_eq!(
            ctx.l1[..20],
            [
                2492749011, 430724829, 2029256771, 3095580433, 3583790154, 3025086503, 805985885,
                4121693337, 2320382801, 3763444918, 1006127899, 1480743010, 2592936015, 2598973744,
                3038068233, 2754267228, 2867798800, 2342573634, 467767296, 246004123,
            ]
        );
    }

    #[test]
    fn epochs_are_7500_blocks() {
        assert_eq!(epoch(7_499), Ok(Epoch::ethash(0)));
        assert_eq!(epoch(170_915), Ok(Epoch::ethash(22)));
        assert!(epoch(u64::MAX).is_err());
    }

    #[test]
    fn verify_takes_only_the_right_mix_and_boundary() {
        let cache = LightCache::with_sizes(&[3; 32], 64 * 101, 128 * 1031).expect("sizes");
        let ctx = KawpowContext::from_cache(cache);
        let header = [9u8; 32];
        let h = ctx.hash(10, &header, 77);
        assert!(ctx.verify(10, &header, &h.mix, 77, &h.result));
        assert_eq!(final_hash_of(&header, 77, &h.mix), h.result);
        assert_ne!(final_hash_of(&header, 78, &h.mix), h.result);
        assert!(
            !ctx.verify(10, &header, &h.mix, 78, &[0xff; 32]),
            "other nonce"
        );
        let mut below = h.result;
        below[31] = below[31].wrapping_sub(1);
        if below < h.result {
            assert!(!ctx.verify(10, &header, &h.mix, 77, &below), "boundary");
        }
        let mut bad = h.mix;
        bad[0] ^= 1;
        assert!(!ctx.verify(10, &header, &bad, 77, &[0xff; 32]), "mix");
        // Another period is another program.
        assert_ne!(ctx.hash(13, &header, 77), h);
        assert_eq!(ctx.hash(11, &header, 77), h, "same period, same program");
    }
}
