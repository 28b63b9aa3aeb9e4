//! The built-in DAG client against the real server: a DAG listener fed by a test job
//! source on epoch 0, and `DagClient` mining with the CPU light hasher until the server
//! has accepted and forwarded its shares (EthereumStratum/1.0.0 and ETHPROXY on Ethash,
//! and KawPow).

use otedama_miner::{ClientDialect, DagClient, DagClientConfig};
use otedama_stratum::StratumConfig;
use otedama_stratum::dag::{
    DagAlgorithm, DagConfig, DagServer, DagTemplate, DagWork, DagWorkError, DagWorkSource,
    difficulty_to_boundary, meets,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

/// Cache builds (the server's and the client's) in a debug build, then a few shares.
const WAIT: Duration = Duration::from_secs(120);
/// One hash in four is a share.
const DIFFICULTY: f64 = 1.0 / (1u64 << 30) as f64;

struct Source(Arc<DagTemplate>);

impl DagWorkSource for Source {
    fn payout(&self, address: &str) -> Result<String, DagWorkError> {
        Ok(address.to_owned())
    }

    fn template_for(&self, _payout: &str) -> Result<Arc<DagTemplate>, DagWorkError> {
        Ok(self.0.clone())
    }
}

async fn mine(algorithm: DagAlgorithm, height: u64, dialect: ClientDialect) {
    let template = Arc::new(DagTemplate {
        height,
        header_hash: [0x77; 32],
        share_target: difficulty_to_boundary(DIFFICULTY),
        block_target: [0; 32],
        bits: 0,
    });
    let (_work, work_rx) = watch::channel(Some(DagWork {
        generation: 1,
        source: Arc::new(Source(template.clone())),
        clean: true,
    }));
    let (tx, mut submissions) = mpsc::channel(64);
    let mut dag = DagConfig::new(algorithm);
    dag.start_difficulty = DIFFICULTY;
    let config = StratumConfig {
        listen: "127.0.0.1:0".parse().expect("valid"),
        ..StratumConfig::default()
    };
    let server = DagServer::bind(config, dag, work_rx, tx).expect("binds");
    let addr = server.local_addr();
    let stats = server.stats();
    let (stop_server, server_stop) = watch::channel(false);
    let served = tokio::spawn(server.run(server_stop));

    let client = DagClient::new(DagClientConfig {
        host: "127.0.0.1".into(),
        port: addr.port(),
        user: "miner.rig".into(),
        password: "x".into(),
        algorithm,
        batch: 8,
        device: otedama_miner::DagDevice::Cpu,
        dialect,
    });
    let client_stats = client.stats();
    let (stop_client, client_stop) = watch::channel(false);
    let mining = tokio::spawn(client.run(client_stop));
    let mut got = Vec::new();
    while got.len() < 2 {
        let s = timeout(WAIT, submissions.recv())
            .await
            .expect("shares within the limit")
            .expect("channel open");
        got.push(s);
    }
    // The server recomputed each hash from its own light cache; the stratum tests
    // check that hasher against fixed nonces.
    for s in &got {
        assert_eq!(s.worker, "miner.rig");
        assert!(meets(&s.result, &template.share_target));
    }
    // The pool forwards a share before the client reads its answer: wait for both.
    let answered = tokio::time::Instant::now() + WAIT;
    while client_stats.accepted.load(Ordering::Relaxed) < 2
        && tokio::time::Instant::now() < answered
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The client stops first, as a rig would: a server closing its side would end the
    // client's session with an error instead.
    stop_client.send_replace(true);
    let ended = timeout(WAIT, mining)
        .await
        .expect("client stops")
        .expect("task");
    // Why the server dropped the client, if it did, is in its counters.
    if let Err(error) = ended {
        panic!("client ended with {error}; server: {:?}", stats.snapshot());
    }
    stop_server.send_replace(true);
    timeout(WAIT, served)
        .await
        .expect("server stops")
        .expect("task");
    let server_stats = stats.snapshot();
    assert!(server_stats.accepted >= 2);
    assert_eq!(
        server_stats.rejected_low_difficulty + server_stats.rejected_other,
        0
    );
    assert_eq!(client_stats.rejected.load(Ordering::Relaxed), 0);
    assert!(client_stats.accepted.load(Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereum_stratum_client_mines_accepted_shares() {
    mine(DagAlgorithm::Ethash, 1_000, ClientDialect::Stratum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethproxy_client_mines_accepted_shares() {
    mine(DagAlgorithm::Ethash, 1_000, ClientDialect::EthProxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kawpow_client_mines_accepted_shares() {
    mine(DagAlgorithm::Kawpow, 2_000, ClientDialect::Stratum).await;
}
