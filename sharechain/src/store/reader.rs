//! [`StoreReader`]: the read-only view of the [`Store`] for readers beside its owner.

use super::Store;
use crate::{ShareHash, StoreError};

/// A read-only view of the [`Store`]: what the task serving peers reads from disk while
/// the store's owner writes.
#[derive(Clone, Debug)]
pub struct StoreReader {
    pub(super) store: Store,
}

impl StoreReader {
    /// Returns the consensus encoding of the headers of `hashes`, in order, stopping at
    /// the first one not stored (pruned, or not yet flushed: the peer asks again from
    /// there).
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn encoded_headers(&self, hashes: &[ShareHash]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            let Some(share) = self.store.get(h)? else {
                break;
            };
            let mut b = Vec::with_capacity(256);
            share.header.encode(&mut b);
            out.push(b);
        }
        Ok(out)
    }

    /// Returns the encoded shares among `hashes` that are stored, in order, each with
    /// its hash.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn encoded_shares(
        &self,
        hashes: &[ShareHash],
    ) -> Result<Vec<(ShareHash, Vec<u8>)>, StoreError> {
        let mut out = Vec::with_capacity(hashes.len());
        for h in hashes {
            if let Some(share) = self.store.get(h)? {
                out.push((*h, share.to_bytes()));
            }
        }
        Ok(out)
    }
}
