//! What the swarm reports: connections into the peer table, identify and ping into peer
//! state, announcements to the syncer (rate-limited per peer), sync requests admitted
//! to the serving task, and answers to our own requests back to their callers.

use super::Task;
use crate::p2p::behaviour::BehaviourEvent;
use crate::p2p::peers::{PeerState, is_dialable};
use crate::p2p::protocol::{MAX_LOCATOR, MAX_SHARES_PER_REQUEST, Request, Response};
use crate::p2p::serving::Inbound;
use crate::p2p::{NetEvent, PeerEvent};
use crate::unix_now;
use libp2p::core::ConnectedPoint;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, gossipsub, identify, mdns, multiaddr::Protocol, ping};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

impl Task {
    pub(super) fn emit(&self, ev: NetEvent) {
        if self.events.try_send(ev).is_err() {
            debug!(target: "otedama::p2p", "syncer queue full; event dropped");
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.record_metrics(&event);
        self.on_swarm_event_inner(event);
        self.connected
            .store(self.table.peers.len(), std::sync::atomic::Ordering::Relaxed);
    }

    fn record_metrics(&self, event: &SwarmEvent<BehaviourEvent>) {
        use libp2p::metrics::Recorder;
        let m = &self.metrics;
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => m.record(e),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(e)) => m.record(e),
            other => m.record(other),
        }
    }

    fn on_swarm_event_inner(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(Protocol::P2p(self.local_peer_id));
                info!(target: "otedama::p2p", address = %full, "listening");
                self.listen.send_modify(|l| l.push(full));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() > 1 {
                    return;
                }
                let (address, outbound) = match endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address, true),
                    ConnectedPoint::Listener { send_back_addr, .. } => (send_back_addr, false),
                };
                debug!(target: "otedama::p2p", peer = %peer_id, %address, outbound, "connected");
                self.table
                    .peers
                    .insert(peer_id, PeerState::new(address, outbound, unix_now()));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0
                    && let Some(state) = self.table.peers.remove(&peer_id)
                {
                    debug!(target: "otedama::p2p", peer = %peer_id, "disconnected");
                    if state.announced {
                        self.emit(NetEvent::Disconnected(peer_id));
                        let _ = self.peer_events.send(PeerEvent::Left(peer_id.to_string()));
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: "otedama::p2p", peer = ?peer_id, error = %error, "dial failed");
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour(ev),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.names.identify_version {
                    warn!(target: "otedama::p2p", peer = %peer_id, theirs = %info.protocol_version,
                          "peer runs another chain spec; disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                for addr in &info.listen_addrs {
                    if is_dialable(addr) {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                let Some(state) = self.table.peers.get_mut(&peer_id) else {
                    return;
                };
                state.agent = Some(info.agent_version);
                state.listen = info.listen_addrs.into_iter().filter(is_dialable).collect();
                if !state.announced {
                    state.announced = true;
                    self.emit(NetEvent::Connected(peer_id));
                    if let Some(info) = self.peer_info(&peer_id) {
                        let _ = self.peer_events.send(PeerEvent::Joined(info));
                    }
                }
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                if let Some(state) = self.table.peers.get_mut(&peer) {
                    state.latency = Some(rtt);
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let allowed = self
                    .table
                    .peers
                    .get_mut(&propagation_source)
                    .is_some_and(|s| s.gossip.take());
                if !allowed {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                    self.adjust(propagation_source, -5, "announcement rate");
                    return;
                }
                self.emit(NetEvent::Share {
                    from: propagation_source,
                    id: message_id,
                    data: message.data,
                });
            }
            BehaviourEvent::Sync(ev) => self.on_sync(ev),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr);
                }
            }
            _ => {}
        }
    }

    fn on_sync(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Response::Tip(Some(tip)) = &response
                    && let Some(state) = self.table.peers.get_mut(&peer)
                {
                    state.tip_height = Some(tip.height);
                }
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(crate::p2p::RequestError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(target: "otedama::p2p", %peer, error = %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Admits a peer's sync request: refused at once over the rate or the protocol's
    /// limits, or when the serving task's queue is full; otherwise handed to it.
    fn serve(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let allowed = self
            .table
            .peers
            .get_mut(&peer)
            .is_some_and(|s| s.requests.take());
        let oversized = match &request {
            Request::Tip | Request::Uncles { .. } => false,
            Request::Headers { locator, .. } => locator.len() > MAX_LOCATOR,
            Request::Shares { hashes } => hashes.len() > MAX_SHARES_PER_REQUEST,
            Request::Chain { max, .. } => *max as usize > MAX_SHARES_PER_REQUEST,
        };
        let refusal = if !allowed {
            self.adjust(peer, -5, "request rate");
            Some("rate limit")
        } else if oversized {
            self.adjust(peer, -20, "oversized request");
            Some("request over the protocol limits")
        } else {
            None
        };
        let channel = match refusal {
            Some(reason) => Some((channel, reason)),
            None => match self.serving.try_send(Inbound {
                peer,
                request,
                channel,
            }) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(i) | mpsc::error::TrySendError::Closed(i)) => {
                    Some((i.channel, "busy"))
                }
            },
        };
        if let Some((channel, reason)) = channel {
            // Fails only if the peer went away.
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Response::Refused(reason.into()));
        }
    }
}
