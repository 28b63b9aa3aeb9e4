//! Otedama's Stratum server (v1, later v2): line codec, sessions, vardiff, job fan-out
//! and submissions. A session emits typed submissions and never touches the sharechain;
//! the node turns accepted submissions into shares.
//!
//! This crate is an empty shell in this version: the server arrives with the first
//! end-to-end milestone (see `docs/architecture.md`).
