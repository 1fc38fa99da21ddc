//! `assay-runner report` against a local fake GitHub (wiremock) that records every request:
//! head SHA, annotation chunking, conclusion mapping, summary truncation, the read-only
//! fallback, retries and fast failures — and that the token never leaks.

use std::path::{Path, PathBuf};
use std::process::Output;

use assay_runner::contracts::capability_diff::{
    CapabilityDiff, CategoryDiff, DiffStatus, GoldenLine, Side, SideKind,
};
use assay_runner::contracts::verdict::{ProofVerdict, Verdict};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_SECRETtoken0123456789abcdef";
const HEAD: &str = "1111111111111111111111111111111111111111";
const MERGE: &str = "2222222222222222222222222222222222222222";

fn proof(name: &str, verdict: Verdict, lines: usize, entry_len: usize) -> ProofVerdict {
    let entries: Vec<String> = (0..lines)
        .map(|i| format!("/etc/{i:04}-{}", "x".repeat(entry_len)))
        .collect();
    let side = |kind, source: &str| Side {
        kind,
        source: source.into(),
        run_id: name.into(),
        health_clean: true,
    };
    ProofVerdict {
        name: name.into(),
        verdict,
        reasons: match verdict {
            Verdict::Pass => vec![],
            Verdict::Fail | Verdict::NeedsApproval => {
                vec!["surface_changed: the surface differs from the golden".into()]
            }
            Verdict::Inconclusive => {
                vec!["observation_not_clean: ring-buffer drops during the run".into()]
            }
        },
        runs: 3,
        deterministic: true,
        bundle: Some(format!(".assay/proofs/{name}/run-1.tar.gz")),
        golden: format!("goldens/{name}.surface.json"),
        pending: (lines > 0).then(|| format!("goldens/{name}.surface.json.new")),
        health: None,
        diff: Some(CapabilityDiff {
            schema: "assay.runner.capability_diff.v2".into(),
            run_id: name.into(),
            status: DiffStatus::Clean,
            changed: lines > 0,
            base: side(SideKind::Golden, "goldens/x.surface.json"),
            head: side(SideKind::Bundle, "x.tar.gz"),
            categories: vec![CategoryDiff {
                category: "filesystem_paths".into(),
                added: entries.clone(),
                removed: vec![],
                unchanged: vec![],
            }],
            golden_lines: entries
                .iter()
                .enumerate()
                .map(|(i, e)| GoldenLine {
                    line: i as u64 + 3,
                    category: "filesystem_paths".into(),
                    change: "added".into(),
                    entry: e.clone(),
                })
                .collect(),
            explanations: vec![],
            notes: vec![],
        }),
        golden_update: None,
        golden_sha256: None,
    }
}

struct Env {
    _t: tempfile::TempDir,
    dir: PathBuf,
    verdict: PathBuf,
    event: PathBuf,
}

fn setup(proofs: Vec<ProofVerdict>, fork: bool) -> Env {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().to_path_buf();
    let v = assay_runner::prove::set_verdict("lane:sdk", Some("sdk"), proofs);
    let verdict = dir.join("verdict.json");
    std::fs::write(&verdict, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let head_repo = if fork { "someone/r" } else { "o/r" };
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 5,
            "head": {"sha": HEAD, "repo": {"full_name": head_repo}},
            "base": {"sha": "3333", "repo": {"full_name": "o/r"}}}})
        .to_string(),
    )
    .unwrap();
    Env {
        _t: t,
        dir,
        verdict,
        event,
    }
}

async fn report(e: &Env, api: &str, extra: &[&str]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_assay-runner"));
    c.arg("report")
        .args(extra)
        .arg(&e.verdict)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_EVENT_PATH", &e.event)
        .env("GITHUB_SHA", MERGE)
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_RUN_ID", "77")
        .env("GITHUB_STEP_SUMMARY", e.dir.join("summary.md"))
        .env("GITHUB_OUTPUT", e.dir.join("output.txt"))
        .env("GITHUB_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(TOKEN), "token leaked:\n{all}");
    out
}

fn created(id: u64) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": id, "html_url": format!("https://github.example/o/r/runs/{id}"), "status": "in_progress"
    }))
}

async fn github() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/o/r/check-runs"))
        .respond_with(created(9))
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/o/r/check-runs/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .mount(&s)
        .await;
    s
}

async fn bodies(s: &MockServer) -> Vec<(String, String, Value)> {
    let reqs = s.received_requests().await.unwrap();
    for r in &reqs {
        let auth = r.headers.get("authorization").unwrap().to_str().unwrap();
        assert!(auth.ends_with(TOKEN), "token must be sent as authorization");
    }
    reqs.iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.url.path().to_string(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_run_on_head_sha_with_annotations_in_chunks_of_50() {
    let s = github().await;
    let e = setup(vec![proof("demo", Verdict::Fail, 120, 4)], false);
    let out = report(&e, &s.uri(), &["--check-run", "--outputs"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let b = bodies(&s).await;
    assert_eq!(b.len(), 5, "create + 3 chunks + complete: {b:#?}");
    let (m, p, create) = &b[0];
    assert_eq!((m.as_str(), p.as_str()), ("POST", "/repos/o/r/check-runs"));
    assert_eq!(
        create["head_sha"], HEAD,
        "never GITHUB_SHA (the merge commit)"
    );
    assert_eq!(create["status"], "in_progress");
    assert_eq!(create["name"], "assay-runner proofs");
    assert_eq!(
        create["details_url"],
        "https://github.example/o/r/actions/runs/77"
    );
    assert!(create.get("conclusion").is_none());
    let chunks: Vec<usize> = b[1..4]
        .iter()
        .map(|(m, p, v)| {
            assert_eq!(
                (m.as_str(), p.as_str()),
                ("PATCH", "/repos/o/r/check-runs/9")
            );
            assert!(v.get("conclusion").is_none());
            v["output"]["annotations"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(chunks, [50, 50, 20]);
    let first = &b[1].2["output"]["annotations"][0];
    assert_eq!(first["path"], "goldens/demo.surface.json");
    assert_eq!(
        (first["start_line"].as_u64(), first["end_line"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(first["annotation_level"], "failure");
    let done = &b[4].2;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["conclusion"], "failure");
    assert!(done["output"].get("annotations").is_none());
    assert!(
        done["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("fail (1 of 1 proofs failed)")
    );
    let outputs = std::fs::read_to_string(e.dir.join("output.txt")).unwrap();
    assert!(
        outputs.starts_with("lane=sdk\nverdict=fail\nbundles<<"),
        "{outputs}"
    );
    assert!(outputs.contains(".assay/proofs/demo/run-1.tar.gz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn conclusions_follow_the_verdict_and_the_inconclusive_setting() {
    let cases: [(Verdict, &[&str], &str, i32); 4] = [
        (Verdict::Pass, &[], "success", 0),
        (Verdict::Fail, &[], "failure", 1),
        (Verdict::Inconclusive, &[], "failure", 4),
        (
            Verdict::Inconclusive,
            &["--inconclusive-conclusion", "neutral"],
            "neutral",
            0,
        ),
    ];
    for (verdict, extra, conclusion, code) in cases {
        let s = github().await;
        let e = setup(vec![proof("demo", verdict, 0, 0)], false);
        let mut args = vec!["--check-run"];
        args.extend_from_slice(extra);
        let out = report(&e, &s.uri(), &args).await;
        assert_eq!(out.status.code(), Some(code), "{verdict:?}: {}", text(&out));
        let b = bodies(&s).await;
        assert_eq!(b.last().unwrap().2["conclusion"], conclusion, "{verdict:?}");
        let n_ann = b
            .iter()
            .filter_map(|(_, _, v)| v["output"]["annotations"].as_array())
            .map(Vec::len)
            .sum::<usize>();
        assert_eq!(n_ann, usize::from(verdict != Verdict::Pass), "{verdict:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn long_reports_are_truncated_visibly_and_kept_whole_elsewhere() {
    let s = github().await;
    let e = setup(vec![proof("demo", Verdict::Fail, 40, 4000)], false);
    let full = e.dir.join("report.md");
    let out = report(
        &e,
        &s.uri(),
        &[
            "--check-run",
            "--step-summary",
            "--markdown-out",
            full.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let b = bodies(&s).await;
    for (_, _, v) in &b {
        let summary = v["output"]["summary"].as_str().unwrap();
        assert!(summary.chars().count() <= 65_535);
        assert!(
            summary.contains("**⚠️ truncated**"),
            "{}",
            &summary[summary.len() - 300..]
        );
        assert!(summary.contains("`assay-report` artifact of [this workflow run](https://github.example/o/r/actions/runs/77)"));
        assert!(v["output"]["title"].as_str().unwrap().len() <= 1000);
    }
    for a in b[1].2["output"]["annotations"].as_array().unwrap() {
        assert!(a["title"].as_str().unwrap().chars().count() <= 255);
    }
    let whole = std::fs::read_to_string(&full).unwrap();
    assert!(whole.chars().count() > 65_535 && !whole.contains("truncated"));
    let step = std::fs::read_to_string(e.dir.join("summary.md")).unwrap();
    assert!(step.len() <= 1 << 20);
    assert!(step.contains(&"x".repeat(4000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_falls_back_to_summary_annotations_and_exit_code() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run"
        })))
        .mount(&s)
        .await;
    let mut p = proof("demo", Verdict::Fail, 25, 4);
    p.name = "demo::error::x".into();
    let e = setup(vec![p], false);
    let out = report(&e, &s.uri(), &["--check-run"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        s.received_requests().await.unwrap().len(),
        1,
        "403 is not retried"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cmds: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(cmds.len(), 10, "{stdout}");
    assert!(cmds[0].starts_with(
        "::error file=goldens/demo.surface.json,line=3,title=demo%3A%3Aerror%3A%3Ax%3A filesystem_paths + /etc/0000-xxxx::"
    ), "{}", cmds[0]);
    assert!(stdout.contains("15 more annotation(s) not shown"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Resource not accessible by integration"),
        "{stderr}"
    );
    let step = std::fs::read_to_string(e.dir.join("summary.md")).unwrap();
    assert!(step.starts_with("> **No check run was written**"), "{step}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_payload_never_calls_the_api() {
    let s = github().await;
    let e = setup(vec![proof("demo", Verdict::Inconclusive, 0, 0)], true);
    // No step summary file: the report goes to stdout, fenced from the command parser.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_assay-runner"));
    c.args(["report", "--check-run"])
        .arg(&e.verdict)
        .env_clear()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", s.uri())
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_EVENT_PATH", &e.event)
        .env("GITHUB_TOKEN", TOKEN);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(s.received_requests().await.unwrap().is_empty());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("::warning file=goldens/demo.surface.json,line=1,"),
        "{stdout}"
    );
    let fence = stdout
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .expect("report fenced by stop-commands");
    assert!(fence.len() >= 32);
    assert!(stdout.trim_end().ends_with(&format!("::{fence}::")));
    assert!(stdout.contains("fork"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_then_succeed() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit."})),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .respond_with(created(9))
        .with_priority(3)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex("^/repos/o/r/check-runs/9$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .mount(&s)
        .await;
    let e = setup(vec![proof("demo", Verdict::Pass, 0, 0)], false);
    let out = report(&e, &s.uri(), &["--check-run", "--retry-base-ms", "10"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let b = bodies(&s).await;
    let posts = b.iter().filter(|(m, _, _)| m == "POST").count();
    assert_eq!(posts, 3, "502, secondary rate limit, then created");
    assert_eq!(b.last().unwrap().2["conclusion"], "success");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_fail_fast_with_the_body_and_never_the_token() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": format!("Validation Failed for token {TOKEN}"),
            "errors": [{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}]
        })))
        .mount(&s)
        .await;
    let e = setup(vec![proof("demo", Verdict::Pass, 0, 0)], false);
    let out = report(&e, &s.uri(), &["--check-run", "--retry-base-ms", "10"]).await;
    // one exit-code rule whatever the transport: the verdict decides; the lost check run is a
    // warning in the log (and the summary says so)
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("::warning title=assay-runner::the check run could not be written"),
        "{}",
        text(&out)
    );
    assert_eq!(s.received_requests().await.unwrap().len(), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("POST /repos/o/r/check-runs: HTTP 422"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Validation Failed for token ***"),
        "{stderr}"
    );
    assert!(stderr.contains("\"field\":\"head_sha\""), "{stderr}");
    // The fallback still gives the job the report.
    assert!(Path::new(&e.dir.join("summary.md")).exists());
    let summary = std::fs::read_to_string(e.dir.join("summary.md")).unwrap();
    assert!(summary.contains("No check run was written"), "{summary}");
    // a failing verdict still fails, and asking for the check run makes its loss an error
    let failing = setup(vec![proof("demo", Verdict::Fail, 1, 0)], false);
    let out = report(
        &failing,
        &s.uri(),
        &["--check-run", "--retry-base-ms", "10"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = report(
        &e,
        &s.uri(),
        &[
            "--check-run",
            "--retry-base-ms",
            "10",
            "--require-check-run",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_are_retried_and_then_reported() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created(9).set_delay(std::time::Duration::from_secs(5)))
        .mount(&s)
        .await;
    let e = setup(vec![proof("demo", Verdict::Pass, 0, 0)], false);
    let out = report(
        &e,
        &s.uri(),
        &[
            "--check-run",
            "--retry-base-ms",
            "10",
            "--attempts",
            "2",
            "--timeout-secs",
            "1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s.received_requests().await.unwrap().len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gave up after 2 attempts"), "{stderr}");
}

#[test]
fn bad_verdict_input_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let v = t.path().join("verdict.json");
    std::fs::write(
        &v,
        "{\n  \"schema\": \"assay.runner.verdict.v4\",\n  \"bogus\": 1\n}",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .arg("report")
        .arg(&v)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("verdict.json:3:"), "{stderr}");
    assert!(stderr.contains("unknown field `bogus`"), "{stderr}");
}
