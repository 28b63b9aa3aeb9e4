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
        let body = resp.bytes().await.map_err(|e| ClientError::Decode {
            url: url.clone(),
            reason: e.to_string(),
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
