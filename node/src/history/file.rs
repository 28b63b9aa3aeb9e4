//! The history file: a magic, a version byte, then the [`HistoryStore`] in bincode.
//! Written whole to a temporary file that is then renamed over the old one, so a crash
//! leaves the old file or the new one, never half of one.

use super::store::{HistoryStore, MAX_STORE_BYTES};
use std::io::Write;
use std::path::{Path, PathBuf};
use tracing::warn;

/// The history file's name in the chain's data directory.
pub const HISTORY_FILE: &str = "history.bin";
/// The first bytes of a history file.
const MAGIC: &[u8; 4] = b"OTHS";
/// The encoding's version; a file of another version is replaced.
const VERSION: u8 = 2;
/// Largest file read: the largest store with room for the encoding's length prefixes.
const MAX_FILE_BYTES: usize = MAX_STORE_BYTES + (1 << 20);

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FILE_BYTES>()
}

/// Why a history file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It cannot be read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// It is larger than any store this version writes.
    #[error("{0} bytes is larger than a history file can be")]
    TooLarge(u64),
    /// It does not start with the magic.
    #[error("not a history file")]
    Foreign,
    /// It was written by another version.
    #[error("history file version {0}, expected {VERSION}")]
    Version(u8),
    /// It does not decode.
    #[error("corrupt: {0}")]
    Corrupt(String),
}

/// Returns the bytes of `store`'s file.
///
/// # Errors
/// The store does not encode (it always does: it is bounded and has no custom parts).
pub fn encode(store: &HistoryStore) -> Result<Vec<u8>, bincode::error::EncodeError> {
    let mut bytes = Vec::with_capacity(64 * 1024);
    bytes.extend_from_slice(MAGIC);
    bytes.push(VERSION);
    bytes.extend(bincode::encode_to_vec(store, config())?);
    Ok(bytes)
}

/// Decodes a history file's bytes.
///
/// # Errors
/// Foreign bytes, another version, or a body that does not decode to a well-formed store.
pub fn decode(bytes: &[u8]) -> Result<HistoryStore, LoadError> {
    let body = bytes.strip_prefix(MAGIC).ok_or(LoadError::Foreign)?;
    let (&version, body) = body.split_first().ok_or(LoadError::Foreign)?;
    if version != VERSION {
        return Err(LoadError::Version(version));
    }
    let (store, used): (HistoryStore, usize) = bincode::decode_from_slice(body, config())
        .map_err(|e| LoadError::Corrupt(e.to_string()))?;
    if used != body.len() {
        return Err(LoadError::Corrupt(format!(
            "{} bytes after the store",
            body.len() - used
        )));
    }
    if !store.well_formed() {
        return Err(LoadError::Corrupt("the series have the wrong shape".into()));
    }
    Ok(store)
}

/// Reads the store at `path`, bringing it to `now` (points past their span and miners
/// silent for a day are dropped). A missing file is an empty store.
///
/// # Errors
/// The file cannot be read, or is foreign, of another version or corrupt.
pub fn read(path: &Path, now: u64) -> Result<HistoryStore, LoadError> {
    let bytes = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HistoryStore::default()),
        Err(e) => return Err(e.into()),
        Ok(m) if m.len() > MAX_FILE_BYTES as u64 => return Err(LoadError::TooLarge(m.len())),
        Ok(_) => std::fs::read(path)?,
    };
    let mut store = decode(&bytes)?;
    store.expire(now);
    Ok(store)
}

/// As [`read`], but a file that cannot be used is logged and an empty store returned;
/// the next save replaces the file.
pub fn load(path: &Path, now: u64) -> HistoryStore {
    read(path, now).unwrap_or_else(|e| {
        warn!(target: "otedama::node", path = %path.display(), error = %e, "ignoring the history file; it will be replaced");
        HistoryStore::default()
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then
/// renamed over it.
///
/// # Errors
/// The temporary file cannot be written or renamed.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
