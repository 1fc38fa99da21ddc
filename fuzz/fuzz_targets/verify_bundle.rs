//! Fuzz the bundle verifier with arbitrary archives (hostile input by definition).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::verify_bundle(data);
});
