//! Hash newtypes. Bytes are kept in the order they are hashed ("internal" order);
//! `Display` prints them byte-reversed, the convention of Bitcoin-family RPCs.

use sha2::{Digest, Sha256};
use std::fmt;

/// Returns SHA256(SHA256(data)).
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Returns SHA256(SHA256(a || b)) without allocating.
pub fn sha256d_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let first = Sha256::new().chain_update(a).chain_update(b).finalize();
    Sha256::digest(first).into()
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[derive(serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The all-zero hash, used as "no previous" marker.
            pub const ZERO: Self = Self([0; 32]);

            /// Wraps bytes given in internal (hashing) order.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Returns the bytes in internal (hashing) order.
            pub const fn to_bytes(self) -> [u8; 32] {
                self.0
            }

            /// Returns the bytes in internal (hashing) order.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Returns whether this is the all-zero hash.
            pub fn is_zero(&self) -> bool {
                self.0 == [0; 32]
            }

            /// Parses the byte-reversed hex form printed by RPCs and `Display`.
            ///
            /// # Errors
            /// Returns an error unless `s` is exactly 64 hex digits.
            pub fn from_display_hex(s: &str) -> Result<Self, crate::error::HexError> {
                let mut bytes = crate::encode::hex32(s)?;
                bytes.reverse();
                Ok(Self(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut b = self.0;
                b.reverse();
                f.write_str(&hex::encode(b))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

hash_newtype! {
    /// Identity of a share: sha256d of its consensus-encoded [`crate::ShareHeader`].
    ShareHash
}
hash_newtype! {
    /// Identity of a parent-chain block: sha256d of its 80-byte header.
    BlockHash
}
hash_newtype! {
    /// Parent-chain proof-of-work hash (scrypt for Litecoin, sha256d for Bitcoin).
    /// The only hash that is compared with a [`crate::Target`].
    PowHash
}
hash_newtype! {
    /// Hash of every consensus parameter of a [`crate::ChainSpec`].
    ConsensusId
}
hash_newtype! {
    /// A transaction id (sha256d of the transaction without witness data).
    Txid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256d_of_empty_string() {
        // Well-known value: sha256d("") = 5df6e0e2...
        assert_eq!(
            hex::encode(sha256d(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }

    #[test]
    fn display_round_trip_is_reversed() {
        let h = BlockHash::from_display_hex(
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        )
        .expect("valid hex");
        assert_eq!(h.as_bytes()[31], 0);
        assert_eq!(h.as_bytes()[0], 0x6f);
        assert_eq!(
            h.to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert!(BlockHash::from_display_hex("00").is_err());
    }

    #[test]
    fn pair_matches_concatenation() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let mut cat = a.to_vec();
        cat.extend_from_slice(&b);
        assert_eq!(sha256d_pair(&a, &b), sha256d(&cat));
    }
}
