//! Repairs of the malformed JSON that miner firmwares are known to send (the list follows
//! pyasic's `_load_api_data`), done in one pass that tracks strings and nesting, so the
//! contents of strings are never rewritten:
//!
//! - a trailing comma before `}` or `]`, and a leading one after `[` or `{` (`[,{`);
//! - `}{` between objects (bmminer's `stats`), which gets its comma back; several
//!   top-level values are wrapped in one array;
//! - raw control characters (newlines) inside strings, which get escaped, and invalid
//!   escapes, whose backslash gets escaped;
//! - bare `inf`, `-inf`, `nan`, which become `null` (the value is unknown, not zero);
//! - a reply that starts with `,` (Avalon), which gets its `{` back;
//! - a truncated reply, which is cut back to its last complete value and closed.

/// Returns `input` with the known defects fixed. The result is meant for `serde_json`,
/// which still rejects anything this does not fix; no input makes this panic.
pub(crate) fn repair_json(input: &[u8]) -> Vec<u8> {
    let input = trim(input);
    let mut out = Vec::with_capacity(input.len() + 16);
    // The closers of the open containers, innermost last.
    let mut closers: Vec<u8> = Vec::new();
    // The last point where the output can be cut and closed into valid JSON:
    // (output length, open containers). Nothing is closed after it (a closer moves it),
    // so the containers open there are the first `depth` entries of `closers`.
    let mut safe = (0usize, 0usize);
    // Containers started at the top level; more than one get wrapped in an array.
    let mut top_values = 0usize;
    let mut truncated = false;
    let mut i = 0;

    if input.first() == Some(&b',') {
        out.push(b'{');
        closers.push(b'}');
        safe = (out.len(), closers.len());
        top_values = 1;
        i = 1;
    }

    while let Some(&b) = input.get(i) {
        match b {
            b'"' => match copy_string(input, i, &mut out) {
                Some(next) => i = next,
                None => {
                    truncated = true;
                    break;
                }
            },
            b'{' | b'[' => {
                let last = last_significant(&out);
                if closers.is_empty() {
                    if top_values > 0 && last != Some(b',') {
                        out.push(b',');
                    }
                    top_values += 1;
                } else if matches!(last, Some(b'}' | b']')) {
                    out.push(b',');
                }
                out.push(b);
                closers.push(if b == b'{' { b'}' } else { b']' });
                safe = (out.len(), closers.len());
                i += 1;
                // `[,{`: commas right after an opening bracket.
                while let Some(&c) = input.get(i) {
                    if c == b',' || c.is_ascii_whitespace() {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            b'}' | b']' => {
                i += 1;
                if closers.pop().is_none() {
                    // A stray closer at the top level.
                    continue;
                }
                if let Some(pos) = last_significant_pos(&out)
                    && out.get(pos) == Some(&b',')
                {
                    out.truncate(pos);
                }
                out.push(b);
                safe = (out.len(), closers.len());
            }
            b',' => {
                i += 1;
                if closers.is_empty() {
                    // Between top-level values: kept once, the values get wrapped below.
                    if top_values > 0 && last_significant(&out) != Some(b',') {
                        out.push(b',');
                    }
                } else if last_significant(&out) != Some(b',') {
                    safe = (out.len(), closers.len());
                    out.push(b',');
                }
            }
            b'-' if input.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => {
                i = copy_word(input, i, &mut out);
            }
            c if c.is_ascii_alphabetic() => i = copy_word(input, i, &mut out),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.push(b);
                i += 1;
            }
            // Other control bytes (a NUL inside the reply) are no JSON token.
            c if c < 0x20 => i += 1,
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }

    if truncated || !closers.is_empty() {
        out.truncate(safe.0);
        closers.truncate(safe.1);
        while let Some(closer) = closers.pop() {
            out.push(closer);
        }
    }
    let body = trim_trailing_commas(&out);
    if top_values > 1 {
        let mut wrapped = Vec::with_capacity(body.len() + 2);
        wrapped.push(b'[');
        wrapped.extend_from_slice(body);
        wrapped.push(b']');
        return wrapped;
    }
    body.to_vec()
}

/// Strips NULs and whitespace at both ends.
fn trim(input: &[u8]) -> &[u8] {
    let skip = |b: &u8| *b == 0 || b.is_ascii_whitespace();
    let start = input.iter().position(|b| !skip(b)).unwrap_or(input.len());
    let end = input
        .iter()
        .rposition(|b| !skip(b))
        .map_or(start, |p| p + 1);
    input.get(start..end).unwrap_or_default()
}

fn trim_trailing_commas(out: &[u8]) -> &[u8] {
    let end = out
        .iter()
        .rposition(|b| *b != b',' && !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    out.get(..end).unwrap_or_default()
}

fn last_significant_pos(out: &[u8]) -> Option<usize> {
    out.iter().rposition(|b| !b.is_ascii_whitespace())
}

fn last_significant(out: &[u8]) -> Option<u8> {
    last_significant_pos(out).and_then(|p| out.get(p).copied())
}

/// Copies the string starting at the quote `input[start]`, escaping raw control
/// characters. Returns the index after the closing quote, or `None` when the input ends
/// inside the string.
fn copy_string(input: &[u8], start: usize, out: &mut Vec<u8>) -> Option<usize> {
    out.push(b'"');
    let mut i = start + 1;
    loop {
        let b = *input.get(i)?;
        match b {
            b'"' => {
                out.push(b'"');
                return Some(i + 1);
            }
            b'\\' => {
                let next = *input.get(i + 1)?;
                if matches!(
                    next,
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u'
                ) {
                    out.extend_from_slice(&[b'\\', next]);
                    i += 2;
                } else {
                    // Not a JSON escape: the backslash is a literal one.
                    out.extend_from_slice(b"\\\\");
                    i += 1;
                }
            }
            b'\n' => {
                out.extend_from_slice(b"\\n");
                i += 1;
            }
            b'\r' => {
                out.extend_from_slice(b"\\r");
                i += 1;
            }
            b'\t' => {
                out.extend_from_slice(b"\\t");
                i += 1;
            }
            c if c < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Copies the bare word at `input[start]` (with an optional leading `-`), turning the
/// non-finite numbers into `null`. Returns the index after the word.
fn copy_word(input: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let letters = start + usize::from(input.get(start) == Some(&b'-'));
    let end = input
        .get(letters..)
        .and_then(|rest| rest.iter().position(|b| !b.is_ascii_alphabetic()))
        .map_or(input.len(), |n| letters + n);
    let word = input.get(letters..end).unwrap_or_default();
    if word.eq_ignore_ascii_case(b"inf")
        || word.eq_ignore_ascii_case(b"infinity")
        || word.eq_ignore_ascii_case(b"nan")
    {
        out.extend_from_slice(b"null");
    } else {
        out.extend_from_slice(input.get(start..end).unwrap_or_default());
    }
    end
}
