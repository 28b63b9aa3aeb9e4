//! Fuzzes the JSON-RPC request decoder and the answers built from what it returns.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    otedama_stratum::fuzzing::message_parser(data);
});
