//! The HTTP servers: the API (REST, WebSocket, OpenAPI, dashboard) with its guards, and
//! the plain listeners the metrics and health endpoints run on.
//!
//! Guards, outermost first: error bodies made JSON, a per-IP rate limit (token bucket),
//! a request body size limit, CORS only for configured origins, and bearer-token auth on
//! the operator endpoints.

use crate::api::NodeApi;
use crate::audit::{AuditLog, AuditRecord};
use crate::auth::TokenStore;
use crate::conn::ConnLimits;
use crate::error::ApiError;
use crate::{dashboard, handlers, ws};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tracing::{info, warn};

pub(crate) const TARGET: &str = "otedama::api";

/// The per-IP request budget: a bucket of `burst` requests refilled one per `refill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time to earn one request back.
    pub refill: Duration,
    /// Requests a client may make at once.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 60 at once, then 10 per second per IP: ample for the dashboard and the CLI.
    fn default() -> Self {
        Self {
            refill: Duration::from_millis(100),
            burst: 60,
        }
    }
}

/// How the API server runs.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Listen address (port 0 picks one).
    pub address: SocketAddr,
    /// Token store for operator endpoints; `None` leaves them open (`api.auth.enabled: false`).
    pub tokens: Option<TokenStore>,
    /// Where operator actions are recorded.
    pub audit: Arc<AuditLog>,
    /// Origins allowed to call the API from a browser; empty turns CORS off (same origin only).
    pub cors_origins: Vec<String>,
    /// The per-IP rate limit.
    pub rate_limit: RateLimit,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Connection caps and timeouts.
    pub connections: ConnLimits,
    /// WebSocket clients at once from one IP address (of [`crate::MAX_CLIENTS`]).
    pub ws_clients_per_ip: usize,
}

impl ApiSettings {
    /// Settings with the defaults: auth by `tokens`, no CORS, default limits, 16 KiB bodies.
    pub fn new(address: SocketAddr, tokens: Option<TokenStore>, audit: Arc<AuditLog>) -> Self {
        Self {
            address,
            tokens,
            audit,
            cors_origins: Vec::new(),
            rate_limit: RateLimit::default(),
            body_limit: 16 * 1024,
            connections: ConnLimits::API,
            ws_clients_per_ip: crate::ws::CLIENTS_PER_IP,
        }
    }
}

/// What every handler sees.
pub(crate) struct AppState {
    pub api: Arc<dyn NodeApi>,
    pub tokens: Option<TokenStore>,
    pub audit: Arc<AuditLog>,
    pub hub: ws::Hub,
}

pub(crate) type SharedState = Arc<AppState>;

/// A running HTTP listener; stops when [`HttpServer::stop`] is called or it is dropped.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `address` and serves `router` within `limits`, with the client's address
    /// available to it and the security headers on every response.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(address: SocketAddr, router: Router, limits: ConnLimits) -> io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let router = router.layer(axum::middleware::map_response(security_headers));
        let task = tokio::spawn(crate::conn::serve(listener, router, limits, rx));
        Ok(Self {
            local_addr,
            shutdown,
            tasks: vec![task],
        })
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn add_task(&mut self, task: JoinHandle<()>) {
        self.tasks.push(task);
    }

    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Stops accepting, lets requests in flight finish (up to 5 s), and returns.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        for t in std::mem::take(&mut self.tasks) {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// The API server: REST under `/api`, `/api/ws`, `/api/docs` and the dashboard at `/`.
#[derive(Debug)]
pub struct ApiServer {
    http: HttpServer,
}

impl ApiServer {
    /// Binds and starts serving `api`. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// The address cannot be bound, or a CORS origin is not a valid header value.
    pub async fn start(settings: ApiSettings, api: Arc<dyn NodeApi>) -> io::Result<Self> {
        let address = settings.address;
        if let Some(warning) = exposure_warning(address, settings.tokens.is_some()) {
            warn!(target: TARGET, %address, "{warning}");
        }
        let (hub, hub_task) = ws::Hub::start(Arc::clone(&api), settings.ws_clients_per_ip);
        let state = Arc::new(AppState {
            api,
            tokens: settings.tokens.clone(),
            audit: Arc::clone(&settings.audit),
            hub,
        });
        let (router, limiter_task) = guarded_router(state, &settings)?;
        let mut http = HttpServer::bind(address, router, settings.connections).await?;
        http.add_task(stop_with(hub_task, http.shutdown_signal()));
        http.add_task(stop_with(limiter_task, http.shutdown_signal()));
        info!(target: TARGET, address = %http.local_addr(), auth = settings.tokens.is_some(), "api listening");
        Ok(Self { http })
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.http.stop().await;
    }
}

/// Returns the warning due when the API listens beyond loopback with its operator
/// endpoints open (`api.auth.enabled: false`).
pub fn exposure_warning(address: SocketAddr, auth: bool) -> Option<&'static str> {
    (!address.ip().is_loopback() && !auth).then_some(
        "the API listens beyond loopback with api.auth.enabled: false; anyone who can reach it can start and stop mining",
    )
}

/// Aborts `task` once `shutdown` turns true.
fn stop_with(task: JoinHandle<()>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        task.abort();
    })
}

/// The routes with every guard, and the task that forgets idle rate-limit buckets.
fn guarded_router(
    state: SharedState,
    settings: &ApiSettings,
) -> io::Result<(Router, JoinHandle<()>)> {
    let limit = settings.rate_limit;
    let governor = Arc::new(
        GovernorConfigBuilder::default()
            .period(limit.refill)
            .burst_size(limit.burst.max(1))
            .finish()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "rate limit must be positive")
            })?,
    );
    let limiter = Arc::clone(&governor);
    let limiter_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.limiter().retain_recent();
        }
    });
    let mut router = routes(state);
    if !settings.cors_origins.is_empty() {
        let origins = settings
            .cors_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("CORS origin {o:?} is not a valid header value"),
                    )
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    let router = router
        .layer(RequestBodyLimitLayer::new(settings.body_limit))
        .layer(GovernorLayer::new(governor).error_handler(|e| {
            let wait = match e {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => wait_time,
                _ => 1,
            };
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {wait} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&wait.max(1).to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }))
        .layer(axum::middleware::map_response(json_errors));
    Ok((router, limiter_task))
}

/// Every route, unguarded (the tests of single handlers use this).
pub(crate) fn routes(state: SharedState) -> Router {
    use axum::routing::{get, post};
    Router::new()
        .route("/api/status", get(handlers::status))
        .route("/api/stats", get(handlers::stats))
        .route("/api/workers", get(handlers::workers))
        .route("/api/peers", get(handlers::peers))
        .route("/api/shares", get(handlers::shares))
        .route("/api/payouts", get(handlers::payouts))
        .route("/api/chain", get(handlers::chain))
        .route("/api/miner/{address}", get(handlers::miner))
        .route("/api/history", get(handlers::history))
        .route("/api/mining/start", post(handlers::mining_start))
        .route("/api/mining/stop", post(handlers::mining_stop))
        .route("/api/peers/dial", post(handlers::peer_dial))
        .route("/api/peers/ban", post(handlers::peer_ban))
        .route("/api/peers/unban", post(handlers::peer_unban))
        .route("/api/docs", get(handlers::docs))
        .route("/api/ws", get(ws::upgrade))
        .merge(dashboard::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}

/// Gives the few plain-text error responses of the layers (413 from the body limit) the
/// JSON error shape.
async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
        .into_response(),
        _ => response,
    }
}

/// Adds the headers every response carries, unless a handler set its own: no MIME
/// sniffing, no framing by other sites, no referrer, and no caching of API answers.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// An operator authorised for a mutating endpoint, with where the request came from.
pub(crate) struct Operator {
    /// `token:<id>` or `anonymous` (auth disabled).
    pub actor: String,
    /// The client's IP.
    pub remote: Option<IpAddr>,
}

impl FromRequestParts<SharedState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let remote = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let Some(tokens) = state.tokens.clone() else {
            return Ok(Operator {
                actor: "anonymous".into(),
                remote,
            });
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing_token", "this endpoint needs an Authorization: Bearer <token> header; create one with `otedama-node token create`"))?;
        let token = bearer_token(value).ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
        let now = unix_now();
        let verdict = tokio::task::spawn_blocking(move || tokens.verify(&token, now))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        match verdict {
            Ok(info) => Ok(Operator {
                actor: format!("token:{}", info.id),
                remote,
            }),
            Err(failure) => Err(ApiError::unauthorized(failure.code(), failure.to_string())),
        }
    }
}

/// Longest bearer token read from a header; real ones are 68 characters.
const MAX_TOKEN_LEN: usize = 256;

/// The token of an `Authorization: Bearer <token>` header: the scheme in any case, one
/// space, then the token, trimmed, of 1 to [`MAX_TOKEN_LEN`] visible ASCII characters.
pub(crate) fn bearer_token(value: &HeaderValue) -> Option<String> {
    let (scheme, rest) = value.to_str().ok()?.split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then(|| token.to_owned())
}

impl Operator {
    /// Records `action` in the audit log before it runs; an action that cannot be
    /// recorded does not run.
    pub(crate) async fn audit(&self, state: &SharedState, action: &str) -> Result<(), ApiError> {
        self.audit_subject(state, action, None).await
    }

    /// As [`Operator::audit`], naming what the action is about.
    pub(crate) async fn audit_subject(
        &self,
        state: &SharedState,
        action: &str,
        subject: Option<String>,
    ) -> Result<(), ApiError> {
        let record = AuditRecord {
            time: unix_now(),
            action: action.to_owned(),
            actor: self.actor.clone(),
            remote: self.remote.map(|ip| ip.to_string()),
            subject,
        };
        let log = Arc::clone(&state.audit);
        let written = tokio::task::spawn_blocking(move || log.append(&record))
            .await
            .map_err(ApiError::internal)?;
        written.map_err(|e| {
            tracing::error!(target: TARGET, error = %e, path = %state.audit.path().display(), "cannot write the audit log");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "audit_failed",
                "the audit log cannot be written, so the action was not run; see the node's log",
            )
        })
    }
}

/// Returns the Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_authorization_header_parses_or_is_refused(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(value) = HeaderValue::from_bytes(&raw)
                && let Some(token) = bearer_token(&value)
            {
                prop_assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
                prop_assert!(token.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(raw.len() > 7 && raw[..7].eq_ignore_ascii_case(b"bearer "));
            }
        }

        #[test]
        fn a_well_formed_bearer_header_gives_its_token(
            scheme in "(?i)bearer",
            token in "[A-Za-z0-9_.~+/=-]{1,256}",
            pad in " {0,3}",
        ) {
            let value = HeaderValue::from_str(&format!("{scheme} {pad}{token}{pad}")).expect("ascii");
            prop_assert_eq!(bearer_token(&value), Some(token));
        }
    }

    #[test]
    fn exposing_an_open_api_is_warned_about() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert!(exposure_warning(addr("0.0.0.0:8080"), false).is_some());
        assert!(exposure_warning(addr("192.0.2.1:8080"), false).is_some());
        assert!(exposure_warning(addr("[::]:8080"), false).is_some());
        assert!(exposure_warning(addr("0.0.0.0:8080"), true).is_none());
        assert!(exposure_warning(addr("127.0.0.1:8080"), false).is_none());
        assert!(exposure_warning(addr("[::1]:8080"), false).is_none());
    }
}
