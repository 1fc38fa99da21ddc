//! `report --check-run` against a GitHub REST simulator that validates every request body
//! against GitHub's published OpenAPI description (`tests/github-sim/`, installed by
//! `scripts/setup`). A body GitHub would reject is answered 400 there, which fails `report`
//! and so these tests.
//!
//! The simulator needs Node and `npm ci --prefix tests/github-sim` (`scripts/setup`); without
//! them the tests fail, saying so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::Simulator;

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const TOKEN: &str = "ghs_simulatorTOKEN42";

fn verdict(dir: &Path, lines: usize) -> PathBuf {
    let golden_lines: Vec<Value> = (0..lines)
        .map(|i| {
            json!({"line": i + 2, "category": "network_endpoints", "change": "added",
                        "entry": format!("tcp:10.0.0.{i}:443")})
        })
        .collect();
    let added: Vec<String> = (0..lines).map(|i| format!("tcp:10.0.0.{i}:443")).collect();
    let v = json!({
        "schema": "assay.runner.verdict.v4", "run_id": "lane:all", "lane": "all",
        "verdict": if lines > 0 { "fail" } else { "pass" },
        "proofs": [{
            "name": "demo", "verdict": if lines > 0 { "fail" } else { "pass" },
            "reasons": if lines > 0 { vec!["surface_changed: the surface differs from the golden"] } else { vec![] },
            "runs": 3, "deterministic": true, "bundle": "p/demo/run-1.tar.gz",
            "golden": "goldens/demo.surface.json", "pending": null,
            "health": {"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0},
            "diff": {
                "schema": "assay.runner.capability_diff.v2", "run_id": "demo", "status": "clean",
                "changed": lines > 0,
                "base": {"kind": "golden", "source": "goldens/demo.surface.json", "run_id": "demo", "health_clean": true},
                "head": {"kind": "bundle", "source": "p/demo/run-1.tar.gz", "run_id": "demo", "health_clean": true},
                "categories": [{"category": "network_endpoints", "added": added, "removed": [], "unchanged": []}],
                "golden_lines": golden_lines, "explanations": [], "notes": []
            }
        }]
    });
    let p = dir.join("verdict.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn report(sim: &Simulator, dir: &Path, repo: &str, verdict: &Path) -> std::process::Output {
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 1, "head": {"sha": HEAD, "repo": {"full_name": repo}},
               "base": {"sha": "f00", "repo": {"full_name": repo}}}})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .args([
            "report",
            "--check-run",
            "--step-summary",
            "--retry-base-ms",
            "10",
        ])
        .arg(verdict)
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", &sim.url)
        .env("GITHUB_REPOSITORY", repo)
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff")
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(TOKEN), "token leaked: {all}");
    out
}

#[test]
fn check_run_requests_satisfy_githubs_schema() {
    let Some(sim) = Simulator::start("check_run_requests_satisfy_githubs_schema") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let v = verdict(t.path(), 60);
    let out = report(&sim, t.path(), "o/r", &v);
    assert_eq!(
        out.status.code(),
        Some(1),
        "fail verdict exits 1 after a delivered check run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = sim.calls();
    let shape: Vec<(String, u64, usize)> = calls
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["status"].as_u64().unwrap(),
                c["body"]["output"]["annotations"]
                    .as_array()
                    .map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("POST".into(), 201, 0),
            ("PATCH".into(), 200, 50),
            ("PATCH".into(), 200, 10),
            ("PATCH".into(), 200, 0)
        ],
        "{calls:#?}"
    );
    assert!(calls.iter().all(|c| c["auth"] == true));
    assert_eq!(calls[0]["body"]["head_sha"], HEAD);
    assert_eq!(calls[3]["body"]["conclusion"], "failure");
    let summary = calls[3]["body"]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("fail (1 of 1 proofs failed)"), "{summary}");
    assert!(summary.contains("tcp:10.0.0.59:443"), "{summary}");
}

#[test]
fn the_simulator_rejects_what_github_would() {
    let Some(sim) = Simulator::start("the_simulator_rejects_what_github_would") else {
        return;
    };
    // 51 annotations in one request, and an unknown level: both outside GitHub's schema.
    let ann = |level: &str| {
        json!({"path": "g", "start_line": 1, "end_line": 1,
                                    "annotation_level": level, "message": "m"})
    };
    let too_many = json!({"name": "x", "head_sha": HEAD, "output": {"title": "t", "summary": "s",
        "annotations": vec![ann("failure"); 51]}});
    let (status, body) = sim.request("POST", "/repos/o/r/check-runs", Some(&too_many));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("maxItems") || body.contains("must NOT have more than 50"),
        "{body}"
    );
    let bad_level = json!({"name": "x", "head_sha": HEAD, "output": {"title": "t", "summary": "s",
        "annotations": [ann("error")]}});
    let (status, body) = sim.request("POST", "/repos/o/r/check-runs", Some(&bad_level));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn read_only_token_falls_back_with_the_verdicts_exit_code() {
    let Some(sim) = Simulator::start("read_only_token_falls_back_with_the_verdicts_exit_code")
    else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let v = verdict(t.path(), 3);
    let out = report(&sim, t.path(), "o/read-only", &v);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("::error ")).count(),
        3
    );
    let summary = std::fs::read_to_string(t.path().join("summary.md")).unwrap();
    assert!(summary.contains("No check run was written"), "{summary}");
    assert_eq!(sim.calls().len(), 1, "403 is not retried");
}
