//! Error types of the miner crate.

use otedama_sharechain::PowAlgorithm;

/// Errors of [`crate::Miner::start`]: a configuration the miner cannot run.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The configuration lists no pool.
    #[error("no pool configured")]
    NoPools,
    /// A pool URL could not be parsed.
    #[error("invalid pool url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What was wrong with it.
        reason: UrlError,
    },
    /// More hashing threads were asked for than there are extranonce2 prefixes.
    #[error("{requested} hashing threads requested; at most {max} are supported")]
    TooManyThreads {
        /// The configured thread count.
        requested: usize,
        /// The largest supported count.
        max: usize,
    },
    /// The backend hashes a different algorithm than the configuration asks for.
    #[error("backend {backend} hashes {got}, the configuration asks for {expected}")]
    AlgorithmMismatch {
        /// The backend's name.
        backend: String,
        /// The configured algorithm.
        expected: PowAlgorithm,
        /// The backend's algorithm.
        got: PowAlgorithm,
    },
    /// The CPU kernel asked for does not run on this CPU or does not hash the algorithm.
    #[error("cpu kernel {kernel} cannot hash {algorithm} on this CPU")]
    KernelUnsupported {
        /// The kernel asked for.
        kernel: crate::kernel::CpuKernel,
        /// The algorithm.
        algorithm: PowAlgorithm,
    },
    /// [`crate::Miner::start`] was called outside a tokio runtime.
    #[error("the miner must be started inside a tokio runtime")]
    NoRuntime,
    /// No OpenCL loader, platform or device (or no device at the index asked for).
    #[error("OpenCL unavailable: {0}")]
    OpenClUnavailable(String),
    /// An OpenCL device is present but the backend could not be set up on it.
    #[error("OpenCL error: {0}")]
    OpenCl(String),
    /// The Ethash or KawPow kernels refused a request.
    #[error(transparent)]
    Dag(#[from] DagError),
    /// The operating system refused to start a hashing thread.
    #[error("spawning a hashing thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// What the Ethash and KawPow device kernels refuse (both GPU APIs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    /// A DAG larger than the device's largest buffer.
    #[error("dataset of {bytes} bytes exceeds the device's largest buffer ({max} bytes)")]
    TooLarge {
        /// The dataset's size.
        bytes: u64,
        /// The device's largest buffer.
        max: u64,
    },
    /// A search before the DAG was generated on the device.
    #[error("the DAG has not been generated on the device")]
    NotGenerated,
    /// Dataset items asked for outside the dataset, or too many at once.
    #[error("dataset items {first}..{first}+{count} outside 0..{items} or over {max} at once")]
    Range {
        /// The first item asked for.
        first: u64,
        /// How many.
        count: u64,
        /// The dataset's items.
        items: u64,
        /// The most one call returns.
        max: u64,
    },
    /// A dataset too small for the algorithm (KawPow reads its first 16 KiB).
    #[error("dataset of {items} items; the algorithm needs at least {min}")]
    DatasetTooSmall {
        /// The dataset's 64-byte items.
        items: u64,
        /// The fewest it needs.
        min: u64,
    },
}

/// What is wrong with a pool URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The scheme is neither `stratum+tcp` nor `stratum2+tcp`.
    #[error("unsupported scheme {0:?} (stratum+tcp or stratum2+tcp)")]
    UnsupportedScheme(String),
    /// A `stratum2+tcp` URL without the pool's authority key after the port.
    #[error("missing authority key: expected stratum2+tcp://host:port/AUTHORITY_PUBKEY")]
    MissingAuthority,
    /// The authority key after the port does not decode.
    #[error("bad authority key {key:?}: {reason}")]
    BadAuthority {
        /// The key as written.
        key: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The host part is empty.
    #[error("empty host")]
    EmptyHost,
    /// No `:port` follows the host.
    #[error("missing port")]
    MissingPort,
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// Something follows the port.
    #[error("unexpected path {0:?}")]
    UnexpectedPath(String),
}

/// Errors of decoding a `mining.notify` or `mining.subscribe` result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The params are not an array of the expected length.
    #[error("expected {expected} params, got {got}")]
    Arity {
        /// The number of params the message needs.
        expected: usize,
        /// The number found.
        got: usize,
    },
    /// A field has the wrong JSON type.
    #[error("{field}: expected {expected}")]
    Type {
        /// The field.
        field: &'static str,
        /// The JSON type it must have.
        expected: &'static str,
    },
    /// A hex field does not decode.
    #[error("{field}: invalid hex")]
    Hex {
        /// The field.
        field: &'static str,
    },
    /// A field decodes to the wrong number of bytes.
    #[error("{field}: {got} bytes, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// The extranonce2 size is outside 1..=8.
    #[error("unsupported extranonce2 size {0} (supported: 1..=8)")]
    Extranonce2Size(u64),
}

/// Why a pool session ended (internal: logged, never returned to the node).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// Connecting, reading or writing failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The pool did not answer in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The pool closed the connection.
    #[error("connection closed by the pool")]
    Closed,
    /// The pool sent a line longer than the limit.
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    /// The pool answered `mining.subscribe` with something unusable.
    #[error("bad subscribe result: {0}")]
    BadSubscribe(#[source] JobError),
    /// The pool refused the subscription.
    #[error("subscribe refused: {0}")]
    Subscribe(StratumError),
    /// The pool refused the credentials.
    #[error("authorization refused: {0}")]
    Unauthorized(StratumError),
    /// The pool asked the miner to reconnect.
    #[error("the pool asked for a reconnect")]
    Reconnect,
    /// Stratum V2: the handshake, the transport or a message failed.
    #[error("stratum v2: {0}")]
    Sv2(String),
}

/// A line from the pool that is not a usable Stratum v1 message (internal: logged).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtocolError {
    /// The line is not JSON.
    #[error("invalid json: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not an object.
    #[error("not a json object")]
    NotAnObject,
    /// A known method has malformed params.
    #[error("{method}: {source}")]
    Params {
        /// The method.
        method: &'static str,
        /// What was wrong.
        source: JobError,
    },
}

/// An error a pool returned for a request: `[code, message, traceback]` or an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StratumError {
    /// The numeric code, when the pool gave one (21 = stale, 24 = unauthorized).
    pub code: Option<i64>,
    /// The pool's message.
    pub message: String,
}

impl std::fmt::Display for StratumError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Errors of the RandomX engine (`otedama_miner::randomx`).
#[derive(Debug, thiserror::Error)]
pub enum RandomxError {
    /// The RandomX cache could not be allocated.
    #[error("cannot allocate the RandomX cache ({bytes} bytes)")]
    CacheAlloc {
        /// The cache's size.
        bytes: u64,
    },
    /// The RandomX dataset could not be allocated (fast mode); light mode needs only
    /// the cache.
    #[error("cannot allocate the RandomX dataset ({bytes} bytes); light mode needs 256 MiB")]
    DatasetAlloc {
        /// The dataset's size.
        bytes: u64,
    },
    /// The library refused to create a VM.
    #[error("cannot create a RandomX {mode}-mode VM")]
    VmCreate {
        /// `fast` or `light`.
        mode: &'static str,
    },
    /// The hashing blob has no room for the 4-byte nonce at the nonce offset.
    #[error("hashing blob of {len} bytes has no 4-byte nonce at offset {offset}")]
    NonceOffset {
        /// The blob's length.
        len: usize,
        /// The nonce offset asked for.
        offset: usize,
    },
    /// A thread that computes part of the dataset panicked.
    #[error("a RandomX dataset thread panicked")]
    InitPanicked,
    /// The operating system refused to start a thread.
    #[error("spawning a RandomX thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Why a DAG pool session ([`DagClient`](crate::DagClient)) ended.
#[derive(Debug, thiserror::Error)]
pub enum DagClientError {
    /// Connecting, reading or writing failed.
    #[error("pool connection: {0}")]
    Io(#[from] std::io::Error),
    /// The pool closed the connection.
    #[error("pool closed the connection")]
    Closed,
    /// The pool sent nothing (or did not answer the handshake) in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The pool refused the subscription or the credentials.
    #[error("pool refused {what}: {reason}")]
    Refused {
        /// `mining.subscribe` or `mining.authorize`.
        what: &'static str,
        /// The pool's error, as sent.
        reason: String,
    },
    /// A message this client cannot follow.
    #[error("pool message: {0}")]
    Protocol(&'static str),
    /// A line longer than the client accepts.
    #[error("pool line longer than {0} bytes")]
    LineTooLong(usize),
}
