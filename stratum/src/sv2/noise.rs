//! The encrypted transport: the Noise NX handshake (SRI's `noise_sv2`, the same code
//! SRI's own roles run) with the pool's authority key, then frames whose 6-byte header
//! and payload are sealed separately, the payload in chunks of at most 65 535 bytes
//! each with its own 16-byte tag.
//!
//! The authority key is a secp256k1 key. Its public half is what miners and proxies
//! pin; SV2 clients write it in base58check with a 2-byte version (1, little-endian)
//! before the 32-byte x-only key.

use super::codec::{DecodeError, HEADER_SIZE, Header, Message};
use noise_sv2::{
    AEAD_MAC_LEN, ELLSWIFT_ENCODING_SIZE, Initiator, NoiseDecryptor, NoiseEncryptor, Responder,
};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes of an encrypted frame header.
pub const ENCRYPTED_HEADER_SIZE: usize = HEADER_SIZE + AEAD_MAC_LEN;
/// Largest encrypted chunk of a payload.
const CHUNK: usize = 65_535;
/// Largest plaintext in one chunk.
const PLAIN_CHUNK: usize = CHUNK - AEAD_MAC_LEN;
/// Bytes the responder sends in the handshake: its ephemeral key, its encrypted static
/// key and the encrypted certificate.
const RESPONDER_HANDSHAKE_SIZE: usize = noise_sv2::INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE;

/// Why the transport failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer did not finish its part of the handshake in time.
    #[error("no handshake within {0:?}")]
    HandshakeTimeout(Duration),
    /// The handshake failed: bad keys, a certificate that does not verify, or an
    /// authority key that is not the one pinned.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// A frame that does not decrypt: not the peer the handshake was made with.
    #[error("a frame does not decrypt")]
    Decrypt,
    /// A frame announcing a payload above the limit.
    #[error("frame of {len} bytes, above the limit of {limit}")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A frame whose message does not decode.
    #[error("bad message: {0}")]
    Decode(#[from] DecodeError),
}

/// A pool's authority key pair: it signs the certificate of every connection's
/// static key.
#[derive(Clone)]
pub struct AuthorityKey {
    secret: [u8; 32],
    public: [u8; 32],
}

impl fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityKey")
            .field("public", &self.public_base58())
            .finish_non_exhaustive()
    }
}

impl AuthorityKey {
    /// The key pair of a 32-byte secret.
    ///
    /// # Errors
    /// A secret that is zero or not below the curve order.
    pub fn from_secret(secret: [u8; 32]) -> Result<Self, TransportError> {
        let secp = secp256k1::Secp256k1::signing_only();
        let kp = secp256k1::Keypair::from_seckey_slice(&secp, &secret)
            .map_err(|e| TransportError::Handshake(format!("authority key: {e}")))?;
        Ok(Self {
            secret,
            public: kp.x_only_public_key().0.serialize(),
        })
    }

    /// A new random key pair.
    ///
    /// # Errors
    /// The system has no randomness to give.
    pub fn generate() -> Result<Self, TransportError> {
        // A random 32-byte value is a valid secret but with odds of about 2^-128.
        for _ in 0..8 {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)
                .map_err(|e| TransportError::Handshake(format!("no randomness: {e}")))?;
            if let Ok(k) = Self::from_secret(secret) {
                return Ok(k);
            }
        }
        Err(TransportError::Handshake("no valid secret drawn".into()))
    }

    /// The 32-byte secret.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The x-only public key.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The public key as SV2 clients write it (for example in a translator's
    /// `authority_pubkey` or a `stratum2+tcp://host:port/KEY` URL).
    pub fn public_base58(&self) -> String {
        encode_public(&self.public)
    }
}

/// Encodes an x-only public key in SV2's base58check form.
pub fn encode_public(key: &[u8; 32]) -> String {
    let mut raw = [0u8; 34];
    raw[0] = 1;
    raw[2..].copy_from_slice(key);
    bs58::encode(raw).with_check().into_string()
}

/// Decodes an authority public key written in SV2's base58check form.
///
/// # Errors
/// A bad checksum, a version other than 1, or not a point on the curve.
pub fn decode_public(s: &str) -> Result<[u8; 32], String> {
    let raw = bs58::decode(s)
        .with_check(None)
        .into_vec()
        .map_err(|e| match e {
            bs58::decode::Error::InvalidChecksum { .. } => {
                "not a base58check key: bad checksum".to_owned()
            }
            e => format!("not a base58check key: {e}"),
        })?;
    if raw.len() != 34 {
        return Err(format!("{} bytes, expected 34", raw.len()));
    }
    if raw[..2] != [1, 0] {
        return Err(format!(
            "key version {}, expected 1",
            u16::from_le_bytes([raw[0], raw[1]])
        ));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&raw[2..]);
    secp256k1::XOnlyPublicKey::from_slice(&key).map_err(|e| format!("not a curve point: {e}"))?;
    Ok(key)
}

/// Runs the responder's side of the handshake on `io`; returns the two ciphers.
///
/// # Errors
/// Timeout, I/O errors, and a handshake message that does not verify.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    key: &AuthorityKey,
    cert_validity: Duration,
    limit: Duration,
) -> Result<(NoiseEncryptor, NoiseDecryptor), TransportError> {
    let mut responder = Responder::from_authority_kp(&key.public, &key.secret, cert_validity)
        .map_err(|e| TransportError::Handshake(format!("{e:?}")))?;
    let mut theirs = [0u8; ELLSWIFT_ENCODING_SIZE];
    tokio::time::timeout(limit, io.read_exact(&mut theirs))
        .await
        .map_err(|_| TransportError::HandshakeTimeout(limit))??;
    let (reply, engine) = responder
        .step_1(theirs)
        .map_err(|e| TransportError::Handshake(format!("{e:?}")))?;
    tokio::time::timeout(limit, io.write_all(&reply))
        .await
        .map_err(|_| TransportError::HandshakeTimeout(limit))??;
    Ok(engine.into_split())
}

/// Runs the initiator's side of the handshake on `io`, checking the pool's certificate
/// against `authority` (`None` accepts any key: only for tests and trusted links).
///
/// # Errors
/// Timeout, I/O errors, and a certificate that does not verify.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    authority: Option<[u8; 32]>,
    limit: Duration,
) -> Result<(NoiseEncryptor, NoiseDecryptor), TransportError> {
    let mut initiator = match authority {
        Some(k) => Initiator::from_raw_k(k),
        None => Initiator::without_pk(),
    }
    .map_err(|e| TransportError::Handshake(format!("{e:?}")))?;
    let first = initiator
        .step_0()
        .map_err(|e| TransportError::Handshake(format!("{e:?}")))?;
    let steps = async {
        io.write_all(&first).await?;
        let mut reply = [0u8; RESPONDER_HANDSHAKE_SIZE];
        io.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(limit, steps)
        .await
        .map_err(|_| TransportError::HandshakeTimeout(limit))??;
    let engine = initiator
        .step_2(reply)
        .map_err(|e| TransportError::Handshake(format!("{e:?}")))?;
    Ok(engine.into_split())
}

/// Seals `msg` into an encrypted frame.
///
/// # Errors
/// A message that cannot be encoded, or a cipher that refuses (nonce exhausted).
pub fn seal(enc: &mut NoiseEncryptor, msg: &Message) -> Result<Vec<u8>, TransportError> {
    let frame = msg.to_frame()?;
    let payload_len = frame.len() - HEADER_SIZE;
    let mut out = Vec::with_capacity(
        ENCRYPTED_HEADER_SIZE + payload_len + payload_len.div_ceil(PLAIN_CHUNK) * AEAD_MAC_LEN,
    );
    let mut part = frame[..HEADER_SIZE].to_vec();
    enc.encrypt(&mut part)
        .map_err(|_| TransportError::Decrypt)?;
    out.extend_from_slice(&part);
    for chunk in frame[HEADER_SIZE..].chunks(PLAIN_CHUNK) {
        let mut part = chunk.to_vec();
        enc.encrypt(&mut part)
            .map_err(|_| TransportError::Decrypt)?;
        out.extend_from_slice(&part);
    }
    Ok(out)
}

/// Reads one encrypted frame from `io`: its header and its payload, decrypted.
/// A payload above `max_payload` bytes fails before anything of it is read.
///
/// # Errors
/// I/O errors (including a clean close), a frame that does not decrypt, or one too
/// large.
pub async fn read_frame<R: AsyncRead + Unpin>(
    io: &mut R,
    dec: &mut NoiseDecryptor,
    max_payload: usize,
) -> Result<(Header, Vec<u8>), TransportError> {
    let mut head = vec![0u8; ENCRYPTED_HEADER_SIZE];
    io.read_exact(&mut head).await?;
    dec.decrypt(&mut head)
        .map_err(|_| TransportError::Decrypt)?;
    let mut raw = [0u8; HEADER_SIZE];
    raw.copy_from_slice(&head[..HEADER_SIZE]);
    let header = Header::parse(&raw);
    let len = header.length as usize;
    if len > max_payload {
        return Err(TransportError::FrameTooLarge {
            len,
            limit: max_payload,
        });
    }
    let mut payload = Vec::with_capacity(len);
    let mut left = len;
    while left > 0 {
        let plain = left.min(PLAIN_CHUNK);
        let mut part = vec![0u8; plain + AEAD_MAC_LEN];
        io.read_exact(&mut part).await?;
        dec.decrypt(&mut part)
            .map_err(|_| TransportError::Decrypt)?;
        payload.extend_from_slice(&part);
        left -= plain;
    }
    Ok((header, payload))
}

/// Reads and decodes one message.
///
/// # Errors
/// As [`read_frame`], and a payload that does not decode.
pub async fn read_message<R: AsyncRead + Unpin>(
    io: &mut R,
    dec: &mut NoiseDecryptor,
    max_payload: usize,
) -> Result<Message, TransportError> {
    let (header, payload) = read_frame(io, dec, max_payload).await?;
    Ok(Message::decode(&header, &payload)?)
}

/// An encrypted connection after its handshake, for either side. A reader task decodes
/// the peer's frames into a small channel (the frame reader is not cancel-safe, so it
/// runs on its own), which makes waiting for a message cancel-safe; the task ends with
/// the transport. A frame that decrypts but does not decode is handed on as
/// [`TransportError::Decode`] and reading goes on; any other error ends the reading.
pub struct Transport {
    inbox: tokio::sync::mpsc::Receiver<Result<Message, TransportError>>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    enc: NoiseEncryptor,
    reader: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Transport {
    /// The pool's side: [`accept`] on `stream`, then frames of at most `max_frame`
    /// payload bytes, `queue` decoded messages buffered.
    ///
    /// # Errors
    /// As [`accept`].
    pub async fn accept(
        mut stream: tokio::net::TcpStream,
        key: &AuthorityKey,
        cert_validity: Duration,
        limit: Duration,
        max_frame: usize,
        queue: usize,
    ) -> Result<Self, TransportError> {
        let (enc, dec) = accept(&mut stream, key, cert_validity, limit).await?;
        Ok(Self::start(stream, enc, dec, max_frame, queue))
    }

    /// The client's side: [`connect`] on `stream`, pinning `authority` (`None` accepts
    /// any key), then as [`Transport::accept`].
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect(
        mut stream: tokio::net::TcpStream,
        authority: Option<[u8; 32]>,
        limit: Duration,
        max_frame: usize,
        queue: usize,
    ) -> Result<Self, TransportError> {
        let (enc, dec) = connect(&mut stream, authority, limit).await?;
        Ok(Self::start(stream, enc, dec, max_frame, queue))
    }

    fn start(
        stream: tokio::net::TcpStream,
        enc: NoiseEncryptor,
        mut dec: NoiseDecryptor,
        max_frame: usize,
        queue: usize,
    ) -> Self {
        let (mut rd, writer) = stream.into_split();
        let (tx, inbox) = tokio::sync::mpsc::channel(queue);
        let reader = tokio::spawn(async move {
            loop {
                let r = read_message(&mut rd, &mut dec, max_frame).await;
                let stop = matches!(&r, Err(e) if !matches!(e, TransportError::Decode(_)));
                if tx.send(r).await.is_err() || stop {
                    break;
                }
            }
        });
        Self {
            inbox,
            writer,
            enc,
            reader,
        }
    }

    /// Seals and sends `m`; the write must make progress within `limit`.
    ///
    /// # Errors
    /// The message cannot be sealed, or the socket fails or stalls.
    pub async fn send(&mut self, m: &Message, limit: Duration) -> Result<(), TransportError> {
        let bytes = seal(&mut self.enc, m)?;
        tokio::time::timeout(limit, self.writer.write_all(&bytes))
            .await
            .map_err(|_| {
                TransportError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no write progress within {limit:?}"),
                ))
            })??;
        Ok(())
    }

    /// The next message; `None` once reading has ended. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, TransportError>> {
        self.inbox.recv().await
    }

    /// Closes the sending side (the peer reads end of stream).
    pub async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}
