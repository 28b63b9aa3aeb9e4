//! The listener's bounds: connection caps in total and per IP, header and idle timeouts,
//! fair WebSocket slots, handshake checks and the security headers on every response.
//! Clients from other addresses bind 127.0.0.2 and up, which Linux routes to loopback.

use crate::fake::{Server, start_with};
use otedama_rpc::ConnLimits;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

const LIMITS: ConnLimits = ConnLimits {
    max_connections: 6,
    max_connections_per_ip: 3,
    header_timeout: Duration::from_secs(1),
    idle_timeout: Duration::from_secs(2),
};

async fn server() -> Server {
    start_with(false, |s| {
        s.connections = LIMITS;
        s.ws_clients_per_ip = 2;
    })
    .await
}

fn host(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

async fn connect_from(ip: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(ip, 0))
        .expect("bind a loopback address");
    socket.connect(to).await.expect("connects")
}

/// Sends `request` and reads until the server closes: the status code and the body.
async fn exchange(stream: &mut TcpStream, request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

const STATUS: &str = "GET /api/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

fn code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    v["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_owned()
}

/// Waits until the server closes `stream`, and returns how long that took.
async fn closed_after(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

#[tokio::test]
async fn connections_over_a_cap_get_a_json_503_and_others_are_served() {
    let s = server().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(host(1), s.addr()).await);
    }
    // The listener may not have admitted the three yet: give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect_from(host(1), s.addr()).await;
    let (status, body) = exchange(&mut fourth, STATUS).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (503, "too_many_connections_from_ip")
    );

    let mut other = connect_from(host(2), s.addr()).await;
    assert_eq!(exchange(&mut other, STATUS).await.0, 200);

    // Fill the total cap from a third address; then everyone is refused.
    for _ in 0..3 {
        held.push(connect_from(host(3), s.addr()).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = connect_from(host(4), s.addr()).await;
    let (status, body) = exchange(&mut refused, STATUS).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (503, "too_many_connections")
    );

    // Idle connections are closed, and their slots serve new clients.
    for c in &mut held {
        closed_after(c, Duration::from_secs(6)).await;
    }
    let mut later = connect_from(host(4), s.addr()).await;
    assert_eq!(exchange(&mut later, STATUS).await.0, 200);
}

#[tokio::test]
async fn slow_headers_and_silent_clients_are_cut_off() {
    let s = server().await;
    // One header byte every 200 ms: never done within the 1 s deadline.
    let mut slow = connect_from(host(5), s.addr()).await;
    let request = b"GET /api/status HTTP/1.1\r\nhost: x\r\nx-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut cut = false;
    for b in request {
        if slow.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !cut {
        closed_after(&mut slow, Duration::from_secs(3)).await;
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "slow headers held the connection {took:?}"
    );

    // A client that sends nothing is closed after the idle timeout, not before.
    let mut silent = connect_from(host(5), s.addr()).await;
    let took = closed_after(&mut silent, Duration::from_secs(6)).await;
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn websocket_from(ip: IpAddr, s: &Server) -> Result<Socket, u16> {
    let stream = connect_from(ip, s.addr()).await;
    let url = format!("ws://{}/api/ws", s.addr());
    match tokio_tungstenite::client_async(url, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn one_address_cannot_take_every_websocket_slot() {
    let s = server().await;
    let a = websocket_from(host(6), &s).await.expect("first");
    let b = websocket_from(host(6), &s).await.expect("second");
    assert_eq!(websocket_from(host(6), &s).await.err(), Some(503));
    let c = websocket_from(host(7), &s).await.expect("another address");
    // A closed client gives its slot back.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    let d = loop {
        match websocket_from(host(6), &s).await {
            Ok(ws) => break ws,
            Err(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("slot not given back: {e}"),
        }
    };
    drop((b, c, d));
}

#[tokio::test]
async fn a_bad_websocket_handshake_gets_the_json_error_format() {
    let s = server().await;
    let ask = |headers: &'static str| {
        let addr = s.addr();
        async move {
            let mut c = TcpStream::connect(addr).await.expect("connects");
            let request = format!("GET /api/ws HTTP/1.1\r\nhost: x{headers}\r\n\r\n");
            let (status, body) = exchange(&mut c, &request).await;
            (status, code(&body))
        }
    };
    assert_eq!(
        ask("\r\nconnection: close").await,
        (426, "upgrade_required".into())
    );
    assert_eq!(
        ask("\r\nconnection: upgrade, close\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ")
            .await,
        (400, "invalid_handshake".into())
    );
    assert_eq!(
        ask("\r\nconnection: upgrade, close\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: abc")
            .await,
        (400, "invalid_handshake".into())
    );
    assert_eq!(
        ask("\r\nconnection: upgrade, close\r\nupgrade: websocket\r\nsec-websocket-version: 8\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==")
            .await,
        (426, "upgrade_required".into())
    );
    assert_eq!(
        ask("\r\nconnection: upgrade, close\r\nupgrade: websocket\r\nsec-websocket-version: 13")
            .await,
        (400, "invalid_handshake".into())
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let s = server().await;
    let client = reqwest::Client::new();
    for path in [
        "/",
        "/dashboard.js",
        "/dashboard.css",
        "/api/status",
        "/api/nope",
        "/api/ws",
    ] {
        let r = client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .expect("request");
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("cache-control"), "{path}");
    }
}
