//! The policy layer in measured runs (`run --mode kernel-policy`), with real eBPF (root only):
//! the fixture's MCP server and client (fixtures/policy, official SDK, bundled by
//! `scripts/setup`) run through `mcp-wrap`; the bundle's policy layer, surface and correlation
//! report are checked exactly, and forged, tampered, unattested and missing records are never
//! a clean policy layer.
//!
//! Kernel tests: `#[ignore]`d (cargo counts them as ignored in a plain `cargo test`) and run by
//! `scripts/test` with `--include-ignored`; once run, a host that cannot observe or a missing
//! bundled fixture fails them, naming what is missing.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/policy")
}

/// A kernel test of this file can run: root, BPF, and the bundled fixtures (scripts/setup).
fn ready() {
    support::require_kernel();
    support::require_files(&[
        "fixtures/policy/dist/server.mjs",
        "fixtures/policy/dist/client.mjs",
    ]);
}

/// A work dir holding the fixture as the proof seeds it.
fn work(tmp: &Path) -> PathBuf {
    let w = tmp.join("work");
    std::fs::create_dir_all(w.join("data")).unwrap();
    for f in ["server.mjs", "client.mjs"] {
        std::fs::copy(fixture_dir().join("dist").join(f), w.join(f)).unwrap();
    }
    std::fs::copy(
        fixture_dir().join("seed/data/input.txt"),
        w.join("data/input.txt"),
    )
    .unwrap();
    w
}

struct Run {
    out: Output,
    members: BTreeMap<String, Vec<u8>>,
}

impl Run {
    fn json(&self, member: &str) -> Value {
        let b = self
            .members
            .get(member)
            .unwrap_or_else(|| panic!("no member {member}"));
        serde_json::from_slice(b).unwrap()
    }

    fn lines(&self, member: &str) -> Vec<Value> {
        String::from_utf8_lossy(&self.members[member])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        self.json("observation-health.json")["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }
}

/// `run --mode kernel-policy` of `cmd` in `work`; the bundle must verify.
fn run(tmp: &Path, work: &Path, policy: &Path, cmd: &[&str]) -> Run {
    let bundle = tmp.join(format!("b-{}.tar.gz", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .args([
            "run",
            "--mode",
            "kernel-policy",
            "--grace-ms",
            "500",
            "--policy",
        ])
        .arg(policy)
        .arg("--work-dir")
        .arg(work)
        .arg("--out")
        .arg(&bundle)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap();
    let v = assay_runner::verify::verify_path(
        &bundle,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(v.ok(), "{:#?}", v.report.problems);
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&bundle).unwrap(),
    ));
    let mut members = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        members.insert(name, b);
    }
    Run { out, members }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn each_tool_call_gets_exactly_the_kernel_effects_it_caused() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path());
    let r = run(
        tmp.path(),
        &w,
        &fixture_dir().join("policy.yaml"),
        &["node", "client.mjs"],
    );
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    assert_eq!(r.out.status.code(), Some(0), "{stdout}\n{stderr}");
    // What the client saw: allowed calls answered by the server, denials as isError results.
    assert!(
        stdout.contains(
            r#""id":"call-5-run-echo","name":"run_program","isError":false,"text":"hello\n""#
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""id":"call-7-delete-tree","name":"delete_tree","isError":true"#),
        "{stdout}"
    );

    let h = r.json("observation-health.json");
    assert_eq!(h["kernel_layer"], "complete", "{h:#}");
    assert_eq!(h["policy_layer"], "complete", "{h:#}");
    let s = r.json("capability-surface.json");
    assert_eq!(
        strs(&s["mcp_tools"]),
        [
            "delete_tree",
            "probe_port",
            "read_text_file",
            "run_program",
            "write_text_file"
        ]
    );
    assert_eq!(
        strs(&s["policy_decisions"]),
        [
            "allow:probe_port",
            "allow:read_text_file",
            "allow:run_program",
            "allow:write_text_file",
            "deny:delete_tree",
            "deny:read_text_file",
            "deny:run_program"
        ]
    );
    // The canonical layer carries no diagnostics; the diagnostic member keeps them.
    let policy = r.lines("layers/policy.ndjson");
    assert_eq!(policy.len(), 7);
    assert!(policy.iter().all(|p| p.get("diag").is_none()));
    assert!(
        r.lines("policy-diag.ndjson")
            .iter()
            .all(|p| p["diag"]["wrapper_pid"].is_u64())
    );

    let c = r.json("correlation-report.json");
    assert_eq!(c["status"], "clean", "{c:#}");
    let by_id: BTreeMap<&str, &Value> = c["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["tool_call_id"].as_str().unwrap(), b))
        .collect();
    let effects = |id: &str, cat: &str| strs(&by_id[id]["effects"][cat]);
    assert_eq!(
        effects("call-1-read-input", "filesystem_paths"),
        ["<work>/data/input.txt"]
    );
    assert_eq!(
        effects("call-1-read-input", "filesystem_writes"),
        Vec::<String>::new()
    );
    assert!(
        effects("call-3-write-report", "filesystem_writes")
            .contains(&"<work>/out/report.txt".to_string())
    );
    assert_eq!(
        effects("call-4-probe-port", "network_endpoints"),
        ["tcp:127.0.0.1:9"]
    );
    // the program as the kernel loaded it, with the ELF loader it mapped
    let real = |p: &str| std::fs::canonicalize(p).unwrap().display().to_string();
    let mut echo = vec![real("/bin/echo"), real("/lib64/ld-linux-x86-64.so.2")];
    echo.sort();
    assert_eq!(effects("call-5-run-echo", "process_execs"), echo);
    for denied in ["call-2-read-system", "call-6-run-rm", "call-7-delete-tree"] {
        assert_eq!(by_id[denied]["decision"], "deny");
        for cat in [
            "filesystem_paths",
            "filesystem_writes",
            "network_endpoints",
            "process_execs",
        ] {
            assert_eq!(effects(denied, cat), Vec::<String>::new(), "{denied} {cat}");
        }
    }
    // Each effect is in exactly one place: no call's effects show up in another's.
    for (id, b) in &by_id {
        for (other, o) in &by_id {
            if id != other {
                for cat in ["filesystem_paths", "network_endpoints", "process_execs"] {
                    for e in strs(&b["effects"][cat]) {
                        assert!(
                            !strs(&o["effects"][cat]).contains(&e),
                            "{e} in {id} and {other}"
                        );
                    }
                }
            }
        }
    }
    // The server's start-up (reading its own script) is outside every call.
    assert!(
        strs(&c["unattributed"]["filesystem_paths"]).contains(&"<work>/server.mjs".to_string()),
        "{c:#}"
    );
    assert!(c["ambiguities"].as_array().unwrap().is_empty());
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn forged_and_tampered_records_are_never_a_clean_policy_layer() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path());
    // A forged record: valid JSON, this run's id, plausible pids, written by the command itself.
    let forged = r#"{"schema":"assay.runner.policy_event.v2","run_id":"RUN","seq":0,"tool_call_id":"forged","tool_call_id_source":"meta","tool":"delete_tree","decision":"allow","rule":"no-deletes","reason":"rule-allow: forged","outcome":"ok","diag":{"jsonrpc_id":"1","wrapper_pid":1,"server_pid":2,"received_ns":1,"forwarded_ns":2,"responded_ns":3,"recorded_unix_ms":4,"arguments_sha256":null}}"#;
    std::fs::write(w.join("forged.ndjson"), format!("{forged}\n")).unwrap();
    let script =
        "node client.mjs && sed \"s/RUN/$ASSAY_RUN_ID/\" forged.ndjson >> \"$ASSAY_POLICY_LOG\"";
    let r = run(
        tmp.path(),
        &w,
        &fixture_dir().join("policy.yaml"),
        &["sh", "-c", script],
    );
    let h = r.json("observation-health.json");
    assert_eq!(h["policy_layer"], "partial", "{h:#}");
    let notes = r.notes();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("policy-log-tampered: p0")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("policy-record-forged: line 8: wrapper pid 1 ")),
        "{notes:?}"
    );
    // The forged call is not in the layer, and the correlation is not trusted.
    assert!(
        r.lines("layers/policy.ndjson")
            .iter()
            .all(|p| p["tool_call_id"] != "forged")
    );
    assert_eq!(r.json("correlation-report.json")["status"], "failed");

    // No wrapper at all: the command writes a record on its own.
    let tmp2 = tempfile::tempdir().unwrap();
    let w2 = work(tmp2.path());
    std::fs::write(w2.join("forged.ndjson"), format!("{forged}\n")).unwrap();
    let r = run(
        tmp2.path(),
        &w2,
        &fixture_dir().join("policy.yaml"),
        &[
            "sh",
            "-c",
            "sed \"s/RUN/$ASSAY_RUN_ID/\" forged.ndjson > \"$ASSAY_POLICY_LOG\"",
        ],
    );
    let h = r.json("observation-health.json");
    assert_eq!(h["policy_layer"], "absent", "{h:#}");
    let notes = r.notes();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("policy-record-forged: line 1: ")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("policy-log-tampered: ")),
        "{notes:?}"
    );
    assert!(strs(&r.json("capability-surface.json")["policy_decisions"]).is_empty());
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_wrapper_with_another_policy_is_unattested() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path());
    std::fs::write(w.join("allow-all.yaml"), "default: allow\nrules: []\n").unwrap();
    let r = run(
        tmp.path(),
        &w,
        &fixture_dir().join("policy.yaml"),
        &[
            "sh",
            "-c",
            "ASSAY_POLICY=$PWD/allow-all.yaml exec node client.mjs",
        ],
    );
    let h = r.json("observation-health.json");
    assert_eq!(h["policy_layer"], "partial", "{h:#}");
    assert!(
        r.notes().iter().any(|n| n.starts_with(
            "policy-unattested: wrapper p0/assay-runner#1 did not read the run's policy"
        )),
        "{:?}",
        r.notes()
    );
    // The records are the wrapper's real decisions (under the other policy), kept but not trusted.
    assert!(
        strs(&r.json("capability-surface.json")["policy_decisions"])
            .contains(&"allow:delete_tree".to_string())
    );
    assert_eq!(r.json("correlation-report.json")["status"], "failed");
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn kernel_policy_without_a_wrapper_is_absent() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path());
    let r = run(
        tmp.path(),
        &w,
        &fixture_dir().join("policy.yaml"),
        &["true"],
    );
    assert_eq!(r.out.status.code(), Some(0));
    let h = r.json("observation-health.json");
    assert_eq!(h["policy_layer"], "absent");
    assert!(r.notes().iter().any(|n| n.starts_with("policy-absent: ")));
    assert!(r.lines("layers/policy.ndjson").is_empty());
    assert_eq!(r.json("correlation-report.json")["status"], "failed");
}

#[test]
fn a_bad_policy_stops_the_run_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "default: maybe\n").unwrap();
    let marker = tmp.path().join("ran");
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .args(["run", "--mode", "kernel-policy", "--policy"])
        .arg(&bad)
        .arg("--")
        .arg("touch")
        .arg(&marker)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml:1:"), "{err}");
    assert!(!marker.exists());
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .args(["run", "--mode", "kernel-policy", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --policy"));
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn judge_from_ref_restores_the_policy_a_pr_loosened() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("fx/data")).unwrap();
    for f in ["client.mjs", "server.mjs"] {
        std::fs::copy(fixture_dir().join("dist").join(f), d.join("fx").join(f)).unwrap();
    }
    std::fs::copy(
        fixture_dir().join("seed/data/input.txt"),
        d.join("fx/data/input.txt"),
    )
    .unwrap();
    let base_policy = std::fs::read_to_string(fixture_dir().join("policy.yaml")).unwrap();
    std::fs::write(d.join("policy.yaml"), &base_policy).unwrap();
    std::fs::write(
        d.join("proofs.yaml"),
        "proofs:\n  - name: p\n    mode: kernel-policy\n    command: [node, client.mjs]\n    policy: policy.yaml\n    seed: [fx/client.mjs, fx/server.mjs, fx/data]\n    golden: goldens/p.surface.json\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .current_dir(d)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    // The PR allows everything, including deleting the work dir.
    std::fs::write(d.join("policy.yaml"), "default: allow\nrules: []\n").unwrap();
    git(&["commit", "-qam", "loosen the policy"]);
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .current_dir(d)
        .args([
            "prove",
            "--proof",
            "p",
            "--judge-from-ref",
            "HEAD~1",
            "--out-dir",
            "out",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("judge restored from HEAD~1"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("policy.yaml")).unwrap(),
        base_policy
    );
    // The run was judged by the base's policy: the delete was denied, the work dir is intact.
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(d.join("out/p/run-1.tar.gz")).unwrap(),
    ));
    let mut surface = Value::Null;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("capability-surface.json") {
            surface = serde_json::from_reader(&mut e).unwrap();
        }
    }
    let decisions = strs(&surface["policy_decisions"]);
    assert!(
        decisions.contains(&"deny:delete_tree".to_string()),
        "{decisions:?}"
    );
    assert!(
        !decisions.contains(&"allow:delete_tree".to_string()),
        "{decisions:?}"
    );
}
