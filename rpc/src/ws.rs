//! `/api/ws`: live events. One hub task turns node events and a 5-second tick into JSON
//! text, once for every client, and fans it out on a broadcast channel. Each client reads
//! its own bounded backlog of that channel; a client that falls [`CLIENT_QUEUE`] messages
//! behind, or takes longer than [`SEND_TIMEOUT`] to take one, is disconnected. Nothing a
//! client does can block the hub or the node.

use crate::api::NodeApi;
use crate::dto::{Event, HashrateTick, Hello};
use crate::error::ApiError;
use crate::server::{SharedState, TARGET, unix_now};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
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
/// Largest message accepted from a client (clients have nothing to say; pings fit).
const MAX_INCOMING: usize = 4096;
/// Close code 1008 (policy violation), RFC 6455 section 7.4.1.
const CLOSE_POLICY: u16 = 1008;

/// The fan-out point of serialized events.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    tx: broadcast::Sender<Utf8Bytes>,
    clients: Arc<Semaphore>,
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
    /// Starts the hub task for `api`.
    pub(crate) fn start(api: Arc<dyn NodeApi>) -> (Hub, JoinHandle<()>) {
        let (tx, _) = broadcast::channel(CLIENT_QUEUE);
        let hub = Hub {
            tx: tx.clone(),
            clients: Arc::new(Semaphore::new(MAX_CLIENTS)),
        };
        let task = tokio::spawn(run_hub(api, tx));
        (hub, task)
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
pub(crate) async fn upgrade(State(s): State<SharedState>, ws: WebSocketUpgrade) -> Response {
    let Ok(permit) = Arc::clone(&s.hub.clients).try_acquire_owned() else {
        return ApiError::unavailable("too_many_clients", "too many WebSocket clients; try later")
            .into_response();
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
        .on_upgrade(move |socket| client(socket, rx, first, permit))
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
    _permit: OwnedSemaphorePermit,
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
