//! Fuzz the DNS response parser (untrusted packet payloads) and its projection into name lines.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::dns_answer(data);
});
