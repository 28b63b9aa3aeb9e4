//! The monerod client against a real monerod on regtest (offline, loopback only, fixed
//! difficulty 1 so the template as given is a valid block): miner data, a template that
//! pays a wallet, a block submitted to every daemon and read back by height with the id
//! Otedama computes from the hashing blob, failover past a dead daemon, the daemon's own
//! errors, and `calc_pow`.

use otedama_node::parent::ParentError;
use otedama_node::parent::monero::MonerodClient;
use otedama_node::parent::monero_zmq::{self, MoneroEvent};
use otedama_sharechain::monero::hash::keccak256;
use otedama_sharechain::monero::varint::write_varint;
use std::time::{Duration, Instant};

#[path = "support/monerod.rs"]
#[allow(dead_code)]
mod monerod;
#[path = "../../testnet/src/skip.rs"]
#[allow(dead_code)]
mod skip;

use monerod::{free_port, monerod_path};

/// A mainnet-form address (regtest uses mainnet prefixes) generated offline.
const WALLET: &str = "48HfMc3JNky1399DpLdNH1BcUse1eTWGseX94a9UjV2BdfkM2cx3WZthQmgjGhfW8wVnPbvtyHXGTbeExuZFywfH9jwCyPF";

/// The Monero block id of a hashing blob: `keccak(varint len || blob)`.
fn block_id(hashing_blob: &[u8]) -> String {
    let mut buf = Vec::new();
    write_varint(&mut buf, hashing_blob.len() as u64);
    buf.extend_from_slice(hashing_blob);
    hex::encode(keccak256(&buf))
}

#[tokio::test]
async fn monerod_templates_blocks_headers_failover_and_errors() {
    let Some(_bin) = skip::or_skip(
        skip::MONERO,
        "monerod_templates_blocks_headers_failover_and_errors",
        monerod_path(),
        "install it with: sudo apt-get install monero (or set MONEROD)",
    ) else {
        return;
    };
    let (daemon, _dir) = monerod::start(1);
    let dead = format!("http://127.0.0.1:{}", free_port());
    // The dead daemon first: every call fails over to the live one.
    let client = MonerodClient::new(vec![dead.clone(), daemon.monerod_url.clone()]);
    let started = Instant::now();
    let data = loop {
        match client.miner_data().await {
            Ok(d) => break d,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("monerod did not answer within 60 s: {e}"),
        }
    };
    assert_eq!((data.major_version, data.height), (16, 1), "{data:?}");
    assert_eq!(data.difficulty, "0x1");
    // Subscribed well before the block below (the subscription connects in the
    // background, as soon as monerod's publisher listens).
    let mut events = monero_zmq::subscribe(&daemon.zmq).expect("zmq endpoint");
    assert!(monero_zmq::subscribe("udp://127.0.0.1:1").is_err());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let t = client.block_template(WALLET, 60).await.expect("template");
    assert_eq!(t.height, 1);
    assert_eq!(t.prev_hash, data.prev_id);
    assert!(t.reserved_offset > 0 && t.expected_reward > 0, "{t:?}");
    let hashing = hex::decode(&t.blockhashing_blob).expect("hex");

    // Fixed difficulty 1: the template as given is a valid block. The dead daemon fails,
    // the live one takes it.
    let answers = client.submit_block(&t.blocktemplate_blob).await;
    assert_eq!(answers.len(), 2);
    assert!(
        matches!(answers[0], Err(ParentError::Unreachable { .. })),
        "{answers:?}"
    );
    assert!(answers[1].is_ok(), "{answers:?}");
    let header = client.header_by_height(1).await.expect("header");
    assert_eq!(
        header.hash,
        block_id(&hashing),
        "Otedama's block id is monerod's"
    );
    assert_eq!(header.prev_hash, data.prev_id);
    assert_eq!(client.miner_data().await.expect("miner data").height, 2);
    // The block arrives as ZMQ wake-ups: miner data for height 2, and the new block id.
    let (mut next_height, mut new_ids) = (None, Vec::new());
    let woke = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(e) = events.recv().await {
            match e {
                MoneroEvent::MinerData(d) => next_height = Some(d.height),
                MoneroEvent::ChainMain(c) => new_ids.extend(c.ids),
            }
            if next_height == Some(2) && new_ids.contains(&header.hash) {
                return;
            }
        }
    })
    .await;
    assert!(
        woke.is_ok(),
        "zmq: miner data {next_height:?}, new blocks {new_ids:?}"
    );

    // The daemon's own errors come back by name and code.
    let bad = client.submit_block("00").await;
    match &bad[1] {
        Err(ParentError::Daemon { code, method, .. }) => {
            assert_eq!((*code, method.as_str()), (-6, "submit_block"));
        }
        other => panic!("expected a daemon error, got {other:?}"),
    }
    let err = client
        .block_template("9wviCeWe2D8XS82k2ovp5EUYLzBt9pYNW2LXUFsZiv8S3Mt21FZ5qQaAroko1enzw3eGr9qC7X1D7Geoo2RrAotYPx1iovY", 60)
        .await
        .expect_err("a testnet address on a mainnet-prefixed chain");
    assert!(err.to_string().contains("get_block_template"), "{err}");

    // calc_pow: a 32-byte RandomX hash of the block's hashing blob.
    let pow = client
        .calc_pow(16, 1, &t.blockhashing_blob, &t.seed_hash)
        .await
        .expect("calc_pow");
    assert_eq!(hex::decode(&pow).map(|b| b.len()).ok(), Some(32), "{pow}");
}
