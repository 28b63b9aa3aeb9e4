//! Bounds on a config document, checked on its YAML events before it is deserialized.
//!
//! serde_norway parses the whole document into events first and expands every alias
//! (`*name`) as it deserializes: a few-MB file whose anchor is referenced thousands of
//! times becomes gigabytes, and deep flow nesting (`[[[[...`) costs the parser time
//! quadratic in depth. The scan here stops at the first event past a bound, so a
//! hostile document costs no more than a legitimate one of the bound's size.

use std::collections::HashMap;

use super::ConfigError;

/// Largest config document, in bytes. The example file is about 7 KiB.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Deepest nesting of mappings and sequences; the config itself nests five levels.
pub const MAX_DEPTH: usize = 32;
/// Largest document once aliases are expanded: one per node plus the bytes of every
/// scalar. Four times the largest file leaves aliases their ordinary use.
pub const MAX_EXPANDED: u64 = 4 * 1024 * 1024;

/// Longest prefix of a value quoted in a message, in characters.
pub const QUOTE_CHARS: usize = 64;

/// Checks `yaml` against [`MAX_CONFIG_BYTES`], [`MAX_DEPTH`] and [`MAX_EXPANDED`].
///
/// A syntax error ends the scan without an error: serde_norway reports it next, with
/// its usual message.
pub(super) fn check(yaml: &str) -> Result<(), ConfigError> {
    if yaml.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            limit: MAX_CONFIG_BYTES,
        });
    }
    let Some(mut parser) = events::Parser::new(yaml.as_bytes()) else {
        return Ok(());
    };
    let mut scan = Scan::default();
    while let Some((event, mark)) = parser.next() {
        match scan.step(event) {
            Step::Continue => {}
            Step::Done => break,
            Step::TooDeep => {
                return Err(ConfigError::TooDeep {
                    limit: MAX_DEPTH,
                    line: mark.line,
                    column: mark.column,
                });
            }
            Step::TooExpanded => {
                return Err(ConfigError::TooExpanded {
                    limit: MAX_EXPANDED,
                    line: mark.line,
                    column: mark.column,
                });
            }
        }
    }
    Ok(())
}

/// A mapping or sequence not closed yet.
struct Open {
    anchor: Option<Vec<u8>>,
    /// The expanded size before it started.
    size_before: u64,
    /// The most collection levels below it so far.
    below: usize,
}

/// What an anchored node expands to when aliased.
#[derive(Clone, Copy)]
struct Anchored {
    size: u64,
    /// Collection levels: 0 for a scalar, 1 for a flat mapping or sequence.
    levels: usize,
}

#[derive(Default)]
struct Scan {
    open: Vec<Open>,
    anchors: HashMap<Vec<u8>, Anchored>,
    size: u64,
}

enum Step {
    Continue,
    Done,
    TooDeep,
    TooExpanded,
}

impl Scan {
    fn step(&mut self, event: events::Event) -> Step {
        match event {
            events::Event::StreamEnd => return Step::Done,
            events::Event::Other => return Step::Continue,
            events::Event::Start { anchor, .. } => {
                if self.open.len() >= MAX_DEPTH {
                    return Step::TooDeep;
                }
                self.open.push(Open {
                    anchor,
                    size_before: self.size,
                    below: 0,
                });
                self.size += 1;
            }
            events::Event::End => {
                let Some(open) = self.open.pop() else {
                    return Step::Done;
                };
                let levels = open.below + 1;
                self.note_levels(levels);
                if let Some(anchor) = open.anchor {
                    let size = self.size - open.size_before;
                    self.anchors.insert(anchor, Anchored { size, levels });
                }
            }
            events::Event::Scalar { anchor, len, .. } => {
                let size = 1 + len;
                self.size += size;
                if let Some(anchor) = anchor {
                    self.anchors.insert(anchor, Anchored { size, levels: 0 });
                }
            }
            events::Event::Alias { anchor } => {
                // An unknown anchor is serde_norway's error to report.
                let Anchored { size, levels } = self
                    .anchors
                    .get(&anchor)
                    .copied()
                    .unwrap_or(Anchored { size: 1, levels: 0 });
                if self.open.len() + levels > MAX_DEPTH {
                    return Step::TooDeep;
                }
                self.note_levels(levels);
                self.size += size;
            }
        }
        if self.size > MAX_EXPANDED {
            Step::TooExpanded
        } else {
            Step::Continue
        }
    }

    /// Records `levels` collection levels below the innermost open collection.
    fn note_levels(&mut self, levels: usize) {
        if let Some(parent) = self.open.last_mut() {
            parent.below = parent.below.max(levels);
        }
    }
}

/// Quotes `value` for a message: whole if it is short, else its first [`QUOTE_CHARS`]
/// characters, `...` and its length. Control characters are escaped.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}... ({} bytes)", &value[..end], value.len()),
    }
}

/// Shortens every backtick- or double-quoted part of `message` longer than
/// [`QUOTE_CHARS`] characters (serde quotes whole values), and the message itself to
/// sixteen times that.
pub(super) fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let delimiter = &rest[open..=open];
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(delimiter) else {
            break;
        };
        let inner = &rest[..close];
        match inner.char_indices().nth(QUOTE_CHARS) {
            None => out.push_str(inner),
            Some((end, _)) => {
                out.push_str(&inner[..end]);
                out.push_str("...");
            }
        }
        out.push_str(delimiter);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    shorten(&out, 16 * QUOTE_CHARS)
}

/// Cuts `text` to its first `max` characters followed by `...` if it is longer.
pub(super) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

/// The libyaml event parser, behind a safe interface that yields only what the scan
/// needs.
#[allow(unsafe_code)]
pub(super) mod events {
    use std::ffi::CStr;
    use std::marker::PhantomData;
    use std::mem::MaybeUninit;

    use unsafe_libyaml_norway as unsafe_sys;

    /// Longest scalar whose text an event carries.
    pub(in crate::config) const KEY_BYTES: usize = 256;

    /// One parser event, reduced.
    pub(in crate::config) enum Event {
        /// A mapping or sequence starts.
        Start {
            anchor: Option<Vec<u8>>,
            /// A mapping rather than a sequence.
            mapping: bool,
        },
        /// A mapping or sequence ends.
        End,
        /// A scalar of `len` bytes.
        Scalar {
            anchor: Option<Vec<u8>>,
            len: u64,
            /// The text of a scalar of at most [`KEY_BYTES`] bytes (keys, for line
            /// numbers); `None` for a longer one.
            text: Option<String>,
        },
        /// An alias of `anchor`.
        Alias { anchor: Vec<u8> },
        /// The input ended.
        StreamEnd,
        /// Stream, document starts and document ends.
        Other,
    }

    /// Where an event starts, from 1.
    pub(in crate::config) struct Mark {
        pub line: u64,
        pub column: u64,
    }

    /// A libyaml parser reading a borrowed string.
    pub(in crate::config) struct Parser<'input> {
        // Boxed: libyaml keeps a pointer to the parser in the parser (its read handler's
        // data), so it must not move.
        raw: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
        _input: PhantomData<&'input [u8]>,
    }

    impl<'input> Parser<'input> {
        /// Returns a parser of `input`, or `None` if libyaml cannot allocate one.
        pub(in crate::config) fn new(input: &'input [u8]) -> Option<Self> {
            let mut raw = Box::<unsafe_sys::yaml_parser_t>::new_uninit();
            let parser = raw.as_mut_ptr();
            // SAFETY: `parser` points to memory sized and aligned for a parser, which
            // `yaml_parser_initialize` zeroes and fills in before anything reads it.
            if unsafe { unsafe_sys::yaml_parser_initialize(parser) }.fail {
                return None;
            }
            // SAFETY: the parser was initialized above and has no input yet. `input`
            // outlives it (the `'input` borrow), as libyaml requires of string input.
            unsafe {
                unsafe_sys::yaml_parser_set_encoding(parser, unsafe_sys::YAML_UTF8_ENCODING);
                unsafe_sys::yaml_parser_set_input_string(
                    parser,
                    input.as_ptr(),
                    input.len() as u64,
                );
            }
            Some(Self {
                raw,
                _input: PhantomData,
            })
        }

        /// Returns the next event and where it starts, or `None` on a syntax error (the
        /// caller stops there).
        pub(in crate::config) fn next(&mut self) -> Option<(Event, Mark)> {
            let parser = self.raw.as_mut_ptr();
            let mut event = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
            let event = event.as_mut_ptr();
            // SAFETY: the parser is initialized (see `new`) and not yet deleted. After a
            // failure libyaml leaves `event` untouched, so it is read only on success.
            unsafe {
                if unsafe_sys::yaml_parser_parse(parser, event).fail {
                    return None;
                }
                let reduced = reduce(&*event);
                let mark = Mark {
                    line: (*event).start_mark.line + 1,
                    column: (*event).start_mark.column + 1,
                };
                unsafe_sys::yaml_event_delete(event);
                Some((reduced, mark))
            }
        }
    }

    impl Drop for Parser<'_> {
        fn drop(&mut self) {
            // SAFETY: the parser was initialized in `new` (a `Parser` exists only then)
            // and is deleted once, here.
            unsafe { unsafe_sys::yaml_parser_delete(self.raw.as_mut_ptr()) }
        }
    }

    /// Copies the anchor name at `ptr`, if any.
    ///
    /// # Safety
    /// `ptr` is null or points to a NUL-terminated string.
    unsafe fn anchor(ptr: *const u8) -> Option<Vec<u8>> {
        if ptr.is_null() {
            return None;
        }
        // SAFETY: per this function's contract.
        Some(unsafe { CStr::from_ptr(ptr.cast()) }.to_bytes().to_vec())
    }

    /// # Safety
    /// `event` was filled in by a successful `yaml_parser_parse`.
    unsafe fn reduce(event: &unsafe_sys::yaml_event_t) -> Event {
        // SAFETY: the union field read is the one `type_` says libyaml wrote, and its
        // anchors are null or NUL-terminated strings owned by the event; a scalar's value
        // is `length` bytes owned by the event.
        unsafe {
            match event.type_ {
                unsafe_sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
                unsafe_sys::YAML_SEQUENCE_START_EVENT => Event::Start {
                    anchor: anchor(event.data.sequence_start.anchor),
                    mapping: false,
                },
                unsafe_sys::YAML_MAPPING_START_EVENT => Event::Start {
                    anchor: anchor(event.data.mapping_start.anchor),
                    mapping: true,
                },
                unsafe_sys::YAML_SEQUENCE_END_EVENT | unsafe_sys::YAML_MAPPING_END_EVENT => {
                    Event::End
                }
                unsafe_sys::YAML_SCALAR_EVENT => {
                    let len = event.data.scalar.length;
                    let value = event.data.scalar.value;
                    // libyaml's scalar value is `length` bytes at `value` (never null for a
                    // scalar event), owned by the event.
                    let text = (len <= KEY_BYTES as u64 && !value.is_null()).then(|| {
                        String::from_utf8_lossy(std::slice::from_raw_parts(value, len as usize))
                            .into_owned()
                    });
                    Event::Scalar {
                        anchor: anchor(event.data.scalar.anchor),
                        len,
                        text,
                    }
                }
                unsafe_sys::YAML_ALIAS_EVENT => Event::Alias {
                    anchor: anchor(event.data.alias.anchor).unwrap_or_default(),
                },
                _ => Event::Other,
            }
        }
    }
}
