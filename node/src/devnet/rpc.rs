//! A small blocking JSON-RPC 1.0 client over HTTP/1.1, enough for test harnesses.
//! The node's production client lives in the node crate.

use base64::Engine;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Largest reply read, in bytes: room for a `getblocktemplate` of a full block.
pub const MAX_REPLY: usize = 32 * 1024 * 1024;

/// Errors of [`RpcClient`].
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Connecting, writing or reading failed.
    #[error("{addr}: {source}")]
    Io {
        /// The endpoint.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The reply is longer than [`MAX_REPLY`]; reading stopped there.
    #[error("{addr}: reply larger than the limit of {limit} bytes")]
    TooLarge {
        /// The endpoint.
        addr: SocketAddr,
        /// The most bytes read.
        limit: usize,
    },
    /// The reply was not JSON-RPC.
    #[error("{addr}: malformed reply (HTTP status {status}): {body}")]
    Malformed {
        /// The endpoint.
        addr: SocketAddr,
        /// HTTP status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The daemon answered with an error object.
    #[error("{method}: error {code}: {message}")]
    Daemon {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Message.
        message: String,
    },
}

/// A JSON-RPC client with HTTP basic auth.
#[derive(Clone, Debug)]
pub struct RpcClient {
    addr: SocketAddr,
    auth: String,
    timeout: Duration,
}

impl RpcClient {
    /// A client for `addr` with `user:password` credentials (a cookie file's content).
    pub fn new(addr: SocketAddr, credentials: &str) -> Self {
        Self {
            addr,
            auth: base64::engine::general_purpose::STANDARD.encode(credentials.trim()),
            timeout: Duration::from_secs(30),
        }
    }

    /// Calls `method` and returns its `result`.
    ///
    /// # Errors
    /// I/O failures, malformed replies and daemon errors.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "1.0", "id": "otedama", "method": method, "params": params})
            .to_string();
        let io = |source| RpcError::Io {
            addr: self.addr,
            source,
        };
        let mut stream = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.addr,
            self.auth,
            body.len(),
            body
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        // One byte past the limit tells a reply at the limit from a longer one.
        (&mut stream)
            .take(MAX_REPLY as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() > MAX_REPLY {
            return Err(RpcError::TooLarge {
                addr: self.addr,
                limit: MAX_REPLY,
            });
        }
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let json_body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let malformed = || RpcError::Malformed {
            addr: self.addr,
            status,
            body: json_body.chars().take(200).collect(),
        };
        let reply: Value = serde_json::from_str(json_body).map_err(|_| malformed())?;
        if let Some((code, message)) = crate::parent::rpc_error(&reply) {
            return Err(RpcError::Daemon {
                method: method.to_string(),
                code,
                message,
            });
        }
        reply.get("result").cloned().ok_or_else(malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn an_endless_reply_stops_at_the_limit_and_names_it() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
            let chunk = vec![b' '; 0x10000];
            while stream.write_all(&chunk).is_ok() {}
        });
        let started = Instant::now();
        let err = RpcClient::new(addr, "user:pass")
            .call("getblockcount", json!([]))
            .expect_err("an endless reply is refused");
        assert!(
            matches!(
                err,
                RpcError::TooLarge {
                    limit: MAX_REPLY,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&MAX_REPLY.to_string()), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
