//! monerod on regtest for tests: offline, loopback only, in a temporary directory, at a
//! fixed difficulty.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

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

/// monerod on regtest in a temporary directory, killed on drop.
pub struct Monerod {
    child: Child,
    /// RPC base URL.
    pub url: String,
    /// ZMQ publisher endpoint.
    pub zmq: String,
    _dir: tempfile::TempDir,
}

impl Drop for Monerod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Monerod {
    /// Starts monerod on regtest at a fixed difficulty.
    pub fn start(bin: &PathBuf, difficulty: u64) -> Monerod {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rpc, p2p, zmq, publish) = (free_port(), free_port(), free_port(), free_port());
        let child = Command::new(bin)
            .args([
                "--regtest",
                "--offline",
                "--fixed-difficulty",
                &difficulty.to_string(),
                "--non-interactive",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--rpc-bind-ip",
                "127.0.0.1",
                "--rpc-bind-port",
                &rpc.to_string(),
            ])
            .args([
                "--p2p-bind-ip",
                "127.0.0.1",
                "--p2p-bind-port",
                &p2p.to_string(),
            ])
            .args([
                "--zmq-rpc-bind-ip",
                "127.0.0.1",
                "--zmq-rpc-bind-port",
                &zmq.to_string(),
            ])
            .args(["--zmq-pub", &format!("tcp://127.0.0.1:{publish}")])
            .args([
                "--no-igd",
                "--disable-dns-checkpoints",
                "--check-updates",
                "disabled",
            ])
            .args(["--log-level", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("monerod starts");
        Monerod {
            child,
            url: format!("http://127.0.0.1:{rpc}"),
            zmq: format!("tcp://127.0.0.1:{publish}"),
            _dir: dir,
        }
    }
}
