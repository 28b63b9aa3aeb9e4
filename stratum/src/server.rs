//! The accept loop: bans and connection floods, connection caps, extranonce1
//! allocation and session tasks.

use crate::ban::{Admission, Guard};
use crate::config::StratumConfig;
use crate::extranonce::{Extranonces, Lease};
use crate::job::{JobIds, PartsCache};
use crate::session::{self, Context, TARGET};
use crate::stats::{StratumStats, bump};
use crate::work::{Submission, Work};
use otedama_sharechain::ChainSpec;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

/// Pending connections the kernel queues for us (a connect storm after a restart).
const LISTEN_BACKLOG: u32 = 4096;
/// Pause after a failed accept (out of file descriptors) instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long sessions get to close by themselves at shutdown before they are aborted.
const SESSION_DRAIN: Duration = Duration::from_secs(2);

/// A Stratum v1 server for one sharechain.
pub struct StratumServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    sv2: Option<(TcpListener, SocketAddr)>,
    ctx: Arc<Context>,
    conns: Arc<ConnTable>,
    work: watch::Receiver<Option<Work>>,
}

impl StratumServer {
    /// Checks `config` against `spec` and binds the listening socket. Sessions take
    /// work from `work` and send shares meeting the share target to `submissions`.
    ///
    /// # Errors
    /// `InvalidInput` wrapping a [`ConfigError`](crate::ConfigError) for a bad config;
    /// the socket's errors when the address cannot be bound.
    pub async fn bind(
        config: StratumConfig,
        spec: &'static ChainSpec,
        work: watch::Receiver<Option<Work>>,
        submissions: mpsc::Sender<Submission>,
    ) -> io::Result<Self> {
        config
            .validate(spec)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = listen(config.listen)?;
        let local_addr = listener.local_addr()?;
        let sv2 = match &config.sv2 {
            Some(sv2) => {
                let l = listen(sv2.listen)?;
                let addr = l.local_addr()?;
                Some((l, addr))
            }
            None => None,
        };
        let stats = Arc::new(StratumStats::default());
        let conns = Arc::new(ConnTable::new(&config, stats.clone()));
        let ctx = Arc::new(Context {
            guard: Guard::new(config.bans.clone(), stats.clone()),
            config,
            spec,
            stats,
            submissions,
            job_ids: JobIds::default(),
            parts: PartsCache::default(),
            extranonces: Extranonces::new(),
        });
        Ok(Self {
            listener,
            local_addr,
            sv2,
            ctx,
            conns,
            work,
        })
    }

    /// Returns the bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns the bound Stratum V2 address, when SV2 is on.
    pub fn sv2_addr(&self) -> Option<SocketAddr> {
        self.sv2.as_ref().map(|(_, a)| *a)
    }

    /// Returns the server's counters; they stay readable after `run` returns.
    pub fn stats(&self) -> Arc<StratumStats> {
        self.ctx.stats.clone()
    }

    /// Accepts miners until `shutdown` becomes true (or its sender is dropped), then
    /// closes the listener and every session, and returns.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let Self {
            listener,
            local_addr,
            sv2,
            ctx,
            conns,
            work,
        } = self;
        info!(target: TARGET, listen = %local_addr, chain = ctx.spec.name, "stratum server listening");
        let sv2 = sv2.map(|(l, addr)| {
            info!(target: TARGET, listen = %addr, "stratum v2 listening");
            l
        });
        let stopping = shutdown.clone();
        let listeners = [
            (Some(listener), Protocol::V1),
            (sv2, Protocol::V2),
            (None, Protocol::V2),
        ];
        accept_loop(
            listeners,
            &ctx.guard,
            &conns,
            shutdown,
            |protocol, stream, peer, permit| {
                serve(
                    ctx.clone(),
                    stream,
                    peer,
                    permit,
                    protocol,
                    work.clone(),
                    stopping.clone(),
                )
            },
        )
        .await;
    }
}

/// Accepts on every listener given (up to three, each with the protocol it speaks)
/// until `shutdown` becomes true (or its sender is dropped). Each connection that
/// [`admit`] lets in runs `serve(protocol, stream, peer, permit)` as a task. Then the
/// listeners close and sessions get [`SESSION_DRAIN`] to end before they are aborted.
/// Every dialect's server runs on it.
pub(crate) async fn accept_loop<P, F, Fut>(
    listeners: [(Option<TcpListener>, P); 3],
    guard: &Guard,
    conns: &Arc<ConnTable>,
    mut shutdown: watch::Receiver<bool>,
    mut serve: F,
) where
    P: Copy + std::fmt::Debug,
    F: FnMut(P, TcpStream, SocketAddr, ConnPermit) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let [(a, pa), (b, pb), (c, pc)] = listeners;
    let mut sessions = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let (accepted, protocol) = tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            Some(done) = sessions.join_next() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    error!(target: TARGET, error = %e, "session task panicked");
                }
                continue;
            }
            accepted = accept_on(a.as_ref()) => (accepted, pa),
            accepted = accept_on(b.as_ref()) => (accepted, pb),
            accepted = accept_on(c.as_ref()) => (accepted, pc),
        };
        if let Some((stream, peer, permit)) = admit(guard, conns, accepted, protocol).await {
            sessions.spawn(serve(protocol, stream, peer, permit));
        }
    }
    drop((a, b, c));
    info!(target: TARGET, sessions = sessions.len(), "stratum server stopping");
    let drained = tokio::time::timeout(SESSION_DRAIN, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        sessions.shutdown().await;
    }
}

/// Runs [`accept_loop`] on one `listener` of a dialect's own server: each admitted
/// connection runs `session(stream, peer, shutdown)`, its address is banned if the
/// session earned a ban, and its slot is given back.
pub(crate) async fn serve_one<F, Fut>(
    listener: TcpListener,
    guard: Arc<Guard>,
    conns: &Arc<ConnTable>,
    shutdown: watch::Receiver<bool>,
    session: F,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Option<crate::error::BanReason>> + Send + 'static,
{
    let stopping = shutdown.clone();
    let listeners = [(Some(listener), ()), (None, ()), (None, ())];
    let banning = Arc::clone(&guard);
    accept_loop(
        listeners,
        &banning,
        conns,
        shutdown,
        |_, stream, peer, permit| {
            let run = session(stream, peer, stopping.clone());
            let guard = Arc::clone(&guard);
            async move {
                if let Some(reason) = run.await {
                    guard.ban(peer.ip(), reason, Instant::now());
                }
                drop(permit);
            }
        },
    )
    .await;
}

/// Binds a listening socket.
pub(crate) fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Lets a restarted node bind while old connections sit in TIME_WAIT. (On
    // Windows the option means something else, so only set it on Unix.)
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts on `listener`, or waits forever when there is none.
async fn accept_on(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// Stratum v1: JSON lines.
    V1,
    /// Stratum V2: Noise-encrypted binary frames.
    V2,
}

/// Admits an accepted connection of any dialect: refuses banned addresses and
/// connections past a cap, and sets `TCP_NODELAY`. A failed accept (out of descriptors)
/// pauses instead of spinning.
pub(crate) async fn admit(
    guard: &Guard,
    conns: &Arc<ConnTable>,
    accepted: io::Result<(TcpStream, SocketAddr)>,
    protocol: impl std::fmt::Debug,
) -> Option<(TcpStream, SocketAddr, ConnPermit)> {
    let (stream, peer) = match accepted {
        Ok(a) => a,
        Err(error) => {
            warn!(target: TARGET, %error, ?protocol, "accept failed");
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            return None;
        }
    };
    if guard.admit(peer.ip(), Instant::now()) == Admission::Banned {
        debug!(target: TARGET, %peer, "banned address refused");
        return None;
    }
    let permit = ConnTable::admit(conns, peer.ip())?;
    // Small messages: send them at once instead of batching.
    if let Err(error) = stream.set_nodelay(true) {
        debug!(target: TARGET, %peer, %error, "set_nodelay failed");
    }
    Some((stream, peer, permit))
}

/// Runs one session of `protocol`, bans its address if it earned a ban, and gives its
/// connection slot back.
async fn serve(
    ctx: Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnPermit,
    protocol: Protocol,
    work: watch::Receiver<Option<Work>>,
    shutdown: watch::Receiver<bool>,
) {
    let ban = match protocol {
        Protocol::V1 => {
            let lease: Lease = Extranonces::take(&ctx.extranonces);
            session::run(ctx.clone(), stream, peer, lease, work, shutdown).await
        }
        Protocol::V2 => crate::sv2::session::run(ctx.clone(), stream, peer, work, shutdown).await,
    };
    if let Some(reason) = ban {
        ctx.guard.ban(peer.ip(), reason, Instant::now());
    }
    drop(permit);
}

/// Open connections, in total and per IP.
pub(crate) struct ConnTable {
    inner: Mutex<ConnInner>,
    max_total: usize,
    max_per_ip: usize,
    stats: Arc<StratumStats>,
}

struct ConnInner {
    open: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// A slot in the [`ConnTable`], given back when dropped.
pub(crate) struct ConnPermit {
    table: Arc<ConnTable>,
    ip: IpAddr,
}

impl ConnTable {
    pub(crate) fn new(config: &StratumConfig, stats: Arc<StratumStats>) -> Self {
        Self {
            inner: Mutex::new(ConnInner {
                open: 0,
                per_ip: HashMap::new(),
            }),
            max_total: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            stats,
        }
    }

    /// Takes a slot for a connection from `ip`, or returns `None` when a cap is reached.
    pub(crate) fn admit(table: &Arc<Self>, ip: IpAddr) -> Option<ConnPermit> {
        let ip = ip.to_canonical();
        let mut t = table.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = t.per_ip.get(&ip).copied().unwrap_or(0);
        let cap = if t.open >= table.max_total {
            Some("max_connections")
        } else if from_ip >= table.max_per_ip {
            Some("max_connections_per_ip")
        } else {
            None
        };
        if let Some(cap) = cap {
            drop(t);
            bump(&table.stats.refused_connections);
            debug!(target: TARGET, %ip, cap, "connection refused");
            return None;
        }
        t.open += 1;
        t.per_ip.insert(ip, from_ip + 1);
        drop(t);
        table.stats.connections.fetch_add(1, Ordering::Relaxed);
        bump(&table.stats.total_connections);
        Some(ConnPermit {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut t = self
            .table
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        t.open = t.open.saturating_sub(1);
        if let Some(n) = t.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.per_ip.remove(&self.ip);
            }
        }
        drop(t);
        self.table.stats.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_and_free_slots() {
        let config = StratumConfig {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..StratumConfig::default()
        };
        let table = Arc::new(ConnTable::new(&config, Arc::new(StratumStats::default())));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let p1 = ConnTable::admit(&table, a).expect("first");
        let p2 = ConnTable::admit(&table, a).expect("second");
        assert!(ConnTable::admit(&table, a).is_none(), "per-ip cap");
        let p3 = ConnTable::admit(&table, b).expect("other ip");
        assert!(ConnTable::admit(&table, b).is_none(), "total cap");
        drop(p1);
        let p4 = ConnTable::admit(&table, a).expect("slot freed");
        // An IPv4-mapped IPv6 address is the same client.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("valid");
        drop(p3);
        assert!(ConnTable::admit(&table, mapped).is_none());
        let s = table.stats.snapshot();
        assert_eq!(
            (s.connections, s.total_connections, s.refused_connections),
            (2, 4, 3)
        );
        drop((p2, p4));
        assert_eq!(table.stats.snapshot().connections, 0);
        let t = table.inner.lock().expect("not poisoned");
        assert!(t.per_ip.is_empty() && t.open == 0);
    }
}
