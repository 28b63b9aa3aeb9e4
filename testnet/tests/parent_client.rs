//! The node's parent-daemon client against a real litecoind: failover, and clear errors
//! naming the endpoint for a daemon that is down, refuses the credentials, has no
//! cookie or has no peers; and a node that keeps retrying and recovers.

use otedama_node::config::{ChainConfig, Config, DaemonConfig, Secret};
use otedama_node::parent::{ParentClient, ParentError};
use otedama_node::{Node, NodeEvent};
use otedama_testnet::LitecoinRegtest;
use otedama_testnet::skip::litecoind_or_skip;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

/// Turns the daemon's networking off and waits until it has no peer left.
fn isolate(d: &LitecoinRegtest) {
    d.rpc
        .call("setnetworkactive", json!([false]))
        .expect("network off");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while d.rpc.call("getconnectioncount", json!([])).expect("count") != json!(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "peer still connected after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn cookie(d: &LitecoinRegtest) -> DaemonConfig {
    DaemonConfig {
        url: d.rpc_url(),
        cookie_file: Some(d.cookie_path().to_path_buf()),
        user: None,
        password: None,
        zmq: None,
    }
}

fn chain(daemons: Vec<DaemonConfig>) -> ChainConfig {
    ChainConfig {
        spec: "ltc-regtest".into(),
        daemons,
    }
}

fn endpoints_named(e: &ParentError) -> String {
    e.to_string()
}

#[test]
fn failover_and_errors_name_the_endpoint() {
    let Some(d) = litecoind_or_skip("failover_and_errors_name_the_endpoint", &[]) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // Down first, real second: the template comes from the second.
        let down = closed_port_url();
        let down_cfg = DaemonConfig {
            url: down.clone(),
            ..cookie(&d)
        };
        let client = ParentClient::new(&chain(vec![down_cfg.clone(), cookie(&d)]), None).expect("client");
        let t = client.block_template(None).await.expect("failover to the live daemon");
        assert_eq!(t.endpoint, d.rpc_url());
        assert!(t.template.height >= 2);

        // Only the dead one: unreachable, naming it.
        let client = ParentClient::new(&chain(vec![down_cfg]), None).expect("client");
        let e = client.block_template(None).await.expect_err("nothing listens");
        assert!(matches!(&e, ParentError::AllFailed(v) if matches!(v[..], [ParentError::Unreachable { .. }])), "{e}");
        assert!(endpoints_named(&e).contains(&down), "{e}");

        // Wrong password.
        let wrong = DaemonConfig {
            url: d.rpc_url(),
            cookie_file: None,
            user: Some("__cookie__".into()),
            password: Some(Secret::new("wrong".to_string())),
            zmq: None,
        };
        let client = ParentClient::new(&chain(vec![wrong]), None).expect("client");
        let e = client.block_template(None).await.expect_err("bad credentials");
        assert!(matches!(&e, ParentError::AllFailed(v) if matches!(v[..], [ParentError::Auth { .. }])), "{e}");
        assert!(endpoints_named(&e).contains(&d.rpc_url()), "{e}");

        // Missing cookie file.
        let missing = DaemonConfig {
            cookie_file: Some("/nonexistent/.cookie".into()),
            ..cookie(&d)
        };
        let client = ParentClient::new(&chain(vec![missing]), None).expect("client");
        let e = client.block_template(None).await.expect_err("no cookie");
        assert!(endpoints_named(&e).contains("/nonexistent/.cookie"), "{e}");

        // No peers: litecoind 0.21.2 refuses templates with -9.
        isolate(&d);
        let client = ParentClient::new(&chain(vec![cookie(&d)]), None).expect("client");
        let e = client.block_template(None).await.expect_err("no peers");
        assert!(
            matches!(&e, ParentError::AllFailed(v) if matches!(v[..], [ParentError::Daemon { code: -9, .. }])),
            "{e}"
        );
    });
}

#[test]
fn node_keeps_retrying_and_recovers_when_the_daemon_returns() {
    let Some(d) = litecoind_or_skip(
        "node_keeps_retrying_and_recovers_when_the_daemon_returns",
        &[],
    ) else {
        return;
    };
    isolate(&d);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.app.data_dir = dir.path().to_path_buf();
    config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.pool.address = "127.0.0.1:0".parse().expect("addr");
    config.chains = vec![chain(vec![cookie(&d)])];
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let node = Node::start(&config, None)
            .await
            .expect("node starts without a usable daemon");
        let mut events = node.events();
        let unavailable = timeout(Duration::from_secs(20), async {
            loop {
                if let Ok(NodeEvent::ParentUnavailable(msg)) = events.recv().await {
                    return msg;
                }
            }
        })
        .await
        .expect("the node reports the daemon problem");
        assert!(
            unavailable.contains(&d.rpc_url()) && unavailable.contains("-9"),
            "{unavailable}"
        );

        // A miner connected meanwhile gets work as soon as the daemon is usable again.
        let stream = tokio::net::TcpStream::connect(node.stratum_addr())
            .await
            .expect("connect");
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        let addr = otedama_node::devnet::devnet_payouts(
            otedama_sharechain::ChainSpec::by_name("ltc-regtest").expect("spec"),
        )[0]
        .0
        .clone();
        let hello = format!(
            "{}\n{}\n",
            json!({"id": 1, "method": "mining.subscribe", "params": []}),
            json!({"id": 2, "method": "mining.authorize", "params": [addr, "x"]})
        );
        w.write_all(hello.as_bytes()).await.expect("write");
        d.rpc
            .call("setnetworkactive", json!([true]))
            .expect("network on");
        let notify = timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("mining.notify") {
                    return line;
                }
            }
            String::new()
        })
        .await
        .expect("work arrives after recovery");
        assert!(notify.contains("mining.notify"));
        node.stop().await;
    });
}
