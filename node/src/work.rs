//! The node's [`WorkSource`]: share templates for the current parent template and share
//! tip, one per payout script, cached for the generation.

use otedama_sharechain::coinbase::BlockTemplate;
use otedama_sharechain::{PayoutScript, ShareChain, ShareTemplate};
use otedama_stratum::{WorkError, WorkSource};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Templates of one work generation.
pub struct NodeWork {
    chain: Arc<Mutex<ShareChain>>,
    block: BlockTemplate,
    cache: Mutex<BTreeMap<PayoutScript, Arc<ShareTemplate>>>,
}

impl NodeWork {
    /// Work on `block` and the current tip of `chain`.
    pub fn new(chain: Arc<Mutex<ShareChain>>, block: BlockTemplate) -> Self {
        Self {
            chain,
            block,
            cache: Mutex::new(BTreeMap::new()),
        }
    }
}

impl WorkSource for NodeWork {
    fn template_for(&self, payout: &PayoutScript) -> Result<Arc<ShareTemplate>, WorkError> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| WorkError("work cache poisoned".into()))?;
        if let Some(t) = cache.get(payout) {
            return Ok(Arc::clone(t));
        }
        // Bound the cache: one entry per miner address; a flood of addresses starts over.
        if cache.len() >= 4096 {
            cache.clear();
        }
        let mut chain = self
            .chain
            .lock()
            .map_err(|_| WorkError("share chain poisoned".into()))?;
        let t = ShareTemplate::new(&mut chain, self.block.clone(), payout.clone())
            .map(Arc::new)
            .map_err(|e| WorkError(e.to_string()))?;
        cache.insert(payout.clone(), Arc::clone(&t));
        Ok(t)
    }
}
