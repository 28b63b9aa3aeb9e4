//! Errors of the Stratum server: configuration problems [`StratumServer::bind`] refuses,
//! reasons a session ends, and rejected requests with their Stratum error codes.
//!
//! [`StratumServer::bind`]: crate::StratumServer::bind

use otedama_sharechain::AddressError;
use std::time::Duration;

/// A configuration that [`StratumServer::bind`](crate::StratumServer::bind) refuses. It
/// reaches the caller wrapped in an `std::io::Error` of kind `InvalidInput`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// extranonce1 (4 bytes) plus extranonce2 must fill the chain spec's extranonce.
    #[error(
        "extranonce2_size {extranonce2_size} + 4 bytes of extranonce1 must equal the chain spec's extranonce_size {spec_size}"
    )]
    ExtranonceSize {
        /// The configured extranonce2 size.
        extranonce2_size: u8,
        /// The chain spec's total extranonce size.
        spec_size: u8,
    },
    /// A limit below its minimum.
    #[error("{field} must be at least {min}")]
    TooSmall {
        /// The config field.
        field: &'static str,
        /// Its smallest accepted value.
        min: u64,
    },
    /// A difficulty or rate that must be a positive finite number.
    #[error("{field} must be a positive finite number, got {value}")]
    NotPositive {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Why a session ended, other than the client closing the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// A line longer than the configured limit.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// Reading from the socket failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
    /// Too many lines that were not JSON-RPC requests.
    #[error("{0} malformed messages")]
    TooManyMalformed(u32),
    /// Unsent replies exceed the output bound: the client does not read.
    #[error("client does not read its messages")]
    SlowClient,
    /// Unsent replies made no progress for too long.
    #[error("no write progress within {0:?}")]
    SendTimeout(Duration),
    /// Not subscribed and authorized in time.
    #[error("not subscribed and authorized within {0:?}")]
    AuthTimeout(Duration),
    /// Mostly invalid proof of work, faster than the ban threshold.
    #[error("{invalid} invalid shares ({valid} valid) within {window:?}")]
    InvalidShareFlood {
        /// Invalid shares in the window.
        invalid: u32,
        /// Valid shares in the window.
        valid: u32,
        /// The window.
        window: Duration,
    },
}

/// Why an address is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BanReason {
    /// Lines that are not Stratum requests, or over-long lines.
    Malformed,
    /// A flood of shares with invalid proof of work.
    InvalidPow,
    /// Connections opened faster than the allowed rate.
    ConnectionFlood,
}

impl BanReason {
    /// Returns a short name for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BanReason::Malformed => "malformed input",
            BanReason::InvalidPow => "invalid proof-of-work flood",
            BanReason::ConnectionFlood => "connection flood",
        }
    }
}

impl SessionError {
    /// Returns the ban this ending deserves, if any.
    pub(crate) fn ban_reason(&self) -> Option<BanReason> {
        match self {
            SessionError::LineTooLong { .. } | SessionError::TooManyMalformed(_) => {
                Some(BanReason::Malformed)
            }
            SessionError::InvalidShareFlood { .. } => Some(BanReason::InvalidPow),
            _ => None,
        }
    }
}

/// The Stratum error codes (slush's numbering, used by cgminer, ckpool and Bitaxe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// 20: other or unknown.
    Other = 20,
    /// 21: job not found (stale).
    Stale = 21,
    /// 22: duplicate share.
    Duplicate = 22,
    /// 23: low difficulty share.
    LowDifficulty = 23,
    /// 24: unauthorized worker.
    Unauthorized = 24,
    /// 25: not subscribed.
    NotSubscribed = 25,
}

/// A rejected request. `Display` is the message the client sees, so it never carries
/// internal details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Reject {
    /// Not JSON, or not a JSON-RPC request object.
    #[error("Malformed request")]
    Malformed,
    /// A known method with parameters of the wrong shape.
    #[error("Invalid parameters for {method}: {reason}")]
    InvalidParams {
        /// The method.
        method: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A method this server does not implement ("Not supported." as ckpool, NOMP and
    /// the NiceHash spec word it; ethminer's dialect detection relies on the code 20).
    #[error("Not supported.")]
    UnknownMethod,
    /// A request that needs `mining.subscribe` first.
    #[error("Not subscribed")]
    NotSubscribed,
    /// A submission for a user name this session has not authorized.
    #[error("Unauthorized worker")]
    UnauthorizedWorker,
    /// The user name is empty, too long or starts with a dot.
    #[error("Invalid user name: expected ADDRESS or ADDRESS.worker")]
    BadUsername,
    /// The address part of the user name does not parse for this chain.
    #[error("Invalid payout address: {0}")]
    BadAddress(AddressError),
    /// The session already pays another address.
    #[error("This connection already pays {0}; open another connection for another address")]
    PayoutMismatch(String),
    /// Too many distinct workers on one connection.
    #[error("Too many workers on one connection")]
    TooManyWorkers,
    /// The job is unknown: too old, or invalidated by `clean_jobs`.
    #[error("Job not found")]
    JobNotFound,
    /// extranonce2 of the wrong length.
    #[error("Incorrect size of extranonce2")]
    Extranonce2Size,
    /// ntime outside the template's window.
    #[error("ntime out of range")]
    NtimeOutOfRange,
    /// Rolled version bits outside the negotiated mask (BIP310: `bits & ~mask != 0`).
    #[error("Invalid version bits")]
    VersionBits,
    /// The same solution was already accepted.
    #[error("Duplicate share")]
    Duplicate,
    /// The proof of work misses the session target.
    #[error("Low difficulty share")]
    LowDifficulty,
    /// The job has taken as many shares as a session may send for one job.
    #[error("Too many shares for one job; mine the latest job")]
    JobFull,
    /// A DAG share whose mix hash is not the one its nonce gives.
    #[error("Invalid mix hash")]
    BadMixHash,
    /// A KawPow share for a header hash other than its job's.
    #[error("Header hash does not match the job")]
    HeaderMismatch,
    /// A full 64-bit nonce that does not start with the session's extranonce.
    #[error("Nonce does not start with the session extranonce")]
    NonceOutsideExtranonce,
    /// Something went wrong on the server; details are only logged.
    #[error("Internal error")]
    Internal,
}

impl Reject {
    /// Returns the Stratum error code.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Reject::NotSubscribed => ErrorCode::NotSubscribed,
            Reject::UnauthorizedWorker
            | Reject::BadUsername
            | Reject::BadAddress(_)
            | Reject::PayoutMismatch(_)
            | Reject::TooManyWorkers => ErrorCode::Unauthorized,
            Reject::JobNotFound => ErrorCode::Stale,
            Reject::Duplicate => ErrorCode::Duplicate,
            Reject::LowDifficulty => ErrorCode::LowDifficulty,
            Reject::Malformed
            | Reject::InvalidParams { .. }
            | Reject::UnknownMethod
            | Reject::Extranonce2Size
            | Reject::NtimeOutOfRange
            | Reject::VersionBits
            | Reject::JobFull
            | Reject::BadMixHash
            | Reject::HeaderMismatch
            | Reject::NonceOutsideExtranonce
            | Reject::Internal => ErrorCode::Other,
        }
    }
}
