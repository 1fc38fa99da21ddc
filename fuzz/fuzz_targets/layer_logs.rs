//! Fuzz the acceptance of decision (policy) and SDK logs, which processes of the measured run
//! write: never a panic, and `complete` only when every line was accepted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::layer_logs(data);
});
