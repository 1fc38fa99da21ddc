//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the stable seed-replay test, so
//! the same code runs under libFuzzer and in every `cargo test`.
//! Imports: `crate::lanes`, `crate::kernel::event`, `crate::layers::kernel`.

use crate::lanes::{LanesConfig, changes};

/// Parses arbitrary bytes as a lanes file; when it is valid, classifies and explains a few paths
/// and checks the invariants every valid config must hold.
pub fn lanes_config(data: &[u8]) {
    match LanesConfig::parse("fuzz.yaml", data) {
        Ok(c) => {
            assert!(!c.lanes.is_empty());
            assert!(c.default < c.lanes.len());
            for p in [&b"a"[..], b"src/x.rs", b"docs/a/b.md", b"\xff/x"] {
                let e = c.explain(p);
                assert!(e.lane < c.lanes.len());
            }
        }
        Err(e) => {
            assert!(!e.diagnostics.is_empty());
            for d in &e.diagnostics {
                assert!(d.pos.line >= 1, "diagnostic without a line: {d}");
            }
        }
    }
}

/// Parses arbitrary bytes as a change list.
pub fn change_list(data: &[u8]) {
    if let Ok(v) = changes::parse(data) {
        for c in v {
            let _ = crate::pathbytes::escape(&c.path);
        }
    }
}

/// Parses arbitrary bytes as a ring-buffer record and, when it parses, projects it.
pub fn ring_record(data: &[u8]) {
    let _ = crate::layers::kernel::sockaddr(data);
    if let Ok(e) = crate::kernel::event::parse(data) {
        let p = crate::layers::kernel::project(
            "fuzz",
            std::slice::from_ref(&e),
            Some(e.hdr.pid),
            b"/w",
        );
        for (i, ev) in p.events.iter().enumerate() {
            assert_eq!(ev.seq, i as u64);
        }
    }
}
