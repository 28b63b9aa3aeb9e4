//! The process's file-descriptor budget. Every listener has a connection cap; together
//! with a reserve for the store, logs, the daemon client and the miner they must fit the
//! process's descriptor limit, or a flood on one port (the API, say) could leave Stratum,
//! P2P and the daemon client with nothing. At start the soft limit is raised to the hard
//! one, and Stratum, the largest consumer, gets what the others leave, never more than
//! `pool.max_connections`.

use crate::config::Config;
use tracing::{info, warn};

/// Descriptors kept for everything that is not a listener's connection: the share
/// store, log and audit files, the daemon client's connections, the miner, the runtime.
pub const RESERVE: u64 = 256;

/// The fewest Stratum connections a node starts with.
pub const MIN_STRATUM: u64 = 16;

/// How the descriptors are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The process's descriptor limit (after raising the soft limit).
    pub limit: u64,
    /// The Stratum connection cap that fits.
    pub stratum: u32,
    /// What the other listeners and the reserve take, by name.
    pub others: Vec<(&'static str, u64)>,
}

/// The limit is too low for even the smallest Stratum cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the process may open {limit} files, but the listeners' connection caps and the reserve \
     need {needed} before Stratum ({parts}); raise the limit (`ulimit -n`, LimitNOFILE= in a \
     systemd unit) or lower api.limits, monitoring.*.limits or p2p.max_peers"
)]
pub struct BudgetError {
    /// The limit.
    pub limit: u64,
    /// What the others need, Stratum's minimum included.
    pub needed: u64,
    /// The parts, `name n` each.
    pub parts: String,
}

/// Shares `limit` descriptors between the listeners `config` enables. Pure.
///
/// # Errors
/// The others and [`MIN_STRATUM`] do not fit.
pub fn plan(config: &Config, limit: u64) -> Result<Budget, BudgetError> {
    let m = &config.monitoring;
    let peers = u64::from(config.p2p.max_peers);
    let mut others = vec![
        ("api", u64::from(config.api.limits.max_connections)),
        // Established peers plus the pending dials and accepts the swarm allows.
        ("p2p", peers + 2 * peers.max(8)),
        ("reserve", RESERVE),
    ];
    if m.metrics.enabled {
        others.push(("metrics", u64::from(m.metrics.limits.max_connections)));
    }
    if m.health.enabled {
        others.push(("health", u64::from(m.health.limits.max_connections)));
    }
    let taken: u64 = others.iter().map(|(_, n)| n).sum();
    let room = limit.saturating_sub(taken);
    if room < MIN_STRATUM {
        return Err(BudgetError {
            limit,
            needed: taken + MIN_STRATUM,
            parts: others
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let stratum = u32::try_from(room)
        .unwrap_or(u32::MAX)
        .min(config.pool.max_connections);
    Ok(Budget {
        limit,
        stratum,
        others,
    })
}

/// Raises the soft descriptor limit to the hard one and returns it (`None` where the
/// limit cannot be read).
pub fn raise_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
            return Some(hard);
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    None
}

/// Raises the limit and plans the budget for `config`, logging a lowered Stratum cap.
///
/// # Errors
/// As [`plan`].
pub fn apply(config: &Config) -> Result<u32, BudgetError> {
    let Some(limit) = raise_limit() else {
        return Ok(config.pool.max_connections);
    };
    let budget = plan(config, limit)?;
    if budget.stratum < config.pool.max_connections {
        warn!(target: "otedama::node", limit, configured = config.pool.max_connections,
              stratum = budget.stratum,
              "pool.max_connections lowered to fit the file-descriptor limit beside the other listeners; raise `ulimit -n` (LimitNOFILE= under systemd) to allow more");
    } else {
        info!(target: "otedama::node", limit, stratum = budget.stratum, "file-descriptor budget");
    }
    Ok(budget.stratum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratum_gets_what_the_others_leave() {
        let config = Config::default();
        // api 256 + p2p 50+100 + reserve 256 + metrics 32 + health 32 = 726.
        let b = plan(&config, 1 << 20).expect("fits");
        assert_eq!(b.stratum, config.pool.max_connections);
        assert_eq!(b.others.iter().map(|(_, n)| n).sum::<u64>(), 726);
        let b = plan(&config, 4096).expect("fits");
        assert_eq!(b.stratum, 4096 - 726);
        let e = plan(&config, 726 + MIN_STRATUM - 1).expect_err("too small");
        assert_eq!(e.needed, 726 + MIN_STRATUM);
        assert!(e.to_string().contains("api 256"), "{e}");
        let mut quiet = Config::default();
        quiet.monitoring.metrics.enabled = false;
        quiet.monitoring.health.enabled = false;
        assert_eq!(plan(&quiet, 1024).expect("fits").stratum, 1024 - 662);
    }
}
