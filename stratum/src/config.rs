//! Server configuration. The node maps its `pool` section onto this; every field has a
//! default, so callers set only what they need and fill the rest with
//! `..StratumConfig::default()`.

use crate::error::ConfigError;
use crate::fee::OperatorFee;
use otedama_sharechain::ChainSpec;
use std::net::SocketAddr;
use std::time::Duration;

/// Bytes of extranonce1 the server assigns to each session.
pub(crate) const EXTRANONCE1_SIZE: usize = 4;

/// How the Stratum server listens, sets difficulty and limits its clients.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Bytes of extranonce2 the miner rolls; with the 4 bytes of extranonce1 it must
    /// fill the chain spec's `extranonce_size`. Between 2 (so proxies such as NiceHash
    /// can take a byte or two) and 8 (cgminer's limit).
    pub extranonce2_size: u8,
    /// Difficulty new sessions start at. `None` starts at the share difficulty, the
    /// highest a session may get: rentals (NiceHash, MiningRigRentals) refuse low
    /// starts, and vardiff brings small miners down within a few retarget intervals.
    pub start_difficulty: Option<f64>,
    /// Lowest difficulty vardiff or a miner's suggestion may set. The share difficulty
    /// still wins when it is lower (a session is never harder than a share).
    pub min_difficulty: f64,
    /// Highest difficulty, below the share difficulty; `None` means the share difficulty.
    pub max_difficulty: Option<f64>,
    /// Variable difficulty.
    pub vardiff: VardiffConfig,
    /// Case-insensitive substrings of user agents whose firmware parses
    /// `mining.set_difficulty` as an integer: such sessions only ever get whole
    /// difficulties of at least 1. ESP-Miner (AxeOS, user agent `bitaxe/<asic>/<ver>`)
    /// reads it with cJSON's `valueint`, so 0.5 would become 0.
    pub integer_difficulty_agents: Vec<String>,
    /// Case-insensitive substrings of user agents of hashrate rentals, which reject a
    /// low pool difficulty: such sessions stay at the highest allowed difficulty.
    pub rental_agents: Vec<String>,
    /// Longest accepted line, without its newline; a longer one closes the connection
    /// (and counts as malformed input for bans).
    pub max_line_bytes: usize,
    /// Sessions not subscribed and authorized within this are closed.
    pub auth_timeout: Duration,
    /// With no new work for this long, the current job is re-sent under a new id with
    /// a fresh ntime, so miners that watch for silence stay connected (Bitaxe drops a
    /// pool after 180 s without a message). Each session refreshes up to a tenth
    /// sooner, so sessions that got a block together do not refresh together.
    pub job_refresh: Duration,
    /// A client whose unsent replies make no progress for this long is dropped.
    pub send_timeout: Duration,
    /// When to ban an IP address.
    pub bans: BanConfig,
    /// The operator's fee on other miners' work; `None` takes none.
    pub fee: Option<OperatorFee>,
    /// Stratum V2 on a second port; `None` serves Stratum v1 only.
    pub sv2: Option<crate::sv2::Sv2Config>,
}

/// Variable difficulty: each session's difficulty follows its hashrate so that it
/// submits about `shares_per_minute` shares.
#[derive(Debug, Clone, PartialEq)]
pub struct VardiffConfig {
    /// Whether difficulty adapts at all; without it sessions keep their start difficulty.
    pub enabled: bool,
    /// Shares per minute aimed at (ckpool aims at about 18; 12-20 suits SHA256 ASICs).
    pub shares_per_minute: f64,
    /// Re-evaluate after this many accepted shares...
    pub retarget_shares: u32,
    /// ... or after this long, whichever comes first.
    pub retarget_interval: Duration,
}

/// Bans refuse every connection from an IP address for a while. Only malformed input,
/// floods of invalid proof of work and connection floods lead to one; stale or
/// low-difficulty shares right after a retarget never do, and loopback addresses are
/// never banned.
#[derive(Debug, Clone, PartialEq)]
pub struct BanConfig {
    /// Whether bans are issued at all (the counters still count).
    pub enabled: bool,
    /// How long a ban lasts.
    pub duration: Duration,
    /// Malformed lines a session may send; one more closes it and bans its address.
    pub max_malformed: u32,
    /// Shares missing their target within one `invalid_window` that close the session
    /// and ban its address, when at least nine in ten of its shares in that window
    /// were invalid.
    pub invalid_shares: u32,
    /// The window over which invalid shares are counted.
    pub invalid_window: Duration,
    /// Low-difficulty shares this soon after a difficulty change are not counted.
    pub retarget_grace: Duration,
    /// Connections one address may open in a burst...
    pub connect_burst: u32,
    /// ... refilled at this many per second; beyond that the address is banned.
    pub connect_rate: f64,
    /// Most addresses tracked for connection rates and bans (a memory bound).
    pub max_tracked: usize,
}

impl Default for StratumConfig {
    /// Matches the `pool` section of `config.example.yaml`; the rest are the server's
    /// own defaults.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3333)),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            extranonce2_size: 4,
            start_difficulty: None,
            min_difficulty: 1e-4,
            max_difficulty: None,
            vardiff: VardiffConfig::default(),
            integer_difficulty_agents: vec!["bitaxe".into()],
            rental_agents: vec!["nicehash".into(), "miningrigrentals".into()],
            max_line_bytes: 16 * 1024,
            auth_timeout: Duration::from_secs(60),
            job_refresh: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            bans: BanConfig::default(),
            fee: None,
            sv2: None,
        }
    }
}

impl Default for VardiffConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            shares_per_minute: 18.0,
            retarget_shares: 32,
            retarget_interval: Duration::from_secs(60),
        }
    }
}

impl Default for BanConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            duration: Duration::from_secs(600),
            max_malformed: 10,
            invalid_shares: 100,
            invalid_window: Duration::from_secs(60),
            retarget_grace: Duration::from_secs(10),
            connect_burst: 300,
            connect_rate: 20.0,
            max_tracked: 65_536,
        }
    }
}

fn at_least(field: &'static str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        Err(ConfigError::TooSmall { field, min })
    } else {
        Ok(())
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::NotPositive { field, value })
    }
}

impl StratumConfig {
    /// Checks the config against `spec`.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, spec: &ChainSpec) -> Result<(), ConfigError> {
        if EXTRANONCE1_SIZE + usize::from(self.extranonce2_size)
            != usize::from(spec.extranonce_size)
            || !(2..=8).contains(&self.extranonce2_size)
        {
            return Err(ConfigError::ExtranonceSize {
                extranonce2_size: self.extranonce2_size,
                spec_size: spec.extranonce_size,
            });
        }
        at_least("max_connections", self.max_connections as u64, 1)?;
        at_least(
            "max_connections_per_ip",
            self.max_connections_per_ip as u64,
            1,
        )?;
        // A subscribe, authorize or submit with a long worker name fits in 256 bytes.
        at_least("max_line_bytes", self.max_line_bytes as u64, 256)?;
        at_least("auth_timeout (ms)", self.auth_timeout.as_millis() as u64, 1)?;
        at_least("job_refresh (ms)", self.job_refresh.as_millis() as u64, 1)?;
        at_least("send_timeout (ms)", self.send_timeout.as_millis() as u64, 1)?;
        if let Some(d) = self.start_difficulty {
            positive("start_difficulty", d)?;
        }
        positive("min_difficulty", self.min_difficulty)?;
        if let Some(d) = self.max_difficulty {
            positive("max_difficulty", d)?;
            if d < self.min_difficulty {
                return Err(ConfigError::NotPositive {
                    field: "max_difficulty - min_difficulty",
                    value: d - self.min_difficulty,
                });
            }
        }
        let v = &self.vardiff;
        positive("vardiff.shares_per_minute", v.shares_per_minute)?;
        at_least("vardiff.retarget_shares", u64::from(v.retarget_shares), 1)?;
        at_least(
            "vardiff.retarget_interval (ms)",
            v.retarget_interval.as_millis() as u64,
            1,
        )?;
        let b = &self.bans;
        at_least("bans.max_malformed", u64::from(b.max_malformed), 1)?;
        at_least("bans.invalid_shares", u64::from(b.invalid_shares), 1)?;
        at_least(
            "bans.invalid_window (ms)",
            b.invalid_window.as_millis() as u64,
            1,
        )?;
        at_least("bans.connect_burst", u64::from(b.connect_burst), 1)?;
        positive("bans.connect_rate", b.connect_rate)?;
        at_least("bans.max_tracked", b.max_tracked as u64, 1)?;
        Ok(())
    }
}

/// What the server knows about a client from its user agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Quirks {
    /// Parses `mining.set_difficulty` as an integer.
    pub integer_difficulty: bool,
    /// A hashrate rental: keep the difficulty high.
    pub rental: bool,
}

impl StratumConfig {
    /// Returns the quirks of a client sending `user_agent`.
    pub(crate) fn quirks(&self, user_agent: &str) -> Quirks {
        let ua = user_agent.to_ascii_lowercase();
        let any = |list: &[String]| {
            list.iter()
                .any(|p| !p.is_empty() && ua.contains(&p.to_ascii_lowercase()))
        };
        Quirks {
            integer_difficulty: any(&self.integer_difficulty_agents),
            rental: any(&self.rental_agents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fits_every_built_in_spec() {
        for spec in ChainSpec::all() {
            assert_eq!(
                StratumConfig::default().validate(spec),
                Ok(()),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn rejects_bad_values() {
        let spec = ChainSpec::by_name("btc-regtest").expect("built in");
        let bad = StratumConfig {
            extranonce2_size: 8,
            ..StratumConfig::default()
        };
        assert_eq!(
            bad.validate(spec),
            Err(ConfigError::ExtranonceSize {
                extranonce2_size: 8,
                spec_size: 8
            })
        );
        for bad in [
            StratumConfig {
                start_difficulty: Some(0.0),
                ..StratumConfig::default()
            },
            StratumConfig {
                min_difficulty: f64::NAN,
                ..StratumConfig::default()
            },
            StratumConfig {
                max_difficulty: Some(1e-9),
                ..StratumConfig::default()
            },
        ] {
            assert!(matches!(
                bad.validate(spec),
                Err(ConfigError::NotPositive { .. })
            ));
        }
        let bad = StratumConfig {
            max_connections_per_ip: 0,
            ..StratumConfig::default()
        };
        assert!(matches!(
            bad.validate(spec),
            Err(ConfigError::TooSmall { .. })
        ));
        let mut bad = StratumConfig::default();
        bad.vardiff.retarget_shares = 0;
        assert!(matches!(
            bad.validate(spec),
            Err(ConfigError::TooSmall { .. })
        ));
    }

    #[test]
    fn quirks_match_user_agents_case_insensitively() {
        let c = StratumConfig::default();
        assert!(c.quirks("bitaxe/BM1370/v2.5.0").integer_difficulty);
        assert!(c.quirks("BitAxe/BM1366/v2.4.1").integer_difficulty);
        assert!(!c.quirks("cgminer/4.12.1").integer_difficulty);
        assert!(c.quirks("NiceHash/1.0.0").rental);
        assert_eq!(c.quirks(""), Quirks::default());
    }
}
