//! The configuration the product README shows (`tests/data/readme-config.yaml`, verbatim)
//! and its log file, tried as a new user would, through the binary.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("data/readme-config.yaml");

#[test]
fn config_check_passes_the_readme_config_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, README).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["config", "check", file.to_str().expect("utf-8 path")])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Two doubts, not errors: a fee with no address to pay it to, and a window
    // checked against the default chain.
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings.iter().all(|w| w.starts_with("warning: ")),
        "{stderr}"
    );
}

/// Waits until the file at `path` holds `needle`, for at most 20 s.
fn wait_for(path: &Path, needle: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains(needle)
        {
            return Some(text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn production_mode_writes_json_lines_to_logs_otedama_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The README's file plus what it cannot guess (the chain whose window is its 2h, a
    // daemon that is not there, so the node runs and retries, and a payout address), with
    // its listeners moved to free loopback ports.
    let config = README
        .replacen("app:\n", "app:\n  data_dir: ./data\n", 1)
        .replace(
            "  enable_cpu: true\n",
            "  enable_cpu: true\n  payout_address: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n",
        )
        .replace("\"0.0.0.0:3333\"", "\"127.0.0.1:0\"")
        .replace("\"0.0.0.0:8080\"", "\"127.0.0.1:0\"")
        .replace("\"0.0.0.0:9090\"", "\"127.0.0.1:0\"")
        .replace("\"0.0.0.0:8081\"", "\"127.0.0.1:0\"")
        + "p2p:\n  listen: [\"/ip4/127.0.0.1/tcp/0\"]\n"
        + "chains:\n  - spec: btc-mini\n    daemons: [{ url: \"http://127.0.0.1:1\", user: u, password: p }]\n";
    assert!(config.contains("    window: 2h\n"));
    std::fs::write(dir.path().join("config.yaml"), config).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["serve", "--config", "config.yaml"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let log = dir.path().join("logs/otedama.log");
    let text = wait_for(&log, "\"serving\"");
    let _ = child.kill();
    let _ = child.wait();
    let text = text.expect("the node logs `serving` to logs/otedama.log");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
    }
    assert!(text.contains("\"mode\":\"production\""), "{text}");
}
