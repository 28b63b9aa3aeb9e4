//! Semantic checks of a parsed [`Config`]. Every check runs, so all issues come back at once.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use otedama_sharechain::ChainSpec;

use super::bounds::{quote, shorten, shorten_quoted};
use super::{
    AppMode, Config, Issue, ListenerLimits, LogFilterError, MiningConfig, PoolConfig, Secret,
};

/// Longest node name and chain spec name, in bytes: names are shown in logs and the API.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest file or directory path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest URL, multiaddr, origin, device, log filter or credential, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Longest payout address, in bytes; bech32 addresses have at most 90 characters.
pub const MAX_ADDRESS_BYTES: usize = 128;

/// Collects issues, and warnings that do not stop the node, in the order the checks
/// find them.
#[derive(Default)]
pub(super) struct Issues(Vec<Issue>, Vec<Issue>);

impl Issues {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl AsRef<str>) {
        // Messages from other crates may quote a whole value.
        self.0
            .push(Issue::new(path, shorten_quoted(message.as_ref())));
    }

    pub(super) fn warn(&mut self, path: impl Into<String>, message: impl AsRef<str>) {
        self.1
            .push(Issue::new(path, shorten_quoted(message.as_ref())));
    }

    /// Checks that `value` has at most `max` bytes and no control characters; reports
    /// it at `path` and returns `false` otherwise, so that the checks of its meaning
    /// are skipped.
    pub(super) fn text(&mut self, path: impl Into<String>, value: &str, max: usize) -> bool {
        match text_problem(value, max, true) {
            None => true,
            Some(message) => {
                self.push(path, message);
                false
            }
        }
    }

    /// [`Issues::text`] for a path.
    fn path(&mut self, path: impl Into<String>, value: &Path) -> bool {
        self.text(path, &value.to_string_lossy(), MAX_PATH_BYTES)
    }

    /// [`Issues::text`] for a secret, which is never quoted.
    fn secret(&mut self, path: impl Into<String>, value: &Secret) -> bool {
        match text_problem(value.expose(), MAX_TEXT_BYTES, false) {
            None => true,
            Some(message) => {
                self.push(path, message);
                false
            }
        }
    }
}

/// What is wrong with `value` as text of at most `max` bytes without control
/// characters (which paths, names and addresses never hold, and logs and terminals
/// would act on); `quoted` quotes its start in the message.
fn text_problem(value: &str, max: usize, quoted: bool) -> Option<String> {
    if value.len() > max {
        return Some(if quoted {
            format!("must be at most {max} bytes, got {}", quote(value))
        } else {
            format!("must be at most {max} bytes, got {} bytes", value.len())
        });
    }
    let (at, c) = value.char_indices().find(|(_, c)| c.is_control())?;
    Some(format!(
        "must not contain control characters, got U+{:04X} at byte {at}",
        u32::from(c)
    ))
}

/// Returns the issues and the warnings of `config`.
pub(super) fn validate(config: &Config) -> (Vec<Issue>, Vec<Issue>) {
    let mut issues = Issues::default();
    check_app(config, &mut issues);
    check_mining(config, &mut issues);
    check_pool(config, &mut issues);
    check_api(config, &mut issues);
    check_listeners(config, &mut issues);
    check_p2p(config, &mut issues);
    check_chains(config, &mut issues);
    (issues.0, issues.1)
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn check_app(config: &Config, issues: &mut Issues) {
    let app = &config.app;
    if issues.text("app.name", &app.name, MAX_NAME_BYTES) && app.name.trim().is_empty() {
        issues.push("app.name", "must not be empty");
    }
    if issues.path("app.data_dir", &app.data_dir) && app.data_dir.as_os_str().is_empty() {
        issues.push("app.data_dir", "must not be empty");
    }
    if issues.text("app.log_level", &app.log_level, MAX_TEXT_BYTES)
        && let Err(err) = check_log_filter(&app.log_level)
    {
        issues.push("app.log_level", err.to_string());
    }
    if let Some(file) = &app.log_file {
        issues.path("app.log_file", file);
    }
    let rotation = &app.log_rotation;
    if !(1..=10_240).contains(&rotation.max_size_mb) {
        issues.push(
            "app.log_rotation.max_size_mb",
            format!(
                "must be between 1 and 10240 (MiB), got {}",
                rotation.max_size_mb
            ),
        );
    }
    if !(1..=1000).contains(&rotation.keep) {
        issues.push(
            "app.log_rotation.keep",
            format!("must be between 1 and 1000, got {}", rotation.keep),
        );
    }
}

/// Checks a `tracing` filter: a level, or comma-separated `target=level` directives.
///
/// It is stricter than the parser of `tracing_subscriber`'s `Targets`, which reads a
/// misspelt level (`verbose`) as a target name and then silently logs nothing useful.
///
/// # Errors
///
/// Returns a [`LogFilterError`] saying what is wrong with `filter`.
pub fn check_log_filter(filter: &str) -> Result<(), LogFilterError> {
    if filter.trim().is_empty() {
        return Err(LogFilterError::Empty);
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.contains(['[', '{']) {
            return Err(LogFilterError::Span {
                directive: directive.to_owned(),
            });
        }
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
            return Err(LogFilterError::UnknownLevel {
                level: level.to_owned(),
                filter: filter.to_owned(),
            });
        }
    }
    filter
        .parse::<tracing_subscriber::filter::Targets>()
        .map(drop)
        .map_err(|source| LogFilterError::Invalid {
            filter: filter.to_owned(),
            source,
        })
}

fn check_mining(config: &Config, issues: &mut Issues) {
    let mining: &MiningConfig = &config.mining;
    issues.text(
        "mining.payout_address",
        &mining.payout_address,
        MAX_ADDRESS_BYTES,
    );
    let affinity = &mining.cpu.affinity;
    if affinity.len() > otedama_miner::CpuAffinity::MAX_CPUS {
        issues.push(
            "mining.cpu.affinity",
            format!(
                "{} entries; at most {} (one per thread)",
                affinity.len(),
                otedama_miner::CpuAffinity::MAX_CPUS
            ),
        );
    } else if let Some((i, cpu)) = affinity
        .iter()
        .enumerate()
        .find(|(_, c)| **c as usize >= otedama_miner::CpuAffinity::MAX_CPUS)
    {
        issues.push(
            format!("mining.cpu.affinity[{i}]"),
            format!(
                "CPU {cpu} is beyond the {} a thread can be pinned to",
                otedama_miner::CpuAffinity::MAX_CPUS
            ),
        );
    }
    // The algorithm matters only once the miner runs, which needs a payout address.
    let monero = config.chains.iter().any(|c| c.monero_params().is_some());
    let etc = config.chains.iter().any(|c| c.etc_chain().is_some());
    if etc && mining.miner_enabled() && mining.algorithm != super::MiningAlgorithm::Etchash {
        issues.push(
            "mining.algorithm",
            format!(
                "{} cannot mine an Ethereum Classic chain; set etchash",
                mining.algorithm
            ),
        );
    } else if etc {
        // The built-in Etchash miner serves Ethereum Classic chains.
    } else if monero
        && mining.miner_enabled()
        && mining.algorithm != super::MiningAlgorithm::Randomx
    {
        issues.push(
            "mining.algorithm",
            format!(
                "{} cannot mine a Monero chain; set randomx",
                mining.algorithm
            ),
        );
    } else if monero {
        // The built-in RandomX miner serves Monero chains.
    } else if mining.miner_enabled()
        && mining.algorithm.pow_algorithm().is_none()
        && mining.algorithm != super::MiningAlgorithm::Kawpow
    {
        issues.push(
            "mining.algorithm",
            format!(
                "{} mines no chain of this config: the built-in miner mines sha256d and scrypt \
                 on their chains, kawpow on Ravencoin's, randomx on Monero's and etchash on \
                 Ethereum Classic's; ethash is measured by `otedama-node bench` only (see \
                 docs/ethash.md)",
                mining.algorithm
            ),
        );
    } else if mining.enable_cpu && mining.miner_enabled() {
        for (i, chain) in config.chains.iter().enumerate() {
            let Some(spec) = chain.chain_spec() else {
                continue;
            };
            if mining.algorithm.to_string() != spec.pow_name() {
                issues.push(
                    "mining.algorithm",
                    format!(
                        "{} does not match chain {} (chains[{i}]), which uses {}",
                        mining.algorithm,
                        spec.name,
                        spec.pow_name()
                    ),
                );
            }
        }
    }
    for (i, url) in mining.pool_urls.iter().enumerate() {
        let path = format!("mining.pool_urls[{i}]");
        if !issues.text(&path, url, MAX_TEXT_BYTES) {
            continue;
        }
        // The miner's own parser, so a config that passes here is one the miner starts with.
        if let Err(e) = otedama_miner::check_pool_url(url) {
            issues.push(
                path,
                format!(
                    "{e}: expected stratum+tcp://host:port or stratum2+tcp://host:port/KEY, got {}",
                    quote(url)
                ),
            );
        }
    }
    let gpu = &mining.gpu;
    if !(1..=31).contains(&gpu.intensity) {
        issues.push(
            "mining.gpu.intensity",
            format!("must be between 1 and 31, got {}", gpu.intensity),
        );
    }
    if !(40..=105).contains(&gpu.temperature_limit) {
        issues.push(
            "mining.gpu.temperature_limit",
            format!(
                "must be between 40 and 105 (degrees Celsius), got {}",
                gpu.temperature_limit
            ),
        );
    }
    check_unique(gpu.devices.iter(), "mining.gpu.devices", "device", issues);
    let asic = &mining.asic;
    check_unique(asic.devices.iter(), "mining.asic.devices", "device", issues);
    for (i, device) in asic.devices.iter().enumerate() {
        if !issues.text(format!("mining.asic.devices[{i}]"), device, MAX_TEXT_BYTES) {
            continue;
        }
        if device.trim().is_empty() {
            issues.push(format!("mining.asic.devices[{i}]"), "must not be empty");
        } else if let Err(e) = otedama_miner::asic::DeviceSpec::parse(device) {
            issues.push(format!("mining.asic.devices[{i}]"), e.to_string());
        }
    }
    if !(40..=105).contains(&asic.temperature_limit) {
        issues.push(
            "mining.asic.temperature_limit",
            format!(
                "must be between 40 and 105 (degrees Celsius), got {}",
                asic.temperature_limit
            ),
        );
    }
    let sensor = asic.temperature_sensor.trim();
    if issues.path("mining.asic.temperature_sensor", Path::new(sensor))
        && !sensor.is_empty()
        && !Path::new(sensor).is_absolute()
    {
        issues.push(
            "mining.asic.temperature_sensor",
            format!(
                "must be an absolute path to a hwmon temp*_input file, got {}",
                quote(sensor)
            ),
        );
    }
    if issues.text("mining.asic.family", &asic.family, MAX_NAME_BYTES)
        && let Err(e) = asic.family.parse::<otedama_miner::asic::ChipFamily>()
    {
        issues.push("mining.asic.family", e.to_string());
    }
    if asic.frequency != 0 && !(50..=1000).contains(&asic.frequency) {
        issues.push(
            "mining.asic.frequency",
            format!(
                "must be 0 (the chip's default) or 50 to 1000 MHz, got {}",
                asic.frequency
            ),
        );
    }
    if asic.poll_interval == Duration::ZERO {
        issues.push("mining.asic.poll_interval", "must be longer than 0s");
    }
}

/// Reports every value that appears more than once, at its later index.
fn check_unique<'a, T>(
    items: impl Iterator<Item = &'a T>,
    path: &str,
    what: &str,
    issues: &mut Issues,
) where
    T: Ord + std::fmt::Display + 'a,
{
    let mut seen = BTreeMap::new();
    for (i, item) in items.enumerate() {
        match seen.entry(item) {
            Entry::Vacant(entry) => {
                entry.insert(i);
            }
            Entry::Occupied(first) => issues.push(
                format!("{path}[{i}]"),
                format!(
                    "{what} {} is already listed at {path}[{}]",
                    shorten(&item.to_string(), super::bounds::QUOTE_CHARS),
                    first.get()
                ),
            ),
        }
    }
}

/// Checks `http://host[:port]` or `https://host[:port]`.
fn check_rpc_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("expected http://host:port, got {}", quote(url)));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "unsupported scheme {}; expected http or https",
            quote(scheme)
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    match split_host_port(authority) {
        Some(_) => Ok(()),
        None => Err(format!("expected {scheme}://host:port, got {}", quote(url))),
    }
}

/// Splits `host[:port]` (`[v6]:port` too). Returns `None` for an empty host or a bad port.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    match port {
        None => Some((host, None)),
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => None,
            Ok(port) => Some((host, Some(port))),
        },
    }
}

fn check_pool(config: &Config, issues: &mut Issues) {
    let pool: &PoolConfig = &config.pool;
    if pool.max_connections == 0 {
        issues.push("pool.max_connections", "must be at least 1");
    }
    if pool.max_connections_per_ip == 0 || pool.max_connections_per_ip > pool.max_connections.max(1)
    {
        issues.push(
            "pool.max_connections_per_ip",
            format!(
                "must be between 1 and pool.max_connections ({}), got {}",
                pool.max_connections, pool.max_connections_per_ip
            ),
        );
    }
    super::pool::check_fee(config, issues);
    super::pool::check_rewards(config, issues);
    super::pool::check_sv2(config, issues);
}

fn check_api(config: &Config, issues: &mut Issues) {
    let api = &config.api;
    if config.app.mode == AppMode::Production
        && api.enable
        && !api.auth.enabled
        && !api.address.ip().is_loopback()
    {
        issues.push(
            "api.auth.enabled",
            format!(
                "must be true in production mode while the API listens beyond loopback ({}): \
                 anyone who reaches it could stop mining; enable auth, listen on 127.0.0.1, \
                 or set app.mode: development",
                api.address
            ),
        );
    }
    let auth = &config.api.auth;
    if auth.enabled && auth.token_expiry == Duration::ZERO {
        issues.push(
            "api.auth.token_expiry",
            "must be longer than 0s while auth is enabled",
        );
    }
    for (i, origin) in config.api.cors_origins.iter().enumerate() {
        let path = format!("api.cors_origins[{i}]");
        if issues.text(&path, origin, MAX_TEXT_BYTES)
            && let Err(message) = check_origin(origin)
        {
            issues.push(path, message);
        }
    }
    if !(1..=64).contains(&config.api.websocket_clients_per_ip) {
        issues.push(
            "api.websocket_clients_per_ip",
            format!(
                "must be between 1 and 64, got {}",
                config.api.websocket_clients_per_ip
            ),
        );
    }
    let m = &config.monitoring;
    for (key, limits) in [
        ("api.limits", &config.api.limits),
        ("monitoring.metrics.limits", &m.metrics.limits),
        ("monitoring.health.limits", &m.health.limits),
    ] {
        check_limits(key, limits, issues);
    }
}

/// Checks a listener's caps (1 to 65 536, per IP within the total) and timeouts
/// (1 s to 10 min).
fn check_limits(key: &str, limits: &ListenerLimits, issues: &mut Issues) {
    if !(1..=65_536).contains(&limits.max_connections) {
        issues.push(
            format!("{key}.max_connections"),
            format!(
                "must be between 1 and 65536, got {}",
                limits.max_connections
            ),
        );
    }
    if limits.max_connections_per_ip == 0
        || limits.max_connections_per_ip > limits.max_connections.max(1)
    {
        issues.push(
            format!("{key}.max_connections_per_ip"),
            format!(
                "must be between 1 and {key}.max_connections ({}), got {}",
                limits.max_connections, limits.max_connections_per_ip
            ),
        );
    }
    for (field, value) in [
        ("header_timeout", limits.header_timeout),
        ("idle_timeout", limits.idle_timeout),
    ] {
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&value) {
            issues.push(
                format!("{key}.{field}"),
                format!("must be between 1s and 10m, got {value:?}"),
            );
        }
    }
}

/// Checks a browser origin: `http(s)://host[:port]`, nothing after it.
fn check_origin(origin: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "expected an origin such as https://host:port, got {}",
            quote(origin)
        )
    };
    let (scheme, authority) = origin.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    if authority.contains(['/', '?', '#', '@', '*', ' ']) || split_host_port(authority).is_none() {
        return Err(bad());
    }
    Ok(())
}

/// Reports two enabled listeners on the same port where their IPs overlap.
fn check_listeners(config: &Config, issues: &mut Issues) {
    let monitoring = &config.monitoring;
    let listeners: Vec<(&str, SocketAddr)> = [
        ("pool.address", config.pool.enable, config.pool.address),
        (
            "pool.sv2.address",
            config.pool.enable && config.pool.sv2.enable,
            config.pool.sv2.address,
        ),
        ("api.address", config.api.enable, config.api.address),
        (
            "monitoring.metrics.address",
            monitoring.metrics.enabled,
            monitoring.metrics.address,
        ),
        (
            "monitoring.health.address",
            monitoring.health.enabled,
            monitoring.health.address,
        ),
    ]
    .into_iter()
    .filter(|&(_, enabled, _)| enabled)
    .map(|(path, _, addr)| (path, addr))
    .collect();
    for (i, &(path, addr)) in listeners.iter().enumerate() {
        // Port 0 asks the OS for a free port, which never clashes.
        if addr.port() == 0 {
            continue;
        }
        let clash = listeners[..i].iter().find(|(_, other)| {
            other.port() == addr.port()
                && (other.ip() == addr.ip()
                    || other.ip().is_unspecified()
                    || addr.ip().is_unspecified())
        });
        if let Some((other_path, _)) = clash {
            issues.push(
                path,
                format!("port {} is also used by {other_path}", addr.port()),
            );
        }
    }
}

fn check_p2p(config: &Config, issues: &mut Issues) {
    let p2p = &config.p2p;
    for (key, addrs) in [
        ("listen", &p2p.listen),
        ("external_addresses", &p2p.external_addresses),
    ] {
        for (i, addr) in addrs.iter().enumerate() {
            let path = format!("p2p.{key}[{i}]");
            if issues.text(&path, addr, MAX_TEXT_BYTES)
                && let Err(message) = check_multiaddr(addr)
            {
                issues.push(path, message);
            }
        }
    }
    for (i, addr) in p2p.bootstrap.iter().enumerate() {
        let path = format!("p2p.bootstrap[{i}]");
        if !issues.text(&path, addr, MAX_TEXT_BYTES) {
            continue;
        }
        let result = check_multiaddr(addr).and_then(|components| match components.as_slice() {
            [.., "p2p", _] => Ok(components),
            _ => Err(format!("must end with /p2p/<peer id>, got {}", quote(addr))),
        });
        if let Err(message) = result {
            issues.push(path, message);
        }
    }
    if p2p.max_peers == 0 {
        issues.push("p2p.max_peers", "must be at least 1");
    }
}

/// Checks the outline of a multiaddr (`/proto/value/...`) and returns its components.
/// Protocol-level parsing is libp2p's job when the address is used.
fn check_multiaddr(addr: &str) -> Result<Vec<&str>, String> {
    let components: Option<Vec<&str>> =
        addr.strip_prefix('/').map(|rest| rest.split('/').collect());
    match components {
        Some(c) if !c.iter().any(|part| part.is_empty()) => Ok(c),
        _ => Err(format!(
            "must be a multiaddr such as /ip4/0.0.0.0/tcp/9333, got {}",
            quote(addr)
        )),
    }
}

fn check_chains(config: &Config, issues: &mut Issues) {
    if config.chains.is_empty() {
        issues.push("chains", "at least one chain is required");
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, chain) in config.chains.iter().enumerate() {
        let path = format!("chains[{i}]");
        let monero = chain.monero_params().is_some();
        if monero && config.chains.len() > 1 {
            issues.push(
                format!("{path}.spec"),
                "a Monero sidechain runs alone: one node process per Monero chain",
            );
        }
        let etc = chain.etc_chain().is_some();
        if etc {
            check_etc(config, &path, issues);
        }
        if chain
            .chain_spec()
            .is_some_and(|s| s.seal == otedama_sharechain::Seal::Kawpow)
        {
            check_kawpow(config, issues);
        }
        if monero && config.pool.fee_percentage > 0.0 {
            issues.push(
                "pool.fee_percentage",
                "the Monero Stratum takes no operator fee; set it to 0",
            );
        }
        if monero && let Err(e) = crate::monero::parse_wallet(&config.mining.payout_address) {
            issues.push(
                "mining.payout_address",
                format!("a Monero chain needs the node's own primary address: {e}"),
            );
        }
        if issues.text(format!("{path}.spec"), &chain.spec, MAX_NAME_BYTES)
            && chain.chain_spec().is_none()
            && !monero
            && !etc
        {
            let monero_names = otedama_sharechain::monero::SidechainParams::all().map(|p| p.name);
            let known: Vec<&str> = ChainSpec::all()
                .iter()
                .map(|s| s.name)
                .chain(monero_names.iter().map(String::as_str))
                .chain(crate::etc::EtcChain::all().iter().map(|c| c.name))
                .collect();
            issues.push(
                format!("{path}.spec"),
                format!(
                    "unknown chain spec {}; known: {}",
                    quote(&chain.spec),
                    known.join(", ")
                ),
            );
        }
        match seen.entry(&chain.spec) {
            Entry::Vacant(entry) => {
                entry.insert(i);
            }
            Entry::Occupied(first) => issues.push(
                format!("{path}.spec"),
                format!(
                    "duplicate chain spec {}, already at chains[{}]",
                    quote(&chain.spec),
                    first.get()
                ),
            ),
        }
        if chain.daemons.is_empty() {
            issues.push(format!("{path}.daemons"), "at least one daemon is required");
        }
        for (j, daemon) in chain.daemons.iter().enumerate() {
            let path = format!("{path}.daemons[{j}]");
            if issues.text(format!("{path}.url"), &daemon.url, MAX_TEXT_BYTES)
                && let Err(message) = check_rpc_url(&daemon.url)
            {
                issues.push(format!("{path}.url"), message);
            }
            if let Some(cookie) = &daemon.cookie_file {
                issues.path(format!("{path}.cookie_file"), cookie);
            }
            if let Some(user) = &daemon.user {
                issues.text(format!("{path}.user"), user, MAX_TEXT_BYTES);
            }
            if let Some(password) = &daemon.password {
                issues.secret(format!("{path}.password"), password);
            }
            if let Some(zmq) = &daemon.zmq
                && issues.text(format!("{path}.zmq"), zmq, MAX_TEXT_BYTES)
            {
                if !monero {
                    // Only monerod publishes templates over ZMQ.
                    issues.push(
                        format!("{path}.zmq"),
                        "only Monero chains read a ZMQ publisher",
                    );
                } else if !zmq.starts_with("tcp://")
                    || zmq["tcp://".len()..].rsplit_once(':').is_none()
                {
                    issues.push(format!("{path}.zmq"), "expected tcp://host:port");
                }
            }
            // monerod's and core-geth's RPC have no login by default; a local one needs none.
            let has_cookie = daemon.cookie_file.is_some();
            if (monero || etc) && !has_cookie && daemon.user.is_none() && daemon.password.is_none()
            {
                continue;
            }
            match (has_cookie, &daemon.user, &daemon.password) {
                (true, None, None) | (false, Some(_), Some(_)) => {}
                (true, _, _) => {
                    issues.push(path, "set either cookie_file or user+password, not both")
                }
                (false, None, None) => issues.push(path, "set cookie_file, or user and password"),
                (false, Some(_), None) => {
                    issues.push(format!("{path}.password"), "required with user")
                }
                (false, None, Some(_)) => {
                    issues.push(format!("{path}.user"), "required with password")
                }
            }
        }
    }
}

/// The checks of a KawPow sharechain: its Stratum speaks the KawPow dialect alone, and
/// its built-in miner is a KawPow client of that port or of `mining.pool_urls`.
fn check_kawpow(config: &Config, issues: &mut Issues) {
    if config.pool.sv2.enable {
        issues.push(
            "pool.sv2.enable",
            "Stratum V2 carries 80-byte headers only; KawPow miners use the KawPow dialect on \
             pool.address",
        );
    }
    for (i, url) in config.mining.pool_urls.iter().enumerate() {
        // The built-in miner's own reading of a KawPow pool URL (other faults of the URL
        // are reported with every chain's).
        if let Err(otedama_miner::UrlError::UnsupportedScheme(_)) =
            otedama_miner::dag_pool_endpoint(url)
            && otedama_miner::check_pool_url(url).is_ok()
        {
            issues.push(
                format!("mining.pool_urls[{i}]"),
                "KawPow pools speak the KawPow dialect of Stratum v1: use stratum+tcp://host:port",
            );
        }
    }
    let mining = &config.mining;
    if mining.miner_enabled() && mining.enable_asic {
        issues.push(
            "mining.enable_asic",
            "no ASIC mines KawPow; point KawPow GPU miners at the Stratum port instead",
        );
    }
}

/// The checks of a solo Ethereum Classic chain (`chains[i]` at `path`): it runs alone, and
/// nothing in the config may promise what a solo chain cannot do.
fn check_etc(config: &Config, path: &str, issues: &mut Issues) {
    if config.chains.len() > 1 {
        issues.push(
            format!("{path}.spec"),
            "an Ethereum Classic chain runs alone: one node process per chain",
        );
    }
    issues.warn(
        format!("{path}.spec"),
        "Ethereum Classic is mined solo: an ETC block has one beneficiary, so there is no \
         sharechain and no PPLNS split; every block pays the etherbase of the core-geth node \
         in chains[0].daemons (its --miner.etherbase), whoever's miner seals it",
    );
    if config.pool.fee_percentage > 0.0 {
        issues.push(
            "pool.fee_percentage",
            "a solo Ethereum Classic node cannot take a fee: every block pays core-geth's \
             etherbase alone; set it to 0",
        );
    }
    if config.pool.rewards.window.is_some() {
        issues.push(
            "pool.rewards.window",
            "a solo Ethereum Classic node has no PPLNS window; leave it out",
        );
    }
    let mining = &config.mining;
    if mining.miner_enabled() {
        if crate::parent::geth::normalize_address(&mining.payout_address).is_none() {
            issues.push(
                "mining.payout_address",
                format!(
                    "the built-in miner logs in with it, so it must be an Ethereum Classic \
                     address (0x and 40 hex digits), got {}",
                    quote(&mining.payout_address)
                ),
            );
        }
        if mining.enable_asic {
            issues.push(
                "mining.enable_asic",
                "no ASIC mines Etchash here; point Etchash ASICs at the Stratum port instead",
            );
        }
    }
}
