//! Integration tests of `assay-runner lanes ...`, driving the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_assay-runner"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY");
    c
}

fn run_with_stdin(mut c: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

const FIXTURE: &str = "tests/fixtures/lanes/lanes.yaml";

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every decision the tool prints matches the published schema.
    let c = assay_runner::contracts::Contract::find("lane_decision").unwrap();
    let schema: serde_json::Value = serde_json::from_str(c.published).unwrap();
    let val = jsonschema::draft202012::new(&schema).unwrap();
    if let Err(e) = val.validate(&v) {
        panic!("lane_decision output fails its schema: {e}\n{v:#}");
    }
    v
}

/// Golden test of `--format json`, from a name-status list with a rename, spaces, a leading
/// dash, unicode and a non-UTF-8 byte.
#[test]
fn classify_files_json_golden() {
    let mut c = bin();
    c.args([
        "lanes", "classify", "--config", FIXTURE, "--files", "-", "--format", "json",
    ]);
    let input =
        b"M\tsrc/caf\xe9.rs\nR100\tbpf/a b.c\tdocs/a b.c\n-dash.md\nA\tsrc/na\xc3\xafve.rs\n";
    let out = run_with_stdin(c, input);
    let golden = std::fs::read_to_string("tests/fixtures/lanes/classify.golden.json").unwrap();
    assert_eq!(String::from_utf8(out.stdout.clone()).unwrap(), golden);
}

#[test]
fn classify_files_from_a_file_and_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("changed.txt");
    std::fs::write(&list, "docs/x.md\n").unwrap();
    let out = bin()
        .args(["lanes", "classify", "--config", FIXTURE, "--files"])
        .arg(&list)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("lane: none  (1 file(s)"), "{text}");
    assert!(text.contains("docs/x.md  (docs)"), "{text}");
}

#[test]
fn github_format_writes_outputs_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (out_file, sum_file) = (dir.path().join("out"), dir.path().join("sum"));
    let mut c = bin();
    c.args([
        "lanes", "classify", "--config", FIXTURE, "--files", "-", "--format", "github",
    ])
    .env("GITHUB_OUTPUT", &out_file)
    .env("GITHUB_STEP_SUMMARY", &sum_file);
    let out = run_with_stdin(c, b"bpf/x.c\n");
    assert!(out.status.success());
    let outputs = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(
        outputs,
        "lane=all\nfiles<<ASSAY_EOF\n[{\"path\":\"bpf/x.c\",\"change\":\"listed\",\"lane\":\"all\",\"rules\":[\"kernel\"]}]\nASSAY_EOF\n"
    );
    let summary = std::fs::read_to_string(&sum_file).unwrap();
    assert!(summary.contains("### Lane: `all`"));
    assert!(
        summary.contains("| all | listed | `bpf/x.c` | kernel |"),
        "{summary}"
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository with a base commit, a diverged main, and a feature branch that renames a
/// kernel file into docs and adds a file with spaces in its name.
fn temp_repo() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(d.join("bpf")).unwrap();
    std::fs::create_dir_all(d.join("lanes")).unwrap();
    std::fs::write(d.join("bpf/probe one.c"), "int x;\n".repeat(20)).unwrap();
    std::fs::write(d.join("lanes/lanes.yaml"), std::fs::read(FIXTURE).unwrap()).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "base"]);
    git(d, &["checkout", "-qb", "feature"]);
    std::fs::create_dir_all(d.join("docs")).unwrap();
    git(d, &["mv", "bpf/probe one.c", "docs/probe one.c"]);
    std::fs::write(d.join("docs/new file.md"), "hi\n").unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "feature"]);
    let head = git(d, &["rev-parse", "HEAD"]);
    git(d, &["checkout", "-q", "main"]);
    // main moves on: a change the PR did not make must not count (merge-base semantics).
    std::fs::write(d.join("Cargo.lock"), "x\n").unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "main moves"]);
    let base = git(d, &["rev-parse", "HEAD"]);
    (dir, base, head)
}

fn files_of(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn classify_base_head_uses_merge_base_and_counts_renames_twice() {
    let (dir, base, head) = temp_repo();
    let out = bin()
        .args([
            "lanes", "classify", "--config", FIXTURE, "--base", &base, "--head", &head, "--format",
            "json", "--repo",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["lane"], "all", "the rename's old path is under bpf/");
    assert_eq!(
        files_of(&v),
        [
            ("bpf/probe one.c".into(), "renamed_from".into()),
            ("docs/new file.md".into(), "added".into()),
            ("docs/probe one.c".into(), "renamed_to".into()),
        ]
    );
}

#[test]
fn classify_event_payload_and_config_from_ref() {
    let (dir, base, head) = temp_repo();
    // The PR's head weakens its judge: the base ref's config must be used.
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({"pull_request": {"base": {"sha": base}, "head": {"sha": head}}})
            .to_string(),
    )
    .unwrap();
    std::fs::write(dir.path().join("lanes/lanes.yaml"), "lanes: [none]\n").unwrap();
    let classify = |args: &[&str]| {
        let out = bin()
            .current_dir(dir.path())
            .args(["lanes", "classify", "--format", "json"])
            .args(args)
            .arg("--event")
            .arg(&event)
            .output()
            .unwrap();
        json(&out)
    };
    let from_ref = classify(&["--config", "lanes/lanes.yaml", "--config-from-ref", &base]);
    // --config-from-base takes the same revision from the payload.
    let from_base = classify(&["--config-from-base"]);
    for v in [&from_ref, &from_base] {
        assert_eq!(v["lane"], "all");
        assert_eq!(v["config"], format!("lanes/lanes.yaml@{base}"));
    }
    let out = bin()
        .args(["lanes", "classify", "--config-from-base", "--files", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "needs a base revision");
    // Without --config-from-ref the work-tree file (one lane) decides.
    assert_eq!(classify(&["--config", "lanes/lanes.yaml"])["lane"], "none");
}

#[test]
fn classify_in_a_shallow_clone_deepens() {
    let (dir, base, head) = temp_repo();
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let clone_dir = clone.path().join("c");
    let st = Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--no-single-branch", &url])
        .arg(&clone_dir)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        git(&clone_dir, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let out = bin()
        .args([
            "lanes", "classify", "--config", FIXTURE, "--base", &base, "--head", &head, "--format",
            "json", "--repo",
        ])
        .arg(&clone_dir)
        .output()
        .unwrap();
    assert_eq!(files_of(&json(&out)).len(), 3);
}

#[test]
fn missing_history_is_named() {
    let (dir, base, _) = temp_repo();
    let out = bin()
        .args([
            "lanes",
            "classify",
            "--config",
            FIXTURE,
            "--base",
            &base,
            "--head",
            "0123456789abcdef0123456789abcdef01234567",
            "--repo",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("commit `0123456789abcdef0123456789abcdef01234567` is not in this clone"),
        "{err}"
    );
}

#[test]
fn bad_event_payload_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("e.json");
    std::fs::write(&event, r#"{"push": {}}"#).unwrap();
    let out = bin()
        .args(["lanes", "classify", "--config", FIXTURE, "--event"])
        .arg(&event)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `pull_request.base.sha` string"));
}

#[test]
fn config_errors_name_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(
        &cfg,
        "lanes: [a]\nrules:\n  - name: r\n    lane: nope\n    paths: [x]\n",
    )
    .unwrap();
    let out = bin()
        .args(["lanes", "self-test", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:11: error[unknown-lane]: unknown lane `nope`",
            cfg.display()
        )),
        "{err}"
    );
}

#[test]
fn self_test_passes_on_the_project_config() {
    let out = bin()
        .args(["lanes", "self-test", "--config", "lanes/lanes.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("ok: "), "{text}");
    assert!(
        !text.contains("warning:"),
        "every rule of the project config is exercised: {text}"
    );
}

#[test]
fn self_test_fails_when_a_case_expectation_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("lanes/lanes.yaml").unwrap();
    let broken = text.replacen(
        "    files: [\"Cargo.lock\"]\n    expect: all\n",
        "    files: [\"Cargo.lock\"]\n    expect: none\n",
        1,
    );
    assert_ne!(text, broken);
    let cfg: PathBuf = dir.path().join("lanes.yaml");
    std::fs::write(&cfg, broken).unwrap();
    let out = bin()
        .args(["lanes", "self-test", "--root", ".", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL case `lockfile bump runs everything`"),
        "{text}"
    );
    assert!(text.contains("expected lane none, got all"), "{text}");
    assert!(
        text.contains("decided by: Cargo.lock → all (toolchain-and-ci)"),
        "{text}"
    );
}

#[test]
fn self_test_fails_on_a_forbidden_pattern() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/report")).unwrap();
    std::fs::write(
        dir.path().join("src/report/x.rs"),
        "use crate::kernel::Session;\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "lanes",
            "self-test",
            "--config",
            "lanes/lanes.yaml",
            "--root",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "FAIL forbid `report-judges-nothing`: src/report/x.rs:1: matched `crate::kernel`"
        ),
        "{text}"
    );
}

#[test]
fn explain_names_matching_and_excepting_globs() {
    let out = bin()
        .args(["lanes", "explain", "--config", FIXTURE, "bpf/README.md"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.starts_with("bpf/README.md → none\n"), "{text}");
    assert!(text.contains("rule kernel (tests/fixtures/lanes/lanes.yaml:7) lane all: excluded — paths `bpf/**` (line 9) matched, but except `**/*.md` (line 10) excluded it"), "{text}");
    assert!(
        text.contains("rule docs (tests/fixtures/lanes/lanes.yaml:4) lane none: APPLIES"),
        "{text}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        &["lanes", "classify"][..],
        &["lanes", "self-test"],
        &["lanes", "explain"],
        &["run"],
        &["prove"],
        &["verify"],
        &["diff"],
        &["golden", "accept"],
        &["cross-diff"],
        &["mcp-wrap"],
        &["report"],
        &["schema"],
        &["doctor"],
        &["demo"],
    ] {
        let out = bin().args(cmd).arg("--help").output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example"),
            "{cmd:?} help has no example:\n{text}"
        );
    }
}

/// The rule shapes monorepos write (literal directory + extension, basename prefixes, brace
/// alternations, `**/dir/**`, one `except` shared by every rule), end to end through the binary:
/// every file's lane and rules equal those one `globset::GlobSet` over all globs gives.
#[test]
fn monorepo_rule_shapes_decide_like_one_globset() {
    use globset::{Candidate, GlobSetBuilder};
    use std::os::unix::ffi::OsStrExt;

    const RULES: usize = 60;
    let lanes = ["l0", "l1", "l2", "l3"];
    let mut yaml = String::from("lanes: [l0, l1, l2, l3]\ndefault: l1\nrules:\n");
    let mut rules: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for i in 0..RULES {
        let (paths, except) = match i % 3 {
            0 => (
                vec![format!("mod{i}/**/*.rs"), format!("**/f{i}_*.txt")],
                vec![format!("**/skip{i}/**")],
            ),
            1 => (
                vec![
                    format!("pkg{i}/{{src,lib}}/**/*.{{ts,tsx}}"),
                    format!("services/s{i}/**/Dockerfile"),
                    format!("**/docs{i}/**"),
                ],
                vec!["**/*.test.ts".to_string()],
            ),
            _ => (
                vec![
                    format!("{{apps,libs}}/a{i}/[a-m]*/**"),
                    "**/*.md".to_string(),
                ],
                vec![format!("**/a{i}/**/..")],
            ),
        };
        yaml.push_str(&format!(
            "  - name: r{i}\n    lane: {}\n    paths: {paths:?}\n    except: {except:?}\n",
            lanes[i % 4]
        ));
        rules.push((paths, except));
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut list: Vec<Vec<u8>> = Vec::new();
    for _ in 0..3000 {
        let i = next(RULES + 10);
        let p = match next(9) {
            0 => format!("mod{i}/sub{}/file.rs", next(5)),
            1 => format!("mod{i}/skip{}/x.rs", next(RULES)),
            2 => format!("d/f{i}_{}.txt", next(50)),
            3 => format!(
                "pkg{i}/{}/c/f.{}",
                ["src", "lib", "test"][next(3)],
                ["ts", "tsx", "test.ts"][next(3)]
            ),
            4 => format!("services/s{i}/b/Dockerfile"),
            5 => format!("web/docs{i}/p.md"),
            6 => format!(
                "{}/a{i}/{}/x",
                ["apps", "libs"][next(2)],
                ["b", "n", "c/.."][next(3)]
            ),
            7 => format!("apps/a{i}/b/.."),
            _ => format!("other/{}.md", next(100)),
        };
        let mut p = p.into_bytes();
        if next(20) == 0 {
            p.extend_from_slice(b"/\xff\xfe.rs");
        }
        list.push(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lanes.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let mut c = bin();
    c.args([
        "lanes", "classify", "--files", "-", "--format", "json", "--config",
    ])
    .arg(&config);
    let out = run_with_stdin(c, &list.join(&b'\n'));
    let v = json(&out);

    let mut b = GlobSetBuilder::new();
    let mut owner = Vec::new();
    for (r, (paths, except)) in rules.iter().enumerate() {
        for (g, is_path) in paths
            .iter()
            .map(|g| (g, true))
            .chain(except.iter().map(|g| (g, false)))
        {
            b.add(assay_runner::lanes::config::compile_glob(g).unwrap());
            owner.push((r, is_path));
        }
    }
    let set = b.build().unwrap();
    let files = v["files"].as_array().unwrap();
    let mut seen = std::collections::HashSet::new();
    assert_eq!(
        files.len(),
        list.iter().filter(|p| seen.insert(p.to_vec())).count()
    );
    let mut by_lane = [0usize; 4];
    for f in files {
        let path = assay_runner::pathbytes::unescape(f["path"].as_str().unwrap()).unwrap();
        let hits = set.matches_candidate(&Candidate::new(Path::new(std::ffi::OsStr::from_bytes(
            &path,
        ))));
        let (mut matched, mut excepted) = (vec![false; RULES], vec![false; RULES]);
        for g in hits {
            let (r, is_path) = owner[g];
            if is_path {
                matched[r] = true
            } else {
                excepted[r] = true
            }
        }
        let applied: Vec<usize> = (0..RULES).filter(|&r| matched[r] && !excepted[r]).collect();
        let lane = applied.iter().map(|&r| r % 4).max().unwrap_or(1);
        by_lane[lane] += 1;
        let mut names: Vec<String> = applied.iter().map(|r| format!("r{r}")).collect();
        names.sort();
        assert_eq!(f["lane"], lanes[lane], "{f}");
        assert_eq!(f["rules"], serde_json::json!(names), "{f}");
    }
    // The sample exercises every lane, so the comparison above is not vacuous.
    assert!(by_lane.iter().all(|&n| n > 50), "{by_lane:?}");
}
