//! Node events and types as the API shows them: the event forwarder behind `/api/ws`, and
//! the conversions the adapter shares with it.

use crate::p2p::{PeerEvent, PeerInfo};
use crate::proof::{ChainProof, ChainState};
use crate::service::{NodeEvent, NodeHandle};
use crate::tracker::BlockOutcome;
use crate::unix_now;
use otedama_rpc::{
    BlockStatus, Event, FoundBlock, OnChain, OnChainState, ParentUnavailable, PayoutEntry, Peer,
    PeerLeft, PeerShareAccepted, ShareAccepted, ShareRejected,
};
use otedama_sharechain::{Amount, ChainSpec, PayoutScript, script_to_address};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

pub(super) fn payout_entry(spec: &ChainSpec, script: &PayoutScript, amount: Amount) -> PayoutEntry {
    PayoutEntry {
        address: script_to_address(script, spec),
        script: hex::encode(script.as_bytes()),
        amount_sat: amount.to_sat(),
    }
}

/// Returns the API form of a block's proof; `None` (never checked) is pending.
pub(super) fn on_chain(spec: &ChainSpec, proof: Option<&ChainProof>) -> OnChain {
    on_chain_with(proof, crate::proof::COINBASE_MATURITY, |script| {
        let parsed = hex::decode(script)
            .ok()
            .and_then(|b| PayoutScript::new(b).ok());
        parsed.and_then(|s| script_to_address(&s, spec))
    })
}

/// The API form of a block's proof on a chain whose coinbase matures after `maturity`
/// confirmations; `address` names the payee of an output as the proof lists it.
pub(super) fn on_chain_with(
    proof: Option<&ChainProof>,
    maturity: u32,
    address: impl Fn(&str) -> Option<String>,
) -> OnChain {
    let Some(p) = proof else {
        return OnChain::default();
    };
    OnChain {
        state: match p.state {
            ChainState::Pending => OnChainState::Pending,
            ChainState::Confirmed => OnChainState::Confirmed,
            ChainState::Orphaned => OnChainState::Orphaned,
        },
        confirmations: p.confirmations,
        mature: p.state == ChainState::Confirmed && p.confirmations >= maturity,
        checked_at: Some(p.checked_at),
        coinbase_matches: p.coinbase_matches,
        coinbase_onchain: p
            .coinbase_onchain
            .iter()
            .map(|(output, amount)| PayoutEntry {
                address: address(output),
                script: output.clone(),
                amount_sat: *amount,
            })
            .collect(),
    }
}

pub(super) fn block_status(outcome: BlockOutcome) -> BlockStatus {
    match outcome {
        BlockOutcome::Accepted => BlockStatus::Accepted,
        BlockOutcome::Stale => BlockStatus::Stale,
        BlockOutcome::Rejected => BlockStatus::Rejected,
    }
}

/// Turns node events into API events until the node's event channel closes.
pub(super) async fn forward(handle: NodeHandle, out: broadcast::Sender<Event>) {
    let mut events = handle.events();
    let mut peers = handle.p2p().peer_events();
    let spec = handle.spec();
    loop {
        let event = tokio::select! {
            e = events.recv() => match e {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            e = peers.recv() => {
                match e {
                    Ok(PeerEvent::Joined(p)) => { let _ = out.send(Event::PeerJoined(peer_dto(p))); }
                    Ok(PeerEvent::Left(id)) => { let _ = out.send(Event::PeerLeft(PeerLeft { id })); }
                    // The network task stopped: only node events remain.
                    Err(RecvError::Closed) => peers = broadcast::channel(1).1,
                    Err(RecvError::Lagged(_)) => {}
                }
                continue;
            }
        };
        let time = unix_now();
        let api_event = match event {
            NodeEvent::ShareAccepted {
                hash,
                height,
                worker,
                ..
            } => Event::ShareAccepted(ShareAccepted {
                hash: hash.to_string(),
                height,
                worker,
                time,
            }),
            NodeEvent::ShareRejected { worker, reason } => Event::ShareRejected(ShareRejected {
                worker,
                reason,
                time,
            }),
            NodeEvent::BlockFound {
                height,
                hash,
                share,
                payouts,
                accepted,
                stale,
                ..
            } => Event::BlockFound(FoundBlock {
                height,
                hash: hash.to_string(),
                share: share.to_string(),
                time,
                status: block_status(BlockOutcome::of(accepted, stale)),
                payouts: payouts
                    .iter()
                    .map(|(s, a)| payout_entry(spec, s, *a))
                    .collect(),
                chain: OnChain::default(),
            }),
            NodeEvent::ParentUnavailable(_) => Event::ParentUnavailable(ParentUnavailable { time }),
            NodeEvent::PeerShareAccepted { hash, height } => {
                Event::PeerShareAccepted(PeerShareAccepted {
                    hash: hash.to_string(),
                    height,
                    time,
                })
            }
        };
        // No subscriber (no API client) is fine.
        let _ = out.send(api_event);
    }
}

pub(super) fn peer_dto(p: PeerInfo) -> Peer {
    Peer {
        id: p.id,
        address: p.address,
        direction: p.direction.to_owned(),
        latency_ms: p.latency_ms,
        agent: p.agent,
        tip_height: p.tip_height,
        score: p.score,
        connected_since: p.connected_since,
    }
}
