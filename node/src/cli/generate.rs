//! `otedama-gen`: `otedama-node`'s man pages and shell completions, rendered from the clap
//! definitions in `args` so that they always match `--help`. `make install` and
//! `make dist` run it; the node binary does not carry it.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::args::{Cli, GenerateCommand};

/// Runs an `otedama-gen` subcommand.
pub fn generate(cmd: &GenerateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GenerateCommand::Man { out_dir: None } => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            std::io::stdout().write_all(&page)?;
        }
        GenerateCommand::Man { out_dir: Some(dir) } => man_pages(dir)?,
        GenerateCommand::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "otedama-node", &mut out);
            std::io::stdout().write_all(&out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `otedama-node.1` and one page per visible subcommand (`otedama-node-serve.1`, ...)
/// into `dir`, creating it.
fn man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_skip_the_hidden_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        man_pages(dir.path()).expect("man pages");
        let main = std::fs::read_to_string(dir.path().join("otedama-node.1")).expect("main page");
        assert!(main.contains("otedama\\-node\\-serve(1)"), "{main}");
        let hidden = "otedama\\-node\\-healthcheck";
        assert!(!main.contains(hidden), "{hidden} is listed: {main}");
        for page in [
            "otedama-node-serve.1",
            "otedama-node-config-check.1",
            "otedama-node-status.1",
        ] {
            assert!(dir.path().join(page).is_file(), "{page} missing");
        }
        assert!(!dir.path().join("otedama-node-healthcheck.1").exists());
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "otedama-node",
            &mut out,
        );
        let script = String::from_utf8(out).expect("utf-8");
        assert!(
            script.contains("serve") && script.contains("devnet"),
            "{script}"
        );
    }
}
