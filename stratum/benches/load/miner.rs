//! A simulated Stratum v1 miner: the setup handshake, and real shares built from
//! `mining.notify` exactly as hardware does (coinbase, merkle root, header, nonce
//! search against the session target).

use otedama_sharechain::{Difficulty, PowAlgorithm, Target, sha256d, sha256d_pair};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

/// What a failed miner operation reports.
pub type Error = String;

/// A job as a miner keeps it.
#[derive(Debug, Clone)]
pub struct Job {
    id: String,
    prev: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
}

fn hex_u32(v: &Value) -> Result<u32, Error> {
    v.as_str()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| format!("not 8 hex digits: {v}"))
}

fn bytes(v: &Value) -> Result<Vec<u8>, Error> {
    v.as_str()
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| format!("not hex: {v}"))
}

impl Job {
    fn parse(p: &Value) -> Result<Self, Error> {
        let mut prev: [u8; 32] = bytes(&p[1])?.try_into().map_err(|_| "prevhash")?;
        for word in prev.chunks_exact_mut(4) {
            word.reverse();
        }
        let branch = p[4]
            .as_array()
            .ok_or("branch")?
            .iter()
            .map(|b| bytes(b)?.try_into().map_err(|_| "branch entry".to_owned()))
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            id: p[0].as_str().ok_or("job id")?.to_owned(),
            prev,
            coinb1: bytes(&p[2])?,
            coinb2: bytes(&p[3])?,
            branch,
            version: hex_u32(&p[5])?,
            nbits: hex_u32(&p[6])?,
            ntime: hex_u32(&p[7])?,
        })
    }

    /// Returns the first nonce whose header meets `target`, with extranonce2 `en2`.
    fn solve(&self, en1: &[u8], en2: &[u8], target: &Target) -> Option<u32> {
        let coinbase = [&self.coinb1[..], en1, en2, &self.coinb2[..]].concat();
        let root = self
            .branch
            .iter()
            .fold(sha256d(&coinbase), |acc, b| sha256d_pair(&acc, b));
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&self.version.to_le_bytes());
        h[4..36].copy_from_slice(&self.prev);
        h[36..68].copy_from_slice(&root);
        h[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        h[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        // Bounded: at regtest targets about one header in 256 meets the share target.
        (0..1u32 << 24).find(|&nonce| {
            h[76..80].copy_from_slice(&nonce.to_le_bytes());
            target.is_met_by(&PowAlgorithm::Sha256d.hash(&h))
        })
    }
}

/// One connected, subscribed and authorized miner.
pub struct Miner {
    lines: Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    username: String,
    en1: Vec<u8>,
    en2: u32,
    target: Target,
    job: Job,
    next_id: u64,
}

/// Outcome of one submission.
pub enum Outcome {
    /// Accepted after this long.
    Accepted(Duration),
    /// Rejected or failed, with why.
    Failed(Error),
}

impl Miner {
    /// Connects, subscribes, authorizes `username` and waits for the first job.
    pub async fn connect(
        addr: std::net::SocketAddr,
        username: String,
        limit: Duration,
    ) -> Result<Self, Error> {
        let stream = timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| "connect timeout")?
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (r, mut writer) = stream.into_split();
        let setup = format!(
            "{}\n{}\n",
            json!({"id": 1, "method": "mining.subscribe", "params": ["otedama-loadbench/1.0"]}),
            json!({"id": 2, "method": "mining.authorize", "params": [username, "x"]}),
        );
        writer
            .write_all(setup.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut lines = BufReader::new(r).lines();
        let (mut en1, mut target, mut job) = (None, None, None);
        let read = async {
            while job.is_none() {
                let line = lines
                    .next_line()
                    .await
                    .map_err(|e| format!("read: {e}"))?
                    .ok_or("closed during setup")?;
                let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                match (v["id"].as_u64(), v["method"].as_str()) {
                    (Some(1), _) => en1 = Some(bytes(&v["result"][1])?),
                    (Some(2), _) if v["result"] != Value::Bool(true) => {
                        return Err(format!("authorize refused: {line}"));
                    }
                    (_, Some("mining.set_difficulty")) => target = Some(target_of(&v)?),
                    (_, Some("mining.notify")) => job = Some(Job::parse(&v["params"])?),
                    _ => {}
                }
            }
            Ok::<_, Error>(())
        };
        timeout(limit, read).await.map_err(|_| "setup timeout")??;
        Ok(Self {
            lines,
            writer,
            username,
            en1: en1.ok_or("no subscribe answer")?,
            en2: 0,
            target: target.ok_or("no difficulty")?,
            job: job.ok_or("no job")?,
            next_id: 10,
        })
    }

    /// Takes in one server message that is not an answer.
    fn on_message(&mut self, v: &Value) -> Result<(), Error> {
        match v["method"].as_str() {
            Some("mining.notify") => self.job = Job::parse(&v["params"])?,
            Some("mining.set_difficulty") => self.target = target_of(v)?,
            _ => {}
        }
        Ok(())
    }

    /// Reads server messages until `deadline` or EOF; returns false at EOF.
    pub async fn idle_until(&mut self, deadline: tokio::time::Instant) -> Result<bool, Error> {
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Err(_) => return Ok(true),
                Ok(Ok(Some(line))) => {
                    let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                    self.on_message(&v)?;
                }
                Ok(Ok(None)) => return Ok(false),
                Ok(Err(e)) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Finds and submits one share, and waits for its answer.
    pub async fn submit(&mut self, limit: Duration) -> Outcome {
        self.submit_timed(limit).await.0
    }

    /// As [`Miner::submit`], also returning when the submit line was written and the
    /// header's nonce (which names the block, where the share is one).
    pub async fn submit_timed(&mut self, limit: Duration) -> (Outcome, Option<(Instant, u32)>) {
        self.en2 = self.en2.wrapping_add(1);
        let en2 = self.en2.to_be_bytes();
        let Some(nonce) = self.job.solve(&self.en1, &en2, &self.target) else {
            return (Outcome::Failed("no nonce found".into()), None);
        };
        self.next_id += 1;
        let id = self.next_id;
        let line = json!({"id": id, "method": "mining.submit", "params": [
            self.username, self.job.id, hex::encode(en2),
            format!("{:08x}", self.job.ntime), format!("{nonce:08x}")]})
        .to_string()
            + "\n";
        let sent = Instant::now();
        if let Err(e) = self.writer.write_all(line.as_bytes()).await {
            return (Outcome::Failed(format!("write: {e}")), None);
        }
        let answer = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .map_err(|e| format!("read: {e}"))?
                    .ok_or("closed")?;
                let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
                if v["id"].as_u64() == Some(id) {
                    return Ok::<_, Error>((sent.elapsed(), v));
                }
                self.on_message(&v)?;
            }
        };
        let outcome = match timeout(limit, answer).await {
            Err(_) => Outcome::Failed("answer timeout".into()),
            Ok(Err(e)) => Outcome::Failed(e),
            Ok(Ok((took, v))) if v["result"] == Value::Bool(true) => Outcome::Accepted(took),
            Ok(Ok((_, v))) => Outcome::Failed(format!("rejected: {}", v["error"])),
        };
        (outcome, Some((sent, nonce)))
    }
}

fn target_of(v: &Value) -> Result<Target, Error> {
    let d = v["params"][0]
        .as_f64()
        .and_then(Difficulty::new)
        .ok_or_else(|| format!("bad difficulty: {v}"))?;
    Ok(d.to_stratum_target(PowAlgorithm::Sha256d))
}
