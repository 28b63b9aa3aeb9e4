//! The commands that query a running node over its REST API (`status`, `workers`,
//! `shares`, `payouts`, `peers` and the peer actions), with the exit codes of their failures.

use super::format::{
    listen_text, payouts_text, peers_text, shares_text, status_text, workers_text,
};
use super::{EXIT_API_ERROR, EXIT_FAILURE, EXIT_NOT_RUNNING, PeerCommand, PeersArgs, RemoteArgs};
use otedama_rpc::{ApiClient, ClientError};
use serde::Serialize;
use std::process::ExitCode;

/// What to ask the node.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// `GET /api/status`.
    Status,
    /// `GET /api/workers`.
    Workers,
    /// `GET /api/shares`.
    Shares {
        /// Page from 1.
        page: u64,
        /// Page size.
        per_page: u64,
    },
    /// `GET /api/payouts`.
    Payouts,
    /// `GET /api/peers`.
    Peers,
}

/// Runs a query against the node at `args.api` and prints the answer.
pub fn query(what: Query, args: &RemoteArgs) -> ExitCode {
    remote(&args.api, None, |client| async move {
        let out = match what {
            Query::Status => print(args.json, &client.status().await?, status_text),
            Query::Workers => print(args.json, &client.workers().await?, workers_text),
            Query::Shares { page, per_page } => print(
                args.json,
                &client.shares(page, per_page).await?,
                shares_text,
            ),
            Query::Payouts => print(args.json, &client.payouts().await?, payouts_text),
            Query::Peers if args.json => print(true, &client.peers().await?, peers_text),
            Query::Peers => {
                let status = client.status().await?;
                listen_text(&status.p2p) + &peers_text(&client.peers().await?)
            }
        };
        Ok(out)
    })
}

/// Runs `peers`: the listing, or the action, against the node at `args.remote.api`.
pub fn peers(args: &PeersArgs) -> ExitCode {
    let Some(action) = &args.action else {
        return query(Query::Peers, &args.remote);
    };
    let json = args.remote.json;
    remote(&args.remote.api, args.token.clone(), |client| async move {
        let done = match action {
            PeerCommand::Dial { address } => client.dial_peer(address).await?,
            PeerCommand::Ban { peer, duration } => client.ban_peer(peer, *duration).await?,
            PeerCommand::Unban { peer } => client.unban_peer(peer).await?,
        };
        Ok(print(json, &done, |d| {
            format!("{}: {}\n", d.action, d.subject)
        }))
    })
}

/// Runs `call` with a client of the API at `api` and prints what it returns; maps the
/// failures to the exit codes.
fn remote<F, Fut>(api: &str, token: Option<String>, call: F) -> ExitCode
where
    F: FnOnce(ApiClient) -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let runtime = match super::client_runtime(EXIT_FAILURE) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let client = ApiClient::new(api)?.with_token(token);
        call(client).await
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e {
                ClientError::NotRunning { .. } => EXIT_NOT_RUNNING,
                ClientError::BadUrl(_) => EXIT_FAILURE,
                ClientError::Api { .. }
                | ClientError::Decode { .. }
                | ClientError::TooLarge { .. } => EXIT_API_ERROR,
            })
        }
    }
}

fn print<T: Serialize>(json: bool, value: &T, text: fn(&T) -> String) -> String {
    if json {
        serde_json::to_string_pretty(value)
            .map_or_else(|e| format!("{{\"error\":\"{e}\"}}\n"), |s| s + "\n")
    } else {
        text(value)
    }
}
