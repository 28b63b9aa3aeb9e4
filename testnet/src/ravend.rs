//! A stand-in for ravend's JSON-RPC on a regtest where KawPow is active from the first
//! block after genesis (no Ravencoin daemon is packaged for these machines). It answers
//! what a pool asks of ravend, in ravend 4.6's shapes: `getblocktemplate` (with
//! longpoll), `submitblock`, `getblockcount`, `getbestblockhash`, `getblockhash`,
//! `getblockheader`, `getblock` (verbosity 0, 1 and 2), `getrawtransaction` and
//! `getblockchaininfo`; any other method is JSON-RPC error -32601.
//!
//! `submitblock` **verifies blocks for real** and answers as ravend does (`null`, or a
//! BIP22 reason such as `high-hash`): a block is a 120-byte KawPow header (version,
//! previous block, merkle root, time, bits, the height `nHeight`, the 64-bit nonce and
//! the mix hash stored reversed) and transactions in Bitcoin's serialization. The mix
//! and the final hash are recomputed with the epoch's light cache; the merkle root, the
//! BIP34 height push, the witness commitment, the coinbase amount (5000 RVN halving
//! every 150 blocks, regtest's schedule), the difficulty bits, the time window and the
//! previous block are checked. A block's id is its KawPow final hash, as ravend's.
//!
//! As ravend 4.6 (segwit is enabled on Ravencoin), templates carry a
//! `default_witness_commitment`; a block may leave it out, but one that commits must
//! carry the coinbase witness nonce. As ravend without `-txindex`, `getrawtransaction`
//! finds a block's transaction through its unspent outputs (best chain only) and takes
//! at most two parameters (`txid`, `verbose`): a third, a block hash, is RPC error -1.
//!
//! Where it differs from ravend:
//! - `nHeight` must be the block's height (`bad-blk-height`); ravend only refuses one
//!   more than ten past its tip.
//! - It keeps no UTXO set and no mempool: templates carry no transactions, and a block
//!   with any transaction besides its coinbase is refused
//!   (`bad-txns-inputs-missingorspent`). Signature operations and assets are not checked.
//! - The difficulty stays at the bits it was started with; a block off the best chain
//!   is checked as fully as one on it.
//! - Its genesis is regtest's (hash, header and coinbase), but blocks above it are
//!   KawPow blocks, which a stock regtest only makes after its activation time.
//!
//! Tests move it as the network would: [`RavendStandIn::mine_elsewhere`] appends another
//! miner's block (not proof-of-work checked) and [`RavendStandIn::reorg`] replaces the
//! best chain from a height with a longer branch of other miners' blocks.

use crate::standin::serve_json_rpc;
use otedama_sharechain::coinbase::{WITNESS_COMMITMENT_PREFIX, merkle_root, push_height};
use otedama_sharechain::ethash::kawpow::{KawpowContext, final_hash_of};
use otedama_sharechain::{
    BlockHash, CompactTarget, KawpowVerifier, Reader, SealError, Target, Txid, sha256d,
    write_bytes, write_varint,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Regtest's easiest compact target (`207fffff`): about every other hash is a block.
pub const EASY_BITS: u32 = 0x207f_ffff;
/// Base units per RVN.
pub const COIN: u64 = 100_000_000;
/// Regtest's blocks between subsidy halvings.
pub const HALVING_INTERVAL: u32 = 150;

/// The most base units that can exist (ravend's `MAX_MONEY`).
const MAX_MONEY: u64 = 21_000_000_000 * COIN;
/// Block weight limit since assets (`MAX_BLOCK_WEIGHT_RIP2`).
const MAX_BLOCK_WEIGHT: usize = 8_000_000;
/// Witness scale factor (BIP141).
const WITNESS_SCALE: usize = 4;
/// Longest a longpoll waits for a new tip.
const LONGPOLL: Duration = Duration::from_secs(30);
/// Blocks kept at most (best chain and side branches).
const MAX_BLOCKS: usize = 1 << 16;
/// Serialized block bytes kept at most.
const MAX_STORED_BYTES: usize = 256 << 20;
/// `submitblock` answers remembered at most (the latest).
const MAX_REJECTIONS: usize = 4096;
/// Connections served at once; more are closed.
const MAX_CONNECTIONS: usize = 256;
/// `submitblock` refuses blocks whose `nHeight` is more than this past the tip.
const MAX_HEIGHT_AHEAD: u32 = 10;
/// Regtest's Dark Gravity Wave activation height, from which block times may run at most
/// [`MAX_FUTURE_DGW`] seconds ahead instead of [`MAX_FUTURE`].
const DGW_HEIGHT: u32 = 200;
/// Seconds a block time may run ahead of the clock before Dark Gravity Wave.
const MAX_FUTURE: u64 = 2 * 60 * 60;
/// Seconds a block time may run ahead of the clock with Dark Gravity Wave.
const MAX_FUTURE_DGW: u64 = MAX_FUTURE / 10;
/// The version of the templates (`VERSIONBITS_TOP_BITS_ASSETS`).
const TEMPLATE_VERSION: i32 = 0x3000_0000;

/// Regtest's genesis: its hash (X16R, taken as given), time, bits, nonce and version.
const GENESIS_HASH: &str = "0b2c703dc93bb63a36c4e33b85be4855ddbca2ac951a7a0a29b8de0408200a3c";
const GENESIS_TIME: u32 = 1_524_179_366;
const GENESIS_NONCE: u32 = 1;
const GENESIS_VERSION: i32 = 4;
const GENESIS_MESSAGE: &[u8] =
    b"The Times 03/Jan/2018 Bitcoin is name of the game for new generation of firms";
const GENESIS_PUBKEY: &str = "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f";

/// The light-cache contexts every stand-in in the process verifies with.
static KAWPOW: LazyLock<KawpowVerifier> = LazyLock::new(KawpowVerifier::new);

/// The KawPow context of the epoch of block `height`, shared by every stand-in in the
/// process (built on first use: seconds; the last two epochs are kept).
///
/// # Errors
/// [`SealError::Epoch`] past the last supported epoch.
pub fn kawpow_context(height: u32) -> Result<Arc<KawpowContext>, SealError> {
    KAWPOW.context(u64::from(height))
}

/// The subsidy of a block at `height` in base units: 5000 RVN, halved every
/// [`HALVING_INTERVAL`] blocks (regtest).
pub fn block_subsidy(height: u32) -> u64 {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        0
    } else {
        (5000 * COIN) >> halvings
    }
}

/// A block on the stand-in's best chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RavendBlock {
    /// Its height.
    pub height: u32,
    /// Its id (the KawPow final hash); `to_string()` gives the RPC hex.
    pub hash: BlockHash,
    /// Its coinbase transaction as the block serializes it.
    pub coinbase: Vec<u8>,
    /// The coinbase's outputs of non-zero value: script (lowercase hex) to base units.
    pub coinbase_outputs: BTreeMap<String, u64>,
    /// Whether [`RavendStandIn::mine_elsewhere`] or [`RavendStandIn::reorg`] made it.
    pub found_elsewhere: bool,
}

/// A JSON-RPC error: code and message.
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A transaction input.
#[derive(Clone, Debug)]
struct TxIn {
    prev_txid: [u8; 32],
    prev_index: u32,
    script_sig: Vec<u8>,
    sequence: u32,
}

/// A transaction output.
#[derive(Clone, Debug)]
struct TxOut {
    value: u64,
    script: Vec<u8>,
}

/// A decoded transaction.
#[derive(Clone, Debug)]
struct Tx {
    /// As serialized in the block (with witness data if it has any).
    raw: Vec<u8>,
    /// Size without witness data.
    stripped_size: usize,
    /// Internal byte order.
    txid: [u8; 32],
    /// Internal byte order; the txid when there is no witness data.
    wtxid: [u8; 32],
    version: i32,
    inputs: Vec<TxIn>,
    outputs: Vec<TxOut>,
    /// One stack per input, or none at all.
    witness: Vec<Vec<Vec<u8>>>,
    locktime: u32,
}

impl Tx {
    fn is_coinbase(&self) -> bool {
        self.inputs.len() == 1
            && self.inputs[0].prev_txid == [0; 32]
            && self.inputs[0].prev_index == u32::MAX
    }

    fn has_witness(&self) -> bool {
        self.witness.iter().any(|stack| !stack.is_empty())
    }

    fn weight(&self) -> usize {
        self.stripped_size * (WITNESS_SCALE - 1) + self.raw.len()
    }

    /// Reads one transaction (Bitcoin's serialization, with or without witness data).
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let start = r.rest();
        let version = i32::from_le_bytes(r.array("tx.version").ok()?);
        let mut inputs = read_inputs(r)?;
        let mut flags = 0u8;
        let mut outputs = Vec::new();
        if inputs.is_empty() {
            // An empty input list is the witness marker when a flag byte follows.
            flags = r.u8("tx.flags").ok()?;
            if flags != 0 {
                inputs = read_inputs(r)?;
                outputs = read_outputs(r)?;
            }
        } else {
            outputs = read_outputs(r)?;
        }
        let mut witness = Vec::new();
        if flags & 1 != 0 {
            flags ^= 1;
            for _ in 0..inputs.len() {
                let items = r.varint(r.remaining() as u64, "tx.witness").ok()?;
                let mut stack = Vec::new();
                for _ in 0..items {
                    stack.push(r.bytes(r.remaining(), "tx.witness.item").ok()?.to_vec());
                }
                witness.push(stack);
            }
            // A witness flag with only empty stacks is a superfluous witness record.
            if witness.iter().all(Vec::is_empty) {
                return None;
            }
        }
        // Unknown optional data.
        if flags != 0 {
            return None;
        }
        let locktime = r.u32("tx.locktime").ok()?;
        let raw = start[..start.len() - r.remaining()].to_vec();
        let mut tx = Tx {
            stripped_size: 0,
            txid: [0; 32],
            wtxid: sha256d(&raw),
            raw,
            version,
            inputs,
            outputs,
            witness,
            locktime,
        };
        let stripped = tx.stripped();
        tx.stripped_size = stripped.len();
        tx.txid = sha256d(&stripped);
        Some(tx)
    }

    /// The serialization without witness data (what the txid hashes).
    fn stripped(&self) -> Vec<u8> {
        if !self.has_witness() {
            return self.raw.clone();
        }
        let mut out = Vec::with_capacity(self.raw.len());
        out.extend_from_slice(&self.version.to_le_bytes());
        write_varint(&mut out, self.inputs.len() as u64);
        for i in &self.inputs {
            out.extend_from_slice(&i.prev_txid);
            out.extend_from_slice(&i.prev_index.to_le_bytes());
            write_bytes(&mut out, &i.script_sig);
            out.extend_from_slice(&i.sequence.to_le_bytes());
        }
        write_varint(&mut out, self.outputs.len() as u64);
        for o in &self.outputs {
            out.extend_from_slice(&o.value.to_le_bytes());
            write_bytes(&mut out, &o.script);
        }
        out.extend_from_slice(&self.locktime.to_le_bytes());
        out
    }

    /// ravend's context-free transaction checks (`CheckTransaction`).
    fn check(&self) -> Result<(), &'static str> {
        if self.inputs.is_empty() {
            return Err("bad-txns-vin-empty");
        }
        if self.outputs.is_empty() {
            return Err("bad-txns-vout-empty");
        }
        if self.stripped_size * WITNESS_SCALE > MAX_BLOCK_WEIGHT {
            return Err("bad-txns-oversize");
        }
        let mut total = 0u64;
        for o in &self.outputs {
            // Amounts are signed 64-bit integers on the wire.
            if o.value > i64::MAX as u64 {
                return Err("bad-txns-vout-negative");
            }
            if o.value > MAX_MONEY {
                return Err("bad-txns-vout-toolarge");
            }
            total += o.value;
            if total > MAX_MONEY {
                return Err("bad-txns-txouttotal-toolarge");
            }
        }
        let mut spent = HashSet::new();
        if !self
            .inputs
            .iter()
            .all(|i| spent.insert((i.prev_txid, i.prev_index)))
        {
            return Err("bad-txns-inputs-duplicate");
        }
        if self.is_coinbase() {
            if !(2..=100).contains(&self.inputs[0].script_sig.len()) {
                return Err("bad-cb-length");
            }
        } else if self
            .inputs
            .iter()
            .any(|i| i.prev_txid == [0; 32] && i.prev_index == u32::MAX)
        {
            return Err("bad-txns-prevout-null");
        }
        Ok(())
    }

    /// Whether the transaction is final in a block at `height` with median time past
    /// `mtp` (ravend's `IsFinalTx` with BIP113).
    fn is_final(&self, height: u32, mtp: u32) -> bool {
        const LOCKTIME_THRESHOLD: u32 = 500_000_000;
        let limit = if self.locktime < LOCKTIME_THRESHOLD {
            height
        } else {
            mtp
        };
        self.locktime == 0
            || self.locktime < limit
            || self.inputs.iter().all(|i| i.sequence == u32::MAX)
    }

    fn json(&self) -> Value {
        let vin: Vec<Value> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let mut v = if self.is_coinbase() {
                    json!({"coinbase": hex::encode(&i.script_sig), "sequence": i.sequence})
                } else {
                    json!({
                        "txid": display(&i.prev_txid),
                        "vout": i.prev_index,
                        "scriptSig": {"hex": hex::encode(&i.script_sig)},
                        "sequence": i.sequence,
                    })
                };
                if let Some(stack) = self.witness.get(n).filter(|s| !s.is_empty()) {
                    v["txinwitness"] = stack.iter().map(hex::encode).collect();
                }
                v
            })
            .collect();
        let vout: Vec<Value> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(n, o)| {
                json!({
                    "value": coins(o.value),
                    "n": n,
                    "scriptPubKey": {"hex": hex::encode(&o.script), "type": script_type(&o.script)},
                })
            })
            .collect();
        json!({
            "txid": display(&self.txid),
            "hash": display(&self.wtxid),
            "version": self.version,
            "size": self.raw.len(),
            "vsize": self.weight().div_ceil(WITNESS_SCALE),
            "locktime": self.locktime,
            "vin": vin,
            "vout": vout,
            "hex": hex::encode(&self.raw),
        })
    }
}

fn read_inputs(r: &mut Reader<'_>) -> Option<Vec<TxIn>> {
    let n = r.varint(r.remaining() as u64, "tx.vin").ok()?;
    let mut inputs = Vec::new();
    for _ in 0..n {
        inputs.push(TxIn {
            prev_txid: r.array("tx.vin.txid").ok()?,
            prev_index: r.u32("tx.vin.index").ok()?,
            script_sig: r.bytes(r.remaining(), "tx.vin.script").ok()?.to_vec(),
            sequence: r.u32("tx.vin.sequence").ok()?,
        });
    }
    Some(inputs)
}

fn read_outputs(r: &mut Reader<'_>) -> Option<Vec<TxOut>> {
    let n = r.varint(r.remaining() as u64, "tx.vout").ok()?;
    let mut outputs = Vec::new();
    for _ in 0..n {
        outputs.push(TxOut {
            value: r.u64("tx.vout.value").ok()?,
            script: r.bytes(r.remaining(), "tx.vout.script").ok()?.to_vec(),
        });
    }
    Some(outputs)
}

/// The size of a block of `size` bytes with these transactions, without witness data.
fn stripped_block_size(size: usize, txs: &[Tx]) -> usize {
    size - txs
        .iter()
        .map(|t| t.raw.len() - t.stripped_size)
        .sum::<usize>()
}

/// Bytes in internal order as RPC hex (reversed).
fn display(b: &[u8; 32]) -> String {
    let mut r = *b;
    r.reverse();
    hex::encode(r)
}

/// Base units as an RPC amount in RVN.
fn coins(sat: u64) -> f64 {
    sat as f64 / COIN as f64
}

/// The `scriptPubKey.type` of the common scripts.
fn script_type(s: &[u8]) -> &'static str {
    match s {
        [0x76, 0xa9, 0x14, .., 0x88, 0xac] if s.len() == 25 => "pubkeyhash",
        [0xa9, 0x14, .., 0x87] if s.len() == 23 => "scripthash",
        [0x6a, ..] => "nulldata",
        [0x21, .., 0xac] if s.len() == 35 => "pubkey",
        [0x41, .., 0xac] if s.len() == 67 => "pubkey",
        _ => "nonstandard",
    }
}

/// Whether an output goes into the UTXO set (not provably unspendable).
fn spendable(script: &[u8]) -> bool {
    script.first() != Some(&0x6a) && script.len() <= 10_000
}

/// A compact target as 32 big-endian bytes; `None` if it is not a valid target.
fn boundary(bits: u32) -> Option<[u8; 32]> {
    let target = Target::from_compact(CompactTarget::from_consensus(bits)).ok()?;
    Some(target.to_u256().to_be_bytes::<32>())
}

/// ravend's `GetDifficulty` of compact `bits`.
fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mantissa = f64::from((bits & 0x00ff_ffff).max(1));
    let mut d = f64::from(0xffff) / mantissa;
    while shift < 29 {
        d *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        d /= 256.0;
        shift -= 1;
    }
    d
}

/// Expected hashes of a block at `bits`.
fn work(bits: u32) -> u128 {
    Target::from_compact(CompactTarget::from_consensus(bits)).map_or(0, |t| t.to_work().to_u128())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The witness commitment script of a block with these transactions (the coinbase's
/// witness taken as zero) and witness `nonce`.
fn witness_commitment(txs: &[Tx], nonce: &[u8; 32]) -> [u8; 32] {
    let leaves: Vec<Txid> = std::iter::once(Txid::from_bytes([0; 32]))
        .chain(txs.iter().skip(1).map(|t| Txid::from_bytes(t.wtxid)))
        .collect();
    let mut pre = merkle_root(&leaves).to_vec();
    pre.extend_from_slice(nonce);
    sha256d(&pre)
}

/// A submitted block, decoded.
struct Submitted {
    raw: Vec<u8>,
    header: [u8; 120],
    version: i32,
    prev: BlockHash,
    merkle: [u8; 32],
    time: u32,
    bits: u32,
    height: u32,
    nonce64: u64,
    /// ProgPoW's byte order (the header stores it reversed).
    mix: [u8; 32],
    txs: Vec<Tx>,
}

impl Submitted {
    fn decode(hex_block: &str) -> Option<Self> {
        let bytes = hex::decode(hex_block).ok()?;
        let mut r = Reader::new(&bytes);
        let header: [u8; 120] = r.rest().get(..120)?.try_into().ok()?;
        let version = i32::from_le_bytes(r.array("version").ok()?);
        let prev = BlockHash::from_bytes(r.array("prev").ok()?);
        let merkle = r.array("merkle").ok()?;
        let time = r.u32("time").ok()?;
        let bits = r.u32("bits").ok()?;
        let height = r.u32("height").ok()?;
        let nonce64 = r.u64("nonce64").ok()?;
        let mut mix: [u8; 32] = r.array("mix").ok()?;
        mix.reverse();
        let n = r.varint(r.remaining() as u64, "tx count").ok()?;
        let mut txs = Vec::new();
        for _ in 0..n {
            txs.push(Tx::read(&mut r)?);
        }
        // As ravend, bytes after the block are ignored.
        let raw = bytes[..bytes.len() - r.remaining()].to_vec();
        Some(Self {
            raw,
            header,
            version,
            prev,
            merkle,
            time,
            bits,
            height,
            nonce64,
            mix,
            txs,
        })
    }

    /// The header hash KawPow starts from (sha256d of the first 80 bytes, reversed).
    fn header_hash(&self) -> [u8; 32] {
        let mut h = sha256d(&self.header[..80]);
        h.reverse();
        h
    }

    /// The block id: the final hash of the claimed mix.
    fn id(&self) -> BlockHash {
        let mut f = final_hash_of(&self.header_hash(), self.nonce64, &self.mix);
        f.reverse();
        BlockHash::from_bytes(f)
    }

    /// ravend's context-free block checks (`CheckBlock`), the proof of work first.
    fn check(&self) -> Result<(), &'static str> {
        let bound = boundary(self.bits).ok_or("high-hash")?;
        let ctx = kawpow_context(self.height).map_err(|_| "high-hash")?;
        let got = ctx.hash(u64::from(self.height), &self.header_hash(), self.nonce64);
        if got.result > bound {
            return Err("high-hash");
        }
        if got.mix != self.mix {
            return Err("invalid-mix-hash");
        }
        let txids: Vec<Txid> = self.txs.iter().map(|t| Txid::from_bytes(t.txid)).collect();
        if merkle_root(&txids) != self.merkle {
            return Err("bad-txnmrklroot");
        }
        let mut seen = HashSet::new();
        if !self.txs.iter().all(|t| seen.insert(t.txid)) {
            return Err("bad-txns-duplicate");
        }
        if self.txs.is_empty()
            || self.txs.len() * WITNESS_SCALE > MAX_BLOCK_WEIGHT
            || self.stripped_size() * WITNESS_SCALE > MAX_BLOCK_WEIGHT
        {
            return Err("bad-blk-length");
        }
        if !self.txs[0].is_coinbase() {
            return Err("bad-cb-missing");
        }
        if self.txs[1..].iter().any(Tx::is_coinbase) {
            return Err("bad-cb-multiple");
        }
        self.txs.iter().try_for_each(Tx::check)
    }

    fn stripped_size(&self) -> usize {
        stripped_block_size(self.raw.len(), &self.txs)
    }

    /// The witness checks of `ContextualCheckBlock`.
    fn check_witness(&self) -> Result<(), &'static str> {
        let coinbase = &self.txs[0];
        let commitment = coinbase
            .outputs
            .iter()
            .rposition(|o| o.script.len() >= 38 && o.script[..6] == WITNESS_COMMITMENT_PREFIX);
        match commitment {
            Some(pos) => {
                let nonce: [u8; 32] = match coinbase.witness.first().map(Vec::as_slice) {
                    Some([item]) => item
                        .as_slice()
                        .try_into()
                        .map_err(|_| "bad-witness-nonce-size")?,
                    _ => return Err("bad-witness-nonce-size"),
                };
                if coinbase.outputs[pos].script[6..38] != witness_commitment(&self.txs, &nonce) {
                    return Err("bad-witness-merkle-match");
                }
            }
            None if self.txs.iter().any(Tx::has_witness) => return Err("unexpected-witness"),
            None => {}
        }
        let weight = self.stripped_size() * (WITNESS_SCALE - 1) + self.raw.len();
        if weight > MAX_BLOCK_WEIGHT {
            return Err("bad-blk-weight");
        }
        Ok(())
    }
}

/// A block the stand-in knows.
#[derive(Clone, Debug)]
struct Stored {
    height: u32,
    hash: BlockHash,
    prev: BlockHash,
    /// 120 bytes (80 for genesis).
    header: Vec<u8>,
    version: i32,
    merkle: [u8; 32],
    time: u32,
    bits: u32,
    /// The 32-bit nonce of the pre-KawPow header (genesis), else 0.
    nonce: u32,
    nonce64: u64,
    /// ProgPoW's byte order.
    mix: [u8; 32],
    txs: Vec<Tx>,
    chainwork: u128,
    elsewhere: bool,
}

impl Stored {
    fn size(&self) -> usize {
        let mut count = Vec::with_capacity(9);
        write_varint(&mut count, self.txs.len() as u64);
        self.header.len() + count.len() + self.txs.iter().map(|t| t.raw.len()).sum::<usize>()
    }

    fn raw(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size());
        out.extend_from_slice(&self.header);
        write_varint(&mut out, self.txs.len() as u64);
        for t in &self.txs {
            out.extend_from_slice(&t.raw);
        }
        out
    }

    /// KawPow's header hash of the block's first 80 bytes with `nHeight` (ravend's
    /// `headerhash`), in RPC hex.
    fn header_hash_hex(&self) -> String {
        let mut input = Vec::with_capacity(80);
        input.extend_from_slice(&self.version.to_le_bytes());
        input.extend_from_slice(self.prev.as_bytes());
        input.extend_from_slice(&self.merkle);
        input.extend_from_slice(&self.time.to_le_bytes());
        input.extend_from_slice(&self.bits.to_le_bytes());
        input.extend_from_slice(&self.height.to_le_bytes());
        display(&sha256d(&input))
    }

    fn public(&self) -> RavendBlock {
        let coinbase = self.txs.first();
        let mut outputs = BTreeMap::new();
        for o in coinbase.map_or(&[][..], |c| &c.outputs) {
            if o.value > 0 {
                let v = outputs.entry(hex::encode(&o.script)).or_insert(0u64);
                *v = v.saturating_add(o.value);
            }
        }
        RavendBlock {
            height: self.height,
            hash: self.hash,
            coinbase: coinbase.map(|c| c.raw.clone()).unwrap_or_default(),
            coinbase_outputs: outputs,
            found_elsewhere: self.elsewhere,
        }
    }
}

/// A coinbase without witness data: version 1, `script_sig`, one output of `value` to
/// `script`, locktime 0.
fn coinbase_tx(script_sig: Vec<u8>, value: u64, script: Vec<u8>) -> Tx {
    let mut raw = Vec::new();
    raw.extend_from_slice(&1i32.to_le_bytes());
    write_varint(&mut raw, 1);
    raw.extend_from_slice(&[0; 32]);
    raw.extend_from_slice(&u32::MAX.to_le_bytes());
    write_bytes(&mut raw, &script_sig);
    raw.extend_from_slice(&u32::MAX.to_le_bytes());
    write_varint(&mut raw, 1);
    raw.extend_from_slice(&value.to_le_bytes());
    write_bytes(&mut raw, &script);
    raw.extend_from_slice(&0u32.to_le_bytes());
    let txid = sha256d(&raw);
    Tx {
        stripped_size: raw.len(),
        txid,
        wtxid: txid,
        raw,
        version: 1,
        inputs: vec![TxIn {
            prev_txid: [0; 32],
            prev_index: u32::MAX,
            script_sig,
            sequence: u32::MAX,
        }],
        outputs: vec![TxOut { value, script }],
        witness: Vec::new(),
        locktime: 0,
    }
}

/// Regtest's genesis block: its coinbase and 80-byte header rebuilt, its hash given.
fn genesis() -> Stored {
    let mut script_sig = vec![0x00, 0x04, 0xff, 0xff, 0x00, 0x1d, 0x01, 0x04];
    // The message is 77 bytes: an OP_PUSHDATA1 push.
    script_sig.extend_from_slice(&[0x4c, GENESIS_MESSAGE.len() as u8]);
    script_sig.extend_from_slice(GENESIS_MESSAGE);
    let mut script = vec![0x41];
    script.extend_from_slice(&hex::decode(GENESIS_PUBKEY).unwrap_or_default());
    script.push(0xac);
    let tx = coinbase_tx(script_sig, 5000 * COIN, script);
    let txid = tx.txid;
    let mut header = Vec::with_capacity(80);
    header.extend_from_slice(&GENESIS_VERSION.to_le_bytes());
    header.extend_from_slice(&[0; 32]);
    header.extend_from_slice(&txid);
    header.extend_from_slice(&GENESIS_TIME.to_le_bytes());
    header.extend_from_slice(&EASY_BITS.to_le_bytes());
    header.extend_from_slice(&GENESIS_NONCE.to_le_bytes());
    Stored {
        height: 0,
        hash: BlockHash::from_display_hex(GENESIS_HASH).unwrap_or(BlockHash::ZERO),
        prev: BlockHash::ZERO,
        header,
        version: GENESIS_VERSION,
        merkle: txid,
        time: GENESIS_TIME,
        bits: EASY_BITS,
        nonce: GENESIS_NONCE,
        nonce64: 0,
        mix: [0; 32],
        txs: vec![tx],
        chainwork: work(EASY_BITS),
        elsewhere: false,
    }
}

/// The stand-in's chain: every block it knows, and its best chain.
#[derive(Debug)]
struct Chain {
    bits: u32,
    blocks: HashMap<BlockHash, Stored>,
    /// The best chain's hashes by height.
    best: Vec<BlockHash>,
    stored_bytes: usize,
    rejections: VecDeque<String>,
    /// Tip changes so far (the longpoll id's suffix).
    tip_changes: u64,
    /// Blocks made by other miners so far (their nonces).
    elsewhere: u64,
}

impl Chain {
    fn new(bits: u32) -> Self {
        let g = genesis();
        let hash = g.hash;
        let stored_bytes = g.size();
        Self {
            bits,
            blocks: HashMap::from([(hash, g)]),
            best: vec![hash],
            stored_bytes,
            rejections: VecDeque::new(),
            tip_changes: 0,
            elsewhere: 0,
        }
    }

    fn tip(&self) -> &Stored {
        // The best chain always holds genesis, and every hash in it is stored.
        &self.blocks[&self.best[self.best.len() - 1]]
    }

    fn tip_height(&self) -> u32 {
        self.tip().height
    }

    fn on_best(&self, b: &Stored) -> bool {
        self.best.get(b.height as usize) == Some(&b.hash)
    }

    fn confirmations(&self, b: &Stored) -> i64 {
        if self.on_best(b) {
            i64::from(self.tip_height()) - i64::from(b.height) + 1
        } else {
            -1
        }
    }

    /// The median time of the 11 blocks ending at `hash`.
    fn median_time_past(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(11);
        let mut at = self.blocks.get(hash);
        while let Some(b) = at
            && times.len() < 11
        {
            times.push(b.time);
            at = if b.height == 0 {
                None
            } else {
                self.blocks.get(&b.prev)
            };
        }
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or(0)
    }

    fn longpoll_id(&self) -> String {
        format!("{}{}", self.tip().hash, self.tip_changes)
    }

    fn record(&mut self, answer: &str) {
        if self.rejections.len() >= MAX_REJECTIONS {
            self.rejections.pop_front();
        }
        self.rejections.push_back(answer.to_owned());
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.blocks.len() < MAX_BLOCKS && self.stored_bytes + bytes <= MAX_STORED_BYTES
    }

    /// Stores `b` and makes it the tip when it has more work than the tip (extending the
    /// best chain, or reorganising to its branch). Returns whether the tip moved.
    fn store(&mut self, b: Stored) -> bool {
        let hash = b.hash;
        let more_work = b.chainwork > self.tip().chainwork;
        self.stored_bytes += b.size();
        self.blocks.insert(hash, b);
        if !more_work {
            return false;
        }
        // Walk back to the best chain, then replace everything above the fork.
        let mut branch = Vec::new();
        let mut at = hash;
        while let Some(s) = self.blocks.get(&at)
            && !self.on_best(s)
        {
            branch.push(at);
            at = s.prev;
        }
        let fork = self.blocks.get(&at).map_or(0, |s| s.height as usize);
        self.best.truncate(fork + 1);
        self.best.extend(branch.into_iter().rev());
        self.tip_changes += 1;
        true
    }

    /// The checks that need the chain (`AcceptBlockHeader`, `ContextualCheckBlock`,
    /// `ConnectBlock`), then stores the block. `Ok(None)`: it is the new tip.
    fn accept(&mut self, s: Submitted, now: u64) -> Result<Option<&'static str>, RpcError> {
        let hash = s.id();
        if self.blocks.contains_key(&hash) {
            return Ok(Some("duplicate"));
        }
        let Some(prev) = self.blocks.get(&s.prev) else {
            return Ok(Some("prev-blk-not-found"));
        };
        let (height, prev_work) = (prev.height + 1, prev.chainwork);
        let mtp = self.median_time_past(&s.prev);
        let ahead = if height >= DGW_HEIGHT {
            MAX_FUTURE_DGW
        } else {
            MAX_FUTURE
        };
        let coinbase = &s.txs[0];
        let mut bip34 = Vec::new();
        push_height(&mut bip34, height);
        let paid: u64 = coinbase.outputs.iter().map(|o| o.value).sum();
        let reason = if s.height != height {
            Some("bad-blk-height")
        } else if s.bits != self.bits {
            Some("bad-diffbits")
        } else if s.time <= mtp {
            Some("time-too-old")
        } else if u64::from(s.time) > now + ahead {
            Some("time-too-new")
        } else if !s.txs.iter().all(|t| t.is_final(height, mtp)) {
            Some("bad-txns-nonfinal")
        } else if !coinbase.inputs[0].script_sig.starts_with(&bip34) {
            Some("bad-cb-height")
        } else if let Err(reason) = s.check_witness() {
            Some(reason)
        } else if s.txs.len() > 1 {
            Some("bad-txns-inputs-missingorspent")
        } else if paid > block_subsidy(height) {
            Some("bad-cb-amount")
        } else {
            None
        };
        if reason.is_some() {
            return Ok(reason);
        }
        if !self.has_room(s.raw.len()) {
            return Err(RpcError::new(
                -1,
                format!(
                    "block store full: the stand-in keeps at most {MAX_BLOCKS} blocks and {MAX_STORED_BYTES} bytes"
                ),
            ));
        }
        let block = Stored {
            height,
            hash,
            prev: s.prev,
            header: s.header.to_vec(),
            version: s.version,
            merkle: s.merkle,
            time: s.time,
            bits: s.bits,
            nonce: 0,
            nonce64: s.nonce64,
            mix: s.mix,
            txs: s.txs,
            chainwork: prev_work + work(s.bits),
            elsewhere: false,
        };
        Ok(if self.store(block) {
            None
        } else {
            // Valid, but not on the best chain.
            Some("inconclusive")
        })
    }

    /// Builds and stores a block another miner found on `prev` (no proof of work: its
    /// id is the final hash of an arbitrary mix). Returns its hash and whether it
    /// became the tip, or `None` when the store is full or `prev` is unknown.
    fn add_elsewhere(&mut self, prev: BlockHash, now: u64) -> Option<(BlockHash, bool)> {
        let parent = self.blocks.get(&prev)?;
        let (height, parent_work) = (parent.height + 1, parent.chainwork);
        self.elsewhere += 1;
        let n = self.elsewhere;
        let mut script_sig = Vec::new();
        push_height(&mut script_sig, height);
        script_sig.push(8);
        script_sig.extend_from_slice(&n.to_le_bytes());
        let mut script = vec![0x76, 0xa9, 0x14];
        script.extend_from_slice(&[0xee; 20]);
        script.extend_from_slice(&[0x88, 0xac]);
        let tx = coinbase_tx(script_sig, block_subsidy(height), script);
        let txid = tx.txid;
        let time = u32::try_from(now)
            .unwrap_or(u32::MAX)
            .max(self.median_time_past(&prev).saturating_add(1));
        let mix = sha256d(&n.to_be_bytes());
        let mut header = Vec::with_capacity(120);
        header.extend_from_slice(&TEMPLATE_VERSION.to_le_bytes());
        header.extend_from_slice(prev.as_bytes());
        header.extend_from_slice(&txid);
        header.extend_from_slice(&time.to_le_bytes());
        header.extend_from_slice(&self.bits.to_le_bytes());
        header.extend_from_slice(&height.to_le_bytes());
        header.extend_from_slice(&n.to_le_bytes());
        header.extend(mix.iter().rev());
        let mut header_hash = sha256d(&header[..80]);
        header_hash.reverse();
        let mut id = final_hash_of(&header_hash, n, &mix);
        id.reverse();
        let block = Stored {
            height,
            hash: BlockHash::from_bytes(id),
            prev,
            header,
            version: TEMPLATE_VERSION,
            merkle: txid,
            time,
            bits: self.bits,
            nonce: 0,
            nonce64: n,
            mix,
            txs: vec![tx],
            chainwork: parent_work + work(self.bits),
            elsewhere: true,
        };
        if !self.has_room(block.size()) {
            return None;
        }
        let hash = block.hash;
        Some((hash, self.store(block)))
    }

    fn template(&self, now: u64) -> Value {
        let tip = self.tip();
        let height = tip.height + 1;
        let min_time = self.median_time_past(&tip.hash).saturating_add(1);
        let commitment = {
            let mut s = WITNESS_COMMITMENT_PREFIX.to_vec();
            s.extend_from_slice(&sha256d(&[0; 64]));
            hex::encode(s)
        };
        json!({
            "capabilities": ["proposal"],
            "version": TEMPLATE_VERSION,
            "rules": [],
            "vbavailable": {},
            "vbrequired": 0,
            "previousblockhash": tip.hash.to_string(),
            "transactions": [],
            "coinbaseaux": {"flags": ""},
            "coinbasevalue": block_subsidy(height),
            "longpollid": self.longpoll_id(),
            "target": hex::encode(boundary(self.bits).unwrap_or([0xff; 32])),
            "mintime": min_time,
            "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff",
            "sigoplimit": 80_000,
            "sizelimit": MAX_BLOCK_WEIGHT,
            "weightlimit": MAX_BLOCK_WEIGHT,
            "curtime": now.max(u64::from(min_time)),
            "bits": format!("{:08x}", self.bits),
            "height": height,
            "default_witness_commitment": commitment,
        })
    }

    /// The fields `getblockheader` and `getblock` share.
    fn header_json(&self, b: &Stored) -> Value {
        let mut v = json!({
            "hash": b.hash.to_string(),
            "confirmations": self.confirmations(b),
            "height": b.height,
            "version": b.version,
            "versionHex": format!("{:08x}", b.version),
            "merkleroot": display(&b.merkle),
            "time": b.time,
            "mediantime": self.median_time_past(&b.hash),
            "nonce": b.nonce,
            "bits": format!("{:08x}", b.bits),
            "difficulty": difficulty(b.bits),
            "chainwork": format!("{:064x}", b.chainwork),
        });
        if b.height > 0 {
            v["previousblockhash"] = json!(b.prev.to_string());
        }
        if self.on_best(b)
            && let Some(next) = self.best.get(b.height as usize + 1)
        {
            v["nextblockhash"] = json!(next.to_string());
        }
        v
    }

    fn block_json(&self, b: &Stored, verbosity: i64) -> Value {
        if verbosity <= 0 {
            return json!(hex::encode(b.raw()));
        }
        let mut v = self.header_json(b);
        let stripped = stripped_block_size(b.size(), &b.txs);
        v["strippedsize"] = json!(stripped);
        v["size"] = json!(b.size());
        v["weight"] = json!(stripped * (WITNESS_SCALE - 1) + b.size());
        v["tx"] = if verbosity >= 2 {
            b.txs.iter().map(Tx::json).collect()
        } else {
            b.txs.iter().map(|t| json!(display(&t.txid))).collect()
        };
        v["headerhash"] = json!(b.header_hash_hex());
        v["mixhash"] = json!(hex::encode(b.mix));
        v["nonce64"] = json!(b.nonce64);
        v
    }

    /// The block named by the first parameter.
    fn named_block(&self, params: &[Value]) -> Result<&Stored, RpcError> {
        let hash = str_param(params, 0)?;
        BlockHash::from_display_hex(hash)
            .ok()
            .and_then(|h| self.blocks.get(&h))
            .ok_or_else(|| RpcError::new(-5, "Block not found"))
    }

    fn get_raw_transaction(&self, params: &[Value]) -> Result<Value, RpcError> {
        let txid = hash_param(params, 0)?;
        let verbose = match params.get(1) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64() != Some(0),
            Some(_) => {
                return Err(RpcError::new(
                    -3,
                    "Invalid type provided. Verbose parameter must be a boolean.",
                ));
            }
        };
        // No txindex: a transaction in a block is found through its unspent outputs,
        // which only blocks on the best chain have.
        let found = self.best.iter().rev().find_map(|h| {
            let b = &self.blocks[h];
            b.txs
                .iter()
                .find(|t| t.txid == txid && t.outputs.iter().any(|o| spendable(&o.script)))
                .map(|t| (b, t))
        });
        let Some((block, tx)) = found else {
            return Err(RpcError::new(
                -5,
                "No such mempool transaction. Use -txindex to enable blockchain transaction queries. Use gettransaction for wallet transactions.",
            ));
        };
        if !verbose {
            return Ok(json!(hex::encode(&tx.raw)));
        }
        let mut v = tx.json();
        if let Some(vout) = v["vout"].as_array_mut() {
            for (o, out) in vout.iter_mut().zip(&tx.outputs) {
                o["valueSat"] = json!(out.value);
            }
        }
        v["blockhash"] = json!(block.hash.to_string());
        v["height"] = json!(block.height);
        v["confirmations"] = json!(self.confirmations(block));
        v["time"] = json!(block.time);
        v["blocktime"] = json!(block.time);
        Ok(v)
    }

    /// Answers every method but `submitblock` (and `getblocktemplate`'s wait).
    fn answer(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        match method {
            "getblocktemplate" => Ok(self.template(unix_now())),
            "getblockcount" => Ok(json!(self.tip_height())),
            "getbestblockhash" => Ok(json!(self.tip().hash.to_string())),
            "getblockhash" => {
                let h = params
                    .first()
                    .and_then(Value::as_i64)
                    .ok_or_else(|| RpcError::new(-1, "JSON value is not an integer as expected"))?;
                usize::try_from(h)
                    .ok()
                    .and_then(|h| self.best.get(h))
                    .map(|hash| json!(hash.to_string()))
                    .ok_or_else(|| RpcError::new(-8, "Block height out of range"))
            }
            "getblockheader" => {
                let b = self.named_block(params)?;
                match params.get(1) {
                    None | Some(Value::Null | Value::Bool(true)) => Ok(self.header_json(b)),
                    Some(Value::Bool(false)) => Ok(json!(hex::encode(&b.header))),
                    Some(_) => Err(RpcError::new(-1, "JSON value is not a boolean as expected")),
                }
            }
            "getblock" => {
                let b = self.named_block(params)?;
                let verbosity = match params.get(1) {
                    None | Some(Value::Null) => 1,
                    Some(Value::Bool(v)) => i64::from(*v),
                    Some(v) => v.as_i64().ok_or_else(|| {
                        RpcError::new(-1, "JSON value is not an integer as expected")
                    })?,
                };
                Ok(self.block_json(b, verbosity))
            }
            "getrawtransaction" => self.get_raw_transaction(params),
            "getblockchaininfo" => {
                let tip = self.tip();
                Ok(json!({
                    "chain": "regtest",
                    "blocks": tip.height,
                    "headers": tip.height,
                    "bestblockhash": tip.hash.to_string(),
                    "difficulty": difficulty(self.bits),
                    "mediantime": self.median_time_past(&tip.hash),
                    "initialblockdownload": false,
                    "chainwork": format!("{:064x}", tip.chainwork),
                    "pruned": false,
                }))
            }
            _ => Err(RpcError::new(-32601, "Method not found")),
        }
    }
}

fn str_param(params: &[Value], i: usize) -> Result<&str, RpcError> {
    params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(-1, "JSON value is not a string as expected"))
}

/// A hash parameter in RPC hex, as internal bytes.
fn hash_param(params: &[Value], i: usize) -> Result<[u8; 32], RpcError> {
    let s = str_param(params, i)?;
    let name = format!("parameter {}", i + 1);
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RpcError::new(
            -8,
            format!("{name} must be hexadecimal string (not '{s}')"),
        ));
    }
    BlockHash::from_display_hex(s)
        .map(BlockHash::to_bytes)
        .map_err(|_| {
            RpcError::new(
                -8,
                format!("{name} must be of length 64 (not {}, for '{s}')", s.len()),
            )
        })
}

/// The parameter counts ravend accepts, and its usage line (its error message for any
/// other count).
fn usage(method: &str) -> Option<(usize, usize, &'static str)> {
    Some(match method {
        "getblocktemplate" => (0, 1, "getblocktemplate ( TemplateRequest )"),
        "submitblock" => (1, 2, "submitblock \"hexdata\"  ( \"dummy\" )"),
        "getblockcount" => (0, 0, "getblockcount"),
        "getbestblockhash" => (0, 0, "getbestblockhash"),
        "getblockhash" => (1, 1, "getblockhash height"),
        "getblockheader" => (1, 2, "getblockheader \"hash\" ( verbose )"),
        "getblock" => (1, 2, "getblock \"blockhash\" ( verbosity ) "),
        "getrawtransaction" => (1, 2, "getrawtransaction \"txid\" ( verbose )"),
        "getblockchaininfo" => (0, 0, "getblockchaininfo"),
        _ => return None,
    })
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    chain: Mutex<Chain>,
    /// Bumped on every tip change (longpolls wait on it).
    tip: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tip_moved(&self) {
        self.tip.send_modify(|n| *n += 1);
    }

    /// `submitblock`: decodes and checks the block (the proof of work without the chain
    /// lock), then stores it. Every answer but `null` is recorded.
    fn submit(&self, params: &[Value]) -> Result<Value, RpcError> {
        let answer = self.check_and_store(params);
        let said = match &answer {
            Ok(None) => return Ok(Value::Null),
            Ok(Some(reason)) => (*reason).to_owned(),
            Err(e) => e.message.clone(),
        };
        self.lock().record(&said);
        answer.map(|reason| json!(reason))
    }

    fn check_and_store(&self, params: &[Value]) -> Result<Option<&'static str>, RpcError> {
        let block = Submitted::decode(str_param(params, 0)?)
            .ok_or_else(|| RpcError::new(-22, "Block decode failed"))?;
        if !block.txs.first().is_some_and(Tx::is_coinbase) {
            return Err(RpcError::new(-22, "Block does not start with a coinbase"));
        }
        {
            let chain = self.lock();
            if block.height > chain.tip_height().saturating_add(MAX_HEIGHT_AHEAD) {
                // Sic: ravend's message.
                return Err(RpcError::new(-22, "Block height is to large"));
            }
            if chain.blocks.contains_key(&block.id()) {
                return Ok(Some("duplicate"));
            }
        }
        if let Err(reason) = block.check() {
            return Ok(Some(reason));
        }
        let answer = self.lock().accept(block, unix_now())?;
        if answer.is_none() {
            self.tip_moved();
        }
        Ok(answer)
    }

    /// Answers one request (after any longpoll wait).
    fn answer(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        if let Some((min, max, line)) = usage(method)
            && !(min..=max).contains(&params.len())
        {
            return Err(RpcError::new(-1, line));
        }
        if method == "submitblock" {
            return self.submit(params);
        }
        self.lock().answer(method, params)
    }
}

/// Answers one JSON-RPC request in bitcoind's envelope.
async fn handle(shared: Arc<Shared>, req: Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return json!({"result": null, "error": {"code": -32600, "message": "Invalid Request object"}, "id": id});
    };
    let params = match req.get("params") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    if method == "getblocktemplate"
        && let Some(wanted) = params
            .first()
            .and_then(|p| p.get("longpollid"))
            .and_then(Value::as_str)
    {
        // Subscribed before reading the id, so a change in between is not missed.
        let mut changes = shared.tip.subscribe();
        if shared.lock().longpoll_id() == wanted {
            let _ = tokio::time::timeout(LONGPOLL, changes.changed()).await;
        }
    }
    // Proving a seal takes a while, and building a light cache seconds.
    let answer = tokio::task::spawn_blocking(move || shared.answer(&method, &params))
        .await
        .unwrap_or_else(|_| Err(RpcError::new(-1, "internal error")));
    match answer {
        Ok(result) => json!({"result": result, "error": null, "id": id}),
        Err(e) => {
            json!({"result": null, "error": {"code": e.code, "message": e.message}, "id": id})
        }
    }
}

/// The running stand-in.
#[derive(Debug)]
pub struct RavendStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RavendStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RavendStandIn {
    /// Starts on an ephemeral loopback port at regtest's genesis, asking every block to
    /// meet compact target `bits`. The first epoch's light cache starts building in the
    /// background, so the first `submitblock` does not wait seconds for it.
    ///
    /// # Errors
    /// `bits` is not a valid target, or the listener could not bind.
    pub async fn start(bits: u32) -> std::io::Result<Self> {
        if boundary(bits).is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bits {bits:08x} is not a valid compact target"),
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            chain: Mutex::new(Chain::new(bits)),
            tip: watch::Sender::new(0),
        });
        drop(tokio::task::spawn_blocking(|| kawpow_context(1).is_ok()));
        let server = Arc::clone(&shared);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    continue;
                };
                let shared = Arc::clone(&server);
                tokio::spawn(async move {
                    let _ = serve_json_rpc(stream, |req, _| handle(Arc::clone(&shared), req)).await;
                    drop(slot);
                });
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// Starts with regtest's easiest target ([`EASY_BITS`]): about every other hash of a
    /// header is a block.
    ///
    /// # Errors
    /// The listener could not bind.
    pub async fn start_easy() -> std::io::Result<Self> {
        Self::start(EASY_BITS).await
    }

    /// The RPC URL (any user and password are accepted).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The best chain's height (`getblockcount`); the next block's is one more.
    pub fn height(&self) -> u32 {
        self.shared.lock().tip_height()
    }

    /// The best block's hash (`getbestblockhash`).
    pub fn best_hash(&self) -> BlockHash {
        self.shared.lock().tip().hash
    }

    /// The best chain's blocks above genesis, by height.
    pub fn blocks(&self) -> Vec<RavendBlock> {
        let c = self.shared.lock();
        c.best[1..].iter().map(|h| c.blocks[h].public()).collect()
    }

    /// Every `submitblock` answer for a block other than `null`, oldest first (at most
    /// the latest 4096): ravend's reasons (`high-hash`, `duplicate`, `inconclusive`, ...)
    /// and the messages of the RPC errors for blocks it could not read (`Block decode
    /// failed`, ...).
    pub fn rejections(&self) -> Vec<String> {
        self.shared.lock().rejections.iter().cloned().collect()
    }

    /// Appends a block another miner found (paying `76a914` `ee`×20 `88ac`) to the best
    /// chain: the current work goes stale. Returns its hash, or `None` once the stand-in
    /// holds as many blocks as it keeps.
    pub fn mine_elsewhere(&self) -> Option<BlockHash> {
        let added = {
            let mut c = self.shared.lock();
            let tip = c.tip().hash;
            c.add_elsewhere(tip, unix_now())
        };
        let (hash, moved) = added?;
        if moved {
            self.shared.tip_moved();
        }
        Some(hash)
    }

    /// Replaces the best chain from `height` up with a branch of other miners' blocks one
    /// longer than the part it replaces, as a heavier branch would; the replaced blocks
    /// stay known off the best chain (`confirmations` -1). Returns whether it happened
    /// (`height` must be from 1 to the tip's height + 1, and the store must have room).
    pub fn reorg(&self, height: u32) -> bool {
        let moved = {
            let mut c = self.shared.lock();
            let tip = c.tip_height();
            if height == 0 || height > tip + 1 {
                return false;
            }
            let mut at = c.best[height as usize - 1];
            let now = unix_now();
            let mut moved = false;
            for _ in height..=tip + 1 {
                let Some((hash, m)) = c.add_elsewhere(at, now) else {
                    break;
                };
                at = hash;
                moved |= m;
            }
            moved
        };
        if moved {
            self.shared.tip_moved();
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_node::proof::{DaemonView, coinbase_txid, paying_outputs, view_of};
    use otedama_sharechain::coinbase::{
        BlockTemplate, CoinbaseParts, RpcBlockTemplate, assemble_block, build_coinbase,
    };
    use otedama_sharechain::{Amount, PayoutScript};

    /// A P2PKH payout script.
    const PAYOUT: &str = "76a914111111111111111111111111111111111111111188ac";

    async fn call(url: &str, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "1.0", "id": "t", "method": method, "params": params});
        reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("the stand-in answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn result(url: &str, method: &str, params: Value) -> Value {
        let reply = call(url, method, params).await;
        assert!(reply["error"].is_null(), "{method}: {reply}");
        reply["result"].clone()
    }

    async fn submit(url: &str, block: &str) -> Value {
        result(url, "submitblock", json!([block])).await
    }

    /// A coinbase: BIP34 `height` push, a tag, one output of `value` to `script`.
    fn coinbase(height: u32, value: u64, script: &str) -> Vec<u8> {
        let mut sig = Vec::new();
        push_height(&mut sig, height);
        sig.extend_from_slice(&[4, b't', b'e', b's', b't']);
        let mut tx = Vec::new();
        tx.extend_from_slice(&1i32.to_le_bytes());
        write_varint(&mut tx, 1);
        tx.extend_from_slice(&[0; 32]);
        tx.extend_from_slice(&u32::MAX.to_le_bytes());
        write_bytes(&mut tx, &sig);
        tx.extend_from_slice(&u32::MAX.to_le_bytes());
        write_varint(&mut tx, 1);
        tx.extend_from_slice(&value.to_le_bytes());
        write_bytes(&mut tx, &hex::decode(script).expect("hex"));
        tx.extend_from_slice(&0u32.to_le_bytes());
        tx
    }

    /// A block to seal: the 80 bytes KawPow hashes and the transactions after them.
    struct Draft {
        prev: BlockHash,
        merkle: [u8; 32],
        time: u32,
        height: u32,
        txs: Vec<Vec<u8>>,
    }

    impl Draft {
        /// One paying `value` on `tip` at `height`, at the template's time.
        async fn on_tip(url: &str, height: u32, value: u64) -> Self {
            let t = result(url, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
            let cb = coinbase(height, value, PAYOUT);
            Draft {
                prev: BlockHash::from_display_hex(t["previousblockhash"].as_str().expect("prev"))
                    .expect("hash"),
                merkle: sha256d(&cb),
                time: u32::try_from(t["curtime"].as_u64().expect("curtime")).expect("u32"),
                height,
                txs: vec![cb],
            }
        }

        fn header(&self) -> [u8; 80] {
            let mut h = [0u8; 80];
            h[..4].copy_from_slice(&TEMPLATE_VERSION.to_le_bytes());
            h[4..36].copy_from_slice(self.prev.as_bytes());
            h[36..68].copy_from_slice(&self.merkle);
            h[68..72].copy_from_slice(&self.time.to_le_bytes());
            h[72..76].copy_from_slice(&EASY_BITS.to_le_bytes());
            h[76..80].copy_from_slice(&self.height.to_le_bytes());
            h
        }

        fn header_hash(&self) -> [u8; 32] {
            let mut h = sha256d(&self.header());
            h.reverse();
            h
        }

        /// Grinds nonces until the final hash meets (or with `meet` false, misses) the
        /// easy target; returns the nonce, the mix and the final hash.
        fn grind(&self, meet: bool) -> (u64, [u8; 32], [u8; 32]) {
            let ctx = kawpow_context(self.height).expect("epoch 0");
            let bound = boundary(EASY_BITS).expect("target");
            (0..64u64)
                .map(|n| (n, ctx.hash(u64::from(self.height), &self.header_hash(), n)))
                .find(|(_, h)| (h.result <= bound) == meet)
                .map(|(n, h)| (n, h.mix, h.result))
                .expect("half the hashes meet the easy target")
        }

        fn serialize(&self, nonce: u64, mix: &[u8; 32]) -> String {
            let mut b = self.header().to_vec();
            b.extend_from_slice(&nonce.to_le_bytes());
            b.extend(mix.iter().rev());
            write_varint(&mut b, self.txs.len() as u64);
            for t in &self.txs {
                b.extend_from_slice(t);
            }
            hex::encode(b)
        }

        /// The block sealed to meet the target, and its RPC hash.
        fn seal(&self) -> (String, String) {
            let (nonce, mix, final_hash) = self.grind(true);
            (self.serialize(nonce, &mix), hex::encode(final_hash))
        }
    }

    #[test]
    fn genesis_is_regtest_genesis() {
        let g = genesis();
        assert_eq!(
            display(&g.merkle),
            "28ff00a867739a352523808d301f504bc4547699398d70faf2266a8bae5f3516"
        );
        assert_eq!(g.hash.to_string(), GENESIS_HASH);
        assert_eq!(g.chainwork, 2);
        assert_eq!(block_subsidy(149), 5000 * COIN);
        assert_eq!(block_subsidy(150), 2500 * COIN);
    }

    /// A hand-built, hand-sealed block is taken and read back through every RPC the
    /// node's parent client and block proofs use.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_sealed_block_is_taken_and_read_back() {
        let d = RavendStandIn::start_easy().await.expect("start");
        let url = d.url();
        let t = result(&url, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
        let rpc: RpcBlockTemplate = serde_json::from_value(t).expect("the node's template shape");
        let template = BlockTemplate::try_from(rpc).expect("the node's template rules");
        assert_eq!(template.height, 1);
        assert_eq!(template.coinbase_value, Amount::from_sat(5000 * COIN));
        assert_eq!(template.bits, CompactTarget::from_consensus(EASY_BITS));
        assert_eq!(template.prev_block.to_string(), GENESIS_HASH);

        let draft = Draft::on_tip(&url, 1, 5000 * COIN).await;
        let (nonce, mix, final_hash) = draft.grind(true);
        let (block, hash) = (draft.serialize(nonce, &mix), hex::encode(final_hash));
        assert_eq!(
            submit(&url, &block).await,
            Value::Null,
            "{:?}",
            d.rejections()
        );
        assert_eq!(result(&url, "getblockcount", json!([])).await, json!(1));
        assert_eq!(
            result(&url, "getbestblockhash", json!([])).await,
            json!(hash)
        );
        assert_eq!(result(&url, "getblockhash", json!([1])).await, json!(hash));
        assert_eq!(d.height(), 1);
        assert_eq!(d.best_hash().to_string(), hash);

        let full = result(&url, "getblock", json!([hash, 2])).await;
        let paid = crate::coinbase_outputs(&full).expect("decoded coinbase");
        assert_eq!(paid, BTreeMap::from([(PAYOUT.to_owned(), 5000 * COIN)]));
        assert_eq!(full["mixhash"], json!(hex::encode(mix)));
        assert_eq!(full["nonce64"], json!(nonce));
        assert_eq!(full["previousblockhash"], json!(GENESIS_HASH));
        assert_eq!(
            result(&url, "getblock", json!([hash, 0])).await,
            json!(block)
        );

        let summary = result(&url, "getblock", json!([hash, 1])).await;
        assert_eq!(
            view_of("getblock", Ok(summary.clone())).expect("view"),
            DaemonView::Known { confirmations: 1 }
        );
        let txid = coinbase_txid(&summary).expect("txid").to_owned();
        let tx = result(&url, "getrawtransaction", json!([txid, true])).await;
        assert_eq!(
            paying_outputs(&tx).expect("outputs"),
            vec![(PAYOUT.to_owned(), 5000 * COIN)]
        );
        let header = result(&url, "getblockheader", json!([hash, true])).await;
        assert_eq!(header["height"], json!(1));
        let genesis = result(&url, "getblockheader", json!([GENESIS_HASH, true])).await;
        assert_eq!(genesis["nextblockhash"], json!(hash));
        assert_eq!(genesis["confirmations"], json!(2));

        let blocks = d.blocks();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].hash.to_string(), hash);
        assert_eq!(blocks[0].coinbase, draft.txs[0]);
        assert_eq!(blocks[0].coinbase_outputs, paid);
        assert!(!blocks[0].found_elsewhere);

        // Once more: ravend's answer for a block it has.
        assert_eq!(submit(&url, &block).await, json!("duplicate"));
        assert_eq!(d.rejections(), vec!["duplicate".to_owned()]);
    }

    /// A block as the node assembles it (its coinbase builder, with the template's
    /// witness commitment and the coinbase witness) is taken; a wrong witness nonce is not.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_block_assembled_as_the_node_does_is_taken() {
        let d = RavendStandIn::start_easy().await.expect("start");
        let url = d.url();
        let t = result(&url, "getblocktemplate", json!([{"rules": ["segwit"]}])).await;
        let rpc: RpcBlockTemplate = serde_json::from_value(t).expect("template");
        let template = BlockTemplate::try_from(rpc).expect("template");
        let payouts = [(PayoutScript::p2pkh([0x11; 20]), template.coinbase_value)];
        let cb = build_coinbase(
            &CoinbaseParts {
                height: template.height,
                payouts: &payouts,
                share_commitment: [7; 32],
                witness_commitment: template.witness_commitment,
            },
            &[1, 2, 3, 4],
        )
        .expect("coinbase");
        assert!(cb.has_witness);
        let draft = Draft {
            prev: template.prev_block,
            merkle: merkle_root(&[cb.txid()]),
            time: template.cur_time,
            height: template.height,
            txs: Vec::new(),
        };
        let (nonce, mix, final_hash) = draft.grind(true);
        let mut header = draft.header().to_vec();
        header.extend_from_slice(&nonce.to_le_bytes());
        header.extend(mix.iter().rev());
        let block = assemble_block(&header, &cb, &template);

        // The coinbase witness is the 32 zero bytes before the locktime.
        let mut bad = block.clone();
        let at = bad.len() - 5;
        bad[at] ^= 1;
        assert_eq!(
            submit(&url, &hex::encode(&bad)).await,
            json!("bad-witness-merkle-match")
        );
        assert_eq!(submit(&url, &hex::encode(&block)).await, Value::Null);
        assert_eq!(d.best_hash().to_string(), hex::encode(final_hash));
        let paid = crate::coinbase_outputs(
            &result(&url, "getblock", json!([hex::encode(final_hash), 2])).await,
        );
        assert_eq!(
            paid,
            Some(BTreeMap::from([(PAYOUT.to_owned(), 5000 * COIN)]))
        );
    }

    /// Blocks that break a rule are refused with ravend's reasons and leave the tip.
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_blocks_are_refused_with_ravends_reasons() {
        let d = RavendStandIn::start_easy().await.expect("start");
        let url = d.url();
        let subsidy = 5000 * COIN;

        let good = Draft::on_tip(&url, 1, subsidy).await;
        let (nonce, mix, _) = good.grind(true);
        let mut flipped = mix;
        flipped[7] ^= 0x40;
        assert_eq!(
            submit(&url, &good.serialize(nonce, &flipped)).await,
            json!("invalid-mix-hash")
        );
        let (miss, miss_mix, _) = good.grind(false);
        assert_eq!(
            submit(&url, &good.serialize(miss, &miss_mix)).await,
            json!("high-hash")
        );

        let mut wrong_height = Draft::on_tip(&url, 1, subsidy).await;
        wrong_height.height = 2;
        assert_eq!(
            submit(&url, &wrong_height.seal().0).await,
            json!("bad-blk-height")
        );

        let mut bad_root = Draft::on_tip(&url, 1, subsidy).await;
        bad_root.merkle[0] ^= 1;
        assert_eq!(
            submit(&url, &bad_root.seal().0).await,
            json!("bad-txnmrklroot")
        );

        let greedy = Draft::on_tip(&url, 1, subsidy + 1).await;
        assert_eq!(submit(&url, &greedy.seal().0).await, json!("bad-cb-amount"));

        let mut wrong_push = Draft::on_tip(&url, 1, subsidy).await;
        wrong_push.txs = vec![coinbase(2, subsidy, PAYOUT)];
        wrong_push.merkle = sha256d(&wrong_push.txs[0]);
        assert_eq!(
            submit(&url, &wrong_push.seal().0).await,
            json!("bad-cb-height")
        );

        let mut orphan = Draft::on_tip(&url, 1, subsidy).await;
        orphan.prev = BlockHash::from_bytes([9; 32]);
        assert_eq!(
            submit(&url, &orphan.seal().0).await,
            json!("prev-blk-not-found")
        );

        assert_eq!(d.height(), 0, "no bad block moved the tip");

        // A valid block on a tip that has moved on is kept off the best chain.
        let stale = Draft::on_tip(&url, 1, subsidy).await;
        let (stale_block, stale_hash) = stale.seal();
        let elsewhere = d.mine_elsewhere().expect("room");
        assert_eq!(submit(&url, &stale_block).await, json!("inconclusive"));
        assert_eq!(d.best_hash(), elsewhere);
        let header = result(&url, "getblockheader", json!([stale_hash, true])).await;
        assert_eq!(header["confirmations"], json!(-1));

        let garbage = call(&url, "submitblock", json!(["00zz"])).await;
        assert_eq!(garbage["error"]["code"], json!(-22));
        let short = call(&url, "submitblock", json!([&stale_block[..200]])).await;
        assert_eq!(short["error"]["message"], json!("Block decode failed"));

        assert_eq!(
            d.rejections(),
            [
                "invalid-mix-hash",
                "high-hash",
                "bad-blk-height",
                "bad-txnmrklroot",
                "bad-cb-amount",
                "bad-cb-height",
                "prev-blk-not-found",
                "inconclusive",
                "Block decode failed",
                "Block decode failed",
            ]
        );
    }

    /// Other miners' blocks, reorganisations, longpolls and the error answers; no proof
    /// of work is hashed here.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_chain_moves_as_the_network_would() {
        let d = RavendStandIn::start_easy().await.expect("start");
        let url = d.url();
        let t = result(&url, "getblocktemplate", json!([])).await;
        let id = t["longpollid"].as_str().expect("longpollid").to_owned();
        let poll = {
            let url = url.clone();
            tokio::spawn(async move {
                result(&url, "getblocktemplate", json!([{"longpollid": id}])).await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!poll.is_finished(), "a longpoll waits for a new tip");
        let first = d.mine_elsewhere().expect("room");
        let next = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("the longpoll returns on a new tip")
            .expect("task");
        assert_eq!(next["height"], json!(2));
        assert_eq!(next["previousblockhash"], json!(first.to_string()));

        let second = d.mine_elsewhere().expect("room");
        assert_eq!(d.height(), 2);
        assert!(d.blocks().iter().all(|b| b.found_elsewhere));
        assert!(d.reorg(1));
        assert_eq!(d.height(), 3);
        for old in [first, second] {
            let h = result(&url, "getblockheader", json!([old.to_string()])).await;
            assert_eq!(h["confirmations"], json!(-1));
            let b = result(&url, "getblock", json!([old.to_string(), 1])).await;
            assert_eq!(
                view_of("getblock", Ok(b)).expect("view"),
                DaemonView::Known { confirmations: -1 }
            );
        }
        let tip = result(&url, "getbestblockhash", json!([])).await;
        assert_eq!(tip, json!(d.best_hash().to_string()));
        assert_ne!(tip, json!(second.to_string()));

        let unknown = call(&url, "getblock", json!(["00".repeat(32), 1])).await;
        assert_eq!(unknown["error"]["code"], json!(-5));
        assert_eq!(unknown["error"]["message"], json!("Block not found"));
        let missing = call(&url, "getwork", json!([])).await;
        assert_eq!(missing["error"]["code"], json!(-32601));
        let range = call(&url, "getblockhash", json!([4])).await;
        assert_eq!(range["error"]["code"], json!(-8));
        // ravend's getrawtransaction takes no block hash.
        let b = result(&url, "getblock", json!([tip, 1])).await;
        let txid = coinbase_txid(&b).expect("txid").to_owned();
        let three = call(&url, "getrawtransaction", json!([txid, true, tip])).await;
        assert_eq!(three["error"]["code"], json!(-1));
    }
}
