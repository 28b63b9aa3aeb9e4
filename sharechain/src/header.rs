//! The 80-byte Bitcoin-family block header and proof-of-work functions.

use crate::encode::Reader;
use crate::error::DecodeError;
use crate::hash::sha256d;
use crate::{BlockHash, CompactTarget, PowHash};
use std::fmt;

/// A parent-chain block header (Bitcoin, Litecoin and their regtests).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlockHeader {
    /// Block version (BIP9 bits, BIP310 rolled bits).
    pub version: i32,
    /// Hash of the previous parent-chain block.
    pub prev_block: BlockHash,
    /// Merkle root of the block's txids, internal byte order.
    pub merkle_root: [u8; 32],
    /// Block time (Unix seconds).
    pub time: u32,
    /// Parent-chain target.
    pub bits: CompactTarget,
    /// Nonce.
    pub nonce: u32,
}

impl BlockHeader {
    /// Encoded size.
    pub const SIZE: usize = 80;

    /// Returns the 80 consensus bytes.
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut b = [0u8; 80];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(self.prev_block.as_bytes());
        b[36..68].copy_from_slice(&self.merkle_root);
        b[68..72].copy_from_slice(&self.time.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_consensus().to_le_bytes());
        b[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// Decodes the 80 consensus bytes.
    pub fn from_bytes(b: &[u8; 80]) -> Self {
        let mut r = Reader::new(b);
        // 80 bytes are always enough for every field below.
        Self::decode(&mut r).expect("80 bytes hold a header")
    }

    /// Reads a header from `r`.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEof`] if fewer than 80 bytes remain.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: i32::from_le_bytes(r.array("header.version")?),
            prev_block: BlockHash::from_bytes(r.array("header.prev_block")?),
            merkle_root: r.array("header.merkle_root")?,
            time: r.u32("header.time")?,
            bits: CompactTarget::from_consensus(r.u32("header.bits")?),
            nonce: r.u32("header.nonce")?,
        })
    }

    /// Returns the block hash (sha256d of the header), which is not the PoW hash for Scrypt coins.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_bytes(sha256d(&self.to_bytes()))
    }
}

/// A parent chain's proof-of-work function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowAlgorithm {
    /// Double SHA-256 (Bitcoin, Bitcoin Cash).
    Sha256d,
    /// Scrypt with N=1024, r=1, p=1 and the header as password and salt (Litecoin, Dogecoin).
    Scrypt,
}

impl PowAlgorithm {
    /// Returns the PoW hash of an 80-byte header.
    pub fn hash(self, header: &[u8; 80]) -> PowHash {
        match self {
            PowAlgorithm::Sha256d => PowHash::from_bytes(sha256d(header)),
            PowAlgorithm::Scrypt => PowHash::from_bytes(scrypt_1024_1_1(header)),
        }
    }

    /// A stable one-byte code, part of the consensus id.
    pub const fn code(self) -> u8 {
        match self {
            PowAlgorithm::Sha256d => 1,
            PowAlgorithm::Scrypt => 2,
        }
    }
}

impl fmt::Display for PowAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowAlgorithm::Sha256d => "sha256d",
            PowAlgorithm::Scrypt => "scrypt",
        })
    }
}

/// Litecoin's proof of work: scrypt(header, header, N=1024, r=1, p=1, 32 bytes).
pub fn scrypt_1024_1_1(header: &[u8; 80]) -> [u8; 32] {
    // log2(1024) = 10; these parameters are valid constants.
    let params =
        scrypt::Params::new(10, 1, 1).expect("N=1024, r=1, p=1 are valid scrypt parameters");
    let mut out = [0u8; 32];
    scrypt::scrypt(header, header, &params, &mut out).expect("32-byte output is a valid length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Target;

    fn header(hex_str: &str) -> BlockHeader {
        let bytes: [u8; 80] = hex::decode(hex_str)
            .expect("hex")
            .try_into()
            .expect("80 bytes");
        let h = BlockHeader::from_bytes(&bytes);
        assert_eq!(h.to_bytes(), bytes, "round trip");
        h
    }

    /// Bitcoin mainnet block 0 (genesis).
    #[test]
    fn bitcoin_genesis_height_0() {
        let h = header(concat!(
            "01000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
            "29ab5f49",
            "ffff001d",
            "1dac2b7c"
        ));
        assert_eq!(
            h.block_hash().to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        let pow = PowAlgorithm::Sha256d.hash(&h.to_bytes());
        let target = Target::from_compact(h.bits).expect("valid bits");
        assert!(target.is_met_by(&pow));
    }

    /// Bitcoin mainnet block 125552 (the worked example of the Bitcoin wiki's
    /// "Block hashing algorithm" page).
    #[test]
    fn bitcoin_block_125552() {
        let h = header(concat!(
            "01000000",
            "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
            "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
            "c7f5d74d",
            "f2b9441a",
            "42a14695"
        ));
        assert_eq!(
            h.block_hash().to_string(),
            "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
        );
        let target = Target::from_compact(h.bits).expect("valid bits");
        assert!(target.is_met_by(&PowAlgorithm::Sha256d.hash(&h.to_bytes())));
        // One nonce off must fail: the check can fail.
        let mut bad = h;
        bad.nonce ^= 1;
        assert!(!target.is_met_by(&PowAlgorithm::Sha256d.hash(&bad.to_bytes())));
    }

    /// Litecoin mainnet block 0 (genesis): its sha256d id, and its scrypt PoW meets 0x1e0ffff0.
    #[test]
    fn litecoin_genesis_height_0() {
        let h = header(concat!(
            "01000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97",
            "b9aa8e4e",
            "f0ff0f1e",
            "cd513f7c"
        ));
        assert_eq!(
            h.block_hash().to_string(),
            "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2"
        );
        let target = Target::from_compact(h.bits).expect("valid bits");
        let pow = PowAlgorithm::Scrypt.hash(&h.to_bytes());
        assert!(target.is_met_by(&pow), "scrypt pow {pow} vs {target}");
        let mut bad = h;
        bad.nonce = bad.nonce.wrapping_add(1);
        assert!(!target.is_met_by(&PowAlgorithm::Scrypt.hash(&bad.to_bytes())));
    }

    /// Litecoin mainnet block 2 000 000, built from its `getblock` fields: the sha256d id
    /// matches, and the scrypt PoW meets its difficulty-10-million target.
    #[test]
    fn litecoin_block_2000000() {
        let h = BlockHeader {
            version: 0x2000_0000,
            prev_block: BlockHash::from_display_hex(
                "17ffe3fc57db0dbb599c15f14024074ad705d14b29ff99587474f1439decfbc4",
            )
            .expect("hex"),
            merkle_root: BlockHash::from_display_hex(
                "d5df7ed3506345ab3ca4544ea92bf21a8bf73f0bd96df5ba2ba8bace89ac2e3d",
            )
            .expect("hex")
            .to_bytes(),
            time: 1_613_205_643,
            bits: CompactTarget::from_consensus(0x1a01_a4a0),
            nonce: 191_081_737,
        };
        assert_eq!(
            h.block_hash().to_string(),
            "3a4d8e7c77a85554fc8bd30d4e42d56eb71010e769ea9737f16241ba79bed9c5"
        );
        let target = Target::from_compact(h.bits).expect("valid bits");
        assert!(target.is_met_by(&PowAlgorithm::Scrypt.hash(&h.to_bytes())));
        let mut bad = h;
        bad.nonce += 1;
        assert!(!target.is_met_by(&PowAlgorithm::Scrypt.hash(&bad.to_bytes())));
    }

    #[test]
    fn scrypt_rfc7914_parameters_vector() {
        // RFC 7914 section 12: scrypt("", "", N=16, r=1, p=1, 64) = 77d65762...
        let params = scrypt::Params::new(4, 1, 1).expect("valid");
        let mut out = [0u8; 64];
        scrypt::scrypt(b"", b"", &params, &mut out).expect("valid length");
        assert_eq!(&hex::encode(out)[..32], "77d6576238657b203b19ca42c18a0497");
    }
}
