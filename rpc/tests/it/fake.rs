//! A node with fixed answers.

use otedama_rpc::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub struct Fake {
    pub events: broadcast::Sender<Event>,
    pub mining: AtomicBool,
    pub ready: Mutex<Vec<String>>,
    /// The peer actions the API passed on, as `dial ADDR`, `ban PEER SECS`, `unban PEER`.
    pub peer_actions: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            events: broadcast::channel(100_000).0,
            mining: AtomicBool::new(false),
            ready: Mutex::new(Vec::new()),
            peer_actions: Mutex::new(Vec::new()),
        })
    }

    fn record(&self, action: String) {
        if let Ok(mut a) = self.peer_actions.lock() {
            a.push(action);
        }
    }

    fn mining_state(&self) -> MiningState {
        MiningState {
            running: self.mining.load(Ordering::SeqCst),
            configured: true,
            payout_address: Some("rltc1qfake".into()),
            detail: None,
        }
    }
}

pub fn hashrate() -> Hashrate {
    Hashrate {
        pool: 1000.0,
        local: 400.0,
        miner: 100.0,
    }
}

pub fn sync() -> SyncState {
    SyncState {
        progress: 1.0,
        synced: true,
        height: Some(41),
        target_height: Some(41),
    }
}

impl NodeApi for Fake {
    fn status(&self) -> ApiFuture<'_, Status> {
        Box::pin(async move {
            Ok(Status {
                name: "fake".into(),
                version: "0.0.0".into(),
                chain: "ltc-regtest".into(),
                consensus_id: "ab".repeat(32),
                uptime_secs: 5,
                coin: Coin {
                    ticker: "LTC".into(),
                    decimals: 8,
                },
                sharechain: SharechainStatus {
                    height: Some(41),
                    tip: Some("cd".repeat(32)),
                    shares: 42,
                },
                parent: ParentStatus {
                    height: Some(200),
                    reachable: true,
                    template_age_secs: Some(1),
                },
                stratum: StratumStatus {
                    address: "127.0.0.1:3333".into(),
                    connections: 2,
                    fee: None,
                },
                hashrate: hashrate(),
                mining: self.mining_state(),
                peers: 0,
                p2p: P2pStatus {
                    peer_id: "12D3KooWfake".into(),
                    listen: vec!["/ip4/127.0.0.1/tcp/9333/p2p/12D3KooWfake".into()],
                },
                sync: sync(),
                solo: None,
            })
        })
    }

    fn stats(&self) -> ApiFuture<'_, Stats> {
        Box::pin(async move {
            Ok(Stats {
                uptime_secs: 5,
                stratum: StratumCounters {
                    accepted: 10,
                    rejected_stale: 1,
                    ..StratumCounters::default()
                },
                shares: ShareCounters {
                    accepted: 3,
                    rejected: 1,
                    ..ShareCounters::default()
                },
                blocks: BlockCounters::default(),
                hashrate: hashrate(),
                miner: None,
            })
        })
    }

    fn workers(&self) -> ApiFuture<'_, Vec<Worker>> {
        Box::pin(async move {
            Ok(vec![Worker {
                name: "rltc1qfake.rig1".into(),
                address: "rltc1qfake".into(),
                accepted: 3,
                rejected: 1,
                last_share_time: Some(1_700_000_000),
                hashrate: 400.0,
            }])
        })
    }

    fn peers(&self) -> ApiFuture<'_, Vec<Peer>> {
        Box::pin(async move { Ok(Vec::new()) })
    }

    fn shares(&self, page: PageRequest) -> ApiFuture<'_, SharePage> {
        Box::pin(async move {
            let total = 42u64;
            let top = total.saturating_sub(page.index * page.per_page);
            let shares = (0..page.per_page)
                .filter_map(|i| top.checked_sub(i + 1))
                .map(|h| ShareEntry {
                    hash: format!("{h:064x}"),
                    height: h,
                    time: 1_700_000_000 + h,
                    address: Some("rltc1qfake".into()),
                    script: "0014".into(),
                    difficulty: 0.5,
                    uncles: 0,
                    parent_block: "00".repeat(32),
                })
                .collect();
            Ok(SharePage {
                page: page.index + 1,
                per_page: page.per_page,
                total,
                shares,
            })
        })
    }

    fn payouts(&self, _finder: Option<String>) -> ApiFuture<'_, Payouts> {
        Box::pin(async move {
            Ok(Payouts {
                tip: Some("cd".repeat(32)),
                block_height: Some(201),
                reward_sat: 5_000_000_000,
                expected: vec![PayoutEntry {
                    address: Some("rltc1qfake".into()),
                    script: "0014".into(),
                    amount_sat: 5_000_000_000,
                }],
                coinbase: None,
                blocks: Vec::new(),
            })
        })
    }

    fn miner(&self, address: String) -> ApiFuture<'_, MinerView> {
        Box::pin(async move {
            if address != "rltc1qfake" {
                return Err(ApiError::bad_request(
                    "invalid_address",
                    format!("{address:?}: not an address of ltc-regtest"),
                ));
            }
            Ok(MinerView {
                address,
                chain: "ltc-regtest".into(),
                window: MinerWindowView {
                    shares: 3,
                    uncles: 1,
                    weight: "400".into(),
                    fraction: 0.25,
                    window_shares: 12,
                    window_miners: 4,
                    oldest_time: Some(1000),
                    newest_time: Some(1022),
                },
                expected: MinerExpected {
                    tip: Some("cd".repeat(32)),
                    block_height: Some(201),
                    reward_sat: 5_000_000_000,
                    amount_sat: 1_250_000_000,
                },
                hashrate: MinerHashrate {
                    sharechain: 16.0,
                    workers: 20.0,
                    series: vec![HashratePoint {
                        time: 1000,
                        hashrate: 16.0,
                    }],
                },
                workers: Vec::new(),
                payouts: Vec::new(),
                paid_sat: 0,
                pending_sat: 0,
                variance: MinerVariance {
                    pool_hashrate: 64.0,
                    miner_hashrate: 16.0,
                    expected_block_secs: Some(60.0),
                    expected_share_secs: Some(6.25),
                    expected_window_shares: 3.0,
                    window_shares_stddev: 3f64.sqrt(),
                },
            })
        })
    }

    fn chain(&self) -> ApiFuture<'_, ChainInfo> {
        Box::pin(async move { Err(ApiError::unavailable("node_busy", "busy")) })
    }

    fn history(&self, request: HistoryRequest) -> ApiFuture<'_, History> {
        Box::pin(async move {
            let step = request.range.resolution_secs();
            let mut series = std::collections::BTreeMap::new();
            for name in request.series {
                let per_miner = name.starts_with(MINER_SERIES_PREFIX)
                    || name.starts_with(WORKERS_SERIES_PREFIX);
                if per_miner && name != "miner:rltc1qfake" {
                    series.insert(name, Vec::new());
                    continue;
                }
                let points = (0..3u64)
                    .map(|i| (1_700_000_000 + i * step, i as f64))
                    .collect();
                series.insert(name, points);
            }
            Ok(History {
                series,
                resolution_secs: step,
            })
        })
    }

    fn start_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move {
            let was = self.mining.swap(true, Ordering::SeqCst);
            Ok((self.mining_state(), !was))
        })
    }

    fn stop_mining(&self) -> ApiFuture<'_, (MiningState, bool)> {
        Box::pin(async move {
            let was = self.mining.swap(false, Ordering::SeqCst);
            Ok((self.mining_state(), was))
        })
    }

    fn dial_peer(&self, address: String) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            if !address.starts_with('/') {
                return Err(ApiError::bad_request("invalid_address", "not a multiaddr"));
            }
            self.record(format!("dial {address}"));
            Ok(())
        })
    }

    fn ban_peer(&self, peer: String, duration: std::time::Duration) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            self.record(format!("ban {peer} {}", duration.as_secs()));
            Ok(())
        })
    }

    fn unban_peer(&self, peer: String) -> ApiFuture<'_, ()> {
        Box::pin(async move {
            self.record(format!("unban {peer}"));
            Ok(())
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn identity(&self) -> (String, String, String) {
        ("fake".into(), "0.0.0".into(), "ltc-regtest".into())
    }

    fn hashrate(&self) -> Hashrate {
        hashrate()
    }

    fn sync_state(&self) -> SyncState {
        sync()
    }

    fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            hashrate: hashrate(),
            stratum: StratumCounters {
                connections: 2,
                accepted: 10,
                rejected_stale: 1,
                ..StratumCounters::default()
            },
            shares: ShareCounters {
                accepted: 3,
                rejected: 1,
                ..ShareCounters::default()
            },
            blocks: BlockCounters {
                found: 1,
                accepted: 1,
                stale: 0,
                rejected: 0,
            },
            peers: 0,
            sharechain_height: Some(41),
            mining: self.mining.load(Ordering::SeqCst),
            uptime_secs: 5,
            devices: vec![MiningDevice {
                name: "asic:sim".into(),
                kind: "asic".into(),
                hashrate: 2.5e9,
                accepted: 7,
                hardware_errors: 2,
                temperature: Some(71.5),
                fans: vec![3600, 3720],
                chips: Some(4),
                status: "ok".into(),
                ..MiningDevice::default()
            }],
        }
    }

    fn readiness(&self) -> Readiness {
        Readiness::from_reasons(self.ready.lock().expect("lock").clone())
    }
}

/// A running API server over a fake node.
pub struct Server {
    pub fake: Arc<Fake>,
    pub server: ApiServer,
    pub dir: tempfile::TempDir,
    pub tokens: TokenStore,
    pub base: String,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn audit(&self) -> AuditLog {
        AuditLog::in_dir(self.dir.path())
    }
}

pub async fn start_with(auth: bool, edit: impl FnOnce(&mut ApiSettings)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = TokenStore::in_dir(dir.path());
    let mut settings = ApiSettings::new(
        "127.0.0.1:0".parse().expect("addr"),
        auth.then(|| tokens.clone()),
        Arc::new(AuditLog::in_dir(dir.path())),
    );
    edit(&mut settings);
    let fake = Fake::new();
    let server = ApiServer::start(settings, fake.clone() as Arc<dyn NodeApi>)
        .await
        .expect("api starts");
    let base = format!("http://{}", server.local_addr());
    Server {
        fake,
        server,
        dir,
        tokens,
        base,
    }
}

pub async fn start(auth: bool) -> Server {
    start_with(auth, |_| {}).await
}
