//! monerod client: JSON-RPC 2.0 at `/json_rpc` of each daemon, in failover order, for
//! what a Monero sharechain needs of its parent: `get_miner_data` (what P2Pool builds its
//! own templates from), `get_block_template`, `get_block_header_by_height`, and
//! `submit_block` to every daemon at once. `calc_pow` is there for cross-checks of the
//! RandomX verifier; consensus never depends on it.
//!
//! monerod reports most failures as a JSON-RPC error object (`-7 Block not accepted`);
//! some methods answer with a `status` other than `OK` (`BUSY` while syncing), which is
//! an error here too.

use super::{JsonRpcDaemons, ParentError, first_answer};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// Ordinary calls time out after this.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// `calc_pow` may have to build a RandomX cache first (about 1 s, more under load).
const POW_TIMEOUT: Duration = Duration::from_secs(60);

/// What `get_miner_data` returns: enough to build a block template without the
/// daemon's wallet-specific one.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MinerData {
    /// Block major version (16 on current Monero, and on regtest from block 1).
    pub major_version: u8,
    /// Height of the next block.
    pub height: u64,
    /// Id of the current tip, hex.
    pub prev_id: String,
    /// RandomX seed of the next block, hex.
    pub seed_hash: String,
    /// Difficulty of the next block, as monerod writes it (`0x…`).
    pub difficulty: String,
    /// Median block weight, for the block reward.
    pub median_weight: u64,
    /// Coins emitted so far, atomic units.
    pub already_generated_coins: u64,
}

/// What `get_block_template` returns, the fields a pool uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockTemplate {
    /// The PoW hashing blob (header, merkle root, transaction count), hex.
    pub blockhashing_blob: String,
    /// The whole block with its coinbase, hex; what `submit_block` takes back.
    pub blocktemplate_blob: String,
    /// Difficulty of this block.
    pub difficulty: u64,
    /// Its height.
    pub height: u64,
    /// Id of the block it builds on, hex.
    pub prev_hash: String,
    /// Offset of the reserved extra-nonce bytes in `blocktemplate_blob`.
    pub reserved_offset: u64,
    /// RandomX seed, hex.
    pub seed_hash: String,
    /// The seed of the next epoch, hex, once its block exists (64 blocks before the
    /// switch); empty before.
    #[serde(default)]
    pub next_seed_hash: String,
    /// The coinbase amount, atomic units.
    pub expected_reward: u64,
}

/// A block header as `get_block_header_by_height` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockHeader {
    /// Block id, hex.
    pub hash: String,
    /// Height.
    pub height: u64,
    /// Previous block id, hex.
    pub prev_hash: String,
    /// Header nonce.
    pub nonce: u32,
    /// Coinbase amount, atomic units.
    pub reward: u64,
    /// Major version.
    pub major_version: u8,
    /// Header timestamp.
    pub timestamp: u64,
    /// The block's difficulty (its low 64 bits; regtest and today's mainnet fit).
    #[serde(default)]
    pub difficulty: u64,
}

/// A client of one or more monerod daemons.
#[derive(Clone, Debug)]
pub struct MonerodClient {
    daemons: JsonRpcDaemons,
}

impl MonerodClient {
    /// A client of the daemons at `urls` (`http://host:port`), in failover order.
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

    /// Returns the daemons' URLs, in failover order.
    pub fn endpoints(&self) -> &[String] {
        self.daemons.endpoints()
    }

    async fn call_one(
        &self,
        base: &str,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        let url = format!("{base}/json_rpc");
        let result = self.daemons.post(&url, method, params, timeout).await?;
        match result.get("status").and_then(Value::as_str) {
            None | Some("OK") => Ok(result),
            Some(status) => Err(ParentError::Daemon {
                endpoint: url,
                method: method.to_owned(),
                code: 0,
                message: format!("status {status}"),
            }),
        }
    }

    /// Calls `method` on the first daemon that answers, in failover order.
    ///
    /// # Errors
    /// [`ParentError::AllFailed`] with each daemon's error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ParentError> {
        self.call_within(method, params, CALL_TIMEOUT).await
    }

    /// [`MonerodClient::call`] with its own timeout per daemon (a wallet RPC creating or
    /// scanning a wallet takes longer than a daemon call).
    ///
    /// # Errors
    /// As [`MonerodClient::call`].
    pub async fn call_within(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        first_answer(self.daemons.endpoints(), |base| {
            self.call_one(base, method, &params, timeout)
        })
        .await
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, ParentError> {
        let v = self.call(method, params).await?;
        serde_json::from_value(v).map_err(|e| ParentError::Malformed {
            endpoint: self.daemons.endpoints().join(", "),
            reason: format!("{method}: {e}"),
        })
    }

    /// `get_miner_data`.
    ///
    /// # Errors
    /// Every daemon failed, or the answer is malformed.
    pub async fn miner_data(&self) -> Result<MinerData, ParentError> {
        self.typed("get_miner_data", json!({})).await
    }

    /// `get_block_template` paying `wallet`, with `reserve` bytes for an extra nonce (a
    /// `u8`: monerod reserves at most 255).
    ///
    /// # Errors
    /// Every daemon failed (an address of another network is refused), or the answer
    /// is malformed.
    pub async fn block_template(
        &self,
        wallet: &str,
        reserve: u8,
    ) -> Result<BlockTemplate, ParentError> {
        let params = json!({"wallet_address": wallet, "reserve_size": reserve});
        self.typed("get_block_template", params).await
    }

    /// `get_block_header_by_height`.
    ///
    /// # Errors
    /// Every daemon failed (a height above the tip is refused), or the answer is
    /// malformed.
    pub async fn header_by_height(&self, height: u64) -> Result<BlockHeader, ParentError> {
        let v = self
            .call("get_block_header_by_height", json!({"height": height}))
            .await?;
        let header = v.get("block_header").cloned().unwrap_or(Value::Null);
        serde_json::from_value(header).map_err(|e| ParentError::Malformed {
            endpoint: self.daemons.endpoints().join(", "),
            reason: format!("get_block_header_by_height: {e}"),
        })
    }

    /// Submits a block (hex of the whole block) to every daemon at once; returns each
    /// daemon's answer in endpoint order. monerod answers `OK` to a block it already
    /// has, so callers confirm by the chain, not by this answer alone.
    pub async fn submit_block(&self, block_hex: &str) -> Vec<Result<(), ParentError>> {
        let params = json!([block_hex]);
        let mut calls = tokio::task::JoinSet::new();
        for (i, base) in self.daemons.endpoints().iter().enumerate() {
            let (client, base, params) = (self.clone(), base.clone(), params.clone());
            calls.spawn(async move {
                let r = client
                    .call_one(&base, "submit_block", &params, CALL_TIMEOUT)
                    .await
                    .map(drop);
                (i, r)
            });
        }
        let mut answers: Vec<(usize, Result<(), ParentError>)> = Vec::new();
        while let Some(done) = calls.join_next().await {
            match done {
                Ok(answer) => answers.push(answer),
                Err(e) => answers.push((
                    usize::MAX,
                    Err(ParentError::Malformed {
                        endpoint: String::new(),
                        reason: format!("submit task failed: {e}"),
                    }),
                )),
            }
        }
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, r)| r).collect()
    }

    /// `calc_pow`: the daemon's RandomX hash of a hashing blob, hex.
    ///
    /// # Errors
    /// Every daemon failed, or the answer is not a string.
    pub async fn calc_pow(
        &self,
        major_version: u8,
        height: u64,
        hashing_blob: &str,
        seed_hash: &str,
    ) -> Result<String, ParentError> {
        let params = json!({"major_version": major_version, "height": height,
            "block_blob": hashing_blob, "seed_hash": seed_hash});
        let v = self.call_within("calc_pow", params, POW_TIMEOUT).await?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| ParentError::Malformed {
                endpoint: self.daemons.endpoints().join(", "),
                reason: format!("calc_pow: not a string: {v}"),
            })
    }
}
