//! Fuzz the mcp-wrap policy file parser and the decisions of any policy it accepts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assay_runner::policy::fuzzing::policy_file(data);
});
