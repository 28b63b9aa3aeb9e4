//! API tokens: created by `otedama-node token create`, stored hashed (SHA-256) with their
//! expiry in a small JSON file in the data directory, checked on every operator request.
//!
//! The file is rewritten whole through a temporary file, fsync and rename, so a crash
//! leaves the old or the new version and never a torn one; an exclusive lock on a side
//! file serialises concurrent `token` commands. The node reads the file on every check,
//! so a revocation applies to the very next request without a restart.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the token store in the data directory.
pub const TOKENS_FILE: &str = "api-tokens.json";
/// Prefix of every token, so a leaked one is easy to recognise in logs and scanners.
pub const TOKEN_PREFIX: &str = "otd_";
/// Longest label accepted.
pub const MAX_LABEL_LEN: usize = 64;
/// Most tokens kept in the file (revoked and expired ones count until pruned).
pub const MAX_TOKENS: usize = 1000;
const FORMAT_VERSION: u32 = 1;

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Short random id, shown by `token list` and used by `token revoke`.
    pub id: String,
    /// Free text from `--label`.
    pub label: Option<String>,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// Unix time it was created.
    pub created: u64,
    /// Unix time it stops being valid.
    pub expires: u64,
    /// Unix time it was revoked, if it was.
    pub revoked: Option<u64>,
}

impl TokenInfo {
    /// Returns `valid`, `expired` or `revoked` at `now`.
    pub fn state(&self, now: u64) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if now >= self.expires {
            "expired"
        } else {
            "valid"
        }
    }
}

/// A token just created: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// What is stored.
    pub info: TokenInfo,
    /// The bearer token itself.
    pub secret: String,
}

/// Why a presented token was refused; each maps to a 401 with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No token matches.
    #[error("unknown token")]
    Unknown,
    /// The token expired.
    #[error("token expired")]
    Expired,
    /// The token was revoked.
    #[error("token revoked")]
    Revoked,
}

impl AuthFailure {
    /// The API error code.
    pub fn code(self) -> &'static str {
        match self {
            AuthFailure::Unknown => "invalid_token",
            AuthFailure::Expired => "expired_token",
            AuthFailure::Revoked => "revoked_token",
        }
    }
}

/// Why the token store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading, writing or locking the file failed.
    #[error("token store {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not a token store.
    #[error("token store {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No token has this id.
    #[error("no token with id {0:?}")]
    NotFound(String),
    /// The token was revoked already.
    #[error("token {0} is already revoked")]
    AlreadyRevoked(String),
    /// A label is too long or holds control characters.
    #[error("label must be at most {MAX_LABEL_LEN} printable characters")]
    BadLabel,
    /// The expiry is zero or absurdly long.
    #[error("expiry must be between 1 second and 10 years")]
    BadExpiry,
    /// The store is full.
    #[error("the token store holds {MAX_TOKENS} tokens; revoke some first")]
    Full,
    /// The system has no randomness to offer.
    #[error("no system randomness: {0}")]
    Random(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenInfo>,
}

/// The token store in a data directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

/// Returns SHA-256 of `token` as hex.
fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares without an early exit, so the time taken says nothing about the match.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn random_hex(bytes: usize) -> Result<String, TokenError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

impl TokenStore {
    /// The store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The store in `data_dir` ([`TOKENS_FILE`]).
    pub fn in_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join(TOKENS_FILE))
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: io::Error) -> TokenError {
        TokenError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<TokenFile, TokenError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(TokenFile {
                    version: FORMAT_VERSION,
                    tokens: Vec::new(),
                });
            }
            Err(e) => return Err(self.io(e)),
        };
        let file: TokenFile = serde_json::from_str(&text).map_err(|e| TokenError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if file.version != FORMAT_VERSION {
            return Err(TokenError::Corrupt {
                path: self.path.clone(),
                reason: format!("unknown version {}", file.version),
            });
        }
        Ok(file)
    }

    /// Writes `file` whole: temporary file, fsync, rename, fsync of the directory.
    fn write(&self, file: &TokenFile) -> Result<(), TokenError> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(file).map_err(|e| TokenError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&json).map_err(|e| self.io(e))?;
        f.write_all(b"\n").map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        // The rename is durable only once the directory entry is.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Runs a read-modify-write under an exclusive lock on a side file.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut TokenFile) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        std::fs::create_dir_all(self.dir()).map_err(|e| self.io(e))?;
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path.with_extension("lock"))
            .map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut file = self.read()?;
        let out = f(&mut file)?;
        self.write(&file)?;
        Ok(out)
    }

    /// Creates a token valid for `expiry` from `now` and returns it with its secret.
    ///
    /// # Errors
    /// A bad label or expiry, a full store, I/O.
    pub fn create(
        &self,
        expiry: Duration,
        label: Option<String>,
        now: u64,
    ) -> Result<NewToken, TokenError> {
        if let Some(l) = &label
            && (l.chars().count() > MAX_LABEL_LEN || l.chars().any(char::is_control))
        {
            return Err(TokenError::BadLabel);
        }
        if expiry.is_zero() || expiry > Duration::from_secs(10 * 366 * 24 * 3600) {
            return Err(TokenError::BadExpiry);
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_hex(32)?);
        self.update(|file| {
            if file.tokens.len() >= MAX_TOKENS {
                return Err(TokenError::Full);
            }
            let mut id = random_hex(4)?;
            while file.tokens.iter().any(|t| t.id == id) {
                id = random_hex(4)?;
            }
            let info = TokenInfo {
                id,
                label,
                sha256: digest(&secret),
                created: now,
                expires: now.saturating_add(expiry.as_secs().max(1)),
                revoked: None,
            };
            file.tokens.push(info.clone());
            Ok(NewToken {
                info,
                secret: secret.clone(),
            })
        })
    }

    /// Returns every stored token, oldest first.
    ///
    /// # Errors
    /// I/O or a corrupt file.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.read()?.tokens)
    }

    /// Revokes the token `id` at `now`.
    ///
    /// # Errors
    /// An unknown or already revoked id, I/O.
    pub fn revoke(&self, id: &str, now: u64) -> Result<TokenInfo, TokenError> {
        self.update(|file| {
            let t = file
                .tokens
                .iter_mut()
                .find(|t| t.id == id)
                .ok_or_else(|| TokenError::NotFound(id.to_owned()))?;
            if t.revoked.is_some() {
                return Err(TokenError::AlreadyRevoked(id.to_owned()));
            }
            t.revoked = Some(now);
            Ok(t.clone())
        })
    }

    /// Checks a presented token at `now`.
    ///
    /// # Errors
    /// `Ok(Err(..))` when the token is refused; `Err` when the store cannot be read.
    pub fn verify(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Result<TokenInfo, AuthFailure>, TokenError> {
        let file = self.read()?;
        let hash = digest(token);
        // Every entry is compared, so timing does not tell where a match was.
        let found =
            file.tokens.into_iter().fold(
                None,
                |acc, t| if same(&t.sha256, &hash) { Some(t) } else { acc },
            );
        Ok(match found {
            None => Err(AuthFailure::Unknown),
            Some(t) if t.revoked.is_some() => Err(AuthFailure::Revoked),
            Some(t) if now >= t.expires => Err(AuthFailure::Expired),
            Some(t) => Ok(t),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire_or_are_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::in_dir(dir.path());
        let a = store
            .create(Duration::from_secs(60), Some("ci".into()), 1000)
            .expect("create");
        let b = store
            .create(Duration::from_secs(3600), None, 1000)
            .expect("create");
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert_eq!(a.secret.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(a.info.id, b.info.id);

        let ok = |s: &str, now| store.verify(s, now).expect("readable");
        assert_eq!(ok(&a.secret, 1059).map(|t| t.id), Ok(a.info.id.clone()));
        assert_eq!(ok(&a.secret, 1060), Err(AuthFailure::Expired));
        assert_eq!(ok("otd_nope", 1000), Err(AuthFailure::Unknown));
        assert_eq!(ok("", 1000), Err(AuthFailure::Unknown));

        store.revoke(&b.info.id, 1001).expect("revoke");
        assert_eq!(ok(&b.secret, 1002), Err(AuthFailure::Revoked));
        assert!(matches!(
            store.revoke(&b.info.id, 1003),
            Err(TokenError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            store.revoke("ffffffff", 1003),
            Err(TokenError::NotFound(_))
        ));

        let listed = store.list().expect("list");
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].label.as_deref(), Some("ci"));
        assert_eq!(listed[0].state(1061), "expired");
        assert_eq!(listed[1].state(1002), "revoked");
        // Only the hash is stored.
        let text = std::fs::read_to_string(store.path()).expect("read");
        assert!(!text.contains(&a.secret[TOKEN_PREFIX.len()..]));
        assert!(text.contains(&a.info.sha256));
    }

    #[test]
    fn bad_input_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::in_dir(dir.path());
        assert!(matches!(
            store.create(Duration::ZERO, None, 0),
            Err(TokenError::BadExpiry)
        ));
        assert!(matches!(
            store.create(Duration::from_secs(1), Some("a\nb".into()), 0),
            Err(TokenError::BadLabel)
        ));
        assert!(matches!(
            store.create(Duration::from_secs(1), Some("x".repeat(65)), 0),
            Err(TokenError::BadLabel)
        ));
        std::fs::write(store.path(), "{not json").expect("write");
        assert!(matches!(
            store.verify("otd_x", 0),
            Err(TokenError::Corrupt { .. })
        ));
        assert!(matches!(store.list(), Err(TokenError::Corrupt { .. })));
    }

    #[test]
    fn a_missing_store_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::in_dir(&dir.path().join("sub"));
        assert_eq!(store.list().expect("list"), vec![]);
        assert_eq!(
            store.verify("otd_x", 0).expect("readable"),
            Err(AuthFailure::Unknown)
        );
    }
}
