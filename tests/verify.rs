//! `verify` treats a bundle as hostile input: every class of tampering, truncation and malice
//! is rejected with the member named and a stable code; exit 0/1/2 as documented.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;

use assay_runner::bundle::{self, Entry};
use assay_runner::contracts::manifest::MemberClass;
use assay_runner::fuzzing::{sample_bundle, sample_entries};
use assay_runner::verify::{Keep, Limits, verify_reader};
use proptest::prelude::*;

/// One raw tar member.
struct Raw {
    name: Vec<u8>,
    kind: tar::EntryType,
    body: Vec<u8>,
    link: Option<&'static [u8]>,
}

fn raw(name: &str, body: &[u8]) -> Raw {
    Raw {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        body: body.to_vec(),
        link: None,
    }
}

/// A tar.gz written byte by byte (no path sanitising), with the writer's gzip header.
fn tar_gz(members: &[Raw]) -> Vec<u8> {
    let mut t = Vec::new();
    for m in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(m.body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(m.kind);
        {
            let u = h.as_ustar_mut().unwrap();
            u.name = [0; 100];
            u.name[..m.name.len()].copy_from_slice(&m.name);
            if let Some(l) = m.link {
                u.linkname[..l.len()].copy_from_slice(l);
            }
        }
        h.set_cksum();
        t.extend_from_slice(h.as_bytes());
        t.extend_from_slice(&m.body);
        t.resize(t.len().div_ceil(512) * 512, 0);
    }
    t.resize(t.len() + 1024, 0);
    gz(&t)
}

fn gz(t: &[u8]) -> Vec<u8> {
    let mut g = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    g.write_all(t).unwrap();
    g.finish().unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn manifest(run_id: &str, entries: &[Entry]) -> Vec<u8> {
    let mut m = serde_json::to_vec_pretty(&bundle::manifest_for(run_id, entries)).unwrap();
    m.push(b'\n');
    m
}

/// The sample members as raw tar members, manifest first.
fn sample_raw(run_id: &str) -> Vec<Raw> {
    let e = sample_entries(run_id);
    let mut sorted = e.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut v = vec![raw("manifest.json", &manifest(run_id, &e))];
    v.extend(
        sorted
            .iter()
            .map(|x| raw(&x.path, &x.body.to_vec().unwrap())),
    );
    v
}

fn problems(bytes: &[u8]) -> Vec<String> {
    let v = verify_reader("b", bytes, &Limits::default(), Keep::Documents);
    assert_eq!(v.report.valid, v.report.problems.is_empty());
    v.report
        .problems
        .iter()
        .map(|p| format!("{}: {}: {}", p.member, p.code, p.message))
        .collect()
}

#[track_caller]
fn rejected(bytes: &[u8], member: &str, code: &str) {
    let p = problems(bytes);
    assert!(
        p.iter()
            .any(|l| l.starts_with(&format!("{member}: {code}: "))),
        "expected `{member}: {code}` among {p:#?}"
    );
}

fn with_member(run_id: &str, path: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<Entry> {
    let mut e = sample_entries(run_id);
    let m = e.iter_mut().find(|m| m.path == path).unwrap();
    f(m.body.bytes_mut());
    e
}

fn bundle_of(run_id: &str, e: &[Entry]) -> Vec<u8> {
    bundle::to_bytes(&manifest(run_id, e), e).unwrap()
}

#[test]
fn sample_bundle_is_valid_and_the_raw_writer_agrees_with_the_bundle_writer() {
    assert!(problems(&sample_bundle("r")).is_empty());
    assert!(problems(&tar_gz(&sample_raw("r"))).is_empty());
}

#[test]
fn unsafe_paths_links_devices_fifos_and_extension_headers_are_rejected() {
    for (name, kind, link, code) in [
        ("/etc/passwd", tar::EntryType::Regular, None, "unsafe-path"),
        ("../escape", tar::EntryType::Regular, None, "unsafe-path"),
        ("layers/../x", tar::EntryType::Regular, None, "unsafe-path"),
        ("a//b", tar::EntryType::Regular, None, "unsafe-path"),
        (
            "lnk",
            tar::EntryType::Symlink,
            Some(&b"/etc/shadow"[..]),
            "link",
        ),
        (
            "hard",
            tar::EntryType::Link,
            Some(&b"manifest.json"[..]),
            "link",
        ),
        ("dev", tar::EntryType::Char, None, "device"),
        ("blk", tar::EntryType::Block, None, "device"),
        ("fifo", tar::EntryType::Fifo, None, "fifo"),
        ("dir", tar::EntryType::Directory, None, "directory"),
        ("pax", tar::EntryType::XHeader, None, "extension-header"),
        ("gnu", tar::EntryType::GNULongName, None, "extension-header"),
    ] {
        let mut m = sample_raw("r");
        m.push(Raw {
            name: name.as_bytes().to_vec(),
            kind,
            body: Vec::new(),
            link,
        });
        rejected(&tar_gz(&m), name, code);
    }
}

#[test]
fn duplicates_unlisted_missing_and_misordered_members_are_rejected() {
    let mut m = sample_raw("r");
    let dup = raw("capability-surface.json", &m[1].body.clone());
    m.insert(2, dup);
    rejected(&tar_gz(&m), "capability-surface.json", "duplicate-member");

    let mut m = sample_raw("r");
    m.push(raw("zz-extra.json", b"{}"));
    rejected(&tar_gz(&m), "zz-extra.json", "not-listed");

    let mut m = sample_raw("r");
    m.retain(|x| x.name != b"events.ndjson");
    rejected(&tar_gz(&m), "events.ndjson", "missing-member");

    let mut m = sample_raw("r");
    m.retain(|x| x.name != b"manifest.json");
    rejected(&tar_gz(&m), "manifest.json", "manifest-missing");

    let mut m = sample_raw("r");
    let man = m.remove(0);
    m.push(man);
    rejected(&tar_gz(&m), "manifest.json", "manifest-not-first");

    let mut m = sample_raw("r");
    m.swap(1, 2);
    rejected(&tar_gz(&m), "<archive>", "member-order");
}

#[test]
fn size_and_hash_mismatches_are_rejected() {
    // Content changed after the manifest was written.
    let e = sample_entries("r");
    let man = manifest("r", &e);
    let mut e2 = e.clone();
    let s = e2
        .iter_mut()
        .find(|m| m.path == "capability-surface.json")
        .unwrap();
    *s.body.bytes_mut() = String::from_utf8(s.body.to_vec().unwrap())
        .unwrap()
        .replace("in.txt", "IN.txt")
        .into_bytes();
    rejected(
        &bundle::to_bytes(&man, &e2).unwrap(),
        "capability-surface.json",
        "sha256-mismatch",
    );
    size_mismatch(&man, &e);
}

fn size_mismatch(man: &[u8], e: &[Entry]) {
    let mut e2 = e.to_vec();
    e2.iter_mut()
        .find(|m| m.path == "events.ndjson")
        .unwrap()
        .body
        .bytes_mut()
        .push(b'\n');
    rejected(
        &bundle::to_bytes(man, &e2).unwrap(),
        "events.ndjson",
        "size-mismatch",
    );
}

#[test]
fn truncated_and_trailing_garbage_gzip_are_rejected() {
    let b = sample_bundle("r");
    for cut in [1, 9, 10, 20, b.len() / 2, b.len() - 8, b.len() - 1] {
        let p = problems(&b[..cut]);
        assert!(!p.is_empty(), "truncated at {cut} verified");
        assert!(
            p.iter().any(|l| l.starts_with("<archive>: gzip-")),
            "cut {cut}: {p:#?}"
        );
    }
    let mut g = b.clone();
    g.extend_from_slice(b"garbage");
    rejected(&g, "<archive>", "gzip-trailing-data");
    let mut twice = b.clone();
    twice.extend_from_slice(&b);
    rejected(&twice, "<archive>", "gzip-trailing-data");
    let mut hdr = b.clone();
    hdr[4] = 1; // mtime
    rejected(&hdr, "<archive>", "gzip-header");
    rejected(b"PK\x03\x04 not a gzip", "<archive>", "gzip-header");
    rejected(b"", "<archive>", "gzip-truncated");
    // Garbage after the tar end marker, inside the gzip stream.
    let mut t = gunzip(&b);
    t.extend_from_slice(b"hidden payload");
    rejected(&gz(&t), "<archive>", "tar-invalid");
}

#[test]
fn schema_violations_and_run_id_disagreement_are_rejected() {
    let e = with_member("r", "observation-health.json", |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s.replacen('{', "{\n  \"extra\": 1,", 1).into_bytes();
    });
    rejected(
        &bundle_of("r", &e),
        "observation-health.json",
        "schema-violation",
    );

    let e = with_member("r", "layers/kernel.ndjson", |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s.replacen("\"open\"", "\"teleport\"", 1).into_bytes();
    });
    rejected(
        &bundle_of("r", &e),
        "layers/kernel.ndjson",
        "schema-violation",
    );

    let e = with_member("r", "layers/kernel.ndjson", |b| {
        b.extend_from_slice(b"not json\n")
    });
    rejected(&bundle_of("r", &e), "layers/kernel.ndjson", "json-invalid");

    let e = with_member("r", "capability-surface.json", |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s
            .replace("\"run_id\": \"r\"", "\"run_id\": \"other\"")
            .into_bytes();
    });
    rejected(
        &bundle_of("r", &e),
        "capability-surface.json",
        "run-id-mismatch",
    );

    let e = with_member("r", "layers/kernel.ndjson", |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s.replacen("\"seq\":1,", "\"seq\":7,", 1).into_bytes();
    });
    rejected(&bundle_of("r", &e), "layers/kernel.ndjson", "inconsistent");
}

#[test]
fn inconsistent_claims_are_rejected() {
    // Health complete with drops.
    let e = with_member("r", "observation-health.json", |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["ringbuf_drops"] = 2.into();
        v["counters"]["drops_by_program"] = serde_json::json!({"open": 2});
        v["counters"]["events_attempted"] = 11.into();
        *b = serde_json::to_vec_pretty(&v).unwrap();
    });
    rejected(
        &bundle_of("r", &e),
        "observation-health.json",
        "inconsistent",
    );

    // Correlation clean despite escapes.
    let e = with_member("r", "observation-health.json", |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["counters"]["escapes"] = 1.into();
        *b = serde_json::to_vec_pretty(&v).unwrap();
    });
    rejected(
        &bundle_of("r", &e),
        "observation-health.json",
        "inconsistent",
    );

    // Complete, though a note says a channel went unobserved.
    let e = with_member("r", "observation-health.json", |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["notes"] = serde_json::json!([
            "unobserved-channel: the session used sendto x1 successfully; effects through these are not observed"
        ]);
        *b = serde_json::to_vec_pretty(&v).unwrap();
    });
    rejected(
        &bundle_of("r", &e),
        "observation-health.json",
        "inconsistent",
    );

    // A surface entry no kernel event supports.
    let e = with_member("r", "capability-surface.json", |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["network_endpoints"] = serde_json::json!(["10.0.0.1:22", "127.0.0.1:9"]);
        *b = serde_json::to_vec_pretty(&v).unwrap();
    });
    rejected(
        &bundle_of("r", &e),
        "capability-surface.json",
        "inconsistent",
    );

    // Unsorted set.
    let e = with_member("r", "capability-surface.json", |b| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["filesystem_paths"] = serde_json::json!(["<work>/out.txt", "<work>/in.txt"]);
        *b = serde_json::to_vec_pretty(&v).unwrap();
    });
    rejected(
        &bundle_of("r", &e),
        "capability-surface.json",
        "inconsistent",
    );

    // A canonical member marked diagnostic to dodge the determinism gate.
    let e = sample_entries("r");
    let mut listed = e.clone();
    listed
        .iter_mut()
        .find(|m| m.path == "capability-surface.json")
        .unwrap()
        .class = MemberClass::Diagnostic;
    rejected(
        &bundle::to_bytes(&manifest("r", &listed), &e).unwrap(),
        "capability-surface.json",
        "class-mismatch",
    );
}

#[test]
fn normalized_entries_need_an_event_they_stand_for() {
    let surface = |paths: serde_json::Value| {
        with_member("r", "capability-surface.json", |b| {
            let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
            v["filesystem_paths"] = paths;
            v["filesystem_writes"] = serde_json::json!(["<work>/<transient>", "<work>/out.txt"]);
            v["process_execs"] = serde_json::json!(["/usr/bin/**"]);
            *b = serde_json::to_vec_pretty(&v).unwrap();
        })
    };
    // `<work>/<transient>` stands for the written `<work>/out.txt`, `/usr/bin/**` for the exec.
    let ok = surface(serde_json::json!([
        "<work>/<transient>",
        "<work>/in.txt",
        "<work>/out.txt"
    ]));
    assert_eq!(problems(&bundle_of("r", &ok)), Vec::<String>::new());
    // No path under /opt was touched.
    let bad = surface(serde_json::json!([
        "/opt/**",
        "<work>/<transient>",
        "<work>/in.txt",
        "<work>/out.txt"
    ]));
    rejected(
        &bundle_of("r", &bad),
        "capability-surface.json",
        "inconsistent",
    );
    // The kernel layer may be diagnostic (a proof without strict_kernel).
    let e = sample_entries("r");
    let mut listed = e.clone();
    listed
        .iter_mut()
        .find(|m| m.path == "layers/kernel.ndjson")
        .unwrap()
        .class = MemberClass::Diagnostic;
    assert_eq!(
        problems(&bundle::to_bytes(&manifest("r", &listed), &e).unwrap()),
        Vec::<String>::new()
    );
}

/// A named destination is supported only by a connect to an address that an earned DNS answer
/// of the same kernel layer named (the rule of `surface::names`); a ClientHello's name, or an
/// answer the run was not given by the host's resolver, names nothing.
#[test]
fn named_endpoints_need_a_name_line_and_a_connect() {
    use assay_runner::contracts::kernel_event::{KernelEvent, Kind};
    let ev = |seq, process: &str, kind| KernelEvent::new("r", seq, process, kind);
    let events = vec![
        KernelEvent {
            endpoint: Some("udp:127.0.0.1:53".into()),
            name: Some("service.assay.test".into()),
            addresses: vec!["127.0.0.2".into()],
            earned: true,
            ..ev(0, "net", Kind::DnsAnswer)
        },
        KernelEvent {
            endpoint: Some("udp:127.0.0.9:53".into()),
            name: Some("forged.assay.test".into()),
            addresses: vec!["127.0.0.2".into(), "127.0.0.3".into()],
            ..ev(1, "net", Kind::DnsAnswer)
        },
        KernelEvent {
            endpoint: Some("tcp:127.0.0.3:443".into()),
            name: Some("tls.assay.test".into()),
            ..ev(2, "net", Kind::TlsClientHello)
        },
        KernelEvent {
            endpoint: Some("udp:127.0.0.1:53".into()),
            ..ev(3, "p0", Kind::Send)
        },
        KernelEvent {
            endpoint: Some("tcp:127.0.0.2:8080".into()),
            ..ev(4, "p0", Kind::NetConnect)
        },
        KernelEvent {
            endpoint: Some("tcp:127.0.0.3:443".into()),
            ..ev(5, "p0", Kind::NetConnect)
        },
    ];
    let e = assay_runner::fuzzing::entries_for("r", &events, 6, Vec::new());
    let surface = e
        .iter()
        .find(|m| m.path == "capability-surface.json")
        .unwrap()
        .body
        .to_vec()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&surface).unwrap();
    assert_eq!(
        v["network_endpoints"],
        serde_json::json!([
            "tcp:127.0.0.3:443",
            "tcp:service.assay.test:8080",
            "udp:127.0.0.1:53"
        ])
    );
    assert_eq!(problems(&bundle_of("r", &e)), Vec::<String>::new());
    // A name the layer never saw, a named port no connect reached, a name for the wrong
    // address: each unsupported.
    for forged in [
        "tcp:evil.assay.test:8080",
        "tcp:service.assay.test:9",
        "tcp:tls.assay.test:443",
        "tcp:forged.assay.test:443",
    ] {
        let mut bad = e.clone();
        let m = bad
            .iter_mut()
            .find(|m| m.path == "capability-surface.json")
            .unwrap();
        let mut v = v.clone();
        let mut list: Vec<String> = serde_json::from_value(v["network_endpoints"].clone()).unwrap();
        list.push(forged.into());
        list.sort();
        v["network_endpoints"] = serde_json::json!(list);
        *m = Entry::bytes(
            "capability-surface.json",
            serde_json::to_vec_pretty(&v).unwrap(),
            MemberClass::Canonical,
        );
        rejected(
            &bundle_of("r", &bad),
            "capability-surface.json",
            "inconsistent",
        );
    }
}

#[test]
fn decompression_bombs_and_member_floods_are_bounded() {
    let mut m = sample_raw("r");
    m.push(raw("zz-bomb", &vec![0u8; 8 << 20]));
    let b = tar_gz(&m);
    assert!(b.len() < 64 << 10, "the bomb compresses well");
    let limits = Limits {
        max_decompressed: 1 << 20,
        ..Limits::default()
    };
    let v = verify_reader("b", &b[..], &limits, Keep::Documents);
    assert!(
        v.report.problems.iter().any(|p| p.code == "too-large"),
        "{:#?}",
        v.report.problems
    );
    assert!(v.report.decompressed_bytes <= 1 << 20);

    let mut m = sample_raw("r");
    for i in 0..100 {
        m.push(raw(&format!("zz{i:03}"), b""));
    }
    rejected(&tar_gz(&m), "<archive>", "too-large");
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_exit_codes_and_json_report() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.tar.gz");
    std::fs::write(&good, sample_bundle("r")).unwrap();
    let o = cli(&["verify", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains(": valid (run r, 5 members"));

    let bad = d.path().join("bad.tar.gz");
    let b = sample_bundle("r");
    std::fs::write(&bad, &b[..b.len() - 3]).unwrap();
    let o = cli(&["verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("<archive>: gzip-truncated: "), "{out}");

    let o = cli(&["verify", bad.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "assay.runner.verify_report.v0");
    assert_eq!(v["valid"], false);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/verify_report.v0.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(jsonschema::draft202012::new(&schema).unwrap().is_valid(&v));

    let o = cli(&["verify", d.path().join("missing.tar.gz").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any single-byte corruption is rejected — or leaves every decoded byte identical (deflate
    /// can encode the same data differently: unused Huffman code lengths, padding bits; the CRC,
    /// the sizes and every member hash then still hold, so nothing a reader sees has changed).
    #[test]
    fn single_byte_corruption_never_changes_content_undetected(
        pos in any::<prop::sample::Index>(),
        x in 1u8..=255,
    ) {
        let b = sample_bundle("r");
        let mut c = b.clone();
        let i = pos.index(c.len());
        c[i] ^= x;
        let v = verify_reader("b", &c[..], &Limits::default(), Keep::Documents);
        if v.report.valid {
            prop_assert_eq!(gunzip(&c), gunzip(&b), "byte {} ^ {:#x} verified with different content", i, x);
        }
    }
}
