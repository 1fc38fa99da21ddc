//! Fuzz the lanes config parser: any bytes give a config or a diagnostic, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::lanes_config(data);
});
