//! The sharechain wire protocol: protocol names (each carries the consensus id), the
//! gossip payload, the sync request-response messages and their bounded codec. The
//! normative description is docs/protocol.md; this module is its implementation.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use otedama_sharechain::ChainSpec;
use std::io;

/// Version byte in front of every gossip payload and request-response frame.
pub const WIRE_VERSION: u8 = 1;
/// Most share hashes in a locator.
pub const MAX_LOCATOR: usize = 64;
/// Most headers in one `Headers` response.
pub const MAX_HEADERS: u32 = 2000;
/// Most shares asked for in one `GetShares` request.
pub const MAX_SHARES_PER_REQUEST: usize = 64;
/// Sync requests a peer may send per second on average; over it (past the burst) a
/// request is refused and costs the peer 5 points.
pub const REQUEST_RATE: f64 = 50.0;
/// Sync requests a peer may send at once.
pub const REQUEST_BURST: f64 = 100.0;
/// Largest request frame: a locator is 64 × 33 bytes, a share request 64 × 33.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;
/// Largest encoded share header (80-byte parent header plus share metadata with the
/// longest payout script and every uncle).
pub const MAX_HEADER_BYTES: usize = 1024;

/// What the mesh needs to know of a chain, whatever its parent family: the consensus id
/// that every protocol name carries, and the size of its largest share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeshChain {
    /// The consensus id, hex.
    pub id: String,
    /// The largest valid share, in bytes.
    pub max_share_size: usize,
}

impl MeshChain {
    /// The mesh of a chain with consensus id `id` and shares of at most `max_share_size`
    /// bytes (a Monero sidechain: its P2Pool consensus id and 128 KiB).
    pub fn new(id: impl std::fmt::Display, max_share_size: usize) -> Self {
        Self {
            id: id.to_string(),
            max_share_size,
        }
    }

    /// Largest response frame: a full batch of the largest shares, or a full page of the
    /// largest headers, whichever is bigger, plus framing.
    pub fn max_response_bytes(&self) -> usize {
        let shares = MAX_SHARES_PER_REQUEST * (self.max_share_size + 64);
        let headers = MAX_HEADERS as usize * (MAX_HEADER_BYTES + 8);
        shares.max(headers) + 64
    }

    /// Largest gossip payload: the version byte and the largest valid share.
    pub fn max_gossip_bytes(&self) -> usize {
        self.max_share_size + 1
    }
}

impl From<&ChainSpec> for MeshChain {
    fn from(spec: &ChainSpec) -> Self {
        Self::new(spec.consensus_id(), spec.max_share_size as usize)
    }
}

/// The protocol names of one chain spec. Every name carries the consensus id, so nodes
/// of different chain specs never negotiate a protocol with each other.
#[derive(Clone, Debug)]
pub struct ProtocolNames {
    /// The consensus id in hex.
    pub id: String,
    /// Gossipsub topic of share announcements.
    pub shares_topic: String,
    /// Gossipsub protocol id prefix (`…/1.1.0` and `…/1.0.0` are appended).
    pub gossipsub_prefix: String,
    /// Kademlia protocol.
    pub kad: StreamProtocol,
    /// Sync request-response protocol.
    pub sync: StreamProtocol,
    /// Identify's `protocol_version` field; peers that announce another are dropped.
    pub identify_version: String,
    /// The Noise handshake prologue: peers with another prologue fail the handshake.
    pub noise_prologue: Vec<u8>,
}

impl ProtocolNames {
    /// The names for the consensus id `id` (hex).
    pub fn new(id: &str) -> Self {
        // Both are valid protocol names: they start with '/' and are ASCII.
        let kad = StreamProtocol::try_from_owned(format!("/otedama/{id}/kad/1.0.0"))
            .unwrap_or(StreamProtocol::new("/otedama/kad/1.0.0"));
        let sync = StreamProtocol::try_from_owned(format!("/otedama/{id}/sync/1"))
            .unwrap_or(StreamProtocol::new("/otedama/sync/1"));
        Self {
            shares_topic: format!("/otedama/{id}/shares/1"),
            gossipsub_prefix: format!("/otedama/{id}/meshsub"),
            identify_version: format!("/otedama/{id}/1"),
            noise_prologue: format!("otedama/{id}").into_bytes(),
            kad,
            sync,
            id: id.to_owned(),
        }
    }
}

/// A share hash on the wire (internal byte order).
pub type WireHash = [u8; 32];

/// The tip a peer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct TipInfo {
    /// The best share's hash.
    pub hash: WireHash,
    /// Its height.
    pub height: u64,
    /// The cumulative work of the chain ending there.
    pub chain_work: u128,
}

/// A request of the sync protocol.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Request {
    /// The peer's best tip.
    Tip,
    /// Main-chain headers after the first locator hash the peer has on its main chain
    /// (from its oldest main-chain share if none), ascending, at most `max`.
    Headers {
        /// Hashes of the requester's main chain, newest first, spaced exponentially.
        locator: Vec<WireHash>,
        /// Most headers wanted, at most [`MAX_HEADERS`].
        max: u32,
    },
    /// Full shares by hash.
    Shares {
        /// At most [`MAX_SHARES_PER_REQUEST`] hashes.
        hashes: Vec<WireHash>,
    },
    /// A share and what it refers to, breadth first (parent, then uncles, then theirs),
    /// at most `max` of them: chains whose shares carry no compact header (Monero).
    Chain {
        /// The newest share wanted.
        from: WireHash,
        /// Most shares wanted, at most [`MAX_SHARES_PER_REQUEST`].
        max: u32,
    },
    /// The side shares the peer would include as uncles in a share built on `prev`
    /// (at most the spec's `max_uncles`): recent orphans that no share has included
    /// yet, which a node that synced only the main chain and its uncles lacks.
    Uncles {
        /// The share the uncles' includer builds on (the tip both sides hold).
        prev: WireHash,
    },
}

/// One share of a `Shares` response, with the fields that need its ancestors: a
/// receiver that holds the parent re-derives them and ignores these; for the oldest
/// share of a synced range they are the base claim (docs/protocol.md).
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub struct SyncedShare {
    /// The share's encoding (`Share::to_bytes`).
    pub share: Vec<u8>,
    /// Cumulative work of the chain ending at it.
    pub chain_work: u128,
    /// The chain's ASERT anchor time.
    pub anchor_time: u32,
}

/// A response of the sync protocol.
#[derive(Clone, Debug, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub enum Response {
    /// The best tip; `None` while the peer's chain is empty.
    Tip(Option<TipInfo>),
    /// Encoded share headers (`ShareHeader::encode`), ascending by height.
    Headers(Vec<Vec<u8>>),
    /// The shares the peer holds of those asked for, in the order asked.
    Shares(Vec<SyncedShare>),
    /// The request was refused (rate limit, malformed request).
    Refused(String),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes a message: the version byte, then bincode 2 (standard configuration).
pub fn encode<T: bincode::Encode>(msg: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    // Writing into a Vec does not fail.
    if let Ok(body) = bincode::encode_to_vec(msg, bincode_config()) {
        out.extend_from_slice(&body);
    }
    out
}

/// Why a wire message or frame was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The message or frame is larger than its limit.
    #[error("message of {len} bytes over the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not even a version byte.
    #[error("empty message")]
    Empty,
    /// A version byte this node does not speak.
    #[error("unknown wire version {0}")]
    UnknownVersion(u8),
    /// The body does not decode.
    #[error("undecodable: {0}")]
    Undecodable(#[source] bincode::error::DecodeError),
    /// The body decodes but bytes are left.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
}

/// Decodes a message of at most `limit` bytes: the version byte must be known, the body
/// must decode completely, and no allocation exceeds the frame.
///
/// # Errors
/// [`WireError`] for anything else.
pub fn decode<T: bincode::Decode<()>>(bytes: &[u8], limit: usize) -> Result<T, WireError> {
    if bytes.len() > limit {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(WireError::Empty)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnknownVersion(version));
    }
    // The limit bounds every length prefix inside the body by the largest frame.
    let config = bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>();
    let (msg, used) =
        bincode::decode_from_slice::<T, _>(body, config).map_err(WireError::Undecodable)?;
    if used != body.len() {
        return Err(WireError::TrailingBytes(body.len() - used));
    }
    Ok(msg)
}

/// The sync protocol's codec: each message is a 4-byte big-endian length, then the
/// encoded message. The length is checked against the limit before anything is read.
#[derive(Clone, Debug)]
pub struct SyncCodec {
    /// Largest response frame accepted.
    pub max_response: usize,
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(invalid(WireError::TooLarge { len, limit }));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, MAX_REQUEST_BYTES).await?;
        decode(&frame, MAX_REQUEST_BYTES).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let frame = read_frame(io, self.max_response).await?;
        decode(&frame, self.max_response).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &encode(&req)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &encode(&res)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_bytes_are_pinned() {
        let req = Request::Headers {
            locator: vec![[7u8; 32]],
            max: 2000,
        };
        let bytes = encode(&req);
        // Version, variant 1, locator length 1, 32 bytes, varint 2000 (0xfb 0xd0 0x07).
        assert_eq!(bytes[..4], [1, 1, 1, 7]);
        assert_eq!(bytes[35..], [0xfb, 0xd0, 0x07]);
        assert_eq!(decode::<Request>(&bytes, MAX_REQUEST_BYTES).ok(), Some(req));
        let tip = Response::Tip(Some(TipInfo {
            hash: [1; 32],
            height: 5,
            chain_work: 1 << 70,
        }));
        assert_eq!(decode::<Response>(&encode(&tip), 1024).ok(), Some(tip));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(decode::<Request>(&[], 10), Err(WireError::Empty)));
        assert!(matches!(
            decode::<Request>(&[2, 0], 10),
            Err(WireError::UnknownVersion(2))
        ));
        assert!(matches!(
            decode::<Request>(&[1, 0, 0], 10),
            Err(WireError::TrailingBytes(1))
        ));
        assert!(matches!(
            decode::<Request>(&[1; 20], 10),
            Err(WireError::TooLarge { len: 20, limit: 10 })
        ));
        // A locator claiming 2^60 entries in a short frame.
        let mut lie = vec![1u8, 1, 0xff];
        lie.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Request>(&lie, 100).is_err());
        for n in 0..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = decode::<Request>(&junk, 4096);
            let _ = decode::<Response>(&junk, 4096);
        }
    }

    #[test]
    fn names_carry_the_consensus_id() {
        let spec = ChainSpec::by_name("ltc-regtest").expect("built-in spec");
        let id = spec.consensus_id().to_string();
        let names = ProtocolNames::new(&id);
        for name in [
            names.shares_topic.as_str(),
            names.gossipsub_prefix.as_str(),
            names.kad.as_ref(),
            names.sync.as_ref(),
            names.identify_version.as_str(),
        ] {
            assert!(name.contains(&id), "{name}");
        }
        let mesh = MeshChain::from(spec);
        assert_eq!(mesh.id, id);
        assert!(mesh.max_response_bytes() >= MAX_SHARES_PER_REQUEST * mesh.max_share_size);
    }
}
