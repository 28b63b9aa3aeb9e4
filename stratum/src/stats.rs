//! Server-wide counters, updated with relaxed atomics (they are statistics, not
//! synchronisation) and read through [`StratumStats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a [`StratumServer`](crate::StratumServer).
#[derive(Debug, Default)]
pub struct StratumStats {
    /// Connections open now.
    pub connections: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Connections closed at once because a connection cap was reached.
    pub refused_connections: AtomicU64,
    /// Submissions accepted (their PoW met the session target).
    pub accepted: AtomicU64,
    /// Submissions for unknown or invalidated jobs (error 21).
    pub rejected_stale: AtomicU64,
    /// Duplicate submissions (error 22).
    pub rejected_duplicate: AtomicU64,
    /// Submissions whose PoW missed the session target (error 23).
    pub rejected_low_difficulty: AtomicU64,
    /// Submissions rejected for any other reason (errors 20, 24, 25).
    pub rejected_other: AtomicU64,
    /// Accepted submissions that met the share target and were handed to the node.
    pub shares_forwarded: AtomicU64,
    /// Shares that met the share target but could not be handed over (channel full or closed).
    pub shares_dropped: AtomicU64,
}

/// A plain copy of [`StratumStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections open now.
    pub connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections refused by a cap.
    pub refused_connections: u64,
    /// Accepted submissions.
    pub accepted: u64,
    /// Stale submissions.
    pub rejected_stale: u64,
    /// Duplicate submissions.
    pub rejected_duplicate: u64,
    /// Low-difficulty submissions.
    pub rejected_low_difficulty: u64,
    /// Other rejected submissions.
    pub rejected_other: u64,
    /// Shares handed to the node.
    pub shares_forwarded: u64,
    /// Shares that could not be handed to the node.
    pub shares_dropped: u64,
}

impl StratumStats {
    /// Returns the current values. Each counter is read atomically; the set is not
    /// one consistent cut, which is fine for monitoring.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            connections: get(&self.connections),
            total_connections: get(&self.total_connections),
            refused_connections: get(&self.refused_connections),
            accepted: get(&self.accepted),
            rejected_stale: get(&self.rejected_stale),
            rejected_duplicate: get(&self.rejected_duplicate),
            rejected_low_difficulty: get(&self.rejected_low_difficulty),
            rejected_other: get(&self.rejected_other),
            shares_forwarded: get(&self.shares_forwarded),
            shares_dropped: get(&self.shares_dropped),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
