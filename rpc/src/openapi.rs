//! The OpenAPI document served at `/api/docs` (JSON only; no Swagger UI is bundled).

use crate::dto;
use crate::error::{ErrorBody, ErrorDetail};
use crate::handlers;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Otedama node API",
        description = "REST API of an Otedama node. Reads are open; operator actions need `Authorization: Bearer <token>` (see `otedama-node token create`). Errors are `{\"error\":{\"code\":..,\"message\":..}}`. Live events: `GET /api/ws` (WebSocket), messages documented as the `Event` schema."
    ),
    paths(
        handlers::status,
        handlers::stats,
        handlers::workers,
        handlers::peers,
        handlers::shares,
        handlers::payouts,
        handlers::chain,
        handlers::mining_start,
        handlers::mining_stop,
        handlers::peer_dial,
        handlers::peer_ban,
        handlers::peer_unban,
        handlers::docs,
    ),
    components(schemas(ErrorBody, ErrorDetail, dto::Event, dto::Readiness)),
    modifiers(&BearerAuth),
    tags(
        (name = "node", description = "The node, its Stratum workers and counters"),
        (name = "sharechain", description = "Shares, payouts and the chain"),
        (name = "operator", description = "Actions that change the node; need a token"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Returns the document as JSON, built once.
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|e| {
            format!("{{\"error\":{{\"code\":\"internal_error\",\"message\":\"{e}\"}}}}")
        })
    })
    .clone()
}
