//! `keygen`: the node key, the P2P identity kept in the data directory.

use super::token::locate;
use super::{EXIT_FAILURE, KeygenArgs};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Serialize)]
struct KeyReport {
    peer_id: String,
    path: PathBuf,
    created: bool,
}

/// Runs `keygen`: creates `<data_dir>/node.key` if there is none (never replacing one)
/// and prints the peer id other nodes will know this node by.
pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let result = locate(&args.store).and_then(|(dir, _)| {
        let (key, created) = crate::p2p::key::load_or_create(&dir).map_err(|e| e.to_string())?;
        Ok(KeyReport {
            peer_id: key.public().to_peer_id().to_string(),
            path: dir.join(crate::p2p::key::KEY_FILE),
            created,
        })
    });
    match result {
        Ok(r) => {
            if args.json {
                match serde_json::to_string(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                }
            } else {
                let state = if r.created { "created" } else { "existing" };
                println!(
                    "peer id  {}\nkey      {} ({state})",
                    r.peer_id,
                    r.path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
