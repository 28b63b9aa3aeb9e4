//! The node's log file (`app.log_file`), rotated by size or at UTC midnight.
//!
//! The current file keeps its name, so `tail -F logs/otedama.log` follows the node
//! across rotations; the previous one becomes `otedama.log.1`, the one before that
//! `otedama.log.2`, and so on up to `app.log_rotation.keep`, past which files are
//! deleted. (`tracing-appender`'s own rolling appender names the current file by date
//! and rotates by time only, so it carries the writes here, off the async threads,
//! through its non-blocking writer, and this file does the rotating.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{LogRotation, LogRotationConfig};

const DAY_SECS: u64 = 86_400;

/// When a [`RotatingFile`] starts a new file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotate {
    /// Before a write that would take the file past this many bytes (a file that is
    /// still empty takes any write).
    Size(u64),
    /// On the first write of each UTC day.
    Daily,
}

/// An append-only file that rotates itself; each `write` is one log line and is never
/// split across files.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    rotate: Rotate,
    keep: u32,
    file: File,
    size: u64,
    day: u64,
}

impl RotatingFile {
    /// Opens (appending to) the log file at `path` as `config` says, creating its
    /// directory.
    ///
    /// # Errors
    /// The directory or the file cannot be created or opened.
    pub fn from_config(path: &Path, config: &LogRotationConfig) -> io::Result<Self> {
        let rotate = match config.rotate {
            LogRotation::Size => Rotate::Size(u64::from(config.max_size_mb) * 1024 * 1024),
            LogRotation::Daily => Rotate::Daily,
        };
        Self::open(path, rotate, config.keep)
    }

    /// Opens (appending to) the file at `path`, creating its directory; `keep` rotated
    /// files are kept besides it (at least one).
    ///
    /// # Errors
    /// The directory or the file cannot be created or opened.
    pub fn open(path: &Path, rotate: Rotate, keep: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let meta = file.metadata()?;
        // A file last written on an earlier day rotates at the first write of today.
        let day = meta.modified().map_or_else(|_| today(), day_of);
        Ok(Self {
            path: path.to_path_buf(),
            rotate,
            keep: keep.max(1),
            file,
            size: meta.len(),
            day,
        })
    }

    /// Returns the path of the `n`th rotated file (`otedama.log.n`).
    pub fn rotated_path(&self, n: u32) -> PathBuf {
        otedama_rpc::rotated_path(&self.path, n)
    }

    fn due(&self, len: usize) -> bool {
        match self.rotate {
            Rotate::Size(max) => self.size > 0 && self.size + len as u64 > max,
            Rotate::Daily => today() != self.day,
        }
    }

    /// Shifts `.1..keep` up by one (dropping the oldest), moves the current file to
    /// `.1` and starts an empty one.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        otedama_rpc::rotate_files(&self.path, self.keep)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        self.day = today();
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.due(buf.len()) {
            // A failed rotation must not lose the line: it goes to the current file.
            if let Err(error) = self.rotate() {
                let _ = writeln!(
                    self.file,
                    "log rotation of {} failed: {error}",
                    self.path.display()
                );
            }
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn day_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / DAY_SECS)
}

fn today() -> u64 {
    day_of(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_file_receives_the_nodes_lines_and_rotation_keeps_at_most_n() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/otedama.log");
        let file = RotatingFile::open(&path, Rotate::Size(400), 3).expect("open");
        let (writer, guard) = tracing_appender::non_blocking(file);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(writer)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..40 {
                tracing::info!(target: "otedama::node", n, "serving");
            }
        });
        // Dropping the guard flushes the non-blocking writer.
        drop(guard);
        assert_eq!(
            files(path.parent().expect("dir")),
            [
                "otedama.log",
                "otedama.log.1",
                "otedama.log.2",
                "otedama.log.3"
            ]
        );
        let current = fs::read_to_string(&path).expect("read");
        let last = current.lines().last().expect("a line");
        let line: serde_json::Value = serde_json::from_str(last).expect("json line");
        assert_eq!(line["fields"]["message"], "serving");
        assert_eq!(line["fields"]["n"], 39);
        assert_eq!(line["target"], "otedama::node");
        for name in [
            "otedama.log",
            "otedama.log.1",
            "otedama.log.2",
            "otedama.log.3",
        ] {
            let text = fs::read_to_string(path.with_file_name(name)).expect("read");
            assert!(text.len() <= 400, "{name}: {} bytes", text.len());
            // No line is split across files.
            assert!(text.lines().all(|l| l.ends_with('}')), "{name}");
        }
    }

    #[test]
    fn daily_rotation_starts_a_new_file_on_a_new_day() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.log");
        let mut file = RotatingFile::open(&path, Rotate::Daily, 2).expect("open");
        file.write_all(b"today\n").expect("write");
        // As if the file had been opened yesterday.
        file.day -= 1;
        file.write_all(b"tomorrow\n").expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "tomorrow\n");
        assert_eq!(
            fs::read_to_string(file.rotated_path(1)).expect("read"),
            "today\n"
        );
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").expect("write");
        assert!(RotatingFile::open(&blocker.join("otedama.log"), Rotate::Daily, 1).is_err());
    }
}
