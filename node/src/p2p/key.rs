//! The node key: an Ed25519 libp2p identity kept in `<data_dir>/node.key` (protobuf
//! encoding, mode 0600), created on first start. The peer id derives from it, so a node
//! keeps its id across restarts.

use libp2p::identity::Keypair;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "node.key";

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
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| KeyError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let tmp = path.with_extension("key.tmp");
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok((key, true))
        }
        Err(e) => Err(io(e)),
    }
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
}
