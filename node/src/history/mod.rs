//! The node's history: bounded time series at minute resolution for 24 h and hour
//! resolution for 30 days, kept in `history.bin` beside the share store so a restart
//! keeps them, and served at `GET /api/history`.
//!
//! Series: `pool_hashrate` (the sharechain's estimate), `local_hashrate` (this node's
//! Stratum workers, the built-in miner among them, since it mines through the loopback
//! Stratum port), `shares_accepted`, `shares_rejected` and `shares_stale` (Stratum
//! submissions in the interval), `stratum_connections`, `peers`, `miner:<address>`:
//! the sharechain's estimate of each payout address's hashrate (the work of its shares
//! in the last ten minutes, per second) while it has a share in the last 24 h, for at
//! most [`MAX_MINERS`] miners (past it, the one whose last share is oldest is dropped),
//! and `workers:<address>`: what the address's Stratum workers on this node report, for
//! at most [`MAX_WORKER_SERIES`] of those miners.
//!
//! An hour point is the mean of its minutes for rates and gauges, their sum for counts.
//!
//! Bounds: each series holds [`MINUTE_POINTS`] + [`HOUR_POINTS`] = 2160 points of 4
//! bytes (`f32`; the time is the slot's position), 8640 bytes. The worst case is
//! (7 + 1000 + 64) series x 2160 points x 4 bytes = 9,253,440 bytes, plus at most 128 KB
//! of miner names: under 9.5 MB in memory and on disk ([`MAX_STORE_BYTES`]). The file is
//! bincode after a magic and a version byte, written to a temporary file and renamed
//! every minute and at shutdown; a foreign, corrupt or oversized file is logged and
//! replaced.
//!
//! - `store`: [`HistoryStore`], the rings, pure (time is an argument);
//! - `file`: the file's encoding, atomic writes and tolerant loading;
//! - `task`: the task that owns the store, samples the node and answers
//!   [`HistoryHandle`] queries.

mod file;
mod store;
mod task;

pub use file::{HISTORY_FILE, LoadError, decode, encode, load, read, write};
pub use store::{
    FIXED_SERIES, HOUR_POINTS, HOUR_SECS, HistoryStore, Kind, MAX_MINERS, MAX_STORE_BYTES,
    MAX_WORKER_SERIES, MINER_PREFIX, MINER_TTL_SECS, MINUTE_POINTS, MINUTE_SECS, MinerSample,
    Points, Sample, UnknownSeries, WORKERS_PREFIX,
};
pub(crate) use task::{HISTORY_QUEUE, MinedShare, PageFuture, Source, run, spawn_in};
pub use task::{HistoryError, HistoryHandle};
#[cfg(test)]
use task::{mined, tally};

#[cfg(test)]
mod tests;
