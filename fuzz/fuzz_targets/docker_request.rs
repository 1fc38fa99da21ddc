//! Fuzz the Docker API proxy's parsers with a client's bytes (untrusted: the measured command):
//! request framing read in small and large steps, routing, and the create-body rewrite.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let step = 1 + data.first().copied().unwrap_or(0) as usize % 64;
    assay_runner::docker::fuzzing::request_stream(data, step);
    assay_runner::docker::fuzzing::request_stream(data, 1 << 16);
    assay_runner::docker::fuzzing::create_body(data);
});
