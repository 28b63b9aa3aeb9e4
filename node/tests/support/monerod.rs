//! monerod and monero-wallet-rpc on regtest for tests, through the devnet's own
//! `MoneroRegtest` (offline, loopback only, in a temporary directory).

use otedama_node::devnet::monero::MoneroRegtest;
use std::net::TcpListener;
use std::path::PathBuf;

/// Returns a free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The monerod binary: `$MONEROD`, else `/usr/bin/monerod`.
pub fn monerod_path() -> Result<PathBuf, String> {
    std::env::var_os("MONEROD")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/monerod")))
        .filter(|p| p.exists())
        .ok_or_else(|| "monerod not found".to_owned())
}

/// Starts monerod at a fixed `difficulty` and monero-wallet-rpc in a temporary directory
/// (removed when the returned guard drops, after the daemons).
pub fn start(difficulty: u64) -> (MoneroRegtest, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let regtest = MoneroRegtest::start_in(dir.path(), difficulty).expect("monerod starts");
    (regtest, dir)
}

/// Starts monerod and monero-wallet-rpc (as [`start`]) and waits until monerod answers
/// `get_miner_data`; returns them with a client of monerod.
pub async fn start_ready(
    difficulty: u64,
) -> (
    MoneroRegtest,
    tempfile::TempDir,
    otedama_node::parent::monero::MonerodClient,
) {
    let (regtest, dir) = start(difficulty);
    let client =
        otedama_node::parent::monero::MonerodClient::new(vec![regtest.monerod_url.clone()]);
    let started = std::time::Instant::now();
    while client.miner_data().await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "monerod answers within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    (regtest, dir, client)
}

/// A node's stored sidechain, read back after the node stopped: what PPLNS pays in the
/// block of each share, computed here from the shares alone.
pub struct StoredChain(otedama_sharechain::monero::SideChain);

impl StoredChain {
    /// Loads every share of the sled database at `path` (a stopped node's store).
    pub fn open(path: &std::path::Path) -> Self {
        use otedama_sharechain::monero::{FixedDifficulty, NoPowCheck, SideChain, SidechainParams};
        let mut chain = SideChain::new(
            SidechainParams::regtest(),
            Box::new(FixedDifficulty(1)),
            Box::new(NoPowCheck),
        );
        let db = sled::open(path).expect("store");
        for item in db.open_tree("shares").expect("tree").iter() {
            let (_, blob) = item.expect("read");
            chain.add_blob(&blob).expect("stored share");
        }
        Self(chain)
    }

    /// The Monero height of share `id` (hex), its total reward, and what its block pays
    /// each address by the PPLNS window, the shuffle and the split.
    pub fn split(&self, id: &str) -> (u64, u64, std::collections::BTreeMap<String, u64>) {
        use otedama_sharechain::monero::pplns::{ShareLookup, WindowTip, shuffle, window_weights};
        use otedama_sharechain::monero::sidechain::payouts;
        use otedama_sharechain::monero::{Hash, MoneroNetwork};
        let params = self.0.params();
        let id = Hash::from_hex(id).expect("id");
        let share = self.0.share(&id).expect("the block's share is stored");
        let tip = WindowTip {
            height: share.sidechain_height,
            difficulty: share.difficulty,
            wallet: share.wallet,
            uncles: share.uncles.clone(),
            parent: share.parent,
            timestamp: share.timestamp,
        };
        let mut weights = window_weights(
            &self.0,
            &tip,
            u128::MAX,
            params.window,
            params.uncle_penalty,
        )
        .expect("window");
        shuffle(&mut weights, &share.tx_key_seed);
        let mut split = std::collections::BTreeMap::new();
        for (wallet, amount) in payouts(&weights, share.total_reward()).expect("split") {
            *split
                .entry(wallet.address(MoneroNetwork::Mainnet))
                .or_default() += amount;
        }
        (share.height, share.total_reward(), split)
    }
}
