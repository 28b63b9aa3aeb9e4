//! Jobs out and nonces in: sending jobs, retiring them, and collecting the nonces the
//! chips find, with duplicate and stale-job filtering.

use super::*;
use crate::asic::protocol::{HeaderJob, MidstateJob, Reply, encode_job};
use crate::backend::next_rolled_version;
use std::time::Duration;

impl Chain {
    /// Sends a job for `header` (its version is the base the chips roll from, within the
    /// mask set by [`Chain::set_version_mask`]); returns its id.
    ///
    /// # Errors
    /// I/O errors.
    pub fn send_job(&mut self, header: &[u8; 80], starting_nonce: u32) -> Result<u8, ChainError> {
        let family = self.config.family;
        let id = self.next_job_id;
        self.next_job_id = (self.next_job_id + family.job_id_step()) % 128;
        let base = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (payload, slots) = if family.rolls_version() {
            (
                HeaderJob::from_header(id, header, starting_nonce).payload(),
                Vec::new(),
            )
        } else {
            let mut versions = vec![base];
            if self.version_mask != 0 {
                while versions.len() < 4 {
                    let last = versions[versions.len() - 1];
                    versions.push(next_rolled_version(last, self.version_mask));
                }
            }
            let job = MidstateJob::from_header(id, header, &versions, starting_nonce);
            (job.payload(), versions)
        };
        let frame = encode_job(&payload);
        self.transport.write(&frame).map_err(|e| self.io(e))?;
        if self.jobs.len() >= LIVE_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back(LiveJob {
            id,
            header: *header,
            slots,
            mask: self.version_mask,
        });
        Ok(id)
    }

    /// Forgets every job: replies to them count as stale from now on.
    pub fn retire_jobs(&mut self) {
        self.jobs.clear();
    }

    /// Collects the nonces that arrive within `timeout`: checked against the ticket
    /// difficulty (failures are hardware errors), with repeats and replies to retired
    /// jobs dropped.
    ///
    /// # Errors
    /// I/O errors.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<Found>, ChainError> {
        let family = self.config.family;
        let mut out = Vec::new();
        for reply in self.read_replies(timeout)? {
            let Reply::Nonce {
                nonce,
                id,
                version_bits,
                ..
            } = reply
            else {
                continue;
            };
            let (job_id, sub) = family.split_reply_id(id);
            let Some(job) = self.jobs.iter().find(|j| j.id == job_id) else {
                self.counters.stale += 1;
                continue;
            };
            let version = if family.rolls_version() {
                let bits = u32::from(version_bits.unwrap_or(0)) << 13;
                let base = u32::from_le_bytes([
                    job.header[0],
                    job.header[1],
                    job.header[2],
                    job.header[3],
                ]);
                if bits & !job.mask != 0 {
                    self.counters.hardware_errors += 1;
                    continue;
                }
                base | bits
            } else {
                match job.slots.get(usize::from(sub)) {
                    Some(v) => *v,
                    None => {
                        self.counters.hardware_errors += 1;
                        continue;
                    }
                }
            };
            let key = (job_id, nonce, version);
            if self.seen.contains(&key) {
                self.counters.duplicates += 1;
                continue;
            }
            if self.seen_order.len() >= SEEN_NONCES
                && let Some(old) = self.seen_order.pop_front()
            {
                self.seen.remove(&old);
            }
            self.seen.insert(key);
            self.seen_order.push_back(key);
            let mut header = job.header;
            header[0..4].copy_from_slice(&version.to_le_bytes());
            header[76..80].copy_from_slice(&nonce.to_le_bytes());
            if !meets_ticket(&header, self.ticket, self.config.difficulty_one_hashes) {
                self.counters.hardware_errors += 1;
                continue;
            }
            let chip = chip_of(nonce, self.interval).min(self.chips.saturating_sub(1));
            self.counters.nonces += 1;
            if let Some(n) = self.counters.per_chip.get_mut(chip) {
                *n += 1;
            }
            out.push(Found {
                job_id,
                version,
                nonce,
                chip,
            });
        }
        Ok(out)
    }
}
