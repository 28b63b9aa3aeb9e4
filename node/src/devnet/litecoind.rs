//! A loopback-only Litecoin Core regtest pair. Node A serves RPC to the test; node B
//! exists because litecoind 0.21.2 refuses `getblocktemplate` without a peer.

use super::rpc::{RpcClient, RpcError};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to tell a user without litecoind.
pub const NOT_INSTALLED: &str = "litecoind not found. Install it with: sudo apt-get install litecoind (or set LITECOIND=/path/to/litecoind)";

/// Returns the litecoind binary: `$LITECOIND`, else Debian's real binary (not the
/// `/usr/bin/litecoind` wrapper, which writes a config into the home directory).
pub fn litecoind_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LITECOIND") {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    ["/usr/lib/litecoin/litecoind", "/usr/local/bin/litecoind"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running regtest pair; both daemons are killed on drop.
pub struct LitecoinRegtest {
    a: Child,
    b: Child,
    /// RPC client of node A (cookie auth).
    pub rpc: RpcClient,
    /// RPC address of node A.
    pub rpc_addr: SocketAddr,
    cookie: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Drop for LitecoinRegtest {
    fn drop(&mut self) {
        for c in [&mut self.a, &mut self.b] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl LitecoinRegtest {
    /// Starts the pair in a temporary directory; see [`LitecoinRegtest::start_in`].
    ///
    /// # Errors
    /// As [`LitecoinRegtest::start_in`].
    pub fn start(extra_args: &[&str]) -> Result<Self, String> {
        Self::start_in(None, extra_args)
    }

    /// Starts the pair with data under `base` (a temporary directory if `None`) and
    /// `extra_args` on both nodes, waits for RPC and the peer connection, and mines one
    /// block so the chain leaves initial block download.
    ///
    /// # Errors
    /// A missing binary, a daemon that exits, or RPC that does not come up in 60 s.
    pub fn start_in(base: Option<&Path>, extra_args: &[&str]) -> Result<Self, String> {
        let bin = litecoind_path().ok_or(NOT_INSTALLED)?;
        let temp = match base {
            Some(_) => None,
            None => Some(tempfile::tempdir().map_err(|e| e.to_string())?),
        };
        let root: PathBuf = match (&temp, base) {
            (Some(t), _) => t.path().to_path_buf(),
            (None, Some(b)) => b.to_path_buf(),
            (None, None) => return Err("no data directory".into()),
        };
        let port = |_| free_port().map_err(|e| e.to_string());
        let (rpc_a, p2p_b, rpc_b, onion_b) = (port(0)?, port(1)?, port(2)?, port(3)?);
        let common = [
            "-regtest",
            "-server=1",
            "-printtoconsole=0",
            "-discover=0",
            "-dnsseed=0",
            "-upnp=0",
            "-listenonion=0",
            "-rpcbind=127.0.0.1",
            "-rpcallowip=127.0.0.1",
            "-fallbackfee=0.0001",
        ];
        let spawn = |args: Vec<String>| -> Result<Child, String> {
            Command::new(&bin)
                .args(common)
                .args(extra_args)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", bin.display()))
        };
        let (da, db) = (root.join("litecoind-a"), root.join("litecoind-b"));
        for d in [&da, &db] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        let b = spawn(vec![
            format!("-datadir={}", db.display()),
            "-listen=1".into(),
            format!("-bind=127.0.0.1:{p2p_b}"),
            format!("-bind=127.0.0.1:{onion_b}=onion"),
            format!("-rpcport={rpc_b}"),
            "-disablewallet".into(),
        ])?;
        let a = match spawn(vec![
            format!("-datadir={}", da.display()),
            "-listen=0".into(),
            format!("-connect=127.0.0.1:{p2p_b}"),
            format!("-rpcport={rpc_a}"),
        ]) {
            Ok(a) => a,
            Err(e) => {
                let mut b = b;
                let _ = b.kill();
                return Err(e);
            }
        };
        let rpc_addr: SocketAddr = ([127, 0, 0, 1], rpc_a).into();
        let mut net = Self {
            a,
            b,
            rpc: RpcClient::new(rpc_addr, ""),
            rpc_addr,
            cookie: da.join("regtest/.cookie"),
            _temp: temp,
        };
        let cookie = net.cookie.clone();
        net.wait_ready(&cookie)?;
        net.rpc
            .call("generatetodescriptor", json!([1, "raw(51)"]))
            .map_err(|e| e.to_string())?;
        Ok(net)
    }

    /// Returns the cookie file of node A.
    pub fn cookie_path(&self) -> &Path {
        &self.cookie
    }

    /// Returns the RPC URL of node A.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    fn wait_ready(&mut self, cookie: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.a.try_wait() {
                return Err(format!("litecoind exited during start: {status}"));
            }
            if let Ok(c) = std::fs::read_to_string(cookie) {
                self.rpc = RpcClient::new(self.rpc_addr, &c);
                if let Ok(n) = self.rpc.call("getconnectioncount", json!([]))
                    && n.as_u64().unwrap_or(0) >= 1
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("litecoind RPC or peer connection not ready after 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Calls `getblocktemplate` with the rules litecoind requires.
    ///
    /// # Errors
    /// RPC errors.
    pub fn block_template(&self) -> Result<Value, RpcError> {
        self.rpc
            .call("getblocktemplate", json!([{"rules": ["mweb", "segwit"]}]))
    }
}
