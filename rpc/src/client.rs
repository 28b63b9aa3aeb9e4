//! A typed client of the REST API, for the `otedama-node` commands that talk to a
//! running node.

use crate::dto::{
    BanRequest, ChainInfo, DialRequest, Payouts, Peer, PeerAction, SharePage, Stats, Status,
    UnbanRequest, Worker,
};
use crate::error::ErrorBody;
use crate::http::{BodyError, HttpClient, HttpError, read_body_by};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest answer [`ApiClient`] reads, in bytes. The biggest answers are `/api/workers`
/// and `/api/shares` pages, well under a megabyte at thousands of workers; the cap stops
/// a wrong or hostile server from filling memory with an endless body.
pub const MAX_ANSWER: usize = 8 * 1024 * 1024;

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

/// How long one request to the node may take, answer included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: HttpClient,
    token: Option<String>,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// A URL that is not http(s). An `https://` URL is accepted here and refused when a
    /// request is sent: the node's API serves plain HTTP.
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base));
        }
        Ok(Self {
            base,
            http: HttpClient::new(usize::MAX),
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
        self.send(Method::GET, url, HeaderMap::new(), Vec::new())
            .await
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
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            url: url.clone(),
            reason: format!("encoding the request: {e}"),
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(t) = &self.token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| ClientError::Decode {
                    url: url.clone(),
                    reason: "the API token is not a valid header value".to_owned(),
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        self.send(Method::POST, url, headers, body).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: String,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let resp = self
            .http
            .request(method, &url, headers, body.into(), deadline)
            .await
            .map_err(|e| match e {
                HttpError::BadUrl { .. } => ClientError::BadUrl(url.clone()),
                HttpError::Connect(_) | HttpError::Timeout => ClientError::NotRunning {
                    url: self.base.clone(),
                    reason: e.to_string(),
                },
                HttpError::Request(_) => ClientError::Decode {
                    url: url.clone(),
                    reason: e.to_string(),
                },
            })?;
        let status = resp.status();
        let body = read_body_by(resp, MAX_ANSWER, deadline)
            .await
            .map_err(|e| match e {
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
    use crate::http::test_server::{After, serve_once};
    use std::time::Instant;

    #[tokio::test]
    async fn an_endless_answer_stops_at_the_limit() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            After::EndlessBody,
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
    async fn an_https_url_is_refused_as_a_bad_url() {
        let err = ApiClient::new("https://127.0.0.1:1")
            .expect("client")
            .status()
            .await
            .expect_err("https is not spoken");
        assert!(matches!(err, ClientError::BadUrl(_)), "{err}");
    }

    #[tokio::test]
    async fn an_announced_oversized_answer_is_refused_before_reading() {
        let url = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
            After::Close,
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
