//! Well-behaved and hostile clients from chosen loopback addresses, for the abuse test
//! and the soak (`api-soak`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to` from `ip` (any 127.0.0.0/8 address works on Linux), within 5 s.
pub async fn connect_from(ip: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(IpAddr::V4(ip), 0)).ok()?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .ok()?
        .ok()
}

/// Connects to a Stratum server from `ip`, subscribes and authorizes as `user`, and
/// waits up to `within` for the first job.
///
/// # Errors
/// What went wrong, for the test's message.
pub async fn stratum_job(
    ip: Ipv4Addr,
    stratum: SocketAddr,
    user: &str,
    within: Duration,
) -> Result<(), String> {
    let stream = connect_from(ip, stratum)
        .await
        .ok_or("cannot connect to Stratum")?;
    let (read, mut write) = stream.into_split();
    let hello = format!(
        "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"otedama-test/1.0\"]}}\n\
         {{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{user}\",\"x\"]}}\n"
    );
    write
        .write_all(hello.as_bytes())
        .await
        .map_err(|e| format!("stratum write: {e}"))?;
    let mut lines = BufReader::new(read).lines();
    let got = tokio::time::timeout(within, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"mining.notify\"") {
                return Ok(());
            }
        }
        Err("stratum closed before a job".to_owned())
    })
    .await;
    got.unwrap_or_else(|_| Err(format!("no job within {within:?}")))
}
