//! Amounts and payout scripts.

use std::fmt;

/// An amount in the parent coin's base unit (satoshis, litoshis).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    serde::Serialize,
    serde::Deserialize,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Amount(u64);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);
    /// One coin (10^8 base units).
    pub const ONE_COIN: Amount = Amount(100_000_000);

    /// Wraps base units.
    pub const fn from_sat(sat: u64) -> Self {
        Self(sat)
    }

    /// Returns base units.
    pub const fn to_sat(self) -> u64 {
        self.0
    }

    /// Adds, returning `None` on overflow.
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }

    /// Subtracts, returning `None` below zero.
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Amount(v)),
            None => None,
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:08}", self.0 / 100_000_000, self.0 % 100_000_000)
    }
}

/// The scriptPubKey a miner is paid to. Bounded and never an unspendable OP_RETURN.
///
/// It has no `Deserialize`/`Decode`: every way in goes through [`PayoutScript::new`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PayoutScript(Vec<u8>);

/// Why bytes are not an acceptable payout script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Empty, or longer than [`PayoutScript::MAX_LEN`].
    #[error("payout script length {0} outside 1..={max}", max = PayoutScript::MAX_LEN)]
    Length(usize),
    /// OP_RETURN outputs can never be spent.
    #[error("payout script is an unspendable OP_RETURN")]
    Unspendable,
}

impl PayoutScript {
    /// Longest accepted script; standard P2TR/P2WSH scripts are 34 bytes.
    pub const MAX_LEN: usize = 64;

    /// Validates and wraps script bytes.
    ///
    /// # Errors
    /// Empty, over-long or OP_RETURN scripts.
    pub fn new(bytes: Vec<u8>) -> Result<Self, ScriptError> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(ScriptError::Length(bytes.len()));
        }
        if bytes[0] == 0x6a {
            return Err(ScriptError::Unspendable);
        }
        Ok(Self(bytes))
    }

    /// Returns the script bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A pay-to-witness-pubkey-hash script for a 20-byte key hash.
    pub fn p2wpkh(hash: [u8; 20]) -> Self {
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(&hash);
        Self(s)
    }

    /// A pay-to-pubkey-hash script for a 20-byte key hash.
    pub fn p2pkh(hash: [u8; 20]) -> Self {
        let mut s = vec![0x76, 0xa9, 0x14];
        s.extend_from_slice(&hash);
        s.extend_from_slice(&[0x88, 0xac]);
        Self(s)
    }
}

impl fmt::Display for PayoutScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for PayoutScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayoutScript({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_bounds() {
        assert_eq!(PayoutScript::new(vec![]), Err(ScriptError::Length(0)));
        assert_eq!(PayoutScript::new(vec![0; 65]), Err(ScriptError::Length(65)));
        assert_eq!(
            PayoutScript::new(vec![0x6a, 0]),
            Err(ScriptError::Unspendable)
        );
        assert_eq!(PayoutScript::p2wpkh([7; 20]).as_bytes().len(), 22);
        assert_eq!(PayoutScript::p2pkh([7; 20]).as_bytes().len(), 25);
    }

    #[test]
    fn amount_display() {
        assert_eq!(Amount::from_sat(1_250_006_430).to_string(), "12.50006430");
    }
}
