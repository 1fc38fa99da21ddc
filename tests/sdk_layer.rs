//! The SDK layer with real eBPF (root only): the `@openai/agents` and `@google/genai` fixtures
//! (fixtures/sdk, scripted local models, bundled by `scripts/setup`) run with `run --mode sdk`;
//! one tool call id goes from the SDK's record through the policy decision to the kernel
//! effects. A forged SDK record and ids that do not match are never clean; `cross-diff` of the
//! two runtimes is checked against a committed golden (`goldens/sdk.cross-diff.json`,
//! rewritten with `ASSAY_UPDATE_GOLDENS=1` for review).
//!
//! Kernel tests: `#[ignore]`d (cargo counts them as ignored in a plain `cargo test`) and run by
//! `scripts/test` with `--include-ignored`; once run, a host that cannot observe or missing
//! bundled fixtures fail them, naming what is missing.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
}

/// A kernel test of this file can run: root, BPF, and the bundled fixtures (scripts/setup).
fn ready() {
    support::require_kernel();
    support::require_files(&[
        "fixtures/sdk/dist/openai-agent.mjs",
        "fixtures/sdk/dist/genai-agent.mjs",
        "fixtures/policy/dist/server.mjs",
    ]);
}

/// A work dir seeded as the `sdk-*` proofs seed it.
fn work(tmp: &Path, agent: &str) -> PathBuf {
    seeded(tmp, "fixtures/sdk/dist", agent)
}

/// A work dir holding `agent` (from `dir`), the policy fixture's server and its input.
fn seeded(tmp: &Path, dir: &str, agent: &str) -> PathBuf {
    let w = tmp.join("work");
    std::fs::create_dir_all(w.join("data")).unwrap();
    std::fs::copy(repo().join(dir).join(agent), w.join(agent)).unwrap();
    std::fs::copy(
        repo().join("fixtures/policy/dist/server.mjs"),
        w.join("server.mjs"),
    )
    .unwrap();
    std::fs::copy(
        repo().join("fixtures/policy/seed/data/input.txt"),
        w.join("data/input.txt"),
    )
    .unwrap();
    w
}

struct Run {
    out: Output,
    bundle: PathBuf,
    members: BTreeMap<String, Vec<u8>>,
}

impl Run {
    fn json(&self, m: &str) -> Value {
        serde_json::from_slice(self.members.get(m).unwrap_or_else(|| panic!("no {m}"))).unwrap()
    }

    fn lines(&self, m: &str) -> Vec<Value> {
        String::from_utf8_lossy(&self.members[m])
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

/// `run --mode sdk` with a fixed run id, offline: inside an empty network namespace with only
/// loopback up (what the runtimes need for their MCP tools and local models); the bundle must
/// verify.
fn run(tmp: &Path, run_id: &str, work: &Path, cmd: &[&str]) -> Run {
    let bundle = tmp.join(format!("{run_id}.tar.gz"));
    let out = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(env!("CARGO_BIN_EXE_assay-runner"))
        .args([
            "run",
            "--mode",
            "sdk",
            "--grace-ms",
            "500",
            "--run-id",
            run_id,
            "--policy",
        ])
        .arg(repo().join("fixtures/policy/policy.yaml"))
        .arg("--work-dir")
        .arg(work)
        .arg("--out")
        .arg(&bundle)
        .arg("--")
        .args(cmd)
        .env_remove("NODE_EXTRA_CA_CERTS")
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
    Run {
        out,
        bundle,
        members,
    }
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn one_tool_call_id_runs_from_the_sdk_through_the_policy_to_the_kernel() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path(), "openai-agent.mjs");
    let r = run(
        tmp.path(),
        "sdk-test-openai",
        &w,
        &["node", "openai-agent.mjs"],
    );
    assert_eq!(
        r.out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    let h = r.json("observation-health.json");
    assert_eq!(h["kernel_layer"], "complete", "{h:#}");
    assert_eq!(h["policy_layer"], "complete", "{h:#}");
    assert_eq!(h["sdk_layer"], "complete", "{h:#}");

    // The SDK's own account: which calls, under which ids, and the installed runtime.
    let sdk = r.lines("layers/sdk.ndjson");
    assert!(
        sdk.iter()
            .all(|e| e.get("diag").is_none() && e["sdk"]["name"] == "@openai/agents")
    );
    let sdk_ids: Vec<&str> = sdk
        .iter()
        .filter(|e| e["event_type"] == "tool_call_started")
        .map(|e| e["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(sdk_ids.len(), 7, "{sdk:#?}");
    // The wrapper received the same ids in `_meta`.
    let policy = r.lines("layers/policy.ndjson");
    let policy_ids: Vec<&str> = policy
        .iter()
        .map(|p| p["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(policy_ids, sdk_ids);
    assert!(policy.iter().all(|p| p["tool_call_id_source"] == "meta"));
    // And the correlation binds each to its kernel effects.
    let c = r.json("correlation-report.json");
    assert_eq!(c["status"], "clean", "{c:#}");
    for b in c["bindings"].as_array().unwrap() {
        let id = b["tool_call_id"].as_str().unwrap();
        let want = if b["decision"] == "allow" {
            "ok"
        } else {
            "error"
        };
        assert_eq!(b["sdk_outcome"], want, "{id}");
        let effects: usize = b["effects"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_array().unwrap().len())
            .sum();
        assert_eq!(effects == 0, b["decision"] == "deny", "{id}: {b:#}");
    }
    let read = &c["bindings"][0];
    assert_eq!(read["tool_call_id"], "oa-call-1-read-input");
    assert_eq!(
        read["effects"]["filesystem_paths"],
        serde_json::json!(["<work>/data/input.txt"])
    );
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_forged_sdk_record_is_detected() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path(), "openai-agent.mjs");
    // The agent runs for real; then the command itself appends a record claiming a call that
    // never happened, with the agent's pid.
    let script = r#"node openai-agent.mjs >/dev/null || exit 1
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$ASSAY_SDK_LOG" | head -n 1)
printf '{"schema":"assay.runner.sdk_event.v0","run_id":"%s","seq":16,"event_type":"tool_call_started","tool_call_id":"forged","tool":"delete_tree","sdk":{"name":"@openai/agents","version":"0.20.0"},"diag":{"pid":%s,"monotonic_ns":1}}\n' "$ASSAY_RUN_ID" "$pid" >> "$ASSAY_SDK_LOG""#;
    let r = run(tmp.path(), "sdk-test-forged", &w, &["sh", "-c", script]);
    let h = r.json("observation-health.json");
    assert_eq!(h["sdk_layer"], "partial", "{h:#}");
    assert!(
        r.notes()
            .iter()
            .any(|n| n.starts_with("sdk-log-tampered: 2 processes wrote the SDK log")),
        "{:?}",
        r.notes()
    );
    assert_eq!(r.json("correlation-report.json")["status"], "failed");
    // The verdict of such evidence is never a pass: the same check `prove` applies.
    let health: assay_runner::contracts::health::ObservationHealth =
        serde_json::from_value(h).unwrap();
    assert!(!assay_runner::diff::health_clean(&health));
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn ids_the_sdk_and_the_wrapper_do_not_share_are_partial() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let w = work(tmp.path(), "openai-agent.mjs");
    std::fs::copy(
        repo().join("fixtures/policy/dist/client.mjs"),
        w.join("client.mjs"),
    )
    .unwrap();
    // An "agent" whose SDK records name ids the MCP client never sends (the client sends its own).
    let agent = r#"
import json, os, subprocess, time
log = open(os.environ["ASSAY_SDK_LOG"], "a")
seq = 0
def emit(t, **kw):
    global seq
    rec = {"schema": "assay.runner.sdk_event.v0", "run_id": os.environ["ASSAY_RUN_ID"], "seq": seq,
           "event_type": t, "sdk": {"name": "scripted-agent", "version": "1.0.0"},
           "diag": {"pid": os.getpid(), "monotonic_ns": time.monotonic_ns()}, **kw}
    log.write(json.dumps(rec) + "\n"); log.flush(); os.fsync(log.fileno()); seq += 1
emit("run_started")
emit("tool_call_started", tool_call_id="other-id-1", tool="read_text_file")
subprocess.run(["node", "client.mjs"], check=True, stdout=subprocess.DEVNULL)
emit("tool_call_finished", tool_call_id="other-id-1", tool="read_text_file", outcome="ok")
emit("run_finished")
"#;
    std::fs::write(w.join("agent.py"), agent).unwrap();
    let r = run(
        tmp.path(),
        "sdk-test-mismatch",
        &w,
        &["python3", "agent.py"],
    );
    let h = r.json("observation-health.json");
    assert_eq!(h["sdk_layer"], "complete", "{h:#} {:?}", r.notes());
    assert_eq!(h["policy_layer"], "complete", "{h:#}");
    let c = r.json("correlation-report.json");
    assert_eq!(c["status"], "partial", "{c:#}");
    let codes: Vec<(String, String)> = c["ambiguities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["code"].as_str().unwrap().into(),
                a["tool_call_ids"][0].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        codes.contains(&("sdk-without-policy".into(), "other-id-1".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("policy-without-sdk".into(), "call-1-read-input".into())),
        "{codes:?}"
    );
    // The kernel attribution still holds for the wrapper's calls; nothing is matched by position.
    assert!(
        c["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b.get("sdk_outcome").is_none())
    );
    assert_eq!(
        c["bindings"][0]["effects"]["filesystem_paths"],
        serde_json::json!(["<work>/data/input.txt"])
    );
}

fn cross_diff(base: &Path, head: &Path, format: &str) -> Output {
    bin()
        .args(["cross-diff", "--format", format])
        .arg(base)
        .arg(head)
        .output()
        .unwrap()
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn cross_diff_of_the_two_runtimes_matches_its_golden_and_is_idempotent() {
    ready();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let oa = run(
        &a,
        "sdk-openai",
        &work(&a, "openai-agent.mjs"),
        &["node", "openai-agent.mjs"],
    );
    let gm = run(
        &b,
        "sdk-genai",
        &work(&b, "genai-agent.mjs"),
        &["node", "genai-agent.mjs"],
    );

    // The same bundle on both sides: nothing added or removed, and the same output twice.
    let same = cross_diff(&oa.bundle, &oa.bundle, "json");
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let d: Value = serde_json::from_slice(&same.stdout).unwrap();
    assert_eq!(d["status"], "same");
    assert_eq!(changes(&d), 0);
    assert_eq!(
        cross_diff(&oa.bundle, &oa.bundle, "json").stdout,
        same.stdout
    );

    // The two runtimes: the canonical part and the runtimes are the reviewed golden.
    let out = cross_diff(&oa.bundle, &gm.bundle, "json");
    let d: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let reviewed = serde_json::json!({
        "status": d["status"],
        "canonical": d["canonical"],
        "runtimes": [d["diagnostic"]["base_sdk"], d["diagnostic"]["head_sdk"]],
        "non_claims": d["non_claims"],
    });
    let text = serde_json::to_string_pretty(&reviewed).unwrap() + "\n";
    let golden = repo().join("goldens/sdk.cross-diff.json");
    if std::env::var("ASSAY_UPDATE_GOLDENS").as_deref() == Ok("1") {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        want == text,
        "cross-diff of the two runtimes changed; review and rerun with ASSAY_UPDATE_GOLDENS=1:\n{}",
        similar::TextDiff::from_lines(&want, &text)
            .unified_diff()
            .header("golden", "now")
    );
    let code = out.status.code();
    match d["status"].as_str() {
        Some("same") => assert_eq!(code, Some(0)),
        Some("different") => assert_eq!(code, Some(1)),
        _ => assert_eq!(code, Some(4)),
    }
    // The runtime's own transport is set aside, never compared.
    let aside = serde_json::to_string(&d["diagnostic"]["set_aside"]).unwrap();
    assert!(aside.contains("127.0.0.1:18089"), "{aside}");
    assert!(
        !serde_json::to_string(&d["canonical"])
            .unwrap()
            .contains("18089")
    );
}

/// Entries added or removed in a cross-diff's canonical part (tools and per-tool effects).
fn changes(d: &Value) -> usize {
    let mut n = 0;
    let mut count = |c: &Value| {
        n += c["added"].as_array().unwrap().len() + c["removed"].as_array().unwrap().len()
    };
    d["canonical"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(&mut count);
    for t in d["canonical"]["per_tool"].as_array().unwrap() {
        t["effects"].as_array().unwrap().iter().for_each(&mut count);
    }
    n
}

/// The venv `scripts/setup` makes for the Python fixtures (`ASSAY_SDK_PYTHON_VENV`).
const SDK_PYTHON: &str = "/opt/assay-runner/sdk-python/bin/python";

/// A work dir seeded as the `sdk-python-*` proofs seed it.
fn python_work(tmp: &Path, agent: &str) -> PathBuf {
    seeded(tmp, "fixtures/sdk-python", agent)
}

/// The same task in JavaScript and in Python, for each runtime family (`@openai/agents` and
/// `openai-agents`, `@google/genai` and `google-genai`): `cross-diff` finds the same tools with
/// the same kernel effects each; only the runtimes (diagnostic) differ.
#[test]
#[ignore = "kernel test: needs root, BPF and the bundled fixtures; scripts/test runs it (cargo test -- --include-ignored)"]
fn javascript_and_python_runs_of_a_task_have_the_same_tool_surface() {
    ready();
    support::require_files(&[SDK_PYTHON]);
    for (js, py) in [
        ("openai-agent.mjs", "openai_agent.py"),
        ("genai-agent.mjs", "genai_agent.py"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("js"), tmp.path().join("py"));
        let j = run(&a, "sdk-js", &work(&a, js), &["node", js]);
        let p = run(&b, "sdk-py", &python_work(&b, py), &[SDK_PYTHON, py]);
        for r in [&j, &p] {
            assert_eq!(
                r.json("observation-health.json")["sdk_layer"],
                "complete",
                "{:#?}",
                r.notes()
            );
        }
        let out = cross_diff(&j.bundle, &p.bundle, "json");
        let d: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(changes(&d), 0, "{js} vs {py}: {:#}", d["canonical"]);
        assert_eq!(d["status"], "same", "{js} vs {py}: {d:#}");
        assert_eq!(out.status.code(), Some(0));
        let tools = d["canonical"]["tools"].as_array().unwrap();
        assert!(!tools.is_empty(), "{js} vs {py}: no tool compared");
        assert_ne!(
            d["diagnostic"]["base_sdk"], d["diagnostic"]["head_sdk"],
            "the runtimes differ (diagnostic only)"
        );
    }
}

#[test]
fn cross_diff_refuses_what_it_cannot_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.tar.gz");
    std::fs::write(&junk, b"not a bundle").unwrap();
    let out = cross_diff(&junk, &junk, "human");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.tar.gz"));
    // A valid bundle of a kernel-only run has no layers to compare.
    let kernel = tmp.path().join("kernel.tar.gz");
    std::fs::write(&kernel, assay_runner::fuzzing::sample_bundle("k")).unwrap();
    let v = assay_runner::verify::verify_path(
        &kernel,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap();
    assert!(v.ok(), "{:?}", v.report.problems);
    let out = cross_diff(&kernel, &kernel, "json");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no correlation-report.json") && err.contains("--mode sdk"),
        "{err}"
    );
}

/// The model's parallelism changes nothing the kernel saw: each `sdk-*-parallel` proof's golden
/// (the model asks for all seven calls at once; `mcp-wrap` forwards them one at a time) is its
/// serial twin's golden, byte for byte but for the proof's name (its run id and run dir).
#[test]
fn parallel_goldens_are_their_serial_twins() {
    for base in [
        "sdk-openai",
        "sdk-genai",
        "sdk-python-openai",
        "sdk-python-genai",
    ] {
        let read = |name: &str| {
            let p = repo().join(format!("goldens/{name}.surface.json"));
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let parallel = read(&format!("{base}-parallel"));
        assert!(
            parallel.contains(&format!("{base}-parallel")),
            "{base}-parallel names itself"
        );
        assert_eq!(
            parallel.replace(&format!("{base}-parallel"), base),
            read(base),
            "goldens/{base}-parallel.surface.json differs from goldens/{base}.surface.json"
        );
    }
}
