//! Hashing threads and the board the client task posts work on.

use crate::backend::HashBackend;
use crate::job::{Work, extranonce2};
use crate::stats::Shared;
use otedama_sharechain::PowAlgorithm;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, warn};

const LOG: &str = "otedama::miner";

/// Versions a hashing thread rolls through per extranonce2 when the pool allows
/// version rolling (each nonce chunk is scanned once per version).
const VERSION_ROLLS: usize = 4;
/// How long an idle thread sleeps before looking at the shutdown flag again.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// A share found by a hashing thread and re-checked on the CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundShare {
    /// The pool session of the job.
    pub session: u64,
    /// The job id.
    pub job_id: String,
    /// The extranonce2 the header was built with.
    pub extranonce2: Vec<u8>,
    /// The job's ntime.
    pub ntime: u32,
    /// The nonce.
    pub nonce: u32,
    /// The rolled version bits (`version & mask`), when the pool allows rolling (BIP310).
    pub version_bits: Option<u32>,
}

#[derive(Debug, Default)]
struct Slot {
    work: Option<Arc<Work>>,
}

/// The current work, a generation counter that changes whenever it does, and one
/// interrupt flag per hashing thread.
#[derive(Debug)]
pub(crate) struct WorkBoard {
    slot: Mutex<Slot>,
    changed: Condvar,
    generation: AtomicU64,
    interrupts: Vec<AtomicBool>,
    shutdown: AtomicBool,
}

impl WorkBoard {
    /// Returns an empty board for `threads` hashing threads.
    pub fn new(threads: usize) -> Self {
        Self {
            slot: Mutex::new(Slot::default()),
            changed: Condvar::new(),
            generation: AtomicU64::new(0),
            interrupts: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            shutdown: AtomicBool::new(false),
        }
    }

    /// Posts new work. With `clean`, threads abandon their current scan at once;
    /// otherwise they switch when their current chunk ends.
    pub fn publish(&self, work: Work, clean: bool) {
        self.replace(Some(Arc::new(work)), clean);
    }

    /// Withdraws the work (the session ended): threads stop and wait.
    pub fn clear(&self) {
        self.replace(None, true);
    }

    /// Tells every thread to exit.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.replace(None, true);
    }

    fn replace(&self, work: Option<Arc<Work>>, interrupt: bool) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.work = work;
        self.generation.fetch_add(1, Ordering::SeqCst);
        if interrupt {
            for flag in &self.interrupts {
                flag.store(true, Ordering::SeqCst);
            }
        }
        drop(slot);
        self.changed.notify_all();
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Blocks until there is work (returned with its generation) or shutdown (`None`).
    fn wait_work(&self) -> Option<(Arc<Work>, u64)> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_shutdown() {
                return None;
            }
            if let Some(work) = &slot.work {
                return Some((Arc::clone(work), self.generation.load(Ordering::SeqCst)));
            }
            slot = self
                .changed
                .wait_timeout(slot, IDLE_POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// What one hashing thread needs.
pub(crate) struct Worker {
    /// Thread index: the top byte of its extranonce2.
    pub index: u8,
    pub backend: Arc<dyn HashBackend>,
    pub algorithm: PowAlgorithm,
    pub board: Arc<WorkBoard>,
    pub shared: Arc<Shared>,
    pub shares: mpsc::Sender<FoundShare>,
}

impl Worker {
    /// Runs until the board shuts down.
    pub fn run(self) {
        let interrupt = &self.board.interrupts[usize::from(self.index)];
        // Carried across jobs, so a job re-sent under a new id is not re-scanned with the
        // same extranonce2 (pools reject duplicate hashes).
        let mut counter = 0u64;
        loop {
            // Clear before reading the board: a publish after this line sets it again.
            interrupt.store(false, Ordering::SeqCst);
            let Some((work, generation)) = self.board.wait_work() else {
                break;
            };
            self.mine(&work, generation, interrupt, &mut counter);
        }
        debug!(target: LOG, thread = self.index, "hashing thread stopped");
    }

    /// Mines `work` until it is replaced, interrupted or the board shuts down.
    fn mine(&self, work: &Work, generation: u64, interrupt: &AtomicBool, counter: &mut u64) {
        let chunk = self.backend.chunk().max(1);
        let current = || {
            !interrupt.load(Ordering::Relaxed)
                && self.board.generation.load(Ordering::SeqCst) == generation
        };
        let mask = work.version_mask;
        let device_rolls = mask != 0 && self.backend.rolls_version();
        // The versions this thread scans each nonce chunk with: the job's, then rolled
        // ones when the pool allows it and the device does not roll by itself.
        let mut versions = vec![work.job.version];
        if mask != 0 && !device_rolls {
            for _ in 1..VERSION_ROLLS {
                let last = versions[versions.len() - 1];
                versions.push(crate::backend::next_rolled_version(last, mask));
            }
        }
        loop {
            let en2 = extranonce2(self.index, *counter, work.extranonce2_size);
            *counter = counter.wrapping_add(1);
            let mut template = work.header(&en2);
            // `Range<u32>` cannot hold u32::MAX: the last nonce of each extranonce2 is skipped.
            let mut start = 0u32;
            while start < u32::MAX {
                let end = start.saturating_add(chunk);
                for &version in &versions {
                    template[0..4].copy_from_slice(&version.to_le_bytes());
                    let r = if device_rolls {
                        self.backend.scan_rolling(
                            &template,
                            start..end,
                            mask,
                            &work.target,
                            interrupt,
                        )
                    } else {
                        self.backend
                            .scan(&template, start..end, &work.target, interrupt)
                    };
                    self.shared.hashes.fetch_add(r.hashes, Ordering::Relaxed);
                    for nonce in r.found {
                        self.submit(work, &template, &en2, version, nonce);
                    }
                    for (rolled, nonce) in r.rolled {
                        self.submit(work, &template, &en2, rolled, nonce);
                    }
                    if !current() {
                        return;
                    }
                }
                start = end;
            }
            debug!(target: LOG, thread = self.index, job = %work.job.job_id, "nonce range exhausted; next extranonce2");
        }
    }

    /// Re-checks a backend candidate with the reference hash and queues it for the pool.
    fn submit(&self, work: &Work, template: &[u8; 80], en2: &[u8], version: u32, nonce: u32) {
        let mask = work.version_mask;
        if (version ^ work.job.version) & !mask != 0 {
            warn!(target: LOG, backend = self.backend.name(), version = %format!("{version:08x}"), "backend candidate rolled bits outside the pool's mask; dropped");
            return;
        }
        let mut header = *template;
        header[0..4].copy_from_slice(&version.to_le_bytes());
        header[76..80].copy_from_slice(&nonce.to_le_bytes());
        if !work.target.is_met_by(&self.algorithm.hash(&header)) {
            self.shared.hardware_errors.fetch_add(1, Ordering::Relaxed);
            warn!(target: LOG, backend = self.backend.name(), nonce, "backend candidate fails the CPU re-check; dropped");
            return;
        }
        let share = FoundShare {
            session: work.session,
            job_id: work.job.job_id.clone(),
            extranonce2: en2.to_vec(),
            ntime: work.job.ntime,
            nonce,
            version_bits: (mask != 0).then_some(version & mask),
        };
        // Never block a hashing thread on the network; a full queue means the pool
        // connection is stuck, and the share would likely be stale anyway.
        if let Err(mpsc::error::TrySendError::Full(_)) = self.shares.try_send(share) {
            warn!(target: LOG, "share queue full; share dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CpuBackend;
    use crate::job::Job;
    use otedama_sharechain::{Target, Work as ChainWork};

    fn work(target: Target) -> Work {
        Work {
            session: 7,
            job: Job {
                job_id: "j".into(),
                prev_hash: [3; 32],
                coinb1: vec![1, 2],
                coinb2: vec![3],
                merkle_branch: vec![[4; 32]],
                version: 0x2000_0000,
                nbits: 0x1d00_ffff,
                ntime: 1_700_000_000,
                clean_jobs: true,
            },
            extranonce1: vec![9, 9, 9, 9],
            extranonce2_size: 4,
            target,
            version_mask: 0,
        }
    }

    /// Two threads mine one job; every share they queue meets the target and the two
    /// threads never use the same extranonce2. Shutdown ends both threads.
    #[test]
    fn threads_find_rechecked_shares_and_stop() {
        let board = Arc::new(WorkBoard::new(2));
        let shared = Arc::new(Shared::default());
        let (tx, mut rx) = mpsc::channel(64);
        let backend: Arc<dyn HashBackend> = Arc::new(CpuBackend::new(PowAlgorithm::Sha256d));
        let handles: Vec<_> = (0..2u8)
            .map(|index| {
                let w = Worker {
                    index,
                    backend: Arc::clone(&backend),
                    algorithm: PowAlgorithm::Sha256d,
                    board: Arc::clone(&board),
                    shared: Arc::clone(&shared),
                    shares: tx.clone(),
                };
                std::thread::spawn(move || w.run())
            })
            .collect();
        drop(tx);
        let target = Target::from_work(ChainWork::from_u128(4096));
        let w = work(target);
        board.publish(w.clone(), true);
        let mut threads_seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let s = rx.blocking_recv().expect("threads are running");
            assert_eq!(
                (s.session, s.job_id.as_str(), s.ntime),
                (7, "j", w.job.ntime)
            );
            let h = w.job.header(&w.extranonce1, &s.extranonce2, s.nonce);
            assert!(target.is_met_by(&PowAlgorithm::Sha256d.hash(&h)));
            threads_seen.insert(s.extranonce2[3]);
        }
        board.shutdown();
        for h in handles {
            h.join().expect("thread exits cleanly");
        }
        assert!(shared.hashes.load(Ordering::Relaxed) > 0);
        assert!(threads_seen.iter().all(|t| *t < 2));
    }

    /// With a version-rolling mask, a thread scans each nonce chunk with rolled
    /// versions too: shares carry the rolled bits, only bits of the mask differ from
    /// the job's version, and the header with those bits meets the target.
    #[test]
    fn rolls_the_version_within_the_mask() {
        let board = Arc::new(WorkBoard::new(1));
        let shared = Arc::new(Shared::default());
        let (tx, mut rx) = mpsc::channel(64);
        let w = Worker {
            index: 0,
            backend: Arc::new(CpuBackend::new(PowAlgorithm::Sha256d)),
            algorithm: PowAlgorithm::Sha256d,
            board: Arc::clone(&board),
            shared: Arc::clone(&shared),
            shares: tx,
        };
        let handle = std::thread::spawn(move || w.run());
        let target = Target::from_work(ChainWork::from_u128(1 << 16));
        let mut job = work(target);
        job.version_mask = 0x0000_6000;
        board.publish(job.clone(), true);
        let mut versions = std::collections::BTreeSet::new();
        // About 16 shares per version and 2^20-nonce chunk: 100 cover all four.
        for _ in 0..100 {
            let s = rx.blocking_recv().expect("thread is running");
            let bits = s.version_bits.expect("rolling is on");
            assert_eq!(bits & !job.version_mask, 0, "bits outside the mask");
            let version = (job.job.version & !job.version_mask) | bits;
            let mut h = job.job.header(&job.extranonce1, &s.extranonce2, s.nonce);
            h[0..4].copy_from_slice(&version.to_le_bytes());
            assert!(target.is_met_by(&PowAlgorithm::Sha256d.hash(&h)));
            versions.insert(bits);
        }
        board.shutdown();
        handle.join().expect("thread exits cleanly");
        assert_eq!(
            versions.into_iter().collect::<Vec<_>>(),
            vec![0, 0x2000, 0x4000, 0x6000]
        );
        assert_eq!(shared.hardware_errors.load(Ordering::Relaxed), 0);
    }
}
