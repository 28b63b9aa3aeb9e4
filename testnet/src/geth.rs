//! A stand-in for core-geth's JSON-RPC, as a solo Ethereum Classic miner uses it (no
//! Ethereum Classic daemon is packaged for these machines). It serves the work API with
//! core-geth's answer shapes (`eth_getWork` with the block number as a fourth element,
//! `eth_submitWork`, `eth_coinbase`, `eth_chainId`, `eth_blockNumber`,
//! `eth_getBlockByNumber`) and **verifies Etchash for real**: a seal is taken only when
//! the light-cache hash of its header and nonce gives its mix digest and a final hash
//! at or below the block's boundary.
//!
//! Its chain is its own: a header's sealing hash is Keccak-256 over the parent's hash,
//! the number and the etherbase (not an RLP header), and a block's hash is Keccak-256
//! over the sealing hash and the nonce. Tests move it as the network would:
//! [`GethStandIn::mine_elsewhere`] appends another miner's block, and
//! [`GethStandIn::reorg`] replaces the chain from a height with other miners' blocks.

use crate::standin::serve_json_rpc;
use otedama_sharechain::ethash::keccak256;
use otedama_stratum::dag::{DagAlgorithm, DagHasher, meets};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;

/// A sealed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GethBlock {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: [u8; 32],
    /// Its seal's nonce.
    pub nonce: u64,
    /// Its seal's mix digest.
    pub mix: [u8; 32],
    /// Its beneficiary, lowercase `0x` hex.
    pub miner: String,
}

#[derive(Debug)]
struct Chain {
    blocks: Vec<GethBlock>,
    etherbase: String,
    chain_id: u64,
    boundary: [u8; 32],
    /// Light-cache hashers by epoch number.
    hashers: BTreeMap<u32, Arc<DagHasher>>,
    accepted: u64,
    refused: u64,
}

impl Chain {
    fn next_number(&self) -> u64 {
        self.blocks.len() as u64
    }

    fn sealing_hash(&self) -> [u8; 32] {
        let parent = self.blocks.last().map_or([0; 32], |b| b.hash);
        let mut pre = parent.to_vec();
        pre.extend_from_slice(&self.next_number().to_be_bytes());
        pre.extend_from_slice(self.etherbase.as_bytes());
        keccak256(&pre)
    }

    fn push(&mut self, nonce: u64, mix: [u8; 32], miner: String) {
        let sealing = self.sealing_hash();
        let mut pre = sealing.to_vec();
        pre.extend_from_slice(&nonce.to_be_bytes());
        let block = GethBlock {
            number: self.next_number(),
            hash: keccak256(&pre),
            nonce,
            mix,
            miner,
        };
        self.blocks.push(block);
    }

    fn hasher(&mut self, number: u64) -> Option<Arc<DagHasher>> {
        let epoch = DagAlgorithm::Etchash.epoch(number).ok()?;
        let hasher = self
            .hashers
            .entry(epoch.number)
            .or_insert_with(|| Arc::new(DagHasher::new(DagAlgorithm::Etchash, epoch)));
        Some(Arc::clone(hasher))
    }

    /// Checks a seal of the current work; takes the block when it holds.
    fn submit(&mut self, nonce: u64, pow_hash: [u8; 32], mix: [u8; 32]) -> bool {
        let number = self.next_number();
        let taken = pow_hash == self.sealing_hash()
            && self.hasher(number).is_some_and(|h| {
                let got = h.hash(number, &pow_hash, nonce);
                got.mix == mix && meets(&got.result, &self.boundary)
            });
        if taken {
            self.accepted += 1;
            let miner = self.etherbase.clone();
            self.push(nonce, mix, miner);
        } else {
            self.refused += 1;
        }
        taken
    }

    fn block_json(b: &GethBlock) -> Value {
        json!({
            "number": format!("0x{:x}", b.number),
            "hash": format!("0x{}", hex::encode(b.hash)),
            "nonce": format!("0x{:016x}", b.nonce),
            "mixHash": format!("0x{}", hex::encode(b.mix)),
            "miner": b.miner,
        })
    }

    fn answer(&mut self, req: &Value) -> Value {
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let params = req.get("params").cloned().unwrap_or(Value::Null);
        let text = |i: usize| params.get(i).and_then(Value::as_str).unwrap_or_default();
        let result = match req.get("method").and_then(Value::as_str) {
            Some("eth_chainId") => json!(format!("0x{:x}", self.chain_id)),
            Some("eth_coinbase") => json!(self.etherbase),
            Some("eth_blockNumber") => json!(format!("0x{:x}", self.next_number() - 1)),
            Some("eth_getWork") => {
                let number = self.next_number();
                let seed = DagAlgorithm::Etchash
                    .epoch(number)
                    .map(|e| e.seed())
                    .unwrap_or_default();
                json!([
                    format!("0x{}", hex::encode(self.sealing_hash())),
                    format!("0x{}", hex::encode(seed)),
                    format!("0x{}", hex::encode(self.boundary)),
                    format!("0x{number:x}"),
                ])
            }
            Some("eth_submitWork") => {
                let nonce = u64::from_str_radix(text(0).trim_start_matches("0x"), 16).ok();
                let pow = hash32(text(1));
                let mix = hash32(text(2));
                match (nonce, pow, mix) {
                    (Some(n), Some(p), Some(m)) => json!(self.submit(n, p, m)),
                    _ => return error(id, -32602, "invalid argument"),
                }
            }
            Some("eth_getBlockByNumber") => {
                let tip = self.next_number() - 1;
                let number = match text(0) {
                    "latest" => Some(tip),
                    n => u64::from_str_radix(n.trim_start_matches("0x"), 16).ok(),
                };
                match number {
                    Some(n) => self
                        .blocks
                        .get(usize::try_from(n).unwrap_or(usize::MAX))
                        .map_or(Value::Null, Self::block_json),
                    None => return error(id, -32602, "invalid argument"),
                }
            }
            Some(m) => {
                return error(
                    id,
                    -32601,
                    &format!("the method {m} does not exist/is not available"),
                );
            }
            None => return error(id, -32600, "invalid request"),
        };
        json!({"jsonrpc": "2.0", "id": id, "result": result})
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn hash32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.strip_prefix("0x")?, &mut out).ok()?;
    Some(out)
}

/// The running stand-in.
#[derive(Debug)]
pub struct GethStandIn {
    addr: SocketAddr,
    chain: Arc<Mutex<Chain>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GethStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GethStandIn {
    /// Starts on an ephemeral loopback port with a genesis block, paying `etherbase`,
    /// reporting `chain_id`, and sealing blocks whose final hash is at most `boundary`
    /// (big-endian).
    ///
    /// # Errors
    /// The listener could not bind.
    pub async fn start(
        etherbase: &str,
        chain_id: u64,
        boundary: [u8; 32],
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut chain = Chain {
            blocks: Vec::new(),
            etherbase: etherbase.to_ascii_lowercase(),
            chain_id,
            boundary,
            hashers: BTreeMap::new(),
            accepted: 0,
            refused: 0,
        };
        chain.push(
            0,
            [0; 32],
            "0x0000000000000000000000000000000000000000".to_owned(),
        );
        let chain = Arc::new(Mutex::new(chain));
        let shared = Arc::clone(&chain);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let chain = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = serve_json_rpc(stream, |req, _| {
                        let chain = Arc::clone(&chain);
                        // Hashing a seal takes milliseconds: off the async threads.
                        async move {
                            tokio::task::spawn_blocking(move || {
                                chain
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .answer(&req)
                            })
                            .await
                            .unwrap_or(Value::Null)
                        }
                    })
                    .await;
                });
            }
        });
        Ok(Self { addr, chain, task })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The best chain's blocks above genesis.
    pub fn blocks(&self) -> Vec<GethBlock> {
        self.lock().blocks[1..].to_vec()
    }

    /// Seals taken and refused.
    pub fn submissions(&self) -> (u64, u64) {
        let c = self.lock();
        (c.accepted, c.refused)
    }

    /// Appends a block another miner sealed (paying someone else): the current work
    /// goes stale.
    pub fn mine_elsewhere(&self) {
        let mut c = self.lock();
        let nonce = c.next_number().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        c.push(
            nonce,
            [0xee; 32],
            "0x00000000000000000000000000000000000000ee".to_owned(),
        );
    }

    /// Replaces the chain from `number` up with as many blocks of other miners, as a
    /// heavier branch would.
    pub fn reorg(&self, number: u64) {
        let len = {
            let mut c = self.lock();
            let len = c.blocks.len();
            c.blocks
                .truncate(usize::try_from(number.max(1)).unwrap_or(len));
            len
        };
        while (self.lock().blocks.len()) < len {
            self.mine_elsewhere();
        }
    }
}
