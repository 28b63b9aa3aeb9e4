//! Frame, job and reply tests.

use super::*;
use crate::asic::chip::ChipFamily;

#[test]
fn commands_encode_to_captured_frames() {
    assert_eq!(
        Command::ReadAll { reg: 0 }.encode(),
        [0x55, 0xaa, 0x52, 0x05, 0x00, 0x00, 0x0a]
    );
    assert_eq!(
        Command::ChainInactive.encode(),
        [0x55, 0xaa, 0x53, 0x05, 0x00, 0x00, 0x03]
    );
    assert_eq!(
        Command::SetAddress { address: 0 }.encode(),
        [0x55, 0xaa, 0x40, 0x05, 0x00, 0x00, 0x1c]
    );
    assert_eq!(
        Command::WriteAll {
            reg: reg::VERSION_MASK,
            value: [0x90, 0x00, 0xff, 0xff]
        }
        .encode(),
        [
            0x55, 0xaa, 0x51, 0x09, 0x00, 0xa4, 0x90, 0x00, 0xff, 0xff, 0x1c
        ]
    );
    assert_eq!(
        Command::WriteAll {
            reg: reg::CORE_REGISTER,
            value: [0x80, 0x00, 0x85, 0x40]
        }
        .encode(),
        [
            0x55, 0xaa, 0x51, 0x09, 0x00, 0x3c, 0x80, 0x00, 0x85, 0x40, 0x0c
        ]
    );
}

#[test]
fn commands_round_trip() {
    let commands = [
        Command::SetAddress { address: 0x20 },
        Command::WriteAll {
            reg: 0x14,
            value: [0, 0, 0, 0xff],
        },
        Command::Write {
            chip: 4,
            reg: 0x08,
            value: [0x40, 0xa0, 2, 0x41],
        },
        Command::ReadAll { reg: 0 },
        Command::Read { chip: 8, reg: 0x4c },
        Command::ChainInactive,
    ];
    for c in commands {
        assert_eq!(decode_host_frame(&c.encode()), Ok(HostFrame::Command(c)));
        let mut bad = c.encode();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode_host_frame(&bad), Err(FrameError::Checksum));
    }
    assert_eq!(decode_host_frame(&[0x55]), Err(FrameError::Truncated(1)));
    assert_eq!(
        decode_host_frame(&[0xaa, 0x55, 0x52, 0x05, 0, 0, 0x0a]),
        Err(FrameError::Preamble)
    );
}

#[test]
fn captured_replies_decode() {
    let id = Reply::decode(
        ChipFamily::Bm1397,
        &[0xaa, 0x55, 0x13, 0x97, 0x18, 0x00, 0x00, 0x00, 0x06],
    );
    assert_eq!(
        id,
        Some(Reply::Register {
            value: [0x13, 0x97, 0x18, 0x00],
            chip: 0,
            reg: 0
        })
    );
    let nonce = Reply::decode(
        ChipFamily::Bm1397,
        &[0xaa, 0x55, 0x00, 0x03, 0xea, 0x0f, 0x02, 0x20, 0x9c],
    );
    assert_eq!(
        nonce,
        Some(Reply::Nonce {
            nonce: 0x0fea_0300,
            midstate_num: 2,
            id: 0x20,
            version_bits: None
        })
    );
    // Re-encoding gives the captured bytes back.
    let Some(n) = nonce else { unreachable!() };
    assert_eq!(
        n.encode(ChipFamily::Bm1397),
        [0xaa, 0x55, 0x00, 0x03, 0xea, 0x0f, 0x02, 0x20, 0x9c]
    );
}

#[test]
fn long_replies_carry_version_bits() {
    let r = Reply::Nonce {
        nonce: 0xdead_beef,
        midstate_num: 0,
        id: 0x58,
        version_bits: Some(0x0a5a),
    };
    let bytes = r.encode(ChipFamily::Bm1370);
    assert_eq!(bytes.len(), 11);
    assert_eq!(Reply::decode(ChipFamily::Bm1370, &bytes), Some(r));
}

#[test]
fn the_reader_resynchronises_after_noise() {
    let family = ChipFamily::Bm1366;
    let a = Reply::Register {
        value: [0x13, 0x66, 0, 0],
        chip: 0,
        reg: 0,
    };
    let b = Reply::Nonce {
        nonce: 7,
        midstate_num: 0,
        id: 8,
        version_bits: Some(3),
    };
    let mut corrupt = b.encode(family);
    corrupt[5] ^= 0x10;
    let mut stream = vec![0x00, 0xaa, 0x13];
    stream.extend(a.encode(family));
    stream.extend(&corrupt);
    stream.extend([0xaa, 0x55, 0xaa]);
    stream.extend(b.encode(family));
    let mut reader = ReplyReader::new(family);
    let mut got = Vec::new();
    // Byte by byte: replies split across reads are reassembled.
    for byte in stream {
        reader.push(&[byte]);
        while let Some(r) = reader.next_reply() {
            got.push(r);
        }
    }
    assert_eq!(got, vec![a, b]);
    assert!(reader.crc_errors >= 1);
}

#[test]
fn ticket_masks() {
    assert_eq!(ticket_mask_value(256.0), [0, 0, 0, 0xff]);
    assert_eq!(ticket_mask_value(511.0), [0, 0, 0, 0xff]);
    assert_eq!(ticket_mask_value(512.0), [0, 0, 0x80, 0xff]);
    assert_eq!(ticket_mask_value(0.001), [0, 0, 0, 0]);
    assert_eq!(ticket_difficulty(ticket_mask_value(1024.0)), 1024);
    assert_eq!(ticket_difficulty(ticket_mask_value(1.0)), 1);
    assert_eq!(version_mask_value(0x1fff_e000), [0x90, 0, 0xff, 0xff]);
    assert_eq!(version_mask_from_value([0x90, 0, 0xff, 0xff]), 0x1fff_e000);
}

/// Bitcoin's genesis header: both job layouts carry it, and the chip's view of a
/// midstate job hashes to the genesis block hash.
#[test]
fn jobs_round_trip_and_hash_the_genesis_block() {
    let header: [u8; 80] = hex::decode(GENESIS).expect("hex").try_into().expect("80");
    let j = HeaderJob::from_header(0x18, &header, 0);
    let p = j.payload();
    assert_eq!(p.len(), HEADER_JOB_LEN);
    assert_eq!(HeaderJob::parse(&p), Some(j.clone()));
    assert_eq!(j.header(1, 0x7c2b_ac1d), header);
    // The merkle root goes out with its words in reverse order.
    assert_eq!(&p[14..18], &header[64..68]);

    let m = MidstateJob::from_header(4, &header, &[1, 2], 0);
    let p = m.payload();
    assert_eq!(p.len(), MIDSTATE_JOB_LEN);
    assert_eq!(MidstateJob::parse(&p), Some(m.clone()));
    let hash = m.hash(0, 0x7c2b_ac1d).expect("slot 0");
    let mut expected = hex::decode(GENESIS_HASH).expect("hex");
    expected.reverse();
    assert_eq!(hash.to_vec(), expected);
    assert_ne!(m.hash(1, 0x7c2b_ac1d), Some(hash));
    assert_eq!(m.hash(2, 0), None);

    let frame = encode_job(&p);
    assert_eq!(frame.len(), 152);
    assert_eq!(&frame[..4], &[0x55, 0xaa, 0x21, 0x96]);
    assert_eq!(decode_host_frame(&frame), Ok(HostFrame::Job(p)));
}

const GENESIS: &str = concat!(
    "01000000",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a",
    "29ab5f49",
    "ffff001d",
    "1dac2b7c"
);
const GENESIS_HASH: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
