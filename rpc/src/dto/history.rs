//! `GET /api/history`: the node's time series at minute or hour resolution.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The series every node keeps, in the order the API lists them.
pub const HISTORY_SERIES: [&str; 7] = [
    "pool_hashrate",
    "local_hashrate",
    "shares_accepted",
    "shares_rejected",
    "shares_stale",
    "stratum_connections",
    "peers",
];

/// The prefix of a per-miner hashrate series: `miner:<payout address>`, its hashrate as
/// the sharechain sees it.
pub const MINER_SERIES_PREFIX: &str = "miner:";
/// The prefix of a per-miner workers series: `workers:<payout address>`, its hashrate as
/// its Stratum workers on the node report it.
pub const WORKERS_SERIES_PREFIX: &str = "workers:";

/// Most series one request may ask for.
pub const MAX_HISTORY_SERIES: usize = 16;

/// Longest `series` parameter read, in bytes (16 names of a long address each fit).
const MAX_SERIES_PARAM: usize = 2048;

/// The query of `GET /api/history`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Comma-separated series names, at most 16: `pool_hashrate`, `local_hashrate`,
    /// `shares_accepted`, `shares_rejected`, `shares_stale`, `stratum_connections`,
    /// `peers`, `miner:<address>` (a payout address's hashrate as the sharechain sees it,
    /// kept while it has a share in the last 24 h) or `workers:<address>` (as its Stratum
    /// workers on this node report it); an address the node does not track has no points
    /// (default: every series but the miners').
    pub series: Option<String>,
    /// `1h`, `24h`, `7d` or `30d` (default `1h`). Up to `24h` the points are minutes,
    /// beyond it hours.
    pub range: Option<String>,
}

/// How far back a history request reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryRange {
    /// The last hour, in minutes.
    Hour,
    /// The last 24 hours, in minutes.
    Day,
    /// The last 7 days, in hours.
    Week,
    /// The last 30 days, in hours.
    Month,
}

impl HistoryRange {
    /// Every range with its name, shortest first.
    pub const ALL: [(HistoryRange, &'static str); 4] = [
        (HistoryRange::Hour, "1h"),
        (HistoryRange::Day, "24h"),
        (HistoryRange::Week, "7d"),
        (HistoryRange::Month, "30d"),
    ];

    /// Returns the range named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(r, _)| *r)
    }

    /// Returns the range's length in seconds.
    pub fn secs(self) -> u64 {
        match self {
            HistoryRange::Hour => 3600,
            HistoryRange::Day => 24 * 3600,
            HistoryRange::Week => 7 * 24 * 3600,
            HistoryRange::Month => 30 * 24 * 3600,
        }
    }

    /// Returns the spacing of its points: a minute up to 24 h, else an hour.
    pub fn resolution_secs(self) -> u64 {
        if self.secs() <= 24 * 3600 { 60 } else { 3600 }
    }
}

/// A validated history request: 1 to [`MAX_HISTORY_SERIES`] distinct names, each a
/// fixed series or a `miner:` series (which the node checks), and a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The series, in the order asked, without repeats.
    pub series: Vec<String>,
    /// The range.
    pub range: HistoryRange,
}

/// Returns the message of an unknown series name: the name and the valid ones.
pub fn unknown_series_message(name: &str) -> String {
    format!(
        "unknown series {name:?}; valid: {}, {MINER_SERIES_PREFIX}<address> (a payout address's hashrate as the sharechain sees it) or {WORKERS_SERIES_PREFIX}<address> (as its workers on this node report it)",
        HISTORY_SERIES.join(", ")
    )
}

impl HistoryRequest {
    /// Checks a query.
    ///
    /// # Errors
    /// A message naming the parameter that is not valid, and the valid values.
    pub fn from_query(q: HistoryQuery) -> Result<Self, String> {
        let range = match q.range.as_deref() {
            None => HistoryRange::Hour,
            Some(r) => HistoryRange::parse(r).ok_or_else(|| {
                let names: Vec<&str> = HistoryRange::ALL.iter().map(|(_, n)| *n).collect();
                format!("unknown range {r:?}; valid: {}", names.join(", "))
            })?,
        };
        let series = match q.series.as_deref() {
            None => HISTORY_SERIES.iter().map(|s| (*s).to_owned()).collect(),
            Some(list) if list.len() > MAX_SERIES_PARAM => {
                return Err(format!("series is longer than {MAX_SERIES_PARAM} bytes"));
            }
            Some(list) => {
                let mut series: Vec<String> = Vec::new();
                for name in list.split(',').map(str::trim) {
                    let fixed = HISTORY_SERIES.contains(&name);
                    let miner = name
                        .strip_prefix(MINER_SERIES_PREFIX)
                        .or_else(|| name.strip_prefix(WORKERS_SERIES_PREFIX))
                        .is_some_and(|a| {
                            !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric())
                        });
                    if !fixed && !miner {
                        return Err(unknown_series_message(name));
                    }
                    if !series.iter().any(|s| s == name) {
                        series.push(name.to_owned());
                    }
                }
                if series.len() > MAX_HISTORY_SERIES {
                    return Err(format!(
                        "at most {MAX_HISTORY_SERIES} series per request, got {}",
                        series.len()
                    ));
                }
                series
            }
        };
        Ok(Self { series, range })
    }
}

/// `GET /api/history`: the points of each series asked for, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// Each series' points as `[unix_secs, value]`: the start of the minute or hour.
    /// Rates and gauges are the reading of the minute (the hour's mean of its minutes);
    /// share counts are the shares in the minute or hour. A missing point is a time
    /// the node did not run.
    #[schema(value_type = BTreeMap<String, Vec<Vec<f64>>>)]
    pub series: BTreeMap<String, Vec<(u64, f64)>>,
    /// The spacing of the points: 60 or 3600.
    pub resolution_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(series: Option<&str>, range: Option<&str>) -> Result<HistoryRequest, String> {
        HistoryRequest::from_query(HistoryQuery {
            series: series.map(str::to_owned),
            range: range.map(str::to_owned),
        })
    }

    #[test]
    fn requests_are_checked_and_bounded() {
        let all = q(None, None).expect("defaults");
        assert_eq!(all.range, HistoryRange::Hour);
        assert_eq!(all.series.len(), HISTORY_SERIES.len());
        let r = q(
            Some("peers, pool_hashrate,peers,miner:rltc1qabc"),
            Some("30d"),
        )
        .expect("ok");
        assert_eq!(r.series, ["peers", "pool_hashrate", "miner:rltc1qabc"]);
        assert_eq!(
            (r.range.secs(), r.range.resolution_secs()),
            (30 * 86400, 3600)
        );
        assert_eq!(
            q(None, Some("24h")).expect("ok").range.resolution_secs(),
            60
        );
        assert_eq!(
            q(None, Some("7d")).expect("ok").range.resolution_secs(),
            3600
        );
        let e = q(Some("nope"), None).expect_err("unknown");
        assert!(e.contains("\"nope\"") && e.contains("pool_hashrate"), "{e}");
        assert!(
            q(None, Some("2h"))
                .expect_err("range")
                .contains("1h, 24h, 7d, 30d")
        );
        assert!(q(Some("miner:"), None).is_err());
        assert!(q(Some("miner:a b"), None).is_err());
        assert!(q(Some(""), None).is_err());
        let many: Vec<String> = (0..17).map(|i| format!("miner:a{i}")).collect();
        assert!(
            q(Some(&many.join(",")), None)
                .expect_err("too many")
                .contains("at most 16")
        );
        assert!(q(Some(&"a".repeat(5000)), None).is_err());
    }
}
