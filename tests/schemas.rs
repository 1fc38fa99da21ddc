//! The published JSON Schemas (`schemas/`) agree with the contract types.
//!
//! 1. Each file is exactly what the types generate (`ASSAY_UPDATE_SCHEMAS=1` rewrites them).
//! 2. Each is a valid JSON Schema 2020-12 and compiles.
//! 3. Both directions on many instances: typed instances serialize to JSON that the schema
//!    accepts; systematic mutations (unknown property in every object, every required property
//!    removed, wrong type for every value, wrong schema id, out-of-vocabulary strings) are
//!    rejected by the schema whenever serde rejects them — the schema is never looser than the
//!    types — and vocabulary/const/pattern mutations are rejected even where serde is lax.

use assay_runner::contracts::{CONTRACTS, Contract};
use serde_json::{Value, json};

fn validator(c: &Contract) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(c.published)
        .unwrap_or_else(|e| panic!("schemas/{}: {e}", c.schema_file()));
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("schemas/{} does not compile: {e}", c.schema_file()))
}

#[test]
fn published_schemas_are_generated_from_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let update = std::env::var_os("ASSAY_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for c in CONTRACTS {
        let want = c.generate_text();
        if c.published != want {
            if update {
                std::fs::write(dir.join(c.schema_file()), &want).unwrap();
            }
            stale.push(c.name);
        }
    }
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for f in &files {
        let known = CONTRACTS.iter().any(|c| *f == c.schema_file());
        assert!(known, "schemas/{f} belongs to no contract");
    }
    assert!(
        stale.is_empty() || update,
        "schemas out of date for {stale:?}: run `ASSAY_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit"
    );
}

#[test]
fn published_schemas_are_valid_2020_12_with_id_and_const() {
    for c in CONTRACTS {
        let s: Value = serde_json::from_str(c.published).unwrap();
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            c.name
        );
        assert_eq!(s["$id"], format!("urn:{}", c.id));
        jsonschema::meta::validate(&s)
            .unwrap_or_else(|e| panic!("{}: not a valid 2020-12 schema: {e}", c.name));
        validator(c);
        assert!(
            c.published.contains(&format!("\"const\": \"{}\"", c.id)),
            "{}: the schema id must be a const",
            c.name
        );
    }
}

fn sha() -> String {
    format!("sha256:{}", "ab".repeat(32))
}

/// Valid instances of every contract, covering optional fields present and absent.
fn instances(name: &str) -> Vec<Value> {
    let health = |kernel: &str, drops: u64| {
        json!({
            "schema": "assay.runner.observation_health.v4", "run_id": "r",
            "platform": {"os": "linux", "arch": "x86_64", "btf": true, "bpf_object": "clang"},
            "kernel_layer": kernel, "ringbuf_drops": drops,
            "policy_layer": "not_applicable", "sdk_layer": "absent",
            "cgroup_correlation": "clean",
            "counters": {"events_attempted": 10, "events_received": 10,
                "drops_by_program": {"exec": 0, "open": drops},
                "track_failures": 0, "parse_errors": 0,
                "filtered_noise": {"filesystem_paths": 3}, "escapes": 0, "grace_kills": 1,
                "unresolved_paths": 0, "truncated_paths": 0, "read_faults": 0, "attach_failures": 0},
            "notes": ["ringbuf-drops: 3 events lost"]
        })
    };
    let surface = json!({
        "schema": "assay.runner.capability_surface.v3", "run_id": "r",
        "filesystem_paths": ["<work>/a", "<work>/b"], "filesystem_writes": ["<work>/b"],
        "network_endpoints": ["tcp:127.0.0.1:9", "tcp:service.assay.test:80", "udp:[::1]:53"],
        "network_local": ["bind:udp:0.0.0.0:0", "listen:tcp:127.0.0.1:8080"],
        "process_execs": ["/usr/bin/cat"],
        "mcp_tools": [], "policy_decisions": []
    });
    let diff = json!({
        "schema": "assay.runner.capability_diff.v2", "run_id": "r", "status": "partial:health",
        "changed": true,
        "base": {"kind": "golden", "source": "goldens/x.surface.json", "run_id": "x", "health_clean": true},
        "head": {"kind": "bundle", "source": "x.tar.gz", "run_id": "x", "health_clean": false},
        "categories": [{"category": "filesystem_paths", "added": ["<work>/c"], "removed": [], "unchanged": ["<work>/a"]}],
        "golden_lines": [{"line": 4, "category": "filesystem_paths", "change": "added", "entry": "<work>/c"}],
        "explanations": [{"category": "filesystem_paths", "change": "added", "entry": "<work>/c",
            "seq": 7, "exact": "<work>/c", "process": "p0/sh#1", "chain": ["/usr/bin/dash", "/usr/bin/bash"],
            "tool_calls": [{"id": "c1", "tool": "write", "decision": "allow", "rule": "w", "server": "fs"}],
            "outside_tool_calls": false,
            "line": "← /usr/bin/dash ← /usr/bin/bash (p0/sh#1, kernel line 7); tool call c1 write: allow by w"}],
        "notes": ["head-health: kernel_layer is partial_ringbuf_drops"]
    });
    match name {
        "lane_decision" => vec![json!({
            "schema": "assay.runner.lane_decision.v0", "config": "lanes/lanes.yaml",
            "lanes": ["none", "all"], "lane": "all",
            "files": [{"path": "a", "change": "renamed_to", "lane": "all", "rules": ["r"]}]
        })],
        "kernel_event" => vec![
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 0,
                "process": "p0", "kind": "open", "path": "<work>/a", "access": "write",
                "flags": ["create", "trunc"], "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 1,
                "process": "p0", "kind": "connect", "endpoint": "127.0.0.1:9",
                "result": "ECONNREFUSED", "escaped": true}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 2,
                "process": "p0", "kind": "fork", "child": "p0/1", "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 3,
                "process": "p0", "kind": "rename", "path": "<work>/a", "path2": "<work>/b",
                "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 4,
                "process": "p0", "kind": "exit", "exit_code": 256, "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 5,
                "process": "p0", "kind": "send", "endpoint": "udp:[::1]:53", "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 6,
                "process": "p0", "kind": "listen", "endpoint": "tcp:0.0.0.0:8080",
                "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 7,
                "process": "net", "kind": "dns_answer", "endpoint": "udp:127.0.0.1:53",
                "name": "service.assay.test", "addresses": ["127.0.0.2", "::1"], "result": "ok"}),
            json!({"schema": "assay.runner.kernel_event.v5", "run_id": "r", "seq": 8,
                "process": "net", "kind": "tls_client_hello", "endpoint": "tcp:127.0.0.1:443",
                "name": "tls.assay.test", "result": "ok"}),
        ],
        "run_event" => vec![
            json!({"event": "run_started", "schema": "assay.runner.run_event.v1", "run_id": "r",
                "seq": 0, "argv": ["sh"], "env_keys": ["HOME", "PATH"], "work_dir": "/w",
                "uid": 0, "started_unix_ms": 1}),
            json!({"event": "process", "schema": "assay.runner.run_event.v1", "run_id": "r",
                "seq": 1, "label": "p0", "pid": 7, "ppid": null, "exec": "/bin/sh",
                "first_ns": 1, "exit_ns": 2}),
            json!({"event": "run_finished", "schema": "assay.runner.run_event.v1", "run_id": "r",
                "seq": 2, "end": "exited", "exit_code": 0, "signal": null, "runner_exit": 0,
                "duration_ms": 5, "runner_max_rss_kib": 1000}),
        ],
        "observation_health" => vec![health("complete", 0), health("partial_ringbuf_drops", 3)],
        "capability_surface" => vec![surface],
        "archive_manifest" => vec![json!({
            "schema": "assay.runner.archive_manifest.v0", "run_id": "r",
            "members": [{"path": "capability-surface.json", "bytes": 10, "sha256": sha(), "class": "canonical"},
                        {"path": "events.ndjson", "bytes": 0, "sha256": sha(), "class": "diagnostic"}]
        })],
        "capability_diff" => vec![diff.clone()],
        "verdict" => vec![json!({
            "schema": "assay.runner.verdict.v4", "run_id": "all", "lane": null, "verdict": "fail",
            "proofs": [{"name": "demo", "verdict": "fail", "reasons": ["surface-changed: 1 added"],
                "runs": 3, "deterministic": true, "bundle": "a.tar.gz",
                "golden": "goldens/demo.surface.json", "pending": "goldens/demo.surface.json.new",
                "health": {"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0},
                "diff": diff, "golden_sha256": sha()}]
        })],
        "attestation" => vec![json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "target/assay-proofs/demo/run-1.tar.gz", "digest": {"sha256": "ab".repeat(32)}},
                        {"name": "target/assay-proofs/verdict.json", "digest": {"sha256": "cd".repeat(32)}}],
            "predicateType": "https://github.com/assay/runner-action/attestation/verdict/v0",
            "predicate": {
                "schema": "assay.runner.attestation.v0", "run_id": "all", "lane": "kernel-only",
                "verdict": "pass",
                "verdict_file": {"name": "target/assay-proofs/verdict.json", "digest": {"sha256": "cd".repeat(32)}},
                "proofs": [{"name": "demo", "verdict": "pass", "reasons": [], "runs": 3,
                    "deterministic": true,
                    "health": {"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0},
                    "golden": {"name": "goldens/demo.surface.json", "digest": {"sha256": "ef".repeat(32)}},
                    "bundle": {"name": "target/assay-proofs/demo/run-1.tar.gz",
                        "digest": {"sha256": "ab".repeat(32)}, "manifest": {"sha256": "12".repeat(32)}}},
                    {"name": "other", "verdict": "fail", "reasons": ["golden-missing: x"], "runs": 1,
                    "deterministic": false, "health": null, "golden": null, "bundle": null}]
            }
        })],
        "verify_report" => vec![json!({
            "schema": "assay.runner.verify_report.v0", "run_id": null, "bundle": "b.tar.gz",
            "valid": false, "bundle_sha256": sha(), "compressed_bytes": 10,
            "decompressed_bytes": 20,
            "members": [{"path": "manifest.json", "bytes": 3, "sha256": sha(), "class": null},
                        {"path": "events.ndjson", "bytes": 3, "sha256": sha(), "class": "diagnostic"}],
            "problems": [{"member": "<archive>", "code": "gzip-truncated", "message": "cut"}]
        })],
        "doctor_report" => vec![json!({
            "schema": "assay.runner.doctor_report.v0", "ok": false,
            "checks": [{"id": "root", "status": "ok", "detail": "uid 0", "fix": null},
                       {"id": "btf", "status": "fail", "detail": "no /sys/kernel/btf/vmlinux",
                        "fix": "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y"},
                       {"id": "bpf-object", "status": "skipped", "detail": "needs btf", "fix": null}],
            "bpf_object": {"origin": "clang", "source_sha256": "ab", "attach_points": ["raw_tp/sys_enter"]},
            "facts": ["tracefs: not needed; not mounted"]
        })],
        "policy_event" => {
            let diag = |fwd: Value, resp: Value, sha: Value| {
                json!({"jsonrpc_id": "7", "wrapper_pid": 10, "server_pid": 11,
                    "received_ns": 100, "forwarded_ns": fwd, "responded_ns": resp,
                    "recorded_unix_ms": 5, "arguments_sha256": sha})
            };
            vec![
                json!({"schema": "assay.runner.policy_event.v2", "run_id": "r", "seq": 0,
                    "tool_call_id": "call-1", "tool_call_id_source": "meta", "tool": "echo",
                    "decision": "allow", "rule": "echo-ok", "reason": "rule-allow: rule echo-ok allows echo",
                    "outcome": "ok", "diag": diag(json!(101), json!(150), json!(sha()))}),
                json!({"schema": "assay.runner.policy_event.v2", "run_id": "r", "seq": 1,
                    "tool_call_id": "jsonrpc:7", "tool_call_id_source": "derived", "tool": "rm",
                    "decision": "deny", "rule": "default", "reason": "default-deny: no rule matches tool rm",
                    "outcome": "denied", "diag": diag(Value::Null, Value::Null, Value::Null)}),
                // The canonical form in bundles: no diag.
                json!({"schema": "assay.runner.policy_event.v2", "run_id": "r", "seq": 2,
                    "tool_call_id": "call-3", "tool_call_id_source": "meta", "tool": "",
                    "decision": "deny", "rule": "protocol", "reason": "tools-call-in-batch: refused",
                    "outcome": "denied"}),
            ]
        }
        "cross_runtime_diff" => {
            let change = |c: &str, a: &[&str], r: &[&str], u: &[&str]| json!({"category": c, "added": a, "removed": r, "unchanged": u});
            let side = |s: &str| json!({"source": s, "run_id": "sdk", "evidence_clean": true});
            vec![json!({
                "schema": "assay.runner.cross_runtime_diff.v0", "run_id": "sdk-genai",
                "status": "different", "base": side("a.tar.gz"), "head": side("b.tar.gz"),
                "canonical": {
                    "tools": [change("mcp_tools", &[], &[], &["read"]),
                              change("policy_decisions", &["deny:rm"], &[], &["allow:read"])],
                    "per_tool": [{"tool": "read", "effects": [
                        change("filesystem_paths", &[], &["<work>/a"], &[]),
                        change("filesystem_writes", &[], &[], &[]),
                        change("network_endpoints", &[], &[], &[]),
                        change("process_execs", &[], &[], &["/bin/echo"])]}]
                },
                "diagnostic": {
                    "base_sdk": {"name": "@openai/agents", "version": "0.20.1"},
                    "head_sdk": {"name": "@google/genai", "version": "1.9.0"},
                    "set_aside": [{"side": "head", "rule": "outside-tool-calls",
                        "category": "network_endpoints", "entries": ["127.0.0.1:18089"]}]
                },
                "non_claims": ["no claim about model quality"]
            })]
        }
        "sdk_event" => {
            let sdk = json!({"name": "@openai/agents", "version": "0.20.1"});
            vec![
                json!({"schema": "assay.runner.sdk_event.v0", "run_id": "r", "seq": 0,
                    "event_type": "run_started", "sdk": sdk,
                    "diag": {"pid": 42, "monotonic_ns": 1000}}),
                json!({"schema": "assay.runner.sdk_event.v0", "run_id": "r", "seq": 1,
                    "event_type": "tool_call_started", "tool_call_id": "call-1", "tool": "read",
                    "sdk": sdk}),
                json!({"schema": "assay.runner.sdk_event.v0", "run_id": "r", "seq": 2,
                    "event_type": "tool_call_finished", "tool_call_id": "call-1", "tool": "read",
                    "outcome": "error", "sdk": sdk}),
                json!({"schema": "assay.runner.sdk_event.v0", "run_id": "r", "seq": 3,
                    "event_type": "run_finished", "sdk": sdk}),
            ]
        }
        "correlation_report" => {
            let effects = |p: &[&str], w: &[&str], n: &[&str], x: &[&str]| json!({"filesystem_paths": p, "filesystem_writes": w, "network_endpoints": n, "process_execs": x});
            vec![
                json!({"schema": "assay.runner.correlation_report.v1", "run_id": "r", "status": "clean",
                    "bindings": [
                        {"tool_call_id": "call-1", "tool": "read", "decision": "allow", "rule": "read-data",
                         "outcome": "ok", "server": "p0/assay-runner#1/node#1",
                         "effects": effects(&["<work>/a"], &[], &["127.0.0.1:9"], &["/bin/echo"])},
                        {"tool_call_id": "call-2", "tool": "rm", "decision": "deny", "rule": "default",
                         "outcome": "denied", "server": "", "sdk_outcome": "error",
                         "effects": effects(&[], &[], &[], &[])}],
                    "unattributed": effects(&["<work>/server.mjs"], &[], &[], &[]),
                    "ambiguities": []}),
                json!({"schema": "assay.runner.correlation_report.v1", "run_id": "r", "status": "partial",
                    "bindings": [],
                    "unattributed": effects(&[], &[], &[], &[]),
                    "ambiguities": [{"code": "overlapping-windows", "tool_call_ids": ["a", "b"],
                        "effects": effects(&["<work>/x"], &["<work>/x"], &[], &[])}]}),
            ]
        }
        other => panic!("no instances for contract {other}: add some"),
    }
}

/// Whether serde accepts `v` as the contract's type.
fn serde_accepts(name: &str, v: &Value) -> bool {
    use assay_runner::contracts::*;
    let v = v.clone();
    match name {
        "lane_decision" => serde_json::from_value::<LaneDecision>(v).is_ok(),
        "kernel_event" => serde_json::from_value::<kernel_event::KernelEvent>(v).is_ok(),
        "run_event" => serde_json::from_value::<run_event::RunRecord>(v).is_ok(),
        "observation_health" => serde_json::from_value::<health::ObservationHealth>(v).is_ok(),
        "capability_surface" => serde_json::from_value::<surface::CapabilitySurface>(v).is_ok(),
        "archive_manifest" => serde_json::from_value::<manifest::ArchiveManifest>(v).is_ok(),
        "capability_diff" => serde_json::from_value::<capability_diff::CapabilityDiff>(v).is_ok(),
        "verdict" => serde_json::from_value::<verdict::ProofSetVerdict>(v).is_ok(),
        "attestation" => serde_json::from_value::<attestation::Statement>(v).is_ok(),
        "verify_report" => serde_json::from_value::<verify_report::VerifyReport>(v).is_ok(),
        "doctor_report" => serde_json::from_value::<doctor_report::DoctorReport>(v).is_ok(),
        "policy_event" => serde_json::from_value::<policy_event::PolicyEvent>(v).is_ok(),
        "correlation_report" => {
            serde_json::from_value::<correlation_report::CorrelationReport>(v).is_ok()
        }
        "sdk_event" => serde_json::from_value::<sdk_event::SdkEvent>(v).is_ok(),
        "cross_runtime_diff" => {
            serde_json::from_value::<cross_runtime_diff::CrossRuntimeDiff>(v).is_ok()
        }
        other => panic!("no type for contract {other}"),
    }
}

/// Every JSON pointer to an object or value inside `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn mutations(v: &Value) -> Vec<(String, Value)> {
    let mut ptrs = Vec::new();
    pointers(v, String::new(), &mut ptrs);
    let mut out = Vec::new();
    for p in &ptrs {
        let target = v.pointer(p).unwrap();
        if let Value::Object(o) = target {
            let mut m = v.clone();
            m.pointer_mut(p)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .insert("zz_unknown".into(), json!(1));
            out.push((format!("{p}: unknown property"), m));
            for k in o.keys() {
                let mut m = v.clone();
                m.pointer_mut(p).unwrap().as_object_mut().unwrap().remove(k);
                out.push((format!("{p}/{k}: removed"), m));
            }
        }
        if p.is_empty() {
            continue;
        }
        let replacement = match target {
            Value::String(_) => vec![json!(7), json!("zz-not-in-any-vocabulary")],
            Value::Number(_) => vec![json!("7"), json!(-1)],
            Value::Bool(_) => vec![json!("true")],
            Value::Array(_) => vec![json!({})],
            Value::Object(_) => vec![json!([])],
            Value::Null => vec![json!({})],
        };
        for r in replacement {
            let mut m = v.clone();
            *m.pointer_mut(p).unwrap() = r.clone();
            out.push((format!("{p}: replaced by {r}"), m));
        }
    }
    out
}

#[test]
fn schemas_accept_valid_instances_and_are_never_looser_than_the_types() {
    let mut checked = 0;
    for c in CONTRACTS {
        let val = validator(c);
        for inst in instances(c.name) {
            assert!(
                serde_accepts(c.name, &inst),
                "{}: instance not valid for serde: {inst}",
                c.name
            );
            if let Err(e) = val.validate(&inst) {
                panic!(
                    "{}: a valid instance fails its schema: {e}\n{inst:#}",
                    c.name
                );
            }
            for (what, m) in mutations(&inst) {
                checked += 1;
                let schema_ok = val.is_valid(&m);
                if !serde_accepts(c.name, &m) {
                    assert!(
                        !schema_ok,
                        "{}: schema accepts what the type rejects ({what})",
                        c.name
                    );
                }
                // Ids and vocabularies are constrained by the schema even where the Rust type
                // holds a plain string.
                if what.ends_with("/schema: replaced by \"zz-not-in-any-vocabulary\"")
                    || what.ends_with(": unknown property")
                {
                    assert!(!schema_ok, "{}: schema accepts {what}", c.name);
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} mutations checked");
}

#[test]
fn vocabulary_strings_are_closed_in_the_schemas() {
    let bad = |name: &str, ptr: &str, v: Value| {
        let c = Contract::find(name).unwrap();
        let mut inst = instances(name)
            .into_iter()
            .find(|i| i.pointer(ptr).is_some())
            .unwrap_or_else(|| panic!("no {name} instance has {ptr}"));
        *inst.pointer_mut(ptr).unwrap() = v.clone();
        assert!(
            !validator(c).is_valid(&inst),
            "{name}{ptr} = {v} must be rejected"
        );
    };
    bad("kernel_event", "/access", json!("execute"));
    bad("kernel_event", "/flags/0", json!("nonblock"));
    bad("kernel_event", "/result", json!("enoent"));
    bad("lane_decision", "/files/0/change", json!("moved"));
    bad("observation_health", "/platform/bpf_object", json!("gcc"));
    bad("observation_health", "/notes/0", json!("no code here"));
    bad(
        "observation_health",
        "/counters/drops_by_program",
        json!({"bogus": 1}),
    );
    bad("archive_manifest", "/members/0/sha256", json!("sha256:XYZ"));
    bad("capability_surface", "/filesystem_paths", json!(["a", "a"]));
    bad("capability_diff", "/status", json!("partial"));
    bad("run_event", "/end", json!("crashed"));
    bad("verdict", "/verdict", json!("unknown"));
    bad("doctor_report", "/checks/0/id", json!("tracefs"));
    bad("doctor_report", "/checks/0/status", json!("warn"));
    bad("policy_event", "/decision", json!("maybe"));
    bad("policy_event", "/outcome", json!("timeout"));
    bad("policy_event", "/tool_call_id_source", json!("guessed"));
    bad("policy_event", "/reason", json!("no code here"));
    bad("policy_event", "/rule", json!("Not A Rule"));
    bad("policy_event", "/tool_call_id", json!(""));
    bad(
        "policy_event",
        "/diag/arguments_sha256",
        json!("sha256:XYZ"),
    );
}

#[test]
fn contract_names_and_ids_agree() {
    for c in CONTRACTS {
        let ver = c.id.rsplit('.').next().unwrap();
        assert!(
            ver.starts_with('v') && ver[1..].parse::<u32>().is_ok(),
            "{}",
            c.id
        );
        assert_eq!(c.id, format!("assay.runner.{}.{ver}", c.name));
        assert_eq!(c.schema_file(), format!("{}.{ver}.schema.json", c.name));
        assert_eq!(Contract::find(c.name).unwrap().id, c.id);
        for m in c.members {
            assert_eq!(Contract::for_member(m).unwrap().name, c.name);
        }
    }
}

/// `verify`'s fast path for kernel-layer lines never accepts a line the published schema
/// rejects, and accepts the valid instances (so it is actually taken).
#[test]
fn verify_fast_path_is_never_looser_than_the_kernel_event_schema() {
    let c = Contract::find("kernel_event").unwrap();
    let val = validator(c);
    let mut checked = 0;
    for inst in instances("kernel_event") {
        let line = serde_json::to_vec(&inst).unwrap();
        assert!(
            assay_runner::verify::kernel_line_fast(&line).is_some(),
            "valid line not on the fast path: {inst}"
        );
        for (what, m) in mutations(&inst) {
            let line = serde_json::to_vec(&m).unwrap();
            if assay_runner::verify::kernel_line_fast(&line).is_some() {
                checked += 1;
                assert!(
                    val.is_valid(&m),
                    "fast path accepts what the schema rejects: {what}"
                );
            }
        }
    }
    assert!(checked > 10, "only {checked} accepted mutations checked");
}
