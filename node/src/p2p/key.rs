//! The node key: an Ed25519 libp2p identity kept in `<data_dir>/node.key` (protobuf
//! encoding, mode 0600), created on first start. The peer id derives from it, so a node
//! keeps its id across restarts.

use libp2p::identity::Keypair;
use otedama_stratum::sv2::AuthorityKey;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "node.key";
/// The Stratum V2 authority key's file inside the data dir: its 32-byte secret.
pub const SV2_KEY_FILE: &str = "sv2_authority.key";

/// Why the node key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("node key {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a key.
    #[error("node key {}: not a libp2p key ({reason}); move it away to create a new one", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Loads the key from `data_dir`, creating it (and the dir) if there is none. Returns
/// the key and whether it was just created.
///
/// # Errors
/// [`KeyError`].
pub fn load_or_create(data_dir: &Path) -> Result<(Keypair, bool), KeyError> {
    let path = data_dir.join(KEY_FILE);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let key = Keypair::from_protobuf_encoding(&bytes).map_err(|e| KeyError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| KeyError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            write_secret(data_dir, &path, &bytes).map_err(io)?;
            Ok((key, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// Loads the Stratum V2 authority key from `data_dir`, creating it if there is none.
/// Returns the key and whether it was just created.
///
/// # Errors
/// [`KeyError`].
pub fn load_or_create_sv2(data_dir: &Path) -> Result<(AuthorityKey, bool), KeyError> {
    let path = data_dir.join(SV2_KEY_FILE);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let invalid = |reason: String| KeyError::Invalid {
        path: path.clone(),
        reason,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret: [u8; 32] = bytes
                .try_into()
                .map_err(|b: Vec<u8>| invalid(format!("{} bytes, expected 32", b.len())))?;
            let key = AuthorityKey::from_secret(secret).map_err(|e| invalid(e.to_string()))?;
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = AuthorityKey::generate().map_err(|e| invalid(e.to_string()))?;
            write_secret(data_dir, &path, key.secret()).map_err(io)?;
            Ok((key, true))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a secret to `path` (mode 0600) through a temporary file, creating `dir`.
fn write_secret(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("key.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, created) = load_or_create(dir.path()).expect("create");
        assert!(created);
        let (b, created) = load_or_create(dir.path()).expect("load");
        assert!(!created);
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        std::fs::write(dir.path().join(KEY_FILE), b"junk").expect("write");
        let err = load_or_create(dir.path()).expect_err("junk is not a key");
        assert!(err.to_string().contains("not a libp2p key"), "{err}");
    }

    #[test]
    fn the_sv2_authority_key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, created) = load_or_create_sv2(dir.path()).expect("create");
        assert!(created);
        let (b, created) = load_or_create_sv2(dir.path()).expect("load");
        assert!(!created);
        assert_eq!(a.public(), b.public());
        std::fs::write(dir.path().join(SV2_KEY_FILE), b"short").expect("write");
        let err = load_or_create_sv2(dir.path()).expect_err("not a key");
        assert!(err.to_string().contains("5 bytes, expected 32"), "{err}");
    }
}
