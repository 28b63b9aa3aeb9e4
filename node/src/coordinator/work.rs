//! The node's [`WorkSource`]: one immutable [`WorkTemplate`] per work generation, and
//! the share template of each payout script derived from it on first use.

use otedama_sharechain::{PayoutScript, ShareTemplate, WorkTemplate};
use otedama_stratum::{WorkError, WorkSource};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Payout scripts cached per generation at most; a flood of addresses starts over.
const MAX_CACHED_SCRIPTS: usize = 4096;

/// The templates of one work generation. Holds no chain state: the coordinator built
/// the generation, and deriving a payout script's template only reads it.
pub(crate) struct NodeWork {
    generation: Arc<WorkTemplate>,
    /// Derived templates, so every session of a payout script gets the same `Arc` (and
    /// Stratum encodes its job once). Only derived values live behind this lock.
    cache: Mutex<BTreeMap<PayoutScript, Arc<ShareTemplate>>>,
}

impl NodeWork {
    /// Work from `generation`.
    pub(crate) fn new(generation: Arc<WorkTemplate>) -> Self {
        Self {
            generation,
            cache: Mutex::new(BTreeMap::new()),
        }
    }
}

impl WorkSource for NodeWork {
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError> {
        // A panic elsewhere cannot leave a derived cache inconsistent: reuse it.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = cache.get(payout) {
            return Ok(Arc::clone(t));
        }
        if cache.len() >= MAX_CACHED_SCRIPTS {
            cache.clear();
        }
        let t = Arc::new(self.generation.for_payout(payout.clone()));
        cache.insert(payout.clone(), Arc::clone(&t));
        Ok(t)
    }
}
