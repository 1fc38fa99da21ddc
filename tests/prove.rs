//! `prove`, `golden accept` and `diff` end to end, with real eBPF observation (root only; see
//! tests/kernel.rs for the skip rules). Each test works in its own temporary project.

mod support;
use support::{cli, require_kernel};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn validate(contract: &str, v: &Value) {
    let c = assay_runner::contracts::Contract::find(contract).unwrap();
    let schema: Value = serde_json::from_str(c.published).unwrap();
    if let Err(e) = jsonschema::draft202012::new(&schema).unwrap().validate(v) {
        panic!("{contract} output fails its schema: {e}\n{v:#}");
    }
}

/// A project with the demo fixture as proof `demo` and whatever `extra` proofs say.
fn project(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_path_buf();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel");
    std::fs::create_dir_all(d.join("fx")).unwrap();
    std::fs::copy(fx.join("demo.sh"), d.join("fx/demo.sh")).unwrap();
    std::fs::copy(fx.join("seed/input.txt"), d.join("fx/input.txt")).unwrap();
    std::fs::write(
        d.join("proofs.yaml"),
        format!(
            "proofs:\n  - name: demo\n    command: [./demo.sh]\n    seed: [fx/demo.sh, fx/input.txt]\n    golden: goldens/demo.surface.json\n{extra}lanes:\n  kernel-only: [demo]\n  none: []\n"
        ),
    )
    .unwrap();
    (t, d)
}

fn verdict(d: &Path) -> Value {
    let v: Value =
        serde_json::from_slice(&std::fs::read(d.join(".assay/proofs/verdict.json")).unwrap())
            .unwrap();
    validate("verdict", &v);
    v
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn golden_lifecycle_pending_accept_pass_change() {
    require_kernel();
    let (_t, d) = project("");
    // 1. No golden yet: fail, a pending golden for review.
    let o = cli(&d, &["prove", "--proof", "demo"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = verdict(&d);
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["proofs"][0]["deterministic"], true);
    assert!(
        v["proofs"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("golden-missing: ")
    );
    // pending goldens live in the proof's out dir (its artifact), never in the source tree
    let pending = d.join(".assay/proofs/demo/demo.surface.json.new");
    assert!(pending.exists());
    assert!(!d.join("goldens/demo.surface.json.new").exists());
    assert_eq!(
        v["proofs"][0]["pending"],
        ".assay/proofs/demo/demo.surface.json.new"
    );
    let o = cli(&d, &["golden", "accept", "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("pending .assay/proofs/demo/demo.surface.json.new (proof demo)"),
        "{}",
        text(&o)
    );

    // 2. Accept, then the same proof passes, three runs identical.
    let o = cli(&d, &["golden", "accept", "demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!pending.exists());
    let golden = std::fs::read_to_string(d.join("goldens/demo.surface.json")).unwrap();
    assert!(golden.contains("    \"<work>/out/lines.txt\""), "{golden}");
    assert!(
        !golden.contains("/etc/passwd"),
        "the fixed environment keeps bash off passwd"
    );
    let o = cli(&d, &["prove", "--lane", "kernel-only", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = verdict(&d);
    assert_eq!(v["verdict"], "pass", "{v:#}");
    assert_eq!(v["run_id"], "lane:kernel-only");
    assert_eq!(v["proofs"][0]["runs"], 3);
    assert_eq!(v["proofs"][0]["diff"]["changed"], false);
    assert_eq!(v["proofs"][0]["diff"]["status"], "clean");
    assert!(v["proofs"][0]["pending"].is_null());
    for i in 1..=3 {
        assert!(
            d.join(format!(".assay/proofs/demo/run-{i}.tar.gz"))
                .exists()
        );
    }
    // A lane that requires nothing passes without running anything.
    let o = cli(&d, &["prove", "--lane", "none"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // 3. The fixture changes its behaviour: fail, readable diff, pending golden, golden lines.
    let script = std::fs::read_to_string(d.join("fx/demo.sh")).unwrap();
    std::fs::write(
        d.join("fx/demo.sh"),
        script.replace(
            "rm out/greeting.txt",
            "rm out/greeting.txt\necho x > out/new.txt",
        ),
    )
    .unwrap();
    let o = cli(&d, &["prove", "--all", "--runs", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("surface-changed: 2 entries added, 0 removed"),
        "{out}"
    );
    assert!(out.contains("+ <work>/out/new.txt"), "{out}");
    assert!(pending.exists());
    let v = verdict(&d);
    let lines = v["proofs"][0]["diff"]["golden_lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:#?}"); // filesystem_paths and filesystem_writes
    let golden_lines: Vec<&str> = golden.lines().collect();
    for l in lines {
        assert_eq!(l["change"], "added");
        // Added entries point at the entry they follow: `<work>/out/lines.txt`.
        let at = golden_lines[l["line"].as_u64().unwrap() as usize - 1];
        assert!(at.contains("<work>/out/lines.txt"), "{at}");
    }
    // Who wrote it: the first kernel line, from the script's own process up to the command.
    let why = v["proofs"][0]["diff"]["explanations"].as_array().unwrap();
    assert_eq!(why.len(), 2, "{why:#?}");
    for x in why {
        assert_eq!(x["entry"], "<work>/out/new.txt");
        assert_eq!(x["change"], "added");
        assert_eq!(x["process"], "p0", "{x:#}");
        assert!(x["seq"].as_u64().is_some(), "{x:#}");
        assert_eq!(x["chain"], json!(["/usr/bin/bash"]), "{x:#}");
    }
    assert!(
        out.contains("+ <work>/out/new.txt\n          ← /usr/bin/bash (p0, kernel line "),
        "{out}"
    );

    // 4. diff against the golden and against itself.
    let head = d.join(".assay/proofs/demo/run-1.tar.gz");
    let head = head.to_str().unwrap();
    let o = cli(
        &d,
        &[
            "diff",
            "--golden",
            "goldens/demo.surface.json",
            head,
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dj: Value = serde_json::from_slice(&o.stdout).unwrap();
    validate("capability_diff", &dj);
    assert_eq!(dj["status"], "clean");
    assert_eq!(dj["categories"][0]["added"][0], "<work>/out/new.txt");
    let o = cli(&d, &["diff", "--base", head, head, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dj: Value = serde_json::from_slice(&o.stdout).unwrap();
    validate("capability_diff", &dj);
    assert_eq!(dj["changed"], false);
    assert_eq!(dj["status"], "clean");
    assert!(dj["notes"].as_array().unwrap().is_empty());
    let o = cli(
        &d,
        &[
            "diff",
            "--golden",
            "goldens/demo.surface.json",
            head,
            "--format",
            "markdown",
        ],
    );
    assert!(
        text(&o).contains("| added | `<work>/out/new.txt` |"),
        "{}",
        text(&o)
    );

    // 5. Stale goldens are listed, never deleted.
    std::fs::write(d.join("goldens/old.surface.json"), "{}").unwrap();
    let o = cli(&d, &["golden", "accept", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("stale") && text(&o).contains("old.surface.json"));
    assert!(d.join("goldens/old.surface.json").exists());
    assert!(pending.exists(), "--check changes nothing");

    // 6. A run whose command fails writes no pending golden, and accept says why.
    std::fs::write(
        d.join("fx/demo.sh"),
        script.replace("rm out/greeting.txt", "rm out/greeting.txt\nexit 3"),
    )
    .unwrap();
    let o = cli(&d, &["prove", "--all", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!pending.exists(), "a failed run leaves no pending golden");
    let o = cli(&d, &["golden", "accept", "demo"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("no pending golden for `demo`: its last run was fail")
            && out.contains("command-failed"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("goldens/demo.surface.json")).unwrap(),
        golden,
        "nothing was accepted"
    );
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn nondeterminism_fails_with_a_unified_diff() {
    require_kernel();
    let (_t, d) = project(
        "  - name: racy\n    command: [sh, -c, 'touch f-$$']\n    golden: goldens/racy.surface.json\n",
    );
    let o = cli(&d, &["prove", "--proof", "racy", "--runs", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("canonical members differ between runs"),
        "{out}"
    );
    assert!(out.contains("--- run-1/"), "{out}");
    assert!(out.contains("+++ run-2/"), "{out}");
    let v = verdict(&d);
    assert_eq!(v["proofs"][0]["deterministic"], false);
    assert!(
        v["proofs"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("nondeterministic: "))
    );
    assert!(
        !d.join(".assay/proofs/racy/racy.surface.json.new").exists(),
        "no pending golden from nondeterministic evidence"
    );
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn unclean_observation_is_inconclusive_never_pass() {
    require_kernel();
    let root = assay_runner::kernel::cgroup::find_cgroup2_mount(
        &std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
    )
    .unwrap();
    let other = root.join(format!("assay-test-prove-escape-{}", std::process::id()));
    std::fs::create_dir_all(&other).unwrap();
    let (_t, d) = project(&format!(
        "  - name: escape\n    command: [sh, -c, 'echo $$ > {}/cgroup.procs; touch x']\n    golden: goldens/escape.surface.json\n",
        other.display()
    ));
    // The golden is exactly what it does, so only health can keep it from passing. (No pending
    // golden is ever written from unclean evidence; take the surface from the bundle.)
    let o = cli(&d, &["prove", "--proof", "escape", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("no pending golden was written"),
        "{}",
        text(&o)
    );
    let f = std::fs::File::open(d.join(".assay/proofs/escape/run-1.tar.gz")).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let surface = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("capability-surface.json"))
        .map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            s
        })
        .unwrap();
    std::fs::create_dir_all(d.join("goldens")).unwrap();
    std::fs::write(d.join("goldens/escape.surface.json"), surface).unwrap();
    let o = cli(&d, &["prove", "--proof", "escape", "--runs", "1"]);
    let _ = std::fs::remove_dir(&other);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v = verdict(&d);
    assert_eq!(v["verdict"], "inconclusive");
    assert_eq!(v["proofs"][0]["health"]["cgroup_correlation"], "partial");
    assert!(
        !d.join(".assay/proofs/escape/escape.surface.json.new")
            .exists(),
        "no pending golden from unclean evidence"
    );
}

#[test]
fn bad_proofs_file_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("proofs.yaml"),
        "proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    colour: red\n",
    )
    .unwrap();
    let o = cli(t.path(), &["prove", "--all"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("proofs.yaml:5:"),
        "{}",
        text(&o)
    );
    let o = cli(t.path(), &["prove", "--proof", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn private_tmp_is_fresh_per_run_and_shown_as_tmp() {
    require_kernel();
    // A file in the host's /tmp that the command must not see, and one it writes that the host
    // must not get.
    let marker = Path::new("/tmp/assay-privtmp-host-marker");
    std::fs::write(marker, "host").unwrap();
    let kept = Path::new("/tmp/assay-privtmp-kept.txt");
    let _ = std::fs::remove_file(kept);
    let (_t, d) = project(
        "  - name: tmp\n    command: [sh, -c, 'test ! -e /tmp/assay-privtmp-host-marker && test \"$TMPDIR\" = /tmp && echo x > /tmp/assay-privtmp-kept.txt && mktemp -d >/dev/null && python3 -c \"import tempfile; tempfile.TemporaryDirectory(); open(tempfile.mkstemp()[1]).close()\"']\n    golden: goldens/tmp.surface.json\n",
    );
    let o = cli(&d, &["prove", "--proof", "tmp", "--runs", "3"]);
    let out = text(&o);
    assert!(!kept.exists(), "the command wrote into the host's /tmp");
    std::fs::remove_file(marker).unwrap();
    let v = verdict(&d);
    assert_eq!(v["proofs"][0]["deterministic"], true, "{out}");
    assert!(
        !out.contains("command-failed"),
        "the command saw the host's /tmp or no TMPDIR: {out}"
    );
    // The mount namespace and tmpfs are set up before the child joins the session cgroup, so
    // they are not the command's mount channel: the evidence is clean.
    assert_eq!(
        v["proofs"][0]["health"]["kernel_layer"], "complete",
        "{out}"
    );
    assert!(!out.contains("observation-unclean"), "{out}");
    let pending =
        std::fs::read_to_string(d.join(".assay/proofs/tmp/tmp.surface.json.new")).unwrap();
    for want in [
        "\"<tmp>/assay-privtmp-kept.txt\"",
        "\"<tmp>/tmp.<random>\"",
        "\"<tmp>/tmp<random>\"",
        "\"<tmp>/<transient>\"",
    ] {
        assert!(pending.contains(want), "{want} missing from\n{pending}");
    }
    assert!(!pending.contains("\"/tmp/"), "{pending}");
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn real_steps_are_deterministic_over_three_runs() {
    require_kernel();
    // The repository's own real-work proofs, run from a copy so pending goldens land there.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let copy = |rel: &str| {
        let o = Command::new("cp")
            .args(["-a", "--parents", rel])
            .arg(d)
            .current_dir(repo)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    copy("fixtures/real");
    copy("goldens");
    let yaml = std::fs::read_to_string(repo.join("proofs.yaml")).unwrap();
    let yaml: String = yaml
        .lines()
        .filter(|l| !l.starts_with("lanes_config:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("proofs.yaml"), yaml).unwrap();
    for proof in ["python-venv", "git-commit", "cargo-build", "node-tmpdir"] {
        let o = cli(d, &["prove", "--proof", proof, "--runs", "3"]);
        let out = text(&o);
        let v = verdict(d);
        let p = &v["proofs"][0];
        assert_eq!(p["runs"], 3, "{out}");
        // Identical canonical members (surface and health) in all three runs, clean evidence,
        // and the command succeeded; the golden may name another host's toolchain.
        assert_eq!(p["deterministic"], true, "{proof}: {out}");
        for r in p["reasons"].as_array().unwrap() {
            let r = r.as_str().unwrap();
            assert!(
                !r.starts_with("observation-unclean")
                    && !r.starts_with("command-failed")
                    && !r.starts_with("nondeterministic"),
                "{proof}: {out}"
            );
        }
        // The bundle's kernel layer is the diagnostic record of these proofs.
        let bundle = d.join(format!(".assay/proofs/{proof}/run-1.tar.gz"));
        let o = cli(d, &["verify", bundle.to_str().unwrap(), "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
}

/// A golden is its proof's surface, run id included: the golden of another run (a renamed
/// proof's) fails with its own reason, though every entry is the same, and the pending golden
/// is written for acceptance.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_golden_of_another_run_is_not_this_proofs() {
    require_kernel();
    let (_t, d) = project("");
    let o = cli(&d, &["prove", "--all", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(cli(&d, &["golden", "accept", "demo"]).status.success());
    let g = d.join("goldens/demo.surface.json");
    let golden = std::fs::read_to_string(&g).unwrap();
    std::fs::write(
        &g,
        golden.replacen("\"run_id\": \"demo\"", "\"run_id\": \"old-name\"", 1),
    )
    .unwrap();
    let o = cli(&d, &["prove", "--all", "--runs", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = verdict(&d);
    let reasons = v["proofs"][0]["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|r| r.as_str().unwrap().starts_with(
            "golden-run-id-differs: goldens/demo.surface.json is the golden of run `old-name`"
        )),
        "{reasons:?}"
    );
    assert_eq!(v["proofs"][0]["diff"]["changed"], false, "no entry changed");
    assert!(d.join(".assay/proofs/demo/demo.surface.json.new").exists());
}
