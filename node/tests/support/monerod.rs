//! monerod and monero-wallet-rpc on regtest for tests, through the devnet's own
//! `MoneroRegtest` (offline, loopback only, in a temporary directory).

use otedama_node::devnet::monero::MoneroRegtest;
use std::net::TcpListener;
use std::path::PathBuf;

/// Returns a free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The monerod binary: `$MONEROD`, else `/usr/bin/monerod`.
pub fn monerod_path() -> Result<PathBuf, String> {
    std::env::var_os("MONEROD")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/monerod")))
        .filter(|p| p.exists())
        .ok_or_else(|| "monerod not found".to_owned())
}

/// Starts monerod at a fixed `difficulty` and monero-wallet-rpc in a temporary directory
/// (removed when the returned guard drops, after the daemons).
pub fn start(difficulty: u64) -> (MoneroRegtest, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let regtest = MoneroRegtest::start_in(dir.path(), difficulty).expect("monerod starts");
    (regtest, dir)
}
