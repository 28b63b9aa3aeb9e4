//! Entry points for the cargo-fuzz targets in `stratum/fuzz` (feature `fuzzing` only).
//! Each runs one parser on arbitrary bytes and panics if an invariant breaks; the
//! parsers themselves must never panic.

use crate::codec::{self, DecodeError, RequestId};
use crate::error::Reject;
use crate::framing::LineFramer;
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

#[cfg(test)]
mod tests {
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
        assert!(checked >= 19, "{checked} inputs");
    }
}
