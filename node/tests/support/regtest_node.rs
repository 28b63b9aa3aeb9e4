//! The configuration of a node on `ltc-regtest` over a test's litecoind: data in
//! `data_dir`, P2P and Stratum on free loopback ports, scrypt mining.

use otedama_node::config::{ChainConfig, Config, DaemonConfig, MiningAlgorithm};
use otedama_node::devnet::LitecoinRegtest;
use std::path::Path;

pub fn config(daemon: &LitecoinRegtest, data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.app.data_dir = data_dir.to_path_buf();
    config.p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.pool.address = "127.0.0.1:0".parse().expect("addr");
    config.mining.algorithm = MiningAlgorithm::Scrypt;
    config.chains = vec![ChainConfig {
        spec: "ltc-regtest".into(),
        daemons: vec![DaemonConfig {
            url: daemon.rpc_url(),
            cookie_file: Some(daemon.cookie_path().to_path_buf()),
            user: None,
            password: None,
            zmq: None,
        }],
    }];
    config
}
