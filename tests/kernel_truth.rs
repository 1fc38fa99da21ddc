//! The kernel-truth corpus (fixtures/kernel/truth/manifest.json): every known way of making
//! an effect go missing from the surface, or appear at a wrong path, run for real under
//! `assay-runner run`. Each case must end exact (every expected entry there, no decoy) or
//! flagged (health not clean); a wrong surface with a clean health — a false clean — fails
//! the test, and so does a case that did not make its effect (it would prove nothing).
//!
//! Kernel test: `scripts/test` runs it as root with `--include-ignored`.

mod support;
use support::require_kernel;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// Notes of class `info` (they never make health unclean).
const INFO_NOTES: [&str; 2] = ["grace-kill", "cgroup-remove-failed"];
/// The surface's lists a `*` expectation searches.
const LISTS: [&str; 5] = [
    "filesystem_paths",
    "filesystem_writes",
    "network_endpoints",
    "network_local",
    "process_execs",
];

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    class: Value,
    #[allow(dead_code)]
    mechanism: String,
    file: String,
    build: Option<String>,
    setup: Vec<String>,
    background: Option<Background>,
    inherit_fd: Option<InheritFd>,
    argv: Vec<String>,
    netns: bool,
    netns_sysctls: Vec<String>,
    expect: Vec<Entry>,
    decoy: Vec<Entry>,
    expect_note: Option<String>,
    effect_check: Option<String>,
    teardown: Vec<String>,
    /// A negative control: health must be clean (nothing hidden to flag).
    #[serde(default)]
    expect_clean: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Background {
    argv: Vec<String>,
    ready: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InheritFd {
    fd: i32,
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    field: String,
    entry: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel/truth")
}

/// The values a case's words and commands refer to.
struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    /// `{name}` replaced in one word (a path with spaces stays one word).
    fn word(&self, s: &str) -> String {
        self.0
            .iter()
            .fold(s.to_string(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
    }

    /// `sh -c cmd` with the values as `$WORK`, `$OUT`, ... in its environment.
    fn sh(&self, cmd: &str) -> std::process::Output {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        for (k, v) in &self.0 {
            c.env(k.to_uppercase(), v);
        }
        c.output().expect("sh")
    }
}

/// What one case came to.
#[derive(Debug, PartialEq)]
enum Verdict {
    Exact,
    Flagged,
    FalseClean(String),
    /// A negative control whose health was not clean.
    FalseFlag(Vec<String>),
    NotReproduced(String),
}

struct Row {
    id: String,
    class: String,
    notes: Vec<String>,
    verdict: Verdict,
}

/// A case's directories, under a temporary directory whose name holds a space.
struct Dirs {
    _root: tempfile::TempDir,
    work: PathBuf,
    out: PathBuf,
    build: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::Builder::new()
        .prefix("assay truth ")
        .tempdir()
        .unwrap();
    let [work, out, build] = ["work", "out", "build"].map(|d| root.path().join(d));
    for d in [&work, &out, &build] {
        std::fs::create_dir(d).unwrap();
    }
    Dirs {
        _root: root,
        work,
        out,
        build,
    }
}

fn build(c: &Case, v: &Vars) -> Result<(), String> {
    let Some(cmd) = &c.build else { return Ok(()) };
    let words: Vec<String> = cmd.split_whitespace().map(|w| v.word(w)).collect();
    let o = Command::new(&words[0])
        .args(&words[1..])
        .arg("-I")
        .arg(corpus())
        .output()
        .map_err(|e| format!("{}: {e}", words[0]))?;
    if !o.status.success() {
        return Err(format!(
            "build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// Starts the case's background helper (outside the session) and waits until it is ready.
fn background(c: &Case, v: &mut Vars) -> Result<Option<Child>, String> {
    let Some(b) = &c.background else {
        return Ok(None);
    };
    let argv: Vec<String> = b.argv.iter().map(|a| v.word(a)).collect();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    v.0.insert("bgpid", child.id().to_string());
    let Some(ready) = &b.ready else {
        std::thread::sleep(Duration::from_millis(50));
        return Ok(Some(child));
    };
    let ready = PathBuf::from(v.word(ready));
    let start = Instant::now();
    while !ready.exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("background helper never made {}", ready.display()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Some(child))
}

/// `assay-runner run` of the case; returns its JSON summary and the bundle's path.
fn run(c: &Case, v: &Vars, work: &Path) -> Result<(Value, PathBuf, String), String> {
    let bundle = work.parent().unwrap().join("bundle.tar.gz");
    let runner = env!("CARGO_BIN_EXE_assay-runner");
    let mut argv: Vec<String> = [runner, "run", "--run-id", &c.id, "--work-dir"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(work.display().to_string());
    argv.extend(["--out".into(), bundle.display().to_string()]);
    argv.extend(["--format".into(), "json".into(), "--".into()]);
    argv.extend(c.argv.iter().map(|a| v.word(a)));
    let mut cmd = if c.netns {
        let mut pre = vec!["ip link set lo up".to_string()];
        pre.extend(c.netns_sysctls.iter().map(|s| format!("sysctl -qw '{s}'")));
        let mut u = Command::new("unshare");
        u.args(["-n", "--", "sh", "-c"])
            .arg(format!("{} && exec \"$@\"", pre.join(" && ")))
            .arg("sh")
            .args(&argv);
        u
    } else {
        let mut u = Command::new(&argv[0]);
        u.args(&argv[1..]);
        u
    };
    cmd.current_dir(work).stdin(Stdio::null());
    if let Some(i) = &c.inherit_fd {
        let file = std::fs::File::create(v.word(&i.path)).map_err(|e| e.to_string())?;
        let fd = i.fd;
        // SAFETY: between fork and exec only dup2 (async-signal-safe) on descriptors this
        // process owns; dup2 clears close-on-exec on the new descriptor, so it is passed down.
        unsafe {
            cmd.pre_exec(move || {
                use std::os::fd::AsRawFd;
                if libc::dup2(file.as_raw_fd(), fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let o = cmd.output().map_err(|e| format!("runner: {e}"))?;
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let summary = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("no JSON summary: {stderr}"))?;
    let summary: Value = serde_json::from_str(summary).map_err(|e| e.to_string())?;
    Ok((summary, bundle, stderr))
}

fn glob(pattern: &str) -> globset::GlobMatcher {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .compile_matcher()
}

/// Entries of `field` (`*`: every list) matching `pattern`.
fn present(surface: &Value, field: &str, pattern: &str) -> Vec<String> {
    let g = glob(pattern);
    let fields: Vec<&str> = if field == "*" {
        LISTS.to_vec()
    } else {
        vec![field]
    };
    fields
        .iter()
        .filter_map(|f| surface[*f].as_array())
        .flatten()
        .filter_map(|e| e.as_str())
        .filter(|e| g.is_match(e))
        .map(str::to_string)
        .collect()
}

/// Every path, second path and endpoint of the bundle's kernel layer's successful events (a
/// decoy the surface rules folded away, as `<transient>`, is still wrong there).
fn kernel_strings(bundle: &Path) -> std::collections::BTreeSet<String> {
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = std::collections::BTreeSet::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() != Some("layers/kernel.ndjson") {
            continue;
        }
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        for line in s.lines() {
            let ev: Value = serde_json::from_str(line).unwrap();
            if ev["result"] != "ok" {
                continue; // a failed attempt named what it tried: no effect to misplace
            }
            for k in ["path", "path2", "endpoint"] {
                if let Some(p) = ev[k].as_str() {
                    out.insert(p.to_string());
                }
            }
        }
    }
    out
}

/// Whether health is clean, and its note codes.
fn health(summary: &Value) -> (bool, Vec<String>) {
    let h = &summary["health"];
    let codes: Vec<String> = h["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(|n| n.split(':').next().unwrap().to_string())
        .collect();
    let clean = h["kernel_layer"] == "complete"
        && h["cgroup_correlation"] == "clean"
        && codes.iter().all(|c| INFO_NOTES.contains(&c.as_str()));
    (clean, codes)
}

/// The verdict of a run that made its effect.
fn judge(c: &Case, v: &Vars, summary: &Value, bundle: &Path) -> (Verdict, Vec<String>) {
    let surface = &summary["surface"];
    let (clean, codes) = health(summary);
    let missing: Vec<String> = c
        .expect
        .iter()
        .map(|e| (e, v.word(&e.entry)))
        .filter(|(e, p)| present(surface, &e.field, p).is_empty())
        .map(|(e, p)| format!("{} missing {p}", e.field))
        .collect();
    let mut wrong: Vec<String> = c
        .decoy
        .iter()
        .flat_map(|d| present(surface, &d.field, &v.word(&d.entry)))
        .map(|p| format!("decoy {p}"))
        .collect();
    if wrong.is_empty() && !c.decoy.is_empty() && bundle.exists() {
        let k = kernel_strings(bundle);
        let pats: Vec<_> = c.decoy.iter().map(|d| glob(&v.word(&d.entry))).collect();
        wrong.extend(
            k.iter()
                .filter(|p| pats.iter().any(|g| g.is_match(p)))
                .map(|p| format!("decoy in the kernel layer {p}")),
        );
    }
    wrong.sort();
    wrong.dedup();
    wrong.extend(missing);
    let note_ok = c.expect_note.as_ref().is_some_and(|n| codes.contains(n));
    if c.expect.is_empty() && c.expect_note.is_some() && !note_ok {
        wrong.push(format!("no {} note", c.expect_note.as_deref().unwrap()));
    }
    if c.expect_clean && !clean {
        return (Verdict::FalseFlag(codes.clone()), codes);
    }
    let verdict = match (wrong.is_empty(), clean) {
        (true, _) if c.expect.is_empty() && c.expect_note.is_some() => Verdict::Flagged,
        (true, _) => Verdict::Exact,
        (false, true) => Verdict::FalseClean(wrong.join("; ")),
        (false, false) => Verdict::Flagged,
    };
    (verdict, codes)
}

fn run_case(c: &Case) -> Row {
    let d = dirs();
    let src = corpus().join(&c.file);
    let bin = d.build.join(&c.id);
    let mut v = Vars(BTreeMap::from([
        ("work", d.work.display().to_string()),
        ("out", d.out.display().to_string()),
        ("src", src.display().to_string()),
        ("bin", bin.display().to_string()),
        ("dir", corpus().display().to_string()),
    ]));
    let class = match &c.class {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut row = Row {
        id: c.id.clone(),
        class,
        notes: Vec::new(),
        verdict: Verdict::NotReproduced(String::new()),
    };
    let mut bg = None;
    let result = (|| -> Result<(Verdict, Vec<String>), String> {
        build(c, &v)?;
        for s in &c.setup {
            let o = v.sh(s);
            if !o.status.success() {
                return Err(format!(
                    "setup `{s}`: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
        bg = background(c, &mut v)?;
        let (summary, bundle, stderr) = run(c, &v, &d.work)?;
        if let Some(l) = stderr.lines().find(|l| l.starts_with("case-failed")) {
            return Err(l.to_string());
        }
        if summary["exit_code"] != 0 {
            return Err(format!("exit {}: {stderr}", summary["exit_code"]));
        }
        if let Some(check) = &c.effect_check
            && !v.sh(check).status.success()
        {
            return Err(format!("effect check failed: {check}"));
        }
        Ok(judge(c, &v, &summary, &bundle))
    })();
    if let Some(mut b) = bg {
        // SAFETY: kill(2) of the helper's own process group (it was started as its leader).
        unsafe { libc::kill(-(b.id() as i32), libc::SIGKILL) };
        let _ = b.wait();
    }
    for t in &c.teardown {
        v.sh(t);
    }
    match result {
        Ok((verdict, notes)) => {
            row.verdict = verdict;
            row.notes = notes;
        }
        Err(e) => row.verdict = Verdict::NotReproduced(e),
    }
    row
}

#[test]
#[ignore = "kernel test: runs the kernel-truth corpus under the probes"]
fn no_way_of_hiding_an_effect_yields_a_clean_health() {
    require_kernel();
    let m: Manifest = serde_json::from_slice(
        &std::fs::read(corpus().join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest.json: the corpus's cases");
    let only = std::env::var("ASSAY_TRUTH_ONLY").ok();
    let mut rows = Vec::new();
    println!("| case | class | notes | verdict |\n|---|---|---|---|");
    for c in &m.cases {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|w| glob(w).is_match(&c.id)))
        {
            continue;
        }
        let r = run_case(c);
        println!(
            "| {} | {} | {} | {:?} |",
            r.id,
            r.class,
            r.notes.join(","),
            r.verdict
        );
        rows.push(r);
    }
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|r| f(&r.verdict)).count();
    println!(
        "\nexact: {}, flagged: {}, false clean: {}, not reproduced: {}",
        count(|v| *v == Verdict::Exact),
        count(|v| *v == Verdict::Flagged),
        count(|v| matches!(v, Verdict::FalseClean(_))),
        count(|v| matches!(v, Verdict::NotReproduced(_))),
    );
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Exact | Verdict::Flagged))
        .map(|r| format!("{}: {:?}", r.id, r.verdict))
        .collect();
    assert!(!rows.is_empty(), "no case selected");
    assert!(
        bad.is_empty(),
        "cases that are not exact or flagged:\n{}",
        bad.join("\n")
    );
}
