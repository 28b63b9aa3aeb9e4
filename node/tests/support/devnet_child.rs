//! `otedama-node devnet` as a child process whose stdout lines arrive on a channel, for
//! the devnet tests.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// Starts a devnet with one mining thread, no API and an ephemeral Stratum port in
/// `data_dir`, and returns it with the receiver of its stdout lines.
pub fn spawn(data_dir: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut node = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args([
            "devnet",
            "--no-api",
            "--threads",
            "1",
            "--stratum",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("OTEDAMA_LOG_LEVEL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the devnet starts");
    let (lines, inbox) = mpsc::channel();
    let stdout = node.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (node, inbox)
}
