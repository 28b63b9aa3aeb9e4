//! Bitcoin-family coinbase, merkle branch and block assembly from a
//! getblocktemplate-shaped input (including Litecoin's MWEB extension block).

use crate::encode::{write_bytes, write_varint};
use crate::error::BuildError;
use crate::hash::{sha256d, sha256d_pair};
use crate::{Amount, BlockHash, CompactTarget, PayoutScript, Txid};

/// The tag after the extranonce in every Otedama coinbase scriptSig.
pub const COINBASE_TAG: &[u8] = b"/otedama/";
/// Prefix of the share-commitment output script: OP_RETURN, push 36, "OTDM".
pub const COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, b'O', b'T', b'D', b'M'];
/// Prefix of the BIP141 witness commitment script: OP_RETURN, push 36, 0xaa21a9ed.
pub const WITNESS_COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// A transaction of the template, as the daemon serialised it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateTx {
    /// Full serialisation (with witness), appended to the block as is.
    pub data: Vec<u8>,
    /// Txid, internal byte order (what the merkle tree is built over).
    pub txid: Txid,
}

/// A block template in the shape `getblocktemplate` returns, with hex decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    /// Block version to mine.
    pub version: i32,
    /// The block to build on.
    pub prev_block: BlockHash,
    /// Parent-chain target of the next block.
    pub bits: CompactTarget,
    /// Height of the next block (BIP34).
    pub height: u32,
    /// Daemon's current time.
    pub cur_time: u32,
    /// Earliest allowed block time.
    pub min_time: u32,
    /// Subsidy plus fees.
    pub coinbase_value: Amount,
    /// Transactions to include, in order (Litecoin's HogEx last).
    pub transactions: Vec<TemplateTx>,
    /// The 32-byte BIP141 witness commitment, if the template has one.
    pub witness_commitment: Option<[u8; 32]>,
    /// Litecoin MWEB extension block bytes, if present.
    pub mweb: Option<Vec<u8>>,
}

/// The JSON shape of a `getblocktemplate` reply (the fields Otedama uses).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct RpcBlockTemplate {
    /// Block version.
    pub version: i32,
    /// Previous block hash, RPC (reversed) hex.
    pub previousblockhash: String,
    /// Transactions.
    pub transactions: Vec<RpcTemplateTx>,
    /// Subsidy plus fees.
    pub coinbasevalue: u64,
    /// Earliest allowed time.
    pub mintime: u32,
    /// Daemon time.
    pub curtime: u32,
    /// Compact target, hex.
    pub bits: String,
    /// Next height.
    pub height: u32,
    /// Witness commitment script, hex.
    #[serde(default)]
    pub default_witness_commitment: Option<String>,
    /// Litecoin MWEB block, hex.
    #[serde(default)]
    pub mweb: Option<String>,
    /// Long-poll id.
    #[serde(default)]
    pub longpollid: Option<String>,
}

/// One transaction of [`RpcBlockTemplate`].
#[derive(Clone, Debug, serde::Deserialize)]
pub struct RpcTemplateTx {
    /// Serialised transaction, hex.
    pub data: String,
    /// Txid, RPC (reversed) hex.
    pub txid: String,
}

fn field(field: &'static str, reason: impl Into<String>) -> BuildError {
    BuildError::Template {
        field,
        reason: reason.into(),
    }
}

impl TryFrom<RpcBlockTemplate> for BlockTemplate {
    type Error = BuildError;

    fn try_from(t: RpcBlockTemplate) -> Result<Self, BuildError> {
        let prev_block = BlockHash::from_display_hex(&t.previousblockhash)
            .map_err(|e| field("previousblockhash", e.to_string()))?;
        let bits = u32::from_str_radix(&t.bits, 16).map_err(|e| field("bits", e.to_string()))?;
        let mut transactions = Vec::with_capacity(t.transactions.len());
        for tx in t.transactions {
            let data =
                hex::decode(&tx.data).map_err(|e| field("transactions.data", e.to_string()))?;
            let txid = Txid::from_display_hex(&tx.txid)
                .map_err(|e| field("transactions.txid", e.to_string()))?;
            transactions.push(TemplateTx { data, txid });
        }
        let witness_commitment = match t.default_witness_commitment {
            None => None,
            Some(h) => {
                let script = hex::decode(&h)
                    .map_err(|e| field("default_witness_commitment", e.to_string()))?;
                if script.len() != 38 || script[..6] != WITNESS_COMMITMENT_PREFIX {
                    return Err(field(
                        "default_witness_commitment",
                        "not a BIP141 commitment script",
                    ));
                }
                let mut c = [0u8; 32];
                c.copy_from_slice(&script[6..]);
                Some(c)
            }
        };
        let mweb = match t.mweb {
            None => None,
            Some(h) => Some(hex::decode(&h).map_err(|e| field("mweb", e.to_string()))?),
        };
        Ok(BlockTemplate {
            version: t.version,
            prev_block,
            bits: CompactTarget::from_consensus(bits),
            height: t.height,
            cur_time: t.curtime,
            min_time: t.mintime,
            coinbase_value: Amount::from_sat(t.coinbasevalue),
            transactions,
            witness_commitment,
            mweb,
        })
    }
}

impl BlockTemplate {
    /// Returns the txids of the template's transactions (the coinbase excluded).
    pub fn txids(&self) -> Vec<Txid> {
        self.transactions.iter().map(|t| t.txid).collect()
    }
}

/// What a coinbase is made of, besides the extranonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinbaseParts<'a> {
    /// Block height, pushed first in the scriptSig (BIP34).
    pub height: u32,
    /// Payout outputs, already in consensus order.
    pub payouts: &'a [(PayoutScript, Amount)],
    /// Hash committing the coinbase to the share's metadata.
    pub share_commitment: [u8; 32],
    /// BIP141 witness commitment, if the block has witness data.
    pub witness_commitment: Option<[u8; 32]>,
}

/// A built coinbase transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coinbase {
    /// Serialisation without witness: what the txid and Stratum's coinb1/coinb2 cover.
    pub stripped: Vec<u8>,
    /// Offset of the extranonce inside `stripped`.
    pub extranonce_offset: usize,
    /// Length of the extranonce.
    pub extranonce_len: usize,
    /// Whether the block needs the witness form (BIP141 commitment present).
    pub has_witness: bool,
}

/// Appends the minimal push of a BIP34 height, as Bitcoin Core's `CScript() << height`.
pub fn push_height(out: &mut Vec<u8>, height: u32) {
    match height {
        0 => out.push(0x00),
        1..=16 => out.push(0x50 + height as u8),
        _ => {
            // CScriptNum: little-endian, with a 0x00 byte if the top bit is set.
            let mut num = Vec::with_capacity(5);
            let mut h = height;
            while h > 0 {
                num.push((h & 0xff) as u8);
                h >>= 8;
            }
            if num.last().is_some_and(|b| b & 0x80 != 0) {
                num.push(0);
            }
            out.push(num.len() as u8);
            out.extend_from_slice(&num);
        }
    }
}

/// Builds the coinbase for `parts` with `extranonce` in its scriptSig.
///
/// Layout: version 1; one input spending the null outpoint whose scriptSig is
/// `<height> <extranonce> <"/otedama/">`; outputs = payouts, the share commitment
/// (`OP_RETURN "OTDM" <32 bytes>`), then the witness commitment if any; locktime 0.
///
/// # Errors
/// An over-long scriptSig or payouts that overflow.
pub fn build_coinbase(
    parts: &CoinbaseParts<'_>,
    extranonce: &[u8],
) -> Result<Coinbase, BuildError> {
    let mut script_sig = Vec::with_capacity(32);
    push_height(&mut script_sig, parts.height);
    // Direct pushes cover 1..=75 bytes; the extranonce is bounded far below that.
    if extranonce.is_empty() || extranonce.len() > 75 {
        return Err(BuildError::ExtranonceLength {
            len: extranonce.len(),
            min: 1,
            max: 75,
        });
    }
    script_sig.push(extranonce.len() as u8);
    let extranonce_in_sig = script_sig.len();
    script_sig.extend_from_slice(extranonce);
    script_sig.push(COINBASE_TAG.len() as u8);
    script_sig.extend_from_slice(COINBASE_TAG);
    if script_sig.len() > 100 {
        return Err(BuildError::ScriptSigTooLong(script_sig.len()));
    }

    let n_outputs = parts.payouts.len() + 1 + usize::from(parts.witness_commitment.is_some());
    let mut tx = Vec::with_capacity(64 + script_sig.len() + n_outputs * 40);
    tx.extend_from_slice(&1i32.to_le_bytes());
    write_varint(&mut tx, 1);
    tx.extend_from_slice(&[0u8; 32]);
    tx.extend_from_slice(&u32::MAX.to_le_bytes());
    write_varint(&mut tx, script_sig.len() as u64);
    let extranonce_offset = tx.len() + extranonce_in_sig;
    tx.extend_from_slice(&script_sig);
    tx.extend_from_slice(&u32::MAX.to_le_bytes());

    write_varint(&mut tx, n_outputs as u64);
    for (script, amount) in parts.payouts {
        tx.extend_from_slice(&amount.to_sat().to_le_bytes());
        write_bytes(&mut tx, script.as_bytes());
    }
    let mut commitment = COMMITMENT_PREFIX.to_vec();
    commitment.extend_from_slice(&parts.share_commitment);
    tx.extend_from_slice(&0u64.to_le_bytes());
    write_bytes(&mut tx, &commitment);
    if let Some(w) = parts.witness_commitment {
        let mut script = WITNESS_COMMITMENT_PREFIX.to_vec();
        script.extend_from_slice(&w);
        tx.extend_from_slice(&0u64.to_le_bytes());
        write_bytes(&mut tx, &script);
    }
    tx.extend_from_slice(&0u32.to_le_bytes());
    Ok(Coinbase {
        stripped: tx,
        extranonce_offset,
        extranonce_len: extranonce.len(),
        has_witness: parts.witness_commitment.is_some(),
    })
}

impl Coinbase {
    /// Returns the txid.
    pub fn txid(&self) -> Txid {
        Txid::from_bytes(sha256d(&self.stripped))
    }

    /// Returns Stratum's `coinb1` and `coinb2`: the bytes before and after the extranonce.
    pub fn stratum_parts(&self) -> (&[u8], &[u8]) {
        (
            &self.stripped[..self.extranonce_offset],
            &self.stripped[self.extranonce_offset + self.extranonce_len..],
        )
    }

    /// Returns the serialisation that goes into the block: with the BIP141 marker, flag
    /// and the single 32-byte zero witness item when the block commits to witnesses.
    pub fn block_serialization(&self) -> Vec<u8> {
        with_coinbase_witness(&self.stripped, self.has_witness)
    }
}

/// Turns a stripped coinbase into its block serialisation (see [`Coinbase::block_serialization`]).
pub fn with_coinbase_witness(stripped: &[u8], has_witness: bool) -> Vec<u8> {
    if !has_witness || stripped.len() < 8 {
        return stripped.to_vec();
    }
    let (body, locktime) = stripped.split_at(stripped.len() - 4);
    let mut out = Vec::with_capacity(stripped.len() + 36);
    out.extend_from_slice(&body[..4]);
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&body[4..]);
    out.extend_from_slice(&[0x01, 0x20]);
    out.extend_from_slice(&[0u8; 32]);
    out.extend_from_slice(locktime);
    out
}

/// Returns the merkle branch of the coinbase (index 0) over `txids` (the rest of the block).
pub fn merkle_branch(txids: &[Txid]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // level[0] stands for the (unknown) coinbase-side hash at each level.
    let mut level: Vec<[u8; 32]> = Vec::with_capacity(txids.len() + 1);
    level.push([0u8; 32]);
    level.extend(txids.iter().map(|t| t.to_bytes()));
    while level.len() > 1 {
        branch.push(level[1]);
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        let mut next = Vec::with_capacity(level.len() / 2);
        next.push([0u8; 32]);
        for pair in level[2..].chunks_exact(2) {
            next.push(sha256d_pair(&pair[0], &pair[1]));
        }
        level = next;
    }
    branch
}

/// Folds `leaf` (the coinbase txid) up a branch to the merkle root.
pub fn merkle_root_from_branch(leaf: Txid, branch: &[[u8; 32]]) -> [u8; 32] {
    branch
        .iter()
        .fold(leaf.to_bytes(), |acc, sibling| sha256d_pair(&acc, sibling))
}

/// Returns the merkle root of a full list of txids (coinbase first).
pub fn merkle_root(txids: &[Txid]) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_bytes()).collect();
    if level.is_empty() {
        return [0u8; 32];
    }
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        level = level
            .chunks_exact(2)
            .map(|p| sha256d_pair(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

/// Assembles a complete block ready for `submitblock`: header (80 bytes, or 120 with a
/// KawPow seal), transaction count, coinbase (witness form when needed), the template's
/// transactions in order, and for Litecoin MWEB blocks the `0x01` OptionalPtr flag followed by the extension block.
pub fn assemble_block(header: &[u8], coinbase: &Coinbase, template: &BlockTemplate) -> Vec<u8> {
    let tx_bytes: usize = template.transactions.iter().map(|t| t.data.len()).sum();
    let mut block = Vec::with_capacity(header.len() + 9 + coinbase.stripped.len() + 40 + tx_bytes);
    block.extend_from_slice(header);
    write_varint(&mut block, 1 + template.transactions.len() as u64);
    block.extend_from_slice(&coinbase.block_serialization());
    for tx in &template.transactions {
        block.extend_from_slice(&tx.data);
    }
    if let Some(mweb) = &template.mweb {
        block.push(0x01);
        block.extend_from_slice(mweb);
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u8) -> Txid {
        Txid::from_bytes([n; 32])
    }

    #[test]
    fn height_pushes_match_core() {
        let cases: [(u32, &str); 7] = [
            (0, "00"),
            (1, "51"),
            (16, "60"),
            (17, "0111"),
            (128, "028000"),
            (500, "02f401"),
            (8_388_608, "0400008000"),
        ];
        for (h, want) in cases {
            let mut v = Vec::new();
            push_height(&mut v, h);
            assert_eq!(hex::encode(v), want, "height {h}");
        }
    }

    #[test]
    fn branch_reproduces_root_for_every_size() {
        for n in 0..17u8 {
            let txids: Vec<Txid> = (1..=n).map(txid).collect();
            let coinbase = txid(200);
            let mut all = vec![coinbase];
            all.extend(&txids);
            let root = merkle_root(&all);
            assert_eq!(
                merkle_root_from_branch(coinbase, &merkle_branch(&txids)),
                root,
                "n={n}"
            );
        }
    }

    #[test]
    fn coinbase_layout_and_stratum_split() {
        let payouts = vec![
            (PayoutScript::p2wpkh([1; 20]), Amount::from_sat(30)),
            (PayoutScript::p2pkh([2; 20]), Amount::from_sat(20)),
        ];
        let parts = CoinbaseParts {
            height: 600,
            payouts: &payouts,
            share_commitment: [7; 32],
            witness_commitment: Some([9; 32]),
        };
        let en = [0xaa; 8];
        let cb = build_coinbase(&parts, &en).expect("builds");
        let (c1, c2) = cb.stratum_parts();
        let mut joined = c1.to_vec();
        joined.extend_from_slice(&en);
        joined.extend_from_slice(c2);
        assert_eq!(joined, cb.stripped);
        // Witness form: marker/flag after the version, one 32-byte zero item before locktime.
        let w = cb.block_serialization();
        assert_eq!(&w[4..6], &[0x00, 0x01]);
        assert_eq!(w.len(), cb.stripped.len() + 2 + 34);
        assert_eq!(
            &w[w.len() - 38..w.len() - 4],
            &[&[0x01u8, 0x20][..], &[0u8; 32][..]].concat()[..]
        );
        // Changing the extranonce changes only those bytes.
        let cb2 = build_coinbase(&parts, &[0xbb; 8]).expect("builds");
        assert_eq!(cb2.stratum_parts(), cb.stratum_parts());
        assert_ne!(cb2.txid(), cb.txid());
        assert!(matches!(
            build_coinbase(&parts, &[0; 80]),
            Err(BuildError::ExtranonceLength { .. })
        ));
    }

    /// A template in the exact shape litecoind 0.21 returns (values from a regtest run).
    #[test]
    fn parses_rpc_template() {
        let json = r#"{"capabilities":["proposal"],"version":536870912,"rules":["csv","!segwit","taproot"],
          "previousblockhash":"7ef7b9950c1a5a0f7e3a5a9b6a7a0c1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e096d",
          "transactions":[],"coinbaseaux":{},"coinbasevalue":5000004270,
          "longpollid":"7ef7b9950c1a5a0f7e3a5a9b6a7a0c1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e096d111",
          "target":"7fffff0000000000000000000000000000000000000000000000000000000000",
          "mintime":1795245240,"mutable":["time","transactions","prevblock"],"noncerange":"00000000ffffffff",
          "sigoplimit":80000,"sizelimit":4000000,"weightlimit":4000000,"curtime":1795245412,"bits":"207fffff",
          "height":106,"default_witness_commitment":"6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"}"#;
        let rpc: RpcBlockTemplate = serde_json::from_str(json).expect("parses");
        let t = BlockTemplate::try_from(rpc).expect("converts");
        assert_eq!(t.height, 106);
        assert_eq!(t.bits, CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!(t.coinbase_value, Amount::from_sat(5_000_004_270));
        assert!(t.witness_commitment.is_some());
        assert_eq!(
            t.prev_block.to_string(),
            "7ef7b9950c1a5a0f7e3a5a9b6a7a0c1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e096d"
        );
    }
}
