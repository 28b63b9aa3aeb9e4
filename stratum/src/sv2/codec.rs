//! Stratum V2 frames and the Common and Mining protocol messages a pool and its miners
//! exchange, in SV2's binary encoding: little-endian integers, `U24` lengths,
//! `STR0_255`, `B0_32` and `B0_64K` byte strings, `SEQ0_255[U256]` and `OPTION[u32]`.
//!
//! Every decoder reads from a byte slice and fails with a [`DecodeError`], never a panic;
//! the encodings are checked against SRI's own message crates in the tests.

/// Bytes of a frame header: extension type (u16), message type (u8), length (U24).
pub const HEADER_SIZE: usize = 6;
/// The extension-type bit that marks a message addressed to a channel.
const CHANNEL_BIT: u16 = 0x8000;

/// Message types of the Common and Mining protocols (extension 0).
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub mod msg_type {
    pub const SETUP_CONNECTION: u8 = 0x00;
    pub const SETUP_CONNECTION_SUCCESS: u8 = 0x01;
    pub const SETUP_CONNECTION_ERROR: u8 = 0x02;
    pub const OPEN_STANDARD_MINING_CHANNEL: u8 = 0x10;
    pub const OPEN_STANDARD_MINING_CHANNEL_SUCCESS: u8 = 0x11;
    pub const OPEN_MINING_CHANNEL_ERROR: u8 = 0x12;
    pub const OPEN_EXTENDED_MINING_CHANNEL: u8 = 0x13;
    pub const OPEN_EXTENDED_MINING_CHANNEL_SUCCESS: u8 = 0x14;
    pub const NEW_MINING_JOB: u8 = 0x15;
    pub const UPDATE_CHANNEL: u8 = 0x16;
    pub const UPDATE_CHANNEL_ERROR: u8 = 0x17;
    pub const CLOSE_CHANNEL: u8 = 0x18;
    pub const SET_EXTRANONCE_PREFIX: u8 = 0x19;
    pub const SUBMIT_SHARES_STANDARD: u8 = 0x1a;
    pub const SUBMIT_SHARES_EXTENDED: u8 = 0x1b;
    pub const SUBMIT_SHARES_SUCCESS: u8 = 0x1c;
    pub const SUBMIT_SHARES_ERROR: u8 = 0x1d;
    pub const NEW_EXTENDED_MINING_JOB: u8 = 0x1f;
    pub const SET_NEW_PREV_HASH: u8 = 0x20;
    pub const SET_TARGET: u8 = 0x21;
}

/// `SetupConnection.flags` of the Mining protocol, as sent by a client.
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub mod setup_flags {
    /// The client only understands standard jobs (no extended channels).
    pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
    /// The client wants to choose its own work (job negotiation).
    pub const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
    /// The client needs the version bits it may roll.
    pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
}

/// Why bytes are not a valid frame or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end inside a field.
    #[error("message ends inside {0}")]
    Truncated(&'static str),
    /// Bytes are left after the last field.
    #[error("{0} bytes after the last field")]
    Trailing(usize),
    /// A length prefix above its type's maximum.
    #[error("{field} longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its maximum.
        max: usize,
    },
    /// A `STR0_255` that is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A boolean other than 0 or 1, or an option with more than one element.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A message type this implementation does not know.
    #[error("unknown message type {msg_type:#04x} (extension {extension:#06x})")]
    Unknown {
        /// The extension type, without the channel bit.
        extension: u16,
        /// The message type.
        msg_type: u8,
    },
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The extension type, without the channel bit.
    pub extension: u16,
    /// Whether the message is addressed to a channel.
    pub channel_msg: bool,
    /// The message type.
    pub msg_type: u8,
    /// The payload length.
    pub length: u32,
}

impl Header {
    /// Parses the six header bytes.
    pub fn parse(b: &[u8; HEADER_SIZE]) -> Self {
        let ext = u16::from_le_bytes([b[0], b[1]]);
        Self {
            extension: ext & !CHANNEL_BIT,
            channel_msg: ext & CHANNEL_BIT != 0,
            msg_type: b[2],
            length: u32::from_le_bytes([b[3], b[4], b[5], 0]),
        }
    }
}

/// A 256-bit value (hash or target) as its 32 little-endian bytes.
pub type U256 = [u8; 32];

/// Reads a target sent as a `U256`.
pub fn target_from_le(b: &U256) -> otedama_sharechain::Target {
    otedama_sharechain::Target::from_u256(ruint::aliases::U256::from_le_bytes(*b))
}

/// Writes a target as a `U256`.
pub fn target_to_le(t: otedama_sharechain::Target) -> U256 {
    t.to_u256().to_le_bytes()
}

/// Every message of the Common and Mining protocols that a pool speaks.
#[derive(Debug, Clone, PartialEq)]
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub enum Message {
    SetupConnection(SetupConnection),
    SetupConnectionSuccess {
        used_version: u16,
        flags: u32,
    },
    SetupConnectionError {
        flags: u32,
        error_code: String,
    },
    OpenStandardMiningChannel(OpenChannel),
    OpenStandardMiningChannelSuccess {
        request_id: u32,
        channel_id: u32,
        target: U256,
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    OpenMiningChannelError {
        request_id: u32,
        error_code: String,
    },
    OpenExtendedMiningChannel {
        open: OpenChannel,
        min_extranonce_size: u16,
    },
    OpenExtendedMiningChannelSuccess {
        request_id: u32,
        channel_id: u32,
        target: U256,
        extranonce_size: u16,
        extranonce_prefix: Vec<u8>,
        group_channel_id: u32,
    },
    NewMiningJob {
        channel_id: u32,
        job_id: u32,
        min_ntime: Option<u32>,
        version: u32,
        merkle_root: U256,
    },
    NewExtendedMiningJob(ExtendedJob),
    UpdateChannel {
        channel_id: u32,
        nominal_hash_rate: f32,
        maximum_target: U256,
    },
    UpdateChannelError {
        channel_id: u32,
        error_code: String,
    },
    CloseChannel {
        channel_id: u32,
        reason_code: String,
    },
    SetExtranoncePrefix {
        channel_id: u32,
        extranonce_prefix: Vec<u8>,
    },
    SubmitSharesStandard(SubmitShares),
    SubmitSharesExtended {
        submit: SubmitShares,
        extranonce: Vec<u8>,
    },
    SubmitSharesSuccess {
        channel_id: u32,
        last_sequence_number: u32,
        new_submits_accepted_count: u32,
        new_shares_sum: u64,
    },
    SubmitSharesError {
        channel_id: u32,
        sequence_number: u32,
        error_code: String,
    },
    SetNewPrevHash {
        channel_id: u32,
        job_id: u32,
        prev_hash: U256,
        min_ntime: u32,
        nbits: u32,
    },
    SetTarget {
        channel_id: u32,
        maximum_target: U256,
    },
}

/// `SetupConnection`.
#[derive(Debug, Clone, PartialEq, Eq)]
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub struct SetupConnection {
    /// 0 for the Mining protocol.
    pub protocol: u8,
    pub min_version: u16,
    pub max_version: u16,
    pub flags: u32,
    pub endpoint_host: String,
    pub endpoint_port: u16,
    pub vendor: String,
    pub hardware_version: String,
    pub firmware: String,
    pub device_id: String,
}

/// The fields `OpenStandardMiningChannel` and `OpenExtendedMiningChannel` share.
#[derive(Debug, Clone, PartialEq)]
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub struct OpenChannel {
    pub request_id: u32,
    /// The miner's identity: for Otedama `ADDRESS[.worker]`.
    pub user_identity: String,
    /// Expected hashes per second.
    pub nominal_hash_rate: f32,
    /// The easiest target the client accepts.
    pub max_target: U256,
}

/// `NewExtendedMiningJob`: the coinbase around the extranonce, and the merkle path.
#[derive(Debug, Clone, PartialEq, Eq)]
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub struct ExtendedJob {
    pub channel_id: u32,
    pub job_id: u32,
    /// `None` for a future job, activated by a later `SetNewPrevHash`.
    pub min_ntime: Option<u32>,
    pub version: u32,
    pub version_rolling_allowed: bool,
    pub merkle_path: Vec<U256>,
    /// The coinbase (without witness data) before the extranonce prefix.
    pub coinbase_tx_prefix: Vec<u8>,
    /// The coinbase after the extranonce.
    pub coinbase_tx_suffix: Vec<u8>,
}

/// The fields `SubmitSharesStandard` and `SubmitSharesExtended` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Names, order and meaning are the SV2 specification's.
#[allow(missing_docs)]
pub struct SubmitShares {
    pub channel_id: u32,
    pub sequence_number: u32,
    pub job_id: u32,
    pub nonce: u32,
    pub ntime: u32,
    pub version: u32,
}

impl Message {
    /// Returns the message type and whether it is a channel message.
    pub fn kind(&self) -> (u8, bool) {
        use msg_type as t;
        match self {
            Self::SetupConnection(_) => (t::SETUP_CONNECTION, false),
            Self::SetupConnectionSuccess { .. } => (t::SETUP_CONNECTION_SUCCESS, false),
            Self::SetupConnectionError { .. } => (t::SETUP_CONNECTION_ERROR, false),
            Self::OpenStandardMiningChannel(_) => (t::OPEN_STANDARD_MINING_CHANNEL, false),
            Self::OpenStandardMiningChannelSuccess { .. } => {
                (t::OPEN_STANDARD_MINING_CHANNEL_SUCCESS, false)
            }
            Self::OpenMiningChannelError { .. } => (t::OPEN_MINING_CHANNEL_ERROR, false),
            Self::OpenExtendedMiningChannel { .. } => (t::OPEN_EXTENDED_MINING_CHANNEL, false),
            Self::OpenExtendedMiningChannelSuccess { .. } => {
                (t::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS, false)
            }
            Self::NewMiningJob { .. } => (t::NEW_MINING_JOB, true),
            Self::NewExtendedMiningJob(_) => (t::NEW_EXTENDED_MINING_JOB, true),
            Self::UpdateChannel { .. } => (t::UPDATE_CHANNEL, true),
            Self::UpdateChannelError { .. } => (t::UPDATE_CHANNEL_ERROR, true),
            Self::CloseChannel { .. } => (t::CLOSE_CHANNEL, true),
            Self::SetExtranoncePrefix { .. } => (t::SET_EXTRANONCE_PREFIX, true),
            Self::SubmitSharesStandard(_) => (t::SUBMIT_SHARES_STANDARD, true),
            Self::SubmitSharesExtended { .. } => (t::SUBMIT_SHARES_EXTENDED, true),
            Self::SubmitSharesSuccess { .. } => (t::SUBMIT_SHARES_SUCCESS, true),
            Self::SubmitSharesError { .. } => (t::SUBMIT_SHARES_ERROR, true),
            Self::SetNewPrevHash { .. } => (t::SET_NEW_PREV_HASH, true),
            Self::SetTarget { .. } => (t::SET_TARGET, true),
        }
    }

    /// Returns the whole frame: header and payload.
    ///
    /// # Errors
    /// A string or byte field longer than its type allows (a bug on the sending side,
    /// reported instead of sending a frame the peer cannot parse).
    pub fn to_frame(&self) -> Result<Vec<u8>, DecodeError> {
        let mut w = Writer(Vec::with_capacity(64));
        let (msg_type, channel) = self.kind();
        let ext: u16 = if channel { CHANNEL_BIT } else { 0 };
        w.u16(ext);
        w.u8(msg_type);
        w.0.extend_from_slice(&[0, 0, 0]);
        self.encode(&mut w)?;
        let len = w.0.len() - HEADER_SIZE;
        if len >= 1 << 24 {
            return Err(DecodeError::TooLong {
                field: "payload",
                max: (1 << 24) - 1,
            });
        }
        w.0[3..6].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
        Ok(w.0)
    }

    fn encode(&self, w: &mut Writer) -> Result<(), DecodeError> {
        match self {
            Self::SetupConnection(s) => {
                w.u8(s.protocol);
                w.u16(s.min_version);
                w.u16(s.max_version);
                w.u32(s.flags);
                w.str0_255(&s.endpoint_host, "endpoint_host")?;
                w.u16(s.endpoint_port);
                w.str0_255(&s.vendor, "vendor")?;
                w.str0_255(&s.hardware_version, "hardware_version")?;
                w.str0_255(&s.firmware, "firmware")?;
                w.str0_255(&s.device_id, "device_id")?;
            }
            Self::SetupConnectionSuccess {
                used_version,
                flags,
            } => {
                w.u16(*used_version);
                w.u32(*flags);
            }
            Self::SetupConnectionError { flags, error_code } => {
                w.u32(*flags);
                w.str0_255(error_code, "error_code")?;
            }
            Self::OpenStandardMiningChannel(o) => w.open_channel(o)?,
            Self::OpenStandardMiningChannelSuccess {
                request_id,
                channel_id,
                target,
                extranonce_prefix,
                group_channel_id,
            } => {
                w.u32(*request_id);
                w.u32(*channel_id);
                w.bytes(target);
                w.b0_32(extranonce_prefix, "extranonce_prefix")?;
                w.u32(*group_channel_id);
            }
            Self::OpenMiningChannelError {
                request_id,
                error_code,
            } => {
                w.u32(*request_id);
                w.str0_255(error_code, "error_code")?;
            }
            Self::OpenExtendedMiningChannel {
                open,
                min_extranonce_size,
            } => {
                w.open_channel(open)?;
                w.u16(*min_extranonce_size);
            }
            Self::OpenExtendedMiningChannelSuccess {
                request_id,
                channel_id,
                target,
                extranonce_size,
                extranonce_prefix,
                group_channel_id,
            } => {
                w.u32(*request_id);
                w.u32(*channel_id);
                w.bytes(target);
                w.u16(*extranonce_size);
                w.b0_32(extranonce_prefix, "extranonce_prefix")?;
                w.u32(*group_channel_id);
            }
            Self::NewMiningJob {
                channel_id,
                job_id,
                min_ntime,
                version,
                merkle_root,
            } => {
                w.u32(*channel_id);
                w.u32(*job_id);
                w.option_u32(*min_ntime);
                w.u32(*version);
                w.bytes(merkle_root);
            }
            Self::NewExtendedMiningJob(j) => {
                w.u32(j.channel_id);
                w.u32(j.job_id);
                w.option_u32(j.min_ntime);
                w.u32(j.version);
                w.u8(u8::from(j.version_rolling_allowed));
                let n = u8::try_from(j.merkle_path.len()).map_err(|_| DecodeError::TooLong {
                    field: "merkle_path",
                    max: 255,
                })?;
                w.u8(n);
                for h in &j.merkle_path {
                    w.bytes(h);
                }
                w.b0_64k(&j.coinbase_tx_prefix, "coinbase_tx_prefix")?;
                w.b0_64k(&j.coinbase_tx_suffix, "coinbase_tx_suffix")?;
            }
            Self::UpdateChannel {
                channel_id,
                nominal_hash_rate,
                maximum_target,
            } => {
                w.u32(*channel_id);
                w.bytes(&nominal_hash_rate.to_le_bytes());
                w.bytes(maximum_target);
            }
            Self::UpdateChannelError {
                channel_id,
                error_code,
            } => {
                w.u32(*channel_id);
                w.str0_255(error_code, "error_code")?;
            }
            Self::CloseChannel {
                channel_id,
                reason_code,
            } => {
                w.u32(*channel_id);
                w.str0_255(reason_code, "reason_code")?;
            }
            Self::SetExtranoncePrefix {
                channel_id,
                extranonce_prefix,
            } => {
                w.u32(*channel_id);
                w.b0_32(extranonce_prefix, "extranonce_prefix")?;
            }
            Self::SubmitSharesStandard(s) => w.submit(s),
            Self::SubmitSharesExtended { submit, extranonce } => {
                w.submit(submit);
                w.b0_32(extranonce, "extranonce")?;
            }
            Self::SubmitSharesSuccess {
                channel_id,
                last_sequence_number,
                new_submits_accepted_count,
                new_shares_sum,
            } => {
                w.u32(*channel_id);
                w.u32(*last_sequence_number);
                w.u32(*new_submits_accepted_count);
                w.bytes(&new_shares_sum.to_le_bytes());
            }
            Self::SubmitSharesError {
                channel_id,
                sequence_number,
                error_code,
            } => {
                w.u32(*channel_id);
                w.u32(*sequence_number);
                w.str0_255(error_code, "error_code")?;
            }
            Self::SetNewPrevHash {
                channel_id,
                job_id,
                prev_hash,
                min_ntime,
                nbits,
            } => {
                w.u32(*channel_id);
                w.u32(*job_id);
                w.bytes(prev_hash);
                w.u32(*min_ntime);
                w.u32(*nbits);
            }
            Self::SetTarget {
                channel_id,
                maximum_target,
            } => {
                w.u32(*channel_id);
                w.bytes(maximum_target);
            }
        }
        Ok(())
    }

    /// Decodes the payload of a message of type `header.msg_type`.
    ///
    /// # Errors
    /// An unknown extension or message type, or a payload that does not match it.
    pub fn decode(header: &Header, payload: &[u8]) -> Result<Self, DecodeError> {
        use msg_type as t;
        if header.extension != 0 {
            return Err(DecodeError::Unknown {
                extension: header.extension,
                msg_type: header.msg_type,
            });
        }
        let mut r = Reader(payload);
        let m = match header.msg_type {
            t::SETUP_CONNECTION => Self::SetupConnection(SetupConnection {
                protocol: r.u8("protocol")?,
                min_version: r.u16("min_version")?,
                max_version: r.u16("max_version")?,
                flags: r.u32("flags")?,
                endpoint_host: r.str0_255("endpoint_host")?,
                endpoint_port: r.u16("endpoint_port")?,
                vendor: r.str0_255("vendor")?,
                hardware_version: r.str0_255("hardware_version")?,
                firmware: r.str0_255("firmware")?,
                device_id: r.str0_255("device_id")?,
            }),
            t::SETUP_CONNECTION_SUCCESS => Self::SetupConnectionSuccess {
                used_version: r.u16("used_version")?,
                flags: r.u32("flags")?,
            },
            t::SETUP_CONNECTION_ERROR => Self::SetupConnectionError {
                flags: r.u32("flags")?,
                error_code: r.str0_255("error_code")?,
            },
            t::OPEN_STANDARD_MINING_CHANNEL => Self::OpenStandardMiningChannel(r.open_channel()?),
            t::OPEN_STANDARD_MINING_CHANNEL_SUCCESS => Self::OpenStandardMiningChannelSuccess {
                request_id: r.u32("request_id")?,
                channel_id: r.u32("channel_id")?,
                target: r.u256("target")?,
                extranonce_prefix: r.b0_32("extranonce_prefix")?,
                group_channel_id: r.u32("group_channel_id")?,
            },
            t::OPEN_MINING_CHANNEL_ERROR => Self::OpenMiningChannelError {
                request_id: r.u32("request_id")?,
                error_code: r.str0_255("error_code")?,
            },
            t::OPEN_EXTENDED_MINING_CHANNEL => Self::OpenExtendedMiningChannel {
                open: r.open_channel()?,
                min_extranonce_size: r.u16("min_extranonce_size")?,
            },
            t::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS => Self::OpenExtendedMiningChannelSuccess {
                request_id: r.u32("request_id")?,
                channel_id: r.u32("channel_id")?,
                target: r.u256("target")?,
                extranonce_size: r.u16("extranonce_size")?,
                extranonce_prefix: r.b0_32("extranonce_prefix")?,
                group_channel_id: r.u32("group_channel_id")?,
            },
            t::NEW_MINING_JOB => Self::NewMiningJob {
                channel_id: r.u32("channel_id")?,
                job_id: r.u32("job_id")?,
                min_ntime: r.option_u32("min_ntime")?,
                version: r.u32("version")?,
                merkle_root: r.u256("merkle_root")?,
            },
            t::NEW_EXTENDED_MINING_JOB => {
                let channel_id = r.u32("channel_id")?;
                let job_id = r.u32("job_id")?;
                let min_ntime = r.option_u32("min_ntime")?;
                let version = r.u32("version")?;
                let version_rolling_allowed = r.bool("version_rolling_allowed")?;
                let n = r.u8("merkle_path")?;
                let merkle_path = (0..n)
                    .map(|_| r.u256("merkle_path"))
                    .collect::<Result<_, _>>()?;
                Self::NewExtendedMiningJob(ExtendedJob {
                    channel_id,
                    job_id,
                    min_ntime,
                    version,
                    version_rolling_allowed,
                    merkle_path,
                    coinbase_tx_prefix: r.b0_64k("coinbase_tx_prefix")?,
                    coinbase_tx_suffix: r.b0_64k("coinbase_tx_suffix")?,
                })
            }
            t::UPDATE_CHANNEL => Self::UpdateChannel {
                channel_id: r.u32("channel_id")?,
                nominal_hash_rate: r.f32("nominal_hash_rate")?,
                maximum_target: r.u256("maximum_target")?,
            },
            t::UPDATE_CHANNEL_ERROR => Self::UpdateChannelError {
                channel_id: r.u32("channel_id")?,
                error_code: r.str0_255("error_code")?,
            },
            t::CLOSE_CHANNEL => Self::CloseChannel {
                channel_id: r.u32("channel_id")?,
                reason_code: r.str0_255("reason_code")?,
            },
            t::SET_EXTRANONCE_PREFIX => Self::SetExtranoncePrefix {
                channel_id: r.u32("channel_id")?,
                extranonce_prefix: r.b0_32("extranonce_prefix")?,
            },
            t::SUBMIT_SHARES_STANDARD => Self::SubmitSharesStandard(r.submit()?),
            t::SUBMIT_SHARES_EXTENDED => Self::SubmitSharesExtended {
                submit: r.submit()?,
                extranonce: r.b0_32("extranonce")?,
            },
            t::SUBMIT_SHARES_SUCCESS => Self::SubmitSharesSuccess {
                channel_id: r.u32("channel_id")?,
                last_sequence_number: r.u32("last_sequence_number")?,
                new_submits_accepted_count: r.u32("new_submits_accepted_count")?,
                new_shares_sum: u64::from_le_bytes(r.array("new_shares_sum")?),
            },
            t::SUBMIT_SHARES_ERROR => Self::SubmitSharesError {
                channel_id: r.u32("channel_id")?,
                sequence_number: r.u32("sequence_number")?,
                error_code: r.str0_255("error_code")?,
            },
            t::SET_NEW_PREV_HASH => Self::SetNewPrevHash {
                channel_id: r.u32("channel_id")?,
                job_id: r.u32("job_id")?,
                prev_hash: r.u256("prev_hash")?,
                min_ntime: r.u32("min_ntime")?,
                nbits: r.u32("nbits")?,
            },
            t::SET_TARGET => Self::SetTarget {
                channel_id: r.u32("channel_id")?,
                maximum_target: r.u256("maximum_target")?,
            },
            other => {
                return Err(DecodeError::Unknown {
                    extension: 0,
                    msg_type: other,
                });
            }
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing(r.0.len()));
        }
        Ok(m)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn prefixed(
        &mut self,
        b: &[u8],
        len_bytes: usize,
        max: usize,
        field: &'static str,
    ) -> Result<(), DecodeError> {
        if b.len() > max {
            return Err(DecodeError::TooLong { field, max });
        }
        self.0
            .extend_from_slice(&(b.len() as u32).to_le_bytes()[..len_bytes]);
        self.0.extend_from_slice(b);
        Ok(())
    }
    fn str0_255(&mut self, s: &str, field: &'static str) -> Result<(), DecodeError> {
        self.prefixed(s.as_bytes(), 1, 255, field)
    }
    fn b0_32(&mut self, b: &[u8], field: &'static str) -> Result<(), DecodeError> {
        self.prefixed(b, 1, 32, field)
    }
    fn b0_64k(&mut self, b: &[u8], field: &'static str) -> Result<(), DecodeError> {
        self.prefixed(b, 2, 65_535, field)
    }
    fn option_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
        }
    }
    fn open_channel(&mut self, o: &OpenChannel) -> Result<(), DecodeError> {
        self.u32(o.request_id);
        self.str0_255(&o.user_identity, "user_identity")?;
        self.bytes(&o.nominal_hash_rate.to_le_bytes());
        self.bytes(&o.max_target);
        Ok(())
    }
    fn submit(&mut self, s: &SubmitShares) {
        for v in [
            s.channel_id,
            s.sequence_number,
            s.job_id,
            s.nonce,
            s.ntime,
            s.version,
        ] {
            self.u32(v);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn f32(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }
    fn u256(&mut self, field: &'static str) -> Result<U256, DecodeError> {
        self.array(field)
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid(field)),
        }
    }
    fn option_u32(&mut self, field: &'static str) -> Result<Option<u32>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => Ok(Some(self.u32(field)?)),
            _ => Err(DecodeError::Invalid(field)),
        }
    }
    fn b0_32(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = usize::from(self.u8(field)?);
        if n > 32 {
            return Err(DecodeError::TooLong { field, max: 32 });
        }
        Ok(self.take(n, field)?.to_vec())
    }
    fn b0_64k(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = usize::from(self.u16(field)?);
        Ok(self.take(n, field)?.to_vec())
    }
    fn str0_255(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let n = usize::from(self.u8(field)?);
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
    }
    fn open_channel(&mut self) -> Result<OpenChannel, DecodeError> {
        Ok(OpenChannel {
            request_id: self.u32("request_id")?,
            user_identity: self.str0_255("user_identity")?,
            nominal_hash_rate: self.f32("nominal_hash_rate")?,
            max_target: self.u256("max_target")?,
        })
    }
    fn submit(&mut self) -> Result<SubmitShares, DecodeError> {
        Ok(SubmitShares {
            channel_id: self.u32("channel_id")?,
            sequence_number: self.u32("sequence_number")?,
            job_id: self.u32("job_id")?,
            nonce: self.u32("nonce")?,
            ntime: self.u32("ntime")?,
            version: self.u32("version")?,
        })
    }
}
