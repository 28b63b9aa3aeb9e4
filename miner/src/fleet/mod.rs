//! A monitor for network ASIC miners through the cgminer RPC API (TCP port 4028), which
//! cgminer, bmminer (Antminer), btminer (Whatsminer) and Avalon firmwares all speak.
//!
//! - [`FleetClient`]: one miner. Each request is one TCP connection: the request is
//!   written, the reply read up to EOF (at most [`MAX_REPLY`] bytes) and its trailing NULs
//!   stripped. Requests are JSON (`{"command":"summary"}`) or text (`summary`), see
//!   [`Format`]; replies of either form are read, and the malformed JSON some firmwares
//!   send is repaired first. [`FleetClient::report`] reads `summary`, `devs`, `pools` and
//!   `stats` into a [`MinerReport`].
//! - [`FleetMonitor`]: polls up to [`MAX_DEVICES`] miners on an interval and keeps the
//!   latest [`FleetDevice`] state of each.
//!
//! Only read commands are sent; the API's privileged commands are never used.

mod error;
mod model;
mod monitor;
mod repair;
mod text;

#[cfg(test)]
mod tests;

pub use error::{FleetError, MonitorError, Stage};
pub use model::{ChainStats, DeviceKind, DeviceStats, MinerReport, PoolStatus, Summary};
pub use monitor::{FleetDevice, FleetMonitor, MAX_DEVICES};

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::{debug, trace};

const LOG: &str = "otedama::miner";

/// The cgminer API's default port.
pub const DEFAULT_PORT: u16 = 4028;
/// Longest reply read; a miner sending more is cut off with [`FleetError::TooLarge`].
pub const MAX_REPLY: usize = 1024 * 1024;
/// Default limit on opening a connection, and on writing a request and reading its reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The form of the requests sent. cgminer answers a JSON request in JSON and a text
/// request in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"command":"summary"}`. Allows the `summary+devs+pools` multi-report.
    #[default]
    Json,
    /// `summary`: one request per command.
    Text,
}

/// A read command of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Miner-wide hash rate and share counters (`SUMMARY`).
    Summary,
    /// Every device (`DEVS`).
    Devs,
    /// Enabled devices only (`DEVS`).
    Edevs,
    /// Configured pools (`POOLS`).
    Pools,
    /// Driver-specific statistics (`STATS`): Antminer chains, fans and temperatures.
    Stats,
}

impl Command {
    /// Returns the command as sent: `summary`, `devs`, `edevs`, `pools` or `stats`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Summary => "summary",
            Command::Devs => "devs",
            Command::Edevs => "edevs",
            Command::Pools => "pools",
            Command::Stats => "stats",
        }
    }

    /// Returns the key of the data section in the reply: `SUMMARY`, `DEVS`, `POOLS` or
    /// `STATS`.
    pub fn section(self) -> &'static str {
        match self {
            Command::Summary => "SUMMARY",
            Command::Devs | Command::Edevs => "DEVS",
            Command::Pools => "POOLS",
            Command::Stats => "STATS",
        }
    }
}

/// How a [`FleetClient`] talks to a miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiOptions {
    /// The request form.
    pub format: Format,
    /// Limit on opening the TCP connection.
    pub connect_timeout: Duration,
    /// Limit on writing one request and reading its whole reply.
    pub read_timeout: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            format: Format::Json,
            connect_timeout: DEFAULT_TIMEOUT,
            read_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A client of one miner's API.
#[derive(Debug, Clone)]
pub struct FleetClient {
    address: SocketAddr,
    options: ApiOptions,
}

/// The replies making up a report: summary, then devs and pools when the miner gave them.
type Parts = (Value, Option<Value>, Option<Value>);

impl FleetClient {
    /// Returns a client of the API at `address`. Nothing is sent until a request.
    pub fn new(address: SocketAddr, options: ApiOptions) -> FleetClient {
        FleetClient { address, options }
    }

    /// Returns the miner's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns the options the client was made with.
    pub fn options(&self) -> ApiOptions {
        self.options
    }

    /// Sends `command` and returns the reply in JSON form (a text reply is converted:
    /// `{"STATUS":[{..}], "<SECTION>":[{..}]}` with string values).
    ///
    /// # Errors
    /// [`FleetError`] when the miner is unreachable, too slow, sends more than
    /// [`MAX_REPLY`] bytes or an unreadable reply, or answers with status `E` or `F`.
    pub async fn request(&self, command: Command) -> Result<Value, FleetError> {
        let raw = self.exchange(&self.encode(command.name())).await?;
        let reply = parse_reply(&raw, command.section())?;
        check_status(&reply, command.name())?;
        Ok(reply)
    }

    /// Reads `summary`, `devs`, `pools` and `stats` into one report.
    ///
    /// In JSON mode the first three come from one `summary+devs+pools` request; when the
    /// miner refuses or garbles it (some Antminer firmwares reject `+`), or leaves a part
    /// out, they are requested one by one. Only the summary is required: a refused or
    /// unreadable `devs`, `pools` or `stats` leaves its part of the report empty.
    ///
    /// # Errors
    /// [`FleetError`] when the summary cannot be read, or when any request fails to
    /// connect, times out or is too large.
    pub async fn report(&self) -> Result<MinerReport, FleetError> {
        let joined = match self.options.format {
            Format::Json => self.joined().await?,
            Format::Text => None,
        };
        let (summary, devs, pools) = match joined {
            Some(parts) => parts,
            None => (self.request(Command::Summary).await?, None, None),
        };
        // Parts missing from a multi-report are asked for on their own.
        let devs = match devs {
            Some(devs) => Some(devs),
            None => self.optional(Command::Devs).await?,
        };
        let pools = match pools {
            Some(pools) => Some(pools),
            None => self.optional(Command::Pools).await?,
        };
        let stats = self.optional(Command::Stats).await?;
        Ok(MinerReport::assemble(
            &summary,
            devs.as_ref(),
            pools.as_ref(),
            stats.as_ref(),
        ))
    }

    /// The `summary+devs+pools` multi-report; `None` when the miner did not answer it
    /// usably, so the caller falls back to separate requests.
    async fn joined(&self) -> Result<Option<Parts>, FleetError> {
        const COMMANDS: [Command; 3] = [Command::Summary, Command::Devs, Command::Pools];
        let raw = self.exchange(&self.encode("summary+devs+pools")).await?;
        let reply = match parse_reply(&raw, Command::Summary.section()) {
            Ok(reply) => reply,
            Err(error) => {
                debug!(target: LOG, address = %self.address, %error, "multi-report unreadable, falling back");
                return Ok(None);
            }
        };
        let [summary, devs, pools] = COMMANDS.map(|command| {
            split_joined(&reply, command)
                .filter(|part| check_status(part, command.name()).is_ok())
                .cloned()
        });
        match summary {
            Some(summary) => Ok(Some((summary, devs, pools))),
            None => {
                debug!(target: LOG, address = %self.address, "multi-report refused, falling back");
                Ok(None)
            }
        }
    }

    /// A request whose refusal or unreadable reply is tolerated as `None`; transport
    /// errors still fail, as they say the miner is unhealthy.
    async fn optional(&self, command: Command) -> Result<Option<Value>, FleetError> {
        match self.request(command).await {
            Ok(reply) => Ok(Some(reply)),
            Err(
                error @ (FleetError::Refused { .. } | FleetError::Json(_) | FleetError::EmptyReply),
            ) => {
                debug!(target: LOG, address = %self.address, command = command.name(), %error, "optional report skipped");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn encode(&self, command: &str) -> Vec<u8> {
        match self.options.format {
            // Commands here never contain characters that JSON escapes.
            Format::Json => format!(r#"{{"command":"{command}"}}"#).into_bytes(),
            Format::Text => command.as_bytes().to_vec(),
        }
    }

    /// One request on one connection: write it, read up to EOF, strip trailing NULs.
    async fn exchange(&self, request: &[u8]) -> Result<Vec<u8>, FleetError> {
        trace!(target: LOG, address = %self.address, request = %String::from_utf8_lossy(request), "api request");
        let mut stream = timeout(
            self.options.connect_timeout,
            TcpStream::connect(self.address),
        )
        .await
        .map_err(|_| FleetError::Timeout(Stage::Connect))?
        .map_err(FleetError::Connect)?;
        let exchange = async {
            stream.write_all(request).await?;
            let mut reply = Vec::new();
            // One byte past the limit tells a reply at the limit from a longer one.
            (&mut stream)
                .take(MAX_REPLY as u64 + 1)
                .read_to_end(&mut reply)
                .await?;
            Ok::<_, std::io::Error>(reply)
        };
        let mut reply = timeout(self.options.read_timeout, exchange)
            .await
            .map_err(|_| FleetError::Timeout(Stage::Reply))?
            .map_err(FleetError::Io)?;
        if reply.len() > MAX_REPLY {
            return Err(FleetError::TooLarge { limit: MAX_REPLY });
        }
        while reply.last() == Some(&0) {
            reply.pop();
        }
        Ok(reply)
    }
}

/// Parses a reply, JSON (repaired) or text, into JSON. `section` names the data section
/// of a text reply.
pub(crate) fn parse_reply(raw: &[u8], section: &str) -> Result<Value, FleetError> {
    let reply = String::from_utf8_lossy(raw);
    let reply = reply.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if reply.is_empty() {
        return Err(FleetError::EmptyReply);
    }
    if reply.starts_with("STATUS=") {
        return Ok(text::parse_text(reply, section));
    }
    serde_json::from_slice(&repair::repair_json(reply.as_bytes())).map_err(FleetError::Json)
}

/// Fails on a status `E` (error) or `F` (fatal). The status is the first entry of the
/// `STATUS` array, or the reply itself when `STATUS` is a string (btminer errors).
pub(crate) fn check_status(reply: &Value, command: &'static str) -> Result<(), FleetError> {
    let status = match reply.get("STATUS") {
        Some(Value::Array(list)) => list.first().and_then(Value::as_object),
        Some(Value::String(_)) => reply.as_object(),
        _ => None,
    };
    let Some(status) = status else {
        return Ok(());
    };
    let letter = status.get("STATUS").and_then(Value::as_str).unwrap_or("");
    if letter.starts_with(['E', 'F']) {
        return Err(FleetError::Refused {
            command,
            code: model::integer(status, "Code"),
            message: model::text(status, "Msg").unwrap_or_default(),
        });
    }
    Ok(())
}

/// Finds the reply to `command` in a multi-report: under its name (`"summary":[{..}]`,
/// as cgminer sends it), or else the first object holding its section (concatenated
/// replies, or one object with every section).
pub(crate) fn split_joined(reply: &Value, command: Command) -> Option<&Value> {
    if let Some(part) = reply.get(command.name()) {
        return match part {
            Value::Array(list) => list.first(),
            other => Some(other),
        };
    }
    let candidates: &[Value] = match reply {
        Value::Array(list) => list,
        other => std::slice::from_ref(other),
    };
    candidates
        .iter()
        .find(|part| part.get(command.section()).is_some())
}
