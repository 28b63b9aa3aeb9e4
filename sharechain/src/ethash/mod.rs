//! Ethash and Etchash (ECIP-1099): the light cache, dataset items, and hashimoto over
//! either the light cache (verification) or a full dataset (mining).
//!
//! The algorithm, as the Ethash specification defines it:
//! - Per epoch, a **seed** (Keccak-256 iterated over 32 zero bytes, once per 30 000
//!   blocks), a **cache** (`cache_bytes`, a prime number of 64-byte items: a Keccak-512
//!   chain of the seed, then three rounds of RandMemoHash) and a **dataset**
//!   (`dataset_bytes`, a prime number of 128-byte pages) whose 64-byte items are each
//!   256 FNV-mixed cache items.
//! - **Hashimoto**: `s = keccak512(header_hash || nonce_le)`; a 128-byte mix of `s`
//!   twice; 64 accesses, each FNV-mixing one dataset page chosen from the mix; the mix
//!   compressed to 32 bytes (the *mix hash*); `final = keccak256(s || mix hash)`, which
//!   must not exceed `2^256 / difficulty`.
//! - **Etchash** (Ethereum Classic from block 11 700 000): epochs of 60 000 blocks, so
//!   the dataset grows half as fast; the seed still counts 30 000-block steps, so epoch
//!   `e` of Etchash has the seed of Ethash epoch `2e`.
//!
//! Everything is integer arithmetic on little-endian 32-bit words; sizes are checked,
//! never trusted, so a bad epoch number is an error and not an allocation of terabytes.

pub mod kawpow;
mod keccak;

pub use keccak::{f800, keccak256, keccak512};

/// Blocks per Ethash epoch.
pub const EPOCH_LENGTH: u64 = 30_000;
/// Blocks per Etchash epoch (ECIP-1099).
pub const ETCHASH_EPOCH_LENGTH: u64 = 60_000;
/// The Ethereum Classic block from which Etchash applies.
pub const ETC_ECIP1099_BLOCK: u64 = 11_700_000;

const CACHE_BYTES_INIT: u64 = 1 << 24;
const CACHE_BYTES_GROWTH: u64 = 1 << 17;
const DATASET_BYTES_INIT: u64 = 1 << 30;
const DATASET_BYTES_GROWTH: u64 = 1 << 23;
const HASH_BYTES: u64 = 64;
const MIX_BYTES: u64 = 128;
const CACHE_ROUNDS: usize = 3;
/// Cache items mixed into each Ethash dataset item.
pub const DATASET_PARENTS: u32 = 256;
const ACCESSES: u32 = 64;
const FNV_PRIME: u32 = 0x0100_0193;
/// Largest epoch accepted: the dataset is then about 17 GiB, decades past today's.
pub const MAX_EPOCH: u32 = 2047;

/// A 64-byte cache or dataset item as 16 little-endian words.
pub type Item = [u32; 16];

/// The FNV-1 style mix Ethash uses (not FNV-1a: multiply, then xor).
#[inline]
pub fn fnv(a: u32, b: u32) -> u32 {
    a.wrapping_mul(FNV_PRIME) ^ b
}

/// Which epoch schedule a chain follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Ethash: 30 000-block epochs.
    Ethash,
    /// Etchash: Ethash until `activation`, then 60 000-block epochs (ECIP-1099).
    Etchash {
        /// The first block of 60 000-block epochs (a multiple of 60 000).
        activation: u64,
    },
}

impl Schedule {
    /// Ethereum Classic's schedule.
    pub const ETC: Schedule = Schedule::Etchash {
        activation: ETC_ECIP1099_BLOCK,
    };

    /// Returns the epoch of `block`.
    ///
    /// # Errors
    /// [`EthashError::EpochTooLarge`] past [`MAX_EPOCH`].
    pub fn epoch(self, block: u64) -> Result<Epoch, EthashError> {
        let (number, seed_rounds) = match self {
            Schedule::Etchash { activation } if block >= activation => {
                let n = block / ETCHASH_EPOCH_LENGTH;
                (n, n * 2)
            }
            _ => {
                let n = block / EPOCH_LENGTH;
                (n, n)
            }
        };
        let number = u32::try_from(number)
            .ok()
            .filter(|n| *n <= MAX_EPOCH)
            .ok_or(EthashError::EpochTooLarge(number))?;
        Ok(Epoch {
            number,
            seed_rounds: seed_rounds as u32,
        })
    }
}

/// What Ethash refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EthashError {
    /// The epoch is past [`MAX_EPOCH`].
    #[error("epoch {0} is past the largest supported ({MAX_EPOCH})")]
    EpochTooLarge(u64),
    /// Explicit sizes that are not whole items.
    #[error("cache of {cache} bytes or dataset of {dataset} bytes is not a whole number of items")]
    BadSizes {
        /// Cache bytes.
        cache: u64,
        /// Dataset bytes.
        dataset: u64,
    },
}

/// One epoch: the number its sizes follow and how many Keccak-256 steps its seed is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// The epoch number (sizes grow with it).
    pub number: u32,
    /// Keccak-256 iterations from 32 zero bytes to the seed.
    pub seed_rounds: u32,
}

impl Epoch {
    /// Ethash epoch `number`.
    pub fn ethash(number: u32) -> Self {
        Self {
            number,
            seed_rounds: number,
        }
    }

    /// The epoch's seed hash.
    pub fn seed(&self) -> [u8; 32] {
        (0..self.seed_rounds).fold([0u8; 32], |s, _| keccak256(&s))
    }

    /// The light cache's size in bytes.
    pub fn cache_bytes(&self) -> u64 {
        prime_size(
            CACHE_BYTES_INIT + CACHE_BYTES_GROWTH * u64::from(self.number),
            HASH_BYTES,
        )
    }

    /// The full dataset's size in bytes.
    pub fn dataset_bytes(&self) -> u64 {
        prime_size(
            DATASET_BYTES_INIT + DATASET_BYTES_GROWTH * u64::from(self.number),
            MIX_BYTES,
        )
    }
}

/// The largest `upper - unit - 2k * unit` whose item count is prime.
fn prime_size(upper: u64, unit: u64) -> u64 {
    let mut size = upper - unit;
    while !is_prime(size / unit) {
        size -= 2 * unit;
    }
    size
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n.is_multiple_of(2) {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

fn words(bytes: &[u8; 64]) -> Item {
    let mut w = [0u32; 16];
    for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

fn bytes(item: &Item) -> [u8; 64] {
    let mut b = [0u8; 64];
    for (chunk, word) in b.chunks_exact_mut(4).zip(item) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    b
}

fn keccak512_words(item: &Item) -> Item {
    words(&keccak512(&bytes(item)))
}

/// An epoch's light cache: enough to compute any dataset item, so to verify a hash.
#[derive(Clone)]
pub struct LightCache {
    items: Vec<Item>,
    dataset_items: u64,
}

impl std::fmt::Debug for LightCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightCache")
            .field("cache_items", &self.items.len())
            .field("dataset_items", &self.dataset_items)
            .finish()
    }
}

impl LightCache {
    /// Builds `epoch`'s cache (16 MiB and up; about a second on one core).
    pub fn new(epoch: Epoch) -> Self {
        Self::build(&epoch.seed(), epoch.cache_bytes(), epoch.dataset_bytes())
    }

    /// Builds a cache of explicit sizes: a tiny dataset for tests and for devices
    /// checked on a small DAG.
    ///
    /// # Errors
    /// [`EthashError::BadSizes`] unless the cache is a non-zero number of 64-byte items
    /// and the dataset of 128-byte pages.
    pub fn with_sizes(
        seed: &[u8; 32],
        cache_bytes: u64,
        dataset_bytes: u64,
    ) -> Result<Self, EthashError> {
        let bad = EthashError::BadSizes {
            cache: cache_bytes,
            dataset: dataset_bytes,
        };
        if cache_bytes == 0
            || !cache_bytes.is_multiple_of(HASH_BYTES)
            || cache_bytes / HASH_BYTES > u64::from(u32::MAX)
            || dataset_bytes == 0
            || !dataset_bytes.is_multiple_of(MIX_BYTES)
            || dataset_bytes / HASH_BYTES > u64::from(u32::MAX)
        {
            return Err(bad);
        }
        Ok(Self::build(seed, cache_bytes, dataset_bytes))
    }

    fn build(seed: &[u8; 32], cache_bytes: u64, dataset_bytes: u64) -> Self {
        let n = (cache_bytes / HASH_BYTES) as usize;
        let mut items: Vec<Item> = Vec::with_capacity(n);
        items.push(words(&keccak512(seed)));
        for i in 1..n {
            let next = keccak512_words(&items[i - 1]);
            items.push(next);
        }
        for _ in 0..CACHE_ROUNDS {
            for i in 0..n {
                let v = items[i][0] as usize % n;
                let prev = items[(i + n - 1) % n];
                let mut x = [0u32; 16];
                for (k, w) in x.iter_mut().enumerate() {
                    *w = prev[k] ^ items[v][k];
                }
                items[i] = keccak512_words(&x);
            }
        }
        Self {
            items,
            dataset_items: dataset_bytes / HASH_BYTES,
        }
    }

    /// The cache's items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The number of 64-byte dataset items.
    pub fn dataset_items(&self) -> u64 {
        self.dataset_items
    }

    /// Computes Ethash dataset item `index` from the cache (256 parents).
    pub fn dataset_item(&self, index: u32) -> Item {
        self.dataset_item_with_parents(index, DATASET_PARENTS)
    }

    /// Computes dataset item `index` mixing `parents` cache items (Ethash 256; KawPow,
    /// whose dataset is otherwise Ethash's, 512).
    pub fn dataset_item_with_parents(&self, index: u32, parents: u32) -> Item {
        let n = self.items.len() as u32;
        let mut mix = self.items[(index % n) as usize];
        mix[0] ^= index;
        mix = keccak512_words(&mix);
        for j in 0..parents {
            let parent = fnv(index ^ j, mix[(j % 16) as usize]) % n;
            let p = &self.items[parent as usize];
            for (m, w) in mix.iter_mut().zip(p) {
                *m = fnv(*m, *w);
            }
        }
        keccak512_words(&mix)
    }

    /// Hashes `header_hash` and `nonce` with dataset items computed on demand.
    pub fn hash(&self, header_hash: &[u8; 32], nonce: u64) -> EthashHash {
        hashimoto(header_hash, nonce, self.dataset_items, |i| {
            self.dataset_item(i)
        })
    }
}

/// A full dataset in memory (mining on the CPU, or a tiny test dataset).
#[derive(Clone)]
pub struct Dataset {
    items: Vec<Item>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("items", &self.items.len())
            .finish()
    }
}

impl Dataset {
    /// Computes every item of `cache`'s dataset.
    pub fn generate(cache: &LightCache) -> Self {
        let items = (0..cache.dataset_items as u32)
            .map(|i| cache.dataset_item(i))
            .collect();
        Self { items }
    }

    /// The items.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Hashes `header_hash` and `nonce` over the dataset.
    pub fn hash(&self, header_hash: &[u8; 32], nonce: u64) -> EthashHash {
        hashimoto(header_hash, nonce, self.items.len() as u64, |i| {
            self.items[i as usize]
        })
    }
}

/// Hashimoto's two outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthashHash {
    /// The 32-byte compressed mix, which a block header carries.
    pub mix: [u8; 32],
    /// The final hash, compared (big-endian) with `2^256 / difficulty`.
    pub result: [u8; 32],
}

/// Hashimoto over any source of dataset items (`lookup(i)` returns 64-byte item `i` of
/// a dataset of `dataset_items` items).
pub fn hashimoto(
    header_hash: &[u8; 32],
    nonce: u64,
    dataset_items: u64,
    mut lookup: impl FnMut(u32) -> Item,
) -> EthashHash {
    let mut input = [0u8; 40];
    input[..32].copy_from_slice(header_hash);
    input[32..].copy_from_slice(&nonce.to_le_bytes());
    let s = words(&keccak512(&input));
    let mut mix = [0u32; 32];
    mix[..16].copy_from_slice(&s);
    mix[16..].copy_from_slice(&s);
    let pages = (dataset_items / 2) as u32;
    for i in 0..ACCESSES {
        let p = fnv(i ^ s[0], mix[(i % 32) as usize]) % pages * 2;
        let (a, b) = (lookup(p), lookup(p + 1));
        for (k, m) in mix.iter_mut().enumerate() {
            let w = if k < 16 { a[k] } else { b[k - 16] };
            *m = fnv(*m, w);
        }
    }
    let mut cmix = [0u8; 32];
    for (k, out) in cmix.chunks_exact_mut(4).enumerate() {
        let m = &mix[4 * k..4 * k + 4];
        out.copy_from_slice(&fnv(fnv(fnv(m[0], m[1]), m[2]), m[3]).to_le_bytes());
    }
    let mut fin = [0u8; 96];
    fin[..64].copy_from_slice(&bytes(&s));
    fin[64..].copy_from_slice(&cmix);
    EthashHash {
        mix: cmix,
        result: keccak256(&fin),
    }
}

/// Whether `result` (big-endian) meets `difficulty`: `result <= floor(2^256 / difficulty)`,
/// as Ethereum clients compare it.
pub fn meets_difficulty(result: &[u8; 32], difficulty: u128) -> bool {
    use ruint::aliases::U256;
    if difficulty == 0 {
        return false;
    }
    let d = U256::from(difficulty);
    // floor(2^256 / d) from floor((2^256 - 1) / d): one more when d divides 2^256.
    let mut boundary = U256::MAX / d;
    if U256::MAX % d == d - U256::from(1u8) {
        boundary = boundary.saturating_add(U256::from(1u8));
    }
    U256::from_be_bytes(*result) <= boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_specification() {
        // Epoch 0: the first primes below 16 MiB and 1 GiB, as every implementation has.
        assert_eq!(Epoch::ethash(0).cache_bytes(), 16_776_896);
        assert_eq!(Epoch::ethash(0).dataset_bytes(), 1_073_739_904);
        assert_eq!(Epoch::ethash(1).cache_bytes(), 16_907_456);
        assert_eq!(Epoch::ethash(1).dataset_bytes(), 1_082_130_304);
    }

    #[test]
    fn etchash_epochs_double_and_keep_the_seed_schedule() {
        let etc = Schedule::ETC;
        assert_eq!(etc.epoch(11_699_999), Ok(Epoch::ethash(389)));
        let first = etc.epoch(11_700_000).expect("epoch");
        assert_eq!(
            first,
            Epoch {
                number: 195,
                seed_rounds: 390
            }
        );
        assert_eq!(first.seed(), Epoch::ethash(390).seed());
        assert_eq!(first.dataset_bytes(), Epoch::ethash(195).dataset_bytes());
        assert!(Schedule::Ethash.epoch(u64::MAX).is_err());
    }

    #[test]
    fn the_light_and_full_paths_agree_on_a_tiny_dataset() {
        let cache = LightCache::with_sizes(&[7; 32], 64 * 37, 128 * 61).expect("sizes");
        let full = Dataset::generate(&cache);
        for nonce in 0..20u64 {
            let h = [nonce as u8; 32];
            assert_eq!(cache.hash(&h, nonce), full.hash(&h, nonce));
        }
        assert!(LightCache::with_sizes(&[0; 32], 65, 128).is_err());
        assert!(LightCache::with_sizes(&[0; 32], 64, 64).is_err());
    }

    #[test]
    fn difficulty_is_a_boundary() {
        let mut r = [0u8; 32];
        r[0] = 0x80; // 2^255: exactly 2^256 / 2
        assert!(meets_difficulty(&r, 1));
        assert!(meets_difficulty(&r, 2));
        r[31] = 1;
        assert!(!meets_difficulty(&r, 2));
        assert!(meets_difficulty(&[0xff; 32], 1));
        assert!(!meets_difficulty(&r, 0));
        // 2^256 / 3 = 0x5555...55 (floor).
        assert!(meets_difficulty(&[0x55; 32], 3));
        let mut over = [0x55; 32];
        over[31] = 0x56;
        assert!(!meets_difficulty(&over, 3));
    }
}
