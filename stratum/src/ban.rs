//! Bans with expiry and connection-rate limits per IP address. Pure apart from the
//! lock: time is passed in. Both tables are bounded by `BanConfig::max_tracked`.

use crate::config::BanConfig;
use crate::error::BanReason;
use crate::session::TARGET;
use crate::stats::{StratumStats, bump};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tracing::{info, warn};

/// Whether a new connection may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead.
    Allowed,
    /// The address is banned.
    Banned,
}

/// The ban list and connection-rate buckets of one server.
pub(crate) struct Guard {
    cfg: BanConfig,
    stats: Arc<StratumStats>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Banned addresses and when their ban ends.
    bans: HashMap<IpAddr, Instant>,
    /// Connection tokens per address.
    buckets: HashMap<IpAddr, Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Returns whether `ip` is exempt from bans and rate limits: loopback (127.0.0.0/8,
/// `::1`, and their IPv4-mapped forms) is the operator's own machine.
pub(crate) fn is_exempt(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

impl Guard {
    /// Returns an empty guard.
    pub(crate) fn new(cfg: BanConfig, stats: Arc<StratumStats>) -> Self {
        Self {
            cfg,
            stats,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Decides on a connection from `ip` at `now`; a connection flood bans the address.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Admission {
        let ip = ip.to_canonical();
        if is_exempt(ip) {
            return Admission::Allowed;
        }
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match t.bans.get(&ip) {
            Some(&until) if until > now => {
                drop(t);
                bump(&self.stats.refused_banned);
                return Admission::Banned;
            }
            Some(_) => {
                t.bans.remove(&ip);
            }
            None => {}
        }
        let (burst, rate) = (f64::from(self.cfg.connect_burst), self.cfg.connect_rate);
        if !t.buckets.contains_key(&ip) && t.buckets.len() >= self.cfg.max_tracked {
            // Forget addresses whose bucket has refilled: they carry no history.
            t.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
        }
        if !t.buckets.contains_key(&ip) && t.buckets.len() >= self.cfg.max_tracked {
            // Still full: every tracked address is busy. Let this one through untracked
            // rather than grow without bound.
            return Admission::Allowed;
        }
        let b = t.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Admission::Allowed;
        }
        t.buckets.remove(&ip);
        drop(t);
        self.ban(ip, BanReason::ConnectionFlood, now);
        bump(&self.stats.refused_banned);
        Admission::Banned
    }

    /// Bans `ip` for the configured duration, unless it is exempt or bans are off.
    pub(crate) fn ban(&self, ip: IpAddr, reason: BanReason, now: Instant) {
        let ip = ip.to_canonical();
        bump(match reason {
            BanReason::Malformed => &self.stats.bans_malformed,
            BanReason::InvalidPow => &self.stats.bans_invalid_pow,
            BanReason::ConnectionFlood => &self.stats.bans_connection_flood,
        });
        if is_exempt(ip) || !self.cfg.enabled {
            info!(target: TARGET, %ip, reason = reason.as_str(), "ban skipped (loopback or bans disabled)");
            return;
        }
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !t.bans.contains_key(&ip) && t.bans.len() >= self.cfg.max_tracked {
            t.bans.retain(|_, until| *until > now);
        }
        if !t.bans.contains_key(&ip) && t.bans.len() >= self.cfg.max_tracked {
            drop(t);
            warn!(target: TARGET, %ip, reason = reason.as_str(), "ban list full: address not banned");
            return;
        }
        t.bans.insert(ip, now + self.cfg.duration);
        drop(t);
        warn!(target: TARGET, %ip, reason = reason.as_str(), secs = self.cfg.duration.as_secs(), "address banned");
    }

    /// Returns how many addresses are banned at `now`.
    #[cfg(test)]
    pub(crate) fn banned(&self, now: Instant) -> usize {
        let t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.bans.values().filter(|until| **until > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn guard(cfg: BanConfig) -> Guard {
        Guard::new(cfg, Arc::new(StratumStats::default()))
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    #[test]
    fn bans_expire() {
        let g = guard(BanConfig::default());
        let t0 = Instant::now();
        g.ban(A, BanReason::Malformed, t0);
        assert_eq!(g.admit(A, t0 + Duration::from_secs(599)), Admission::Banned);
        assert_eq!(
            g.admit(A, t0 + Duration::from_secs(600)),
            Admission::Allowed
        );
        let s = g.stats.snapshot();
        assert_eq!((s.bans_malformed, s.refused_banned), (1, 1));
        assert_eq!(g.banned(t0 + Duration::from_secs(601)), 0);
    }

    #[test]
    fn loopback_is_never_banned_or_limited() {
        let g = guard(BanConfig {
            connect_burst: 1,
            ..BanConfig::default()
        });
        let t0 = Instant::now();
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().expect("valid");
            g.ban(ip, BanReason::InvalidPow, t0);
            for _ in 0..10 {
                assert_eq!(g.admit(ip, t0), Admission::Allowed, "{ip}");
            }
        }
        assert_eq!(g.banned(t0), 0);
    }

    #[test]
    fn connection_floods_are_banned_bursts_are_not() {
        let g = guard(BanConfig {
            connect_burst: 5,
            connect_rate: 1.0,
            ..BanConfig::default()
        });
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(g.admit(A, t0), Admission::Allowed);
        }
        // One more token a second later.
        assert_eq!(g.admit(A, t0 + Duration::from_secs(1)), Admission::Allowed);
        assert_eq!(g.admit(A, t0 + Duration::from_secs(1)), Admission::Banned);
        assert_eq!(g.admit(A, t0 + Duration::from_secs(2)), Admission::Banned);
        assert_eq!(g.stats.snapshot().bans_connection_flood, 1);
        // The mapped form is the same address.
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("valid");
        assert_eq!(
            g.admit(mapped, t0 + Duration::from_secs(3)),
            Admission::Banned
        );
    }

    #[test]
    fn tables_are_bounded() {
        let g = guard(BanConfig {
            max_tracked: 4,
            connect_burst: 2,
            ..BanConfig::default()
        });
        let t0 = Instant::now();
        for i in 0..100u8 {
            let ip = IpAddr::from([198, 51, 100, i]);
            g.admit(ip, t0);
            g.ban(ip, BanReason::Malformed, t0);
        }
        let t = g.inner.lock().expect("not poisoned");
        assert!(t.buckets.len() <= 4 && t.bans.len() <= 4);
    }

    #[test]
    fn disabled_bans_only_count() {
        let g = guard(BanConfig {
            enabled: false,
            ..BanConfig::default()
        });
        let t0 = Instant::now();
        g.ban(A, BanReason::InvalidPow, t0);
        assert_eq!(g.admit(A, t0), Admission::Allowed);
        assert_eq!(g.stats.snapshot().bans_invalid_pow, 1);
    }
}
