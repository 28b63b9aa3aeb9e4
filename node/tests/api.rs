//! `otedama-node serve` with its API, metrics and health listeners, driven as an operator
//! would: the query commands, tokens, starting and stopping the built-in miner, the audit
//! log. No parent daemon runs (its URL refuses connections), so this needs no litecoind;
//! the dashboard test covers a node with live blocks.

use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ADDRESS: &str = "rltc1q5xs6rgdp5xs6rgdp5xs6rgdp5xs6rgdpr2wuvx";

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(args)
        .env_remove("OTEDAMA_LOG_LEVEL")
        .env_remove("OTEDAMA_API")
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Ports {
    stratum: SocketAddr,
    api: SocketAddr,
    metrics: SocketAddr,
    health: SocketAddr,
    dead: SocketAddr,
}

fn write_config(dir: &Path, p: &Ports) -> String {
    let yaml = format!(
        "app:\n  name: itest\n  data_dir: {data}\n  log_level: info\n\
         mining:\n  payout_address: {ADDRESS}\n  pool_urls: [\"stratum+tcp://{stratum}\"]\n  cpu:\n    threads: 1\n\
         pool:\n  address: {stratum}\n\
         api:\n  address: {api}\n\
         p2p:\n  listen: [\"/ip4/127.0.0.1/tcp/0\"]\n\
         monitoring:\n  metrics:\n    address: {metrics}\n  health:\n    address: {health}\n\
         chains:\n  - spec: ltc-regtest\n    daemons:\n      - url: http://{dead}\n        user: u\n        password: p\n",
        data = dir.join("data").display(),
        stratum = p.stratum,
        api = p.api,
        metrics = p.metrics,
        health = p.health,
        dead = p.dead,
    );
    let file = dir.join("node.yaml");
    std::fs::write(&file, yaml).expect("write config");
    file.to_str().expect("utf-8").to_owned()
}

async fn get(url: String) -> (u16, String) {
    let r = reqwest::get(url).await.expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn post(url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.json().await.expect("json"))
}

#[test]
fn an_operator_drives_a_running_node_through_its_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = Ports {
        stratum: free_port(),
        api: free_port(),
        metrics: free_port(),
        health: free_port(),
        dead: free_port(),
    };
    let config = write_config(dir.path(), &ports);
    let api = format!("http://{}", ports.api);

    // Nothing runs yet: a clear message and exit code 3.
    let out = node(&["status", "--api", &api]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no node answers at"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(node(&["status", "--api", "ftp://x"]).status.code(), Some(2));

    let child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["serve", "--config", &config])
        .env_remove("OTEDAMA_LOG_LEVEL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let serve = Serve(child);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{api}/api/status")).await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the API never came up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, status) = get(format!("{api}/api/status")).await;
        let status: Value = serde_json::from_str(&status).expect("json");
        assert_eq!(status["name"], "itest");
        assert_eq!(status["chain"], "ltc-regtest");
        assert_eq!(
            status["mining"]["running"], true,
            "the miner starts with the node"
        );
        assert_eq!(status["stratum"]["address"], ports.stratum.to_string());

        // Health: alive, but not ready without a parent template.
        let health = format!("http://{}", ports.health);
        assert_eq!(get(format!("{health}/healthz")).await.0, 200);
        let (code, body) = get(format!("{health}/readyz")).await;
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("no block template"), "{body}");

        // Metrics: the miner is on, and the dead daemon shows as parent RPC errors.
        let metrics = format!("http://{}/metrics", ports.metrics);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, text) = get(metrics.clone()).await;
            // libp2p's own metrics share the registry.
            if text.contains("otedama_mining_active 1")
                && text.contains("otedama_parent_rpc_errors_total{method=\"getblocktemplate\"}")
                && text.contains("otedama_libp2p_swarm_")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "metrics never showed it:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Operator actions need a token.
        let (code, body) = post(format!("{api}/api/mining/stop"), None).await;
        assert_eq!(code, 401, "{body}");
        assert_eq!(body["error"]["code"], "missing_token");
    });

    let out = node(&[
        "token", "create", "--config", &config, "--label", "itest", "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let token = created["token"].as_str().expect("token").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    let out = node(&["token", "list", "--config", &config]);
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&id) && listed.contains("itest") && listed.contains("valid"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "list never shows the secret");

    rt.block_on(async {
        let (code, body) = post(format!("{api}/api/mining/stop"), Some(&token)).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["mining"]["running"], false);
        assert_eq!(body["changed"], true);
        let (code, body) = post(format!("{api}/api/mining/start"), Some(&token)).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["mining"]["running"], true);
    });

    for cmd in ["status", "workers", "payouts", "peers", "shares"] {
        let out = node(&[cmd, "--api", &api]);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", text(&out.stderr));
        let out = node(&[cmd, "--api", &api, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("json output");
    }
    // The P2P listen addresses, with the peer id, in `status` and `peers`.
    let out = node(&["status", "--api", &api, "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("json output");
    let listen = status["p2p"]["listen"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let peer_id = status["p2p"]["peer_id"].as_str().unwrap_or_default();
    assert!(
        listen.starts_with("/ip4/127.0.0.1/tcp/") && listen.ends_with(&format!("/p2p/{peer_id}")),
        "{status}"
    );
    for cmd in ["status", "peers"] {
        let out = text(&node(&[cmd, "--api", &api]).stdout);
        assert!(
            out.contains(&format!("p2p listen  {listen}")),
            "{cmd}: {out}"
        );
    }
    // Peer actions go through the API with the token, and are checked by the node.
    let out = node(&[
        "peers",
        "ban",
        "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
        "--duration",
        "1h",
        "--api",
        &api,
        "--token",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ban: 12D3KooW"));
    let out = node(&[
        "peers",
        "unban",
        "not-a-peer-id",
        "--api",
        &api,
        "--token",
        &token,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid_peer_id"),
        "{}",
        text(&out.stderr)
    );
    let out = node(&["peers", "dial", "/ip4/127.0.0.1/tcp/1", "--api", &api]);
    assert_eq!(out.status.code(), Some(1), "no token");
    assert!(text(&out.stderr).contains("missing_token"));
    let out = node(&["shares", "--api", &api, "--per-page", "1000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid_query"),
        "{}",
        text(&out.stderr)
    );

    let out = node(&["token", "revoke", "--config", &config, &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = node(&["token", "revoke", "--config", &config, &id]);
    assert_eq!(out.status.code(), Some(2));
    rt.block_on(async {
        let (code, body) = post(format!("{api}/api/mining/stop"), Some(&token)).await;
        assert_eq!(code, 401);
        assert_eq!(body["error"]["code"], "revoked_token");
    });

    let audit = std::fs::read_to_string(dir.path().join("data/audit.log")).expect("audit log");
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json line");
            format!(
                "{}:{}",
                v["action"].as_str().unwrap_or(""),
                v["actor"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "token_create:cli".to_owned(),
            format!("mining_stop:token:{id}"),
            format!("mining_start:token:{id}"),
            // Attempts are recorded before the node checks them.
            format!("peer_ban:token:{id}"),
            format!("peer_unban:token:{id}"),
            "token_revoke:cli".to_owned(),
        ]
    );
    drop(serve);
}
