//! Three Monero sidechain nodes on one monerod (regtest, offline, loopback only), joined
//! in a libp2p mesh on the sidechain's consensus id. Each runs the built-in RandomX miner
//! for a wallet of its own that a real monero-wallet-rpc created; the third joins after the
//! first block and syncs the chain it missed. Shares reach every node by gossip and sync,
//! the three converge on one tip, and every block on monerod's main
//! chain pays each wallet, by its own view-key scan, exactly what PPLNS over the common
//! chain gives it: the miners of every node are paid.

use libp2p::multiaddr::Protocol;
use otedama_node::monero::{MoneroNode, MoneroP2p, MoneroSettings, MoneroStatus, parse_wallet};
use otedama_node::p2p::P2pSettings;
use otedama_node::parent::monero::MonerodClient;
use otedama_sharechain::monero::SidechainParams;
use otedama_stratum::StratumConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[path = "support/monerod.rs"]
#[allow(dead_code)]
mod monerod;
#[path = "../../testnet/src/skip.rs"]
#[allow(dead_code)]
mod skip;

use monerod::monerod_path;
use otedama_node::devnet::monero::{create_wallet, wallet_income};

/// monerod's block difficulty: above the share difficulty, so not every share is a block.
const MONERO_DIFFICULTY: u64 = 150;
/// Main-chain blocks the mesh must find.
const BLOCKS: usize = 3;
const NODES: usize = 3;

/// Waits until `f` holds for the statuses of all nodes.
async fn wait_all(
    nodes: &[MoneroNode],
    what: &str,
    within: Duration,
    f: impl Fn(&[MoneroStatus]) -> bool,
) -> Vec<MoneroStatus> {
    let deadline = Instant::now() + within;
    loop {
        let all: Vec<MoneroStatus> = nodes.iter().map(|n| n.status().borrow().clone()).collect();
        if f(&all) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until `node` has `peers` connected peers.
async fn wait_connected(node: &MoneroNode, peers: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.p2p().map_or(0, |m| m.connected()) < peers {
        assert!(Instant::now() < deadline, "{peers} peers connect to node 0");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Joins node's mesh as a bare peer, takes the node's tip share through sync, moves one
/// atomic unit between two of its outputs, re-seals it (merge-mining root, then proof of
/// work at the share's difficulty), announces it, and returns the node's score of the
/// peer once it fell below zero.
async fn announce_wrong_output(node: &MoneroNode, monerod: &MonerodClient) -> i32 {
    use otedama_node::p2p::protocol::{Request, Response};
    use otedama_sharechain::monero::{Hash, PoolShare, check_pow, params::seed_height};
    let params = SidechainParams::regtest();
    let mesh = node.p2p().expect("mesh");
    let target = mesh.local_peer_id();
    let listening = mesh.wait_listening(Duration::from_secs(10)).await;
    let addr = listening.first().expect("listening").clone();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let peer_settings = mesh_settings(vec![addr.with(Protocol::P2p(target))]);
    let mut registry = prometheus_client::registry::Registry::default();
    let peer = otedama_node::p2p::start(
        peer_settings.settings,
        peer_settings.key,
        &otedama_node::p2p::MeshChain::new(
            params.consensus_id,
            otedama_sharechain::monero::share::MAX_SHARE_SIZE,
        ),
        otedama_node::p2p::ServeSource::empty(
            otedama_sharechain::ChainSpec::by_name("ltc-regtest").expect("spec"),
        ),
        &mut registry,
        shutdown,
    )
    .expect("the peer joins");
    let (handle, mut events) = (peer.handle, peer.events);
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let me = handle.local_peer_id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.connected() == 0 {
        assert!(Instant::now() < deadline, "the peer connects");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tip = node.status().borrow().tip.clone().expect("a tip");
    let tip = *Hash::from_hex(&tip).expect("hex").as_bytes();
    let Ok(Response::Shares(shares)) = handle
        .request(target, Request::Shares { hashes: vec![tip] })
        .await
    else {
        panic!("the node serves its tip share");
    };
    let mut share = PoolShare::parse(&shares.first().expect("one share").share).expect("blob");
    assert!(share.outputs.len() >= 2, "the tip pays several miners");
    share.outputs[0].amount += 1;
    share.outputs[1].amount -= 1;
    let seed = monerod
        .header_by_height(seed_height(share.height))
        .await
        .expect("seed block")
        .hash;
    let flags = randomx_rs::RandomXFlag::get_recommended_flags();
    let cache =
        randomx_rs::RandomXCache::new(flags, &hex::decode(seed).expect("hex")).expect("cache");
    let vm = randomx_rs::RandomXVM::new(flags, Some(cache), None).expect("vm");
    let sealed = (0..100_000u32).any(|nonce| {
        share.nonce = nonce;
        share.merkle_root = share.merge_mining_root(&params.consensus_id);
        let hash: [u8; 32] = vm
            .calculate_hash(&share.hashing_blob())
            .expect("hash")
            .try_into()
            .expect("32 bytes");
        check_pow(&Hash::from_bytes(hash), share.difficulty)
    });
    assert!(sealed, "a nonce meets the share's difficulty");
    let mut payload = vec![1u8];
    payload.extend_from_slice(&share.serialize());
    // Gossipsub needs the node's subscription first: announce until the node judges it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        handle.publish(payload.clone());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let score = mesh
            .peers()
            .await
            .into_iter()
            .find(|p| p.id == me)
            .map_or(0, |p| p.score);
        if score < 0 {
            return score;
        }
        assert!(Instant::now() < deadline, "the node judges the share");
    }
}

fn mesh_settings(bootstrap: Vec<libp2p::Multiaddr>) -> MoneroP2p {
    MoneroP2p {
        settings: P2pSettings::loopback(bootstrap, "otedama-test"),
        key: libp2p::identity::Keypair::generate_ed25519(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_and_pay_the_miners_of_every_node() {
    let Some(_bin) = skip::or_skip(
        skip::MONERO,
        "three_nodes_converge_and_pay_the_miners_of_every_node",
        monerod_path(),
        "install it with: sudo apt-get install monero (or set MONEROD)",
    ) else {
        return;
    };
    let (daemon, _daemon_dir, client) = monerod::start_ready(MONERO_DIFFICULTY).await;
    let wallets = MonerodClient::new(vec![daemon.wallet_url.clone()]);
    let mut addresses = Vec::new();
    for i in 0..NODES {
        addresses.push(
            create_wallet(&wallets, &format!("w{i}"))
                .await
                .expect("wallet"),
        );
    }

    // Nodes 0 and 1 mine from the start; node 2 joins after a block and must sync the
    // chain it missed. Nodes 1 and 2 bootstrap from node 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = |i: usize, bootstrap: Vec<libp2p::Multiaddr>| MoneroSettings {
        params: SidechainParams::regtest(),
        daemons: vec![daemon.monerod_url.clone()],
        zmq: Some(daemon.zmq.clone()),
        poll_interval: Duration::from_millis(500),
        store: dir.path().join(format!("n{i}")).join("sidechain"),
        wallet: parse_wallet(&addresses[i]).expect("wallet"),
        stratum: StratumConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..StratumConfig::default()
        },
        p2p: Some(mesh_settings(bootstrap)),
        dataset: None,
    };
    let (stop_miners, stopped) = tokio::sync::watch::channel(false);
    let mut miners = Vec::new();
    let mut stats = Vec::new();
    let mut start_miner = |node: &MoneroNode, address: &str| {
        let s = Arc::new(otedama_miner::xmrig::XmrigMinerStats::default());
        miners.push(tokio::spawn(otedama_miner::xmrig::run(
            otedama_miner::xmrig::XmrigMinerConfig {
                pool: node.stratum_addr().to_string(),
                login: address.to_owned(),
                threads: 1,
                priority: otedama_miner::ThreadPriority::Normal,
                affinity: otedama_miner::CpuAffinity::default(),
                mode: otedama_miner::randomx::RandomxMode::Light,
                vm: otedama_miner::randomx::VmEngine::Auto,
                dataset: None,
            },
            Arc::clone(&s),
            stopped.clone(),
        )));
        stats.push(s);
    };
    let first = MoneroNode::start(settings(0, Vec::new()))
        .await
        .expect("node starts");
    let bootstrap = {
        let mesh = first.p2p().expect("the node joined the mesh");
        let listening = mesh.wait_listening(Duration::from_secs(10)).await;
        let addr = listening.first().expect("listening").clone();
        vec![addr.with(Protocol::P2p(mesh.local_peer_id()))]
    };
    let second = MoneroNode::start(settings(1, bootstrap.clone()))
        .await
        .expect("node starts");
    let mut nodes = vec![first, second];
    wait_connected(&nodes[0], 1).await;
    start_miner(&nodes[0], &addresses[0]);
    start_miner(&nodes[1], &addresses[1]);
    let before = wait_all(&nodes, "a first block", Duration::from_secs(300), |all| {
        all.iter().any(|s| s.blocks.iter().any(|b| b.accepted))
    })
    .await;
    nodes.push(
        MoneroNode::start(settings(2, bootstrap))
            .await
            .expect("node starts"),
    );
    wait_connected(&nodes[0], 2).await;
    start_miner(&nodes[2], &addresses[2]);
    // The late node takes the chain it missed from its peer's tip.
    wait_all(
        &nodes,
        "the late node synced",
        Duration::from_secs(120),
        |all| all[2].shares >= before[0].shares && all[2].tip.is_some(),
    )
    .await;

    // Blocks from any node count; two of one height are a lost race, so heights count.
    wait_all(
        &nodes,
        "blocks accepted by monerod, shares from every node",
        Duration::from_secs(300),
        |all| {
            let heights: BTreeSet<u64> = all
                .iter()
                .flat_map(|s| s.blocks.iter().filter(|b| b.accepted).map(|b| b.height))
                .collect();
            heights.len() >= BLOCKS && all.iter().all(|s| s.accepted >= 2)
        },
    )
    .await;
    let _ = stop_miners.send(true);
    for m in miners {
        m.await.expect("miner");
    }
    for (i, s) in stats.iter().enumerate() {
        assert!(
            s.accepted.load(Ordering::Relaxed) > 0,
            "node {i}'s miner found shares"
        );
    }
    // With the miners stopped, the last announcements settle: every node holds the same
    // shares and a tip of the same cumulative difficulty. Two shares of one height that
    // met at once may stay split, each node keeping the one it saw first, until a next
    // share builds on one of them (P2Pool's rule); with the miners stopped none comes.
    let settled = wait_all(
        &nodes,
        "the same shares and the same chain work on every node",
        Duration::from_secs(60),
        |all| {
            all[0].tip.is_some()
                && all
                    .iter()
                    .all(|s| s.shares == all[0].shares && s.chain_work == all[0].chain_work)
        },
    )
    .await;
    let found: Vec<_> = settled.iter().flat_map(|s| s.blocks.clone()).collect();
    // A peer announcing a share that pays the wrong amounts is refused and loses score,
    // and the share changes nothing.
    let score = announce_wrong_output(&nodes[0], &client).await;
    assert!(score <= -50, "the announcing peer's score: {score}");
    assert_eq!(nodes[0].status().borrow().tip, settled[0].tip);
    for node in nodes {
        node.stop().await;
    }

    // Every block of the nodes that monerod keeps on its main chain pays each wallet
    // exactly the PPLNS split over node 0's chain, which holds every node's shares.
    let chain = monerod::StoredChain::open(&dir.path().join("n0").join("sidechain"));
    let mut income = Vec::new();
    for i in 0..NODES {
        income.push(
            wallet_income(&wallets, &format!("w{i}"))
                .await
                .expect("wallet scan"),
        );
    }
    let mut paid: BTreeMap<usize, u64> = BTreeMap::new();
    let mut checked = BTreeSet::new();
    for b in found.iter().filter(|b| b.accepted) {
        let main = client.header_by_height(b.height).await.expect("by height");
        if main.hash != b.id || !checked.insert(b.height) {
            continue;
        }
        let (height, reward, split) = chain.split(&b.share);
        let mut total = 0;
        for (i, address) in addresses.iter().enumerate() {
            let got = income[i].get(&height).copied().unwrap_or(0);
            let expected = split.get(address).copied().unwrap_or(0);
            assert_eq!(
                got,
                expected,
                "wallet {i} at height {height}, block {} of share {}: PPLNS {split:?}; blocks \
                 at this height {:?}; each wallet's income {income:?}",
                b.id,
                b.share,
                found
                    .iter()
                    .filter(|f| f.height == b.height)
                    .collect::<Vec<_>>(),
            );
            *paid.entry(i).or_default() += got;
            total += got;
        }
        assert_eq!(total, reward, "the three miners share the whole reward");
    }
    assert!(checked.len() >= BLOCKS, "main-chain blocks: {checked:?}");
    for i in 0..NODES {
        assert!(
            paid.get(&i).copied().unwrap_or(0) > 0,
            "node {i}'s miner was paid: {paid:?}"
        );
    }
    drop(daemon);
}
