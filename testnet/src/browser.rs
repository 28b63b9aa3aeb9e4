//! The browser harness of the dashboard tests: headless Chromium (Debian's) driven by
//! Node.js's test runner over the suite in `rpc/tests/dashboard`. Without Chromium,
//! Node.js >= 20 or the suite's `node_modules` a test fails, saying what to install,
//! unless `OTEDAMA_SKIP_BROWSER_TESTS=1`.
//!
//! The node's integration tests include this file with `#[path]` beside `skip.rs`, so it
//! names only std and `crate::skip`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a crate of the workspace")
        .to_path_buf()
}

/// The browser suite's folder.
pub fn suite() -> PathBuf {
    root().join("rpc/tests/dashboard")
}

/// The major version of `node` on PATH.
fn node_major() -> Result<u32, String> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("no `node` on PATH ({e})"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(format!("`node --version` failed: {}", out.status));
    }
    version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| format!("`node --version` said {version:?}"))
}

/// Chromium, Node.js >= 20 and the suite's node_modules, or what is missing.
pub fn browser_tools(suite: &Path) -> Result<PathBuf, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let major = node_major()?;
    if major < 20 {
        return Err(format!(
            "Node.js {major} is too old: the test needs 20 or later"
        ));
    }
    if !suite.join("node_modules/playwright-core").exists() {
        return Err(format!(
            "{} has no node_modules/playwright-core",
            suite.display()
        ));
    }
    Ok(chromium)
}

/// Runs the browser test files `tests` of the suite against the node whose API is at
/// `url` (`http://host:port/`); the screenshots go to `screenshots` (the first to
/// OTEDAMA_SCREENSHOT, the second to OTEDAMA_MINER_SCREENSHOT).
pub fn run_browser(
    chromium: &Path,
    url: &str,
    tests: &[&str],
    screenshots: [&Path; 2],
) -> std::process::Output {
    Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(tests)
        .current_dir(suite())
        .env("OTEDAMA_DASHBOARD_URL", url)
        .env("OTEDAMA_SCREENSHOT", screenshots[0])
        .env("OTEDAMA_MINER_SCREENSHOT", screenshots[1])
        .env("CHROMIUM", chromium)
        .output()
        .expect("node runs")
}

/// Chromium's path, or `None` when test `name` is to be skipped (failing under CI).
pub fn chromium_or_skip(name: &str) -> Option<PathBuf> {
    crate::skip::or_skip(
        crate::skip::BROWSER,
        name,
        browser_tools(&suite()),
        "install `apt-get install chromium nodejs npm` (Node.js >= 20), then run \
         `npm ci` in rpc/tests/dashboard (scripts/test.sh does)",
    )
}
