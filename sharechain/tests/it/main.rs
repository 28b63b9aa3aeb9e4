//! Integration tests of the sharechain crate: validation, chain selection, encoding
//! golden vectors and storage.

mod chain;
mod ethash;
mod golden;
mod monero;
mod store;
mod validation;

use otedama_sharechain::test_utils::mine_on_tip;
use otedama_sharechain::{
    ChainSpec, PayoutScript, Share, ShareChain, ShareError, ShareMeta, TipChange,
    ValidationContext, validate_share,
};

/// A fresh chain of the named spec.
pub fn chain(name: &str) -> ShareChain {
    ShareChain::new(ChainSpec::by_name(name).expect("built-in spec").clone())
}

/// Validates `share` with a clock just after its time and a daemon that knows every block.
pub fn check(chain: &mut ShareChain, share: &Share) -> Result<ShareMeta, ShareError> {
    let ctx = ValidationContext {
        now: u64::from(share.header.block.time) + 10,
        parent_block_known: &|_| true,
    };
    validate_share(chain, share, share.to_bytes().len(), &ctx)
}

/// Validates and inserts; panics with the reason on rejection.
pub fn accept(chain: &mut ShareChain, share: &Share) -> TipChange {
    let meta = check(chain, share).unwrap_or_else(|e| panic!("share rejected: {e}"));
    chain.insert(meta)
}

/// Mines, validates and inserts `n` shares paying `scripts` in turn.
pub fn grow(chain: &mut ShareChain, n: usize, scripts: &[PayoutScript]) -> Vec<Share> {
    (0..n)
        .map(|i| {
            let s = mine_on_tip(chain, scripts[i % scripts.len()].clone(), &[i as u8; 8]);
            accept(chain, &s);
            s
        })
        .collect()
}

/// Mines a share by `miner` on the tip's parent, so it competes with the tip for its
/// height, and accepts it. Returns it and the tip it competes with.
pub fn compete_with_tip(chain: &mut ShareChain, miner: PayoutScript) -> (Share, ShareMeta) {
    use otedama_sharechain::ShareTemplate;
    use otedama_sharechain::test_utils::{regtest_template, solve};
    let tip = chain.tip().expect("tip").clone();
    let parent = chain
        .ancestor_at(tip.hash, tip.height - 1)
        .expect("parent")
        .hash;
    let t = ShareTemplate::on(chain, regtest_template(300, 1), miner, parent, vec![])
        .expect("template");
    let side = solve(&t, chain.spec().algorithm, tip.time, &[7; 8]);
    accept(chain, &side);
    (side, tip)
}
