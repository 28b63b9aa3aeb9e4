//! A small blocking JSON-RPC 1.0 client over HTTP/1.1, enough for test harnesses.
//! The node's production client lives in the node crate.

use base64::Engine;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
        stream.read_to_end(&mut raw).map_err(io)?;
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
