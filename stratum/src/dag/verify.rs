//! Light verification of DAG shares: one epoch's light cache (KawPow: with its 16 KiB
//! L1), built once per epoch on a blocking thread and shared by every session. A few
//! epochs are kept (the current one, the next one warmed ahead, one more for late
//! shares); an older one is dropped when a new one is needed.

use super::DagAlgorithm;
use otedama_sharechain::ethash::kawpow::KawpowContext;
use otedama_sharechain::ethash::{Epoch, EthashError, LightCache};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Epochs whose caches are kept (each 16 MiB and up).
const MAX_EPOCHS: usize = 3;

/// The two outputs of a DAG hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagHash {
    /// The 32-byte mix hash.
    pub mix: [u8; 32],
    /// The final hash, compared big-endian with the boundary.
    pub result: [u8; 32],
}

/// An epoch's light hasher: slow (every dataset item computed from the cache), exact,
/// and enough to verify or to mine at low difficulty.
#[derive(Debug, Clone)]
pub enum DagHasher {
    /// Ethash or Etchash: hashimoto over the light cache.
    Ethash(LightCache),
    /// KawPow: ProgPoW over the light cache and its L1.
    Kawpow(KawpowContext),
}

impl DagHasher {
    /// Builds the hasher of `algorithm`'s epoch (a second or more per 16 MiB of cache).
    pub fn new(algorithm: DagAlgorithm, epoch: Epoch) -> Self {
        match algorithm {
            DagAlgorithm::Ethash | DagAlgorithm::Etchash => Self::Ethash(LightCache::new(epoch)),
            DagAlgorithm::Kawpow => Self::Kawpow(KawpowContext::new(epoch)),
        }
    }

    /// Builds the hasher of the epoch of block `height`.
    ///
    /// # Errors
    /// [`EthashError::EpochTooLarge`] past the largest supported epoch.
    pub fn for_height(algorithm: DagAlgorithm, height: u64) -> Result<Self, EthashError> {
        Ok(Self::new(algorithm, algorithm.epoch(height)?))
    }

    /// Hashes `header_hash` with `nonce` at block `height` (KawPow's period; Ethash
    /// ignores it).
    pub fn hash(&self, height: u64, header_hash: &[u8; 32], nonce: u64) -> DagHash {
        match self {
            Self::Ethash(cache) => {
                let h = cache.hash(header_hash, nonce);
                DagHash {
                    mix: h.mix,
                    result: h.result,
                }
            }
            Self::Kawpow(ctx) => {
                let h = ctx.hash(height, header_hash, nonce);
                DagHash {
                    mix: h.mix,
                    result: h.result,
                }
            }
        }
    }
}

type Slot = Arc<OnceLock<Arc<DagHasher>>>;

/// The hashers of the last few epochs of one algorithm.
#[derive(Debug)]
pub(crate) struct EpochCaches {
    algorithm: DagAlgorithm,
    slots: Mutex<VecDeque<(Epoch, Slot)>>,
}

impl EpochCaches {
    /// Returns an empty set for `algorithm`.
    pub(crate) fn new(algorithm: DagAlgorithm) -> Self {
        Self {
            algorithm,
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// Returns `epoch`'s hasher, building it if needed. Blocks (for seconds when it
    /// builds): call it from a blocking thread. Concurrent callers for one epoch wait
    /// for a single build.
    pub(crate) fn get_blocking(&self, epoch: Epoch) -> Arc<DagHasher> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.iter().find(|(e, _)| *e == epoch) {
                Some((_, slot)) => slot.clone(),
                None => {
                    let slot = Slot::default();
                    if slots.len() >= MAX_EPOCHS {
                        slots.pop_front();
                    }
                    slots.push_back((epoch, slot.clone()));
                    slot
                }
            }
        };
        slot.get_or_init(|| Arc::new(DagHasher::new(self.algorithm, epoch)))
            .clone()
    }
}
