//! The node's pages: the dashboard, a page per payout address (`/miner/ADDRESS`) and an
//! API explorer over the OpenAPI document (`/docs`). HTML, CSS and JavaScript compiled
//! into the binary, with no external resources, so they work offline. They read the REST
//! API; the dashboard then lives on `/api/ws`.

use crate::server::SharedState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const DASHBOARD: &str = include_str!("../assets/dashboard.html");
const MINER: &str = include_str!("../assets/miner.html");
const DOCS: &str = include_str!("../assets/docs.html");

/// Only this origin's scripts, styles and sockets; no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(|| page(DASHBOARD)))
        .route("/miner/{address}", get(|| page(MINER)))
        .route("/docs", get(|| page(DOCS)))
        .route(
            "/dashboard.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../assets/dashboard.css"),
                )
            }),
        )
        .route(
            "/common.js",
            get(|| script(include_str!("../assets/common.js"))),
        )
        .route(
            "/dashboard.js",
            get(|| script(include_str!("../assets/dashboard.js"))),
        )
        .route(
            "/miner.js",
            get(|| script(include_str!("../assets/miner.js"))),
        )
        .route(
            "/docs.js",
            get(|| script(include_str!("../assets/docs.js"))),
        )
}

async fn page(html: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
}

async fn script(js: &'static str) -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", js).await
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
