//! Proof by monerod of the blocks this node found: on every new Monero block, each
//! recent block is read back (`get_block_header_by_hash`, then `get_block`) and judged
//! with the same rules as Bitcoin-family blocks (`crate::proof::decide`): confirmed with
//! its confirmations, pending, or orphaned. Its miner transaction's outputs on chain (one-time
//! keys and amounts) are compared with the outputs of the share the node submitted.
//!
//! The share's outputs are public data: no view key is needed to see that the chain pays
//! exactly the PPLNS split; a wallet proves its own part with its view key.

use super::MoneroStatus;
use super::owner::Cmd;
use crate::parent::monero::MonerodClient;
use crate::proof::{
    ChainProof, DaemonView, MAX_KEPT_OUTPUTS, ProofError, coinbase_matches, decide, not_found,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tracing::debug;

const TARGET: &str = "otedama::monero";
/// A miner transaction unlocks after this many blocks (Monero's
/// `CRYPTONOTE_MINED_MONEY_UNLOCK_WINDOW`).
pub const MONERO_MATURITY: u32 = 60;
/// Blocks are read back until this deep (a day of Monero blocks); deeper, a reorg is
/// beyond any the network has seen.
const CHECKED_UNTIL: u32 = 720;

/// Returns the daemon's view of a block from `get_block_header_by_hash`'s answer:
/// `depth + 1` confirmations on the main chain, -1 on an alternative chain; unknown on
/// monerod's "can't get block by hash" (-5).
///
/// # Errors
/// Another failure, or a header without `depth`.
pub(crate) fn view_of(
    answer: Result<Value, crate::parent::ParentError>,
) -> Result<DaemonView, ProofError> {
    const METHOD: &str = "get_block_header_by_hash";
    match answer {
        Ok(v) => {
            let header = v.get("block_header").unwrap_or(&Value::Null);
            if header.get("orphan_status").and_then(Value::as_bool) == Some(true) {
                return Ok(DaemonView::Known { confirmations: -1 });
            }
            let depth = header.get("depth").and_then(Value::as_i64).ok_or_else(|| {
                ProofError::Malformed {
                    method: METHOD,
                    reason: "no integer `depth`".into(),
                }
            })?;
            Ok(DaemonView::Known {
                confirmations: depth.saturating_add(1),
            })
        }
        Err(e) if not_found(&e) => Ok(DaemonView::Unknown),
        Err(e) => Err(e.into()),
    }
}

/// Returns the outputs of the miner transaction in `get_block`'s answer: one-time key
/// (hex) and amount, in output order.
///
/// # Errors
/// No `json` field, or a miner transaction without readable outputs.
pub(crate) fn miner_outputs(block: &Value) -> Result<Vec<(String, u64)>, ProofError> {
    const METHOD: &str = "get_block";
    let malformed = |reason: &str| ProofError::Malformed {
        method: METHOD,
        reason: reason.into(),
    };
    let text = block
        .get("json")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no `json` field"))?;
    let parsed: Value = serde_json::from_str(text).map_err(|_| malformed("`json` is not JSON"))?;
    let vout = parsed
        .get("miner_tx")
        .and_then(|t| t.get("vout"))
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no miner_tx.vout"))?;
    vout.iter()
        .map(|o| {
            let amount = o.get("amount").and_then(Value::as_u64);
            let target = o.get("target");
            // Tagged keys since the view-tag fork; plain keys before it.
            let key = target
                .and_then(|t| t.get("tagged_key"))
                .and_then(|t| t.get("key"))
                .or_else(|| target.and_then(|t| t.get("key")))
                .and_then(Value::as_str);
            match (key, amount) {
                (Some(k), Some(a)) => Ok((k.to_ascii_lowercase(), a)),
                _ => Err(malformed("an output without key or amount")),
            }
        })
        .collect()
}

/// Reads one block back: where it stands, and whether its miner transaction pays
/// `outputs`.
async fn check(
    client: &MonerodClient,
    id: &str,
    height: u64,
    outputs: &[(String, u64)],
    tip_height: Option<u64>,
) -> Result<ChainProof, ProofError> {
    let header = client
        .call("get_block_header_by_hash", json!({"hash": id}))
        .await;
    let view = view_of(header)?;
    let height32 = u32::try_from(height).unwrap_or(u32::MAX);
    let tip32 = tip_height.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    let verdict = decide(view, height32, tip32);
    let mut proof = ChainProof {
        state: verdict.state,
        confirmations: verdict.confirmations,
        checked_at: crate::unix_now(),
        coinbase_matches: None,
        coinbase_onchain: Vec::new(),
    };
    if matches!(view, DaemonView::Known { .. }) {
        let block = client.call("get_block", json!({"hash": id})).await?;
        let onchain = miner_outputs(&block)?;
        let matches = coinbase_matches(outputs, &onchain);
        proof.coinbase_matches = Some(matches);
        if !matches {
            proof.coinbase_onchain = onchain.into_iter().take(MAX_KEPT_OUTPUTS).collect();
        }
    }
    Ok(proof)
}

/// Whether a block still needs reading back.
fn due(proof: Option<&ChainProof>) -> bool {
    proof.is_none_or(|p| p.confirmations < CHECKED_UNTIL)
}

/// Reads the found blocks back on every new Monero height until `shutdown`, and hands
/// each proof to the owner.
pub(crate) async fn run(
    client: MonerodClient,
    mut status: watch::Receiver<MoneroStatus>,
    owner: mpsc::Sender<Cmd>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut checked_at: Option<(u64, usize)> = None;
    loop {
        // Once per Monero height, and again when a block was added; the status changes
        // with every share, so the blocks are copied only when they are to be read.
        let (height, blocks) = {
            let s = status.borrow_and_update();
            let key = s.monero_height.map(|h| (h, s.blocks.len()));
            if key.is_some() && key != checked_at {
                checked_at = key;
                (s.monero_height, s.blocks.clone())
            } else {
                (None, Vec::new())
            }
        };
        if height.is_some() {
            let tip = height.map(|h| h.saturating_sub(1));
            for b in blocks.iter().filter(|b| due(b.chain.as_ref())) {
                match check(&client, &b.id, b.height, &b.outputs, tip).await {
                    Ok(proof) => {
                        let cmd = Cmd::BlockProof {
                            id: b.id.clone(),
                            proof,
                        };
                        if owner.send(cmd).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        debug!(target: TARGET, block = %b.id, error = %e, "block not read back");
                        if e.unreachable() {
                            break;
                        }
                    }
                }
            }
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::ChainState;

    #[test]
    fn headers_read_as_confirmations() {
        let main = json!({"block_header": {"depth": 4, "orphan_status": false}});
        assert_eq!(
            view_of(Ok(main)).expect("reads"),
            DaemonView::Known { confirmations: 5 }
        );
        let alt = json!({"block_header": {"depth": 0, "orphan_status": true}});
        assert_eq!(
            view_of(Ok(alt)).expect("reads"),
            DaemonView::Known { confirmations: -1 }
        );
        let unknown = crate::parent::ParentError::Daemon {
            endpoint: "http://127.0.0.1:1/json_rpc".into(),
            method: "get_block_header_by_hash".into(),
            code: -5,
            message: "Internal error: can't get block by hash".into(),
        };
        assert_eq!(view_of(Err(unknown)).expect("reads"), DaemonView::Unknown);
        assert!(view_of(Ok(json!({"block_header": {}}))).is_err());
        assert_eq!(
            decide(DaemonView::Unknown, 10, Some(16)).state,
            ChainState::Orphaned
        );
    }

    #[test]
    fn miner_outputs_are_read_from_the_block_json() {
        let tx = json!({"miner_tx": {"vout": [
            {"amount": 5, "target": {"tagged_key": {"key": "AB", "view_tag": "01"}}},
            {"amount": 7, "target": {"key": "cd"}}
        ]}});
        let block = json!({"json": tx.to_string()});
        assert_eq!(
            miner_outputs(&block).expect("reads"),
            vec![("ab".to_owned(), 5), ("cd".to_owned(), 7)]
        );
        assert!(miner_outputs(&json!({"json": "{}"})).is_err());
        assert!(miner_outputs(&json!({})).is_err());
    }
}
