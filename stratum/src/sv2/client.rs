//! The client side of Stratum V2, shared by the built-in miner and the load bench (over
//! a [`Transport`](super::noise::Transport)): the `SetupConnection` and
//! `OpenExtendedMiningChannel` a mining client sends, and the bookkeeping that turns
//! future jobs and `SetNewPrevHash` into the job to mine.

use super::codec::{ExtendedJob, Message, OpenChannel, SetupConnection, setup_flags};
use super::noise::{Transport, TransportError};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;

/// Largest message accepted from a pool: a job whose coinbase pays thousands of miners.
const MAX_FRAME: usize = 1 << 20;
/// Decoded messages waiting to be taken.
const INBOX: usize = 16;
/// Future jobs kept while waiting for their prev hash.
const MAX_FUTURE: usize = 16;

/// Makes the handshake with a pool on `stream`, pinning `authority` (`None` accepts any
/// key), within `limit`.
///
/// # Errors
/// As [`Transport::connect`].
pub async fn connect(
    stream: TcpStream,
    authority: Option<[u8; 32]>,
    limit: Duration,
) -> Result<Transport, TransportError> {
    Transport::connect(stream, authority, limit, MAX_FRAME, INBOX).await
}

/// The `SetupConnection` of a mining client that rolls version bits.
pub fn setup(host: &str, port: u16, vendor: &str, firmware: &str) -> Message {
    Message::SetupConnection(SetupConnection {
        protocol: 0,
        min_version: 2,
        max_version: 2,
        flags: setup_flags::REQUIRES_VERSION_ROLLING,
        endpoint_host: host.to_owned(),
        endpoint_port: port,
        vendor: vendor.to_owned(),
        hardware_version: String::new(),
        firmware: firmware.to_owned(),
        device_id: String::new(),
    })
}

/// The request for one extended channel for `user` at `hashrate` (H/s), accepting any
/// target, with `extranonce` bytes to roll.
pub fn open_extended(user: &str, hashrate: f32, extranonce: u16) -> Message {
    Message::OpenExtendedMiningChannel {
        open: OpenChannel {
            request_id: 1,
            user_identity: user.to_owned(),
            nominal_hash_rate: hashrate,
            max_target: [0xff; 32],
        },
        min_extranonce_size: extranonce,
    }
}

/// A job ready to mine: the extended job with the prev hash, nBits and ntime it is
/// mined on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveJob {
    /// The job.
    pub job: ExtendedJob,
    /// Previous block hash, internal byte order.
    pub prev_hash: [u8; 32],
    /// Header nBits.
    pub nbits: u32,
    /// Header time to start from.
    pub ntime: u32,
    /// Whether older jobs are void (it came with a new prev hash).
    pub clean: bool,
}

/// Turns a channel's jobs and prev hashes into [`ActiveJob`]s: a future job waits for
/// the `SetNewPrevHash` naming it; a job with `min_ntime` runs on the current prev hash.
#[derive(Debug, Default)]
pub struct JobTracker {
    future: VecDeque<ExtendedJob>,
    prev: Option<([u8; 32], u32)>,
}

impl JobTracker {
    /// Takes a `NewExtendedMiningJob`; returns it when it can be mined now.
    pub fn on_job(&mut self, job: ExtendedJob) -> Option<ActiveJob> {
        match (job.min_ntime, self.prev) {
            (None, _) => {
                if self.future.len() >= MAX_FUTURE {
                    self.future.pop_front();
                }
                self.future.push_back(job);
                None
            }
            (Some(ntime), Some((prev_hash, nbits))) => Some(ActiveJob {
                job,
                prev_hash,
                nbits,
                ntime,
                clean: false,
            }),
            (Some(_), None) => None,
        }
    }

    /// Takes a `SetNewPrevHash`; returns the future job it activates, if known.
    pub fn on_prev_hash(
        &mut self,
        job_id: u32,
        prev_hash: [u8; 32],
        nbits: u32,
        min_ntime: u32,
    ) -> Option<ActiveJob> {
        self.prev = Some((prev_hash, nbits));
        let i = self.future.iter().position(|j| j.job_id == job_id)?;
        let job = self.future.remove(i)?;
        self.future.clear();
        Some(ActiveJob {
            job,
            prev_hash,
            nbits,
            ntime: min_ntime,
            clean: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u32, min_ntime: Option<u32>) -> ExtendedJob {
        ExtendedJob {
            channel_id: 1,
            job_id: id,
            min_ntime,
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Vec::new(),
            coinbase_tx_prefix: vec![1],
            coinbase_tx_suffix: vec![2],
        }
    }

    #[test]
    fn future_jobs_wait_for_their_prev_hash() {
        let mut t = JobTracker::default();
        assert_eq!(t.on_job(job(1, Some(5))), None, "no prev hash yet");
        assert_eq!(t.on_job(job(2, None)), None);
        assert_eq!(
            t.on_prev_hash(9, [7; 32], 0x207f_ffff, 100),
            None,
            "unknown job"
        );
        assert_eq!(t.on_job(job(3, None)), None);
        let a = t
            .on_prev_hash(3, [8; 32], 0x207f_ffff, 200)
            .expect("activated");
        assert_eq!(
            (a.job.job_id, a.prev_hash, a.ntime, a.clean),
            (3, [8; 32], 200, true)
        );
        // A later job on the same prev hash runs at once, keeping older jobs.
        let b = t.on_job(job(4, Some(201))).expect("active");
        assert_eq!((b.prev_hash, b.ntime, b.clean), ([8; 32], 201, false));
    }
}
