//! Runs the `otedama-node` binary as an operator would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.yaml")
}

fn node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(args)
        .env_remove("OTEDAMA_LOG_LEVEL")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_config(dir: &tempfile::TempDir, yaml: &str) -> String {
    let file = dir.path().join("node.yaml");
    std::fs::write(&file, yaml).expect("write config");
    file.to_str().expect("utf-8 temp path").to_owned()
}

#[test]
fn config_check_accepts_the_example() {
    let file = example();
    let file = file.to_str().expect("utf-8 path");
    let out = node(&["config", "check", file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("ok: {file}\n"));
    assert_eq!(stderr(&out), "");
}

#[test]
fn config_check_reports_every_issue_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(
        &dir,
        "mining:\n  gpu:\n    intensity: 40\npool:\n  fee_percentage: 12\n",
    );
    let out = node(&["config", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        "mining.gpu.intensity (line 3): must be between 1 and 31, got 40"
    );
    assert!(
        lines[1].starts_with("pool.fee_percentage (line 5): must be between 0 and 10"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn config_check_reports_an_unknown_key_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(&dir, "mining:\n  gpu:\n    intensty: 20\n");
    let out = node(&["config", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "mining.gpu.intensty (line 3): unknown key \"intensty\"; did you mean mining.gpu.intensity?"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_check_reports_bounds_as_issues_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut yaml = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        yaml.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
    }
    let file = write_config(&dir, &yaml);
    let out = node(&["config", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("aliases (*name) expand the config beyond the limit of"),
        "{}",
        stderr(&out)
    );
    let file = write_config(&dir, "app:\n  data_dir: \"/srv/ote\\0dama\"\n");
    let out = node(&["config", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "app.data_dir (line 2): must not contain control characters, got U+0000 at byte 8\n"
    );
}

#[test]
fn config_check_exits_2_on_an_unreadable_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.yaml");
    let out = node(&["config", "check", missing.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("cannot read "), "{}", stderr(&out));
}

#[test]
fn config_check_json_parses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(&dir, "chains:\n  - spec: foo\n    daemons: []\n");
    let out = node(&["config", "check", "--json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
    assert_eq!(report["ok"], false);
    let paths: Vec<&str> = report["issues"]
        .as_array()
        .expect("issues array")
        .iter()
        .map(|i| i["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["chains[0].spec", "chains[0].daemons"]);
    assert_eq!(report["issues"][0]["line"], 2);
    assert!(
        report["issues"][0]["message"]
            .as_str()
            .expect("message")
            .starts_with("unknown chain spec \"foo\"; known: ltc-main")
    );

    let example = example();
    let out = node(&[
        "config",
        "check",
        "--json",
        example.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
    assert_eq!(
        report,
        serde_json::json!({ "ok": true, "issues": [], "warnings": [] })
    );
}

#[test]
fn chains_json_lists_the_specs() {
    let out = node(&["chains", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let chains: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json list");
    let regtest = chains
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"] == "ltc-regtest")
        .expect("ltc-regtest listed");
    assert_eq!(regtest["algorithm"], "scrypt");
    assert!(regtest["share_period_secs"].as_u64().is_some());
    assert!(regtest["window_max_shares"].as_u64().is_some());
    let id = regtest["consensus_id"].as_str().expect("consensus id");
    assert_eq!(id.len(), 64);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    // P2Pool's main sidechain, with the consensus id P2Pool hard-codes.
    let main = chains
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["name"] == "xmr-main")
        .expect("xmr-main listed");
    assert_eq!(main["algorithm"], "randomx");
    assert_eq!(
        main["consensus_id"],
        "22af7ee7b50b6892e399da6b2c6c4427b25104d4a9048e00b16e9df04407f918"
    );
}

#[test]
fn chains_prints_a_table() {
    let out = node(&["chains"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ltc-main ")), "{text}");
}

#[test]
fn devnet_without_litecoind_names_the_install_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["devnet", "--blocks", "1", "--stratum", "127.0.0.1:0"])
        .env("LITECOIND", "/nonexistent/litecoind")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("apt-get install litecoind"), "{err}");
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "pool:\n  fee_percentage: 12\n").expect("write");
    let out = node(&["serve", "--config", bad.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("pool.fee_percentage"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keygen_creates_the_node_key_once_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let first = node(&["keygen", "--data-dir", data, "--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    assert_eq!(first["created"], true);
    let id = first["peer_id"].as_str().expect("peer id").to_owned();
    assert!(id.starts_with("12D3KooW"), "{id}");
    let key = dir.path().join("data").join("node.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key).expect("key file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The Stratum V2 authority key, in the form SV2 clients pin.
    assert_eq!(first["sv2_created"], true);
    let authority = first["sv2_authority_pubkey"]
        .as_str()
        .expect("sv2 key")
        .to_owned();
    assert!(
        otedama_stratum::sv2::noise::decode_public(&authority).is_ok(),
        "{authority}"
    );
    let sv2_key = dir.path().join("data").join("sv2_authority.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sv2_key)
            .expect("sv2 key file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let again = node(&["keygen", "--data-dir", data]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let out = stdout(&again);
    assert!(out.contains(&id) && out.contains("existing"), "{out}");
    assert!(out.contains(&authority), "{out}");

    std::fs::write(&key, b"garbage").expect("write");
    let bad = node(&["keygen", "--data-dir", data]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("not a libp2p key"),
        "{}",
        stderr(&bad)
    );
}

/// `devices` finds PoCL's CPU device where PoCL is installed (CI) and lists it as one the
/// node does not mine on by itself; a machine without OpenCL gets the reason instead.
#[test]
fn devices_lists_the_hardware_as_json_and_text() {
    let out = node(&["devices", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let kernels = report["cpu"]["sha256d"].as_array().expect("kernel list");
    assert!(kernels.iter().any(|k| k == "cpu-portable"), "{report}");
    let opencl = &report["opencl"];
    if opencl["unavailable"].is_null() {
        let devices = opencl["devices"].as_array().expect("device list");
        assert!(!devices.is_empty(), "{report}");
        for d in devices.iter().filter(|d| d["kind"] == "cpu") {
            assert_eq!(d["auto"], false, "{d}");
            assert!(d["pci"].is_null(), "{d}");
            assert!(d["sensor"].is_null(), "{d}");
        }
    } else {
        assert!(
            opencl["unavailable"]
                .as_str()
                .is_some_and(|s| s.starts_with("OpenCL unavailable")),
            "{report}"
        );
    }
    assert!(report["cuda"]["unavailable"].is_string() || report["cuda"]["devices"].is_array());

    let out = node(&["devices"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("cpu: "), "{text}");
    assert!(text.contains("sha256d kernels: "), "{text}");
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn status_stops_reading_an_endless_answer_at_the_limit() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
        while stream.write_all(chunk.as_bytes()).is_ok() {}
    });
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["status", "--api", &api])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut peak = 0;
    while child.try_wait().expect("status").is_none() {
        peak = peak.max(rss_kib(child.id()).unwrap_or(0));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "still reading after 8 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("larger than the limit of 8388608 bytes"),
        "{err}"
    );
    assert!(peak < 256 * 1024, "peak resident memory {peak} KiB");
}

/// Returns a file of the sharechain crate's Monero conformance data.
fn monero_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sharechain/tests/data/monero")
        .join(name)
}

#[test]
fn sidechain_verify_checks_the_real_main_sidechain() {
    // The compressed dump, read as it is.
    let file = monero_data("sidechain_dump.dat.xz");
    let out = node(&[
        "sidechain",
        "verify",
        "--chain",
        "xmr-main",
        file.to_str().expect("utf-8 temp path"),
        "--shuffle",
        "7",
        "--monero-difficulty",
        "625461936742",
        "--wallet",
        "44MnN1f3Eto8DZYUWuE5XZNUtE3vcRzt2j6PzqWpPau34e6Cf4fAxt6X2MBmrm6F9YMEiMNjN6W4Shn4pLcfNAja621jwyg",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(v["tip"]["sidechain_height"], 11_704_382);
    assert_eq!(v["tip"]["monero_height"], 3_456_189);
    assert_eq!(v["tip"]["id"].as_str().map(str::len), Some(64));
    assert_eq!(
        (
            v["valid"].clone(),
            v["invalid"].clone(),
            v["unverified"].clone()
        ),
        (4543.into(), 0.into(), 0.into())
    );
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(0));
    let payees = v["next_payees"].as_array().expect("payees");
    assert_eq!(payees.len(), 53);
    assert!(
        payees
            .iter()
            .all(|p| p["address"].as_str().is_some_and(|a| a.len() == 95) && p["amount"].is_u64())
    );
}

#[test]
fn sidechain_verify_reports_invalid_shares_and_fails() {
    let block = std::fs::read(monero_data("block.dat")).expect("block.dat");
    let mut bad = block.clone();
    let n = bad.len();
    bad[n - 40] ^= 1;
    let mut dump = Vec::new();
    for b in [&block, &bad] {
        dump.extend_from_slice(&u32::try_from(b.len()).expect("small").to_le_bytes());
        dump.extend_from_slice(b);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("two.dat");
    std::fs::write(&file, &dump).expect("write dump");
    let path = file.to_str().expect("utf-8 temp path");
    let out = node(&["sidechain", "verify", path, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(
        (
            v["valid"].clone(),
            v["invalid"].clone(),
            v["unverified"].clone()
        ),
        (0.into(), 1.into(), 1.into())
    );
    assert_eq!(v["errors"][0]["index"], 1);
    assert_eq!(v["errors"][0]["rule"], "merkle-proof");
    assert!(v["tip"].is_null());
    let text = node(&["sidechain", "verify", path]);
    assert_eq!(text.status.code(), Some(1));
    assert!(
        stdout(&text).contains("1 invalid, 1 unverified"),
        "{}",
        stdout(&text)
    );
    assert!(
        stdout(&text).contains("invalid #1 -: merkle-proof"),
        "{}",
        stdout(&text)
    );
    // Unreadable input is a usage error.
    let missing = node(&["sidechain", "verify", "/nonexistent/dump.dat"]);
    assert_eq!(missing.status.code(), Some(2));
    std::fs::write(&file, [1, 2]).expect("write");
    let truncated = node(&["sidechain", "verify", path]);
    assert_eq!(truncated.status.code(), Some(2));
    std::fs::write(&file, [0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2, 3]).expect("write");
    let bad_xz = node(&["sidechain", "verify", path]);
    assert_eq!(bad_xz.status.code(), Some(2));
    assert!(
        stderr(&bad_xz).contains("cannot decompress"),
        "{}",
        stderr(&bad_xz)
    );
}

#[test]
fn otedama_gen_renders_completions_and_man_pages_the_node_does_not() {
    let out = Command::new(env!("CARGO_BIN_EXE_otedama-gen"))
        .args(["completions", "bash"])
        .output()
        .expect("otedama-gen runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(
        script.contains("otedama-node") && script.contains("serve"),
        "{script}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_otedama-gen"))
        .arg("man")
        .output()
        .expect("otedama-gen runs");
    assert!(
        stdout(&out).contains(".TH otedama-node"),
        "{}",
        stdout(&out)
    );
    assert_eq!(node(&["generate", "man"]).status.code(), Some(2));
}
