//! A simulated Stratum V2 miner: the Noise handshake pinning the server's authority
//! key, `SetupConnection`, one extended channel, and real shares built from the extended
//! job (coinbase around prefix and extranonce, merkle path, header, nonce search against
//! the channel target), each answered by `SubmitShares.Success` or `.Error`.

use crate::miner::{Error, Outcome};
use otedama_sharechain::{PowAlgorithm, Target, sha256d, sha256d_pair};
use otedama_stratum::sv2::client::{ActiveJob, JobTracker, connect, open_extended, setup};
use otedama_stratum::sv2::codec::{Message, SubmitShares, target_from_le};
use otedama_stratum::sv2::noise::{Transport, TransportError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// One connected miner with an open extended channel.
pub struct Sv2Miner {
    conn: Transport,
    channel: u32,
    prefix: Vec<u8>,
    target: Target,
    jobs: JobTracker,
    job: Option<ActiveJob>,
    en2: u32,
    sequence: u32,
}

/// Limit on one write.
const WRITE: Duration = Duration::from_secs(10);

fn err(e: impl std::fmt::Display) -> Error {
    e.to_string()
}

impl Sv2Miner {
    /// Connects, makes the handshake pinning `authority`, opens a channel for `user`,
    /// and waits for the first job and its prev hash.
    pub async fn connect(
        addr: std::net::SocketAddr,
        user: String,
        authority: [u8; 32],
        limit: Duration,
    ) -> Result<Self, Error> {
        let setup_all = async {
            let stream = TcpStream::connect(addr).await.map_err(err)?;
            stream.set_nodelay(true).map_err(err)?;
            let conn = connect(stream, Some(authority), limit).await.map_err(err)?;
            let mut m = Self {
                conn,
                channel: 0,
                prefix: Vec::new(),
                target: Target::MAX,
                jobs: JobTracker::default(),
                job: None,
                en2: 0,
                sequence: 0,
            };
            let host = addr.ip().to_string();
            m.send(&setup(&host, addr.port(), "otedama-loadbench", ""))
                .await?;
            m.send(&open_extended(&user, 1.0, 4)).await?;
            while m.job.is_none() {
                let msg = m.recv().await?;
                m.on_message(msg)?;
            }
            Ok::<_, Error>(m)
        };
        timeout(limit, setup_all)
            .await
            .map_err(|_| "setup timeout")?
    }

    async fn send(&mut self, m: &Message) -> Result<(), Error> {
        self.conn.send(m, WRITE).await.map_err(err)
    }

    async fn recv(&mut self) -> Result<Message, Error> {
        self.conn.recv().await.ok_or("closed")?.map_err(err)
    }

    /// Takes in one server message that is not an answer to a share.
    fn on_message(&mut self, m: Message) -> Result<(), Error> {
        match m {
            Message::OpenExtendedMiningChannelSuccess {
                channel_id,
                target,
                extranonce_prefix,
                ..
            } => {
                self.channel = channel_id;
                self.target = target_from_le(&target);
                self.prefix = extranonce_prefix;
            }
            Message::OpenMiningChannelError { error_code, .. } => {
                return Err(format!("channel refused: {error_code}"));
            }
            Message::NewExtendedMiningJob(j) => {
                if let Some(a) = self.jobs.on_job(j) {
                    self.job = Some(a);
                }
            }
            Message::SetNewPrevHash {
                job_id,
                prev_hash,
                nbits,
                min_ntime,
                ..
            } => {
                if let Some(a) = self.jobs.on_prev_hash(job_id, prev_hash, nbits, min_ntime) {
                    self.job = Some(a);
                }
            }
            Message::SetTarget { maximum_target, .. } => {
                self.target = target_from_le(&maximum_target)
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads server messages until `deadline` or EOF; returns false at EOF.
    pub async fn idle_until(&mut self, deadline: tokio::time::Instant) -> Result<bool, Error> {
        loop {
            match tokio::time::timeout_at(deadline, self.conn.recv()).await {
                Err(_) => return Ok(true),
                Ok(None) => return Ok(false),
                Ok(Some(Ok(m))) => self.on_message(m)?,
                Ok(Some(Err(TransportError::Io(_)))) => return Ok(false),
                Ok(Some(Err(e))) => return Err(err(e)),
            }
        }
    }

    /// Finds and submits one share, and waits for its answer.
    pub async fn submit(&mut self, limit: Duration) -> Outcome {
        let Some(ActiveJob {
            job,
            prev_hash: prev,
            nbits,
            ntime,
            ..
        }) = self.job.clone()
        else {
            return Outcome::Failed("no job".into());
        };
        self.en2 = self.en2.wrapping_add(1);
        let en2 = self.en2.to_be_bytes();
        let coinbase = [
            &job.coinbase_tx_prefix[..],
            &self.prefix,
            &en2,
            &job.coinbase_tx_suffix[..],
        ]
        .concat();
        let root = job
            .merkle_path
            .iter()
            .fold(sha256d(&coinbase), |acc, b| sha256d_pair(&acc, b));
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&job.version.to_le_bytes());
        h[4..36].copy_from_slice(&prev);
        h[36..68].copy_from_slice(&root);
        h[68..72].copy_from_slice(&ntime.to_le_bytes());
        h[72..76].copy_from_slice(&nbits.to_le_bytes());
        // Bounded: at regtest targets about one header in 256 meets the share target.
        let Some(nonce) = (0..1u32 << 24).find(|&nonce| {
            h[76..80].copy_from_slice(&nonce.to_le_bytes());
            self.target.is_met_by(&PowAlgorithm::Sha256d.hash(&h))
        }) else {
            return Outcome::Failed("no nonce found".into());
        };
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let m = Message::SubmitSharesExtended {
            submit: SubmitShares {
                channel_id: self.channel,
                sequence_number: sequence,
                job_id: job.job_id,
                nonce,
                ntime,
                version: job.version,
            },
            extranonce: en2.to_vec(),
        };
        let sent = Instant::now();
        if let Err(e) = self.send(&m).await {
            return Outcome::Failed(e);
        }
        let answer = async {
            loop {
                match self.recv().await? {
                    Message::SubmitSharesSuccess {
                        last_sequence_number,
                        ..
                    } if last_sequence_number == sequence => return Ok(None),
                    Message::SubmitSharesError {
                        sequence_number,
                        error_code,
                        ..
                    } if sequence_number == sequence => return Ok(Some(error_code)),
                    other => self.on_message(other)?,
                }
            }
        };
        match timeout(limit, answer).await {
            Err(_) => Outcome::Failed("answer timeout".into()),
            Ok(Err(e)) => Outcome::Failed(e),
            Ok(Ok(None)) => Outcome::Accepted(sent.elapsed()),
            Ok(Ok(Some(code))) => Outcome::Failed(format!("rejected: {code}")),
        }
    }
}
