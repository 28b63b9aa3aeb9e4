//! `otedama-gen`: renders `otedama-node`'s man pages and shell completions for packaging
//! (`make install`, `make dist`). Kept out of the node binary, which does not need the
//! generators.
//!
//! ```text
//! otedama-gen man --out-dir man/      # otedama-node.1 and a page per subcommand
//! otedama-gen completions bash        # or zsh, fish, elvish, powershell
//! ```

use std::process::ExitCode;

use clap::Parser as _;
use otedama_node::cli::{self, GenCli};

fn main() -> ExitCode {
    let args = GenCli::parse();
    match cli::generate(&args.what) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
