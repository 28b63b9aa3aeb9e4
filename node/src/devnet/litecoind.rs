//! A loopback-only Litecoin Core regtest pair. Node A serves RPC to the test; node B
//! exists because litecoind 0.21.2 refuses `getblocktemplate` without a peer.
//!
//! The daemons die with the process that started them (see [`super::process`]); each
//! records its pid in its data directory, and a daemon still running from an earlier
//! start on the same directories is stopped before new ones start.

use super::process::{self, Holder, Spawner};
use super::rpc::{RpcClient, RpcError};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The file in each daemon's data directory that holds its process id while it runs.
pub const PID_FILE: &str = "otedama-devnet.pid";

/// How long a daemon left over from an earlier start gets to shut down before SIGKILL.
const STALE_GRACE: Duration = Duration::from_secs(15);

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

/// The lock file Litecoin Core holds in a regtest data directory while it runs.
fn lock_file(dir: &Path) -> PathBuf {
    dir.join("regtest").join(".lock")
}

/// The message for a data directory locked by another process.
fn locked(dir: &Path, holder: &Holder) -> String {
    format!(
        "litecoind data directory {} is locked by another process, {holder}; stop it or use another data directory",
        dir.display()
    )
}

/// Stops the daemon recorded in `dir`'s pid file if it is still a litecoind on `dir` (one
/// that outlived its devnet), and removes the file.
fn reclaim(dir: &Path) {
    let file = dir.join(PID_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let datadir = format!("-datadir={}", dir.display());
    if let Ok(pid) = text.trim().parse::<u32>()
        && process::alive(pid)
        && process::args(pid).is_some_and(|args| {
            args.first().is_some_and(|a| a.contains("litecoind")) && args.contains(&datadir)
        })
    {
        tracing::warn!(target: "otedama::devnet", pid, dir = %dir.display(), "stopping a litecoind left running by an earlier devnet");
        if !process::stop(pid, STALE_GRACE) {
            tracing::warn!(target: "otedama::devnet", pid, "the earlier litecoind does not stop");
        }
    }
    let _ = std::fs::remove_file(&file);
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
    /// The data directories of A and B.
    dirs: [PathBuf; 2],
    // Dropped after the daemons are stopped: its thread's exit would signal them.
    _spawner: Spawner,
    _temp: Option<tempfile::TempDir>,
}

impl Drop for LitecoinRegtest {
    fn drop(&mut self) {
        for c in [&mut self.a, &mut self.b] {
            let _ = c.kill();
            let _ = c.wait();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_file(dir.join(PID_FILE));
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
    /// A daemon of an earlier start on `base` that still runs (its pid file says so) is
    /// stopped first.
    ///
    /// # Errors
    /// A missing binary, a data directory locked by another process (named in the
    /// message), a daemon that exits, or RPC that does not come up in 60 s.
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
        let (da, db) = (root.join("litecoind-a"), root.join("litecoind-b"));
        for d in [&da, &db] {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
            reclaim(d);
            if let Some(holder) = process::lock_holder(&lock_file(d)) {
                return Err(locked(d, &holder));
            }
        }
        let spawner =
            Spawner::start().map_err(|e| format!("starting the daemon spawner thread: {e}"))?;
        let spawn = |dir: &Path, args: Vec<String>| -> Result<Child, String> {
            let mut command = Command::new(&bin);
            command
                .args(common)
                .args(extra_args)
                .arg(format!("-datadir={}", dir.display()))
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = spawner
                .spawn(command)
                .map_err(|e| format!("starting {}: {e}", bin.display()))?;
            if let Err(e) = std::fs::write(dir.join(PID_FILE), format!("{}\n", child.id())) {
                tracing::warn!(target: "otedama::devnet", dir = %dir.display(), error = %e, "cannot record the daemon's pid");
            }
            Ok(child)
        };
        let b = spawn(
            &db,
            vec![
                "-listen=1".into(),
                format!("-bind=127.0.0.1:{p2p_b}"),
                format!("-bind=127.0.0.1:{onion_b}=onion"),
                format!("-rpcport={rpc_b}"),
                "-disablewallet".into(),
            ],
        )?;
        let a = match spawn(
            &da,
            vec![
                "-listen=0".into(),
                format!("-connect=127.0.0.1:{p2p_b}"),
                format!("-rpcport={rpc_a}"),
            ],
        ) {
            Ok(a) => a,
            Err(e) => {
                let mut b = b;
                let _ = b.kill();
                let _ = b.wait();
                let _ = std::fs::remove_file(db.join(PID_FILE));
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
            dirs: [da, db],
            _spawner: spawner,
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
            let exited = [&mut self.a, &mut self.b]
                .into_iter()
                .find_map(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(self.exited(status));
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

    /// Why a daemon exited during start: its data directory locked by another process
    /// where one is, else its exit status.
    fn exited(&self, status: std::process::ExitStatus) -> String {
        self.dirs
            .iter()
            .find_map(|d| process::lock_holder(&lock_file(d)).map(|h| locked(d, &h)))
            .unwrap_or_else(|| format!("litecoind exited during start: {status}"))
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
