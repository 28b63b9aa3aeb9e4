//! The `chains` section: which sharechains the node runs, and their parent-chain daemons.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Secret;

/// One sharechain the node runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// Name of a chain spec built into `otedama_sharechain` (`ltc-main`).
    pub spec: String,
    /// RPC endpoints of parent-chain daemons, in failover order; at least one.
    pub daemons: Vec<DaemonConfig>,
}

impl ChainConfig {
    /// Returns the chain spec named by `spec`, if it is a known one.
    pub fn chain_spec(&self) -> Option<&'static otedama_sharechain::ChainSpec> {
        otedama_sharechain::ChainSpec::by_name(&self.spec)
    }

    /// Returns the Monero sidechain named by `spec` (`xmr-main`, `xmr-mini`, `xmr-nano`,
    /// `xmr-regtest`), if it is one.
    pub fn monero_params(&self) -> Option<otedama_sharechain::monero::SidechainParams> {
        otedama_sharechain::monero::SidechainParams::by_name(&self.spec)
    }

    /// Returns the Ethereum Classic network named by `spec` (`etc-main`, `etc-regtest`),
    /// mined solo, if it is one.
    pub fn etc_chain(&self) -> Option<&'static crate::etc::EtcChain> {
        crate::etc::EtcChain::by_name(&self.spec)
    }
}

/// The RPC endpoint of one parent-chain daemon.
///
/// It authenticates with either `cookie_file`, or `user` and `password`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// The RPC URL, `http://host:port`.
    pub url: String,
    /// The daemon's `.cookie` file; a leading `~/` stands for the home directory.
    pub cookie_file: Option<PathBuf>,
    /// RPC user name (with `password`).
    pub user: Option<String>,
    /// RPC password (with `user`).
    pub password: Option<Secret>,
    /// monerod's ZMQ publisher (`tcp://127.0.0.1:18083`, monerod's `--zmq-pub`): new
    /// templates arrive at once instead of at the next poll. Monero chains only.
    pub zmq: Option<String>,
}

impl DaemonConfig {
    /// Returns `cookie_file` with a leading `~/` replaced by `home`.
    ///
    /// It returns the path unchanged where it has no `~/` or `home` is `None`.
    pub fn cookie_path(&self, home: Option<&Path>) -> Option<PathBuf> {
        let path = self.cookie_file.as_ref()?;
        match (path.strip_prefix("~"), home) {
            (Ok(rest), Some(home)) => Some(home.join(rest)),
            _ => Some(path.clone()),
        }
    }
}

/// Returns the default `chains`: Litecoin mainnet through a local litecoind with its cookie file.
pub(super) fn default_chains() -> Vec<ChainConfig> {
    vec![ChainConfig {
        spec: "ltc-main".into(),
        daemons: vec![DaemonConfig {
            url: "http://127.0.0.1:9332".into(),
            cookie_file: Some(PathBuf::from("~/.litecoin/.cookie")),
            user: None,
            password: None,
            zmq: None,
        }],
    }]
}
