//! Fuzz mcp-wrap's line framing and JSON-RPC message classification (untrusted bytes from the
//! client and the server).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::policy::fuzzing::framing(data);
});
