//! Difficulty: the bounds a session's difficulty lives in, and variable difficulty, which
//! estimates a session's hashrate from its accepted shares and picks the difficulty
//! giving the configured shares per minute. Pure: time is passed in.
//!
//! The session difficulty may be easier than the share difficulty (more pseudo-shares,
//! a better hashrate estimate) but never harder, or shares meeting the share target
//! but not the session target would never be submitted and the miner would lose them.

use crate::config::{Quirks, VardiffConfig};
use std::time::{Duration, Instant};

/// A wanted difficulty this close to the current one (as a ratio) is not worth a
/// change: with 32 shares the estimate is only good to about 18 %.
const DEAD_BAND: f64 = 1.5;

/// The limits a session's difficulty is clamped to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    /// The server's minimum.
    pub min: f64,
    /// The server's maximum, if any.
    pub max: Option<f64>,
    /// The miner's own floor (`suggest_difficulty`, `minimum-difficulty`, `d=`).
    pub floor: Option<f64>,
    /// What the client's user agent says about it.
    pub quirks: Quirks,
}

impl Bounds {
    /// Returns the difficulty to send for `wanted` under a share difficulty of `share`.
    ///
    /// The upper bound (the share difficulty, or the server maximum when lower) wins
    /// over every lower bound; rentals always get it. Integer-parsing firmware gets a
    /// whole number of at least 1, the one case where the result may exceed the share
    /// difficulty: only on test chains, whose share difficulty is below 1.
    pub(crate) fn clamp(&self, wanted: f64, share: f64) -> f64 {
        let upper = self.max.map_or(share, |m| m.min(share));
        let lower = self.floor.map_or(self.min, |f| f.max(self.min));
        let d = if self.quirks.rental {
            upper
        } else {
            wanted.max(lower).min(upper)
        };
        if self.quirks.integer_difficulty {
            d.floor().max(1.0)
        } else {
            d
        }
    }
}

/// One session's share accounting since the last retarget.
#[derive(Debug, Clone)]
pub(crate) struct Vardiff {
    started: Instant,
    shares: u32,
    /// Sum of the difficulties the window's shares were credited at.
    credited: f64,
}

impl Vardiff {
    /// Starts a window at `now`.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            started: now,
            shares: 0,
            credited: 0.0,
        }
    }

    /// Counts an accepted share worth `difficulty`.
    pub(crate) fn record(&mut self, difficulty: f64) {
        self.shares = self.shares.saturating_add(1);
        self.credited += difficulty;
    }

    /// Returns when the window ends by time.
    pub(crate) fn due_at(&self, cfg: &VardiffConfig) -> Instant {
        self.started + cfg.retarget_interval
    }

    /// Returns whether the window is over: enough shares, or enough time.
    pub(crate) fn is_due(&self, now: Instant, cfg: &VardiffConfig) -> bool {
        self.shares >= cfg.retarget_shares || now >= self.due_at(cfg)
    }

    /// Closes the window and returns the difficulty that would give the target share
    /// rate, if it differs enough from `current` (the difficulty the miner mines at).
    ///
    /// Without any share the hashrate is taken as at most one share's worth over the
    /// window, so a miner started far too high comes down by about
    /// `60 / (interval * shares_per_minute)` per window (and never goes up).
    pub(crate) fn retarget(
        &mut self,
        current: f64,
        now: Instant,
        cfg: &VardiffConfig,
    ) -> Option<f64> {
        let elapsed = now
            .saturating_duration_since(self.started)
            .max(Duration::from_millis(1))
            .as_secs_f64();
        let (shares, credited) = (self.shares, self.credited);
        *self = Self::new(now);
        let wanted = if shares == 0 {
            // Silence never raises the difficulty, however short the window.
            (current / elapsed * 60.0 / cfg.shares_per_minute).min(current)
        } else {
            credited / elapsed * 60.0 / cfg.shares_per_minute
        };
        if !(wanted.is_finite() && wanted > 0.0) {
            return None;
        }
        let ratio = wanted / current;
        (!(1.0 / DEAD_BAND..=DEAD_BAND).contains(&ratio)).then_some(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VardiffConfig {
        VardiffConfig::default()
    }

    fn bounds() -> Bounds {
        Bounds {
            min: 1e-4,
            max: None,
            floor: None,
            quirks: Quirks::default(),
        }
    }

    #[test]
    fn clamps_between_floor_and_share_difficulty() {
        let b = bounds();
        assert_eq!(b.clamp(5.0, 100.0), 5.0);
        assert_eq!(
            b.clamp(500.0, 100.0),
            100.0,
            "never above the share difficulty"
        );
        assert_eq!(b.clamp(1e-9, 100.0), 1e-4);
        assert_eq!(
            b.clamp(1.0, 1e-9),
            1e-9,
            "the share difficulty wins over min"
        );
        let floored = Bounds {
            floor: Some(50.0),
            max: Some(80.0),
            ..b
        };
        assert_eq!(floored.clamp(5.0, 100.0), 50.0);
        assert_eq!(floored.clamp(500.0, 100.0), 80.0);
        assert_eq!(floored.clamp(500.0, 20.0), 20.0);
    }

    #[test]
    fn integer_firmware_gets_whole_difficulties_of_at_least_one() {
        let b = Bounds {
            quirks: Quirks {
                integer_difficulty: true,
                rental: false,
            },
            ..bounds()
        };
        assert_eq!(b.clamp(0.4, 100.0), 1.0);
        assert_eq!(b.clamp(37.9, 100.0), 37.0);
        assert_eq!(b.clamp(500.0, 99.5), 99.0);
        assert_eq!(b.clamp(0.001, 1e-9), 1.0);
    }

    #[test]
    fn rentals_stay_at_the_top() {
        let b = Bounds {
            quirks: Quirks {
                integer_difficulty: false,
                rental: true,
            },
            ..bounds()
        };
        assert_eq!(b.clamp(1.0, 500_000.0), 500_000.0);
    }

    #[test]
    fn converges_on_the_target_rate() {
        let cfg = cfg();
        let t0 = Instant::now();
        // A miner doing 10 difficulty-1 shares per second at difficulty 1: 600 per
        // minute, so 600/18 = 33.3 is right.
        let mut v = Vardiff::new(t0);
        for _ in 0..32 {
            v.record(1.0);
        }
        let now = t0 + Duration::from_millis(3200);
        assert!(v.is_due(now, &cfg));
        let wanted = v.retarget(1.0, now, &cfg).expect("far off");
        assert!((wanted - 33.33).abs() < 0.1, "{wanted}");
        // At that difficulty it sends 18 a minute: no change.
        for _ in 0..18 {
            v.record(wanted);
        }
        assert_eq!(
            v.retarget(wanted, now + Duration::from_secs(60), &cfg),
            None
        );
    }

    #[test]
    fn silence_lowers_the_difficulty_each_window() {
        let cfg = cfg();
        let t0 = Instant::now();
        let mut v = Vardiff::new(t0);
        assert!(!v.is_due(t0 + Duration::from_secs(59), &cfg));
        let at = v.due_at(&cfg);
        assert_eq!(at, t0 + Duration::from_secs(60));
        let wanted = v.retarget(1000.0, at, &cfg).expect("silent");
        assert!((wanted - 1000.0 / 18.0).abs() < 1e-9, "{wanted}");
        // A short silent window does not raise it.
        assert_eq!(
            v.retarget(1000.0, at + Duration::from_millis(100), &cfg),
            None
        );
    }

    #[test]
    fn small_deviations_are_ignored() {
        let cfg = cfg();
        let t0 = Instant::now();
        let mut v = Vardiff::new(t0);
        for _ in 0..25 {
            v.record(2.0);
        }
        // 25 shares a minute against 18 wanted: 1.39x, inside the dead band.
        assert_eq!(v.retarget(2.0, t0 + Duration::from_secs(60), &cfg), None);
    }
}
