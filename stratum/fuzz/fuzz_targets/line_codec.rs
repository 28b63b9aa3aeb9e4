//! Fuzzes the newline framer: bounded lines, no panics, chunking never changes lines.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    otedama_stratum::fuzzing::line_codec(data);
});
