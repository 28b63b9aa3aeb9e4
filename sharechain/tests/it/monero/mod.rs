//! Monero family: Monero's crypto vectors, P2Pool's `block.dat` and the real sidechain dump.

mod block;
mod constructed;
mod crypto;
mod dump;
mod mutation;
mod oxide;
mod randomx;

use std::path::PathBuf;

/// Returns the path of a file in `tests/data/monero`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/monero")
        .join(name)
}
