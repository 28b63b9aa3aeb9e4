//! Entry points for the cargo-fuzz targets in `stratum/fuzz` (feature `fuzzing` only).
//! Each runs one parser on arbitrary bytes and panics if an invariant breaks; the
//! parsers themselves must never panic.

use crate::codec::{self, DecodeError, RequestId};
use crate::error::Reject;
use crate::framing::LineFramer;
use crate::sv2::codec::{HEADER_SIZE, Header, Message};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The part of an answer the invariant looks at: the id, as raw JSON text.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
}

/// Feeds `data` to a line framer (limit 64 bytes) in chunks whose sizes come from the
/// data itself, and checks every line is bounded, newline-free, and that the framer
/// agrees with framing the same bytes in one piece.
///
/// # Panics
/// When an invariant breaks.
pub fn line_codec(data: &[u8]) {
    const MAX: usize = 64;
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let frame = |chunk: usize| {
        let mut f = LineFramer::new(MAX);
        let mut lines = Vec::new();
        for part in bytes.chunks(chunk.max(1)) {
            f.push(part);
            loop {
                match f.next_line() {
                    Ok(Some(line)) => {
                        assert!(line.len() <= MAX, "line over the limit");
                        assert!(!line.contains(&b'\n'), "newline inside a line");
                        lines.push(line);
                    }
                    Ok(None) => break,
                    Err(_) => return (lines, true),
                }
            }
        }
        (lines, false)
    };
    let (whole, whole_failed) = frame(bytes.len());
    let (split, split_failed) = frame(usize::from(seed % 17) + 1);
    if !whole_failed && !split_failed {
        assert_eq!(whole, split, "chunking changed the lines");
    }
}

/// Decodes `data` as one line and checks that whatever the server would answer is one
/// JSON line whose `id` is the request's id, byte for byte. (Compared as text: an id
/// such as `1e616` is valid JSON that no f64 holds, and is echoed as sent.)
///
/// # Panics
/// When an invariant breaks.
pub fn message_parser(data: &[u8]) {
    let (id, answers) = match codec::decode(data) {
        Ok((id, _)) => {
            let answers = vec![
                codec::response_ok(&id, &Value::Bool(true)),
                codec::response_reject(&id, &Reject::LowDifficulty),
            ];
            (id, answers)
        }
        Err(DecodeError::Rejected(id, reject)) => {
            let answers = vec![codec::response_err(&id, &reject)];
            (id, answers)
        }
        Err(DecodeError::Malformed) => (
            RequestId::NULL,
            vec![codec::response_err(&RequestId::NULL, &Reject::Malformed)],
        ),
    };
    for line in answers {
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let answer: Answer<'_> = serde_json::from_slice(&line).expect("answers are JSON");
        assert_eq!(answer.id.get(), id.as_json(), "id not echoed");
    }
}

/// Decodes `data` as one Stratum V2 frame (the first six bytes are the header, the rest
/// the payload) and checks that a message it accepts encodes back to the same bytes:
/// the same message type and payload, byte for byte, and the channel bit of its kind
/// (the decoder, like SRI's, does not look at the bit, nor at the header's length, which
/// the transport has already used), and that those bytes decode to the same message.
/// Messages are compared as their encodings: an `f32` field may be NaN.
///
/// # Panics
/// When an invariant breaks.
pub fn sv2_frame(data: &[u8]) {
    let Some((head, payload)) = data.split_first_chunk::<HEADER_SIZE>() else {
        return;
    };
    let header = Header::parse(head);
    let Ok(msg) = Message::decode(&header, payload) else {
        return;
    };
    let (msg_type, channel_msg) = msg.kind();
    assert_eq!(msg_type, header.msg_type, "decoded as another type");
    let frame = msg.to_frame().expect("a decoded message encodes");
    let (again_head, again_payload) = frame
        .split_first_chunk::<HEADER_SIZE>()
        .expect("a frame has a header");
    let again = Header::parse(again_head);
    let length = u32::try_from(payload.len()).expect("decoded payloads fit a U24");
    assert_eq!(
        again,
        Header {
            channel_msg,
            length,
            ..header
        },
        "header not encoded back"
    );
    assert_eq!(again_payload, payload, "payload not encoded back");
    let twice = Message::decode(&again, again_payload).expect("an encoded message decodes");
    assert_eq!(
        twice.to_frame().expect("encodes"),
        frame,
        "decoded to another message"
    );
}

#[cfg(test)]
mod tests {
    use crate::sv2::codec::{HEADER_SIZE, Header, Message};

    /// The seed corpus (`fuzz/seeds`) and every crash the fuzzers ever found
    /// (`fuzz/regressions`, kept byte for byte) pass both invariants.
    #[test]
    fn seeds_and_past_crashes_pass_the_invariants() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut checked = 0;
        for set in ["seeds", "regressions"] {
            for (target, check) in [
                ("line_codec", super::line_codec as fn(&[u8])),
                ("message_parser", super::message_parser),
                ("sv2_frame", super::sv2_frame),
            ] {
                let dir = std::fs::read_dir(fuzz.join(set).join(target)).expect("directory");
                for entry in dir {
                    let path = entry.expect("entry").path();
                    if path.file_name().is_some_and(|n| n == ".keep") {
                        continue;
                    }
                    check(&std::fs::read(&path).expect("readable"));
                    checked += 1;
                }
            }
        }
        assert!(checked >= 39, "{checked} inputs");
    }

    /// A reproducible xorshift64 generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The SV2 seed frames (real encodings of every message kind), mutated: bytes flipped,
    /// cut, inserted or overwritten, length prefixes and options set to edge values, the
    /// type changed; and random bytes behind headers of known message types.
    #[test]
    fn sv2_frame_holds_on_mutated_and_random_frames() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/sv2_frame");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .expect("directory")
            .map(|e| std::fs::read(e.expect("entry").path()).expect("readable"))
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 20, "{} seeds", seeds.len());
        let types: Vec<u8> = seeds.iter().map(|s| s[2]).collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut decoded = 0;
        for i in 0..20_000 {
            let mut data = if i % 4 == 3 {
                // A known type and up to 300 random bytes.
                let n = rng.below(300);
                let mut d = vec![
                    0,
                    0x80 * (rng.next() as u8 & 1),
                    types[rng.below(types.len())],
                ];
                d.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
                d.extend((0..n).map(|_| rng.next() as u8));
                d
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            const EDGES: [u8; 6] = [0, 1, 2, 0x20, 0x21, 0xff];
            for _ in 0..=rng.below(3) {
                let at = rng.below(data.len().max(1));
                // Where the length prefixes, options and booleans of most messages lie.
                let front = HEADER_SIZE + rng.below(24);
                match rng.below(7) {
                    0 if at < data.len() => data[at] ^= 1 << rng.below(8),
                    1 if at < data.len() => data[at] = EDGES[rng.below(EDGES.len())],
                    2 if front < data.len() => data[front] = EDGES[rng.below(EDGES.len())],
                    3 => data.truncate(at),
                    4 => data.insert(at, rng.next() as u8),
                    5 if data.len() > 2 => data[2] = types[rng.below(types.len())],
                    _ => {
                        let n = rng.below(40);
                        data.extend((0..n).map(|_| rng.next() as u8));
                    }
                }
            }
            if data.len() >= HEADER_SIZE {
                let head: [u8; HEADER_SIZE] = data[..HEADER_SIZE].try_into().expect("six bytes");
                decoded += usize::from(
                    Message::decode(&Header::parse(&head), &data[HEADER_SIZE..]).is_ok(),
                );
            }
            super::sv2_frame(&data);
        }
        // The round trip was exercised, not only the rejections.
        assert!(decoded >= 2_000, "{decoded} of 20 000 decoded");
    }
}
