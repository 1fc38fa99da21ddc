//! Fuzz the ring-buffer record parser and the sockaddr decoder.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::ring_record(data);
});
