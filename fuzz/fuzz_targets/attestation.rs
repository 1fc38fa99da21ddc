//! Fuzz what `verify --attestation` reads: a DSSE envelope and the statement it carries.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::attestation(data);
});
