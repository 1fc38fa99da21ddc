//! Fuzz the change-list parser (`--files`, `git diff --name-status [-z]` output).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::change_list(data);
});
