//! Miner configuration and pool URLs.

use crate::error::UrlError;
use crate::priority::{CpuAffinity, ThreadPriority};
use otedama_sharechain::PowAlgorithm;
use std::fmt;

/// What the miner mines and where.
#[derive(Clone)]
pub struct MinerConfig {
    /// Pool URLs (`stratum+tcp://host:port`, or `stratum2+tcp://host:port/KEY` for
    /// Stratum V2), in failover order; v1 and v2 pools may be mixed.
    pub pools: Vec<String>,
    /// Stratum user (for Otedama: the payout address, optionally `.worker`).
    pub user: String,
    /// Stratum password.
    pub password: String,
    /// Hashing threads; 0 uses every available core.
    pub threads: usize,
    /// The proof-of-work algorithm.
    pub algorithm: PowAlgorithm,
    /// Caps the total hashrate (hashes per second over all threads); `None` runs flat out.
    pub max_hashrate: Option<f64>,
    /// Scheduling priority of the hashing threads.
    pub priority: ThreadPriority,
    /// The CPUs the hashing threads are pinned to (empty: the OS places them).
    pub affinity: CpuAffinity,
}

impl fmt::Debug for MinerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinerConfig")
            .field("pools", &self.pools)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("threads", &self.threads)
            .field("algorithm", &self.algorithm)
            .field("max_hashrate", &self.max_hashrate)
            .field("priority", &self.priority)
            .field("affinity", &self.affinity)
            .finish()
    }
}

/// Checks a pool URL the way the miner reads it when it starts: `stratum+tcp://host:port`,
/// the scheme optional, IPv6 hosts in brackets.
///
/// # Errors
/// What is wrong with it.
pub fn check_pool_url(url: &str) -> Result<(), UrlError> {
    PoolUrl::parse(url).map(drop)
}

/// The host and port of a pool URL for the DAG dialects (`stratum+tcp://host:port`, the
/// scheme optional, IPv6 hosts in brackets).
///
/// # Errors
/// What is wrong with it; a Stratum V2 URL is an unsupported scheme here.
pub fn dag_pool_endpoint(url: &str) -> Result<(String, u16), UrlError> {
    match PoolUrl::parse(url)? {
        PoolUrl {
            sv2_authority: Some(_),
            ..
        } => Err(UrlError::UnsupportedScheme("stratum2+tcp".to_owned())),
        PoolUrl { host, port, .. } => Ok((host, port)),
    }
}

/// A parsed pool URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolUrl {
    /// The URL as configured (shown in stats and logs).
    pub url: String,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// For Stratum V2 (`stratum2+tcp://host:port/KEY`), the pool's authority key.
    pub sv2_authority: Option<[u8; 32]>,
}

impl PoolUrl {
    /// Parses `stratum+tcp://host:port` (the scheme may be omitted; IPv6 hosts in
    /// brackets) and `stratum2+tcp://host:port/AUTHORITY_PUBKEY` (Stratum V2, the key in
    /// SV2's base58check form).
    pub fn parse(url: &str) -> Result<PoolUrl, UrlError> {
        let (rest, sv2) = match url.split_once("://") {
            Some(("stratum+tcp", rest)) => (rest, false),
            Some(("stratum2+tcp", rest)) => (rest, true),
            Some((scheme, _)) => return Err(UrlError::UnsupportedScheme(scheme.to_owned())),
            None => (url, false),
        };
        let (rest, sv2_authority) = if sv2 {
            let (rest, key) = rest.rsplit_once('/').ok_or(UrlError::MissingAuthority)?;
            if key.is_empty() {
                return Err(UrlError::MissingAuthority);
            }
            let decoded = otedama_stratum::sv2::noise::decode_public(key).map_err(|reason| {
                UrlError::BadAuthority {
                    key: key.to_owned(),
                    reason,
                }
            })?;
            (rest, Some(decoded))
        } else {
            (rest.strip_suffix('/').unwrap_or(rest), None)
        };
        let (host, after) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(UrlError::EmptyHost)?;
            (host, after)
        } else {
            match rest.find([':', '/']) {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            }
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        let port = after.strip_prefix(':').ok_or_else(|| {
            if after.is_empty() {
                UrlError::MissingPort
            } else {
                UrlError::UnexpectedPath(after.to_owned())
            }
        })?;
        if let Some(i) = port.find('/') {
            return Err(UrlError::UnexpectedPath(port[i..].to_owned()));
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(UrlError::InvalidPort(port.to_owned())),
        };
        Ok(PoolUrl {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            sv2_authority,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_pools_are_stratum_v1_endpoints() {
        assert_eq!(
            dag_pool_endpoint("stratum+tcp://rvn.example:3333"),
            Ok(("rvn.example".to_owned(), 3333))
        );
        assert_eq!(
            dag_pool_endpoint("[::1]:4444"),
            Ok(("::1".to_owned(), 4444))
        );
        assert_eq!(
            dag_pool_endpoint(
                "stratum2+tcp://127.0.0.1:3336/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
            ),
            Err(UrlError::UnsupportedScheme("stratum2+tcp".to_owned()))
        );
        assert_eq!(
            dag_pool_endpoint("stratum+tcp://a"),
            Err(UrlError::MissingPort)
        );
    }

    #[test]
    fn parses_pool_urls() {
        let u = PoolUrl::parse("stratum+tcp://pool.example:3333").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("pool.example", 3333));
        let u = PoolUrl::parse("127.0.0.1:9332/").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 9332));
        let u = PoolUrl::parse("stratum+tcp://[::1]:3333").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 3333));
        assert_eq!(u.url, "stratum+tcp://[::1]:3333");
        assert_eq!(u.sv2_authority, None);
        // Stratum V2, with SRI's well-known test authority key.
        let key = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
        let u = PoolUrl::parse(&format!("stratum2+tcp://[::1]:3336/{key}")).expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 3336));
        assert_eq!(
            u.sv2_authority,
            Some(otedama_stratum::sv2::noise::decode_public(key).expect("key"))
        );
    }

    #[test]
    fn rejects_bad_urls() {
        let cases = [
            ("http://a:1", UrlError::UnsupportedScheme("http".into())),
            (
                "stratum+ssl://a:1",
                UrlError::UnsupportedScheme("stratum+ssl".into()),
            ),
            ("stratum+tcp://:1", UrlError::EmptyHost),
            ("stratum+tcp://a", UrlError::MissingPort),
            ("stratum+tcp://a:0", UrlError::InvalidPort("0".into())),
            (
                "stratum+tcp://a:70000",
                UrlError::InvalidPort("70000".into()),
            ),
            ("stratum+tcp://a:x", UrlError::InvalidPort("x".into())),
            ("stratum+tcp://a:1/x", UrlError::UnexpectedPath("/x".into())),
            ("stratum+tcp://a/x", UrlError::UnexpectedPath("/x".into())),
            ("", UrlError::EmptyHost),
            ("stratum2+tcp://a:1", UrlError::MissingAuthority),
            ("stratum2+tcp://a:1/", UrlError::MissingAuthority),
        ];
        for (url, err) in cases {
            assert_eq!(PoolUrl::parse(url), Err(err), "{url}");
        }
        assert!(matches!(
            PoolUrl::parse("stratum2+tcp://a:1/notakey"),
            Err(UrlError::BadAuthority { .. })
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let c = MinerConfig {
            pools: vec![],
            user: "u".into(),
            password: "hunter2".into(),
            threads: 1,
            algorithm: PowAlgorithm::Sha256d,
            max_hashrate: None,
            priority: ThreadPriority::Low,
            affinity: CpuAffinity::default(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
