//! Crash consistency: a child process writes shares as fast as it can and is killed
//! with SIGKILL mid-write; the store must reopen consistent, and keep growing, every time.

use otedama_sharechain::test_utils::{mine_on_tip, script};
use otedama_sharechain::{ChainSpec, Store, ValidationContext, validate_share};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIR_VAR: &str = "OTEDAMA_CRASH_TEST_DIR";

fn spec() -> ChainSpec {
    let mut s = ChainSpec::by_name("btc-regtest").expect("spec").clone();
    // A short window so pruning runs during the test, too.
    s.window_max_shares = 20;
    s
}

/// Writes shares forever (bounded to 60 s); only runs as the child of the test below.
#[test]
#[ignore = "child process of kill_during_writes_leaves_a_consistent_store"]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let spec = spec();
    let (store, mut chain) = Store::open(Path::new(&dir), &spec).expect("open");
    let start = Instant::now();
    let mut i = 0u32;
    while start.elapsed() < Duration::from_secs(60) {
        let share = mine_on_tip(&mut chain, script(i % 5), &i.to_le_bytes().repeat(2));
        let ctx = ValidationContext {
            now: u64::from(share.header.block.time) + 1,
            parent_block_known: &|_| true,
        };
        let meta = validate_share(&mut chain, &share, share.to_bytes().len(), &ctx).expect("valid");
        let change = chain.insert(meta.clone());
        store
            .accept(&share, &meta, &change, &chain)
            .expect("stored");
        if i.is_multiple_of(16) {
            store.prune(&mut chain).expect("pruned");
        }
        if i.is_multiple_of(10) {
            println!("height {}", meta.height);
        }
        i += 1;
    }
}

#[test]
fn kill_during_writes_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary path");
    let mut last_height = None;
    for round in 0..4 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        // Let it write a few hundred shares (and at least one 500 ms flush), then kill it.
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(50);
        let mut seen = 0;
        while Instant::now() < deadline && seen < 30 + 10 * round {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("height") => seen += 1,
                Some(_) => {}
                None => break,
            }
        }
        std::thread::sleep(Duration::from_millis(600 + 37 * round as u64));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");

        let (store, chain) = Store::open(dir.path(), &spec()).expect("reopens after SIGKILL");
        let report = store
            .verify()
            .unwrap_or_else(|e| panic!("round {round}: inconsistent store: {e}"));
        let tip = chain.tip().map(|t| t.height);
        assert_eq!(
            report.tip_height, tip,
            "round {round}: stored tip is the loaded tip"
        );
        assert!(
            tip > last_height,
            "round {round}: the chain grew ({tip:?} after {last_height:?})"
        );
        last_height = tip;
    }
}
