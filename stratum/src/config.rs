//! Server configuration. The node maps its `pool` section onto this.

use crate::error::ConfigError;
use otedama_sharechain::ChainSpec;
use std::net::SocketAddr;
use std::time::Duration;

/// Bytes of extranonce1 the server assigns to each session.
pub(crate) const EXTRANONCE1_SIZE: usize = 4;

/// How the Stratum server listens and limits its clients.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Bytes of extranonce2 the miner rolls; with the 4 bytes of extranonce1 it must
    /// fill the chain spec's `extranonce_size`.
    pub extranonce2_size: u8,
    /// A Stratum difficulty to use instead of the share difficulty when it is lower
    /// (easier), so small miners submit often enough to be seen.
    pub start_difficulty: Option<f64>,
    /// Longest accepted line, without its newline; a longer one closes the connection.
    pub max_line_bytes: usize,
    /// Sessions not subscribed and authorized within this are closed.
    pub auth_timeout: Duration,
    /// With no new work for this long, the current job is re-sent under a new id with
    /// a fresh ntime, so miners that watch for silence stay connected.
    pub job_refresh: Duration,
}

impl Default for StratumConfig {
    /// Matches the `pool` section of `config.example.yaml`.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3333)),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            extranonce2_size: 4,
            start_difficulty: None,
            max_line_bytes: 16 * 1024,
            auth_timeout: Duration::from_secs(60),
            job_refresh: Duration::from_secs(30),
        }
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
        {
            return Err(ConfigError::ExtranonceSize {
                extranonce2_size: self.extranonce2_size,
                spec_size: spec.extranonce_size,
            });
        }
        let at_least = |field, value: u64, min| {
            if value < min {
                Err(ConfigError::TooSmall { field, min })
            } else {
                Ok(())
            }
        };
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
        if let Some(d) = self.start_difficulty
            && !(d.is_finite() && d > 0.0)
        {
            return Err(ConfigError::StartDifficulty(d));
        }
        Ok(())
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
        let bad = StratumConfig {
            start_difficulty: Some(0.0),
            ..StratumConfig::default()
        };
        assert!(matches!(
            bad.validate(spec),
            Err(ConfigError::StartDifficulty(_))
        ));
        let bad = StratumConfig {
            max_connections_per_ip: 0,
            ..StratumConfig::default()
        };
        assert!(matches!(
            bad.validate(spec),
            Err(ConfigError::TooSmall { .. })
        ));
    }
}
