//! Proof by the parent chain of the blocks this node found: each one is read back from
//! the node's own daemon (Bitcoin Core family RPC, docs/adr/0003) and is `pending`, `confirmed` (with its confirmations and
//! whether its coinbase has matured) or `orphaned`, and its coinbase outputs as the chain
//! holds them are compared with the payouts the node recorded.
//!
//! The decisions here are pure functions over the daemon's answers; the task in `task`
//! owns the schedule and does the IO, on every new parent tip.

mod task;

#[cfg(test)]
mod tests;

pub(crate) use task::run;

use crate::parent::ParentError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Blocks above a coinbase before its outputs can be spent (Bitcoin Core's
/// `COINBASE_MATURITY`, the same on Litecoin): with this many confirmations, the next
/// block may spend them.
pub const COINBASE_MATURITY: u32 = 100;
/// Confirmations from which a block counts as confirmed.
pub const CONFIRMED_AT: u32 = 1;
/// A block the daemon does not know is orphaned once the daemon's best chain is this
/// many blocks past its height (another block holds that height, and has for a while).
pub const ORPHAN_DEPTH: u32 = 6;
/// Coinbase outputs read from the chain at most; a longer coinbase is reported as such.
pub const MAX_COINBASE_OUTPUTS: usize = 10_000;
/// On-chain outputs kept with a record when its coinbase differs from the recorded one.
pub const MAX_KEPT_OUTPUTS: usize = 256;
/// The most base units an amount may read as (2^53: an `f64` from the daemon's JSON is
/// exact up to there, far above any coin's supply).
const MAX_SAT: f64 = 9_007_199_254_740_992.0;

/// Where a found block stands on the daemon's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainState {
    /// Not yet on the daemon's best chain, or with fewer than [`CONFIRMED_AT`]
    /// confirmations.
    Pending,
    /// On the daemon's best chain.
    Confirmed,
    /// Off the best chain: the daemon knows it on a side branch, or another block has
    /// held its height for [`ORPHAN_DEPTH`] blocks.
    Orphaned,
}

/// The latest proof of a found block, kept with its record in the block log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainProof {
    /// Where it stands.
    pub state: ChainState,
    /// The daemon's `confirmations` while on the best chain, else 0.
    #[serde(default)]
    pub confirmations: u32,
    /// Unix time of the daemon's answer.
    pub checked_at: u64,
    /// Whether the coinbase on chain pays exactly the recorded payouts; `None` until read.
    #[serde(default)]
    pub coinbase_matches: Option<bool>,
    /// The coinbase's paying outputs on chain (script hex, amount), kept only when they
    /// differ from the recorded payouts (at most [`MAX_KEPT_OUTPUTS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coinbase_onchain: Vec<(String, u64)>,
}

impl ChainProof {
    /// Returns whether its coinbase can be spent: confirmed with at least
    /// [`COINBASE_MATURITY`] confirmations.
    pub fn mature(&self) -> bool {
        self.state == ChainState::Confirmed && self.confirmations >= COINBASE_MATURITY
    }

    /// Returns whether `self` says something `old` did not, and so earns a line in the
    /// block log: a new state, maturity or coinbase verdict. A confirmation count alone
    /// does not (it changes every block and is read again after a restart).
    pub fn worth_persisting(&self, old: Option<&ChainProof>) -> bool {
        old.is_none_or(|o| {
            o.state != self.state
                || o.mature() != self.mature()
                || o.coinbase_matches != self.coinbase_matches
        })
    }
}

/// What the daemon said of a block hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonView {
    /// It knows the block; `confirmations` is -1 off its best chain.
    Known {
        /// The daemon's `confirmations` field.
        confirmations: i64,
    },
    /// It does not know the block (RPC error -5, "Block not found").
    Unknown,
}

/// A state and the confirmations that go with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Where the block stands.
    pub state: ChainState,
    /// Its confirmations on the best chain (0 unless confirmed or pending with some).
    pub confirmations: u32,
}

/// Decides where a block of `height` stands from the daemon's `view` of it and the
/// height of the daemon's best tip, if known.
pub fn decide(view: DaemonView, height: u32, tip_height: Option<u32>) -> Verdict {
    match view {
        DaemonView::Known { confirmations } if confirmations >= 0 => {
            let confirmations = u32::try_from(confirmations).unwrap_or(u32::MAX);
            let state = if confirmations >= CONFIRMED_AT {
                ChainState::Confirmed
            } else {
                ChainState::Pending
            };
            Verdict {
                state,
                confirmations,
            }
        }
        DaemonView::Known { .. } => Verdict {
            state: ChainState::Orphaned,
            confirmations: 0,
        },
        DaemonView::Unknown => {
            let passed = tip_height
                .zip(height.checked_add(ORPHAN_DEPTH))
                .is_some_and(|(tip, past)| tip >= past);
            Verdict {
                state: if passed {
                    ChainState::Orphaned
                } else {
                    ChainState::Pending
                },
                confirmations: 0,
            }
        }
    }
}

/// Why a block could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The daemon call failed.
    #[error(transparent)]
    Daemon(#[from] ParentError),
    /// The daemon's answer is not what its method returns.
    #[error("{method}: malformed answer: {reason}")]
    Malformed {
        /// The method called.
        method: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl ProofError {
    fn malformed(method: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            method,
            reason: reason.into(),
        }
    }

    /// Returns whether no daemon could be reached (so checking other blocks now is moot).
    pub fn unreachable(&self) -> bool {
        match self {
            ProofError::Daemon(ParentError::AllFailed(errors)) => errors
                .iter()
                .all(|e| matches!(e, ParentError::Unreachable { .. })),
            ProofError::Daemon(ParentError::Unreachable { .. }) => true,
            _ => false,
        }
    }
}

/// The JSON-RPC error code of Bitcoin Core's `RPC_INVALID_ADDRESS_OR_KEY`, which
/// `getblock` and `getblockheader` answer for an unknown block.
const RPC_NOT_FOUND: i64 = -5;
/// Bitcoin Core's `RPC_MISC_ERROR`, which a wrong parameter count raises.
const RPC_MISC_ERROR: i64 = -1;

pub(crate) fn not_found(e: &ParentError) -> bool {
    match e {
        ParentError::Daemon { code, .. } => *code == RPC_NOT_FOUND,
        ParentError::AllFailed(errors) => errors.iter().any(not_found),
        _ => false,
    }
}

/// Reads the daemon's view of a block from the answer of `getblockheader <hash> true` or
/// `getblock <hash> 1` (both carry `confirmations`).
///
/// # Errors
/// The call failed other than with "not found", or the answer has no `confirmations`.
pub fn view_of(
    method: &'static str,
    answer: Result<Value, ParentError>,
) -> Result<DaemonView, ProofError> {
    match answer {
        Ok(v) => v
            .get("confirmations")
            .and_then(Value::as_i64)
            .map(|confirmations| DaemonView::Known { confirmations })
            .ok_or_else(|| ProofError::malformed(method, "no integer `confirmations`")),
        Err(e) if not_found(&e) => Ok(DaemonView::Unknown),
        Err(e) => Err(e.into()),
    }
}

/// Returns the coinbase's txid (the first of `tx`) from the answer of `getblock <hash> 1`.
///
/// # Errors
/// No `tx` list or an empty one.
pub fn coinbase_txid(block: &Value) -> Result<&str, ProofError> {
    first_tx(block)
        .and_then(Value::as_str)
        .ok_or_else(|| ProofError::malformed("getblock", "no transaction ids in `tx`"))
}

/// Returns the coinbase (the first of `tx`, decoded) from the answer of
/// `getblock <hash> 2`.
///
/// # Errors
/// No `tx` list, an empty one, or a first entry that is not a decoded transaction.
pub fn coinbase_tx(block: &Value) -> Result<&Value, ProofError> {
    first_tx(block)
        .filter(|tx| tx.is_object())
        .ok_or_else(|| ProofError::malformed("getblock", "no decoded transaction in `tx`"))
}

/// The first entry of a `getblock` answer's `tx` list: the coinbase, as an id or decoded.
fn first_tx(block: &Value) -> Option<&Value> {
    block.get("tx")?.as_array()?.first()
}

/// Returns whether the daemon refused a call's arguments: Bitcoin Core and its forks
/// answer a wrong parameter count with the method's usage as error -1. Ravencoin, forked
/// before `getrawtransaction` took a block hash, answers so for three parameters.
pub(crate) fn refused_arguments(e: &ParentError) -> bool {
    match e {
        ParentError::Daemon { code, .. } => *code == RPC_MISC_ERROR,
        ParentError::AllFailed(errors) => {
            !errors.is_empty() && errors.iter().all(refused_arguments)
        }
        _ => false,
    }
}

/// Returns the paying outputs of a transaction as `getrawtransaction <txid> true` decodes
/// it: script hex (lowercase) and amount in base units, in output order. Outputs of value
/// zero (the witness commitment) pay nobody and are left out.
///
/// # Errors
/// No `vout` list, more than [`MAX_COINBASE_OUTPUTS`] outputs, or an output without a
/// script or with an amount that is negative, fractional below a base unit, or too large.
pub fn paying_outputs(tx: &Value) -> Result<Vec<(String, u64)>, ProofError> {
    const METHOD: &str = "getrawtransaction";
    let vout = tx
        .get("vout")
        .and_then(Value::as_array)
        .ok_or_else(|| ProofError::malformed(METHOD, "no `vout` list"))?;
    if vout.len() > MAX_COINBASE_OUTPUTS {
        return Err(ProofError::malformed(
            METHOD,
            format!(
                "{} outputs, more than the {MAX_COINBASE_OUTPUTS} read",
                vout.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(vout.len());
    for (n, o) in vout.iter().enumerate() {
        let script = o
            .get("scriptPubKey")
            .and_then(|s| s.get("hex"))
            .and_then(Value::as_str)
            .filter(|s| s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| ProofError::malformed(METHOD, format!("output {n}: no script hex")))?;
        let coins = o
            .get("value")
            .and_then(Value::as_f64)
            .ok_or_else(|| ProofError::malformed(METHOD, format!("output {n}: no value")))?;
        let sat = (coins * 1e8).round();
        if !(0.0..=MAX_SAT).contains(&sat) {
            return Err(ProofError::malformed(
                METHOD,
                format!("output {n}: value {coins} out of range"),
            ));
        }
        // In range and rounded just above, so the cast is exact.
        let sat = sat as u64;
        if sat > 0 {
            out.push((script.to_ascii_lowercase(), sat));
        }
    }
    Ok(out)
}

/// Returns whether the chain's paying outputs are exactly the recorded payouts (the same
/// scripts with the same amounts, in any order).
pub fn coinbase_matches(recorded: &[(String, u64)], onchain: &[(String, u64)]) -> bool {
    let norm = |list: &[(String, u64)]| {
        let mut v: Vec<(String, u64)> = list
            .iter()
            .filter(|(_, sat)| *sat > 0)
            .map(|(s, sat)| (s.to_ascii_lowercase(), *sat))
            .collect();
        v.sort();
        v
    };
    norm(recorded) == norm(onchain)
}
