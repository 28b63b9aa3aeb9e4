//! The dashboard end to end: `otedama-node devnet --api` (real litecoind on regtest, the
//! node, two CPU miners) driven by `rpc/tests/dashboard/dashboard.test.mjs` in headless
//! Chromium. Skips, saying why, when Chromium, Node.js or the test's node_modules are
//! missing (install: `apt-get install chromium`, Node.js >= 20 with npm, and `npm ci` in
//! rpc/tests/dashboard).
//! The screenshot is kept at `target/dashboard/dashboard.png`.

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn dashboard_shows_live_pool_data_in_headless_chromium() {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let suite = root().join("rpc/tests/dashboard");
    if !chromium.exists() {
        eprintln!(
            "skipped: no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        );
        return;
    }
    if !suite.join("node_modules/playwright-core").exists() {
        eprintln!(
            "skipped: {} has no node_modules (run `npm ci` there; needs nodejs and npm)",
            suite.display()
        );
        return;
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: no `node` on PATH (Node.js 20 or later runs the browser test)");
        return;
    }
    if otedama_node::devnet::litecoind_path().is_none() {
        if std::env::var_os("OTEDAMA_SKIP_DAEMON_TESTS").is_some() {
            eprintln!("skipped (OTEDAMA_SKIP_DAEMON_TESTS): litecoind is not installed");
            return;
        }
        panic!(
            "litecoind is not installed (apt-get install litecoind, or set OTEDAMA_SKIP_DAEMON_TESTS=1)"
        );
    }

    let data = tempfile::tempdir().expect("tempdir");
    let api = free_port();
    let log = std::fs::File::create(data.path().join("devnet.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args([
            "devnet",
            "--stratum",
            "127.0.0.1:0",
            "--api",
            &api.to_string(),
        ])
        .arg("--data-dir")
        .arg(data.path().join("devnet"))
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
            std::fs::read_to_string(data.path().join("devnet.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let screenshot = root().join("target/dashboard/dashboard.png");
    let out = Command::new("node")
        .args(["--test", "dashboard.test.mjs"])
        .current_dir(&suite)
        .env("OTEDAMA_DASHBOARD_URL", format!("http://{api}/"))
        .env("OTEDAMA_SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    drop(devnet);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dashboard test failed:\n{stdout}\n{stderr}\ndevnet log:\n{}",
        std::fs::read_to_string(data.path().join("devnet.log")).unwrap_or_default()
    );
    assert!(
        screenshot.exists(),
        "screenshot at {}",
        screenshot.display()
    );
    eprintln!("dashboard screenshot: {}", screenshot.display());
}
