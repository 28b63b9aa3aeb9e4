//! `token`: API tokens in the data directory (created, listed, revoked), each action
//! written to the audit log.

use super::format::fmt_time;
use super::{EXIT_FAILURE, StoreArgs, TokenCommand};
use crate::config::Config;
use crate::unix_now;
use otedama_rpc::{AuditLog, AuditRecord, TokenStore};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The data directory and default expiry of `store`.
pub(super) fn locate(store: &StoreArgs) -> Result<(PathBuf, Duration), String> {
    let default_expiry = Duration::from_secs(24 * 3600);
    match (&store.config, &store.data_dir) {
        (_, Some(dir)) => Ok((dir.clone(), default_expiry)),
        (Some(file), None) => {
            let config = Config::load(file).map_err(|e| e.to_string())?;
            Ok((config.app.data_dir, config.api.auth.token_expiry))
        }
        (None, None) => Err("give --config FILE or --data-dir DIR".into()),
    }
}

#[derive(Serialize)]
struct CreatedToken<'a> {
    id: &'a str,
    token: &'a str,
    label: Option<&'a str>,
    expires: u64,
}

#[derive(Serialize)]
struct ListedToken<'a> {
    id: &'a str,
    label: Option<&'a str>,
    created: u64,
    expires: u64,
    revoked: Option<u64>,
    state: &'a str,
}

/// Runs a `token` command.
pub fn token(cmd: TokenCommand) -> ExitCode {
    match token_inner(cmd) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn audit(dir: &std::path::Path, action: &str, id: &str) -> Result<(), String> {
    AuditLog::in_dir(dir)
        .append(&AuditRecord {
            time: unix_now(),
            action: action.to_owned(),
            actor: "cli".to_owned(),
            remote: None,
            subject: Some(id.to_owned()),
        })
        .map_err(|e| format!("cannot write the audit log in {}: {e}", dir.display()))
}

fn token_inner(cmd: TokenCommand) -> Result<String, String> {
    let now = unix_now();
    match cmd {
        TokenCommand::Create {
            store,
            expiry,
            label,
            json,
        } => {
            let (dir, default_expiry) = locate(&store)?;
            let tokens = TokenStore::in_dir(&dir);
            let new = tokens
                .create(expiry.unwrap_or(default_expiry), label, now)
                .map_err(|e| e.to_string())?;
            audit(&dir, "token_create", &new.info.id)?;
            if json {
                let out = CreatedToken {
                    id: &new.info.id,
                    token: &new.secret,
                    label: new.info.label.as_deref(),
                    expires: new.info.expires,
                };
                return serde_json::to_string(&out)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string());
            }
            Ok(format!(
                "token    {}\nid       {}\nlabel    {}\nexpires  {}\n\n\
                 Store the token now: it is shown only this once. Use it as\n  \
                 Authorization: Bearer {}\n",
                new.secret,
                new.info.id,
                new.info.label.as_deref().unwrap_or("-"),
                fmt_time(new.info.expires),
                new.secret
            ))
        }
        TokenCommand::List { store, json } => {
            let (dir, _) = locate(&store)?;
            let list = TokenStore::in_dir(&dir).list().map_err(|e| e.to_string())?;
            if json {
                let rows: Vec<ListedToken<'_>> = list
                    .iter()
                    .map(|t| ListedToken {
                        id: &t.id,
                        label: t.label.as_deref(),
                        created: t.created,
                        expires: t.expires,
                        revoked: t.revoked,
                        state: t.state(now),
                    })
                    .collect();
                return serde_json::to_string(&rows)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string());
            }
            if list.is_empty() {
                return Ok("no tokens\n".into());
            }
            let mut out = format!(
                "{:<10} {:<24} {:<21} {:<21} STATE\n",
                "ID", "LABEL", "CREATED", "EXPIRES"
            );
            for t in &list {
                out += &format!(
                    "{:<10} {:<24} {:<21} {:<21} {}\n",
                    t.id,
                    t.label.as_deref().unwrap_or("-"),
                    fmt_time(t.created),
                    fmt_time(t.expires),
                    t.state(now)
                );
            }
            Ok(out)
        }
        TokenCommand::Revoke { store, id } => {
            let (dir, _) = locate(&store)?;
            let revoked = TokenStore::in_dir(&dir)
                .revoke(&id, now)
                .map_err(|e| e.to_string())?;
            audit(&dir, "token_revoke", &revoked.id)?;
            Ok(format!("revoked {}\n", revoked.id))
        }
    }
}
