//! The OpenAPI document served at `/api/docs` (JSON; the explorer at `/docs` renders it).
//!
//! The document is generated from the handlers and types ([`ApiDoc`]) and kept in
//! `rpc/assets/openapi.json`, which the binary serves compacted (by `build.rs`): the
//! generator stays out of the binary. A test fails when the two differ; `OTEDAMA_WRITE_OPENAPI=1 cargo test
//! -p otedama-rpc --lib openapi` rewrites the file.

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
        handlers::miner,
        handlers::history,
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

/// The document as served: `assets/openapi.json` compacted by the build script.
pub const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// Returns the document as generated from the code, as JSON, built once.
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi().to_json().unwrap_or_else(|e| {
            format!("{{\"error\":{{\"code\":\"internal_error\",\"message\":\"{e}\"}}}}")
        })
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_is_the_generated_one() {
        let generated = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document encodes");
        if std::env::var("OTEDAMA_WRITE_OPENAPI").as_deref() == Ok("1") {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/openapi.json");
            std::fs::write(path, format!("{generated}\n")).expect("write the document");
            return;
        }
        let served: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        let fresh: serde_json::Value = serde_json::from_str(&generated).expect("valid JSON");
        assert!(
            served == fresh,
            "rpc/assets/openapi.json is stale: run `OTEDAMA_WRITE_OPENAPI=1 cargo test -p otedama-rpc --lib openapi`"
        );
    }
}
