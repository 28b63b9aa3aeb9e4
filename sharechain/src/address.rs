//! Parent-chain addresses to payout scripts: base58check P2PKH/P2SH and bech32/bech32m
//! segwit (BIP173/BIP350), with each network's version bytes and HRP.

use crate::spec::{ParentCoin, ParentNetwork};
use crate::{ChainSpec, PayoutScript};

/// Why a string is not a payout address for a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Neither valid base58check nor valid bech32.
    #[error("{0:?} is not a valid address")]
    Invalid(String),
    /// Valid, but for another network (or coin).
    #[error("{address:?} is not an address of {chain}")]
    WrongNetwork {
        /// The address given.
        address: String,
        /// The chain spec's name.
        chain: &'static str,
    },
}

struct Params {
    p2pkh: u8,
    p2sh: &'static [u8],
    hrp: &'static str,
}

fn params(parent: ParentCoin, network: ParentNetwork) -> Params {
    match (parent, network) {
        (ParentCoin::Litecoin, ParentNetwork::Main) => Params {
            p2pkh: 48,
            p2sh: &[50, 5],
            hrp: "ltc",
        },
        (ParentCoin::Litecoin, ParentNetwork::Testnet) => Params {
            p2pkh: 111,
            p2sh: &[58, 196],
            hrp: "tltc",
        },
        (ParentCoin::Litecoin, ParentNetwork::Regtest) => Params {
            p2pkh: 111,
            p2sh: &[58, 196],
            hrp: "rltc",
        },
        (ParentCoin::Bitcoin, ParentNetwork::Main) => Params {
            p2pkh: 0,
            p2sh: &[5],
            hrp: "bc",
        },
        (ParentCoin::Bitcoin, ParentNetwork::Testnet) => Params {
            p2pkh: 111,
            p2sh: &[196],
            hrp: "tb",
        },
        (ParentCoin::Bitcoin, ParentNetwork::Regtest) => Params {
            p2pkh: 111,
            p2sh: &[196],
            hrp: "bcrt",
        },
        // Ravencoin has no segwit addresses: no HRP matches a bech32 string.
        (ParentCoin::Ravencoin, ParentNetwork::Main) => Params {
            p2pkh: 60,
            p2sh: &[122],
            hrp: "",
        },
        (ParentCoin::Ravencoin, ParentNetwork::Testnet | ParentNetwork::Regtest) => Params {
            p2pkh: 111,
            p2sh: &[196],
            hrp: "",
        },
    }
}

/// Parses `address` for `spec`'s parent network and returns its scriptPubKey.
///
/// # Errors
/// [`AddressError::Invalid`] for malformed strings, [`AddressError::WrongNetwork`] for
/// valid addresses of another network.
pub fn parse_address(address: &str, spec: &ChainSpec) -> Result<PayoutScript, AddressError> {
    let p = params(spec.parent, spec.network);
    let invalid = || AddressError::Invalid(address.to_string());
    let wrong = || AddressError::WrongNetwork {
        address: address.to_string(),
        chain: spec.name,
    };
    if address.len() > 120 {
        return Err(invalid());
    }
    if let Ok((hrp, version, program)) = bech32::segwit::decode(address) {
        if p.hrp.is_empty() || !hrp.as_str().eq_ignore_ascii_case(p.hrp) {
            return Err(wrong());
        }
        let v = version.to_u8();
        let mut script = Vec::with_capacity(2 + program.len());
        // OP_0 or OP_1..OP_16, then a push of the program.
        script.push(if v == 0 { 0x00 } else { 0x50 + v });
        script.push(program.len() as u8);
        script.extend_from_slice(&program);
        return PayoutScript::new(script).map_err(|_| invalid());
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|_| invalid())?;
    let (&version, hash) = payload.split_first().ok_or_else(invalid)?;
    let hash: [u8; 20] = hash.try_into().map_err(|_| invalid())?;
    if version == p.p2pkh {
        Ok(PayoutScript::p2pkh(hash))
    } else if p.p2sh.contains(&version) {
        let mut s = vec![0xa9, 0x14];
        s.extend_from_slice(&hash);
        s.push(0x87);
        PayoutScript::new(s).map_err(|_| invalid())
    } else {
        Err(wrong())
    }
}

/// Renders a standard script back to an address of `spec`'s network, if it has one.
pub fn script_to_address(script: &PayoutScript, spec: &ChainSpec) -> Option<String> {
    let p = params(spec.parent, spec.network);
    let s = script.as_bytes();
    let b58 = |version: u8, hash: &[u8]| {
        let mut v = vec![version];
        v.extend_from_slice(hash);
        bs58::encode(v).with_check().into_string()
    };
    match s {
        [0x76, 0xa9, 0x14, hash @ .., 0x88, 0xac] if hash.len() == 20 => Some(b58(p.p2pkh, hash)),
        [0xa9, 0x14, hash @ .., 0x87] if hash.len() == 20 => Some(b58(p.p2sh[0], hash)),
        [v, len, program @ ..]
            if (*v == 0 || (0x51..=0x60).contains(v)) && usize::from(*len) == program.len() =>
        {
            let hrp = bech32::Hrp::parse(p.hrp).ok()?;
            let version = if *v == 0 { 0 } else { v - 0x50 };
            let fe = bech32::Fe32::try_from(version).ok()?;
            bech32::segwit::encode(hrp, fe, program).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static ChainSpec {
        ChainSpec::by_name(name).expect("built in")
    }

    #[test]
    fn bip173_vector_mainnet_p2wpkh() {
        // BIP173: BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4 = 0014751e76e8199196d454941c45d1b3a323f1433bd6
        let s = parse_address(
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            spec("btc-main"),
        )
        .expect("valid");
        assert_eq!(
            hex::encode(s.as_bytes()),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            script_to_address(&s, spec("btc-main")).as_deref(),
            Some("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
        );
    }

    #[test]
    fn base58_genesis_address() {
        // The genesis coinbase key's address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa = hash160 62e907b1...
        let s =
            parse_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", spec("btc-main")).expect("valid");
        assert_eq!(
            hex::encode(s.as_bytes()),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        assert!(matches!(
            parse_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", spec("ltc-main")),
            Err(AddressError::WrongNetwork { .. })
        ));
        assert!(matches!(
            parse_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", spec("btc-main")),
            Err(AddressError::Invalid(_))
        ));
    }

    #[test]
    fn litecoin_regtest_round_trips() {
        let ltc = spec("ltc-regtest");
        for script in [PayoutScript::p2wpkh([3; 20]), PayoutScript::p2pkh([4; 20])] {
            let a = script_to_address(&script, ltc).expect("standard");
            assert!(
                a.starts_with("rltc1") || a.starts_with('m') || a.starts_with('n'),
                "{a}"
            );
            assert_eq!(parse_address(&a, ltc).expect("parses"), script);
            assert!(parse_address(&a, spec("ltc-main")).is_err());
        }
        assert!(matches!(
            parse_address("", ltc),
            Err(AddressError::Invalid(_))
        ));
        assert!(matches!(
            parse_address(&"x".repeat(500), ltc),
            Err(AddressError::Invalid(_))
        ));
    }

    /// Ravencoin: `R` addresses (P2PKH version 60) on the main network, testnet's
    /// versions on regtest, and no segwit addresses at all.
    #[test]
    fn ravencoin_addresses() {
        let main = spec("rvn-main");
        // Ravencoin's asset-issuance burn address (base58check, P2PKH version 60).
        let burn = parse_address("RXissueAssetXXXXXXXXXXXXXXXXXhhZGt", main).expect("valid");
        assert_eq!(burn.as_bytes()[..3], [0x76, 0xa9, 0x14]);
        assert_eq!(
            script_to_address(&burn, main).as_deref(),
            Some("RXissueAssetXXXXXXXXXXXXXXXXXhhZGt")
        );
        let p2sh =
            PayoutScript::new([&[0xa9, 0x14][..], &[5; 20], &[0x87]].concat()).expect("p2sh");
        let a = script_to_address(&p2sh, main).expect("standard");
        assert!(a.starts_with('r'), "{a}");
        assert_eq!(parse_address(&a, main).expect("parses"), p2sh);
        let regtest = spec("rvn-regtest");
        assert!(matches!(
            parse_address("RXissueAssetXXXXXXXXXXXXXXXXXhhZGt", regtest),
            Err(AddressError::WrongNetwork { .. })
        ));
        let test = script_to_address(&PayoutScript::p2pkh([4; 20]), regtest).expect("p2pkh");
        assert_eq!(
            parse_address(&test, regtest).expect("parses"),
            PayoutScript::p2pkh([4; 20])
        );
        assert_eq!(
            script_to_address(&PayoutScript::p2wpkh([3; 20]), main),
            None
        );
        assert!(parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", main).is_err());
    }
}
