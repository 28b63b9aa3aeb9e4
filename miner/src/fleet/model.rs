//! What a miner's API replies say, normalized: hash rates in hashes per second,
//! temperatures in degrees Celsius, fans in RPM.
//!
//! Every field is optional: firmwares differ in what they report, so a missing or
//! unreadable field is `None`, never an error. Numbers are also read from strings
//! (bmminer sends `"GHS 5s":"95012.34"`, and every value of a text reply is a string).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One read of a miner: `summary`, `devs`, `pools` and `stats` together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinerReport {
    /// The whole miner.
    pub summary: Summary,
    /// Devices from `devs` (hash boards of an ASIC miner, or ASC/PGA/GPU devices).
    pub devices: Vec<DeviceStats>,
    /// Configured pools from `pools`.
    pub pools: Vec<PoolStatus>,
    /// Hash chains from an Antminer's `stats` (`chain_acn{i}`, `chain_rate{i}`).
    pub chains: Vec<ChainStats>,
    /// Fan speeds in RPM: Antminer `fan{n}` in order of `n`, or Whatsminer
    /// `Fan Speed In` then `Fan Speed Out`. A fan reading 0 is kept (stopped or absent).
    pub fans: Vec<u32>,
    /// Every temperature read, in degrees Celsius: the summary's, the devices', then the
    /// chains' board and chip temperatures.
    pub temperatures: Vec<f32>,
}

impl MinerReport {
    /// Returns the highest temperature read, if any.
    pub fn max_temperature(&self) -> Option<f32> {
        self.temperatures.iter().copied().reduce(f32::max)
    }

    /// Builds a report from the JSON-shaped replies to each command.
    pub(crate) fn assemble(
        summary: &Value,
        devs: Option<&Value>,
        pools: Option<&Value>,
        stats: Option<&Value>,
    ) -> MinerReport {
        let empty = Map::new();
        let summary_fields = items(summary, "SUMMARY").first().copied().unwrap_or(&empty);
        let mut report = MinerReport {
            summary: Summary::from_fields(summary_fields),
            devices: devs.map_or_else(Vec::new, |v| {
                items(v, "DEVS")
                    .into_iter()
                    .map(DeviceStats::from_fields)
                    .collect()
            }),
            pools: pools.map_or_else(Vec::new, |v| {
                items(v, "POOLS")
                    .into_iter()
                    .map(PoolStatus::from_fields)
                    .collect()
            }),
            ..MinerReport::default()
        };
        // Whatsminer reports its fans in the summary.
        report.fans.extend(
            ["Fan Speed In", "Fan Speed Out"]
                .iter()
                .filter_map(|key| small(summary_fields, key)),
        );
        if let Some(stats) = stats {
            let (chains, fans) = read_stats(&items(stats, "STATS"));
            report.chains = chains;
            report.fans.extend(fans);
        }
        report.temperatures = report
            .summary
            .temperature
            .into_iter()
            .chain(report.devices.iter().filter_map(|d| d.temperature))
            .chain(report.chains.iter().filter_map(|c| c.board_temperature))
            .chain(report.chains.iter().filter_map(|c| c.chip_temperature))
            .collect();
        report
    }
}

/// The miner-wide counters of `summary`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The recent hash rate in H/s (`MHS 5s`, Antminer `GHS 5s`).
    pub hashrate: Option<f64>,
    /// The hash rate averaged since start in H/s (`MHS av`, Antminer `GHS av`).
    pub hashrate_avg: Option<f64>,
    /// Accepted shares.
    pub accepted: Option<u64>,
    /// Rejected shares.
    pub rejected: Option<u64>,
    /// Hardware errors (results that failed the host's check).
    pub hardware_errors: Option<u64>,
    /// Stale shares.
    pub stale: Option<u64>,
    /// Seconds since the mining software started.
    pub elapsed: Option<u64>,
    /// The highest difficulty of a share found.
    pub best_share: Option<u64>,
    /// The miner's temperature in degrees Celsius (Whatsminer `Temperature`).
    pub temperature: Option<f32>,
}

impl Summary {
    fn from_fields(map: &Map<String, Value>) -> Summary {
        Summary {
            hashrate: hashrate_now(map),
            hashrate_avg: hashrate_avg(map),
            accepted: unsigned(map, "Accepted"),
            rejected: unsigned(map, "Rejected"),
            hardware_errors: unsigned(map, "Hardware Errors"),
            stale: unsigned(map, "Stale"),
            elapsed: unsigned(map, "Elapsed"),
            best_share: unsigned(map, "Best Share"),
            temperature: temperature(map, "Temperature"),
        }
    }
}

/// The driver class of a cgminer device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// An ASIC (`ASC`).
    Asc,
    /// An FPGA (`PGA`).
    Pga,
    /// A GPU (`GPU`).
    Gpu,
}

/// One device of `devs` or `edevs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceStats {
    /// The driver class, from the key holding the index.
    pub kind: Option<DeviceKind>,
    /// The index within its class (the value of `ASC`, `PGA` or `GPU`).
    pub index: Option<u32>,
    /// The driver name (`Name`, e.g. `BM1387`).
    pub name: Option<String>,
    /// Whether the device is enabled (`Enabled=Y`).
    pub enabled: Option<bool>,
    /// `Alive`, `Sick`, `Dead`, `NoStart`, `Initialising` or `Unknown`.
    pub status: Option<String>,
    /// The device temperature in degrees Celsius.
    pub temperature: Option<f32>,
    /// The recent hash rate in H/s.
    pub hashrate: Option<f64>,
    /// The hash rate averaged since start in H/s.
    pub hashrate_avg: Option<f64>,
    /// Accepted shares.
    pub accepted: Option<u64>,
    /// Rejected shares.
    pub rejected: Option<u64>,
    /// Hardware errors.
    pub hardware_errors: Option<u64>,
    /// The fan speed in RPM, for devices that report one (`Fan Speed`).
    pub fan_speed: Option<u32>,
}

impl DeviceStats {
    fn from_fields(map: &Map<String, Value>) -> DeviceStats {
        let (kind, index) = [
            ("ASC", DeviceKind::Asc),
            ("PGA", DeviceKind::Pga),
            ("GPU", DeviceKind::Gpu),
        ]
        .into_iter()
        .find(|(key, _)| map.contains_key(*key))
        .map_or((None, None), |(key, kind)| (Some(kind), small(map, key)));
        DeviceStats {
            kind,
            index,
            name: text(map, "Name"),
            enabled: flag(map, "Enabled"),
            status: text(map, "Status"),
            temperature: temperature(map, "Temperature"),
            hashrate: hashrate_now(map),
            hashrate_avg: hashrate_avg(map),
            accepted: unsigned(map, "Accepted"),
            rejected: unsigned(map, "Rejected"),
            hardware_errors: unsigned(map, "Hardware Errors"),
            fan_speed: small(map, "Fan Speed"),
        }
    }
}

/// One pool of `pools`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolStatus {
    /// The pool's index (`POOL`).
    pub index: Option<u32>,
    /// The pool URL.
    pub url: Option<String>,
    /// `Alive`, `Dead`, `Disabled`, `Rejecting` or `Unknown`.
    pub status: Option<String>,
    /// The failover priority; 0 is tried first.
    pub priority: Option<u32>,
    /// The worker name.
    pub user: Option<String>,
    /// Accepted shares.
    pub accepted: Option<u64>,
    /// Rejected shares.
    pub rejected: Option<u64>,
    /// Stale shares.
    pub stale: Option<u64>,
    /// Whether the miner is mining on this pool's stratum connection now.
    pub stratum_active: Option<bool>,
}

impl PoolStatus {
    fn from_fields(map: &Map<String, Value>) -> PoolStatus {
        PoolStatus {
            index: small(map, "POOL"),
            url: text(map, "URL"),
            status: text(map, "Status"),
            priority: small(map, "Priority"),
            user: text(map, "User"),
            accepted: unsigned(map, "Accepted"),
            rejected: unsigned(map, "Rejected"),
            stale: unsigned(map, "Stale"),
            stratum_active: flag(map, "Stratum Active"),
        }
    }
}

/// One hash chain (hash board) of an Antminer, from `stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainStats {
    /// The chain's index as the firmware numbers it (1..=3 on an S19, 6..=8 on an S9).
    pub index: u32,
    /// Chips found on the chain (`chain_acn{i}`).
    pub chips: Option<u32>,
    /// The chain's hash rate in H/s (`chain_rate{i}`, in `rate_unit`, GH/s by default).
    pub hashrate: Option<f64>,
    /// The board temperature in degrees Celsius (`temp{i}`).
    pub board_temperature: Option<f32>,
    /// The chip temperature in degrees Celsius (`temp2_{i}`).
    pub chip_temperature: Option<f32>,
}

/// Reads chains and fans from every item of `STATS`: the chains are those with a
/// `chain_acn{i}` or `chain_rate{i}` key; temperatures of other indices are ignored, as
/// firmwares list sensors for empty slots.
fn read_stats(items: &[&Map<String, Value>]) -> (Vec<ChainStats>, Vec<u32>) {
    let mut chains: BTreeMap<u32, ChainStats> = BTreeMap::new();
    let mut fans: BTreeMap<u32, u32> = BTreeMap::new();
    for map in items {
        let unit = match text(map, "rate_unit").as_deref().map(str::trim) {
            Some(u) if u.eq_ignore_ascii_case("TH/s") => 1e12,
            Some(u) if u.eq_ignore_ascii_case("MH/s") => 1e6,
            Some(u) if u.eq_ignore_ascii_case("KH/s") => 1e3,
            _ => 1e9,
        };
        for key in map.keys() {
            if let Some(i) = suffix_index(key, "chain_acn") {
                chains.entry(i).or_default().chips = small(map, key);
            } else if let Some(i) = suffix_index(key, "chain_rate") {
                chains.entry(i).or_default().hashrate = float(map, key).map(|r| r * unit);
            } else if let Some(n) = suffix_index(key, "fan")
                && let Some(rpm) = small(map, key)
            {
                fans.insert(n, rpm);
            }
        }
        for (&i, chain) in &mut chains {
            chain.index = i;
            if let Some(t) = temperature(map, &format!("temp{i}")) {
                chain.board_temperature = Some(t);
            }
            if let Some(t) = temperature(map, &format!("temp2_{i}")) {
                chain.chip_temperature = Some(t);
            }
        }
    }
    (chains.into_values().collect(), fans.into_values().collect())
}

/// The number after `prefix` when the rest of `key` is all digits: `chain_acn12` -> 12.
fn suffix_index(key: &str, prefix: &str) -> Option<u32> {
    let digits = key.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Hash-rate key prefixes and their factor to H/s.
const RATE_UNITS: [(&str, f64); 4] = [("THS", 1e12), ("GHS", 1e9), ("MHS", 1e6), ("KHS", 1e3)];

/// The recent hash rate: `<unit> 5s`, else the shortest `<unit> <n>s` (cgminer names it
/// after its log interval).
fn hashrate_now(map: &Map<String, Value>) -> Option<f64> {
    let mut best: Option<(u32, f64)> = None;
    for (key, _) in map {
        let Some((unit, window)) = key.split_once(' ') else {
            continue;
        };
        let Some(factor) = RATE_UNITS.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f) else {
            continue;
        };
        let Some(seconds) = window
            .strip_suffix('s')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(rate) = float(map, key) else {
            continue;
        };
        let rank = if seconds == 5 { 0 } else { seconds };
        if best.is_none_or(|(r, _)| rank < r) {
            best = Some((rank, rate * factor));
        }
    }
    best.map(|(_, rate)| rate)
}

/// The average hash rate: `<unit> av`.
fn hashrate_avg(map: &Map<String, Value>) -> Option<f64> {
    RATE_UNITS
        .iter()
        .find_map(|(unit, factor)| float(map, &format!("{unit} av")).map(|r| r * factor))
}

/// A finite number, or a string holding one.
pub(crate) fn float(map: &Map<String, Value>, key: &str) -> Option<f64> {
    match map.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

/// A non-negative integer; a fractional value is truncated.
pub(crate) fn unsigned(map: &Map<String, Value>, key: &str) -> Option<u64> {
    let whole = |v: f64| {
        // The upper bound is 2^64, the first value that does not fit.
        (v.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&v)).then_some(v as u64)
    };
    match map.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    }
}

/// A signed integer (a status `Code`).
pub(crate) fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn small(map: &Map<String, Value>, key: &str) -> Option<u32> {
    unsigned(map, key).and_then(|v| u32::try_from(v).ok())
}

fn temperature(map: &Map<String, Value>, key: &str) -> Option<f32> {
    float(map, key).map(|t| t as f32)
}

/// A string, or a number or boolean written as one.
pub(crate) fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `Y`/`N`, `true`/`false`, or a number (non-zero is true).
fn flag(map: &Map<String, Value>, key: &str) -> Option<bool> {
    match map.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|v| v != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" | "1" => Some(true),
            "n" | "no" | "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The objects of `section` in a reply: an array of objects, or a lone object.
pub(crate) fn items<'a>(reply: &'a Value, section: &str) -> Vec<&'a Map<String, Value>> {
    match reply.get(section) {
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(map)) => vec![map],
        _ => Vec::new(),
    }
}
