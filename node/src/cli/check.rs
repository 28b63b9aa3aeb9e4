//! `config check`: loading and validating a config file, which `serve` does first too.

use super::{EXIT_FAILURE, EXIT_ISSUES};
use crate::config::{Config, ConfigError, Issue};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// The outcome of loading and validating one config file.
pub(super) enum Checked {
    /// It loaded; these are its issues (none if it is valid) and warnings.
    Loaded(Box<Config>, Vec<Issue>, Vec<Issue>),
    /// It loaded with an error that is an issue of the file (syntax, unknown key, type, empty).
    Invalid(Issue),
    /// It could not be read.
    Unreadable(Issue),
}

pub(super) fn check_file(file: &Path) -> Checked {
    match Config::check_file(file) {
        Ok(report) => Checked::Loaded(Box::new(report.config), report.issues, report.warnings),
        Err(err @ ConfigError::Read { .. }) => Checked::Unreadable(err.to_issue()),
        Err(err) => Checked::Invalid(err.to_issue()),
    }
}

/// The `--json` report of `config check`.
#[derive(Serialize)]
struct CheckReport<'a> {
    ok: bool,
    issues: &'a [Issue],
    warnings: &'a [Issue],
}

/// Runs `config check` on `file`: prints `ok`, the issues, or the JSON report, and
/// returns the exit code (0 valid, 1 issues, 2 unreadable).
pub fn config_check(file: &Path, json: bool) -> ExitCode {
    let (issues, warnings, code) = match check_file(file) {
        Checked::Loaded(_, issues, warnings) if issues.is_empty() => {
            (issues, warnings, ExitCode::SUCCESS)
        }
        Checked::Loaded(_, issues, warnings) => (issues, warnings, ExitCode::from(EXIT_ISSUES)),
        Checked::Invalid(issue) => (vec![issue], Vec::new(), ExitCode::from(EXIT_ISSUES)),
        Checked::Unreadable(issue) => (vec![issue], Vec::new(), ExitCode::from(EXIT_FAILURE)),
    };
    if json {
        let report = CheckReport {
            ok: issues.is_empty(),
            issues: &issues,
            warnings: &warnings,
        };
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(err) => {
                eprintln!("error: cannot encode the report: {err}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        if issues.is_empty() {
            println!("ok: {}", file.display());
        }
        for issue in &issues {
            eprintln!("{issue}");
        }
    }
    code
}
