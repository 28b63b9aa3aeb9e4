//! [`HistoryStore`]: the rings of every series and their minute and hour points. Pure:
//! every call takes the time, so tests move the clock at will.

use std::collections::BTreeMap;

/// Seconds in a minute point.
pub const MINUTE_SECS: u64 = 60;
/// Seconds in an hour point.
pub const HOUR_SECS: u64 = 3600;
/// Minute points kept per series: 24 h.
pub const MINUTE_POINTS: usize = 24 * 60;
/// Hour points kept per series: 30 days.
pub const HOUR_POINTS: usize = 30 * 24;
/// Miners tracked at most; past it the one whose last share is oldest is dropped.
pub const MAX_MINERS: usize = 1000;
/// Of those, miners whose workers' own hashrate is kept too (those with Stratum workers
/// on this node: the owner's rigs, and a public node's customers).
pub const MAX_WORKER_SERIES: usize = 64;
/// A miner without a share for this long is dropped with its series.
pub const MINER_TTL_SECS: u64 = 24 * 3600;
/// Largest store: every series full, 4 bytes a point, plus the names. This bounds both
/// the memory and the file.
pub const MAX_STORE_BYTES: usize =
    (FIXED_SERIES.len() + MAX_MINERS + MAX_WORKER_SERIES) * (MINUTE_POINTS + HOUR_POINTS) * 4
        + MAX_MINERS * 128;

// The worst case documented in the module and in docs/api.md.
const _: () = assert!(MINUTE_POINTS + HOUR_POINTS == 2160 && MAX_STORE_BYTES < 9_500_000);

/// The points of each series asked for, `(unix_secs, value)` oldest first, and their
/// spacing in seconds.
pub type Points = (BTreeMap<String, Vec<(u64, f64)>>, u64);

/// How a series' minutes add up to an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Kind {
    /// A rate or a reading: the hour is the mean of its minutes; two readings in one
    /// minute (only around a restart) keep the larger.
    Gauge,
    /// Events in the interval: the hour is the sum of its minutes; two readings in one
    /// minute add.
    Count,
}

/// The series every node keeps, by name, with their kinds.
pub const FIXED_SERIES: [(&str, Kind); 7] = [
    ("pool_hashrate", Kind::Gauge),
    ("local_hashrate", Kind::Gauge),
    ("shares_accepted", Kind::Count),
    ("shares_rejected", Kind::Count),
    ("shares_stale", Kind::Count),
    ("stratum_connections", Kind::Gauge),
    ("peers", Kind::Gauge),
];

/// The prefix of a miner's series name: its hashrate as the sharechain sees it.
pub const MINER_PREFIX: &str = "miner:";
/// The prefix of a miner's workers' series: its hashrate as its Stratum workers on this
/// node report it.
pub const WORKERS_PREFIX: &str = "workers:";

/// A fixed number of consecutive slots of `res` seconds ending at `head`, each a value
/// or `NaN` for none. Slot `i` covers `[i * res, (i + 1) * res)`.
#[derive(Debug, Clone, bincode::Encode, bincode::Decode)]
pub(crate) struct Ring {
    res: u64,
    head: Option<u64>,
    values: Vec<f32>,
}

/// Equal when every slot holds the same bits, so empty (`NaN`) slots compare equal.
impl PartialEq for Ring {
    fn eq(&self, other: &Self) -> bool {
        self.res == other.res
            && self.head == other.head
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Ring {
    fn new(res: u64, len: usize) -> Self {
        Self {
            res,
            head: None,
            values: vec![f32::NAN; len],
        }
    }

    fn pos(&self, index: u64) -> usize {
        (index % self.values.len() as u64) as usize
    }

    /// Whether slot `index` is within the span ending at the head.
    fn holds(&self, index: u64) -> bool {
        self.head
            .is_some_and(|h| index <= h && h - index < self.values.len() as u64)
    }

    fn get(&self, index: u64) -> Option<f32> {
        if !self.holds(index) {
            return None;
        }
        let v = self.values[self.pos(index)];
        (!v.is_nan()).then_some(v)
    }

    /// Moves the head forward to `index`, clearing the slots it passes. An older index
    /// leaves the ring as it is.
    fn advance(&mut self, index: u64) {
        let len = self.values.len() as u64;
        match self.head {
            Some(h) if index <= h => return,
            Some(h) if index - h < len => {
                for i in h + 1..=index {
                    let p = self.pos(i);
                    self.values[p] = f32::NAN;
                }
            }
            _ => self.values.fill(f32::NAN),
        }
        self.head = Some(index);
    }

    /// Sets slot `index`, moving the head if it is newer; a slot older than the span is
    /// ignored.
    fn set(&mut self, index: u64, value: f32) {
        self.advance(index);
        if self.holds(index) {
            let p = self.pos(index);
            self.values[p] = value;
        }
    }

    /// Returns the points from `from` (Unix seconds) to the head, oldest first.
    fn points(&self, from: u64) -> Vec<(u64, f64)> {
        let Some(head) = self.head else {
            return Vec::new();
        };
        let first = (from / self.res).max((head + 1).saturating_sub(self.values.len() as u64));
        (first..=head)
            .filter_map(|i| self.get(i).map(|v| (i * self.res, f64::from(v))))
            .collect()
    }

    fn well_formed(&self, res: u64, len: usize) -> bool {
        self.res == res && self.values.len() == len
    }
}

/// One series: its minutes and hours.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub(crate) struct Series {
    kind: Kind,
    minutes: Ring,
    hours: Ring,
}

impl Series {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            minutes: Ring::new(MINUTE_SECS, MINUTE_POINTS),
            hours: Ring::new(HOUR_SECS, HOUR_POINTS),
        }
    }

    /// Records `value` for the minute holding `at`, and recomputes that minute's hour
    /// from its minutes.
    fn record(&mut self, at: u64, value: f64) {
        let minute = at / MINUTE_SECS;
        let value = value as f32;
        let merged = match (self.minutes.get(minute), self.kind) {
            (None, _) => value,
            (Some(old), Kind::Count) => old + value,
            (Some(old), Kind::Gauge) => old.max(value),
        };
        self.minutes.set(minute, merged);
        let hour = at / HOUR_SECS;
        let per_hour = HOUR_SECS / MINUTE_SECS;
        let (sum, n) = (hour * per_hour..(hour + 1) * per_hour)
            .filter_map(|m| self.minutes.get(m))
            .fold((0.0f64, 0u32), |(s, n), v| (s + f64::from(v), n + 1));
        let aggregate = match self.kind {
            Kind::Count => sum,
            Kind::Gauge => sum / f64::from(n.max(1)),
        };
        self.hours.set(hour, aggregate as f32);
    }

    /// Moves both rings to `now`, dropping points older than their span.
    fn advance(&mut self, now: u64) {
        self.minutes.advance(now / MINUTE_SECS);
        self.hours.advance(now / HOUR_SECS);
    }

    fn points(&self, from: u64, hourly: bool) -> Vec<(u64, f64)> {
        if hourly {
            self.hours.points(from)
        } else {
            self.minutes.points(from)
        }
    }

    fn well_formed(&self) -> bool {
        self.minutes.well_formed(MINUTE_SECS, MINUTE_POINTS)
            && self.hours.well_formed(HOUR_SECS, HOUR_POINTS)
    }
}

/// A tracked miner: its last share, its hashrate series, and its workers' when it has
/// workers on this node.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub(crate) struct Miner {
    last_share: u64,
    series: Series,
    workers: Option<Series>,
}

/// One minute's readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// The sharechain's hashrate estimate.
    pub pool_hashrate: f64,
    /// The hashrate of this node's Stratum workers.
    pub local_hashrate: f64,
    /// Submissions accepted since the last sample.
    pub shares_accepted: u64,
    /// Submissions rejected (other than stale) since the last sample.
    pub shares_rejected: u64,
    /// Submissions for outdated jobs since the last sample.
    pub shares_stale: u64,
    /// Stratum connections open.
    pub stratum_connections: u64,
    /// Sharechain peers connected.
    pub peers: u64,
    /// Miners with a share in the sharechain's hashrate window; `None` when the chain
    /// could not be read this minute, so that no miner reads a false zero.
    pub miners: Option<Vec<MinerSample>>,
}

/// One miner's reading.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerSample {
    /// Payout address.
    pub address: String,
    /// The sharechain's estimate of its hashrate.
    pub hashrate: f64,
    /// The sum of its Stratum workers' hashrates on this node, if it has workers here.
    pub workers: Option<f64>,
    /// Unix time of its newest share (sharechain or Stratum).
    pub last_share: u64,
}

/// A series a query named that the store does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown series {0:?}")]
pub struct UnknownSeries(pub String);

/// Every series of the node, bounded by [`MAX_STORE_BYTES`].
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub struct HistoryStore {
    fixed: Vec<Series>,
    miners: BTreeMap<String, Miner>,
}

impl Default for HistoryStore {
    fn default() -> Self {
        Self {
            fixed: FIXED_SERIES.iter().map(|(_, k)| Series::new(*k)).collect(),
            miners: BTreeMap::new(),
        }
    }
}

impl HistoryStore {
    /// Records `sample` for the minute holding `at`. Tracked miners absent from it read
    /// zero; miners silent for [`MINER_TTL_SECS`] are dropped, and past [`MAX_MINERS`]
    /// the one whose last share is oldest.
    pub fn record(&mut self, at: u64, sample: &Sample) {
        let values = [
            sample.pool_hashrate,
            sample.local_hashrate,
            sample.shares_accepted as f64,
            sample.shares_rejected as f64,
            sample.shares_stale as f64,
            sample.stratum_connections as f64,
            sample.peers as f64,
        ];
        for (series, value) in self.fixed.iter_mut().zip(values) {
            series.record(at, value);
        }
        if let Some(miners) = &sample.miners {
            self.record_miners(at, miners);
        }
        self.expire(at);
    }

    fn record_miners(&mut self, at: u64, miners: &[MinerSample]) {
        let mut seen = std::collections::BTreeMap::new();
        for m in miners {
            if self.track(&m.address, m.last_share) {
                seen.insert(m.address.as_str(), m);
            }
        }
        let mut worker_series = self.miners.values().filter(|m| m.workers.is_some()).count();
        for (address, miner) in &mut self.miners {
            let sample = seen.get(address.as_str());
            miner.series.record(at, sample.map_or(0.0, |m| m.hashrate));
            let workers = sample.and_then(|m| m.workers);
            if workers.is_some() && miner.workers.is_none() && worker_series < MAX_WORKER_SERIES {
                miner.workers = Some(Series::new(Kind::Gauge));
                worker_series += 1;
            }
            if let Some(series) = &mut miner.workers {
                series.record(at, workers.unwrap_or(0.0));
            }
        }
    }

    /// Makes room for `address` and updates its last share; false when every tracked
    /// miner's last share is newer and the store is full.
    fn track(&mut self, address: &str, last_share: u64) -> bool {
        if let Some(m) = self.miners.get_mut(address) {
            m.last_share = m.last_share.max(last_share);
            return true;
        }
        if self.miners.len() >= MAX_MINERS {
            let oldest = self
                .miners
                .iter()
                .min_by_key(|(_, m)| m.last_share)
                .map(|(a, m)| (a.clone(), m.last_share));
            match oldest {
                Some((a, t)) if t < last_share => {
                    self.miners.remove(&a);
                }
                _ => return false,
            }
        }
        self.miners.insert(
            address.to_owned(),
            Miner {
                last_share,
                series: Series::new(Kind::Gauge),
                workers: None,
            },
        );
        true
    }

    /// Drops miners silent for [`MINER_TTL_SECS`] and points older than their span.
    pub fn expire(&mut self, now: u64) {
        self.miners
            .retain(|_, m| m.last_share.saturating_add(MINER_TTL_SECS) > now);
        for s in self.fixed.iter_mut().chain(
            self.miners
                .values_mut()
                .flat_map(|m| std::iter::once(&mut m.series).chain(m.workers.as_mut())),
        ) {
            s.advance(now);
        }
    }

    /// Returns the points of each of `names` from `now - range_secs`: minutes when the
    /// range is at most a day, else hours; and the spacing. A `miner:` series of an
    /// address not tracked (no share seen in the last day, or none yet) has no points:
    /// a miner page asks for it before the first minute of a new miner is recorded.
    ///
    /// # Errors
    /// A name that is neither a fixed series nor a `miner:` series (the API checks the
    /// address's form).
    pub fn query(
        &self,
        names: &[String],
        range_secs: u64,
        now: u64,
    ) -> Result<Points, UnknownSeries> {
        let hourly = range_secs > MINUTE_POINTS as u64 * MINUTE_SECS;
        let resolution = if hourly { HOUR_SECS } else { MINUTE_SECS };
        let from = now.saturating_sub(range_secs);
        let mut out = BTreeMap::new();
        for name in names {
            let points = match self.series(name) {
                Ok(series) => series.points(from, hourly),
                Err(_) if name.starts_with(MINER_PREFIX) || name.starts_with(WORKERS_PREFIX) => {
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            out.insert(name.clone(), points);
        }
        Ok((out, resolution))
    }

    fn series(&self, name: &str) -> Result<&Series, UnknownSeries> {
        if let Some(i) = FIXED_SERIES.iter().position(|(n, _)| *n == name) {
            return self
                .fixed
                .get(i)
                .ok_or_else(|| UnknownSeries(name.to_owned()));
        }
        let found = match name.strip_prefix(WORKERS_PREFIX) {
            Some(a) => self.miners.get(a).and_then(|m| m.workers.as_ref()),
            None => name
                .strip_prefix(MINER_PREFIX)
                .and_then(|a| self.miners.get(a))
                .map(|m| &m.series),
        };
        found.ok_or_else(|| UnknownSeries(name.to_owned()))
    }

    /// Returns the tracked miners' addresses.
    pub fn miners(&self) -> impl Iterator<Item = &str> {
        self.miners.keys().map(String::as_str)
    }

    /// Whether a decoded store has the shape of this version: every ring of the right
    /// length and resolution, the fixed series in order, the miners within the cap.
    pub(crate) fn well_formed(&self) -> bool {
        self.fixed.len() == FIXED_SERIES.len()
            && self
                .fixed
                .iter()
                .zip(FIXED_SERIES)
                .all(|(s, (_, k))| s.kind == k && s.well_formed())
            && self.miners.len() <= MAX_MINERS
            && self.miners.values().all(|m| {
                std::iter::once(&m.series)
                    .chain(m.workers.as_ref())
                    .all(|s| s.kind == Kind::Gauge && s.well_formed())
            })
            && self.miners.values().filter(|m| m.workers.is_some()).count() <= MAX_WORKER_SERIES
    }
}
