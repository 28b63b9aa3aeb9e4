//! `keygen`: the node key, the P2P identity kept in the data directory, and the Stratum
//! V2 authority key whose public half SV2 miners and proxies pin.

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
    /// The Stratum V2 authority public key, as SV2 clients pin it.
    sv2_authority_pubkey: String,
    sv2_path: PathBuf,
    sv2_created: bool,
}

/// Runs `keygen`: creates `<data_dir>/node.key` and `<data_dir>/sv2_authority.key` if
/// missing (never replacing one) and prints the peer id other nodes will know this node
/// by and the authority key SV2 clients pin.
pub fn keygen(args: &KeygenArgs) -> ExitCode {
    let result = locate(&args.store).and_then(|(dir, _)| {
        let (key, created) = crate::p2p::key::load_or_create(&dir).map_err(|e| e.to_string())?;
        let (sv2, sv2_created) =
            crate::p2p::key::load_or_create_sv2(&dir).map_err(|e| e.to_string())?;
        Ok(KeyReport {
            peer_id: key.public().to_peer_id().to_string(),
            path: dir.join(crate::p2p::key::KEY_FILE),
            created,
            sv2_authority_pubkey: sv2.public_base58(),
            sv2_path: dir.join(crate::p2p::key::SV2_KEY_FILE),
            sv2_created,
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
                let state = |c| if c { "created" } else { "existing" };
                println!(
                    "peer id           {}\nkey               {} ({})\n\
                     sv2 authority     {}\nsv2 key           {} ({})",
                    r.peer_id,
                    r.path.display(),
                    state(r.created),
                    r.sv2_authority_pubkey,
                    r.sv2_path.display(),
                    state(r.sv2_created)
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
