//! What the API asks the sidechain's owner, and the pure functions that answer from the
//! [`SideChain`]: pages of the main chain, the split of a block found now, and one
//! wallet's part of the window.

use otedama_sharechain::monero::{Hash, MoneroJob, MoneroNetwork, SideChain, Wallet};
use otedama_sharechain::pplns::MinerWindow;
use std::collections::BTreeSet;
use tokio::sync::oneshot;

/// A question for the owner; each carries where its answer goes.
#[derive(Debug)]
pub(crate) enum Query {
    /// One page of the main chain, newest first.
    Shares {
        /// Page index from 0.
        index: u64,
        /// Shares per page.
        per_page: u64,
        /// The answer.
        reply: oneshot::Sender<SharePage>,
    },
    /// The split of a block `finder` would find now.
    Expected {
        /// Who finds it (the node's wallet by default).
        finder: Option<Wallet>,
        /// The answer.
        reply: oneshot::Sender<Expected>,
    },
    /// One wallet's part of the window ending at the tip, and of a block found now.
    Miner {
        /// The wallet.
        wallet: Wallet,
        /// The answer.
        reply: oneshot::Sender<MinerFacts>,
    },
}

/// One main-chain share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShareRow {
    pub id: Hash,
    pub height: u64,
    pub timestamp: u64,
    pub wallet: Wallet,
    pub difficulty: u128,
    pub uncles: usize,
    /// The Monero block it builds on.
    pub prev_id: Hash,
}

/// A page of the main chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SharePage {
    /// Main-chain shares held.
    pub total: u64,
    /// The page, newest first.
    pub rows: Vec<ShareRow>,
}

/// The split of a block found now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expected {
    /// The tip it builds on.
    pub tip: Option<Hash>,
    /// The Monero height it would have.
    pub monero_height: Option<u64>,
    /// The coinbase reward.
    pub reward: u64,
    /// Each payee with its amount, in output order.
    pub payouts: Vec<(Wallet, u64)>,
}

/// One wallet's part of the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MinerFacts {
    /// The window ending at the tip, from the wallet's side.
    pub window: MinerWindow,
    /// A block found now (by the node's wallet).
    pub expected: Expected,
    /// The wallet's output in it; 0 when it has none.
    pub amount: u64,
    /// The difficulty of the Monero block being mined.
    pub monero_difficulty: u128,
}

/// Returns page `index` of the main chain.
pub(crate) fn shares(chain: &SideChain, index: u64, per_page: u64) -> SharePage {
    let skip = usize::try_from(index.saturating_mul(per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(usize::MAX);
    SharePage {
        total: chain.main_chain().count() as u64,
        rows: chain
            .main_chain()
            .skip(skip)
            .take(take)
            .map(|(id, s)| ShareRow {
                id: *id,
                height: s.sidechain_height,
                timestamp: s.timestamp,
                wallet: s.wallet,
                difficulty: s.difficulty,
                uncles: s.uncles.len(),
                prev_id: s.prev_id,
            })
            .collect(),
    }
}

/// Returns what a share `finder` mines on the tip for `job` would pay, or an empty split
/// without a job or a whole window.
pub(crate) fn expected(chain: &mut SideChain, job: Option<&MoneroJob>, finder: Wallet) -> Expected {
    let tip = chain.tip().map(|(id, _)| *id);
    let Some(job) = job else {
        return Expected {
            tip,
            ..Expected::default()
        };
    };
    let payouts = chain
        .next_block(finder, job.height)
        .and_then(|next| otedama_sharechain::monero::sidechain::payouts(&next.payees, job.reward))
        .unwrap_or_default();
    Expected {
        tip,
        monero_height: Some(job.height),
        reward: job.reward,
        payouts,
    }
}

/// Returns `wallet`'s part of the window ending at the tip and of a block `finder` would
/// find now.
pub(crate) fn miner(
    chain: &mut SideChain,
    job: Option<&MoneroJob>,
    finder: Wallet,
    wallet: Wallet,
    monero_difficulty: u128,
) -> MinerFacts {
    let expected = expected(chain, job, finder);
    let amount = expected
        .payouts
        .iter()
        .filter(|(w, _)| *w == wallet)
        .map(|(_, a)| *a)
        .sum();
    MinerFacts {
        window: window_of(chain, wallet),
        expected,
        amount,
        monero_difficulty,
    }
}

/// `wallet`'s side of the window ending at the tip (empty without a whole window).
fn window_of(chain: &SideChain, wallet: Wallet) -> MinerWindow {
    let credits = chain.tip_window().unwrap_or_default();
    let time = |t: u64| u32::try_from(t).unwrap_or(u32::MAX);
    let mut w = MinerWindow {
        oldest_time: credits.iter().map(|c| time(c.timestamp)).min().unwrap_or(0),
        newest_time: credits.iter().map(|c| time(c.timestamp)).max().unwrap_or(0),
        ..MinerWindow::default()
    };
    let mut miners = BTreeSet::new();
    for c in &credits {
        miners.insert(c.wallet);
        w.window_weight = w.window_weight.saturating_add(c.weight);
        w.window_shares += u32::from(!c.uncle);
        if c.wallet == wallet {
            w.weight = w.weight.saturating_add(c.weight);
            if c.uncle {
                w.uncles += 1;
            } else {
                w.shares += 1;
            }
            w.found.push((time(c.timestamp), c.difficulty));
        }
    }
    w.window_miners = miners.len() as u32;
    w
}

/// The address a wallet is paid at (Monero's mainnet form, which regtest uses too).
pub(crate) fn address(wallet: &Wallet) -> String {
    wallet.address(MoneroNetwork::Mainnet)
}
