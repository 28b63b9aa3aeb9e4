//! Otedama's mining engine: a Stratum client with pool failover plus hash backends
//! behind one trait (CPU, OpenCL, CUDA, ASIC over USB). Every device result is
//! re-checked on the CPU before it is submitted.
//!
//! This crate is an empty shell in this version: the CPU backends arrive with the first
//! end-to-end milestone (see `docs/architecture.md`).
