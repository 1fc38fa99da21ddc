//! Fuzz the `/proc/net/unix` reader (socket addresses are any process's bytes, newlines too).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::fuzzing::unix_table(data);
});
