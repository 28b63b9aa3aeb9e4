//! The `pool` section (the Stratum server, the operator's fee and the reward system) and
//! the checks of its fee and rewards.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use otedama_sharechain::ChainSpec;
use serde::{Deserialize, Serialize};

use super::Config;
use super::sections::any_ipv4;
use super::validate::{Issues, MAX_ADDRESS_BYTES};

/// The `pool` section: the Stratum server miners connect to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Serves miners; off, the Stratum server listens only on a private loopback port,
    /// for the built-in miner.
    pub enable: bool,
    /// Stratum listen address.
    pub address: SocketAddr,
    /// Most miner connections in total.
    pub max_connections: u32,
    /// Most miner connections from one IP address.
    pub max_connections_per_ip: u32,
    /// The operator's fee on other miners' work, percent (0 to 10): that share of the
    /// jobs sent to miners other than the operator's own pays `fee_address` instead.
    pub fee_percentage: f64,
    /// The parent-chain address the fee is paid to; empty pays it to
    /// `mining.payout_address`.
    pub fee_address: String,
    /// Reward system settings.
    pub rewards: RewardsConfig,
    /// Stratum V2 beside Stratum v1.
    pub sv2: Sv2Section,
}

/// The `pool.sv2` section: Stratum V2 (Noise-encrypted, binary) on its own port, for
/// SV2 firmware and proxies such as SRI's translator. The authority key that signs each
/// connection's certificate is `<data_dir>/sv2_authority.key`, created on first use;
/// `otedama-node keygen` prints its public half, which clients pin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sv2Section {
    /// Serve Stratum V2 (only while `pool.enable` is true).
    pub enable: bool,
    /// Listen address.
    pub address: SocketAddr,
    /// How long each connection's certificate is valid.
    #[serde(with = "humantime_serde")]
    pub cert_validity: Duration,
}

impl Default for Sv2Section {
    fn default() -> Self {
        Self {
            enable: false,
            address: any_ipv4(3336),
            cert_validity: Duration::from_secs(3600),
        }
    }
}

impl PoolConfig {
    /// Returns the address the fee is paid to, if a fee is taken: `fee_address`, else
    /// `payout_address` (the built-in miner's).
    pub fn fee_recipient<'a>(&'a self, payout_address: &'a str) -> Option<&'a str> {
        let address = match self.fee_address.trim() {
            "" => payout_address.trim(),
            address => address,
        };
        (self.fee_percentage > 0.0 && !address.is_empty()).then_some(address)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            enable: true,
            address: any_ipv4(3333),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            fee_percentage: 0.0,
            fee_address: String::new(),
            rewards: RewardsConfig::default(),
            sv2: Sv2Section::default(),
        }
    }
}

/// The `pool.rewards` section. Both values are fixed by the chain spec; they are here to be checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardsConfig {
    /// The reward system; only PPLNS exists.
    pub system: RewardSystem,
    /// The PPLNS window; `None` takes the chain spec's, any other value must equal it.
    pub window: Option<RewardsWindow>,
}

/// A reward system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RewardSystem {
    /// Pay per last N shares, weighted by work, computed by every node alike.
    #[default]
    #[serde(rename = "PPLNS")]
    Pplns,
    /// Pay per share: parsed only to be refused with the reason (see the validation).
    #[serde(rename = "PPS")]
    Pps,
}

/// The PPLNS window as written: a share count, or a duration (the share count times
/// the chain's share period).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewardsWindow {
    /// A number of shares.
    Shares(u32),
    /// A span of time.
    Duration(Duration),
}

impl Serialize for RewardsWindow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RewardsWindow::Shares(n) => s.serialize_u32(*n),
            RewardsWindow::Duration(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for RewardsWindow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RewardsWindow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share count (8640) or a duration (36h)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RewardsWindow, E> {
                u32::try_from(v)
                    .map(RewardsWindow::Shares)
                    .map_err(|_| E::custom(format!("share count {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RewardsWindow, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("share count {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RewardsWindow, E> {
                humantime_serde::re::humantime::parse_duration(v.trim())
                    .map(RewardsWindow::Duration)
                    .map_err(|e| {
                        E::custom(format!(
                            "expected a share count (8640) or a duration (36h), got {}: {e}",
                            super::quote(v)
                        ))
                    })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl fmt::Display for RewardsWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewardsWindow::Shares(n) => write!(f, "{n} shares"),
            // In the largest whole unit (36h rather than humantime's "1day 12h").
            RewardsWindow::Duration(d) => match (d.as_secs(), d.subsec_nanos()) {
                (s, 0) if s > 0 && s % 3600 == 0 => write!(f, "{}h", s / 3600),
                (s, 0) if s > 0 && s % 60 == 0 => write!(f, "{}m", s / 60),
                (s, 0) => write!(f, "{s}s"),
                _ => write!(f, "{}", humantime_serde::re::humantime::format_duration(*d)),
            },
        }
    }
}

/// The most an operator may take from other miners' work, percent.
pub const MAX_FEE_PERCENTAGE: f64 = 10.0;

/// Checks `pool.sv2`: a certificate validity SV2 clients can use.
pub(super) fn check_sv2(config: &Config, issues: &mut Issues) {
    let sv2 = &config.pool.sv2;
    if !sv2.enable {
        return;
    }
    let validity = sv2.cert_validity;
    if !(Duration::from_secs(60)..=Duration::from_secs(365 * 86_400)).contains(&validity) {
        issues.push(
            "pool.sv2.cert_validity",
            format!(
                "must be between 1m and 365days, got {}",
                humantime_serde::re::humantime::format_duration(validity)
            ),
        );
    }
}

pub(super) fn check_fee(config: &Config, issues: &mut Issues) {
    let pool: &PoolConfig = &config.pool;
    let fee = pool.fee_percentage;
    if !(0.0..=MAX_FEE_PERCENTAGE).contains(&fee) {
        issues.push(
            "pool.fee_percentage",
            format!("must be between 0 and {MAX_FEE_PERCENTAGE} (percent), got {fee}"),
        );
    }
    if !issues.text("pool.fee_address", &pool.fee_address, MAX_ADDRESS_BYTES) {
        return;
    }
    let (key, address) = match pool.fee_address.trim() {
        "" if fee > 0.0 => ("mining.payout_address", config.mining.payout_address.trim()),
        "" => return,
        address => ("pool.fee_address", address),
    };
    if address.is_empty() {
        if fee <= MAX_FEE_PERCENTAGE {
            issues.warn(
                "pool.fee_percentage",
                format!(
                    "{fee} % takes no fee until pool.fee_address (or mining.payout_address, \
                     which it defaults to) names the address it is paid to"
                ),
            );
        }
        return;
    }
    for (i, spec) in config
        .chains
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.chain_spec().map(|s| (i, s)))
    {
        if let Err(e) = otedama_sharechain::parse_address(address, spec) {
            let role = if key == "pool.fee_address" {
                ""
            } else {
                " (the fee is paid to it, as pool.fee_address is empty)"
            };
            issues.push(
                key,
                format!(
                    "not an address of chain {} (chains[{i}]){role}: {e}",
                    spec.name
                ),
            );
        }
    }
}

pub(super) fn check_rewards(config: &Config, issues: &mut Issues) {
    let rewards = &config.pool.rewards;
    if rewards.system == RewardSystem::Pps {
        issues.push(
            "pool.rewards.system",
            "PPS is not possible here: pay per share needs an operator who pays every share \
             at once from their own funds and carries the luck of finding blocks. A sharechain \
             has no such operator: blocks pay miners directly in their coinbase, split by \
             PPLNS as every node computes it, so no one holds funds to pay from. Use PPLNS",
        );
    }
    let Some(window) = rewards.window else {
        return;
    };
    for spec in config.chains.iter().filter_map(|c| c.chain_spec()) {
        if window_matches(window, spec) {
            continue;
        }
        let span = RewardsWindow::Duration(window_span(spec));
        let shares = spec.window_max_shares;
        // A chain of the same parent coin whose window this is: the user may mean it.
        let other = ChainSpec::all()
            .iter()
            .find(|s| s.parent == spec.parent && window_matches(window, s))
            .map(|s| format!(" (chain {} has that window)", s.name))
            .unwrap_or_default();
        issues.push(
            "pool.rewards.window",
            format!(
                "is {window}, but the PPLNS window is part of the sharechain's consensus \
                 (every node must split rewards alike), so it cannot be set here: chain {} \
                 has {shares} shares of {}s each, {span}; leave it out, or write {shares} or \
                 {span}{other}",
                spec.name, spec.share_period_secs,
            ),
        );
    }
}

/// Returns how long `spec`'s window lasts at its share period.
fn window_span(spec: &ChainSpec) -> Duration {
    Duration::from_secs(spec.share_period_secs) * spec.window_max_shares
}

/// Returns whether `window` names `spec`'s window: its share count, or its span within one
/// share period.
fn window_matches(window: RewardsWindow, spec: &ChainSpec) -> bool {
    match window {
        RewardsWindow::Shares(n) => n == spec.window_max_shares,
        RewardsWindow::Duration(d) => {
            d.abs_diff(window_span(spec)) <= Duration::from_secs(spec.share_period_secs)
        }
    }
}
