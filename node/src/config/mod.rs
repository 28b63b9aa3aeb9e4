//! The node's configuration: one YAML file, `config.example.yaml` at the repository root.
//!
//! Loading is two steps. [`Config::from_yaml_str`] and [`Config::load`] check the shape
//! (unknown keys and wrong types are errors with their key path); [`Config::validate`]
//! then checks the meaning and returns every [`Issue`] at once, so an operator can fix
//! a file in one go. Every section's `Default` equals the example file.

mod bounds;
mod chains;
mod error;
mod pool;
mod report;
mod secret;
mod sections;
mod validate;

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use bounds::{MAX_CONFIG_BYTES, MAX_DEPTH, MAX_EXPANDED, quote};
pub use chains::{ChainConfig, DaemonConfig};
pub use error::{ConfigError, Issue, LogFilterError};
pub use pool::{MAX_FEE_PERCENTAGE, PoolConfig, RewardSystem, RewardsConfig, RewardsWindow};
pub use report::Report;
pub use secret::Secret;
pub use sections::{
    ApiConfig, AppConfig, AppMode, AsicConfig, AuthConfig, CpuConfig, CpuPriority, GpuBackendKind,
    GpuConfig, HealthConfig, ListenerLimits, LogFormat, LogRotation, LogRotationConfig,
    MetricsConfig, MiningAlgorithm, MiningConfig, MonitoringConfig, P2pConfig, PRODUCTION_LOG_FILE,
};
pub use validate::{
    MAX_ADDRESS_BYTES, MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_TEXT_BYTES, check_log_filter,
};

/// The whole node configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Identity, storage and logging.
    pub app: AppConfig,
    /// The built-in miner.
    pub mining: MiningConfig,
    /// The Stratum server.
    pub pool: PoolConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// Metrics and health endpoints.
    pub monitoring: MonitoringConfig,
    /// The sharechain network.
    pub p2p: P2pConfig,
    /// The sharechains the node runs; at least one.
    pub chains: Vec<ChainConfig>,
}

impl Default for Config {
    /// Returns the configuration of `config.example.yaml`: one `ltc-main` chain.
    fn default() -> Self {
        Self {
            app: AppConfig::default(),
            mining: MiningConfig::default(),
            pool: PoolConfig::default(),
            api: ApiConfig::default(),
            monitoring: MonitoringConfig::default(),
            p2p: P2pConfig::default(),
            chains: chains::default_chains(),
        }
    }
}

impl Config {
    /// Parses a YAML document. Keys left out take their defaults.
    ///
    /// It checks the shape only; call [`Config::validate`] for the meaning.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::TooLarge`], [`ConfigError::TooDeep`] or
    /// [`ConfigError::TooExpanded`] for a document past a bound (checked before it is
    /// deserialized), [`ConfigError::Empty`] for a document with no content (empty, only
    /// comments, or `null`), and [`ConfigError::Parse`] for invalid YAML, an unknown key or
    /// a value of the wrong type, with the key path where it is.
    pub fn from_yaml_str(yaml: &str) -> Result<Self, ConfigError> {
        bounds::check(yaml)?;
        let deserializer = serde_norway::Deserializer::from_str(yaml);
        // `Option` turns an empty document into `None` rather than an all-defaults config:
        // an empty file is far more likely a mistake than a wish for every default.
        match serde_path_to_error::deserialize::<_, Option<Config>>(deserializer) {
            Ok(Some(config)) => Ok(config),
            Ok(None) => Err(ConfigError::Empty),
            Err(err) => Err(ConfigError::parse(err.path().to_string(), err.into_inner())),
        }
    }

    /// Reads and parses the YAML file at `path`, as [`Config::from_yaml_str`].
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::Read`] where the file cannot be read as UTF-8 text,
    /// [`ConfigError::TooLarge`] for a file over [`MAX_CONFIG_BYTES`] (read no further),
    /// and the errors of [`Config::from_yaml_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_yaml_str(&read_text(path.as_ref())?)
    }

    /// Checks the meaning of the config and returns every problem found, in file order.
    ///
    /// An empty list means the config is valid.
    pub fn validate(&self) -> Vec<Issue> {
        validate::validate(self).0
    }

    /// Returns the warnings of the config: doubts that do not stop the node.
    pub fn warnings(&self) -> Vec<Issue> {
        validate::validate(self).1
    }
}

/// Reads the text of a config file, at most [`MAX_CONFIG_BYTES`].
///
/// # Errors
///
/// [`ConfigError::Read`] where the file cannot be read as UTF-8 text, and
/// [`ConfigError::TooLarge`] for a longer file (read no further).
fn read_text(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let read = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from a longer one, and a
    // device or pipe that never ends is read no further.
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(MAX_CONFIG_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(read)?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            limit: MAX_CONFIG_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        read(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ))
    })
}
