//! sled storage (`=0.34.7`). Trees: `shares` (hash -> stored share), `by_height`
//! (height ++ hash -> nothing, every share), `main` (height -> hash, best chain), `meta`
//! (consensus id, format version, tip). Each accepted share is one transaction across
//! all trees, so a crash leaves the previous or the next state, never a mix. sled
//! flushes lazily (every 500 ms); the last writes before a crash may be lost, and the
//! chain can always be re-synced from peers.

mod reader;

pub use reader::StoreReader;

use crate::chain::{ShareChain, ShareMeta, TipChange};
use crate::error::{DecodeError, StoreError};
use crate::retarget::Anchor;
use crate::{ChainSpec, PayoutScript, Share, ShareHash, Work};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;

/// Version byte of stored values.
const STORE_VERSION: u8 = 1;
const KEY_CONSENSUS_ID: &[u8] = b"consensus_id";
const KEY_TIP: &[u8] = b"tip";
const KEY_VERSION: &[u8] = b"version";

/// What a stored share keeps besides the share itself: the fields that need its
/// ancestors to derive, so a pruned chain still loads.
#[derive(bincode::Encode, bincode::Decode)]
struct StoredShare {
    share: Vec<u8>,
    chain_work: u128,
    anchor_time: u32,
    uncle_credits: Vec<(Vec<u8>, u128)>,
}

/// A summary of a consistency check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreReport {
    /// Shares stored.
    pub shares: usize,
    /// Height of the stored tip, if any.
    pub tip_height: Option<u64>,
}

/// The persistent share store. Clones share the same database.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    shares: sled::Tree,
    by_height: sled::Tree,
    main: sled::Tree,
    meta: sled::Tree,
    spec: ChainSpec,
}

fn height_key(height: u64, hash: &ShareHash) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&height.to_be_bytes());
    k[8..].copy_from_slice(hash.as_bytes());
    k
}

/// Tries to take sled's file lock this many times, [`LOCK_RETRY`] apart.
const LOCK_TRIES: u32 = 50;
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// Opens the database. sled releases its file lock when the last handle drops, and its
/// background flusher may hold one a moment after the previous owner in this process
/// dropped the store: a lock refused as "would block" is tried again for up to a
/// second. Another process holding the store still gets the error.
fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let mut tries = 0;
    loop {
        match sled::Config::new().path(path).open() {
            Err(sled::Error::Io(e))
                if tries + 1 < LOCK_TRIES && e.to_string().contains("could not acquire lock") =>
            {
                tries += 1;
                std::thread::sleep(LOCK_RETRY);
            }
            other => return other,
        }
    }
}

fn corrupt(key: impl std::fmt::Display, source: DecodeError) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        source,
    }
}

fn txn_error(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => StoreError::Db(e),
        TransactionError::Abort(()) => {
            StoreError::Db(sled::Error::Unsupported("transaction aborted".into()))
        }
    }
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 512 * 1024 }>()
}

impl Store {
    /// Opens (or creates) the store at `path` and loads its shares into a [`ShareChain`].
    ///
    /// # Errors
    /// Database errors, a store of another chain spec, or undecodable values.
    pub fn open(path: &Path, spec: &ChainSpec) -> Result<(Store, ShareChain), StoreError> {
        let db = open_db(path)?;
        let store = Store {
            shares: db.open_tree("shares")?,
            by_height: db.open_tree("by_height")?,
            main: db.open_tree("main")?,
            meta: db.open_tree("meta")?,
            db,
            spec: spec.clone(),
        };
        let id = spec.consensus_id();
        match store.meta.get(KEY_CONSENSUS_ID)? {
            Some(found) if found.as_ref() != id.as_bytes() => {
                return Err(StoreError::WrongChain {
                    found: hex::encode(found),
                    expected: id.to_string(),
                });
            }
            Some(_) => {}
            None => {
                store.meta.insert(KEY_CONSENSUS_ID, id.as_bytes())?;
                store.meta.insert(KEY_VERSION, &[STORE_VERSION])?;
            }
        }
        let chain = store.load()?;
        Ok((store, chain))
    }

    fn decode_stored(
        &self,
        hash: &ShareHash,
        bytes: &[u8],
    ) -> Result<(Share, ShareMeta), StoreError> {
        let (&version, rest) = bytes.split_first().ok_or_else(|| {
            corrupt(
                hash,
                DecodeError::UnexpectedEof {
                    what: "stored share",
                },
            )
        })?;
        if version != STORE_VERSION {
            return Err(corrupt(hash, DecodeError::UnknownVersion(version)));
        }
        let (stored, _): (StoredShare, usize) = bincode::decode_from_slice(rest, config())
            .map_err(|e| corrupt(hash, DecodeError::Body(e.to_string())))?;
        let share = Share::from_bytes(&stored.share).map_err(|e| corrupt(hash, e))?;
        let mut uncle_credits = Vec::with_capacity(stored.uncle_credits.len());
        for (script, w) in stored.uncle_credits {
            let script = PayoutScript::new(script).map_err(|_| {
                corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "uncle script",
                    },
                )
            })?;
            uncle_credits.push((script, Work::from_u128(w)));
        }
        let anchor = Anchor {
            time: stored.anchor_time,
        };
        let meta = ShareMeta::new(
            &share,
            Work::from_u128(stored.chain_work),
            anchor,
            uncle_credits,
        )
        .ok_or_else(|| {
            corrupt(
                hash,
                DecodeError::Invalid {
                    what: "share_target",
                },
            )
        })?;
        if meta.hash != *hash {
            return Err(corrupt(
                hash,
                DecodeError::Invalid {
                    what: "hash mismatch",
                },
            ));
        }
        Ok((share, meta))
    }

    fn load(&self) -> Result<ShareChain, StoreError> {
        let mut chain = ShareChain::new(self.spec.clone());
        for item in self.by_height.iter() {
            let (key, _) = item?;
            let hash_bytes: [u8; 32] = key
                .get(8..40)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| corrupt("by_height", DecodeError::Invalid { what: "key" }))?;
            let hash = ShareHash::from_bytes(hash_bytes);
            let value = self.shares.get(hash.as_bytes())?.ok_or_else(|| {
                corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "indexed share missing",
                    },
                )
            })?;
            let (_, meta) = self.decode_stored(&hash, &value)?;
            chain.insert(meta);
        }
        Ok(chain)
    }

    /// Returns a read-only view of the store for readers beside its owner (serving
    /// peers): it can read shares but never write, prune or flush.
    pub fn reader(&self) -> StoreReader {
        StoreReader {
            store: self.clone(),
        }
    }

    /// Returns a stored share.
    ///
    /// # Errors
    /// Database errors or an undecodable value.
    pub fn get(&self, hash: &ShareHash) -> Result<Option<Share>, StoreError> {
        match self.shares.get(hash.as_bytes())? {
            None => Ok(None),
            Some(v) => Ok(Some(self.decode_stored(hash, &v)?.0)),
        }
    }

    /// Returns the best-chain share hash at `height`.
    ///
    /// # Errors
    /// Database errors.
    pub fn main_at(&self, height: u64) -> Result<Option<ShareHash>, StoreError> {
        Ok(self
            .main
            .get(height.to_be_bytes())?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok())
            .map(ShareHash::from_bytes))
    }

    /// Persists an accepted share and the tip change it caused, in one transaction.
    /// `chain` is the chain after [`ShareChain::insert`].
    ///
    /// # Errors
    /// Database errors.
    pub fn accept(
        &self,
        share: &Share,
        meta: &ShareMeta,
        change: &TipChange,
        chain: &ShareChain,
    ) -> Result<(), StoreError> {
        let stored = StoredShare {
            share: share.to_bytes(),
            chain_work: meta.chain_work.to_u128(),
            anchor_time: meta.anchor.time,
            uncle_credits: meta
                .uncle_credits
                .iter()
                .map(|(s, w)| (s.as_bytes().to_vec(), w.to_u128()))
                .collect(),
        };
        let mut value = vec![STORE_VERSION];
        value.extend(
            bincode::encode_to_vec(&stored, config())
                .map_err(|e| corrupt(meta.hash, DecodeError::Body(e.to_string())))?,
        );

        // Main-chain writes: new entries, and stale heights to clear (scanned before the
        // transaction; there is one writer).
        let mut set: Vec<(u64, ShareHash)> = Vec::new();
        let mut clear_from: Option<u64> = None;
        match change {
            TipChange::Unchanged => {}
            TipChange::Extended(h) => {
                set.push((meta.height, *h));
                clear_from = Some(meta.height + 1);
            }
            TipChange::Reorg { connected, .. } => {
                for h in connected {
                    if let Some(m) = chain.tip_or(*h) {
                        set.push((m.height, *h));
                    }
                }
                clear_from = set.first().map(|(h, _)| *h);
            }
        }
        let mut clear: Vec<u64> = Vec::new();
        if let Some(from) = clear_from {
            for item in self.main.range(from.to_be_bytes()..) {
                let (k, _) = item?;
                if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                    clear.push(u64::from_be_bytes(b));
                }
            }
        }
        let tip = chain.tip().map(|t| t.hash);
        (&self.shares, &self.by_height, &self.main, &self.meta)
            .transaction(|(shares, by_height, main, meta_t)| {
                shares.insert(&meta.hash.as_bytes()[..], value.as_slice())?;
                by_height.insert(&height_key(meta.height, &meta.hash)[..], &[][..])?;
                for h in &clear {
                    main.remove(&h.to_be_bytes()[..])?;
                }
                for (h, hash) in &set {
                    main.insert(&h.to_be_bytes()[..], &hash.as_bytes()[..])?;
                }
                if let Some(t) = tip {
                    meta_t.insert(KEY_TIP, &t.as_bytes()[..])?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(txn_error)
    }

    /// Deletes every share more than `retention_shares` below the tip, from the store and
    /// from `chain`. Returns how many were removed.
    ///
    /// # Errors
    /// Database errors.
    pub fn prune(&self, chain: &mut ShareChain) -> Result<usize, StoreError> {
        let Some(tip_height) = chain.tip().map(|t| t.height) else {
            return Ok(0);
        };
        let cutoff = tip_height.saturating_sub(self.spec.retention_shares());
        if cutoff == 0 {
            return Ok(0);
        }
        let mut keys = Vec::new();
        for item in self.by_height.range(..cutoff.to_be_bytes().to_vec()) {
            keys.push(item?.0);
        }
        for chunk in keys.chunks(1024) {
            (&self.shares, &self.by_height, &self.main)
                .transaction(|(shares, by_height, main)| {
                    for k in chunk {
                        by_height.remove(k.as_ref())?;
                        if let Some(hash) = k.get(8..40) {
                            shares.remove(hash)?;
                        }
                        if let Some(h) = k.get(..8) {
                            main.remove(h)?;
                        }
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                })
                .map_err(txn_error)?;
        }
        chain.prune_below(cutoff);
        Ok(keys.len())
    }

    /// Flushes to disk and waits for it.
    ///
    /// # Errors
    /// Database errors.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Checks the store's invariants: every indexed share is present and decodes; the
    /// main chain is contiguous, each entry's height and parent link agree; the recorded
    /// tip is the top of the main chain.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the first broken invariant.
    pub fn verify(&self) -> Result<StoreReport, StoreError> {
        let mut count = 0usize;
        for item in self.by_height.iter() {
            let (k, _) = item?;
            let hash = ShareHash::from_bytes(
                k.get(8..40)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| corrupt("by_height", DecodeError::Invalid { what: "key" }))?,
            );
            let v = self.shares.get(hash.as_bytes())?.ok_or_else(|| {
                corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "indexed share missing",
                    },
                )
            })?;
            let (_, meta) = self.decode_stored(&hash, &v)?;
            if k.get(..8) != Some(&meta.height.to_be_bytes()[..]) {
                return Err(corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "height index",
                    },
                ));
            }
            count += 1;
        }
        if count != self.shares.len() {
            return Err(corrupt(
                "shares",
                DecodeError::Invalid {
                    what: "unindexed shares",
                },
            ));
        }
        let mut prev: Option<(u64, ShareHash)> = None;
        for item in self.main.iter() {
            let (k, v) = item?;
            let height = u64::from_be_bytes(
                <[u8; 8]>::try_from(k.as_ref())
                    .map_err(|_| corrupt("main", DecodeError::Invalid { what: "key" }))?,
            );
            let hash = ShareHash::from_bytes(
                <[u8; 32]>::try_from(v.as_ref())
                    .map_err(|_| corrupt("main", DecodeError::Invalid { what: "value" }))?,
            );
            let share = self.get(&hash)?.ok_or_else(|| {
                corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "main entry missing",
                    },
                )
            })?;
            if share.header.info.height != height {
                return Err(corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "main height",
                    },
                ));
            }
            if let Some((ph, phash)) = prev
                && (ph + 1 != height || share.header.info.prev_share != phash)
            {
                return Err(corrupt(
                    hash,
                    DecodeError::Invalid {
                        what: "main chain link",
                    },
                ));
            }
            prev = Some((height, hash));
        }
        let tip = self
            .meta
            .get(KEY_TIP)?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok());
        if tip.map(ShareHash::from_bytes) != prev.map(|p| p.1) {
            return Err(corrupt(
                "meta.tip",
                DecodeError::Invalid {
                    what: "tip is not the top of the main chain",
                },
            ));
        }
        Ok(StoreReport {
            shares: count,
            tip_height: prev.map(|p| p.0),
        })
    }
}
