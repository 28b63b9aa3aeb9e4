//! Fuzzes the Stratum V2 frame decoder: no panics, and what it accepts encodes back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    otedama_stratum::fuzzing::sv2_frame(data);
});
