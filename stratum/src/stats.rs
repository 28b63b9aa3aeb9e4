//! Server-wide counters, updated with relaxed atomics (they are statistics, not
//! synchronisation) and read through [`StratumStats::snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Live counters of a [`StratumServer`](crate::StratumServer).
        #[derive(Debug, Default)]
        pub struct StratumStats {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        /// A plain copy of [`StratumStats`] at one moment; see its fields for meanings.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl StratumStats {
            /// Returns the current values. Each counter is read atomically; the set is
            /// not one consistent cut, which is fine for monitoring.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Connections open now.
    connections,
    /// Connections accepted since start.
    total_connections,
    /// Connections closed at once because a connection cap was reached.
    refused_connections,
    /// Connections closed at once because their address is banned (or just got banned
    /// for a connection flood).
    refused_banned,
    /// Submissions accepted (their PoW met the session target).
    accepted,
    /// Submissions for unknown or invalidated jobs (error 21).
    rejected_stale,
    /// Duplicate submissions (error 22).
    rejected_duplicate,
    /// Submissions whose PoW missed the session target (error 23).
    rejected_low_difficulty,
    /// Submissions rejected for any other reason (errors 20, 24, 25).
    rejected_other,
    /// Accepted submissions that met the share target and were handed to the node.
    shares_forwarded,
    /// Shares that met the share target but could not be handed over (channel full or closed).
    shares_dropped,
    /// Difficulty changes sent by vardiff.
    retargets,
    /// Subscribes that got back the extranonce1 they asked to resume.
    resumed_sessions,
    /// Sessions closed for not subscribing and authorizing in time.
    auth_timeouts,
    /// Sessions closed for malformed input (too many bad lines, or an over-long line).
    malformed_closes,
    /// Sessions closed because they did not read their replies.
    slow_client_closes,
    /// Malformed-input offences that earn a ban (counted also for exempt loopback
    /// addresses and with bans disabled).
    bans_malformed,
    /// Invalid proof-of-work floods that earn a ban (counted as above).
    bans_invalid_pow,
    /// Connection floods that earn a ban (counted as above).
    bans_connection_flood,
    /// Stratum V2 connections whose Noise handshake completed.
    sv2_handshakes,
    /// Stratum V2 connections whose handshake failed or timed out.
    sv2_handshake_failures,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
