//! The Otedama node: composes the sharechain, Stratum server, built-in miner and API.
//!
//! - [`config`]: the node's YAML configuration, its loading and its semantic checks.
//!
//! Networking (`p2p`), block templates (`template`) and the service wiring arrive with
//! the end-to-end milestone; `main.rs` is the command-line front end.

pub mod config;
