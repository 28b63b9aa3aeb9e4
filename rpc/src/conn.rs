//! The HTTP accept loop shared by the API, metrics and health listeners, with the bounds
//! a public port needs: a cap on open connections in total and per client IP, a deadline
//! for reading a request's headers, and an idle timeout.
//!
//! A connection over a cap is answered at once with a JSON 503 and closed, so refused
//! clients hold no descriptor and no task. A WebSocket keeps its slot until it closes:
//! the slot lives in the connection's I/O object, which the upgrade hands over.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tracing::{debug, warn};

const TARGET: &str = crate::server::TARGET;

/// The bounds of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections at once, all clients together.
    pub max_connections: usize,
    /// Open connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Longest a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// Longest a connection may stay without a byte read or written.
    pub idle_timeout: Duration,
}

impl ConnLimits {
    /// The API's defaults: 256 connections, 32 per IP (a browser opens about 6 per host),
    /// 10 s for headers, 60 s idle.
    pub const API: ConnLimits = ConnLimits {
        max_connections: 256,
        max_connections_per_ip: 32,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };

    /// The metrics and health listeners' defaults: scrapers and probes are few.
    pub const MONITORING: ConnLimits = ConnLimits {
        max_connections: 32,
        max_connections_per_ip: 8,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self::API
    }
}

/// Slots held at once, in total and per IP: a listener's connections, and the
/// WebSocket clients (`ws`).
#[derive(Debug)]
pub(crate) struct Gate {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    max_total: usize,
    max_per_ip: usize,
}

/// A place in the [`Gate`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    gate: Arc<Gate>,
    ip: IpAddr,
}

/// Which cap refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Total,
    PerIp,
}

impl Gate {
    /// A gate of `max_total` slots, at most `max_per_ip` of them for one IP address.
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Gate> {
        Arc::new(Gate {
            open: Mutex::new((0, HashMap::new())),
            max_total,
            max_per_ip,
        })
    }

    /// Takes a slot for `ip` (IPv4-mapped IPv6 addresses count as IPv4), or says which
    /// cap is reached; the total is checked first.
    pub(crate) fn admit(gate: &Arc<Gate>, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = ip.to_canonical();
        let mut open = gate.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, per_ip) = &mut *open;
        let from_ip = per_ip.get(&ip).copied().unwrap_or(0);
        if *total >= gate.max_total {
            return Err(Refusal::Total);
        }
        if from_ip >= gate.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *total += 1;
        per_ip.insert(ip, from_ip + 1);
        Ok(Slot {
            gate: Arc::clone(gate),
            ip,
        })
    }

    fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .gate
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (total, per_ip) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A TCP stream that records when it last moved a byte and holds its [`Slot`].
#[derive(Debug)]
struct Tracked {
    stream: TcpStream,
    last_active: Arc<AtomicU64>,
    epoch: Instant,
    _slot: Slot,
}

impl Tracked {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` turns true, then lets
/// the open requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let gate = Gate::new(limits.max_connections, limits.max_connections_per_ip);
    let mut connections = JoinSet::new();
    let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
    let mut last_refusal_log: Option<Instant> = None;
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: back
                // off briefly instead of spinning, as the caps should keep this rare.
                warn!(target: TARGET, error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match Gate::admit(&gate, remote.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, refusal, &refusals);
                let now = Instant::now();
                if last_refusal_log.is_none_or(|t| now - t > Duration::from_secs(10)) {
                    last_refusal_log = Some(now);
                    warn!(target: TARGET, %remote, open = gate.open(), ?refusal, "connection refused: listener at its cap");
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            remote,
            slot,
            router.clone(),
            limits,
            shutdown.clone(),
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Refused connections being answered at once, at most; past it they are just closed.
const REFUSALS_IN_FLIGHT: usize = 32;

/// Answers a refused connection with a 503 in the API's error format, then closes it
/// after reading (and dropping) what the client sent for at most half a second, so that
/// the client reads the answer instead of a reset.
fn refuse(mut stream: TcpStream, refusal: Refusal, refusals: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        return;
    };
    let (code, message) = match refusal {
        Refusal::Total => (
            "too_many_connections",
            "the server has too many connections",
        ),
        Refusal::PerIp => (
            "too_many_connections_from_ip",
            "too many connections from this address",
        ),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}; try later"}}}}"#);
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        let _permit = permit;
        let answer = async {
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), answer).await;
    });
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    slot: Slot,
    router: Router,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let last_active = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let io = TokioIo::new(Tracked {
        stream,
        last_active: Arc::clone(&last_active),
        epoch,
        _slot: slot,
    });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let check = (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let idle_ms = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(target: TARGET, %remote, error = %e, "http connection ended");
                }
                return;
            }
            () = tokio::time::sleep(check) => {
                let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                let idle = now.saturating_sub(last_active.load(Ordering::Relaxed));
                if idle >= idle_ms {
                    if closing {
                        debug!(target: TARGET, %remote, "idle connection closed");
                        return;
                    }
                    debug!(target: TARGET, %remote, "idle connection: closing");
                    closing = true;
                    last_active.store(now, Ordering::Relaxed);
                    conn.as_mut().graceful_shutdown();
                }
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_and_free_slots() {
        let gate = Gate::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let a1 = Gate::admit(&gate, a).expect("first");
        let a2 = Gate::admit(&gate, a).expect("second");
        assert_eq!(Gate::admit(&gate, a).err(), Some(Refusal::PerIp));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("valid");
        assert_eq!(Gate::admit(&gate, mapped).err(), Some(Refusal::PerIp));
        let b1 = Gate::admit(&gate, b).expect("other ip");
        assert_eq!(Gate::admit(&gate, b).err(), Some(Refusal::Total));
        drop(a1);
        let a3 = Gate::admit(&gate, a).expect("slot freed");
        drop((a2, a3, b1));
        assert_eq!(gate.open(), 0);
        assert!(gate.open.lock().expect("lock").1.is_empty());
    }
}
