//! Client of an Ethereum Classic node's JSON-RPC (core-geth): the work API a solo miner
//! uses (`eth_getWork`, `eth_submitWork`), the etherbase the blocks pay, and the blocks
//! by number that prove a found block is on the chain.

use super::{JsonRpcDaemons, ParentError, first_answer};
use serde_json::{Value, json};
use std::time::Duration;

/// Every call times out after this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What `eth_getWork` hands out: one block to seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GethWork {
    /// The header's sealing hash (without nonce and mix digest).
    pub header_hash: [u8; 32],
    /// The epoch's seed hash.
    pub seed_hash: [u8; 32],
    /// The block's boundary, big-endian: a final hash at or below it seals the block.
    pub boundary: [u8; 32],
    /// The block's number.
    pub height: u64,
}

/// A block as `eth_getBlockByNumber` returns it, reduced to what a proof reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GethBlock {
    /// The block's hash, `0x`-prefixed hex.
    pub hash: String,
    /// Its 64-bit nonce.
    pub nonce: u64,
    /// Its mix digest.
    pub mix_hash: [u8; 32],
    /// Its beneficiary, lowercase `0x`-prefixed hex.
    pub miner: String,
}

/// A client of one or more core-geth nodes, in failover order.
#[derive(Clone, Debug)]
pub struct GethClient {
    daemons: JsonRpcDaemons,
}

impl GethClient {
    /// A client of the nodes at `urls` (`http://host:port`), in failover order.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            daemons: JsonRpcDaemons::new(urls),
        }
    }

    /// Records the latency and failures of every call in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: otedama_rpc::ParentRpcMetrics) -> Self {
        self.daemons.set_metrics(metrics);
        self
    }

    /// Returns the nodes' URLs, in failover order.
    pub fn endpoints(&self) -> &[String] {
        self.daemons.endpoints()
    }

    /// Calls `method` on the first node that answers.
    ///
    /// # Errors
    /// [`ParentError::AllFailed`] with each node's error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ParentError> {
        first_answer(self.daemons.endpoints(), |url| {
            self.daemons.post(url, method, &params, CALL_TIMEOUT)
        })
        .await
    }

    fn malformed(&self, method: &str, reason: impl std::fmt::Display) -> ParentError {
        self.daemons.malformed(method, reason)
    }

    /// `eth_getWork`: the block to seal now.
    ///
    /// # Errors
    /// Every node failed (a node that does not mine answers with an error), or the
    /// answer is not four hex strings.
    pub async fn work(&self) -> Result<GethWork, ParentError> {
        const METHOD: &str = "eth_getWork";
        let v = self.call(METHOD, json!([])).await?;
        parse_work(&v).map_err(|reason| self.malformed(METHOD, reason))
    }

    /// `eth_submitWork`: whether the node took the seal.
    ///
    /// # Errors
    /// Every node failed, or the answer is not a boolean.
    pub async fn submit_work(
        &self,
        nonce: u64,
        header_hash: &[u8; 32],
        mix: &[u8; 32],
    ) -> Result<bool, ParentError> {
        const METHOD: &str = "eth_submitWork";
        let params = json!([
            format!("0x{nonce:016x}"),
            format!("0x{}", hex::encode(header_hash)),
            format!("0x{}", hex::encode(mix)),
        ]);
        let v = self.call(METHOD, params).await?;
        v.as_bool()
            .ok_or_else(|| self.malformed(METHOD, format!("expected a boolean, got {v}")))
    }

    /// `eth_coinbase`: the etherbase every block this node seals pays.
    ///
    /// # Errors
    /// Every node failed (no etherbase set), or the answer is not an address.
    pub async fn etherbase(&self) -> Result<String, ParentError> {
        const METHOD: &str = "eth_coinbase";
        let v = self.call(METHOD, json!([])).await?;
        v.as_str()
            .and_then(normalize_address)
            .ok_or_else(|| self.malformed(METHOD, format!("expected an address, got {v}")))
    }

    /// `eth_chainId`.
    ///
    /// # Errors
    /// Every node failed, or the answer is not a hex quantity.
    pub async fn chain_id(&self) -> Result<u64, ParentError> {
        const METHOD: &str = "eth_chainId";
        let v = self.call(METHOD, json!([])).await?;
        v.as_str()
            .and_then(quantity)
            .ok_or_else(|| self.malformed(METHOD, format!("expected a quantity, got {v}")))
    }

    /// `eth_getBlockByNumber(height, false)`: the block the node's best chain holds at
    /// `height`, `None` where it holds none yet.
    ///
    /// # Errors
    /// Every node failed, or the answer is not shaped like a block.
    pub async fn block_by_number(&self, height: u64) -> Result<Option<GethBlock>, ParentError> {
        const METHOD: &str = "eth_getBlockByNumber";
        let v = self
            .call(METHOD, json!([format!("0x{height:x}"), false]))
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        parse_block(&v)
            .map(Some)
            .map_err(|reason| self.malformed(METHOD, reason))
    }
}

/// Reads a `0x`-prefixed hex quantity.
fn quantity(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// Reads `0x` and 64 hex digits.
fn hash32(s: &str) -> Option<[u8; 32]> {
    let digits = s.strip_prefix("0x")?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// Returns `0x` and 40 lowercase hex digits for an address written with or without
/// `0x` and in any case (EIP-55 checksums are not required), `None` for anything else.
pub fn normalize_address(s: &str) -> Option<String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    (digits.len() == 40 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{}", digits.to_ascii_lowercase()))
}

fn parse_work(v: &Value) -> Result<GethWork, String> {
    let a = v
        .as_array()
        .filter(|a| a.len() >= 3)
        .ok_or_else(|| format!("expected an array of 3 or 4 strings, got {v}"))?;
    let field = |i: usize, what: &str| {
        a[i].as_str()
            .and_then(hash32)
            .ok_or_else(|| format!("{what}: expected 0x and 64 hex digits, got {}", a[i]))
    };
    let height = a
        .get(3)
        .and_then(Value::as_str)
        .and_then(quantity)
        .ok_or_else(|| {
            "the block number (a fourth element, which core-geth sends) is missing".to_owned()
        })?;
    Ok(GethWork {
        header_hash: field(0, "header hash")?,
        seed_hash: field(1, "seed hash")?,
        boundary: field(2, "boundary")?,
        height,
    })
}

fn parse_block(v: &Value) -> Result<GethBlock, String> {
    let text = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no {key:?} string"))
    };
    let nonce = text("nonce")?;
    let nonce = nonce
        .strip_prefix("0x")
        .and_then(|d| u64::from_str_radix(d, 16).ok())
        .ok_or_else(|| format!("nonce: {nonce:?} is not a 64-bit hex quantity"))?;
    let mix = text("mixHash")?;
    let mix_hash = hash32(mix).ok_or_else(|| format!("mixHash: {mix:?} is not 32 bytes"))?;
    let miner = text("miner")?;
    Ok(GethBlock {
        hash: text("hash")?.to_owned(),
        nonce,
        mix_hash,
        miner: normalize_address(miner).ok_or_else(|| format!("miner: {miner:?}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_and_blocks_parse_as_core_geth_writes_them() {
        let h = format!("0x{}", "ab".repeat(32));
        let work = parse_work(&json!([h, h, h, "0x1e"])).expect("work");
        assert_eq!((work.height, work.header_hash[0]), (30, 0xab));
        let e = parse_work(&json!([h, h, h])).expect_err("no number");
        assert!(e.contains("block number"), "{e}");
        assert!(parse_work(&json!([h, "0x12", h, "0x1"])).is_err());
        assert!(parse_work(&json!({"error": 1})).is_err());

        let block = json!({"hash": h, "nonce": "0x00000000000000ff", "mixHash": h,
            "miner": "0xAbCdEf0123456789abcdef0123456789ABCDEF01"});
        let b = parse_block(&block).expect("block");
        assert_eq!(b.nonce, 255);
        assert_eq!(b.miner, "0xabcdef0123456789abcdef0123456789abcdef01");
        assert!(parse_block(&json!({"hash": h})).is_err());
    }

    #[test]
    fn addresses_are_forty_hex_digits() {
        assert!(normalize_address("0x0000000000000000000000000000000000000001").is_some());
        assert!(normalize_address("0000000000000000000000000000000000000001").is_some());
        assert!(normalize_address("0x000000000000000000000000000000000000001").is_none());
        assert!(normalize_address("0x000000000000000000000000000000000000000g").is_none());
        assert!(normalize_address("LTC").is_none());
    }
}
