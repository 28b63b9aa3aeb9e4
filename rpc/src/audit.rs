//! The audit log of operator actions: `audit.log` in the data directory, one JSON object
//! per line, only ever appended to, each line fsynced before the action it records runs.
//! Past [`AUDIT_MAX_BYTES`] it rotates to `audit.log.1` … `audit.log.8`.

use crate::logfile::RotatingFile;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// File name of the audit log in the data directory.
pub const AUDIT_FILE: &str = "audit.log";
/// Size at which the audit log rotates.
pub const AUDIT_MAX_BYTES: u64 = 4 << 20;
/// Rotated audit logs kept.
pub const AUDIT_KEEP: u32 = 8;

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
    file: RotatingFile,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            file: RotatingFile::new(path, AUDIT_MAX_BYTES, AUDIT_KEEP).private(),
        }
    }

    /// The log in `data_dir` ([`AUDIT_FILE`]).
    pub fn in_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(AUDIT_FILE))
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Appends `record` as one line and waits until it is on disk. Blocking: call it from
    /// `spawn_blocking` in async code.
    ///
    /// # Errors
    /// The file cannot be opened, rotated, written or synced.
    pub fn append(&self, record: &AuditRecord) -> io::Result<()> {
        let line = serde_json::to_vec(record).map_err(io::Error::other)?;
        self.file.append(&line)
    }

    /// Reads every record kept, oldest first (for tests and tools).
    ///
    /// # Errors
    /// A file cannot be read or a line is not a record.
    pub fn read_all(&self) -> io::Result<Vec<AuditRecord>> {
        let mut records = Vec::new();
        for path in self.file.files_oldest_first() {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                records.push(serde_json::from_str(line).map_err(io::Error::other)?);
            }
        }
        Ok(records)
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
