//! The offline HTML report in a real browser: Debian's Chromium, driven by pinned
//! `playwright-core` (`tests/browser/check-report.mjs`), opens the page from `file://` with the
//! network off and checks no console error, no request, the added entry shown with its process
//! chain (and tool call), the process tree expanding, the filter narrowing, and the summary
//! readable without JavaScript; each check keeps a screenshot under `target/browser-shots/`.
//!
//! `prove` writes the report of a real run (a kernel test, `#[ignore]`d, run by
//! `scripts/test`); a report with tool calls is rendered from evidence made here. Needs
//! `scripts/setup` (chromium, `tests/browser/node_modules`): a missing part fails the test.

mod support;
use support::cli;

use std::path::{Path, PathBuf};
use std::process::Command;

use assay_runner::contracts::kernel_event::{KernelEvent, Kind};
use assay_runner::html::{Budget, Processes, ProofEvidence};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the browser check of `report` against `expect`; panics with its output on failure.
fn browser_check(report: &Path, expect: &Value, name: &str) {
    support::require_files(&["tests/browser/node_modules/playwright-core"]);
    let chromium = std::env::var("ASSAY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/setup (apt chromium)"
    );
    let shots = root().join("target/browser-shots");
    std::fs::create_dir_all(&shots).unwrap();
    let exp = report.with_extension("expect.json");
    std::fs::write(&exp, expect.to_string()).unwrap();
    let o = Command::new("node")
        .arg(root().join("tests/browser/check-report.mjs"))
        .arg(report)
        .arg(&exp)
        .arg(shots.join(format!("{name}.png")))
        .env("ASSAY_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(out.starts_with("browser: ok ("), "{out}");
}

fn data(page: &str) -> Value {
    let start = page.find("id=\"assay-data\">").unwrap() + "id=\"assay-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

/// A project with the demo fixture as proof `demo`, its golden accepted, then a change that
/// makes a shell write a new file.
fn changed_demo() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_path_buf();
    let fx = root().join("fixtures/kernel");
    std::fs::create_dir_all(d.join("fx")).unwrap();
    std::fs::copy(fx.join("demo.sh"), d.join("fx/demo.sh")).unwrap();
    std::fs::copy(fx.join("seed/input.txt"), d.join("fx/input.txt")).unwrap();
    std::fs::write(
        d.join("proofs.yaml"),
        "proofs:\n  - name: demo\n    command: [./demo.sh]\n    seed: [fx/demo.sh, fx/input.txt]\n    golden: goldens/demo.surface.json\nlanes:\n  kernel-only: [demo]\n",
    )
    .unwrap();
    let o = cli(&d, &["prove", "--all", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let o = cli(&d, &["golden", "accept", "demo"]);
    assert!(o.status.success(), "{o:?}");
    let script = std::fs::read_to_string(d.join("fx/demo.sh")).unwrap();
    std::fs::write(
        d.join("fx/demo.sh"),
        script.replace(
            "rm out/greeting.txt",
            "rm out/greeting.txt\nsh -c 'echo x > out/new.txt'",
        ),
    )
    .unwrap();
    (t, d)
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn proves_report_of_a_changed_run_opens_offline_and_says_who() {
    support::require_kernel();
    let (_t, d) = changed_demo();
    let o = cli(&d, &["prove", "--all", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let html = d.join(".assay/proofs/report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    // `report --html` draws the same page from the same verdict and bundle
    let o = cli(
        &d,
        &[
            "report",
            ".assay/proofs/verdict.json",
            "--html",
            "again.html",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(std::fs::read_to_string(d.join("again.html")).unwrap(), page);
    let v = data(&page);
    let proof = &v["proofs"][0];
    let sh = proof["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["program"] == "/usr/bin/dash")
        .unwrap_or_else(|| panic!("no dash process drawn: {proof:#}"));
    let added: Vec<&Value> = proof["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["entry"] == "<work>/out/new.txt")
        .collect();
    assert_eq!(added.len(), 2, "{proof:#}");
    for c in &added {
        assert_eq!(
            c["chain"],
            json!(["/usr/bin/dash", "/usr/bin/bash"]),
            "{c:#}"
        );
        assert_eq!(c["process"], sh["label"]);
    }
    assert!(page.len() < assay_runner::html::MAX_BYTES);
    browser_check(
        &html,
        &json!({
            "added": [{"proof": "demo", "entry": "<work>/out/new.txt",
                       "chain_contains": "/usr/bin/dash ← /usr/bin/bash", "tool_call": null}],
            "process": sh["label"],
            "filter": {"query": "new.txt", "visible_entries": 2}
        }),
        "prove-demo-changed",
    );
}

/// Tool calls and an effect outside every call, from evidence built here: the added endpoint
/// names its call, the timeline lists each call and the unattributed group.
#[test]
fn a_report_with_tool_calls_opens_offline() {
    let diff = json!({
        "schema": assay_runner::contracts::capability_diff::SCHEMA, "run_id": "r", "status": "clean",
        "changed": true,
        "base": {"kind": "golden", "source": "goldens/agent.surface.json", "run_id": "r", "health_clean": true},
        "head": {"kind": "bundle", "source": "b.tar.gz", "run_id": "r", "health_clean": true},
        "categories": [{"category": "network_endpoints", "added": ["tcp:evil.example:443"], "removed": [], "unchanged": []}],
        "golden_lines": [],
        "explanations": [{"category": "network_endpoints", "change": "added", "entry": "tcp:evil.example:443",
            "seq": 5, "exact": "tcp:evil.example:443", "process": "p0/node#1/curl#1",
            "chain": ["/usr/bin/curl", "/usr/bin/node", "/usr/bin/bash"],
            "tool_calls": [{"id": "c1", "tool": "fetch", "decision": "allow", "rule": "net", "server": "p0/node#1"}],
            "outside_tool_calls": false,
            "line": "← /usr/bin/curl ← /usr/bin/node ← /usr/bin/bash (p0/node#1/curl#1, kernel line 5); tool call c1 fetch: allow by net"}],
        "notes": []
    });
    let v = serde_json::from_value(json!({
        "schema": assay_runner::contracts::verdict::SCHEMA, "run_id": "lane:agents", "lane": "agents", "verdict": "fail",
        "proofs": [{"name": "agent", "verdict": "fail", "reasons": ["surface-changed: 1 entry added"],
            "runs": 1, "deterministic": true, "bundle": "b.tar.gz", "golden": "goldens/agent.surface.json",
            "pending": null,
            "health": {"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0},
            "diff": diff}]
    }))
    .unwrap();
    let ev = |seq, p: &str, kind, path: &str| {
        let mut e = KernelEvent::new("r", seq, p, kind);
        e.path = Some(path.into());
        e.result = "ok".into();
        e
    };
    let mut processes = Processes::new(Budget::default());
    for e in [
        ev(0, "p0", Kind::Exec, "/usr/bin/bash"),
        ev(1, "p0/node#1", Kind::Exec, "/usr/bin/node"),
        ev(2, "p0/node#1/curl#1", Kind::Exec, "/usr/bin/curl"),
    ] {
        processes.event(&e);
    }
    let effects = |eps: &[&str], paths: &[&str]| {
        json!({"filesystem_paths": paths, "filesystem_writes": [],
        "network_endpoints": eps, "process_execs": []})
    };
    let correlation = serde_json::from_value(json!({
        "schema": assay_runner::contracts::correlation_report::SCHEMA, "run_id": "r", "status": "clean",
        "bindings": [
            {"tool_call_id": "c1", "tool": "fetch", "decision": "allow", "rule": "net", "outcome": "ok",
             "server": "p0/node#1", "effects": effects(&["tcp:evil.example:443"], &[])},
            {"tool_call_id": "c2", "tool": "rm", "decision": "deny", "rule": "never", "outcome": "denied",
             "server": "", "effects": effects(&[], &[])}],
        "unattributed": effects(&[], &["<work>/startup.json"]), "ambiguities": []
    }))
    .unwrap();
    let page = assay_runner::html::render(
        &v,
        &[Some(ProofEvidence {
            processes,
            correlation: Some(correlation),
        })],
        Budget::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report with tool calls.html");
    std::fs::write(&html, page).unwrap();
    browser_check(
        &html,
        &json!({
            "added": [{"proof": "agent", "entry": "tcp:evil.example:443",
                       "chain_contains": "/usr/bin/curl ← /usr/bin/node", "tool_call": "c1"}],
            "process": "p0/node#1/curl#1",
            "filter": {"query": "evil", "visible_entries": 1, "visible_tool_calls": 1}
        }),
        "tool-calls",
    );
}

/// The report reads a bundle twice (verify, then its kernel layer as a stream): the second
/// read must be of the bytes verified, or nothing of it is used.
#[test]
fn a_bundle_swapped_after_it_was_verified_is_not_drawn_from() {
    use assay_runner::verify::{self, Keep, Limits, ReplayError};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.tar.gz");
    std::fs::write(&path, assay_runner::fuzzing::sample_bundle("r1")).unwrap();
    let v = verify::verify_path(&path, &Limits::default(), Keep::Documents).unwrap();
    assert!(v.ok());
    let sha = v.report.bundle_sha256.clone().unwrap();
    let mut n = 0;
    verify::replay_kernel(&path, &sha, &Limits::default(), &mut |_| n += 1).unwrap();
    let lines = v
        .report
        .members
        .iter()
        .find(|m| m.path == "layers/kernel.ndjson")
        .unwrap();
    assert!(n > 0 && lines.bytes > 0);
    // another valid bundle in its place
    std::fs::write(&path, assay_runner::fuzzing::sample_bundle("r2")).unwrap();
    let e = verify::replay_kernel(&path, &sha, &Limits::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, ReplayError::Changed { .. }), "{e}");
    // a line over the limit is refused before any hash is known
    let tiny = Limits {
        max_line: 8,
        ..Limits::default()
    };
    let e = verify::replay_kernel(&path, &sha, &tiny, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("is longer than 8 bytes"), "{e}");
    // and a bundle that does not verify gives the page no evidence
    let mut b = std::fs::read(&path).unwrap();
    b.truncate(b.len() - 9);
    std::fs::write(&path, b).unwrap();
    assert!(assay_runner::html::evidence(&path, Budget::default()).is_none());
}
