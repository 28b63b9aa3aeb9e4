//! The share: a parent-chain header, the metadata its coinbase commits to, and what
//! proves that commitment (extranonce, coinbase, merkle branch).
//!
//! Wire and storage form: `[version] [varint len] [ShareHeader, explicit consensus
//! encoding] [ShareBody, bincode 2.0.1 standard config]`. The header is what is hashed
//! into the [`ShareHash`]; bincode never touches a hashed byte. Version
//! [`FORMAT_VERSION`] carries an 80-byte parent header, [`SEALED_FORMAT_VERSION`] a
//! KawPow header (the 80 bytes and a [`KawpowSeal`]: Ravencoin's 120 bytes).

use crate::encode::{Reader, write_bytes, write_varint};
use crate::error::DecodeError;
use crate::hash::sha256d;
use crate::seal::{KawpowSeal, Seal, kawpow_block_hash};
use crate::{Amount, BlockHash, BlockHeader, CompactTarget, ConsensusId, PayoutScript, ShareHash};

/// Version byte in front of every encoded share whose parent header is 80 bytes.
pub const FORMAT_VERSION: u8 = 1;
/// Version byte in front of every encoded share with a KawPow seal.
pub const SEALED_FORMAT_VERSION: u8 = 2;
/// Hard decoding bound on uncles, above any chain spec's `max_uncles`.
pub const MAX_UNCLES_DECODE: u64 = 16;
/// Hard decoding bound on an encoded share (chain specs set tighter limits).
pub const MAX_SHARE_BYTES: usize = 256 * 1024;
/// Hard bound on extranonce bytes.
pub const MAX_EXTRANONCE: usize = 32;
/// Hard bound on merkle branch length (2^32 transactions).
pub const MAX_BRANCH: usize = 32;
/// Hard bound on the coinbase size carried in a share.
pub const MAX_COINBASE: usize = 100 * 1024;

/// Share metadata that the coinbase commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareInfo {
    /// Share format version (the chain spec's `share_version`).
    pub version: u32,
    /// Previous share, or [`ShareHash::ZERO`] for the first share of a chain.
    pub prev_share: ShareHash,
    /// Height in the sharechain (0 for the first share).
    pub height: u64,
    /// The share target, set by the retarget rule.
    pub share_target: CompactTarget,
    /// Where the finder wants to be paid.
    pub payout_script: PayoutScript,
    /// Included uncles, strictly ascending.
    pub uncles: Vec<ShareHash>,
    /// Parent-chain height of the block (BIP34 push).
    pub parent_height: u32,
    /// Coinbase value of the parent template (subsidy + fees).
    pub coinbase_value: Amount,
    /// BIP141 witness commitment of the parent template, if any.
    pub witness_commitment: Option<[u8; 32]>,
}

impl ShareInfo {
    /// Appends the consensus encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(self.prev_share.as_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.share_target.to_consensus().to_le_bytes());
        write_bytes(out, self.payout_script.as_bytes());
        write_varint(out, self.uncles.len() as u64);
        for u in &self.uncles {
            out.extend_from_slice(u.as_bytes());
        }
        out.extend_from_slice(&self.parent_height.to_le_bytes());
        out.extend_from_slice(&self.coinbase_value.to_sat().to_le_bytes());
        match &self.witness_commitment {
            None => out.push(0),
            Some(c) => {
                out.push(1);
                out.extend_from_slice(c);
            }
        }
    }

    /// Reads the consensus encoding.
    ///
    /// # Errors
    /// Truncated input, over-long fields, an invalid payout script or option flag.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u32("info.version")?;
        let prev_share = ShareHash::from_bytes(r.array("info.prev_share")?);
        let height = r.u64("info.height")?;
        let share_target = CompactTarget::from_consensus(r.u32("info.share_target")?);
        let script = r.bytes(PayoutScript::MAX_LEN, "info.payout_script")?;
        let payout_script =
            PayoutScript::new(script.to_vec()).map_err(|_| DecodeError::Invalid {
                what: "info.payout_script",
            })?;
        let n = r.varint(MAX_UNCLES_DECODE, "info.uncles")?;
        let mut uncles = Vec::with_capacity(n as usize);
        for _ in 0..n {
            uncles.push(ShareHash::from_bytes(r.array("info.uncles")?));
        }
        let parent_height = r.u32("info.parent_height")?;
        let coinbase_value = Amount::from_sat(r.u64("info.coinbase_value")?);
        let witness_commitment = match r.u8("info.witness_commitment")? {
            0 => None,
            1 => Some(r.array("info.witness_commitment")?),
            _ => {
                return Err(DecodeError::Invalid {
                    what: "info.witness_commitment",
                });
            }
        };
        Ok(Self {
            version,
            prev_share,
            height,
            share_target,
            payout_script,
            uncles,
            parent_height,
            coinbase_value,
            witness_commitment,
        })
    }

    /// Returns the 32 bytes the coinbase carries: sha256d(consensus id || encoding).
    /// Binding the consensus id means a share is valid on one chain spec only.
    pub fn commitment(&self, consensus_id: &ConsensusId) -> [u8; 32] {
        let mut b = Vec::with_capacity(160);
        b.extend_from_slice(consensus_id.as_bytes());
        self.encode(&mut b);
        sha256d(&b)
    }
}

/// The hashed part of a share: the parent block header and the committed metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareHeader {
    /// The parent-chain block header that was mined (for KawPow, the 80 bytes whose
    /// last four are the block height).
    pub block: BlockHeader,
    /// The rest of a KawPow header; `None` on chains whose header is 80 bytes.
    pub seal: Option<KawpowSeal>,
    /// Metadata committed to by the coinbase.
    pub info: ShareInfo,
}

impl ShareHeader {
    /// Appends the consensus encoding (the parent header, 80 or 120 bytes, then the
    /// info).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.parent_header_bytes());
        self.info.encode(out);
    }

    /// Reads the consensus encoding of a chain whose headers are proven by `seal`.
    ///
    /// # Errors
    /// As [`ShareInfo::decode`].
    pub fn decode(r: &mut Reader<'_>, seal: Seal) -> Result<Self, DecodeError> {
        let block = BlockHeader::decode(r)?;
        let seal = match seal {
            Seal::Nonce => None,
            Seal::Kawpow => Some(KawpowSeal::decode(r)?),
        };
        let info = ShareInfo::decode(r)?;
        Ok(Self { block, seal, info })
    }

    /// Returns the parent block's header as the parent chain serializes it.
    pub fn parent_header_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BlockHeader::SIZE + KawpowSeal::SIZE);
        out.extend_from_slice(&self.block.to_bytes());
        if let Some(seal) = &self.seal {
            out.extend_from_slice(&seal.to_bytes());
        }
        out
    }

    /// Returns the parent block's id: sha256d of the header, or a KawPow block's final
    /// hash.
    pub fn block_hash(&self) -> BlockHash {
        match &self.seal {
            None => self.block.block_hash(),
            Some(seal) => kawpow_block_hash(&self.block, seal),
        }
    }

    /// Returns the share's identity: sha256d of the consensus encoding.
    pub fn hash(&self) -> ShareHash {
        let mut b = Vec::with_capacity(200);
        self.encode(&mut b);
        ShareHash::from_bytes(sha256d(&b))
    }
}

/// The unhashed part: everything needed to prove the coinbase commitment.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct ShareBody {
    /// Extranonce bytes placed in the coinbase scriptSig.
    pub extranonce: Vec<u8>,
    /// The coinbase without witness (what the txid covers).
    pub coinbase: Vec<u8>,
    /// Merkle branch from the coinbase txid to the header's merkle root.
    pub merkle_branch: Vec<[u8; 32]>,
}

/// A complete share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// Hashed part.
    pub header: ShareHeader,
    /// Proof of the coinbase.
    pub body: ShareBody,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_SHARE_BYTES>()
}

impl Share {
    /// Returns the share's identity.
    pub fn hash(&self) -> ShareHash {
        self.header.hash()
    }

    /// Returns the wire/storage encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(200);
        self.header.encode(&mut header);
        let mut out = Vec::with_capacity(header.len() + self.body.coinbase.len() + 64);
        out.push(match self.header.seal {
            None => FORMAT_VERSION,
            Some(_) => SEALED_FORMAT_VERSION,
        });
        write_bytes(&mut out, &header);
        // Encoding plain Vec<u8>/arrays into a Vec cannot fail; the limit is far above
        // the sizes Share construction allows.
        let body = bincode::encode_to_vec(&self.body, bincode_config()).unwrap_or_default();
        out.extend_from_slice(&body);
        out
    }

    /// Decodes a share, bounded: never allocates more than the input justifies and never panics.
    ///
    /// # Errors
    /// Over-size input, an unknown version, malformed header or body, trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_SHARE_BYTES {
            return Err(DecodeError::TooLong {
                what: "share",
                len: bytes.len() as u64,
                max: MAX_SHARE_BYTES as u64,
            });
        }
        let mut r = Reader::new(bytes);
        let seal = match r.u8("share.version")? {
            FORMAT_VERSION => Seal::Nonce,
            SEALED_FORMAT_VERSION => Seal::Kawpow,
            version => return Err(DecodeError::UnknownVersion(version)),
        };
        let header_bytes = r.bytes(4096, "share.header")?;
        let mut hr = Reader::new(header_bytes);
        let header = ShareHeader::decode(&mut hr, seal)?;
        hr.finish()?;
        let (body, used): (ShareBody, usize) =
            bincode::decode_from_slice(r.rest(), bincode_config())
                .map_err(|e| DecodeError::Body(e.to_string()))?;
        if used != r.remaining() {
            return Err(DecodeError::TrailingBytes(r.remaining() - used));
        }
        if body.extranonce.len() > MAX_EXTRANONCE {
            return Err(DecodeError::TooLong {
                what: "body.extranonce",
                len: body.extranonce.len() as u64,
                max: MAX_EXTRANONCE as u64,
            });
        }
        if body.coinbase.len() > MAX_COINBASE {
            return Err(DecodeError::TooLong {
                what: "body.coinbase",
                len: body.coinbase.len() as u64,
                max: MAX_COINBASE as u64,
            });
        }
        if body.merkle_branch.len() > MAX_BRANCH {
            return Err(DecodeError::TooLong {
                what: "body.merkle_branch",
                len: body.merkle_branch.len() as u64,
                max: MAX_BRANCH as u64,
            });
        }
        Ok(Self { header, body })
    }
}
