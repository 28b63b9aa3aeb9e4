//! From a parent block template to a share template: the share metadata for the
//! current tip, the PPLNS coinbase, and the merkle branch. Stratum jobs and the
//! built-in miner work from this; a solved header turns it into a [`Share`].

use crate::chain::ShareChain;
use crate::coinbase::{
    BlockTemplate, Coinbase, CoinbaseParts, assemble_block, build_coinbase, merkle_branch,
};
use crate::pplns::{Payout, Weights};
use crate::validate::{parent_work, payouts_for, required_target};
use crate::{
    BlockHeader, BuildError, ChainSpec, CompactTarget, PayoutScript, Share, ShareBody, ShareError,
    ShareHash, ShareHeader, ShareInfo,
};

/// Everything needed to hand out work for one (tip, parent template, payout script).
#[derive(Clone, Debug)]
pub struct ShareTemplate {
    /// The committed share metadata.
    pub info: ShareInfo,
    /// The coinbase payouts (PPLNS window ending at the tip).
    pub payouts: Vec<Payout>,
    /// The share commitment placed in the coinbase.
    pub commitment: [u8; 32],
    /// Merkle branch of the coinbase over the template's transactions.
    pub merkle_branch: Vec<[u8; 32]>,
    /// Earliest valid header time: above the parent template's `mintime` and above the
    /// sharechain's median time past, so shares arriving faster than one per second
    /// still get valid timestamps.
    pub min_time: u32,
    /// The parent template this builds on.
    pub block: BlockTemplate,
}

/// What every share template of one work generation shares: the tip it builds on, its
/// uncles, the PPLNS window's weights and the parent template. The chain's owner builds
/// it once per generation; templates per payout script are derived from it without the
/// chain, so Stratum sessions never touch chain state.
#[derive(Clone, Debug)]
pub struct WorkTemplate {
    spec: ChainSpec,
    prev: ShareHash,
    height: u64,
    share_target: CompactTarget,
    uncles: Vec<ShareHash>,
    weights: Weights,
    min_time: u32,
    merkle_branch: Vec<[u8; 32]>,
    block: BlockTemplate,
}

impl WorkTemplate {
    /// Builds the generation for a share on top of `chain`'s best tip, including every
    /// acceptable uncle.
    ///
    /// # Errors
    /// An invalid parent target, or a window that cannot be walked.
    pub fn new(chain: &mut ShareChain, block: BlockTemplate) -> Result<Self, ShareError> {
        let prev = chain.tip().map_or(ShareHash::ZERO, |t| t.hash);
        let uncles = if prev.is_zero() {
            Vec::new()
        } else {
            chain.uncle_candidates(prev)
        };
        Self::on(chain, block, prev, uncles)
    }

    /// Builds the generation for a share on top of `prev` with the given uncles.
    ///
    /// # Errors
    /// As [`WorkTemplate::new`]; a `prev` the chain does not know.
    pub fn on(
        chain: &mut ShareChain,
        block: BlockTemplate,
        prev: ShareHash,
        uncles: Vec<ShareHash>,
    ) -> Result<Self, ShareError> {
        let spec = chain.spec().clone();
        let prev_meta = if prev.is_zero() {
            None
        } else {
            Some(chain.tip_or(prev).ok_or(ShareError::MissingParent(prev))?)
        };
        let weights = match prev_meta {
            None => Weights::default(),
            Some(_) => chain
                .window_for(prev, parent_work(block.bits)?)?
                .weights()
                .clone(),
        };
        let mtp = prev_meta
            .as_ref()
            .and_then(|_| chain.median_time_past(prev));
        Ok(Self {
            height: prev_meta.as_ref().map_or(0, |p| p.height + 1),
            share_target: required_target(&spec, prev_meta.as_ref()),
            min_time: mtp.map_or(block.min_time, |m| block.min_time.max(m.saturating_add(1))),
            merkle_branch: merkle_branch(&block.txids()),
            spec,
            prev,
            uncles,
            weights,
            block,
        })
    }

    /// Returns the share the generation builds on (zero for the first share).
    pub fn prev(&self) -> ShareHash {
        self.prev
    }

    /// Returns the uncles every share of the generation commits to.
    pub fn uncles(&self) -> &[ShareHash] {
        &self.uncles
    }

    /// Returns the parent template.
    pub fn block(&self) -> &BlockTemplate {
        &self.block
    }

    /// Returns the share template paying `payout_script` as the finder: the same window,
    /// split with the finder's credit, and the commitment to its metadata.
    pub fn for_payout(&self, payout_script: PayoutScript) -> ShareTemplate {
        let info = ShareInfo {
            version: self.spec.share_version,
            prev_share: self.prev,
            height: self.height,
            share_target: self.share_target,
            payout_script,
            uncles: self.uncles.clone(),
            parent_height: self.block.height,
            coinbase_value: self.block.coinbase_value,
            witness_commitment: self.block.witness_commitment,
        };
        ShareTemplate {
            payouts: payouts_for(&self.spec, &self.weights, &info),
            commitment: info.commitment(&self.spec.consensus_id()),
            merkle_branch: self.merkle_branch.clone(),
            min_time: self.min_time,
            block: self.block.clone(),
            info,
        }
    }
}

impl ShareTemplate {
    /// Builds the template for a share on top of `chain`'s best tip, including every
    /// acceptable uncle.
    ///
    /// # Errors
    /// As [`WorkTemplate::new`].
    pub fn new(
        chain: &mut ShareChain,
        block: BlockTemplate,
        payout_script: PayoutScript,
    ) -> Result<Self, ShareError> {
        Ok(WorkTemplate::new(chain, block)?.for_payout(payout_script))
    }

    /// Builds the template for a share on top of `prev` with the given uncles.
    ///
    /// # Errors
    /// As [`WorkTemplate::on`].
    pub fn on(
        chain: &mut ShareChain,
        block: BlockTemplate,
        payout_script: PayoutScript,
        prev: ShareHash,
        uncles: Vec<ShareHash>,
    ) -> Result<Self, ShareError> {
        Ok(WorkTemplate::on(chain, block, prev, uncles)?.for_payout(payout_script))
    }

    /// Returns the header time to hand out: the daemon's current time, or the earliest
    /// valid share time if that is later.
    pub fn ntime(&self) -> u32 {
        self.block.cur_time.max(self.min_time)
    }

    /// Builds the coinbase with `extranonce`.
    ///
    /// # Errors
    /// As [`build_coinbase`].
    pub fn coinbase(&self, extranonce: &[u8]) -> Result<Coinbase, BuildError> {
        build_coinbase(
            &CoinbaseParts {
                height: self.info.parent_height,
                payouts: &self.payouts,
                share_commitment: self.commitment,
                witness_commitment: self.info.witness_commitment,
            },
            extranonce,
        )
    }

    /// Returns the header for a coinbase, with the miner's time, nonce and version.
    pub fn header(&self, coinbase: &Coinbase, time: u32, nonce: u32, version: i32) -> BlockHeader {
        BlockHeader {
            version,
            prev_block: self.block.prev_block,
            merkle_root: crate::coinbase::merkle_root_from_branch(
                coinbase.txid(),
                &self.merkle_branch,
            ),
            time,
            bits: self.block.bits,
            nonce,
        }
    }

    /// Turns a solved header into a share (a KawPow share then takes its seal).
    pub fn share(&self, header: BlockHeader, extranonce: &[u8], coinbase: &Coinbase) -> Share {
        Share {
            header: ShareHeader {
                block: header,
                seal: None,
                info: self.info.clone(),
            },
            body: ShareBody {
                extranonce: extranonce.to_vec(),
                coinbase: coinbase.stripped.clone(),
                merkle_branch: self.merkle_branch.clone(),
            },
        }
    }

    /// Assembles the full parent block of a share's header for `submitblock`.
    pub fn block_bytes(&self, header: &ShareHeader, coinbase: &Coinbase) -> Vec<u8> {
        assemble_block(&header.parent_header_bytes(), coinbase, &self.block)
    }
}

/// Builders that mine real shares at the easy regtest targets, for tests and benches.
#[cfg(feature = "test-utils")]
pub mod test_utils {
    use super::*;
    use crate::coinbase::TemplateTx;
    use crate::{Amount, BlockHash, CompactTarget, Target, Txid};

    /// A regtest-shaped parent template with `n_tx` dummy transactions.
    pub fn regtest_template(height: u32, n_tx: usize) -> BlockTemplate {
        BlockTemplate {
            version: 0x2000_0000,
            prev_block: BlockHash::from_bytes([0x11; 32]),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            height,
            cur_time: 1_700_000_000,
            min_time: 1_600_000_000,
            coinbase_value: Amount::from_sat(50 * 100_000_000),
            transactions: (0..n_tx)
                .map(|i| TemplateTx {
                    data: vec![i as u8; 60],
                    txid: Txid::from_bytes([i as u8 ^ 0x5a; 32]),
                })
                .collect(),
            witness_commitment: Some([0x77; 32]),
            mweb: None,
        }
    }

    /// A distinct P2WPKH payout script per number.
    pub fn script(n: u32) -> PayoutScript {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&n.to_be_bytes());
        PayoutScript::p2wpkh(h)
    }

    /// Grinds the nonce until the header meets the share target. Returns the share.
    ///
    /// # Panics
    /// If no nonce in 2^32 meets the target (impossible at regtest targets).
    pub fn solve(
        t: &ShareTemplate,
        spec_algo: crate::PowAlgorithm,
        time: u32,
        extranonce: &[u8],
    ) -> Share {
        let cb = t.coinbase(extranonce).expect("test extranonce is valid");
        let target = Target::from_compact(t.info.share_target).expect("template target is valid");
        for nonce in 0..=u32::MAX {
            let header = t.header(&cb, time, nonce, t.block.version);
            if target.is_met_by(&spec_algo.hash(&header.to_bytes())) {
                return t.share(header, extranonce, &cb);
            }
        }
        panic!("no nonce meets the share target");
    }

    /// Grinds a KawPow seal until it meets the share target: the header carries the
    /// parent height where the nonce was.
    ///
    /// # Panics
    /// If no nonce in 2^32 meets the target (impossible at regtest targets).
    pub fn solve_kawpow(
        t: &ShareTemplate,
        verifier: &crate::KawpowVerifier,
        time: u32,
        extranonce: &[u8],
    ) -> Share {
        let cb = t.coinbase(extranonce).expect("test extranonce is valid");
        let target = Target::from_compact(t.info.share_target).expect("template target is valid");
        let header = t.header(&cb, time, t.info.parent_height, t.block.version);
        let height = u64::from(t.info.parent_height);
        let ctx = verifier.context(height).expect("a supported epoch");
        let header_hash = crate::kawpow_header_hash(&header);
        for nonce in 0..u64::from(u32::MAX) {
            let h = ctx.hash(height, &header_hash, nonce);
            let mut pow = h.result;
            pow.reverse();
            if target.is_met_by(&crate::PowHash::from_bytes(pow)) {
                let mut share = t.share(header, extranonce, &cb);
                share.header.seal = Some(crate::KawpowSeal { nonce, mix: h.mix });
                return share;
            }
        }
        panic!("no nonce meets the share target");
    }

    /// Mines a share on the tip of `chain` paying `payout`, at the on-schedule time.
    pub fn mine_on_tip(chain: &mut ShareChain, payout: PayoutScript, extranonce: &[u8]) -> Share {
        let spec = chain.spec().clone();
        let (height, time) = match chain.tip() {
            None => (0u64, 1_700_000_000u32),
            Some(t) => (t.height + 1, t.time + spec.share_period_secs as u32),
        };
        let tpl = ShareTemplate::new(chain, regtest_template(100 + height as u32, 3), payout)
            .expect("template on a known tip");
        let time = time.max(tpl.min_time);
        match spec.seal {
            crate::Seal::Nonce => solve(&tpl, spec.algorithm, time, extranonce),
            crate::Seal::Kawpow => solve_kawpow(&tpl, chain.kawpow(), time, extranonce),
        }
    }
}
