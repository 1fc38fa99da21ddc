//! Fuzz what `report` reads from other jobs: verdict.json and the event payload.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::report_input(data);
});
