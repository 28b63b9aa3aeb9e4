//! Otedama's operator surface: the axum REST and WebSocket API, its OpenAPI document, the
//! embedded dashboard, Prometheus metrics and health endpoints, API tokens and the audit
//! log. It sees the node only through the [`NodeApi`] trait, which `otedama-node`
//! implements; this crate does not depend on the node.
//!
//! - `api`: [`NodeApi`], the queries and actions the API needs from the node.
//! - `audit`: [`AuditLog`], the append-only log of operator actions in the data directory.
//! - `auth`: [`TokenStore`], hashed bearer tokens with expiry in the data directory.
//! - `client`: [`ApiClient`], the typed client the CLI uses.
//! - `conn`: [`ConnLimits`] and the accept loop every listener runs: connection caps in
//!   total and per IP, header and idle timeouts.
//! - `dashboard`: the embedded single-page dashboard served at `/`.
//! - `dto`: the JSON types of every endpoint and WebSocket message, by endpoint.
//! - `error`: [`ApiError`] and the JSON error body.
//! - `handlers`: the REST handlers under `/api`.
//! - `http`: [`HttpClient`], the plain-HTTP client of the CLI and the parent-chain
//!   client, and [`read_body`], which reads a response body up to a limit.
//! - `logfile`: [`RotatingFile`], the size-bounded append-only files (audit log, block log).
//! - `metrics`: [`registry`], [`serve_metrics`], [`serve_health`]: `/metrics`, `/healthz`, `/readyz`.
//! - `openapi`: [`ApiDoc`], the OpenAPI document served at `/api/docs`.
//! - `server`: [`ApiServer`]: the routes behind a per-IP rate limit, a body size limit,
//!   optional CORS and bearer tokens.
//! - `ws`: the live event stream at `/api/ws`.
//!
//! The wire format is documented in `docs/api.md`.

mod api;
mod audit;
mod auth;
mod client;
mod conn;
mod dashboard;
mod dto;
mod error;
mod handlers;
mod http;
mod logfile;
mod metrics;
mod openapi;
mod server;
mod ws;

pub use api::{ApiFuture, NodeApi};
pub use audit::{AUDIT_FILE, AUDIT_KEEP, AUDIT_MAX_BYTES, AuditLog, AuditRecord};
pub use auth::{
    AuthFailure, MAX_LABEL_LEN, NewToken, TOKEN_PREFIX, TOKENS_FILE, TokenError, TokenInfo,
    TokenStore,
};
pub use client::{ApiClient, ClientError, MAX_ANSWER};
pub use conn::ConnLimits;
pub use dto::*;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use http::{BodyError, HttpClient, HttpError, basic_auth, read_body, read_body_by};
pub use logfile::{RotatingFile, rotate_files, rotated_path};
pub use metrics::{ParentRpcMetrics, encode, registry, registry_with, serve_health, serve_metrics};
pub use openapi::{ApiDoc, document_json};
pub use server::{ApiServer, ApiSettings, HttpServer, RateLimit, exposure_warning};
pub use ws::{CLIENT_QUEUE, CLIENTS_PER_IP, MAX_CLIENTS, SEND_TIMEOUT, TICK};
