//! Expanding P2Pool's broadcast forms (pruned outputs, compact transaction lists) back to
//! the full share, from what the chain already holds.

use super::super::error::RuleViolation;
use super::super::keys::{deterministic_tx_keys, output_key};
use super::super::pplns::{ShareLookup, WindowTip, split_reward};
use super::super::share::{MAX_SHARE_SIZE, PoolShare, TxOutput};
use super::SideChain;
use crate::error::DecodeError;

/// Why a broadcast form could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// The blob does not decode or breaks a rule once expanded.
    #[error("{0}")]
    Rule(#[from] RuleViolation),
    /// The compact form needs the parent, or the pruned form the window, and the chain
    /// does not have it yet.
    #[error("the chain lacks the shares this form refers to")]
    Missing,
}

fn invalid(what: &'static str) -> ExpandError {
    ExpandError::Rule(RuleViolation::Decode(DecodeError::Invalid { what }))
}

impl SideChain {
    /// Expands a broadcast blob (pruned when allowed, compact when `compact`) to the full
    /// share; the result still has to be added. The rebuilt outputs must reproduce the
    /// size and sidechain id the pruned form carries.
    ///
    /// # Errors
    /// [`ExpandError::Missing`] without the parent or window, [`ExpandError::Rule`] for an
    /// undecodable blob, a bad parent index or outputs that do not match.
    pub fn expand(
        &self,
        blob: &[u8],
        allow_pruned: bool,
        compact: bool,
    ) -> Result<PoolShare, ExpandError> {
        let (mut share, parts) = PoolShare::parse_form(blob, allow_pruned, compact)
            .map_err(|e| ExpandError::Rule(e.into()))?;
        if parts.tx_refs.iter().any(|&j| j != 0) {
            let parent = self.share(&share.parent).ok_or(ExpandError::Missing)?;
            for (h, &j) in share.tx_hashes.iter_mut().zip(&parts.tx_refs) {
                if j != 0 {
                    let idx = usize::try_from(j - 1).map_err(|_| invalid("tx parent index"))?;
                    *h = *parent
                        .tx_hashes
                        .get(idx)
                        .ok_or_else(|| invalid("tx parent index"))?;
                }
            }
        }
        if let Some(p) = parts.pruned {
            let payees = self
                .payees(&WindowTip::of(&share), share.height, &share.tx_key_seed)
                .map_err(|_| ExpandError::Missing)?;
            let amounts =
                split_reward(p.total_reward, &payees).ok_or_else(|| invalid("pruned outputs"))?;
            let (tx_sec, _) = deterministic_tx_keys(&share.tx_key_seed, &share.prev_id);
            share.outputs = Vec::with_capacity(payees.len());
            for (i, (payee, amount)) in payees.iter().zip(amounts).enumerate() {
                let k = output_key(&tx_sec, payee.wallet.spend(), payee.wallet.view(), i as u64)
                    .ok_or_else(|| invalid("pruned outputs"))?;
                share.outputs.push(TxOutput {
                    amount,
                    key: k.key,
                    view_tag: k.view_tag,
                });
            }
            if share.outputs_size() != p.outputs_size
                || share.sidechain_id(&self.params.consensus_id) != p.sidechain_id
            {
                return Err(invalid("pruned outputs"));
            }
        }
        if share.serialize().len() > MAX_SHARE_SIZE {
            return Err(invalid("expanded share size"));
        }
        Ok(share)
    }
}
