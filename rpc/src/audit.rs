//! The audit log of operator actions: `audit.log` in the data directory, one JSON object
//! per line, only ever appended to, each line fsynced before the action it records runs.

use serde::{Deserialize, Serialize};
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the audit log in the data directory.
pub const AUDIT_FILE: &str = "audit.log";

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix time.
    pub time: u64,
    /// What was done: `mining_start`, `mining_stop`, `peer_dial`, `peer_ban`, `peer_unban`,
    /// `token_create`, `token_revoke`.
    pub action: String,
    /// Who: `token:<id>` for an API token, `anonymous` when API auth is off, `cli` for the
    /// command line.
    pub actor: String,
    /// The client's IP address, for API requests.
    pub remote: Option<String>,
    /// What it acted on, e.g. the token id.
    pub subject: Option<String>,
}

/// An append-only JSON-lines log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    // Serialises writers in this process so lines never interleave.
    lock: Mutex<()>,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// The log in `data_dir` ([`AUDIT_FILE`]).
    pub fn in_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(AUDIT_FILE))
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line and waits until it is on disk. Blocking: call it from
    /// `spawn_blocking` in async code.
    ///
    /// # Errors
    /// The file cannot be opened, written or synced.
    pub fn append(&self, record: &AuditRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path)?;
        // One write call per line: O_APPEND keeps concurrent processes' lines whole.
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Reads every record (for tests and tools).
    ///
    /// # Errors
    /// The file cannot be read or a line is not a record.
    pub fn read_all(&self) -> io::Result<Vec<AuditRecord>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(io::Error::other))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = AuditLog::in_dir(&dir.path().join("data"));
        let rec = |action: &str| AuditRecord {
            time: 1,
            action: action.into(),
            actor: "cli".into(),
            remote: None,
            subject: Some("abcd".into()),
        };
        log.append(&rec("token_create")).expect("append");
        log.append(&rec("token_revoke")).expect("append");
        let all = log.read_all().expect("read");
        assert_eq!(all, vec![rec("token_create"), rec("token_revoke")]);
        let text = std::fs::read_to_string(log.path()).expect("read");
        assert_eq!(text.lines().count(), 2);
    }
}
