//! What the Ethash and KawPow kernels of both GPU APIs share: the job and report
//! layouts, the item-range check and the CPU re-check of every report.

use crate::error::DagError;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tracing::warn;

const LOG: &str = "otedama::miner::dag";

/// Words of the job: the header hash, then the boundary (both as little-endian words).
pub(crate) const DAG_JOB_WORDS: usize = 16;
/// Words of one report: the nonce's two words, then the mix hash's eight.
pub(crate) const REPORT_WORDS: usize = 10;
/// Most dataset items one call computes or reads back.
pub const MAX_ITEMS_PER_CALL: u32 = 1 << 20;

/// A device's report that the CPU re-check accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DagSolution {
    /// The nonce.
    pub nonce: u64,
    /// The 32-byte mix hash (as a block header carries it).
    pub mix: [u8; 32],
    /// The final hash, at most the boundary (big-endian).
    pub result: [u8; 32],
}

/// A nonce and mix hash the device reported, not yet re-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) nonce: u64,
    pub(crate) mix: [u8; 32],
}

/// One device's search kernel, ready to launch: what [`search_batches`] drives.
pub(crate) trait SearchLaunch {
    /// The device API's error.
    type Error;
    /// Runs the kernel over `count` nonces from `start` and returns how many reports it
    /// found (more than the output holds when it overflowed).
    fn launch(&mut self, start: u64, count: u64) -> Result<u32, Self::Error>;
    /// Reads the first `n` reports of the last launch.
    fn read_reports(&mut self, n: u32) -> Result<Vec<Report>, Self::Error>;
}

/// Runs `device` over `nonces` in batches of `batch` until done or `stop`, and returns
/// every report and the nonces hashed. A launch reporting more than the `cap` output slots
/// is re-run in slices of `cap` nonces, which cannot overflow.
pub(crate) fn search_batches<D: SearchLaunch>(
    device: &mut D,
    nonces: Range<u64>,
    batch: u64,
    cap: u32,
    stop: &AtomicBool,
) -> Result<(Vec<Report>, u64), D::Error> {
    let mut reports = Vec::new();
    let mut hashed = 0u64;
    let mut start = nonces.start;
    while start < nonces.end && !stop.load(Ordering::Relaxed) {
        let count = (nonces.end - start).min(batch.max(1));
        dispatch(device, start, count, cap, &mut reports)?;
        hashed += count;
        start += count;
    }
    Ok((reports, hashed))
}

fn dispatch<D: SearchLaunch>(
    device: &mut D,
    start: u64,
    count: u64,
    cap: u32,
    reports: &mut Vec<Report>,
) -> Result<(), D::Error> {
    let n = device.launch(start, count)?;
    if n > cap {
        let mut s = start;
        while s < start + count {
            let len = (start + count - s).min(u64::from(cap));
            dispatch(device, s, len, cap, reports)?;
            s += len;
        }
        return Ok(());
    }
    if n > 0 {
        reports.extend(device.read_reports(n)?);
    }
    Ok(())
}

/// Returns the 32 bytes of eight little-endian words.
fn word_bytes(words: &[u32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Returns the eight little-endian words of 32 bytes.
fn bytes_words(bytes: &[u8; 32]) -> [u32; 8] {
    std::array::from_fn(|i| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    })
}

/// Returns the job words of a search: the header hash, then the boundary.
pub(crate) fn dag_job(header_hash: &[u8; 32], boundary: &[u8; 32]) -> [u32; DAG_JOB_WORDS] {
    let mut job = [0u32; DAG_JOB_WORDS];
    job[..8].copy_from_slice(&bytes_words(header_hash));
    job[8..].copy_from_slice(&bytes_words(boundary));
    job
}

/// Returns the reports of the output words after the counter (whole reports only).
pub(crate) fn parse_reports(words: &[u32]) -> impl Iterator<Item = Report> + '_ {
    words.chunks_exact(REPORT_WORDS).map(|r| Report {
        nonce: u64::from(r[0]) | (u64::from(r[1]) << 32),
        mix: word_bytes(&r[2..]),
    })
}

/// Checks that items `first..first + count` lie in a dataset of `items` items and that
/// `count` is at most [`MAX_ITEMS_PER_CALL`].
pub(crate) fn check_range(first: u32, count: u32, items: u32) -> Result<(), DagError> {
    let end = u64::from(first) + u64::from(count);
    if count > MAX_ITEMS_PER_CALL || end > u64::from(items) {
        return Err(DagError::Range {
            first: u64::from(first),
            count: u64::from(count),
            items: u64::from(items),
            max: u64::from(MAX_ITEMS_PER_CALL),
        });
    }
    Ok(())
}

/// Re-checks `reports` with `hash` (the CPU's mix and final hash of a nonce): returns
/// those whose mix matches and whose final hash is at most `boundary`, in nonce order,
/// each once; counts the others in `errors` and logs them. Nothing unchecked is
/// returned.
pub(crate) fn recheck(
    backend: &str,
    mut reports: Vec<Report>,
    boundary: &[u8; 32],
    errors: &AtomicU64,
    hash: impl Fn(u64) -> ([u8; 32], [u8; 32]),
) -> Vec<DagSolution> {
    reports.sort_unstable_by_key(|r| r.nonce);
    reports.dedup();
    let mut found = Vec::new();
    for r in reports {
        let (mix, result) = hash(r.nonce);
        if mix == r.mix && result <= *boundary {
            found.push(DagSolution {
                nonce: r.nonce,
                mix,
                result,
            });
        } else {
            errors.fetch_add(1, Ordering::Relaxed);
            warn!(target: LOG, backend, nonce = r.nonce, "device reported a wrong nonce or mix hash");
        }
    }
    found
}
