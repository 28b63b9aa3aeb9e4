//! The REST handlers, each documented for the OpenAPI document.

use crate::dto::{
    BanRequest, ChainInfo, DialRequest, History, HistoryQuery, HistoryRequest, MinerView,
    MiningAction, PageRequest, Payouts, PayoutsQuery, Peer, PeerAction, SharePage, SharesQuery,
    Stats, Status, UnbanRequest, Worker,
};
use crate::error::{ApiError, ErrorBody};
use crate::openapi;
use crate::server::{Operator, SharedState};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
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

/// Returns one miner's view: its shares in the PPLNS window, what a block found now would
/// pay it, what found blocks paid it, its hashrate and workers, and the variance to expect.
#[utoipa::path(get, path = "/api/miner/{address}", tag = "sharechain",
    params(("address" = String, Path, description = "A payout address of the chain")),
    responses((status = 200, body = MinerView),
        (status = 400, body = ErrorBody, description = "`invalid_address`: not an address of this chain"),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn miner(
    State(s): State<SharedState>,
    address: Result<Path<String>, PathRejection>,
) -> Result<Json<MinerView>, ApiError> {
    let Path(address) =
        address.map_err(|e| ApiError::bad_request("invalid_address", e.body_text()))?;
    if address.len() > MAX_ADDRESS_LEN {
        return Err(ApiError::bad_request(
            "invalid_address",
            format!("an address is at most {MAX_ADDRESS_LEN} characters"),
        ));
    }
    s.api.miner(address).await.map(Json)
}

/// Longest address `GET /api/miner/{address}` looks at (bech32 allows 90 characters).
const MAX_ADDRESS_LEN: usize = 128;

/// Returns the sharechain's tip, share difficulty and sync progress.
#[utoipa::path(get, path = "/api/chain", tag = "sharechain",
    responses((status = 200, body = ChainInfo), (status = 503, body = ErrorBody)))]
pub(crate) async fn chain(State(s): State<SharedState>) -> Result<Json<ChainInfo>, ApiError> {
    s.api.chain().await.map(Json)
}

/// Returns the node's recorded time series: minute points for up to 24 h, hour points
/// for up to 30 days, kept across restarts.
#[utoipa::path(get, path = "/api/history", tag = "node", params(HistoryQuery),
    responses((status = 200, body = History),
        (status = 400, body = ErrorBody, description = "`invalid_query`: an unknown series or range (the message lists the valid ones), or more than 16 series"),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn history(
    State(s): State<SharedState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<History>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let request =
        HistoryRequest::from_query(q).map_err(|m| ApiError::bad_request("invalid_query", m))?;
    s.api.history(request).await.map(Json)
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

/// Longest ban `POST /api/peers/ban` accepts: 30 days.
const MAX_BAN_SECS: u64 = 30 * 24 * 3600;
/// Ban length when the request names none: 10 minutes.
const DEFAULT_BAN_SECS: u64 = 600;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))
}

/// Dials a sharechain peer. Needs a bearer token unless `api.auth.enabled` is false.
#[utoipa::path(post, path = "/api/peers/dial", tag = "operator", security(("bearer" = [])),
    request_body = DialRequest,
    responses((status = 200, body = PeerAction),
        (status = 400, body = ErrorBody, description = "`invalid_body` or `invalid_address`"),
        (status = 401, body = ErrorBody, description = "`missing_token`, `invalid_token`, `expired_token` or `revoked_token`"),
        (status = 409, body = ErrorBody, description = "`dial_failed`: the dial could not start (for example, the peer is banned)"),
        (status = 500, body = ErrorBody, description = "`audit_failed`")))]
pub(crate) async fn peer_dial(
    State(s): State<SharedState>,
    operator: Operator,
    body: Result<Json<DialRequest>, JsonRejection>,
) -> Result<Json<PeerAction>, ApiError> {
    let req = json_body(body)?;
    operator
        .audit_subject(&s, "peer_dial", Some(req.address.clone()))
        .await?;
    s.api.dial_peer(req.address.clone()).await?;
    Ok(Json(PeerAction {
        action: "dial".into(),
        subject: req.address,
    }))
}

/// Disconnects and bans a peer. Needs a bearer token unless `api.auth.enabled` is false.
#[utoipa::path(post, path = "/api/peers/ban", tag = "operator", security(("bearer" = [])),
    request_body = BanRequest,
    responses((status = 200, body = PeerAction),
        (status = 400, body = ErrorBody, description = "`invalid_body`, `invalid_peer_id` or `invalid_duration`"),
        (status = 401, body = ErrorBody, description = "`missing_token`, `invalid_token`, `expired_token` or `revoked_token`"),
        (status = 500, body = ErrorBody, description = "`audit_failed`")))]
pub(crate) async fn peer_ban(
    State(s): State<SharedState>,
    operator: Operator,
    body: Result<Json<BanRequest>, JsonRejection>,
) -> Result<Json<PeerAction>, ApiError> {
    let req = json_body(body)?;
    let secs = req.duration_secs.unwrap_or(DEFAULT_BAN_SECS);
    if secs == 0 || secs > MAX_BAN_SECS {
        return Err(ApiError::bad_request(
            "invalid_duration",
            format!("duration_secs must be 1 to {MAX_BAN_SECS}"),
        ));
    }
    operator
        .audit_subject(&s, "peer_ban", Some(format!("{} for {secs}s", req.peer)))
        .await?;
    s.api
        .ban_peer(req.peer.clone(), std::time::Duration::from_secs(secs))
        .await?;
    Ok(Json(PeerAction {
        action: "ban".into(),
        subject: req.peer,
    }))
}

/// Lifts a peer's ban. Needs a bearer token unless `api.auth.enabled` is false.
#[utoipa::path(post, path = "/api/peers/unban", tag = "operator", security(("bearer" = [])),
    request_body = UnbanRequest,
    responses((status = 200, body = PeerAction),
        (status = 400, body = ErrorBody, description = "`invalid_body` or `invalid_peer_id`"),
        (status = 401, body = ErrorBody, description = "`missing_token`, `invalid_token`, `expired_token` or `revoked_token`"),
        (status = 500, body = ErrorBody, description = "`audit_failed`")))]
pub(crate) async fn peer_unban(
    State(s): State<SharedState>,
    operator: Operator,
    body: Result<Json<UnbanRequest>, JsonRejection>,
) -> Result<Json<PeerAction>, ApiError> {
    let req = json_body(body)?;
    operator
        .audit_subject(&s, "peer_unban", Some(req.peer.clone()))
        .await?;
    s.api.unban_peer(req.peer.clone()).await?;
    Ok(Json(PeerAction {
        action: "unban".into(),
        subject: req.peer,
    }))
}

/// Returns this OpenAPI document.
#[utoipa::path(get, path = "/api/docs", tag = "node",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::DOCUMENT,
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
