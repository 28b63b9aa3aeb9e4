//! Errors of the parent-chain client. Each names the endpoint so an operator can act.

use std::path::PathBuf;

/// Why a daemon call failed.
#[derive(Debug, thiserror::Error)]
pub enum ParentError {
    /// No connection (daemon down, wrong port) or a timeout.
    #[error("{endpoint}: unreachable: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// The daemon refused the credentials.
    #[error("{endpoint}: authentication failed (check cookie_file or user/password)")]
    Auth {
        /// The endpoint URL.
        endpoint: String,
    },
    /// The cookie file could not be read.
    #[error("{endpoint}: cannot read cookie file {}: {source}", path.display())]
    Cookie {
        /// The endpoint URL.
        endpoint: String,
        /// The cookie path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The daemon answered with a JSON-RPC error (e.g. -9 "not connected", -10 "in
    /// initial sync").
    #[error("{endpoint}: {method} failed with {code}: {message}")]
    Daemon {
        /// The endpoint URL.
        endpoint: String,
        /// The method called.
        method: String,
        /// The JSON-RPC error code.
        code: i64,
        /// The daemon's message.
        message: String,
    },
    /// The reply could not be understood.
    #[error("{endpoint}: malformed reply: {reason}")]
    Malformed {
        /// The endpoint URL.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// The reply is longer than [`MAX_REPLY`](super::MAX_REPLY); reading stopped there.
    #[error("{endpoint}: reply larger than the limit of {limit} bytes")]
    TooLarge {
        /// The endpoint URL.
        endpoint: String,
        /// The most bytes read.
        limit: usize,
    },
    /// No endpoint at that index.
    #[error("no such parent daemon endpoint")]
    NoEndpoint,
    /// Too many submissions to this endpoint are waiting for an answer.
    #[error("{endpoint}: {waiting} block submissions still unanswered; block not sent")]
    Saturated {
        /// The endpoint URL.
        endpoint: String,
        /// Submissions waiting.
        waiting: usize,
    },
    /// Every endpoint failed.
    #[error("all parent daemons failed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<ParentError>),
}
