//! `GET /api/miner/{address}`: one payout address's view, assembled from the sharechain
//! owner's answer (its part of the window and of a block found now), the Stratum workers
//! and the found blocks, for a chain of either family. The arithmetic (hashrate buckets,
//! variance) is pure and tested here.

use otedama_rpc::{
    HashratePoint, MinerExpected, MinerHashrate, MinerPayout, MinerVariance, MinerView,
    MinerWindowView, OnChainState, Worker,
};
use otedama_sharechain::pplns::MinerWindow;

/// Most buckets of a miner's sharechain hashrate series.
const SERIES_BUCKETS: u64 = 24;

/// The sharechain's shape, as the view's arithmetic needs it.
#[derive(Clone, Debug)]
pub(crate) struct ChainShape {
    /// The chain spec's name.
    pub name: String,
    /// Target seconds between shares.
    pub share_period_secs: u64,
    /// The window's cap in shares.
    pub window_max_shares: u32,
}

/// The miner's part of the chain, as the sharechain's owner answers it.
#[derive(Clone, Debug, Default)]
pub(crate) struct MinerData {
    /// The tip it is computed at.
    pub tip: Option<String>,
    /// The miner's part of the PPLNS window ending at the tip.
    pub window: MinerWindow,
    /// The height a block found now would have.
    pub block_height: Option<u32>,
    /// The template's coinbase value, base units.
    pub reward: u64,
    /// The miner's output in a block found now (zero when it has none).
    pub amount: u64,
    /// Work of the parent block the template builds (0 without a template).
    pub parent_work: u128,
}

impl ChainShape {
    /// The shape of a Bitcoin-family chain.
    pub(crate) fn of(spec: &otedama_sharechain::ChainSpec) -> Self {
        Self {
            name: spec.name.to_owned(),
            share_period_secs: spec.share_period_secs,
            window_max_shares: spec.window_max_shares,
        }
    }
}

/// What `block` paid `address`, as the miner page lists it; `None` when it paid nothing.
pub(crate) fn paid_to(block: otedama_rpc::FoundBlock, address: &str) -> Option<MinerPayout> {
    let amount = block
        .payouts
        .iter()
        .filter(|p| p.address.as_deref() == Some(address))
        .fold(0u64, |sum, p| sum.saturating_add(p.amount_sat));
    (amount > 0).then_some(MinerPayout {
        height: block.height,
        hash: block.hash,
        time: block.time,
        status: block.status,
        chain: block.chain,
        amount_sat: amount,
    })
}

/// The Stratum workers of `address` (user names `address` or `address.worker`).
pub(crate) fn workers_of(workers: &crate::tracker::Workers, address: &str) -> Vec<Worker> {
    let mut all = super::adapter::worker_list(workers);
    all.retain(|w| w.address.eq_ignore_ascii_case(address));
    all
}

/// What the adapter gathers besides the owner's answer.
pub(crate) struct Inputs {
    pub shape: ChainShape,
    pub address: String,
    pub data: MinerData,
    pub workers: Vec<Worker>,
    /// What each found block paid it, newest first.
    pub payouts: Vec<MinerPayout>,
    pub pool_hashrate: f64,
}

/// Assembles the view.
pub(crate) fn view(i: Inputs) -> MinerView {
    let w = &i.data.window;
    let span = window_span(&i.data, &i.shape);
    let found_work: u128 = w.found.iter().map(|f| f.1).fold(0, u128::saturating_add);
    let sharechain = if span > 0 {
        found_work as f64 / span as f64
    } else {
        0.0
    };
    let workers_rate: f64 = i.workers.iter().map(|w| w.hashrate).sum();
    let sum = |state: OnChainState| {
        i.payouts
            .iter()
            .filter(|p| p.chain.state == state)
            .map(|p| p.amount_sat)
            .fold(0u64, u64::saturating_add)
    };
    let (paid_sat, pending_sat) = (sum(OnChainState::Confirmed), sum(OnChainState::Pending));
    let miner_hashrate = if sharechain > 0.0 {
        sharechain
    } else {
        workers_rate
    };
    MinerView {
        address: i.address,
        chain: i.shape.name.clone(),
        window: MinerWindowView {
            shares: w.shares,
            uncles: w.uncles,
            weight: w.weight.to_string(),
            fraction: if w.window_weight > 0 {
                w.weight as f64 / w.window_weight as f64
            } else {
                0.0
            },
            window_shares: w.window_shares,
            window_miners: w.window_miners,
            oldest_time: (w.window_shares > 0).then_some(u64::from(w.oldest_time)),
            newest_time: (w.window_shares > 0).then_some(u64::from(w.newest_time)),
        },
        expected: MinerExpected {
            tip: i.data.tip.clone(),
            block_height: i.data.block_height,
            reward_sat: i.data.reward,
            amount_sat: i.data.amount,
        },
        hashrate: MinerHashrate {
            sharechain,
            workers: workers_rate,
            series: series(&i.data, &i.shape),
        },
        workers: i.workers,
        paid_sat,
        pending_sat,
        payouts: i.payouts,
        variance: variance(
            &i.data,
            &i.shape,
            i.pool_hashrate,
            miner_hashrate,
            share_work(&i.data),
        ),
    }
}

/// Seconds the window covers: from its oldest share to its newest, plus one share
/// period (the oldest share's own time to be found). 0 for an empty window.
fn window_span(data: &MinerData, spec: &ChainShape) -> u64 {
    let w = &data.window;
    if w.window_shares == 0 {
        return 0;
    }
    u64::from(w.newest_time.saturating_sub(w.oldest_time)) + spec.share_period_secs
}

/// The mean work of one window share: the window's weight over its shares.
fn share_work(data: &MinerData) -> f64 {
    let w = &data.window;
    if w.window_shares == 0 {
        return 0.0;
    }
    w.window_weight as f64 / f64::from(w.window_shares)
}

/// The miner's found work over the window in equal buckets, oldest first.
fn series(data: &MinerData, spec: &ChainShape) -> Vec<HashratePoint> {
    let w = &data.window;
    let span = window_span(data, spec);
    if span == 0 {
        return Vec::new();
    }
    let buckets = SERIES_BUCKETS.min(span.div_ceil(spec.share_period_secs).max(1));
    let width = span.div_ceil(buckets);
    let start = u64::from(w.oldest_time);
    let mut work = vec![0u128; buckets as usize];
    for &(time, wk) in &w.found {
        let at = (u64::from(time).saturating_sub(start) / width).min(buckets - 1);
        work[at as usize] = work[at as usize].saturating_add(wk);
    }
    work.iter()
        .enumerate()
        .map(|(k, wk)| HashratePoint {
            time: start + k as u64 * width,
            hashrate: *wk as f64 / width as f64,
        })
        .collect()
}

/// Luck in numbers: a block every `parent work / pool hashrate` seconds; a share every
/// `share work / miner hashrate`; in a full window, `miner / pool` of its shares, with a
/// Poisson spread.
fn variance(
    data: &MinerData,
    spec: &ChainShape,
    pool_hashrate: f64,
    miner_hashrate: f64,
    share_work: f64,
) -> MinerVariance {
    let positive = |x: f64| (x.is_finite() && x > 0.0).then_some(x);
    let expected_block_secs =
        positive(pool_hashrate).and_then(|p| positive(data.parent_work as f64 / p));
    let expected_share_secs =
        positive(miner_hashrate).and_then(|m| positive(share_work).map(|s| s / m));
    // The window as it is now; the spec's cap before the chain has a share.
    let window_shares = match data.window.window_shares {
        0 => spec.window_max_shares,
        n => n,
    };
    let window_shares = f64::from(window_shares);
    let fraction = positive(pool_hashrate)
        .map(|p| (miner_hashrate / p).clamp(0.0, 1.0))
        .unwrap_or(0.0);
    let expected_window_shares = fraction * window_shares;
    MinerVariance {
        pool_hashrate,
        miner_hashrate,
        expected_block_secs,
        expected_share_secs,
        expected_window_shares,
        window_shares_stddev: expected_window_shares.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ChainShape {
        ChainShape::of(otedama_sharechain::ChainSpec::by_name("btc-regtest").expect("built in"))
    }

    fn data(found: Vec<(u32, u128)>, oldest: u32, newest: u32, shares: u32) -> MinerData {
        MinerData {
            window: MinerWindow {
                window_shares: shares,
                window_weight: 100 * u128::from(shares),
                oldest_time: oldest,
                newest_time: newest,
                shares: found.len() as u32,
                weight: found.iter().map(|f| f.1).sum(),
                found,
                ..MinerWindow::default()
            },
            parent_work: 6_000,
            ..MinerData::default()
        }
    }

    #[test]
    fn the_series_spreads_found_work_over_the_window() {
        // 48 s of window (46 s between shares + one 2 s period): 24 buckets of 2 s.
        let d = data(vec![(1046, 100), (1000, 100), (1001, 50)], 1000, 1046, 10);
        let s = series(&d, &spec());
        assert_eq!(s.len(), 24);
        assert_eq!(s[0].time, 1000);
        assert_eq!(s[0].hashrate, 150.0 / 2.0);
        assert_eq!(s[23].time, 1046);
        assert_eq!(s[23].hashrate, 100.0 / 2.0);
        let total: f64 = s.iter().map(|p| p.hashrate * 2.0).sum();
        assert_eq!(total, 250.0, "every unit of work lands in one bucket");
        assert!(series(&data(vec![], 0, 0, 0), &spec()).is_empty());
    }

    #[test]
    fn variance_follows_the_hashrates() {
        let d = data(vec![(1000, 100)], 1000, 1018, 10);
        // Pool 100 H/s, miner 25 H/s: a block in 60 s, a 100-work share every 4 s, and a
        // quarter of the 10-share window: 2.5 ± 1.58 shares.
        let v = variance(&d, &spec(), 100.0, 25.0, 100.0);
        assert_eq!(v.expected_block_secs, Some(60.0));
        assert_eq!(v.expected_share_secs, Some(4.0));
        assert_eq!(v.expected_window_shares, 2.5);
        assert!((v.window_shares_stddev - 2.5f64.sqrt()).abs() < 1e-12);
        // Unknown rates give no figure, never a NaN or an infinity.
        let v = variance(&d, &spec(), 0.0, 0.0, 100.0);
        assert_eq!((v.expected_block_secs, v.expected_share_secs), (None, None));
        assert_eq!(v.expected_window_shares, 0.0);
    }
}
