//! Otedama's operator surface: the axum REST and WebSocket API, the embedded dashboard,
//! Prometheus metrics and health endpoints. It sees the node through handles only.
//!
//! This crate is an empty shell in this version (see `docs/architecture.md`).
