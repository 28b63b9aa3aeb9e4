//! `/api/ws`: live events. One hub task turns node events and a 5-second tick into JSON
//! text, once for every client, and fans it out on a broadcast channel. Each client reads
//! its own bounded backlog of that channel; a client that falls [`CLIENT_QUEUE`] messages
//! behind, or takes longer than [`SEND_TIMEOUT`] to take one, is disconnected. Nothing a
//! client does can block the hub or the node.
//!
//! Slots are shared fairly: [`MAX_CLIENTS`] in all, at most [`CLIENTS_PER_IP`] (by
//! default) from one address, so one host cannot lock every dashboard out. A handshake
//! that is not a valid RFC 6455 upgrade is answered in the API's JSON error format.

use crate::api::NodeApi;
use crate::conn::{Gate, Refusal, Slot};
use crate::dto::{Event, HashrateTick, Hello};
use crate::error::ApiError;
use crate::server::{SharedState, TARGET, unix_now};
use axum::Extension;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tracing::debug;

/// Messages a client may fall behind before it is dropped.
pub const CLIENT_QUEUE: usize = 256;
/// Longest a client may take to accept one message.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval of `hashrate` messages (and of sync checks).
pub const TICK: Duration = Duration::from_secs(5);
/// Most WebSocket clients at once.
pub const MAX_CLIENTS: usize = 256;
/// Most WebSocket clients at once from one IP address, by default.
pub const CLIENTS_PER_IP: usize = 4;
/// Largest message accepted from a client (clients have nothing to say; pings fit).
const MAX_INCOMING: usize = 4096;
/// Close code 1008 (policy violation), RFC 6455 section 7.4.1.
const CLOSE_POLICY: u16 = 1008;

/// The fan-out point of serialized events.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    tx: broadcast::Sender<Utf8Bytes>,
    clients: Arc<Gate>,
    max_per_ip: usize,
}

fn encode(event: &Event) -> Option<Utf8Bytes> {
    match serde_json::to_string(event) {
        Ok(s) => Some(Utf8Bytes::from(s)),
        Err(e) => {
            tracing::warn!(target: TARGET, error = %e, "cannot encode an event");
            None
        }
    }
}

impl Hub {
    /// Starts the hub task for `api`, with at most `max_per_ip` clients from one address.
    pub(crate) fn start(api: Arc<dyn NodeApi>, max_per_ip: usize) -> (Hub, JoinHandle<()>) {
        let (tx, _) = broadcast::channel(CLIENT_QUEUE);
        let hub = Hub {
            tx: tx.clone(),
            clients: Gate::new(MAX_CLIENTS, max_per_ip.max(1)),
            max_per_ip: max_per_ip.max(1),
        };
        let task = tokio::spawn(run_hub(api, tx));
        (hub, task)
    }

    /// Takes a slot for a client at `ip`: one of all, within its address's share.
    fn admit(&self, ip: IpAddr) -> Result<Slot, ApiError> {
        Gate::admit(&self.clients, ip).map_err(|refusal| match refusal {
            Refusal::Total => {
                ApiError::unavailable("too_many_clients", "too many WebSocket clients; try later")
            }
            Refusal::PerIp => ApiError::unavailable(
                "too_many_clients_from_ip",
                format!(
                    "this address already has {} WebSocket clients, the most allowed; close one first",
                    self.max_per_ip
                ),
            ),
        })
    }
}

async fn run_hub(api: Arc<dyn NodeApi>, tx: broadcast::Sender<Utf8Bytes>) {
    let mut events = Some(api.subscribe());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sync = api.sync_state();
    loop {
        let event = tokio::select! {
            e = async {
                match events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match e {
                Ok(event) => Some(event),
                Err(RecvError::Lagged(n)) => {
                    debug!(target: TARGET, skipped = n, "event hub lagged behind the node");
                    None
                }
                Err(RecvError::Closed) => {
                    events = None;
                    None
                }
            },
            _ = tick.tick() => {
                let sync = api.sync_state();
                if sync != last_sync {
                    last_sync = sync;
                    if let Some(text) = encode(&Event::Sync(sync)) {
                        let _ = tx.send(text);
                    }
                }
                Some(Event::Hashrate(HashrateTick { time: unix_now(), hashrate: api.hashrate() }))
            }
        };
        // `send` fails only when no client listens; that is fine.
        if let Some(text) = event.as_ref().and_then(encode) {
            let _ = tx.send(text);
        }
    }
}

/// `GET /api/ws`: upgrades to a WebSocket of [`Event`]s.
pub(crate) async fn upgrade(
    State(s): State<SharedState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return handshake_error(&rejection),
    };
    if let Err(e) = check_key(&headers) {
        return e.into_response();
    }
    // Without the connection's address (only in handler tests), all share one bucket.
    let ip = connect.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip());
    let slot = match s.hub.admit(ip) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    // Subscribe before the upgrade so nothing between `hello` and the loop is missed.
    let rx = s.hub.tx.subscribe();
    let (name, version, chain) = s.api.identity();
    let first: Vec<Utf8Bytes> = [
        Event::Hello(Hello {
            name,
            version,
            chain,
        }),
        Event::Sync(s.api.sync_state()),
        Event::Hashrate(HashrateTick {
            time: unix_now(),
            hashrate: s.api.hashrate(),
        }),
    ]
    .iter()
    .filter_map(encode)
    .collect();
    ws.max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| client(socket, rx, first, slot))
}

/// Answers a request that is not a WebSocket handshake in the API's error format:
/// 426 with `Upgrade: websocket` (and `Sec-WebSocket-Version: 13` for another version,
/// RFC 6455 section 4.4) when the upgrade itself is missing, else 400 or 405.
fn handshake_error(rejection: &WebSocketUpgradeRejection) -> Response {
    let message = format!(
        "{}; /api/ws takes a WebSocket handshake (RFC 6455)",
        rejection.body_text()
    );
    let (status, code) = match rejection {
        WebSocketUpgradeRejection::MethodNotGet(_) => {
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        }
        WebSocketUpgradeRejection::InvalidConnectionHeader(_)
        | WebSocketUpgradeRejection::InvalidUpgradeHeader(_)
        | WebSocketUpgradeRejection::InvalidWebSocketVersionHeader(_)
        | WebSocketUpgradeRejection::ConnectionNotUpgradable(_) => {
            (StatusCode::UPGRADE_REQUIRED, "upgrade_required")
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_handshake"),
    };
    let mut response = ApiError::new(status, code, message).into_response();
    if status == StatusCode::UPGRADE_REQUIRED {
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

/// Checks `Sec-WebSocket-Key`: RFC 6455 section 4.2.1 asks for the base64 of 16 bytes.
fn check_key(headers: &HeaderMap) -> Result<(), ApiError> {
    let valid = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .and_then(|key| base64::engine::general_purpose::STANDARD.decode(key).ok())
        .is_some_and(|nonce| nonce.len() == 16);
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_handshake",
            "Sec-WebSocket-Key must be the base64 of 16 random bytes (RFC 6455 section 4.2.1)",
        ))
    }
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

async fn client(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Utf8Bytes>,
    first: Vec<Utf8Bytes>,
    _slot: Slot,
) {
    for text in first {
        if !send(&mut socket, text).await {
            return;
        }
    }
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Ok(text) => {
                    if !send(&mut socket, text).await {
                        debug!(target: TARGET, "websocket client too slow to send to; dropped");
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    debug!(target: TARGET, behind = n, "websocket client fell behind; dropped");
                    let close = Message::Close(Some(CloseFrame {
                        code: CLOSE_POLICY,
                        reason: Utf8Bytes::from_static("too slow: fell behind the event stream"),
                    }));
                    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(close)).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the library; anything else from the client is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(raw: &[u8]) -> Option<HeaderMap> {
        let mut h = HeaderMap::new();
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_bytes(raw).ok()?,
        );
        Some(h)
    }

    #[test]
    fn the_rfc_sample_key_is_accepted_and_others_are_not() {
        let ok = key(b"dGhlIHNhbXBsZSBub25jZQ==").expect("header");
        assert!(check_key(&ok).is_ok());
        for bad in [
            &b""[..],
            b"abc",
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZR==",
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let h = key(bad).expect("header");
            assert!(check_key(&h).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(check_key(&HeaderMap::new()).is_err());
    }

    proptest! {
        #[test]
        fn a_key_is_accepted_exactly_when_it_is_16_bytes_of_base64(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(h) = key(&raw) {
                let decoded = base64::engine::general_purpose::STANDARD.decode(&raw);
                prop_assert_eq!(check_key(&h).is_ok(), decoded.is_ok_and(|d| d.len() == 16));
            }
        }

        #[test]
        fn every_16_byte_nonce_is_accepted(nonce in any::<[u8; 16]>()) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(nonce);
            let h = key(encoded.as_bytes()).expect("header");
            prop_assert!(check_key(&h).is_ok());
        }
    }
}
