//! A typed client of the REST API, for the `otedama-node` commands that talk to a
//! running node.

use crate::dto::{
    BanRequest, ChainInfo, DialRequest, Payouts, Peer, PeerAction, SharePage, Stats, Status,
    UnbanRequest, Worker,
};
use crate::error::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest answer [`ApiClient`] reads, in bytes. The biggest answers are `/api/workers`
/// and `/api/shares` pages, well under a megabyte at thousands of workers; the cap stops
/// a wrong or hostile server from filling memory with an endless body.
pub const MAX_ANSWER: usize = 8 * 1024 * 1024;

/// Why a response body could not be read by [`read_body`].
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the limit (by its `Content-Length` or as it streamed in);
    /// reading stopped there.
    #[error("answer larger than the limit of {limit} bytes")]
    TooLarge {
        /// The most bytes accepted.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("reading the answer: {0}")]
    Read(#[source] reqwest::Error),
}

/// Reads the body of `resp`, at most `limit` bytes, chunk by chunk as it arrives.
///
/// # Errors
/// [`BodyError::TooLarge`] as soon as the announced or received length passes `limit`,
/// and [`BodyError::Read`] when the connection fails.
pub async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if resp.content_length().is_some_and(|len| len > limit_u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if chunk.len() > limit - body.len() {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a request to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the URL.
    #[error(
        "no node answers at {url} ({reason}); is `otedama-node serve` running, and is --api right?"
    )]
    NotRunning {
        /// The base URL.
        url: String,
        /// The connection error.
        reason: String,
    },
    /// The URL is not an http(s) URL.
    #[error("invalid API URL {0:?}: expected http://host:port")]
    BadUrl(String),
    /// The node answered with an error.
    #[error("the node answered {status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// The message.
        message: String,
    },
    /// The answer is longer than [`MAX_ANSWER`]; reading stopped there.
    #[error(
        "the answer from {url} is larger than the limit of {limit} bytes; is --api the node's API?"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The most bytes read.
        limit: usize,
    },
    /// The answer is not what this version expects.
    #[error("unexpected answer from {url}: {reason}")]
    Decode {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// A client of one node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// A URL that is not http(s), or an HTTP client that cannot be built.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::NotRunning {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base,
            http,
            token: None,
        })
    }

    /// Sends `token` as `Authorization: Bearer` with the operator actions.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// GETs `path` (starting with `/`) and decodes the JSON answer.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url), url).await
    }

    /// POSTs `body` as JSON to `path`, with the bearer token if one is set, and decodes
    /// the JSON answer.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.post(&url).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.send(req, url).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        url: String,
    ) -> Result<T, ClientError> {
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                ClientError::NotRunning {
                    url: self.base.clone(),
                    reason: e.to_string(),
                }
            } else {
                ClientError::Decode {
                    url: url.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
        let status = resp.status();
        let body = read_body(resp, MAX_ANSWER).await.map_err(|e| match e {
            BodyError::TooLarge { limit } => ClientError::TooLarge {
                url: url.clone(),
                limit,
            },
            BodyError::Read(e) => ClientError::Decode {
                url: url.clone(),
                reason: e.to_string(),
            },
        })?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) => ClientError::Api {
                    status: status.as_u16(),
                    code: e.error.code,
                    message: e.error.message,
                },
                Err(_) => ClientError::Decode {
                    url,
                    reason: format!("HTTP {status} without an API error body"),
                },
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `GET /api/status`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/api/status").await
    }

    /// `GET /api/stats`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.get("/api/stats").await
    }

    /// `GET /api/workers`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn workers(&self) -> Result<Vec<Worker>, ClientError> {
        self.get("/api/workers").await
    }

    /// `GET /api/peers`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn peers(&self) -> Result<Vec<Peer>, ClientError> {
        self.get("/api/peers").await
    }

    /// `GET /api/shares?page=&per_page=`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn shares(&self, page: u64, per_page: u64) -> Result<SharePage, ClientError> {
        self.get(&format!("/api/shares?page={page}&per_page={per_page}"))
            .await
    }

    /// `GET /api/payouts`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn payouts(&self) -> Result<Payouts, ClientError> {
        self.get("/api/payouts").await
    }

    /// `POST /api/peers/dial`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn dial_peer(&self, address: &str) -> Result<PeerAction, ClientError> {
        let body = DialRequest {
            address: address.to_owned(),
        };
        self.post("/api/peers/dial", &body).await
    }

    /// `POST /api/peers/ban`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn ban_peer(
        &self,
        peer: &str,
        duration: Option<Duration>,
    ) -> Result<PeerAction, ClientError> {
        let body = BanRequest {
            peer: peer.to_owned(),
            duration_secs: duration.map(|d| d.as_secs()),
        };
        self.post("/api/peers/ban", &body).await
    }

    /// `POST /api/peers/unban`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn unban_peer(&self, peer: &str) -> Result<PeerAction, ClientError> {
        let body = UnbanRequest {
            peer: peer.to_owned(),
        };
        self.post("/api/peers/unban", &body).await
    }

    /// `GET /api/chain`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn chain(&self) -> Result<ChainInfo, ClientError> {
        self.get("/api/chain").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Serves one connection: reads the request, then writes `head` and, if `endless`,
    /// chunks of a JSON-looking body until the client hangs up.
    async fn serve_once(head: &'static str, endless: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            if stream.write_all(head.as_bytes()).await.is_err() || !endless {
                return;
            }
            let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
            while stream.write_all(chunk.as_bytes()).await.is_ok() {}
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_endless_answer_stops_at_the_limit() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            true,
        )
        .await;
        let started = Instant::now();
        let err = ApiClient::new(&url)
            .expect("client")
            .status()
            .await
            .expect_err("an endless body is refused");
        assert!(
            matches!(
                err,
                ClientError::TooLarge {
                    limit: MAX_ANSWER,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&MAX_ANSWER.to_string()), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn an_announced_oversized_answer_is_refused_before_reading() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
            false,
        )
        .await;
        let err = ApiClient::new(&url)
            .expect("client")
            .status()
            .await
            .expect_err("an oversized body is refused");
        assert!(
            matches!(
                err,
                ClientError::TooLarge {
                    limit: MAX_ANSWER,
                    ..
                }
            ),
            "{err}"
        );
    }
}
