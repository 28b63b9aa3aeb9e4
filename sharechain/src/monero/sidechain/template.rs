//! Building the next share on the tip: what a Stratum job for a Monero miner carries.

use super::super::hash::Hash;
use super::super::keys::{deterministic_tx_keys, output_key};
use super::super::merkle::encode_tree_data;
use super::super::pplns::{WindowTip, split_reward};
use super::super::share::{EXTRA_NONCE_MIN, PoolShare, TxOutput};
use super::super::wallet::Wallet;
use super::SideChain;

/// Otedama's software id in the sidechain extra (`"Otdm"` as a u32 LE); P2Pool writes 0.
pub const SOFTWARE_ID: u32 = u32::from_le_bytes(*b"Otdm");

/// The Monero side of a new block, from the daemon's template or miner data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneroJob {
    /// Block major version (the hard fork at `height`).
    pub major_version: u8,
    /// Block timestamp.
    pub timestamp: u64,
    /// Id of the Monero block to build on.
    pub prev_id: Hash,
    /// Height of the new block.
    pub height: u64,
    /// Coinbase reward: base reward plus the fees of `tx_hashes`.
    pub reward: u64,
    /// Transactions to include.
    pub tx_hashes: Vec<Hash>,
}

/// Why no share could be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The window or the difficulty needs a share the chain does not hold.
    #[error("the chain is missing shares of the window")]
    IncompleteWindow,
    /// The Monero difficulty at the seed height is unknown.
    #[error("Monero difficulty at the seed height is unknown")]
    MoneroDifficulty,
    /// The reward cannot be split over the window.
    #[error("the reward cannot be split")]
    Split,
}

impl SideChain {
    /// Builds the share `miner` would mine next on the tip (the genesis share on an empty
    /// chain), with nonce and extra nonce 0. Its outputs pay the PPLNS window exactly as
    /// every node will verify them.
    ///
    /// # Errors
    /// [`TemplateError`] when the window, the difficulty or the Monero difficulty is missing
    /// or the reward cannot be split.
    pub fn build_share(
        &mut self,
        miner: Wallet,
        job: &MoneroJob,
    ) -> Result<PoolShare, TemplateError> {
        let p = self.params.clone();
        let (parent, height, difficulty, cumulative, uncles, seed) = match self.tip {
            None => (
                Hash::ZERO,
                0,
                p.min_difficulty,
                p.min_difficulty,
                Vec::new(),
                p.consensus_id,
            ),
            Some(t) => {
                let next = self
                    .next_block(miner, job.height)
                    .ok_or(TemplateError::IncompleteWindow)?;
                let tip = &self.entries[t];
                let seed = if job.prev_id == tip.share.prev_id {
                    tip.share.tx_key_seed
                } else {
                    tip.share.child_tx_key_seed()
                };
                let mut cum = tip
                    .share
                    .cumulative_difficulty
                    .wrapping_add(next.difficulty);
                for u in &next.uncles {
                    let ui = self.get(u).ok_or(TemplateError::IncompleteWindow)?;
                    cum = cum.wrapping_add(self.entries[ui].share.difficulty);
                }
                (
                    tip.id,
                    tip.share.sidechain_height + 1,
                    next.difficulty,
                    cum,
                    next.uncles,
                    seed,
                )
            }
        };
        let window_tip = WindowTip {
            height,
            difficulty,
            wallet: miner,
            uncles: uncles.clone(),
            parent,
            timestamp: job.timestamp,
        };
        let payees = self
            .payees(&window_tip, job.height, &seed)
            .map_err(|e| match e {
                super::PayeeFailure::Missing(_) => TemplateError::IncompleteWindow,
                super::PayeeFailure::MoneroDifficulty(_) => TemplateError::MoneroDifficulty,
            })?;
        let amounts = split_reward(job.reward, &payees).ok_or(TemplateError::Split)?;
        let (tx_sec, tx_pub) = deterministic_tx_keys(&seed, &job.prev_id);
        let mut outputs = Vec::with_capacity(payees.len());
        for (i, (payee, amount)) in payees.iter().zip(amounts).enumerate() {
            let k = output_key(&tx_sec, payee.wallet.spend(), payee.wallet.view(), i as u64)
                .ok_or(TemplateError::Split)?;
            outputs.push(TxOutput {
                amount,
                key: k.key,
                view_tag: k.view_tag,
            });
        }
        let mut share = PoolShare {
            major_version: job.major_version,
            minor_version: job.major_version.max(16),
            timestamp: job.timestamp,
            prev_id: job.prev_id,
            nonce: 0,
            height: job.height,
            outputs,
            tx_pub,
            extra_nonce_size: EXTRA_NONCE_MIN,
            extra_nonce: 0,
            merkle_tree_data: encode_tree_data(1, 0),
            merkle_root: Hash::ZERO,
            tx_hashes: job.tx_hashes.clone(),
            wallet: miner,
            tx_key_seed: seed,
            parent,
            uncles,
            sidechain_height: height,
            difficulty,
            cumulative_difficulty: cumulative,
            merkle_proof: Vec::new(),
            mm_extra: Vec::new(),
            sidechain_extra: [SOFTWARE_ID, 0, 0, 0],
        };
        // With P2Pool as the only chain the merkle root is the sidechain id itself.
        share.merkle_root = share.merge_mining_root(&p.consensus_id);
        Ok(share)
    }
}
