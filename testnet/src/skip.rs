//! Opt-in skips for tests that need something outside the workspace (litecoind, an
//! OpenCL device, Chromium and Node.js). A test never skips on its own: without the
//! tool it fails with an install hint, unless its skip variable is set to exactly `1`
//! (`OTEDAMA_SKIP_DAEMON_TESTS=0`, an empty value or any other text still runs it).
//!
//! The node's own integration tests include this file with `#[path]` (the node cannot
//! depend on this crate, which depends on it), so it names only `otedama_node` and std.

use otedama_node::devnet::LitecoinRegtest;

/// Skips the tests that start litecoind.
pub const DAEMON: &str = "OTEDAMA_SKIP_DAEMON_TESTS";
/// Skips the tests that need an OpenCL device.
pub const OPENCL: &str = "OTEDAMA_SKIP_OPENCL_TESTS";
/// Skips the tests that start monerod on regtest.
pub const MONERO: &str = "OTEDAMA_SKIP_MONERO_TESTS";
/// Skips the Stratum V2 interop test (needs SRI's `translator_sv2`).
pub const SV2: &str = "OTEDAMA_SKIP_SV2_TESTS";
/// Skips the dashboard test in headless Chromium (needs Chromium, Node.js and npm).
pub const BROWSER: &str = "OTEDAMA_SKIP_BROWSER_TESTS";

/// Whether `var` is set to exactly `1`.
pub fn opted_out(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

/// `Some(value)` when `found` holds it. Otherwise `None` after saying on stderr that
/// `test` is skipped, if `var` opts out; else a panic naming what is missing, how to
/// install it (`hint`) and the variable that skips it.
///
/// # Panics
/// `found` is an error and `var` is not `1`.
pub fn or_skip<T>(var: &str, test: &str, found: Result<T, String>, hint: &str) -> Option<T> {
    match found {
        Ok(v) => Some(v),
        Err(e) if opted_out(var) => {
            eprintln!("{test}: skipped ({var}=1): {e}");
            None
        }
        Err(e) => panic!("{test}: {e}\n{hint}\n(set {var}=1 to skip this test)"),
    }
}

/// A started litecoind regtest pair with `extra_args`, or `None` when it cannot start
/// and `OTEDAMA_SKIP_DAEMON_TESTS=1`.
///
/// # Panics
/// litecoind is missing or does not start, and the tests are not opted out.
pub fn litecoind_or_skip(test: &str, extra_args: &[&str]) -> Option<LitecoinRegtest> {
    or_skip(
        DAEMON,
        test,
        LitecoinRegtest::start(extra_args),
        "install it with `sudo apt-get install litecoind` (or point LITECOIND at the binary)",
    )
}
