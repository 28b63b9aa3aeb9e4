//! Errors of the fleet client and monitor.

/// Why a request to a miner's API failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The TCP connection could not be opened (refused, unreachable...).
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// Writing the request or reading the reply failed.
    #[error("io: {0}")]
    Io(#[source] std::io::Error),
    /// The miner did not accept the connection or did not finish its reply in time.
    #[error("timed out {0}")]
    Timeout(Stage),
    /// The reply is longer than the limit; the connection was dropped.
    #[error("reply longer than {limit} bytes")]
    TooLarge {
        /// The largest reply accepted, in bytes.
        limit: usize,
    },
    /// The miner closed the connection without a reply.
    #[error("empty reply")]
    EmptyReply,
    /// The reply is not JSON, even after the known repairs.
    #[error("invalid json reply: {0}")]
    Json(#[source] serde_json::Error),
    /// The miner answered with status `E` (error) or `F` (fatal).
    #[error("{command} refused: code {code:?}: {message}")]
    Refused {
        /// The command sent.
        command: &'static str,
        /// The status `Code`, when the miner gave one (14 = invalid command in cgminer).
        code: Option<i64>,
        /// The status `Msg`.
        message: String,
    },
}

/// The step of a request that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the TCP connection.
    Connect,
    /// Writing the request and reading the reply up to EOF.
    Reply,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting",
            Stage::Reply => "waiting for the reply",
        })
    }
}

/// Why a [`super::FleetMonitor`] could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    /// More addresses than the monitor polls.
    #[error("{count} devices given; at most {max} are monitored")]
    TooManyDevices {
        /// The number of addresses given.
        count: usize,
        /// The largest supported number.
        max: usize,
    },
    /// The polling interval is zero.
    #[error("the polling interval must be longer than zero")]
    ZeroInterval,
    /// [`super::FleetMonitor::start`] was called outside a tokio runtime.
    #[error("the fleet monitor must be started inside a tokio runtime")]
    NoRuntime,
}
