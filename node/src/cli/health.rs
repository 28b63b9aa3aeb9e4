//! `healthcheck` (hidden): asks a node's health listener whether it is alive (`/healthz`)
//! or ready (`/readyz`). The container image's `HEALTHCHECK` runs it, since the image
//! carries no HTTP client of its own.

use std::process::ExitCode;

use otedama_rpc::{ApiClient, ClientError};

use super::EXIT_NOT_RUNNING;
use super::args::HealthcheckArgs;

/// Exit code when the node answers but is not healthy (or not ready with `--ready`).
pub const EXIT_UNHEALTHY: u8 = 1;

/// Runs `healthcheck`: exits 0 when the endpoint answers 200, [`EXIT_UNHEALTHY`] when it
/// answers anything else, [`EXIT_NOT_RUNNING`] when nothing answers.
pub fn healthcheck(args: &HealthcheckArgs) -> ExitCode {
    let path = if args.ready { "/readyz" } else { "/healthz" };
    let runtime = match super::client_runtime(EXIT_UNHEALTHY) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        ApiClient::new(&args.url)?
            .get::<serde_json::Value>(path)
            .await
    });
    match result {
        Ok(answer) => {
            if !args.quiet {
                println!("{answer}");
            }
            ExitCode::SUCCESS
        }
        Err(ClientError::NotRunning { url, reason }) => {
            eprintln!("error: no node answers at {url}{path} ({reason})");
            ExitCode::from(EXIT_NOT_RUNNING)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_UNHEALTHY)
        }
    }
}
