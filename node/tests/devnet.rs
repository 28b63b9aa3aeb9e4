//! The devnet's daemons live and die with it: a SIGKILLed `otedama-node devnet` takes its
//! litecoind pair along, a daemon left over from an earlier start is stopped at the
//! next, and a data directory locked by another process is reported with that process.
//! Needs `litecoind` (skipped with OTEDAMA_SKIP_DAEMON_TESTS=1).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otedama_node::devnet::{LitecoinRegtest, NOT_INSTALLED, PID_FILE, litecoind_path};

// Shared with the testnet crate's tests (which depend on this crate, so it cannot be a
// dev-dependency here).
#[allow(dead_code)]
#[path = "../../testnet/src/skip.rs"]
mod skip;

#[path = "support/devnet_child.rs"]
mod devnet_child;

fn litecoind_or_skip(test: &str) -> Option<PathBuf> {
    skip::or_skip(
        skip::DAEMON,
        test,
        litecoind_path().ok_or_else(|| NOT_INSTALLED.to_owned()),
        "install it with `sudo apt-get install litecoind` (or point LITECOIND at the binary)",
    )
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A litecoind on regtest alone in `dir`, with no network and no RPC.
fn lone_litecoind(bin: &Path, dir: &Path) -> Child {
    std::fs::create_dir_all(dir).expect("data dir");
    let child = Command::new(bin)
        .args([
            "-regtest",
            "-server=0",
            "-listen=0",
            "-connect=0",
            "-discover=0",
            "-dnsseed=0",
            "-upnp=0",
            "-listenonion=0",
            "-printtoconsole=0",
            "-disablewallet",
        ])
        .arg(format!("-datadir={}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("litecoind starts");
    // Litecoin Core locks its data directory before it opens debug.log.
    let log = dir.join("regtest").join("debug.log");
    wait_until("litecoind's debug.log", Duration::from_secs(30), || {
        log.exists()
    });
    child
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_killed_devnet_takes_its_daemons_with_it() {
    const TEST: &str = "a_killed_devnet_takes_its_daemons_with_it";
    if litecoind_or_skip(TEST).is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut node, inbox) = devnet_child::spawn(dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match inbox.recv_timeout(left) {
            Ok(line) if line.starts_with("node up") => break,
            Ok(_) => {}
            Err(e) => {
                let _ = node.kill();
                panic!("the devnet did not come up: {e}");
            }
        }
    }
    let pids: Vec<u32> = ["litecoind-a", "litecoind-b"]
        .iter()
        .map(|d| {
            let text = std::fs::read_to_string(dir.path().join(d).join(PID_FILE))
                .expect("the daemon's pid file");
            text.trim().parse().expect("a pid")
        })
        .collect();
    assert!(pids.iter().all(|&pid| alive(pid)), "{pids:?}");

    node.kill().expect("SIGKILL");
    node.wait().expect("reaped");
    wait_until(
        "the daemons of a SIGKILLed devnet exit",
        Duration::from_secs(20),
        || !pids.iter().any(|&pid| alive(pid)),
    );

    // Their data directories are free for the next run.
    let again = LitecoinRegtest::start_in(Some(dir.path()), &["-vbparams=mweb:-2:0"])
        .expect("the daemons start again on the same data directories");
    drop(again);
}

#[test]
fn a_data_dir_locked_by_another_process_is_reported_with_that_process() {
    const TEST: &str = "a_data_dir_locked_by_another_process_is_reported_with_that_process";
    let Some(bin) = litecoind_or_skip(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let squatter = lone_litecoind(&bin, &dir.path().join("litecoind-a"));
    let result = LitecoinRegtest::start_in(Some(dir.path()), &[]);
    let pid = squatter.id();
    stop(squatter);
    let Err(message) = result else {
        panic!("started on a locked data directory");
    };
    assert!(
        message.contains("is locked by another process"),
        "{message}"
    );
    assert!(message.contains(&format!("pid {pid} (")), "{message}");
    assert!(message.contains("litecoind"), "{message}");
    assert!(message.contains("-datadir="), "{message}");
}

#[test]
fn a_daemon_left_by_an_earlier_devnet_is_stopped_at_the_next_start() {
    const TEST: &str = "a_daemon_left_by_an_earlier_devnet_is_stopped_at_the_next_start";
    let Some(bin) = litecoind_or_skip(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon_dir = dir.path().join("litecoind-a");
    let mut stale = lone_litecoind(&bin, &daemon_dir);
    std::fs::write(daemon_dir.join(PID_FILE), format!("{}\n", stale.id())).expect("pid file");
    let started = LitecoinRegtest::start_in(Some(dir.path()), &[]);
    let stale_status = stale.try_wait().expect("status");
    if stale_status.is_none() {
        stop(stale);
    }
    let daemons = started.expect("starts after stopping the stale daemon");
    assert!(stale_status.is_some(), "the stale daemon still runs");
    drop(daemons);
}
