//! The API server against a fixed fake node: every endpoint, errors, auth, audit, limits,
//! CORS, the OpenAPI document, WebSocket events and slow clients, metrics and health.

mod fake;
mod http;
mod limits;
mod monitoring;
mod properties;
mod websocket;
