//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the stable seed-replay test, so
//! the same code runs under libFuzzer and in every `cargo test`.
//! Imports: `crate::lanes`, `crate::kernel::event`, `crate::layers::{kernel, names}`, `crate::verify`,
//! `crate::bundle`, `crate::surface`, `crate::contracts`, `crate::report`.

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
                assert!(d.line >= 1, "diagnostic without a line: {d}");
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

/// Parses arbitrary bytes as a ring-buffer record (one event or a batch) and projects the
/// events that parse.
pub fn ring_record(data: &[u8]) {
    use crate::kernel::event::{RawEvent, parse_record};
    let _ = crate::layers::kernel::sockaddr(data);
    let mut events = Vec::new();
    let n = parse_record(data, |hdr, d1, d2| {
        events.push(RawEvent {
            hdr,
            data1: d1.to_vec(),
            data2: d2.to_vec(),
        })
    });
    assert_eq!(n.events - n.bad, events.len() as u64);
    if let Some(first) = events.first() {
        let p = crate::layers::kernel::project("fuzz", &events, Some(first.hdr.pid), b"/w")
            .expect("an in-memory projection does not fail");
        for (i, ev) in p.events.iter().enumerate() {
            assert_eq!(ev.seq, i as u64);
        }
    }
}

/// Parses arbitrary bytes as a DNS response (a payload the ingress hook copied from any
/// server): never panics, and a parsed answer's name is a host name. The same bytes as the
/// payload of an `EV_PAYLOAD` record project to at most one `dns_answer` line.
pub fn dns_answer(data: &[u8]) {
    use crate::layers::names;
    if let Ok(a) = names::parse_dns_response(data) {
        assert_host_name(&a.name);
    }
    let lines = payload_lines(crate::kernel::event::PAY_DNS, 17, data);
    assert!(lines.len() <= 1);
}

/// Parses arbitrary bytes as the start of a TLS stream (a payload the egress hook copied from
/// any session process): never panics, and a server name is a host name.
pub fn client_hello(data: &[u8]) {
    use crate::layers::names;
    if let Ok(n) = names::parse_client_hello_sni(data) {
        assert_host_name(&n);
    }
    let lines = payload_lines(crate::kernel::event::PAY_TLS, 6, data);
    assert!(lines.len() <= 1);
}

fn assert_host_name(n: &str) {
    assert!(!n.is_empty() && n.len() <= crate::layers::names::MAX_NAME);
    assert!(
        n.split('.').all(|l| !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')),
        "{n:?} is not a host name"
    );
}

/// Projects one `EV_PAYLOAD` record carrying `body` and derives the surface of it plus a
/// connect to the named address: the name lines, checked to belong to no process.
fn payload_lines(
    op: u32,
    proto: u64,
    body: &[u8],
) -> Vec<crate::contracts::kernel_event::KernelEvent> {
    use crate::kernel::event::{EV_PAYLOAD, EventHdr, RawEvent, SOCKADDR_SLOT};
    let mut data = vec![2, 0, 0, 53, 127, 0, 0, 1];
    data.resize(SOCKADDR_SLOT * 2, 0);
    data.extend_from_slice(body);
    let e = RawEvent {
        hdr: EventHdr {
            kind: EV_PAYLOAD,
            op,
            flags: proto,
            len1: data.len() as u16,
            ..EventHdr::default()
        },
        data1: data,
        data2: Vec::new(),
    };
    let p = crate::layers::kernel::project("fuzz", std::slice::from_ref(&e), None, b"/w")
        .expect("an in-memory projection does not fail");
    for ev in &p.events {
        assert_eq!(ev.process, crate::layers::kernel::NET_LABEL);
        let d = crate::surface::derive(
            "fuzz",
            std::slice::from_ref(ev),
            &crate::surface::NoiseFilter::none(),
        );
        assert!(
            d.surface.network_endpoints.is_empty(),
            "a name alone is no destination"
        );
    }
    p.events
}

/// Parses arbitrary bytes as a `verdict.json` (from another job's artifact: untrusted) and as
/// an event payload; renders what parses through every report channel and checks the limits.
pub fn report_input(data: &[u8]) {
    use crate::report::{self, Conclusion, commands, markdown};
    let path = std::path::Path::new("fuzz.json");
    let _ = report::github::parse_event(path, data);
    if let Ok(v) = report::parse(path, data) {
        let ann = report::annotations(&v, "p");
        for a in &ann {
            assert!(a.title.chars().count() <= report::MAX_TITLE_CHARS);
            assert!(a.line >= 1);
            let c = commands::command(a);
            assert!(!c.contains('\n') && !c.contains('\r'));
        }
        let lines = commands::annotation_lines(&ann);
        assert!(lines.lines().filter(|l| l.starts_with("::")).count() <= commands::MAX_COMMANDS);
        let full = markdown::report(&v, "fuzz", Conclusion::Failure);
        let cut = markdown::truncate(&full, 4096, markdown::chars, "x");
        assert!(markdown::chars(&cut) <= 4096);
        let _ = report::github::outputs(v.lane.as_deref(), "pass", &report::bundles(&v));
    }
}

/// Verifies arbitrary bytes as a bundle with small limits; checks the report's invariants.
pub fn verify_bundle(data: &[u8]) {
    let limits = crate::verify::Limits {
        max_decompressed: 1 << 20,
        max_members: 16,
        max_document: 1 << 16,
        max_line: 1 << 12,
    };
    let v = crate::verify::verify_reader("fuzz", data, &limits, crate::verify::Keep::Documents);
    assert_eq!(v.report.valid, v.report.problems.is_empty());
    assert!(v.report.problems.len() <= crate::verify::MAX_PROBLEMS);
    assert!(v.report.decompressed_bytes <= limits.max_decompressed);
    if v.report.valid {
        assert!(v.report.bundle_sha256.is_some());
    }
}

/// Reads arbitrary bytes as `/proc/net/unix`, whose addresses any process chooses (newlines
/// too): never panics, every inode found is written in the table, and a line appended to the
/// table (a forged one) never hides a socket found without it.
pub fn unix_table(data: &[u8]) {
    use crate::listeners::inodes_bound_to;
    let last = data.rsplit(|&b| b == b' ').next().unwrap_or_default();
    let last = last.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(data);
    for addr in [
        crate::pathbytes::escape(last),
        "/run/containerd/containerd.sock".to_string(),
        String::new(),
    ] {
        let found = inodes_bound_to(data, &addr);
        for inode in &found {
            assert!(
                text.contains(&inode.to_string()),
                "{inode} is not in the table"
            );
        }
        let mut more = data.to_vec();
        more.extend_from_slice(b"\n0: 1 0 10000 1 1 1 /forged\n");
        assert!(inodes_bound_to(&more, &addr).is_superset(&found));
    }
}

/// Decision and SDK logs are written by processes of the measured run (untrusted): accepting
/// them never panics, and a `complete` layer is one whose every line was accepted, in order.
pub fn layer_logs(data: &[u8]) {
    use crate::contracts::health::OtherLayer;
    use crate::correlation::provenance::Attestation;
    let mut att = Attestation::default();
    att.runners.insert(10, "p0/assay-runner#1".into());
    att.parents.insert(11, 10);
    att.labels.insert(5, "p0".into());
    att.readers
        .insert("/p.yaml".into(), std::collections::BTreeSet::from([10]));
    att.writers.insert(
        "/l/sdk.ndjson".into(),
        std::collections::BTreeSet::from([5]),
    );
    for pid in [5, 10, 11] {
        att.pids.insert(pid, vec![pid]); // one process per pid (no reuse)
    }
    let lines = data.split(|&b| b == b'\n').count().saturating_sub(1);
    let p = crate::correlation::policy::accept("r", Some(data), false, &att, "/p.yaml");
    assert!(p.records.len() <= lines);
    assert!(p.records.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    if p.state == OtherLayer::Complete {
        assert_eq!(p.records.len(), lines);
        assert!(p.notes.is_empty());
    }
    let s = crate::correlation::sdk::accept("r", Some(data), false, &att, "/l/sdk.ndjson");
    assert!(s.records.len() <= lines);
    if s.state == OtherLayer::Complete {
        assert_eq!(s.records.len(), lines);
        assert!(s.notes.is_empty());
    }
    let empty = crate::layers::kernel::Projection::default();
    let r = crate::correlation::correlate(
        "r",
        &p,
        Some(&s),
        &empty,
        &crate::surface::NoiseFilter::none(),
    );
    assert_eq!(r.bindings.len(), p.records.len());
}

/// The members of a small, valid bundle built without a kernel, whose kernel layer is
/// [`assay_evidence::sample::kernel_events`].
/// Used by the verify tests and as the fuzz seed.
pub fn sample_entries(run_id: &str) -> Vec<crate::bundle::Entry> {
    use crate::contracts::run_event::{self, RunRecord};
    let events = assay_evidence::sample::kernel_events(run_id);
    let runs = vec![
        RunRecord::RunStarted {
            schema: run_event::SCHEMA.into(),
            run_id: run_id.into(),
            seq: 0,
            argv: vec!["cat".into()],
            env_keys: vec!["PATH".into()],
            work_dir: "/w".into(),
            uid: 0,
            started_unix_ms: 1,
        },
        RunRecord::RunFinished {
            schema: run_event::SCHEMA.into(),
            run_id: run_id.into(),
            seq: 1,
            end: "exited".into(),
            exit_code: Some(0),
            signal: None,
            runner_exit: 0,
            duration_ms: 3,
            runner_max_rss_kib: 1000,
        },
    ];
    entries_for(run_id, &events, 9, crate::pipeline::ndjson(&runs))
}

/// The members of a cleanly observed bundle whose kernel layer is `events`: the surface derived
/// from them, a complete and clean health with `received` events, and `diagnostic` as
/// `events.ndjson`. Shared by the sample bundle and the verify benchmark.
pub fn entries_for(
    run_id: &str,
    events: &[crate::contracts::kernel_event::KernelEvent],
    received: u64,
    diagnostic: Vec<u8>,
) -> Vec<crate::bundle::Entry> {
    use crate::contracts::health::{CgroupCorrelation, KernelLayer, OtherLayer};
    use crate::contracts::manifest::MemberClass;
    use crate::pipeline::{json, ndjson};
    let derived = crate::surface::derive(
        run_id,
        events,
        &crate::surface::NoiseFilter::default_filter(),
    );
    let mut hb = crate::health::Builder::new(
        run_id,
        crate::contracts::health::Platform {
            os: "linux".into(),
            arch: "x86_64".into(),
            btf: true,
            bpf_object: "clang".into(),
        },
    );
    hb.kernel(KernelLayer::Complete)
        .correlation(CgroupCorrelation::Clean);
    {
        let c = hb.counters();
        c.events_attempted = received;
        c.events_received = received;
        c.filtered_noise = derived.filtered.clone();
    }
    let health = hb.finish();
    debug_assert_eq!(health.policy_layer, OtherLayer::NotApplicable);
    vec![
        crate::bundle::Entry::bytes(
            "observation-health.json",
            json(&health),
            MemberClass::Canonical,
        ),
        crate::bundle::Entry::bytes(
            "capability-surface.json",
            json(&derived.surface),
            MemberClass::Canonical,
        ),
        crate::bundle::Entry::bytes(
            "layers/kernel.ndjson",
            ndjson(events),
            MemberClass::Canonical,
        ),
        crate::bundle::Entry::bytes("events.ndjson", diagnostic, MemberClass::Diagnostic),
    ]
}

/// The bytes of [`sample_entries`] as a bundle.
pub fn sample_bundle(run_id: &str) -> Vec<u8> {
    let entries = sample_entries(run_id);
    let mut m = serde_json::to_vec_pretty(&crate::bundle::manifest_for(run_id, &entries))
        .unwrap_or_default();
    m.push(b'\n');
    crate::bundle::to_bytes(&m, &entries).unwrap_or_default()
}

/// The test key of the attestation seeds (`fuzz/corpus/attestation/seed-*` are signed with it;
/// never a real key).
pub const ATTEST_TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIN2Goiwfo6JtCb1FdWLhkVWFqnYfMwmflW34MUXgTkGj\n-----END PRIVATE KEY-----\n";

/// An attestation envelope is hostile input for `verify --attestation`: parsing it, opening it
/// with a key and parsing a payload as a statement never panic; an envelope that opens names
/// subjects, which under a root that does not exist are never found.
pub fn attestation(data: &[u8]) {
    use crate::attest;
    let _ = attest::parse_statement("fuzz", data);
    let Ok(env) = attest::parse_envelope("fuzz", data) else {
        return;
    };
    let key = attest::keys::VerifyingKey::from_pem("test", ATTEST_TEST_KEY).expect("test key");
    let root = std::path::Path::new("/nonexistent/assay-fuzz-root");
    if let Ok(c) = attest::check("fuzz", &env, &key, root, &crate::verify::Limits::default()) {
        assert!(!c.statement.subject.is_empty());
        assert!(
            !c.ok(),
            "a subject was found under a root that does not exist"
        );
    }
}

/// Event `i` (line `seq`) of a synthetic but realistic kernel layer: opens, execs, forks and
/// connects of a build-like process tree. Shared by the verify and HTML report benchmarks.
pub fn build_like_event(
    run: &str,
    seq: u64,
    i: u64,
) -> crate::contracts::kernel_event::KernelEvent {
    use crate::contracts::kernel_event::{KernelEvent, Kind};
    let base = KernelEvent::new(
        run,
        seq,
        &format!("p0/make#1/cc#{}", i / 64 % 4000),
        Kind::Open,
    );
    // A pseudo-random but reproducible spread of files, like a build tree.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    match i % 16 {
        0 => KernelEvent {
            kind: Kind::Exec,
            path: Some(format!("/usr/lib/gcc/x86_64-linux-gnu/12/cc1-{}", h % 7)),
            ..base
        },
        1 => KernelEvent {
            kind: Kind::Connect,
            endpoint: Some(format!("10.{}.{}.{}:443", h % 200, h % 97, h % 251)),
            result: "ECONNREFUSED".into(),
            ..base
        },
        2..=5 => KernelEvent {
            path: Some(format!(
                "<work>/build/obj{}/unit{:x}.o",
                h % 300,
                h % 40_000
            )),
            access: Some("write".into()),
            flags: vec!["create".into(), "trunc".into()],
            ..base
        },
        6 => KernelEvent {
            kind: Kind::Fork,
            child: Some(format!("p0/make#1/cc#{}", h % 4000)),
            ..base
        },
        _ => KernelEvent {
            path: Some(format!("<work>/src/mod{}/file{:x}.c", h % 500, h % 60_000)),
            access: Some("read".into()),
            result: if h.is_multiple_of(9) {
                "ENOENT".into()
            } else {
                "ok".into()
            },
            ..base
        },
    }
}
