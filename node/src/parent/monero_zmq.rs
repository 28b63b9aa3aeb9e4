//! monerod's ZMQ publisher (`--zmq-pub tcp://…`): the wake-ups a Monero pool mines on.
//! Each message is one frame, `topic:json`. Two topics matter:
//!
//! - `json-full-miner_data`: the next block's height, tip, seed and difficulty (the same
//!   fields as `get_miner_data`), sent on every new tip and on template changes;
//! - `json-minimal-chain_main`: the ids of blocks added to the main chain.
//!
//! The subscriber runs in its own task and hands events over a bounded channel; a full
//! channel drops the oldest news, never blocks the socket. Polling `get_miner_data`
//! stays the fallback: ZMQ is only what makes a new tip arrive within milliseconds.

use super::monero::MinerData;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Topic of the miner data wake-up.
pub const MINER_DATA: &str = "json-full-miner_data";
/// Topic of the new-blocks notice.
pub const CHAIN_MAIN: &str = "json-minimal-chain_main";
/// Events queued for the consumer.
const QUEUE: usize = 16;
/// Largest message taken (a `chain_main` notice of a long reorg is a few KB).
const MAX_MESSAGE: usize = 1 << 20;

/// Blocks added to the main chain.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ChainMain {
    /// Height of the first block listed.
    pub first_height: u64,
    /// Id of the block before it, hex.
    pub first_prev_id: String,
    /// The new blocks' ids, hex, oldest first.
    pub ids: Vec<String>,
}

/// What monerod published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoneroEvent {
    /// New miner data: a new tip, or the same tip with a new template.
    MinerData(MinerData),
    /// Blocks added to the main chain.
    ChainMain(ChainMain),
}

/// Why a subscription could not start.
#[derive(Debug, thiserror::Error)]
#[error("monerod zmq {endpoint}: {reason}")]
pub struct ZmqError {
    /// The endpoint.
    pub endpoint: String,
    /// What went wrong.
    pub reason: String,
}

/// Parses one published frame (`topic:json`); `None` for other topics or bad JSON.
pub fn parse(frame: &[u8]) -> Option<MoneroEvent> {
    if frame.len() > MAX_MESSAGE {
        return None;
    }
    let text = std::str::from_utf8(frame).ok()?;
    let (topic, json) = text.split_once(':')?;
    match topic {
        MINER_DATA => serde_json::from_str(json).ok().map(MoneroEvent::MinerData),
        CHAIN_MAIN => serde_json::from_str(json).ok().map(MoneroEvent::ChainMain),
        _ => None,
    }
}

/// Subscribes to the two topics at `endpoint` (`tcp://127.0.0.1:18083`) and returns the
/// events as they come. The connection is made in the background, and made again when
/// it drops or is refused (a daemon that starts later), backing off up to 30 s; the
/// task ends when the receiver is dropped. Must be called inside a tokio runtime.
///
/// # Errors
/// The endpoint is not `tcp://host:port`.
pub fn subscribe(endpoint: &str) -> Result<mpsc::Receiver<MoneroEvent>, ZmqError> {
    let err = |reason: String| ZmqError {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let addr = endpoint
        .strip_prefix("tcp://")
        .ok_or_else(|| err("expected tcp://host:port".into()))?
        .to_owned();
    if addr
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(err("expected tcp://host:port".into()));
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    let endpoint = endpoint.to_owned();
    tokio::spawn(async move {
        let mut sub = None;
        let mut backoff = Duration::ZERO;
        loop {
            let Some(s) = sub.as_mut() else {
                tokio::select! {
                    () = tx.closed() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(250), Duration::from_secs(30));
                match zmtp::Subscriber::connect(&addr, &[MINER_DATA, CHAIN_MAIN]).await {
                    Ok(s) => {
                        debug!(target: "otedama::parent", %endpoint, "monerod zmq subscribed");
                        backoff = Duration::ZERO;
                        sub = Some(s);
                    }
                    Err(e) => {
                        debug!(target: "otedama::parent", %endpoint, error = %e, "monerod zmq connection failed")
                    }
                }
                continue;
            };
            let frame = tokio::select! {
                () = tx.closed() => break,
                f = s.next_message(MAX_MESSAGE) => f,
            };
            match frame {
                Ok(frame) => match parse(&frame) {
                    Some(event) => {
                        if tx.try_send(event).is_err() {
                            debug!(target: "otedama::parent", %endpoint, "zmq event dropped: consumer behind");
                        }
                    }
                    None => debug!(target: "otedama::parent", %endpoint, "zmq message ignored"),
                },
                Err(e) => {
                    warn!(target: "otedama::parent", %endpoint, error = %e, "monerod zmq connection lost");
                    sub = None;
                }
            }
        }
    });
    Ok(rx)
}

/// A ZMTP 3.0 SUB socket over one TCP connection, NULL security: what it takes to read
/// a publisher's messages. (Pure-Rust ZeroMQ crates refuse monerod's XPUB peer.)
mod zmtp {
    use std::io;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// Time for the connection and the handshake.
    const HANDSHAKE: Duration = Duration::from_secs(10);
    /// Frame flags.
    const MORE: u8 = 0x01;
    const LONG: u8 = 0x02;
    const COMMAND: u8 = 0x04;

    pub struct Subscriber {
        stream: TcpStream,
    }

    fn bad(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
    }

    impl Subscriber {
        /// Connects to `addr` (`host:port`), greets, and subscribes to `topics`.
        pub async fn connect(addr: &str, topics: &[&str]) -> io::Result<Self> {
            tokio::time::timeout(HANDSHAKE, Self::handshake(addr, topics))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "zmtp handshake timed out"))?
        }

        async fn handshake(addr: &str, topics: &[&str]) -> io::Result<Self> {
            let mut stream = TcpStream::connect(addr).await?;
            let mut greeting = [0u8; 64];
            greeting[0] = 0xff;
            greeting[9] = 0x7f;
            greeting[10] = 3;
            greeting[12..16].copy_from_slice(b"NULL");
            stream.write_all(&greeting).await?;
            let mut theirs = [0u8; 64];
            stream.read_exact(&mut theirs).await?;
            if theirs[0] != 0xff
                || theirs[9] != 0x7f
                || theirs[10] < 3
                || &theirs[12..16] != b"NULL"
            {
                return Err(bad("not a ZMTP 3 peer with NULL security"));
            }
            let mut ready = vec![5u8];
            ready.extend_from_slice(b"READY");
            ready.push(11);
            ready.extend_from_slice(b"Socket-Type");
            ready.extend_from_slice(&3u32.to_be_bytes());
            ready.extend_from_slice(b"SUB");
            let mut s = Self { stream };
            s.write_frame(COMMAND, &ready).await?;
            let (flags, body) = s.read_frame(4096).await?;
            if flags & COMMAND == 0 || !body.starts_with(b"\x05READY") {
                return Err(bad("no READY from the publisher"));
            }
            for topic in topics {
                let mut sub = vec![1u8];
                sub.extend_from_slice(topic.as_bytes());
                s.write_frame(0, &sub).await?;
            }
            Ok(s)
        }

        async fn write_frame(&mut self, flags: u8, body: &[u8]) -> io::Result<()> {
            let mut out = Vec::with_capacity(body.len() + 9);
            match u8::try_from(body.len()) {
                Ok(n) => out.extend_from_slice(&[flags, n]),
                Err(_) => {
                    out.push(flags | LONG);
                    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
                }
            }
            out.extend_from_slice(body);
            self.stream.write_all(&out).await
        }

        /// Reads one frame of at most `max` bytes: its flags and body.
        async fn read_frame(&mut self, max: usize) -> io::Result<(u8, Vec<u8>)> {
            let flags = self.stream.read_u8().await?;
            let len = if flags & LONG != 0 {
                self.stream.read_u64().await?
            } else {
                u64::from(self.stream.read_u8().await?)
            };
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| bad("zmtp frame above the limit"))?;
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body).await?;
            Ok((flags, body))
        }

        /// The first frame of the next message (commands skipped, further frames of a
        /// multi-frame message read and dropped). Not cancel-safe across a partial
        /// frame: the caller drops the subscriber when it gives up on a read.
        pub async fn next_message(&mut self, max: usize) -> io::Result<Vec<u8>> {
            loop {
                let (flags, body) = self.read_frame(max).await?;
                if flags & COMMAND != 0 {
                    continue;
                }
                let mut more = flags & MORE != 0;
                while more {
                    let (f, _) = self.read_frame(max).await?;
                    more = f & MORE != 0;
                }
                return Ok(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_by_topic() {
        let md = br#"json-full-miner_data:{"major_version":16,"height":22,"prev_id":"aa","seed_hash":"bb","difficulty":"0x1","median_weight":300000,"already_generated_coins":5,"tx_backlog":[]}"#;
        match parse(md) {
            Some(MoneroEvent::MinerData(d)) => {
                assert_eq!((d.height, d.difficulty.as_str()), (22, "0x1"))
            }
            other => panic!("{other:?}"),
        }
        let cm =
            br#"json-minimal-chain_main:{"first_height":21,"first_prev_id":"cc","ids":["dd"]}"#;
        assert_eq!(
            parse(cm),
            Some(MoneroEvent::ChainMain(ChainMain {
                first_height: 21,
                first_prev_id: "cc".into(),
                ids: vec!["dd".into()]
            }))
        );
        assert_eq!(parse(b"json-full-txpool_add:[]"), None);
        assert_eq!(parse(b"json-full-miner_data:{not json"), None);
        assert_eq!(parse(b"no topic"), None);
        assert_eq!(parse(&[0xff, 0xfe]), None);
    }
}
