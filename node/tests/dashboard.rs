//! The dashboard end to end: `otedama-node devnet --api` (real litecoind on regtest, the
//! node, two CPU miners) driven by `rpc/tests/dashboard/dashboard.test.mjs` in headless
//! Chromium. Fails, saying what to install, when Chromium, Node.js >= 20 or the test's
//! node_modules are missing (`apt-get install chromium nodejs npm`, then `npm ci` in
//! rpc/tests/dashboard, as `scripts/test.sh` does), unless `OTEDAMA_SKIP_BROWSER_TESTS=1`;
//! and without litecoind unless `OTEDAMA_SKIP_DAEMON_TESTS=1`.
//! `rpc/tests/dashboard/miner.test.mjs` then opens a devnet miner's page and the API
//! explorer. The screenshots are kept in `target/dashboard/` (`dashboard.png`,
//! `miner.png`, `miner-docs.png`).

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Shared with the testnet crate's tests (which depend on this crate, so it cannot be a
// dev-dependency here).
#[allow(dead_code)]
#[path = "../../testnet/src/skip.rs"]
mod skip;

#[path = "../../testnet/src/browser.rs"]
mod browser;

use browser::{chromium_or_skip, run_browser};

const TEST: &str = "dashboard_shows_live_pool_data_in_headless_chromium";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// Stops the devnet with SIGTERM (it then stops litecoind) when dropped.
struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn api_up(addr: SocketAddr) -> bool {
    use std::io::Write as _;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// Starts `otedama-node devnet ARGS --api ADDR` in `data` and waits for its API.
fn start_devnet(data: &Path, args: &[&str]) -> (Devnet, SocketAddr) {
    let api = free_port();
    let log = std::fs::File::create(data.join("devnet.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .arg("devnet")
        .args(args)
        .args(["--stratum", "127.0.0.1:0", "--api", &api.to_string()])
        .arg("--data-dir")
        .arg(data.join("devnet"))
        .env_remove("OTEDAMA_LOG_LEVEL")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("devnet starts");
    let devnet = Devnet(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !api_up(api) {
        assert!(
            Instant::now() < deadline,
            "the devnet's API never answered; log:\n{}",
            devnet_log(data)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (devnet, api)
}

fn devnet_log(data: &Path) -> String {
    std::fs::read_to_string(data.join("devnet.log")).unwrap_or_default()
}

/// Asserts that the browser run `out` passed (showing its output and the devnet's log in
/// `data` otherwise) and left the `screenshots`.
fn passed(out: &std::process::Output, data: &Path, screenshots: &[&Path]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{stderr}\ndevnet log:\n{}",
        devnet_log(data)
    );
    for shot in screenshots {
        assert!(shot.exists(), "screenshot at {}", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
}

#[test]
fn dashboard_shows_live_pool_data_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip(TEST) else {
        return;
    };
    let litecoind = otedama_node::devnet::litecoind_path()
        .ok_or_else(|| otedama_node::devnet::NOT_INSTALLED.to_owned());
    if skip::or_skip(
        skip::DAEMON,
        TEST,
        litecoind,
        "the dashboard runs on `otedama-node devnet`, which starts litecoind",
    )
    .is_none()
    {
        return;
    }

    let data = tempfile::tempdir().expect("tempdir");
    let (devnet, api) = start_devnet(data.path(), &[]);
    let screenshot = root().join("target/dashboard/dashboard.png");
    let miner_screenshot = root().join("target/dashboard/miner.png");
    let out = run_browser(
        &chromium,
        &format!("http://{api}/"),
        &["dashboard.test.mjs", "miner.test.mjs"],
        [&screenshot, &miner_screenshot],
    );
    drop(devnet);
    let docs_screenshot = root().join("target/dashboard/miner-docs.png");
    passed(
        &out,
        data.path(),
        &[&screenshot, &miner_screenshot, &docs_screenshot],
    );
}

/// The same pages on a Monero sidechain node: `devnet --chain xmr-regtest` (real monerod
/// and monero-wallet-rpc on regtest, two built-in RandomX miners) driven by
/// `rpc/tests/dashboard/monero.test.mjs`. Screenshots: `target/dashboard/monero.png` and
/// `monero-miner.png`.
#[test]
fn the_monero_dashboard_shows_the_sidechain_in_headless_chromium() {
    const NAME: &str = "the_monero_dashboard_shows_the_sidechain_in_headless_chromium";
    let Some(chromium) = chromium_or_skip(NAME) else {
        return;
    };
    let monerod = otedama_node::devnet::monero::monerod_path()
        .ok_or_else(|| otedama_node::devnet::monero::MONERO_NOT_INSTALLED.to_owned());
    if skip::or_skip(
        skip::MONERO,
        NAME,
        monerod,
        "the Monero devnet starts monerod and monero-wallet-rpc",
    )
    .is_none()
    {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let (devnet, api) = start_devnet(data.path(), &["--chain", "xmr-regtest"]);
    let screenshot = root().join("target/dashboard/monero.png");
    let miner_screenshot = root().join("target/dashboard/monero-miner.png");
    let out = run_browser(
        &chromium,
        &format!("http://{api}/"),
        &["monero.test.mjs"],
        [&screenshot, &miner_screenshot],
    );
    drop(devnet);
    passed(&out, data.path(), &[&screenshot, &miner_screenshot]);
}
