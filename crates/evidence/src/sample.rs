//! A small canonical kernel layer built without a kernel (compiled for tests and fuzz builds
//! only): a process that reads `<work>/in.txt`, writes `<work>/out.txt`, execs `/usr/bin/cat`
//! and connects to `127.0.0.1:9` over TCP. The sample bundle of the fuzz entry points and the
//! verify tests is built from it.
//! Imports: `assay_contracts::kernel_event`.

use assay_contracts::kernel_event::{KernelEvent, Kind};

/// The sample's kernel events, `seq` 0 to 5.
pub fn kernel_events(run_id: &str) -> Vec<KernelEvent> {
    let ev = |seq: u64, kind: Kind| KernelEvent::new(run_id, seq, "p0", kind);
    vec![
        KernelEvent {
            path: Some("/usr/bin/cat".into()),
            ..ev(0, Kind::Exec)
        },
        KernelEvent {
            path: Some("<work>/in.txt".into()),
            access: Some("read".into()),
            ..ev(1, Kind::Open)
        },
        KernelEvent {
            path: Some("<work>/out.txt".into()),
            access: Some("write".into()),
            flags: vec!["create".into(), "trunc".into()],
            ..ev(2, Kind::Open)
        },
        KernelEvent {
            endpoint: Some("127.0.0.1:9".into()),
            result: "ECONNREFUSED".into(),
            ..ev(3, Kind::Connect)
        },
        KernelEvent {
            endpoint: Some("tcp:127.0.0.1:9".into()),
            ..ev(4, Kind::NetConnect)
        },
        KernelEvent {
            exit_code: Some(0),
            ..ev(5, Kind::Exit)
        },
    ]
}

/// The sample's kernel layer as the bundle member holds it (`layers/kernel.ndjson`: one compact
/// JSON object per line).
pub fn kernel_member(run_id: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for e in kernel_events(run_id) {
        b.extend(serde_json::to_vec(&e).unwrap_or_default());
        b.push(b'\n');
    }
    b
}
