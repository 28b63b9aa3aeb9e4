//! Stratum V2 conformance: every message of our codec against SRI's own message crates
//! (`common_messages_sv2`, `mining_sv2`, `binary_sv2`), the encoding SRI's translator and
//! pool speak. For each message: our header carries SRI's message type and channel bit;
//! SRI decodes our payload to the same fields; SRI's encoding of the same values is our
//! payload byte for byte; and our decoder reads SRI's bytes back to the same message.

use binary_sv2::{B032, B064K, Decodable, Encodable, GetSize, Seq0255, Str0255, Sv2Option};
use common_messages_sv2 as common;
use mining_sv2 as mining;
use otedama_stratum::sv2::codec::{
    DecodeError, ExtendedJob, HEADER_SIZE, Header, Message, OpenChannel, SetupConnection,
    SubmitShares, U256 as Hash, msg_type, setup_flags,
};

/// Encodes `msg` with our codec and checks the header (SRI's message type `ty` and channel
/// bit), that SRI's encoding of `sri` (the same values) is our payload, and that our decoder
/// reads SRI's bytes back to `msg`. Returns our payload.
fn conform<T: Encodable + GetSize>(msg: &Message, ty: u8, channel: bool, sri: T) -> Vec<u8> {
    let frame = msg.to_frame().expect("our encoder");
    let (head, payload) = frame.split_at(HEADER_SIZE);
    assert_eq!(msg.kind(), (ty, channel), "{msg:?}");
    let ext: u16 = if channel { 0x8000 } else { 0 };
    assert_eq!(head[..2], ext.to_le_bytes(), "extension and channel bit");
    assert_eq!(head[2], ty, "message type");
    let len = u32::try_from(payload.len()).expect("small");
    assert_eq!(head[3..], len.to_le_bytes()[..3], "U24 length");
    let header = Header::parse(head.try_into().expect("six bytes"));
    assert_eq!(
        header,
        Header {
            extension: 0,
            channel_msg: channel,
            msg_type: ty,
            length: len,
        }
    );
    let theirs = binary_sv2::to_bytes(sri).expect("SRI's encoder");
    assert_eq!(
        hex::encode(&theirs),
        hex::encode(payload),
        "SRI's encoding differs from ours for {msg:?}"
    );
    assert_eq!(Message::decode(&header, &theirs).as_ref(), Ok(msg));
    payload.to_vec()
}

/// SRI's decoding of our payload, which it must read to the last byte.
fn sri<'a, T: Decodable<'a> + GetSize>(payload: &'a mut [u8]) -> T {
    let len = payload.len();
    let value: T = binary_sv2::from_bytes(payload).expect("SRI decodes our payload");
    assert_eq!(
        value.get_size(),
        len,
        "SRI left bytes of our payload unread"
    );
    value
}

fn str0255(s: &str) -> Str0255<'_> {
    s.try_into().expect("at most 255 bytes")
}

fn b032(b: &[u8]) -> B032<'_> {
    b.try_into().expect("at most 32 bytes")
}

fn b064k(b: &[u8]) -> B064K<'_> {
    b.try_into().expect("at most 65 535 bytes")
}

fn u256(h: &Hash) -> binary_sv2::U256<'_> {
    h.into()
}

fn text(s: &Str0255<'_>) -> String {
    String::from_utf8(s.as_bytes().to_vec()).expect("UTF-8")
}

fn hash(h: &binary_sv2::U256<'_>) -> Hash {
    *h.as_array()
}

/// Checks one message against SRI, whatever its field values. The match has no wildcard:
/// a new variant of [`Message`] does not compile until it is checked here.
#[allow(clippy::too_many_lines)]
fn check(msg: &Message) {
    match msg {
        Message::SetupConnection(s) => {
            let theirs = common::SetupConnection {
                protocol: common::Protocol::try_from(s.protocol).expect("a known protocol"),
                min_version: s.min_version,
                max_version: s.max_version,
                flags: s.flags,
                endpoint_host: str0255(&s.endpoint_host),
                endpoint_port: s.endpoint_port,
                vendor: str0255(&s.vendor),
                hardware_version: str0255(&s.hardware_version),
                firmware: str0255(&s.firmware),
                device_id: str0255(&s.device_id),
            };
            let mut p = conform(
                msg,
                common::MESSAGE_TYPE_SETUP_CONNECTION,
                common::CHANNEL_BIT_SETUP_CONNECTION,
                theirs,
            );
            let t: common::SetupConnection<'_> = sri(&mut p);
            assert_eq!(t.protocol as u8, s.protocol);
            assert_eq!(t.min_version, s.min_version);
            assert_eq!(t.max_version, s.max_version);
            assert_eq!(t.flags, s.flags);
            assert_eq!(text(&t.endpoint_host), s.endpoint_host);
            assert_eq!(t.endpoint_port, s.endpoint_port);
            assert_eq!(text(&t.vendor), s.vendor);
            assert_eq!(text(&t.hardware_version), s.hardware_version);
            assert_eq!(text(&t.firmware), s.firmware);
            assert_eq!(text(&t.device_id), s.device_id);
        }
        &Message::SetupConnectionSuccess {
            used_version,
            flags,
        } => {
            let theirs = common::SetupConnectionSuccess {
                used_version,
                flags,
            };
            let mut p = conform(
                msg,
                common::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
                common::CHANNEL_BIT_SETUP_CONNECTION_SUCCESS,
                theirs,
            );
            let t: common::SetupConnectionSuccess = sri(&mut p);
            assert_eq!(t.used_version, used_version);
            assert_eq!(t.flags, flags);
        }
        Message::SetupConnectionError { flags, error_code } => {
            let theirs = common::SetupConnectionError {
                flags: *flags,
                error_code: str0255(error_code),
            };
            let mut p = conform(
                msg,
                common::MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
                common::CHANNEL_BIT_SETUP_CONNECTION_ERROR,
                theirs,
            );
            let t: common::SetupConnectionError<'_> = sri(&mut p);
            assert_eq!(t.flags, *flags);
            assert_eq!(text(&t.error_code), *error_code);
        }
        Message::OpenStandardMiningChannel(o) => {
            let theirs = mining::OpenStandardMiningChannel {
                request_id: o.request_id,
                user_identity: str0255(&o.user_identity),
                nominal_hash_rate: o.nominal_hash_rate,
                max_target: u256(&o.max_target),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL,
                mining::CHANNEL_BIT_OPEN_STANDARD_MINING_CHANNEL,
                theirs,
            );
            let t: mining::OpenStandardMiningChannel<'_> = sri(&mut p);
            assert_eq!(t.request_id, o.request_id);
            assert_eq!(text(&t.user_identity), o.user_identity);
            assert_eq!(t.nominal_hash_rate.to_bits(), o.nominal_hash_rate.to_bits());
            assert_eq!(hash(&t.max_target), o.max_target);
        }
        Message::OpenStandardMiningChannelSuccess {
            request_id,
            channel_id,
            target,
            extranonce_prefix,
            group_channel_id,
        } => {
            let theirs = mining::OpenStandardMiningChannelSuccess {
                request_id: *request_id,
                channel_id: *channel_id,
                target: u256(target),
                extranonce_prefix: b032(extranonce_prefix),
                group_channel_id: *group_channel_id,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
                mining::CHANNEL_BIT_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
                theirs,
            );
            let t: mining::OpenStandardMiningChannelSuccess<'_> = sri(&mut p);
            assert_eq!(t.request_id, *request_id);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(hash(&t.target), *target);
            assert_eq!(t.extranonce_prefix.as_bytes(), extranonce_prefix.as_slice());
            assert_eq!(t.group_channel_id, *group_channel_id);
        }
        Message::OpenMiningChannelError {
            request_id,
            error_code,
        } => {
            let theirs = mining::OpenMiningChannelError {
                request_id: *request_id,
                error_code: str0255(error_code),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
                mining::CHANNEL_BIT_OPEN_MINING_CHANNEL_ERROR,
                theirs,
            );
            let t: mining::OpenMiningChannelError<'_> = sri(&mut p);
            assert_eq!(t.request_id, *request_id);
            assert_eq!(text(&t.error_code), *error_code);
        }
        Message::OpenExtendedMiningChannel {
            open,
            min_extranonce_size,
        } => {
            let theirs = mining::OpenExtendedMiningChannel {
                request_id: open.request_id,
                user_identity: str0255(&open.user_identity),
                nominal_hash_rate: open.nominal_hash_rate,
                max_target: u256(&open.max_target),
                min_extranonce_size: *min_extranonce_size,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
                mining::CHANNEL_BIT_OPEN_EXTENDED_MINING_CHANNEL,
                theirs,
            );
            let t: mining::OpenExtendedMiningChannel<'_> = sri(&mut p);
            assert_eq!(t.request_id, open.request_id);
            assert_eq!(text(&t.user_identity), open.user_identity);
            assert_eq!(
                t.nominal_hash_rate.to_bits(),
                open.nominal_hash_rate.to_bits()
            );
            assert_eq!(hash(&t.max_target), open.max_target);
            assert_eq!(t.min_extranonce_size, *min_extranonce_size);
        }
        Message::OpenExtendedMiningChannelSuccess {
            request_id,
            channel_id,
            target,
            extranonce_size,
            extranonce_prefix,
            group_channel_id,
        } => {
            let theirs = mining::OpenExtendedMiningChannelSuccess {
                request_id: *request_id,
                channel_id: *channel_id,
                target: u256(target),
                extranonce_size: *extranonce_size,
                extranonce_prefix: b032(extranonce_prefix),
                group_channel_id: *group_channel_id,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
                mining::CHANNEL_BIT_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
                theirs,
            );
            let t: mining::OpenExtendedMiningChannelSuccess<'_> = sri(&mut p);
            assert_eq!(t.request_id, *request_id);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(hash(&t.target), *target);
            assert_eq!(t.extranonce_size, *extranonce_size);
            assert_eq!(t.extranonce_prefix.as_bytes(), extranonce_prefix.as_slice());
            assert_eq!(t.group_channel_id, *group_channel_id);
        }
        Message::NewMiningJob {
            channel_id,
            job_id,
            min_ntime,
            version,
            merkle_root,
        } => {
            let theirs = mining::NewMiningJob {
                channel_id: *channel_id,
                job_id: *job_id,
                min_ntime: Sv2Option::new(*min_ntime),
                version: *version,
                merkle_root: u256(merkle_root),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_NEW_MINING_JOB,
                mining::CHANNEL_BIT_NEW_MINING_JOB,
                theirs,
            );
            let t: mining::NewMiningJob<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(t.job_id, *job_id);
            assert_eq!(t.min_ntime.as_ref().copied(), *min_ntime);
            assert_eq!(t.version, *version);
            assert_eq!(hash(&t.merkle_root), *merkle_root);
        }
        Message::NewExtendedMiningJob(j) => {
            let theirs = mining::NewExtendedMiningJob {
                channel_id: j.channel_id,
                job_id: j.job_id,
                min_ntime: Sv2Option::new(j.min_ntime),
                version: j.version,
                version_rolling_allowed: j.version_rolling_allowed,
                merkle_path: Seq0255::new(j.merkle_path.iter().map(u256).collect())
                    .expect("at most 255 hashes"),
                coinbase_tx_prefix: b064k(&j.coinbase_tx_prefix),
                coinbase_tx_suffix: b064k(&j.coinbase_tx_suffix),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
                mining::CHANNEL_BIT_NEW_EXTENDED_MINING_JOB,
                theirs,
            );
            let t: mining::NewExtendedMiningJob<'_> = sri(&mut p);
            assert_eq!(t.channel_id, j.channel_id);
            assert_eq!(t.job_id, j.job_id);
            assert_eq!(t.min_ntime.as_ref().copied(), j.min_ntime);
            assert_eq!(t.version, j.version);
            assert_eq!(t.version_rolling_allowed, j.version_rolling_allowed);
            let path: Vec<Hash> = t.merkle_path.iter().map(hash).collect();
            assert_eq!(path, j.merkle_path);
            assert_eq!(
                t.coinbase_tx_prefix.as_bytes(),
                j.coinbase_tx_prefix.as_slice()
            );
            assert_eq!(
                t.coinbase_tx_suffix.as_bytes(),
                j.coinbase_tx_suffix.as_slice()
            );
        }
        Message::UpdateChannel {
            channel_id,
            nominal_hash_rate,
            maximum_target,
        } => {
            let theirs = mining::UpdateChannel {
                channel_id: *channel_id,
                nominal_hash_rate: *nominal_hash_rate,
                maximum_target: u256(maximum_target),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_UPDATE_CHANNEL,
                mining::CHANNEL_BIT_UPDATE_CHANNEL,
                theirs,
            );
            let t: mining::UpdateChannel<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(t.nominal_hash_rate.to_bits(), nominal_hash_rate.to_bits());
            assert_eq!(hash(&t.maximum_target), *maximum_target);
        }
        Message::UpdateChannelError {
            channel_id,
            error_code,
        } => {
            let theirs = mining::UpdateChannelError {
                channel_id: *channel_id,
                error_code: str0255(error_code),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
                mining::CHANNEL_BIT_UPDATE_CHANNEL_ERROR,
                theirs,
            );
            let t: mining::UpdateChannelError<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(text(&t.error_code), *error_code);
        }
        Message::CloseChannel {
            channel_id,
            reason_code,
        } => {
            let theirs = mining::CloseChannel {
                channel_id: *channel_id,
                reason_code: str0255(reason_code),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_CLOSE_CHANNEL,
                mining::CHANNEL_BIT_CLOSE_CHANNEL,
                theirs,
            );
            let t: mining::CloseChannel<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(text(&t.reason_code), *reason_code);
        }
        Message::SetExtranoncePrefix {
            channel_id,
            extranonce_prefix,
        } => {
            let theirs = mining::SetExtranoncePrefix {
                channel_id: *channel_id,
                extranonce_prefix: b032(extranonce_prefix),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
                mining::CHANNEL_BIT_SET_EXTRANONCE_PREFIX,
                theirs,
            );
            let t: mining::SetExtranoncePrefix<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(t.extranonce_prefix.as_bytes(), extranonce_prefix.as_slice());
        }
        Message::SubmitSharesStandard(s) => {
            let theirs = mining::SubmitSharesStandard {
                channel_id: s.channel_id,
                sequence_number: s.sequence_number,
                job_id: s.job_id,
                nonce: s.nonce,
                ntime: s.ntime,
                version: s.version,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
                mining::CHANNEL_BIT_SUBMIT_SHARES_STANDARD,
                theirs,
            );
            let t: mining::SubmitSharesStandard = sri(&mut p);
            assert_eq!(
                [
                    t.channel_id,
                    t.sequence_number,
                    t.job_id,
                    t.nonce,
                    t.ntime,
                    t.version
                ],
                [
                    s.channel_id,
                    s.sequence_number,
                    s.job_id,
                    s.nonce,
                    s.ntime,
                    s.version
                ]
            );
        }
        Message::SubmitSharesExtended { submit, extranonce } => {
            let s = submit;
            let theirs = mining::SubmitSharesExtended {
                channel_id: s.channel_id,
                sequence_number: s.sequence_number,
                job_id: s.job_id,
                nonce: s.nonce,
                ntime: s.ntime,
                version: s.version,
                extranonce: b032(extranonce),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
                mining::CHANNEL_BIT_SUBMIT_SHARES_EXTENDED,
                theirs,
            );
            let t: mining::SubmitSharesExtended<'_> = sri(&mut p);
            assert_eq!(
                [
                    t.channel_id,
                    t.sequence_number,
                    t.job_id,
                    t.nonce,
                    t.ntime,
                    t.version
                ],
                [
                    s.channel_id,
                    s.sequence_number,
                    s.job_id,
                    s.nonce,
                    s.ntime,
                    s.version
                ]
            );
            assert_eq!(t.extranonce.as_bytes(), extranonce.as_slice());
        }
        &Message::SubmitSharesSuccess {
            channel_id,
            last_sequence_number,
            new_submits_accepted_count,
            new_shares_sum,
        } => {
            let theirs = mining::SubmitSharesSuccess {
                channel_id,
                last_sequence_number,
                new_submits_accepted_count,
                new_shares_sum,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
                mining::CHANNEL_BIT_SUBMIT_SHARES_SUCCESS,
                theirs,
            );
            let t: mining::SubmitSharesSuccess = sri(&mut p);
            assert_eq!(t.channel_id, channel_id);
            assert_eq!(t.last_sequence_number, last_sequence_number);
            assert_eq!(t.new_submits_accepted_count, new_submits_accepted_count);
            assert_eq!(t.new_shares_sum, new_shares_sum);
        }
        Message::SubmitSharesError {
            channel_id,
            sequence_number,
            error_code,
        } => {
            let theirs = mining::SubmitSharesError {
                channel_id: *channel_id,
                sequence_number: *sequence_number,
                error_code: str0255(error_code),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
                mining::CHANNEL_BIT_SUBMIT_SHARES_ERROR,
                theirs,
            );
            let t: mining::SubmitSharesError<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(t.sequence_number, *sequence_number);
            assert_eq!(text(&t.error_code), *error_code);
        }
        Message::SetNewPrevHash {
            channel_id,
            job_id,
            prev_hash,
            min_ntime,
            nbits,
        } => {
            let theirs = mining::SetNewPrevHash {
                channel_id: *channel_id,
                job_id: *job_id,
                prev_hash: u256(prev_hash),
                min_ntime: *min_ntime,
                nbits: *nbits,
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
                mining::CHANNEL_BIT_MINING_SET_NEW_PREV_HASH,
                theirs,
            );
            let t: mining::SetNewPrevHash<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(t.job_id, *job_id);
            assert_eq!(hash(&t.prev_hash), *prev_hash);
            assert_eq!(t.min_ntime, *min_ntime);
            assert_eq!(t.nbits, *nbits);
        }
        Message::SetTarget {
            channel_id,
            maximum_target,
        } => {
            let theirs = mining::SetTarget {
                channel_id: *channel_id,
                maximum_target: u256(maximum_target),
            };
            let mut p = conform(
                msg,
                mining::MESSAGE_TYPE_SET_TARGET,
                mining::CHANNEL_BIT_SET_TARGET,
                theirs,
            );
            let t: mining::SetTarget<'_> = sri(&mut p);
            assert_eq!(t.channel_id, *channel_id);
            assert_eq!(hash(&t.maximum_target), *maximum_target);
        }
    }
}

/// 32 distinct bytes, different for each `seed`.
fn distinct(seed: u8) -> Hash {
    std::array::from_fn(|i| seed.wrapping_add((i as u8).wrapping_mul(37)))
}

/// `n` bytes that are not a repeated pattern.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(131).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// One message of each kind, with field values that catch swapped, shifted, truncated or
/// wrongly sized fields: distinct non-zero ids, strings with non-ASCII text, options both
/// ways, several merkle hashes, coinbase parts of a few hundred bytes.
fn samples() -> Vec<Message> {
    let submit = SubmitShares {
        channel_id: 0x0102_0304,
        sequence_number: 0x1112_1314,
        job_id: 0x2122_2324,
        nonce: 0xdead_beef,
        ntime: 0x6650_0001,
        version: 0x2000_e000,
    };
    let open = OpenChannel {
        request_id: 0x0a0b_0c0d,
        user_identity: "bc1qexampleaddress.rig-ö1".into(),
        nominal_hash_rate: 1.25e14,
        max_target: distinct(3),
    };
    let job = |min_ntime, path: usize| ExtendedJob {
        channel_id: 0x8000_0007,
        job_id: 0x0000_0102,
        min_ntime,
        version: 0x2000_0000,
        version_rolling_allowed: true,
        merkle_path: (0..path).map(|i| distinct(40 + i as u8)).collect(),
        coinbase_tx_prefix: bytes(300, 1),
        coinbase_tx_suffix: bytes(257, 2),
    };
    vec![
        Message::SetupConnection(SetupConnection {
            protocol: 0,
            min_version: 2,
            max_version: 3,
            flags: setup_flags::REQUIRES_VERSION_ROLLING | setup_flags::REQUIRES_STANDARD_JOBS,
            endpoint_host: "pool.example.org".into(),
            endpoint_port: 3336,
            vendor: "Bitmain".into(),
            hardware_version: "S19j Pro".into(),
            firmware: "braiins-os 24.03 — ü".into(),
            device_id: "rack-07/slot-12".into(),
        }),
        Message::SetupConnectionSuccess {
            used_version: 2,
            flags: 0x0000_0006,
        },
        Message::SetupConnectionError {
            flags: 0x8000_0001,
            error_code: "unsupported-feature-flags".into(),
        },
        Message::OpenStandardMiningChannel(open.clone()),
        Message::OpenStandardMiningChannelSuccess {
            request_id: 0x0a0b_0c0d,
            channel_id: 7,
            target: distinct(9),
            extranonce_prefix: bytes(28, 5),
            group_channel_id: 0x0100_0002,
        },
        Message::OpenMiningChannelError {
            request_id: 0x0a0b_0c0e,
            error_code: "invalid-user-identity".into(),
        },
        Message::OpenExtendedMiningChannel {
            open: OpenChannel {
                request_id: 99,
                user_identity: String::new(),
                nominal_hash_rate: 3.5e9,
                max_target: distinct(200),
            },
            min_extranonce_size: 0x0108,
        },
        Message::OpenExtendedMiningChannelSuccess {
            request_id: 99,
            channel_id: 0x0102_0304,
            target: distinct(17),
            extranonce_size: 0x0010,
            extranonce_prefix: bytes(32, 6),
            group_channel_id: 0x0000_0300,
        },
        Message::NewMiningJob {
            channel_id: 7,
            job_id: 0x0102_0304,
            min_ntime: Some(0x6650_1234),
            version: 0x2000_0004,
            merkle_root: distinct(77),
        },
        Message::NewMiningJob {
            channel_id: 8,
            job_id: 0x0102_0305,
            min_ntime: None,
            version: 0x2000_0004,
            merkle_root: distinct(78),
        },
        Message::NewExtendedMiningJob(job(Some(0x6650_1234), 5)),
        Message::NewExtendedMiningJob(job(None, 12)),
        Message::NewExtendedMiningJob(ExtendedJob {
            version_rolling_allowed: false,
            merkle_path: Vec::new(),
            coinbase_tx_prefix: Vec::new(),
            coinbase_tx_suffix: Vec::new(),
            ..job(None, 0)
        }),
        Message::UpdateChannel {
            channel_id: 0x0403_0201,
            nominal_hash_rate: -0.0,
            maximum_target: distinct(101),
        },
        Message::UpdateChannel {
            channel_id: 0x0403_0202,
            nominal_hash_rate: 9.87e15,
            maximum_target: distinct(102),
        },
        Message::UpdateChannelError {
            channel_id: 0x0403_0201,
            error_code: "max-target-out-of-range".into(),
        },
        Message::CloseChannel {
            channel_id: 0x0403_0201,
            reason_code: "x".repeat(255),
        },
        Message::SetExtranoncePrefix {
            channel_id: 0x0403_0201,
            extranonce_prefix: bytes(7, 9),
        },
        Message::SubmitSharesStandard(submit),
        Message::SubmitSharesExtended {
            submit,
            extranonce: bytes(16, 10),
        },
        Message::SubmitSharesSuccess {
            channel_id: 0x0102_0304,
            last_sequence_number: 0x1112_1314,
            new_submits_accepted_count: 0x0000_0203,
            new_shares_sum: 0x0102_0304_0506_0708,
        },
        Message::SubmitSharesError {
            channel_id: 0x0102_0304,
            sequence_number: 0x1112_1315,
            error_code: "difficulty-too-low".into(),
        },
        Message::SetNewPrevHash {
            channel_id: 0x0102_0304,
            job_id: 0x0000_0102,
            prev_hash: distinct(150),
            min_ntime: 0x6650_1234,
            nbits: 0x1703_a30c,
        },
        Message::SetTarget {
            channel_id: 0x0102_0304,
            maximum_target: distinct(250),
        },
    ]
}

#[test]
fn every_message_matches_sri_byte_for_byte() {
    let samples = samples();
    let mut kinds: Vec<_> = samples.iter().map(Message::kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 20, "one sample per kind of message");
    for msg in &samples {
        check(msg);
    }
}

#[test]
fn message_types_and_channel_bits_are_sri_s() {
    use msg_type as t;
    let types = [
        (t::SETUP_CONNECTION, common::MESSAGE_TYPE_SETUP_CONNECTION),
        (
            t::SETUP_CONNECTION_SUCCESS,
            common::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
        ),
        (
            t::SETUP_CONNECTION_ERROR,
            common::MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
        ),
        (
            t::OPEN_STANDARD_MINING_CHANNEL,
            mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL,
        ),
        (
            t::OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
            mining::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
        ),
        (
            t::OPEN_MINING_CHANNEL_ERROR,
            mining::MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
        ),
        (
            t::OPEN_EXTENDED_MINING_CHANNEL,
            mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
        ),
        (
            t::OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
            mining::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        ),
        (t::NEW_MINING_JOB, mining::MESSAGE_TYPE_NEW_MINING_JOB),
        (t::UPDATE_CHANNEL, mining::MESSAGE_TYPE_UPDATE_CHANNEL),
        (
            t::UPDATE_CHANNEL_ERROR,
            mining::MESSAGE_TYPE_UPDATE_CHANNEL_ERROR,
        ),
        (t::CLOSE_CHANNEL, mining::MESSAGE_TYPE_CLOSE_CHANNEL),
        (
            t::SET_EXTRANONCE_PREFIX,
            mining::MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
        ),
        (
            t::SUBMIT_SHARES_STANDARD,
            mining::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
        ),
        (
            t::SUBMIT_SHARES_EXTENDED,
            mining::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
        ),
        (
            t::SUBMIT_SHARES_SUCCESS,
            mining::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
        ),
        (
            t::SUBMIT_SHARES_ERROR,
            mining::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
        ),
        (
            t::NEW_EXTENDED_MINING_JOB,
            mining::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
        ),
        (
            t::SET_NEW_PREV_HASH,
            mining::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
        ),
        (t::SET_TARGET, mining::MESSAGE_TYPE_SET_TARGET),
    ];
    for (ours, theirs) in types {
        assert_eq!(ours, theirs);
    }
    // The Mining protocol's SetupConnection flags, as SRI reads them.
    let flags = [
        (setup_flags::REQUIRES_STANDARD_JOBS, 0),
        (setup_flags::REQUIRES_WORK_SELECTION, 1),
        (setup_flags::REQUIRES_VERSION_ROLLING, 2),
    ];
    for (flag, bit) in flags {
        let read = [
            common::has_requires_std_job(flag),
            common::has_work_selection(flag),
            common::has_version_rolling(flag),
        ];
        let mut want = [false; 3];
        want[bit] = true;
        assert_eq!(read, want, "flag {flag:#x}");
    }
}

/// A reproducible xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }
    fn u16(&mut self) -> u16 {
        (self.next() >> 48) as u16
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn hash(&mut self) -> Hash {
        std::array::from_fn(|_| self.next() as u8)
    }
    fn option(&mut self) -> Option<u32> {
        (self.next() & 1 == 1).then(|| self.u32())
    }
    /// Any f32 but NaN (NaN != NaN; the bytes of NaNs are checked by the fuzzing tests).
    fn f32(&mut self) -> f32 {
        loop {
            let f = f32::from_bits(self.u32());
            if !f.is_nan() {
                return f;
            }
        }
    }
    /// Up to 255 bytes of UTF-8, with two- and three-byte characters.
    fn text(&mut self) -> String {
        let mut s = String::new();
        let n = self.below(256);
        while s.len() < n {
            let c = match self.below(8) {
                0 => 'é',
                1 => '⛏',
                _ => char::from(b' ' + (self.next() % 95) as u8),
            };
            if s.len() + c.len_utf8() > 255 {
                break;
            }
            s.push(c);
        }
        s
    }
    fn submit(&mut self) -> SubmitShares {
        SubmitShares {
            channel_id: self.u32(),
            sequence_number: self.u32(),
            job_id: self.u32(),
            nonce: self.u32(),
            ntime: self.u32(),
            version: self.u32(),
        }
    }
    fn open(&mut self) -> OpenChannel {
        OpenChannel {
            request_id: self.u32(),
            user_identity: self.text(),
            nominal_hash_rate: self.f32(),
            max_target: self.hash(),
        }
    }
    /// A message of any kind with random field values.
    fn message(&mut self) -> Message {
        match self.below(20) {
            0 => Message::SetupConnection(SetupConnection {
                protocol: self.below(3) as u8,
                min_version: self.u16(),
                max_version: self.u16(),
                flags: self.u32(),
                endpoint_host: self.text(),
                endpoint_port: self.u16(),
                vendor: self.text(),
                hardware_version: self.text(),
                firmware: self.text(),
                device_id: self.text(),
            }),
            1 => Message::SetupConnectionSuccess {
                used_version: self.u16(),
                flags: self.u32(),
            },
            2 => Message::SetupConnectionError {
                flags: self.u32(),
                error_code: self.text(),
            },
            3 => Message::OpenStandardMiningChannel(self.open()),
            4 => Message::OpenStandardMiningChannelSuccess {
                request_id: self.u32(),
                channel_id: self.u32(),
                target: self.hash(),
                extranonce_prefix: self.bytes(32),
                group_channel_id: self.u32(),
            },
            5 => Message::OpenMiningChannelError {
                request_id: self.u32(),
                error_code: self.text(),
            },
            6 => Message::OpenExtendedMiningChannel {
                open: self.open(),
                min_extranonce_size: self.u16(),
            },
            7 => Message::OpenExtendedMiningChannelSuccess {
                request_id: self.u32(),
                channel_id: self.u32(),
                target: self.hash(),
                extranonce_size: self.u16(),
                extranonce_prefix: self.bytes(32),
                group_channel_id: self.u32(),
            },
            8 => Message::NewMiningJob {
                channel_id: self.u32(),
                job_id: self.u32(),
                min_ntime: self.option(),
                version: self.u32(),
                merkle_root: self.hash(),
            },
            9 => Message::NewExtendedMiningJob(ExtendedJob {
                channel_id: self.u32(),
                job_id: self.u32(),
                min_ntime: self.option(),
                version: self.u32(),
                version_rolling_allowed: self.next() & 1 == 1,
                merkle_path: (0..self.below(16)).map(|_| self.hash()).collect(),
                coinbase_tx_prefix: self.bytes(700),
                coinbase_tx_suffix: self.bytes(700),
            }),
            10 => Message::UpdateChannel {
                channel_id: self.u32(),
                nominal_hash_rate: self.f32(),
                maximum_target: self.hash(),
            },
            11 => Message::UpdateChannelError {
                channel_id: self.u32(),
                error_code: self.text(),
            },
            12 => Message::CloseChannel {
                channel_id: self.u32(),
                reason_code: self.text(),
            },
            13 => Message::SetExtranoncePrefix {
                channel_id: self.u32(),
                extranonce_prefix: self.bytes(32),
            },
            14 => Message::SubmitSharesStandard(self.submit()),
            15 => Message::SubmitSharesExtended {
                submit: self.submit(),
                extranonce: self.bytes(32),
            },
            16 => Message::SubmitSharesSuccess {
                channel_id: self.u32(),
                last_sequence_number: self.u32(),
                new_submits_accepted_count: self.u32(),
                new_shares_sum: self.next(),
            },
            17 => Message::SubmitSharesError {
                channel_id: self.u32(),
                sequence_number: self.u32(),
                error_code: self.text(),
            },
            18 => Message::SetNewPrevHash {
                channel_id: self.u32(),
                job_id: self.u32(),
                prev_hash: self.hash(),
                min_ntime: self.u32(),
                nbits: self.u32(),
            },
            _ => Message::SetTarget {
                channel_id: self.u32(),
                maximum_target: self.hash(),
            },
        }
    }
}

#[test]
fn random_messages_match_sri() {
    let mut rng = Rng(0x5eed_07ed_a4a0_0001);
    for _ in 0..2_000 {
        check(&rng.message());
    }
}

#[test]
fn long_coinbase_and_merkle_path_match_sri() {
    // Lengths whose high length byte is set, and the longest merkle path a header can need.
    let mut rng = Rng(0x00c0_ffee);
    for (prefix, suffix, path) in [(256, 65_535, 0), (4_000, 1, 24), (65_535, 0, 255)] {
        check(&Message::NewExtendedMiningJob(ExtendedJob {
            channel_id: rng.u32(),
            job_id: rng.u32(),
            min_ntime: rng.option(),
            version: rng.u32(),
            version_rolling_allowed: true,
            merkle_path: (0..path).map(|_| rng.hash()).collect(),
            coinbase_tx_prefix: bytes(prefix, 3),
            coinbase_tx_suffix: bytes(suffix, 4),
        }));
    }
}

#[test]
fn malformed_payloads_are_rejected_by_both() {
    let header = |msg_type, length| Header {
        extension: 0,
        channel_msg: true,
        msg_type,
        length,
    };
    // Every strict prefix of a valid SubmitSharesExtended.
    let msg = Message::SubmitSharesExtended {
        submit: Rng(7).submit(),
        extranonce: bytes(12, 1),
    };
    let payload = msg.to_frame().expect("encodes")[HEADER_SIZE..].to_vec();
    for n in 0..payload.len() {
        let mut cut = payload[..n].to_vec();
        let h = header(msg_type::SUBMIT_SHARES_EXTENDED, n as u32);
        assert!(Message::decode(&h, &cut).is_err(), "ours took {n} bytes");
        assert!(
            binary_sv2::from_bytes::<mining::SubmitSharesExtended<'_>>(&mut cut).is_err(),
            "SRI took {n} bytes"
        );
    }
    // A 33-byte B0_32.
    let mut long = 5u32.to_le_bytes().to_vec();
    long.push(33);
    long.extend_from_slice(&[0xaa; 33]);
    let h = header(msg_type::SET_EXTRANONCE_PREFIX, long.len() as u32);
    assert_eq!(
        Message::decode(&h, &long),
        Err(DecodeError::TooLong {
            field: "extranonce_prefix",
            max: 32
        })
    );
    assert!(binary_sv2::from_bytes::<mining::SetExtranoncePrefix<'_>>(&mut long).is_err());
    // An OPTION[u32] that claims two elements.
    let mut job = Message::NewMiningJob {
        channel_id: 1,
        job_id: 2,
        min_ntime: Some(3),
        version: 4,
        merkle_root: distinct(5),
    }
    .to_frame()
    .expect("encodes")[HEADER_SIZE..]
        .to_vec();
    job[8] = 2;
    let h = header(msg_type::NEW_MINING_JOB, job.len() as u32);
    assert!(Message::decode(&h, &job).is_err());
    assert!(binary_sv2::from_bytes::<mining::NewMiningJob<'_>>(&mut job).is_err());
}
