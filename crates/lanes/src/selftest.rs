//! `lanes self-test`: every `cases` entry and every `forbid` check, plus warnings for rules that
//! no case exercises and `except` globs that never exclude anything.
//! Imports: `crate::{config, classify, changes}`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use super::changes::{ChangeKind, ChangedPath};
use super::classify::Decision;
use super::config::{Case, Forbid, LanesConfig};

/// A case whose lane was not the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// Case name.
    pub case: String,
    /// Line of the case.
    pub line: u64,
    /// Expected lane name.
    pub expected: String,
    /// Actual lane name.
    pub actual: String,
    /// `path → lane (rules)` for each file at the actual lane.
    pub deciding: Vec<String>,
}

/// A match of a forbidden pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForbidHit {
    /// Check name.
    pub check: String,
    /// File (escaped text form).
    pub path: String,
    /// 1-based line of the match.
    pub line: usize,
    /// The matched text (lossy, trimmed to 120 chars).
    pub text: String,
    /// Optional explanation from the config.
    pub message: Option<String>,
}

/// Outcome of a self-test.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases_run: usize,
    /// Failed cases.
    pub case_failures: Vec<CaseFailure>,
    /// Forbid checks run.
    pub forbid_run: usize,
    /// Files read by forbid checks.
    pub files_scanned: usize,
    /// Forbidden matches.
    pub forbid_hits: Vec<ForbidHit>,
    /// Warnings (`code: prose`), not failures.
    pub warnings: Vec<String>,
}

impl Report {
    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.case_failures.is_empty() && self.forbid_hits.is_empty()
    }
}

/// Errors that stop a self-test from running at all.
#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    /// Listing or reading the tree failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What was read.
        path: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// Runs every case and forbid check. `root` is the repository the forbid paths are relative to.
pub fn run(config: &LanesConfig, root: &Path) -> Result<Report, SelfTestError> {
    let mut report = Report::default();
    let mut coverage = Coverage::new(config);
    for case in &config.cases {
        report.cases_run += 1;
        if let Some(failure) = run_case(config, case, &mut coverage) {
            report.case_failures.push(failure);
        }
    }
    coverage.warn(config, &mut report.warnings);
    if !config.forbid.is_empty() {
        run_forbid(config, root, &mut report)?;
    }
    Ok(report)
}

/// Which rules and which `except` globs the cases exercised.
struct Coverage {
    /// Rule → whether it applied to some case file.
    exercised: Vec<bool>,
    /// Rule → except glob → whether it excluded some case file a `paths` glob matched.
    excepted_used: Vec<Vec<bool>>,
}

impl Coverage {
    /// Nothing exercised yet.
    fn new(config: &LanesConfig) -> Coverage {
        Coverage {
            exercised: vec![false; config.rules.len()],
            excepted_used: config
                .rules
                .iter()
                .map(|r| vec![false; r.except.len()])
                .collect(),
        }
    }

    /// Records the rules that applied to each file of `d` and the `except` globs that excluded it.
    fn record(&mut self, config: &LanesConfig, d: &Decision) {
        for f in &d.files {
            for &r in &f.rules {
                self.exercised[r] = true;
            }
            // `explain` lists verdicts in rule order, so the index is the rule's index.
            for (ri, v) in config.explain(&f.path).rules.into_iter().enumerate() {
                if !v.matched.is_empty() {
                    for p in v.excepted {
                        if let Some(k) = v.rule.except.iter().position(|e| std::ptr::eq(e, p)) {
                            self.excepted_used[ri][k] = true;
                        }
                    }
                }
            }
        }
    }

    /// Warns, in rule order, of each rule and `except` glob no case exercised.
    fn warn(&self, config: &LanesConfig, warnings: &mut Vec<String>) {
        for (i, r) in config.rules.iter().enumerate() {
            if !self.exercised[i] {
                warnings.push(format!(
                    "unexercised-rule: rule {} (line {}) is never exercised by a case",
                    r.name, r.pos.line
                ));
            }
            for (k, e) in r.except.iter().enumerate() {
                if !self.excepted_used[i][k] {
                    warnings.push(format!(
                        "unexercised-except: except `{}` of rule {} (line {}) never excludes a case file",
                        e.glob, r.name, e.pos.line
                    ));
                }
            }
        }
    }
}

/// Classifies one case's files and records its coverage; the failure when its lane is not the
/// expected one.
fn run_case(config: &LanesConfig, case: &Case, coverage: &mut Coverage) -> Option<CaseFailure> {
    let changes: Vec<ChangedPath> = case
        .files
        .iter()
        .map(|f| ChangedPath {
            path: f.as_bytes().to_vec(),
            change: ChangeKind::Listed,
        })
        .collect();
    let d = config.classify(&changes);
    coverage.record(config, &d);
    if d.lane == case.expect {
        return None;
    }
    Some(CaseFailure {
        case: case.name.clone(),
        line: case.pos.line,
        expected: config.lanes[case.expect].clone(),
        actual: config.lanes[d.lane].clone(),
        deciding: deciding(config, &d),
    })
}

/// `path → lane (rules)` for each file of `d` at the PR's lane.
fn deciding(config: &LanesConfig, d: &Decision) -> Vec<String> {
    d.files
        .iter()
        .filter(|f| f.lane == d.lane)
        .map(|f| {
            let rules: Vec<&str> = f
                .rules
                .iter()
                .map(|&r| config.rules[r].name.as_str())
                .collect();
            let why = if rules.is_empty() {
                "default".to_string()
            } else {
                rules.join(", ")
            };
            format!(
                "{} → {} ({why})",
                assay_contracts::pathbytes::escape(&f.path),
                config.lanes[f.lane]
            )
        })
        .collect()
}

/// Runs every forbid check over the files under `root`, in config order.
fn run_forbid(config: &LanesConfig, root: &Path, report: &mut Report) -> Result<(), SelfTestError> {
    let files = list_files(root)?;
    let mut scanned = std::collections::HashSet::new();
    for check in &config.forbid {
        report.forbid_run += 1;
        let mut matched_any = false;
        for rel in &files {
            if !check.applies_to(rel) {
                continue;
            }
            matched_any = true;
            scanned.insert(rel.clone());
            let full = root.join(std::ffi::OsStr::from_bytes(rel));
            let Some(body) = read_present(&full)? else {
                continue;
            };
            forbid_hits(check, rel, &body, &mut report.forbid_hits);
        }
        if !matched_any {
            report.warnings.push(format!(
                "forbid-matches-no-file: forbid check {} (line {}) matches no file under {}",
                check.name,
                check.pos.line,
                root.display()
            ));
        }
    }
    report.files_scanned = scanned.len();
    Ok(())
}

/// The content of `full`, or `None` when it does not exist (listed but since removed).
fn read_present(full: &Path) -> Result<Option<Vec<u8>>, SelfTestError> {
    match std::fs::read(full) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SelfTestError::Io {
            path: full.display().to_string(),
            source,
        }),
    }
}

/// Adds a hit for each match of `check`'s pattern in `body`, the content of file `rel`.
fn forbid_hits(check: &Forbid, rel: &[u8], body: &[u8], hits: &mut Vec<ForbidHit>) {
    for m in check.pattern.find_iter(body) {
        let line = 1 + body[..m.start()].iter().filter(|&&b| b == b'\n').count();
        let mut text = String::from_utf8_lossy(m.as_bytes()).trim().to_string();
        if text.chars().count() > 120 {
            text = text.chars().take(120).collect::<String>() + "…";
        }
        hits.push(ForbidHit {
            check: check.name.clone(),
            path: assay_contracts::pathbytes::escape(rel),
            line,
            text,
            message: check.message.clone(),
        });
    }
}

/// Files under `root`, repo-relative: tracked and untracked-but-not-ignored files when `root`
/// is a git work tree, otherwise every regular file (skipping `.git`).
fn list_files(root: &Path) -> Result<Vec<Vec<u8>>, SelfTestError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output();
    if let Ok(out) = out
        && out.status.success()
    {
        let mut v: Vec<Vec<u8>> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        v.sort();
        v.dedup();
        return Ok(v);
    }
    let mut v = Vec::new();
    walk(root, Path::new(""), &mut v)?;
    v.sort();
    Ok(v)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<Vec<u8>>) -> Result<(), SelfTestError> {
    let dir = root.join(rel);
    let io = |source| SelfTestError::Io {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let ty = entry.file_type().map_err(io)?;
        let child = rel.join(&name);
        if ty.is_dir() {
            walk(root, &child, out)?;
        } else if ty.is_file() {
            out.push(child.as_os_str().as_bytes().to_vec());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
lanes: [none, all]
rules:
  - name: kernel
    lane: all
    paths: ["bpf/**"]
    except: ["**/*.md"]
  - name: lonely
    lane: all
    paths: ["nothing/**"]
cases:
  - name: kernel change
    files: ["bpf/a.c"]
    expect: all
  - name: wrong on purpose
    files: ["bpf/b.c", "docs/x.md"]
    expect: none
forbid:
  - name: no-secrets
    paths: ["**/*.txt"]
    pattern: 'SECRET_[A-Z]+'
    message: secrets belong in the vault
"#;

    #[test]
    fn reports_failures_warnings_and_hits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.txt"), "ok\nkey = SECRET_KEY\n").unwrap();
        std::fs::write(dir.path().join("b.rs"), "SECRET_KEY").unwrap();
        let config = LanesConfig::parse("t.yaml", CONFIG.as_bytes()).unwrap();
        let r = run(&config, dir.path()).unwrap();
        assert!(!r.passed());
        assert_eq!(r.cases_run, 2);
        assert_eq!(
            r.case_failures,
            [CaseFailure {
                case: "wrong on purpose".into(),
                line: 15,
                expected: "none".into(),
                actual: "all".into(),
                deciding: vec!["bpf/b.c → all (kernel)".into()],
            }]
        );
        assert_eq!(r.forbid_hits.len(), 1);
        assert_eq!(
            (r.forbid_hits[0].path.as_str(), r.forbid_hits[0].line),
            ("sub/a.txt", 2)
        );
        assert_eq!(r.forbid_hits[0].text, "SECRET_KEY");
        assert_eq!(
            r.warnings,
            [
                "unexercised-except: except `**/*.md` of rule kernel (line 7) never excludes a case file",
                "unexercised-rule: rule lonely (line 8) is never exercised by a case",
            ]
        );
    }
}
