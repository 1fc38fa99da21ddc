//! `assay-runner report`: the verdict of a proof set, told to GitHub.
//!
//! Input is one or more `verdict.json` files written by `prove` (a matrix of proof jobs gives
//! one each; they are merged here). Output channels, each selectable by the CLI:
//! - a check run on the PR head commit ([`check_run`]), annotations on golden-file lines;
//! - the Markdown report for `$GITHUB_STEP_SUMMARY` ([`markdown`]);
//! - workflow-command annotations (`::error file=…`) for read-only tokens ([`commands`]);
//! - action outputs `lane`, `verdict`, `bundles` ([`github::outputs`]);
//! - the offline HTML report ([`html`]).
//!
//! This module decides *what* is said (conclusion, annotations, text); the CLI decides which
//! channels run and prints. Nothing here reads the token except [`check_run`], which hands it
//! to the HTTP client and never formats it.

pub mod approval;
pub mod check_run;
pub mod commands;
pub mod github;
pub mod html;
pub mod markdown;

use std::path::{Path, PathBuf};

use crate::contracts::verdict::{self, ProofSetVerdict, ProofVerdict, Verdict};
use crate::exit::Exit;

/// Largest `verdict.json` accepted (it is input from a possibly untrusted job's artifact).
pub const MAX_VERDICT_BYTES: u64 = 64 << 20;
/// GitHub's limit on an annotation title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// GitHub's limit on an annotation message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 65_535;

/// What went wrong reading the report's input.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A verdict file could not be read.
    #[error("{path}: cannot read verdict: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A verdict file is not an `assay.runner.verdict.v4` document.
    #[error("{path}:{line}:{column}: not an assay.runner.verdict.v4 document: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was expected.
        message: String,
    },
    /// Two verdict files name the same proof.
    #[error("{path}: proof `{name}` is also reported by {first}; each proof may be reported once")]
    DuplicateProof {
        /// The later file.
        path: PathBuf,
        /// The proof.
        name: String,
        /// The earlier file.
        first: String,
    },
    /// Verdict files disagree on the lane.
    #[error("{path}: lane `{lane}` differs from `{other}` in an earlier verdict file")]
    LaneMismatch {
        /// The later file.
        path: PathBuf,
        /// Its lane.
        lane: String,
        /// The earlier lane.
        other: String,
    },
    /// No verdict file was given.
    #[error("no verdict file given (pass the verdict.json that `assay-runner prove` wrote)")]
    Empty,
}

/// A check run conclusion (the subset a verdict maps to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Conclusion {
    /// The check passed.
    Success,
    /// The check failed (blocks a required check).
    Failure,
    /// Neither: shown grey, does not block.
    Neutral,
}

impl Conclusion {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Neutral => "neutral",
        }
    }
}

/// Maps a verdict to a conclusion: pass → success, fail and needs-approval (not yet approved)
/// → failure, inconclusive → the configured conclusion (default failure: unobserved is never
/// green by accident).
pub fn conclusion(v: Verdict, inconclusive: Conclusion) -> Conclusion {
    match v {
        Verdict::Pass => Conclusion::Success,
        Verdict::Fail | Verdict::NeedsApproval => Conclusion::Failure,
        Verdict::Inconclusive => inconclusive,
    }
}

/// Turns each `needs_approval` proof that `approved` names into a pass, saying who approved
/// it, and recomputes the overall verdict.
pub fn apply_approvals(v: &mut ProofSetVerdict, approved: &[(String, approval::Approval)]) {
    for p in &mut v.proofs {
        if p.verdict != Verdict::NeedsApproval {
            continue;
        }
        if let Some((_, a)) = approved.iter().find(|(n, _)| *n == p.name) {
            p.verdict = Verdict::Pass;
            p.reasons.push(format!(
                "golden-approved: @{} approved the golden this change carries (review {})",
                a.login, a.review_id
            ));
            p.reasons.sort();
        }
    }
    v.verdict = v
        .proofs
        .iter()
        .map(|p| p.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
}

/// The process exit code for a verdict: 0 pass, 1 fail, 4 inconclusive — unless inconclusive
/// was configured to conclude success or neutral, which exits 0 like the check run reads.
pub fn exit_code(v: Verdict, inconclusive: Conclusion) -> i32 {
    match (v, conclusion(v, inconclusive)) {
        (Verdict::Pass, _) => Exit::Ok.code(),
        (Verdict::Fail | Verdict::NeedsApproval, _) => Exit::Failed.code(),
        (Verdict::Inconclusive, Conclusion::Failure) => Exit::Inconclusive.code(),
        (Verdict::Inconclusive, _) => Exit::Ok.code(),
    }
}

/// Reads and merges verdict files. A directory means its `verdict.json`. Proofs keep the
/// order of the files; the overall verdict is recomputed as the worst proof.
pub fn load(paths: &[PathBuf]) -> Result<ProofSetVerdict, ReportError> {
    let mut merged: Option<ProofSetVerdict> = None;
    let mut seen: Vec<(String, String)> = Vec::new();
    for given in paths {
        let path = if given.is_dir() {
            given.join("verdict.json")
        } else {
            given.clone()
        };
        let bytes = crate::fsutil::read_bounded(&path, MAX_VERDICT_BYTES).map_err(|source| {
            ReportError::Io {
                path: path.clone(),
                source,
            }
        })?;
        let v = parse(&path, &bytes)?;
        for p in &v.proofs {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == p.name) {
                return Err(ReportError::DuplicateProof {
                    path: path.clone(),
                    name: p.name.clone(),
                    first: first.clone(),
                });
            }
            seen.push((p.name.clone(), path.display().to_string()));
        }
        merged = Some(match merged {
            None => v,
            Some(mut m) => {
                match (&m.lane, &v.lane) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(ReportError::LaneMismatch {
                            path,
                            lane: b.clone(),
                            other: a.clone(),
                        });
                    }
                    (None, Some(b)) => m.lane = Some(b.clone()),
                    _ => {}
                }
                if m.run_id != v.run_id {
                    m.run_id = "merged".into();
                }
                m.proofs.extend(v.proofs);
                m
            }
        });
    }
    let m = merged.ok_or(ReportError::Empty)?;
    // The overall verdict is recomputed from the proofs, never trusted from the files.
    Ok(crate::prove::set_verdict(
        &m.run_id,
        m.lane.as_deref(),
        m.proofs,
    ))
}

/// Parses one verdict document strictly (unknown fields and other schemas are rejected).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ProofSetVerdict, ReportError> {
    let v: ProofSetVerdict = serde_json::from_slice(bytes).map_err(|e| ReportError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if v.schema != verdict::SCHEMA {
        return Err(ReportError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("`schema` is `{}`, expected `{}`", v.schema, verdict::SCHEMA),
        });
    }
    Ok(v)
}

/// Severity of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Blocks: the proof failed here.
    Failure,
    /// Evidence incomplete here: the proof was inconclusive.
    Warning,
}

impl Level {
    /// The check-run API's spelling.
    pub fn api(self) -> &'static str {
        match self {
            Level::Failure => "failure",
            Level::Warning => "warning",
        }
    }
}

/// An annotation on a repository file line, before it is sent to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Repository-relative path.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// Severity.
    pub level: Level,
    /// ≤ [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// ≤ [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
}

/// Annotations for a proof set: one per golden line a diff adds or removes, and for a proof
/// that did not pass without any such line (no golden, determinism broke, verify failed,
/// observation not clean), one on the golden file's first line carrying its reasons.
/// `prefix` is prepended to paths (the working directory relative to the repository root).
pub fn annotations(v: &ProofSetVerdict, prefix: &str) -> Vec<Annotation> {
    let mut out = Vec::new();
    for p in &v.proofs {
        let level = match p.verdict {
            Verdict::Pass => continue,
            Verdict::Fail => Level::Failure,
            Verdict::Inconclusive | Verdict::NeedsApproval => Level::Warning,
        };
        let path = join(prefix, &p.golden);
        let lines = p.diff.as_ref().map_or(&[][..], |d| &d.golden_lines[..]);
        for g in lines {
            let sign = if g.change == "added" { '+' } else { '-' };
            let title = format!("{}: {} {sign} {}", p.name, g.category, g.entry);
            let who = p
                .diff
                .as_ref()
                .and_then(|d| d.explanation(&g.category, &g.change, &g.entry))
                .map_or(String::new(), |x| format!("\nWho: {}", x.line));
            let message = format!(
                "proof `{}`: `{}` was {} in {} compared with this golden.{who}{}",
                p.name,
                g.entry,
                g.change,
                g.category,
                review_hint(p)
            );
            out.push(Annotation {
                path: path.clone(),
                line: g.line.max(1),
                level,
                title: clip(&title, MAX_TITLE_CHARS),
                message: clip(&message, MAX_MESSAGE_CHARS),
            });
        }
        if lines.is_empty() {
            let why = if p.reasons.is_empty() {
                "no reason recorded".to_string()
            } else {
                p.reasons.join("\n")
            };
            out.push(Annotation {
                path,
                line: 1,
                level,
                title: clip(&format!("{}: {}", p.name, verdict_word(p.verdict)), 255),
                message: clip(
                    &format!("proof `{}` is {}:\n{why}", p.name, verdict_word(p.verdict)),
                    MAX_MESSAGE_CHARS,
                ),
            });
        }
    }
    out
}

fn review_hint(p: &ProofVerdict) -> String {
    if p.golden_update.is_some() {
        return " This change carries the golden it produced: it turns green with an approving review of the head commit by someone with write access (not the author).".into();
    }
    match &p.pending {
        Some(pending) => format!(
            " If intended, get `{pending}` from the proof's artifact (or run the proof locally), run `assay-runner golden accept {}`, commit the golden, and ask for an approving review.",
            p.name
        ),
        None => String::new(),
    }
}

/// `pass`, `fail` or `inconclusive`.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::NeedsApproval => "needs_approval",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// Bundle paths of the reported proofs, in proof order.
pub fn bundles(v: &ProofSetVerdict) -> Vec<String> {
    v.proofs.iter().filter_map(|p| p.bundle.clone()).collect()
}

fn join(prefix: &str, path: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let path = path.strip_prefix("./").unwrap_or(path);
    if prefix.is_empty() || prefix == "." {
        path.to_string()
    } else {
        format!("{prefix}/{path}")
    }
}

/// At most `max` characters of `s`, ending in `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::capability_diff::{
        CapabilityDiff, CategoryDiff, DiffStatus, GoldenLine, Side, SideKind,
    };

    pub(crate) fn proof(name: &str, verdict: Verdict, lines: usize) -> ProofVerdict {
        let side = |kind, source: &str| Side {
            kind,
            source: source.into(),
            run_id: name.into(),
            health_clean: true,
        };
        let mut d = CapabilityDiff {
            schema: crate::contracts::capability_diff::SCHEMA.into(),
            run_id: name.into(),
            status: DiffStatus::Clean,
            changed: lines > 0,
            base: side(SideKind::Golden, "goldens/x.surface.json"),
            head: side(SideKind::Bundle, "out/x.tar.gz"),
            categories: vec![CategoryDiff {
                category: "filesystem_paths".into(),
                added: Vec::new(),
                removed: Vec::new(),
                unchanged: vec!["<work>/a".into()],
            }],
            golden_lines: Vec::new(),
            explanations: Vec::new(),
            notes: Vec::new(),
        };
        d.golden_lines = (0..lines)
            .map(|i| GoldenLine {
                line: i as u64 + 2,
                category: "filesystem_paths".into(),
                change: if i % 2 == 0 { "added" } else { "removed" }.into(),
                entry: format!("/etc/file-{i}"),
            })
            .collect();
        ProofVerdict {
            name: name.into(),
            verdict,
            reasons: vec!["surface_changed: the surface differs from the golden".into()],
            runs: 3,
            deterministic: true,
            bundle: Some(format!("out/{name}.tar.gz")),
            golden: format!("goldens/{name}.surface.json"),
            pending: Some(format!("goldens/{name}.surface.json.new")),
            health: None,
            diff: Some(d),
            golden_update: None,
            golden_sha256: None,
        }
    }

    #[test]
    fn conclusions_and_exit_codes() {
        use Conclusion::*;
        assert_eq!(conclusion(Verdict::Pass, Failure), Success);
        assert_eq!(conclusion(Verdict::Fail, Neutral), Failure);
        assert_eq!(conclusion(Verdict::Inconclusive, Failure), Failure);
        assert_eq!(conclusion(Verdict::Inconclusive, Neutral), Neutral);
        assert_eq!(exit_code(Verdict::Inconclusive, Failure), 4);
        assert_eq!(exit_code(Verdict::Inconclusive, Neutral), 0);
        assert_eq!(exit_code(Verdict::Fail, Success), 1);
        assert_eq!(exit_code(Verdict::Pass, Failure), 0);
    }

    #[test]
    fn one_annotation_per_golden_line_and_none_for_a_pass() {
        let v = crate::prove::set_verdict(
            "all",
            None,
            vec![
                proof("a", Verdict::Fail, 3),
                proof("b", Verdict::Pass, 0),
                proof("c", Verdict::Inconclusive, 0),
            ],
        );
        let a = annotations(&v, "sub/dir/");
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].path, "sub/dir/goldens/a.surface.json");
        assert_eq!(a[0].line, 2);
        assert_eq!(a[0].level, Level::Failure);
        assert_eq!(a[0].title, "a: filesystem_paths + /etc/file-0");
        assert_eq!(a[1].title, "a: filesystem_paths - /etc/file-1");
        assert!(a[0].message.contains("golden accept a"), "{}", a[0].message);
        assert_eq!(a[3].path, "sub/dir/goldens/c.surface.json");
        assert_eq!((a[3].line, a[3].level), (1, Level::Warning));
        assert!(a[3].message.contains("surface_changed"));
    }

    #[test]
    fn titles_are_clipped_to_255_characters() {
        let mut p = proof("a", Verdict::Fail, 1);
        p.diff.as_mut().unwrap().golden_lines[0].entry = "é".repeat(1000);
        let v = crate::prove::set_verdict("all", None, vec![p]);
        let a = annotations(&v, "");
        assert_eq!(a[0].title.chars().count(), 255);
        assert!(a[0].title.ends_with('…'));
    }

    #[test]
    fn merging_recomputes_the_verdict_and_rejects_duplicates() {
        let t = tempfile::tempdir().unwrap();
        let write = |n: &str, v: &ProofSetVerdict| {
            let p = t.path().join(n);
            std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
            p
        };
        let a = write(
            "a.json",
            &crate::prove::set_verdict("lane:sdk", Some("sdk"), vec![proof("a", Verdict::Pass, 0)]),
        );
        let b = write(
            "b.json",
            &crate::prove::set_verdict("lane:sdk", Some("sdk"), vec![proof("b", Verdict::Fail, 2)]),
        );
        let m = load(&[a.clone(), b]).unwrap();
        assert_eq!(m.verdict, Verdict::Fail);
        assert_eq!(m.lane.as_deref(), Some("sdk"));
        assert_eq!(bundles(&m), ["out/a.tar.gz", "out/b.tar.gz"]);
        let mut lying = crate::prove::set_verdict("all", None, vec![proof("c", Verdict::Fail, 1)]);
        lying.verdict = Verdict::Pass;
        let lie = write("lie.json", &lying);
        assert_eq!(
            load(&[lie]).unwrap().verdict,
            Verdict::Fail,
            "recomputed, not trusted"
        );
        let e = load(&[a.clone(), a]).unwrap_err().to_string();
        assert!(e.contains("proof `a` is also reported"), "{e}");
        let bad = t.path().join("bad.json");
        std::fs::write(&bad, "{\n  \"schema\": 3\n}").unwrap();
        let e = load(&[bad]).unwrap_err().to_string();
        assert!(e.contains("bad.json:2:"), "{e}");
        assert!(matches!(load(&[]), Err(ReportError::Empty)));
    }
}
