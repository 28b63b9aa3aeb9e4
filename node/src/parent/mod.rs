//! Parent-chain daemon client (Bitcoin Core family: litecoind, bitcoind): JSON-RPC over
//! HTTP with cookie or user/password auth, several endpoints in failover order,
//! `getblocktemplate` with longpoll, and `submitblock` to every endpoint.

mod error;
pub mod geth;
pub mod monero;
pub mod monero_zmq;

#[cfg(test)]
mod tests;

pub use error::ParentError;

use crate::config::{ChainConfig, DaemonConfig};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Method, StatusCode};
use otedama_sharechain::coinbase::{BlockTemplate, RpcBlockTemplate};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Ordinary calls time out after this.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Longpoll returns after about 60 s of an unchanged tip, so wait a little longer.
const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(90);
/// Largest reply read from a daemon, in bytes. A `getblocktemplate` for a full block is
/// its transactions in hex plus their ids and fees, about 10 MB at 4 M weight units; the
/// cap leaves room for that and stops a wrong endpoint from filling memory.
pub const MAX_REPLY: usize = 32 * 1024 * 1024;

#[derive(Clone, Debug)]
enum Auth {
    Cookie(PathBuf),
    UserPassword(String, String),
}

/// One daemon endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    url: String,
    auth: Auth,
}

impl Endpoint {
    /// Builds an endpoint from config; `home` expands a leading `~/` in cookie paths.
    pub fn from_config(d: &DaemonConfig, home: Option<&Path>) -> Self {
        let auth = match (d.cookie_path(home), &d.user, &d.password) {
            (Some(cookie), _, _) => Auth::Cookie(cookie),
            (None, Some(u), Some(p)) => Auth::UserPassword(u.clone(), p.expose().to_string()),
            _ => Auth::UserPassword(String::new(), String::new()),
        };
        Self {
            url: d.url.clone(),
            auth,
        }
    }

    /// Returns the URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn credentials(&self) -> Result<(String, String), ParentError> {
        match &self.auth {
            Auth::UserPassword(u, p) => Ok((u.clone(), p.clone())),
            Auth::Cookie(path) => {
                let text = read_cookie(path).map_err(|source| ParentError::Cookie {
                    endpoint: self.url.clone(),
                    path: path.clone(),
                    source,
                })?;
                let (u, p) = text
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| ParentError::Malformed {
                        endpoint: self.url.clone(),
                        reason: format!("cookie file {} is not user:password", path.display()),
                    })?;
                Ok((u.to_string(), p.to_string()))
            }
        }
    }
}

/// Largest cookie file read, in bytes; a daemon writes `__cookie__:` and 64 hex digits.
const MAX_COOKIE: u64 = 4096;

/// Reads a cookie file of at most [`MAX_COOKIE`] bytes (a wrong path such as a device
/// file must not be read forever).
fn read_cookie(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_COOKIE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_COOKIE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the limit of {MAX_COOKIE} bytes; is it the daemon's .cookie?"),
        ));
    }
    Ok(text)
}

/// POSTs the JSON-RPC request `body` to `url` and returns its `result`: the transport,
/// HTTP status, size limit, JSON and JSON-RPC error handling every daemon client shares.
///
/// # Errors
/// Unreachable, refused credentials, an oversized or malformed reply, or the daemon's
/// own error object.
pub(crate) async fn post_json(
    http: &otedama_rpc::HttpClient,
    url: &str,
    headers: HeaderMap,
    body: Value,
    method: &str,
    timeout: Duration,
) -> Result<Value, ParentError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let resp = http
        .request(
            Method::POST,
            url,
            headers,
            body.to_string().into(),
            deadline,
        )
        .await
        .map_err(|e| ParentError::Unreachable {
            endpoint: url.to_owned(),
            reason: e.to_string(),
        })?;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(ParentError::Auth {
            endpoint: url.to_owned(),
        });
    }
    // Bitcoin Core answers RPC errors with HTTP 500 and a JSON body; read it either way.
    let body = otedama_rpc::read_body_by(resp, MAX_REPLY, deadline)
        .await
        .map_err(|e| match e {
            otedama_rpc::BodyError::TooLarge { limit } => ParentError::TooLarge {
                endpoint: url.to_owned(),
                limit,
            },
            otedama_rpc::BodyError::Read(e) => ParentError::Unreachable {
                endpoint: url.to_owned(),
                reason: e.to_string(),
            },
        })?;
    let reply: Value = serde_json::from_slice(&body).map_err(|e| ParentError::Malformed {
        endpoint: url.to_owned(),
        reason: format!("HTTP {status}: {e}"),
    })?;
    if let Some((code, message)) = rpc_error(&reply) {
        return Err(ParentError::Daemon {
            endpoint: url.to_owned(),
            method: method.to_string(),
            code,
            message,
        });
    }
    Ok(reply.get("result").cloned().unwrap_or(Value::Null))
}

/// The daemons of a client that speaks JSON-RPC 2.0 over plain HTTP without login
/// (monerod, core-geth): their base URLs in failover order, the HTTP client, and the
/// latency metrics every call is recorded in.
#[derive(Clone, Debug)]
pub(crate) struct JsonRpcDaemons {
    endpoints: Vec<String>,
    http: otedama_rpc::HttpClient,
    metrics: Option<otedama_rpc::ParentRpcMetrics>,
}

impl JsonRpcDaemons {
    /// The daemons at `urls` (`http://host:port`; a trailing `/` is dropped).
    pub(crate) fn new(urls: Vec<String>) -> Self {
        Self {
            endpoints: urls
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            http: otedama_rpc::HttpClient::new(4),
            metrics: None,
        }
    }

    /// Records every call's latency and failure in `metrics`.
    pub(crate) fn set_metrics(&mut self, metrics: otedama_rpc::ParentRpcMetrics) {
        self.metrics = Some(metrics);
    }

    /// The base URLs, in failover order.
    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// POSTs a JSON-RPC 2.0 request of `method` with `params` to `url` and returns its
    /// `result`, recording the call in the metrics.
    ///
    /// # Errors
    /// As [`post_json`].
    pub(crate) async fn post(
        &self,
        url: &str,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        let started = std::time::Instant::now();
        let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params});
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let result = post_json(&self.http, url, headers, body, method, timeout).await;
        if let Some(m) = &self.metrics {
            m.observe(method, started.elapsed(), result.is_ok());
        }
        result
    }

    /// A malformed-answer error naming every daemon.
    pub(crate) fn malformed(&self, method: &str, reason: impl std::fmt::Display) -> ParentError {
        ParentError::Malformed {
            endpoint: self.endpoints.join(", "),
            reason: format!("{method}: {reason}"),
        }
    }
}

/// Calls each endpoint in failover order until one answers; [`ParentError::AllFailed`]
/// with every endpoint's error when none does.
pub(crate) async fn first_answer<'a, E, F, Fut>(
    endpoints: &'a [E],
    mut call: F,
) -> Result<Value, ParentError>
where
    F: FnMut(&'a E) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ParentError>>,
{
    let mut errors = Vec::new();
    for ep in endpoints {
        match call(ep).await {
            Ok(v) => return Ok(v),
            Err(e) => errors.push(e),
        }
    }
    Err(ParentError::AllFailed(errors))
}

/// Returns the `(code, message)` of a JSON-RPC reply's non-null `error` object.
pub fn rpc_error(reply: &Value) -> Option<(i64, String)> {
    let err = reply.get("error").filter(|e| !e.is_null())?;
    let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = err.get("message").and_then(Value::as_str).unwrap_or("");
    Some((code, message.to_string()))
}

/// The daemon's best block, as the last template builds on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentTip {
    /// Its hash.
    pub hash: otedama_sharechain::BlockHash,
    /// Its height.
    pub height: u32,
}

impl ParentTip {
    /// Returns the block `template` builds on.
    pub fn of(template: &BlockTemplate) -> Self {
        Self {
            hash: template.prev_block,
            height: template.height.saturating_sub(1),
        }
    }
}

/// A template and the id to long-poll for the next one.
#[derive(Clone, Debug)]
pub struct TemplateUpdate {
    /// The template.
    pub template: BlockTemplate,
    /// `longpollid` to pass next time.
    pub longpoll_id: Option<String>,
    /// The endpoint that served it.
    pub endpoint: String,
}

/// A client for the daemons of one chain.
#[derive(Clone, Debug)]
pub struct ParentClient {
    endpoints: Vec<Endpoint>,
    http: otedama_rpc::HttpClient,
    metrics: Option<otedama_rpc::ParentRpcMetrics>,
}

impl ParentClient {
    /// Builds a client for `chain`'s daemons.
    ///
    /// # Errors
    /// None today; the `Result` leaves room for settings that can be wrong.
    pub fn new(chain: &ChainConfig, home: Option<&Path>) -> Result<Self, ParentError> {
        let endpoints = chain
            .daemons
            .iter()
            .map(|d| Endpoint::from_config(d, home))
            .collect();
        Ok(Self {
            endpoints,
            http: otedama_rpc::HttpClient::new(4),
            metrics: None,
        })
    }

    /// Records the latency and failures of every call (longpolls excepted) in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: otedama_rpc::ParentRpcMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Returns the endpoints in failover order.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    async fn call_one(
        &self,
        ep: &Endpoint,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        let started = std::time::Instant::now();
        let result = self.call_one_unmetered(ep, method, params, timeout).await;
        // A longpoll's duration is the time until the next block, not the daemon's speed.
        if let Some(m) = &self.metrics
            && timeout != LONGPOLL_TIMEOUT
        {
            m.observe(method, started.elapsed(), result.is_ok());
        }
        result
    }

    async fn call_one_unmetered(
        &self,
        ep: &Endpoint,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        let (user, password) = ep.credentials()?;
        let body = json!({"jsonrpc": "1.0", "id": "otedama", "method": method, "params": params});
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut auth =
            HeaderValue::from_str(&otedama_rpc::basic_auth(&user, &password)).map_err(|_| {
                ParentError::Malformed {
                    endpoint: ep.url.clone(),
                    reason: "the user or password is not valid in an HTTP header".to_string(),
                }
            })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        post_json(&self.http, &ep.url, headers, body, method, timeout).await
    }

    /// Calls `method` on the first endpoint that answers, in failover order.
    ///
    /// # Errors
    /// [`ParentError::AllFailed`] with each endpoint's error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ParentError> {
        self.call_with_timeout(method, params, CALL_TIMEOUT).await
    }

    async fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ParentError> {
        first_answer(&self.endpoints, |ep| {
            self.call_one(ep, method, &params, timeout)
        })
        .await
    }

    /// Fetches a block template with the chain's rules (litecoind insists on both
    /// `mweb` and `segwit`; Bitcoin Core accepts the list). With `longpoll_id`, the
    /// daemon holds the request until the tip changes (or about a minute passes).
    ///
    /// # Errors
    /// Every endpoint failed, or the template is malformed.
    pub async fn block_template(
        &self,
        longpoll_id: Option<&str>,
    ) -> Result<TemplateUpdate, ParentError> {
        let mut req = json!({"rules": ["mweb", "segwit"], "capabilities": ["coinbasetxn", "workid", "longpoll"]});
        let timeout = match longpoll_id {
            Some(id) => {
                req["longpollid"] = json!(id);
                LONGPOLL_TIMEOUT
            }
            None => CALL_TIMEOUT,
        };
        let mut errors = Vec::new();
        for ep in &self.endpoints {
            match self
                .call_one(ep, "getblocktemplate", &json!([req]), timeout)
                .await
            {
                Ok(v) => {
                    let malformed = |reason: String| ParentError::Malformed {
                        endpoint: ep.url.clone(),
                        reason,
                    };
                    let longpoll_id = v
                        .get("longpollid")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let rpc: RpcBlockTemplate = serde_json::from_value(v)
                        .map_err(|e| malformed(format!("getblocktemplate: {e}")))?;
                    let template =
                        BlockTemplate::try_from(rpc).map_err(|e| malformed(e.to_string()))?;
                    return Ok(TemplateUpdate {
                        template,
                        longpoll_id,
                        endpoint: ep.url.clone(),
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        Err(ParentError::AllFailed(errors))
    }

    /// Returns the URLs of the configured endpoints, in failover order.
    pub fn endpoint_urls(&self) -> Vec<String> {
        self.endpoints.iter().map(|ep| ep.url.clone()).collect()
    }

    /// Submits a hex-encoded block to endpoint `index` (in failover order). Returns
    /// `Ok(None)` when it accepted the block, `Ok(Some(reason))` when it rejected it,
    /// or the error.
    pub async fn submit_block_to(
        &self,
        index: usize,
        block_hex: &str,
    ) -> Result<Option<String>, ParentError> {
        let ep = self.endpoints.get(index).ok_or(ParentError::NoEndpoint)?;
        self.call_one(ep, "submitblock", &json!([block_hex]), CALL_TIMEOUT)
            .await
            .map(|v| v.as_str().map(str::to_string))
    }
}
