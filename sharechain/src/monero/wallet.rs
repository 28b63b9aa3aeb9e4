//! Monero wallets: the (spend, view) public-key pair a share pays, and its base58 address.

use std::str::FromStr;

use super::hash::Hash;
use super::keys::check_key;

/// A payee: the public spend and view keys. P2Pool identifies a miner by this pair and
/// orders payees by spend key, then view key, both in [`Hash`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wallet {
    spend: Hash,
    view: Hash,
}

/// The Monero network an address is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoneroNetwork {
    /// Mainnet: prefixes 18 (standard) and 42 (subaddress). Regtest uses these too.
    Mainnet,
    /// Testnet: prefixes 53 and 63.
    Testnet,
    /// Stagenet: prefixes 24 and 36.
    Stagenet,
}

impl MoneroNetwork {
    fn to_crate(self) -> monero::Network {
        match self {
            Self::Mainnet => monero::Network::Mainnet,
            Self::Testnet => monero::Network::Testnet,
            Self::Stagenet => monero::Network::Stagenet,
        }
    }

    fn from_crate(n: monero::Network) -> Self {
        match n {
            monero::Network::Mainnet => Self::Mainnet,
            monero::Network::Testnet => Self::Testnet,
            monero::Network::Stagenet => Self::Stagenet,
        }
    }
}

/// A parsed Monero address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoneroAddress {
    /// Its network.
    pub network: MoneroNetwork,
    /// True for a subaddress (its spend key is the subaddress spend key `D`, its view key `C`).
    pub subaddress: bool,
    /// The two public keys as written in the address.
    pub keys: Wallet,
}

/// Errors of wallet keys and addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletError {
    /// A key is not a valid ed25519 point.
    #[error("{which} key {key} is not a valid point")]
    BadKey {
        /// "spend" or "view".
        which: &'static str,
        /// The key.
        key: Hash,
    },
    /// The string is not a valid Monero address.
    #[error("invalid Monero address: {0}")]
    Address(String),
    /// Integrated addresses carry a payment id and cannot be mined to.
    #[error("integrated addresses cannot receive coinbase outputs")]
    Integrated,
}

impl Wallet {
    /// Builds a wallet from its public keys.
    ///
    /// # Errors
    /// [`WalletError::BadKey`] if a key is not a point.
    pub fn new(spend: Hash, view: Hash) -> Result<Self, WalletError> {
        if !check_key(&spend) {
            return Err(WalletError::BadKey {
                which: "spend",
                key: spend,
            });
        }
        if !check_key(&view) {
            return Err(WalletError::BadKey {
                which: "view",
                key: view,
            });
        }
        Ok(Self { spend, view })
    }

    /// Returns the public spend key.
    pub fn spend(&self) -> &Hash {
        &self.spend
    }

    /// Returns the public view key.
    pub fn view(&self) -> &Hash {
        &self.view
    }

    /// Returns the standard address of this key pair on `network`.
    pub fn address(&self, network: MoneroNetwork) -> String {
        // Both keys were checked in the constructor, so the crate's checks pass; its
        // address encoding needs no further validation.
        match (
            monero::PublicKey::from_slice(self.spend.as_bytes()),
            monero::PublicKey::from_slice(self.view.as_bytes()),
        ) {
            (Ok(s), Ok(v)) => monero::Address::standard(network.to_crate(), s, v).to_string(),
            _ => format!("{}{}", self.spend, self.view),
        }
    }
}

impl FromStr for MoneroAddress {
    type Err = WalletError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let a = monero::Address::from_str(s).map_err(|e| WalletError::Address(e.to_string()))?;
        let subaddress = match a.addr_type {
            monero::AddressType::Standard => false,
            monero::AddressType::SubAddress => true,
            monero::AddressType::Integrated(_) => return Err(WalletError::Integrated),
        };
        let spend = Hash::from_bytes(a.public_spend.to_bytes());
        let view = Hash::from_bytes(a.public_view.to_bytes());
        Ok(Self {
            network: MoneroNetwork::from_crate(a.network),
            subaddress,
            keys: Wallet::new(spend, view)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "44MnN1f3Eto8DZYUWuE5XZNUtE3vcRzt2j6PzqWpPau34e6Cf4fAxt6X2MBmrm6F9YMEiMNjN6W4Shn4pLcfNAja621jwyg";

    #[test]
    fn mainnet_address_round_trip() {
        let a: MoneroAddress = MAIN.parse().expect("valid");
        assert_eq!(a.network, MoneroNetwork::Mainnet);
        assert!(!a.subaddress);
        assert_eq!(a.keys.address(MoneroNetwork::Mainnet), MAIN);
    }

    #[test]
    fn subaddress_prefix() {
        let a: MoneroAddress = MAIN.parse().expect("valid");
        let sub = monero::Address::subaddress(
            monero::Network::Mainnet,
            monero::PublicKey::from_slice(a.keys.spend().as_bytes()).expect("point"),
            monero::PublicKey::from_slice(a.keys.view().as_bytes()).expect("point"),
        )
        .to_string();
        assert!(sub.starts_with('8'));
        let parsed: MoneroAddress = sub.parse().expect("valid");
        assert!(parsed.subaddress);
        assert_eq!(parsed.keys, a.keys);
    }

    #[test]
    fn rejects_garbage_and_bad_checksum() {
        assert!("hello".parse::<MoneroAddress>().is_err());
        let mut bad = MAIN.to_string();
        bad.replace_range(90..91, if &MAIN[90..91] == "A" { "B" } else { "A" });
        assert!(bad.parse::<MoneroAddress>().is_err());
    }
}
