//! Fuzz the TLS ClientHello server-name parser (untrusted packet payloads) and its projection into name lines.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::client_hello(data);
});
