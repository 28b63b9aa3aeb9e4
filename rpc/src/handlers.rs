//! The REST handlers, each documented for the OpenAPI document.

use crate::dto::{
    ChainInfo, MiningAction, PageRequest, Payouts, PayoutsQuery, Peer, SharePage, SharesQuery,
    Stats, Status, Worker,
};
use crate::error::{ApiError, ErrorBody};
use crate::openapi;
use crate::server::{Operator, SharedState};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;

/// Returns the node at a glance.
#[utoipa::path(get, path = "/api/status", tag = "node",
    responses((status = 200, body = Status), (status = 503, body = ErrorBody)))]
pub(crate) async fn status(State(s): State<SharedState>) -> Result<Json<Status>, ApiError> {
    s.api.status().await.map(Json)
}

/// Returns counters since the node started.
#[utoipa::path(get, path = "/api/stats", tag = "node",
    responses((status = 200, body = Stats), (status = 503, body = ErrorBody)))]
pub(crate) async fn stats(State(s): State<SharedState>) -> Result<Json<Stats>, ApiError> {
    s.api.stats().await.map(Json)
}

/// Returns the Stratum workers that sent shares, most recent first.
#[utoipa::path(get, path = "/api/workers", tag = "node",
    responses((status = 200, body = Vec<Worker>), (status = 503, body = ErrorBody)))]
pub(crate) async fn workers(State(s): State<SharedState>) -> Result<Json<Vec<Worker>>, ApiError> {
    s.api.workers().await.map(Json)
}

/// Returns the connected sharechain peers.
#[utoipa::path(get, path = "/api/peers", tag = "node",
    responses((status = 200, body = Vec<Peer>)))]
pub(crate) async fn peers(State(s): State<SharedState>) -> Result<Json<Vec<Peer>>, ApiError> {
    s.api.peers().await.map(Json)
}

/// Returns main-chain shares, newest first, one page at a time.
#[utoipa::path(get, path = "/api/shares", tag = "sharechain", params(SharesQuery),
    responses((status = 200, body = SharePage), (status = 400, body = ErrorBody, description = "`invalid_query`: a parameter is not a number or out of range"),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn shares(
    State(s): State<SharedState>,
    query: Result<Query<SharesQuery>, QueryRejection>,
) -> Result<Json<SharePage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let page = PageRequest::from_query(q).map_err(|m| ApiError::bad_request("invalid_query", m))?;
    s.api.shares(page).await.map(Json)
}

/// Returns the PPLNS split if a block were found now, and the blocks found so far.
#[utoipa::path(get, path = "/api/payouts", tag = "sharechain", params(PayoutsQuery),
    responses((status = 200, body = Payouts),
        (status = 400, body = ErrorBody, description = "`invalid_query` or `invalid_address`"),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn payouts(
    State(s): State<SharedState>,
    query: Result<Query<PayoutsQuery>, QueryRejection>,
) -> Result<Json<Payouts>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    s.api.payouts(q.finder).await.map(Json)
}

/// Returns the sharechain's tip, share difficulty and sync progress.
#[utoipa::path(get, path = "/api/chain", tag = "sharechain",
    responses((status = 200, body = ChainInfo), (status = 503, body = ErrorBody)))]
pub(crate) async fn chain(State(s): State<SharedState>) -> Result<Json<ChainInfo>, ApiError> {
    s.api.chain().await.map(Json)
}

/// Starts the built-in miner. Needs a bearer token unless `api.auth.enabled` is false.
#[utoipa::path(post, path = "/api/mining/start", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = MiningAction),
        (status = 401, body = ErrorBody, description = "`missing_token`, `invalid_token`, `expired_token` or `revoked_token`"),
        (status = 409, body = ErrorBody, description = "`mining_not_configured`: no payout address or no CPU backend for the algorithm"),
        (status = 500, body = ErrorBody, description = "`audit_failed` or `mining_failed`")))]
pub(crate) async fn mining_start(
    State(s): State<SharedState>,
    operator: Operator,
) -> Result<Json<MiningAction>, ApiError> {
    operator.audit(&s, "mining_start").await?;
    let (mining, changed) = s.api.start_mining().await?;
    Ok(Json(MiningAction { mining, changed }))
}

/// Stops the built-in miner. Needs a bearer token unless `api.auth.enabled` is false.
#[utoipa::path(post, path = "/api/mining/stop", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = MiningAction),
        (status = 401, body = ErrorBody, description = "`missing_token`, `invalid_token`, `expired_token` or `revoked_token`"),
        (status = 500, body = ErrorBody, description = "`audit_failed`")))]
pub(crate) async fn mining_stop(
    State(s): State<SharedState>,
    operator: Operator,
) -> Result<Json<MiningAction>, ApiError> {
    operator.audit(&s, "mining_stop").await?;
    let (mining, changed) = s.api.stop_mining().await?;
    Ok(Json(MiningAction { mining, changed }))
}

/// Returns this OpenAPI document.
#[utoipa::path(get, path = "/api/docs", tag = "node",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document_json(),
    )
}

/// 404 in the JSON error shape.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/docs")
}

/// 405 in the JSON error shape.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /api/docs",
    )
}
