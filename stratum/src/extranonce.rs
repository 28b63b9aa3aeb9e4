//! extranonce1 allocation. Every open session holds a distinct value, so no two
//! sessions ever search the same coinbase; a reconnecting miner may ask for its old
//! value back (session resume) and gets it if no one else holds it.

use crate::config::EXTRANONCE1_SIZE;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

/// The extranonce1 values in use.
#[derive(Debug)]
pub(crate) struct Extranonces {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    in_use: HashSet<u32>,
    next: u32,
}

/// An extranonce1 held by a session, given back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<Extranonces>,
    value: u32,
}

impl Extranonces {
    /// Returns an empty allocator. Values are handed out in order from a random start,
    /// so two nodes paying one miner rarely hand out the same extranonce1 (which would
    /// make their miners repeat each other's work), and a value that was just given back
    /// is not reused for about 2^32 connections, which keeps it free for a resume.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                in_use: HashSet::new(),
                next: RandomState::new().hash_one(0u8) as u32,
            }),
        })
    }

    /// Takes the next free value. Terminates: fewer than 2^32 values are ever in use
    /// (the connection cap is far below).
    pub(crate) fn take(pool: &Arc<Self>) -> Lease {
        let mut t = pool.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let value = loop {
            let candidate = t.next;
            t.next = candidate.wrapping_add(1);
            if t.in_use.insert(candidate) {
                break candidate;
            }
        };
        drop(t);
        Lease {
            pool: pool.clone(),
            value,
        }
    }

    /// Takes `value` if it is free.
    pub(crate) fn take_exact(pool: &Arc<Self>, value: u32) -> Option<Lease> {
        let mut t = pool.inner.lock().unwrap_or_else(PoisonError::into_inner);
        t.in_use.insert(value).then(|| Lease {
            pool: pool.clone(),
            value,
        })
    }

    /// Returns how many values are held.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_use
            .len()
    }
}

impl Lease {
    /// Returns the value.
    pub(crate) fn value(&self) -> u32 {
        self.value
    }

    /// Returns the value as the bytes placed in the coinbase.
    pub(crate) fn bytes(&self) -> [u8; EXTRANONCE1_SIZE] {
        self.value.to_be_bytes()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_use
            .remove(&self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unique_and_resumable_when_free() {
        let pool = Extranonces::new();
        let a = Extranonces::take(&pool);
        let b = Extranonces::take(&pool);
        assert_ne!(a.value(), b.value());
        assert!(Extranonces::take_exact(&pool, a.value()).is_none(), "held");
        let old = a.value();
        drop(a);
        let resumed = Extranonces::take_exact(&pool, old).expect("free again");
        assert_eq!(resumed.bytes(), old.to_be_bytes());
        // The counter moved on: a fresh take never lands on the resumed value.
        let c = Extranonces::take(&pool);
        assert_ne!(c.value(), old);
        drop((b, c, resumed));
        assert_eq!(pool.in_use(), 0);
    }
}
