//! Append-only line files with a size bound: when a line would take the file past its
//! size, the file is rotated (`name` → `name.1` → … → `name.<keep>`, the oldest
//! dropped), so a node that runs for years keeps at most `keep + 1` files of about
//! `max_bytes` each. [`rotate_files`] is the rotation itself, shared with the node's log
//! file, which rotates by size or by day.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// A bounded, rotated append-only file of lines.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    private: bool,
    lock: Mutex<()>,
}

impl RotatingFile {
    /// A file at `path` rotated past `max_bytes`, keeping `keep` older files.
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64, keep: u32) -> Self {
        Self {
            path: path.into(),
            max_bytes: max_bytes.max(1),
            keep,
            private: false,
            lock: Mutex::new(()),
        }
    }

    /// Creates new files readable by the owner only (mode 0600 on Unix).
    #[must_use]
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// Returns the current file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the path of the `n`th older file (`n` ≥ 1).
    pub fn rotated(&self, n: u32) -> PathBuf {
        rotated_path(&self.path, n)
    }

    /// The files from oldest to newest, those that exist.
    pub fn files_oldest_first(&self) -> Vec<PathBuf> {
        (1..=self.keep)
            .rev()
            .map(|n| self.rotated(n))
            .chain(std::iter::once(self.path.clone()))
            .filter(|p| p.exists())
            .collect()
    }

    /// Appends `line` (a newline is added) in one write and waits until it is on disk,
    /// rotating first when it would not fit. Blocking.
    ///
    /// # Errors
    /// The directory, a rotation, or the write fails.
    pub fn append(&self, line: &[u8]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size > 0 && size + bytes.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let mut file = self.open()?;
        // One write call per line: O_APPEND keeps concurrent writers' lines whole.
        file.write_all(&bytes)?;
        file.sync_data()
    }

    fn open(&self) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        if self.private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        options.open(&self.path)
    }

    fn rotate(&self) -> io::Result<()> {
        rotate_files(&self.path, self.keep)
    }
}

/// Returns the path of the `n`th older file of `path` (`name.n`, `n` ≥ 1).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Rotates the files of `path`: `name.1` … `name.<keep - 1>` move up by one (replacing
/// `name.<keep>`, the oldest kept), and `name` becomes `name.1`; with `keep` 0, `name` is
/// removed. Missing older files are skipped.
///
/// # Errors
/// A rename or removal fails for another reason than a missing file.
pub fn rotate_files(path: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    for n in (1..keep).rev() {
        match std::fs::rename(rotated_path(path, n), rotated_path(path, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, rotated_path(path, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_bound_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = RotatingFile::new(dir.path().join("sub/blocks.jsonl"), 100, 2);
        for i in 0..40 {
            f.append(format!("line {i:02} ................").as_bytes())
                .expect("append");
        }
        // 25 bytes a line: 4 lines a file.
        let files = f.files_oldest_first();
        assert_eq!(files.len(), 3);
        let text: String = files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"line 39 ................"));
        assert_eq!(lines.len(), 12, "{lines:?}");
        assert_eq!(lines[0], "line 28 ................");
        for p in &files {
            assert!(std::fs::metadata(p).expect("meta").len() <= 100);
        }
        assert!(!f.rotated(3).exists());
    }
}
