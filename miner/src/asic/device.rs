//! ASIC device specs as written in config: which chains to open, or which network
//! miners to watch.

use super::chain::{Chain, ChainConfig, ChainError};
use super::chip::{ChipFamily, UnknownFamily};
use super::sim::{ChainSim, SimConfig};
use std::fmt;

/// One entry of `mining.asic.devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// `usb`: every known USB miner found.
    AllUsb,
    /// `usb:BUS-ADDRESS`: one USB miner.
    Usb {
        /// Bus number.
        bus: u8,
        /// Device address.
        address: u8,
    },
    /// `sim:FAMILY[xCHIPS]`: an emulated chain (devnets and tests), e.g. `sim:bm1366x4`.
    Sim {
        /// The chip family.
        family: ChipFamily,
        /// Chips on the chain.
        chips: usize,
    },
    /// `HOST:PORT`: a network miner watched through its cgminer API (port 4028).
    Network(String),
}

/// What is wrong with an entry of `mining.asic.devices`; each names the entry as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceSpecError {
    /// `usb:` not followed by `BUS-ADDRESS` numbers.
    #[error("{spec:?}: expected usb:BUS-ADDRESS, e.g. usb:1-4")]
    UsbAddress {
        /// The entry.
        spec: String,
    },
    /// `sim:FAMILYxCHIPS` whose chip count is not a number.
    #[error("{spec:?}: bad chip count")]
    ChipCount {
        /// The entry.
        spec: String,
        /// Why the count does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// `sim:` with a chip family that is not known.
    #[error("{spec:?}: {source}")]
    Family {
        /// The entry.
        spec: String,
        /// The unknown family.
        #[source]
        source: UnknownFamily,
    },
    /// `sim:` with fewer than 1 or more than 256 chips.
    #[error("{spec:?}: 1 to 256 chips")]
    Chips {
        /// The entry.
        spec: String,
        /// The chip count asked for.
        chips: usize,
    },
    /// None of the forms.
    #[error("{spec:?}: expected usb, usb:BUS-ADDRESS, sim:FAMILYxCHIPS or HOST:PORT")]
    Unknown {
        /// The entry.
        spec: String,
    },
}

/// The message alone, for callers that collect configuration problems as text.
impl From<DeviceSpecError> for String {
    fn from(e: DeviceSpecError) -> String {
        e.to_string()
    }
}

impl DeviceSpec {
    /// Parses a config entry.
    ///
    /// # Errors
    /// [`DeviceSpecError`] saying what is wrong with it.
    pub fn parse(s: &str) -> Result<DeviceSpec, DeviceSpecError> {
        let s = s.trim();
        let spec = || s.to_owned();
        if s.eq_ignore_ascii_case("usb") {
            return Ok(DeviceSpec::AllUsb);
        }
        if let Some(rest) = s.strip_prefix("usb:") {
            let (bus, address) = rest
                .split_once('-')
                .and_then(|(b, a)| Some((b.parse().ok()?, a.parse().ok()?)))
                .ok_or_else(|| DeviceSpecError::UsbAddress { spec: spec() })?;
            return Ok(DeviceSpec::Usb { bus, address });
        }
        if let Some(rest) = s.strip_prefix("sim:") {
            let (family, chips) = match rest.split_once('x') {
                Some((f, n)) => (
                    f,
                    n.parse::<usize>()
                        .map_err(|source| DeviceSpecError::ChipCount {
                            spec: spec(),
                            source,
                        })?,
                ),
                None => (rest, 1),
            };
            let family: ChipFamily = family.parse().map_err(|source| DeviceSpecError::Family {
                spec: spec(),
                source,
            })?;
            if !(1..=256).contains(&chips) {
                return Err(DeviceSpecError::Chips {
                    spec: spec(),
                    chips,
                });
            }
            return Ok(DeviceSpec::Sim { family, chips });
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                Ok(DeviceSpec::Network(s.to_owned()))
            }
            _ => Err(DeviceSpecError::Unknown { spec: spec() }),
        }
    }

    /// Whether this entry is a chain this machine drives (not a network miner).
    pub fn is_chain(&self) -> bool {
        !matches!(self, DeviceSpec::Network(_))
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::AllUsb => f.write_str("usb"),
            DeviceSpec::Usb { bus, address } => write!(f, "usb:{bus}-{address}"),
            DeviceSpec::Sim { family, chips } => write!(f, "sim:{family}x{chips}"),
            DeviceSpec::Network(a) => f.write_str(a),
        }
    }
}

/// Opens the chains a spec names: none for network miners, every USB miner found for
/// [`DeviceSpec::AllUsb`]. A chain that fails to open is returned as its error.
pub fn open_chains(spec: &DeviceSpec, config: &ChainConfig) -> Vec<Result<Chain, ChainError>> {
    match spec {
        DeviceSpec::Network(_) => Vec::new(),
        DeviceSpec::Sim { family, chips } => {
            let sim = SimConfig::new(*family, *chips);
            let mut config = config.clone();
            config.family = *family;
            config.difficulty_one_hashes = sim.difficulty_one_hashes();
            vec![
                ChainSim::start(sim)
                    .map_err(|source| ChainError::Io {
                        device: "sim".into(),
                        source,
                    })
                    .and_then(|t| Chain::open(Box::new(t), config)),
            ]
        }
        #[cfg(feature = "usb")]
        DeviceSpec::AllUsb | DeviceSpec::Usb { .. } => {
            use super::usb;
            usb::discover()
                .into_iter()
                .filter(|d| match spec {
                    DeviceSpec::Usb { bus, address } => d.bus == *bus && d.address == *address,
                    _ => true,
                })
                .map(|d| {
                    usb::UsbTransport::open(&d)
                        .map_err(|e| ChainError::Io {
                            device: d.name(),
                            source: std::io::Error::other(e.to_string()),
                        })
                        .and_then(|t| Chain::open(Box::new(t), config.clone()))
                })
                .collect()
        }
        #[cfg(not(feature = "usb"))]
        DeviceSpec::AllUsb | DeviceSpec::Usb { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(DeviceSpec::parse("usb"), Ok(DeviceSpec::AllUsb));
        assert_eq!(
            DeviceSpec::parse("usb:3-12"),
            Ok(DeviceSpec::Usb {
                bus: 3,
                address: 12
            })
        );
        assert_eq!(
            DeviceSpec::parse("sim:bm1370x8"),
            Ok(DeviceSpec::Sim {
                family: ChipFamily::Bm1370,
                chips: 8
            })
        );
        assert_eq!(
            DeviceSpec::parse("10.0.0.5:4028"),
            Ok(DeviceSpec::Network("10.0.0.5:4028".into()))
        );
        for bad in [
            "usb:3",
            "sim:bm1387",
            "sim:bm1366x0",
            "antminer",
            ":4028",
            "h:0",
            "",
        ] {
            assert!(DeviceSpec::parse(bad).is_err(), "{bad}");
        }
        for s in ["usb", "usb:1-2", "sim:bm1397x2", "miner.lan:4028"] {
            assert_eq!(
                DeviceSpec::parse(s).map(|d| d.to_string()),
                Ok(s.to_owned())
            );
        }
    }

    /// Each kind of bad entry has its own error, whose message names the entry.
    #[test]
    fn spec_errors_say_what_is_wrong() {
        use std::error::Error;
        let err = DeviceSpec::parse("sim:bm1387").expect_err("unknown family");
        assert!(matches!(err, DeviceSpecError::Family { .. }), "{err}");
        assert!(err.source().is_some());
        assert!(
            err.to_string()
                .starts_with("\"sim:bm1387\": unknown chip family")
        );
        let err = DeviceSpec::parse("sim:bm1366xq").expect_err("bad count");
        assert!(matches!(err, DeviceSpecError::ChipCount { .. }), "{err}");
        assert_eq!(
            DeviceSpec::parse("sim:bm1366x0"),
            Err(DeviceSpecError::Chips {
                spec: "sim:bm1366x0".into(),
                chips: 0
            })
        );
        assert!(matches!(
            DeviceSpec::parse("usb:3"),
            Err(DeviceSpecError::UsbAddress { .. })
        ));
        let message: String = DeviceSpec::parse("antminer").expect_err("unknown").into();
        assert_eq!(
            message,
            "\"antminer\": expected usb, usb:BUS-ADDRESS, sim:FAMILYxCHIPS or HOST:PORT"
        );
    }

    #[test]
    fn an_emulated_chain_opens() {
        let mut config = ChainConfig::new(ChipFamily::Bm1366);
        config.ramp_delay = std::time::Duration::ZERO;
        let spec = DeviceSpec::parse("sim:bm1368x3").expect("valid");
        let chains = open_chains(&spec, &config);
        assert_eq!(chains.len(), 1);
        let chain = chains.into_iter().next().expect("one").expect("opens");
        assert_eq!((chain.family(), chain.chips()), (ChipFamily::Bm1368, 3));
        assert!(open_chains(&DeviceSpec::Network("h:1".into()), &config).is_empty());
    }
}
