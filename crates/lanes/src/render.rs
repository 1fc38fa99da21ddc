//! Renderings of lane decisions, explanations and self-test reports: human text, the
//! `lane_decision` contract, and GitHub Actions outputs/step summary.
//! Imports: `crate::{config, classify, selftest}`, `assay_contracts`, `assay_contracts::pathbytes`.

use std::fmt::Write as _;

use super::classify::{Decision, Explanation};
use super::config::LanesConfig;
use super::selftest::Report;
use assay_contracts::lane_decision::{self, FileLane, LaneDecision};
use assay_contracts::pathbytes::escape;

/// Builds the `assay.runner.lane_decision.v0` value (sorted as the contract requires).
pub fn contract(config: &LanesConfig, config_name: &str, d: &Decision) -> LaneDecision {
    let mut files: Vec<FileLane> = d
        .files
        .iter()
        .map(|f| {
            let mut rules: Vec<String> = f
                .rules
                .iter()
                .map(|&r| config.rules[r].name.clone())
                .collect();
            rules.sort();
            FileLane {
                path: escape(&f.path),
                change: f.change.as_str().to_string(),
                lane: config.lanes[f.lane].clone(),
                rules,
            }
        })
        .collect();
    // Keys are unique (a decision holds each (path, change) once and escaping is lossless), so
    // an unstable sort gives the one order there is.
    files.sort_unstable_by(|a, b| (&a.path, &a.change).cmp(&(&b.path, &b.change)));
    LaneDecision {
        schema: lane_decision::SCHEMA.to_string(),
        config: config_name.to_string(),
        lanes: config.lanes.clone(),
        lane: config.lanes[d.lane].clone(),
        files,
    }
}

/// Human table: the PR lane, then one row per file.
pub fn human(c: &LaneDecision) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_human(&mut out, c);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the human table to `w` row by row (give it a buffered writer: 100,000 files are
/// 100,000 rows).
pub fn write_human<W: std::io::Write>(w: &mut W, c: &LaneDecision) -> std::io::Result<()> {
    writeln!(
        w,
        "lane: {}  ({} file(s), config {})",
        c.lane,
        c.files.len(),
        c.config
    )?;
    let w_lane = c
        .files
        .iter()
        .map(|f| f.lane.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let w_change = c
        .files
        .iter()
        .map(|f| f.change.len())
        .max()
        .unwrap_or(6)
        .max(6);
    if !c.files.is_empty() {
        writeln!(
            w,
            "{:<w_lane$}  {:<w_change$}  PATH  (rules)",
            "LANE", "CHANGE"
        )?;
    }
    for f in &c.files {
        write!(
            w,
            "{:<w_lane$}  {:<w_change$}  {}  (",
            f.lane, f.change, f.path
        )?;
        if f.rules.is_empty() {
            w.write_all(b"default")?;
        }
        for (i, r) in f.rules.iter().enumerate() {
            if i > 0 {
                w.write_all(b", ")?;
            }
            w.write_all(r.as_bytes())?;
        }
        w.write_all(b")\n")?;
    }
    Ok(())
}

/// Writes the `lane_decision` contract as pretty JSON and a newline to `w`, without building
/// the text in memory first (give it a buffered writer).
pub fn write_json<W: std::io::Write>(w: &mut W, c: &LaneDecision) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, c)?;
    w.write_all(b"\n")
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: the lane and at most `max_rows` files.
pub fn step_summary(c: &LaneDecision, max_rows: usize) -> String {
    let mut out = format!(
        "### Lane: `{}`\n\n{} changed path(s), rules from `{}`.\n\n",
        c.lane,
        c.files.len(),
        md(&c.config)
    );
    if c.files.is_empty() {
        return out;
    }
    out.push_str("| lane | change | path | rules |\n|---|---|---|---|\n");
    let mut rows: Vec<&FileLane> = c.files.iter().collect();
    // The files that decided the lane first, then the rest.
    rows.sort_by_key(|f| (f.lane != c.lane, f.path.clone()));
    for f in rows.iter().take(max_rows) {
        let rules = if f.rules.is_empty() {
            "default".to_string()
        } else {
            f.rules.join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} |",
            md(&f.lane),
            f.change,
            md(&f.path),
            md(&rules)
        );
    }
    if rows.len() > max_rows {
        let _ = writeln!(
            out,
            "\n…and {} more (see the `files` output).",
            rows.len() - max_rows
        );
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// Lines to append to `$GITHUB_OUTPUT`: `lane=` and a heredoc `files` JSON value.
pub fn github_outputs(c: &LaneDecision, files_json: &str) -> String {
    let mut delim = String::from("ASSAY_EOF");
    while files_json.contains(&delim) {
        delim.push('_');
    }
    format!("lane={}\nfiles<<{delim}\n{files_json}\n{delim}\n", c.lane)
}

/// `lanes explain` text for one path.
pub fn explanation(config: &LanesConfig, path: &[u8], e: &Explanation<'_>) -> String {
    let mut out = String::new();
    let lane = &config.lanes[e.lane];
    let how = if e.defaulted {
        " (no rule applies: default lane)".to_string()
    } else {
        String::new()
    };
    let _ = writeln!(out, "{} → {lane}{how}", escape(path));
    for v in &e.rules {
        let head = format!(
            "  rule {} ({}:{}) lane {}:",
            v.rule.name, config.source, v.rule.pos.line, config.lanes[v.rule.lane]
        );
        let globs = |ps: &[&super::config::Pattern]| {
            ps.iter()
                .map(|p| format!("`{}` (line {})", p.glob, p.pos.line))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if v.matched.is_empty() {
            let _ = writeln!(out, "{head} no match — none of its paths globs matched");
        } else if !v.excepted.is_empty() {
            let _ = writeln!(
                out,
                "{head} excluded — paths {} matched, but except {} excluded it",
                globs(&v.matched),
                globs(&v.excepted)
            );
        } else {
            let _ = writeln!(out, "{head} APPLIES — paths {} matched", globs(&v.matched));
        }
    }
    out
}

/// `lanes self-test` text.
pub fn self_test(config: &LanesConfig, r: &Report) -> String {
    let mut out = String::new();
    for f in &r.case_failures {
        let _ = writeln!(
            out,
            "FAIL case `{}` ({}:{}): expected lane {}, got {}",
            f.case, config.source, f.line, f.expected, f.actual
        );
        for d in &f.deciding {
            let _ = writeln!(out, "       decided by: {d}");
        }
    }
    for h in &r.forbid_hits {
        let msg = h
            .message
            .as_deref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "FAIL forbid `{}`: {}:{}: matched `{}`{msg}",
            h.check, h.path, h.line, h.text
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "{}: {} case(s), {} failed; {} forbid check(s) over {} file(s), {} hit(s); {} warning(s)",
        if r.passed() { "ok" } else { "FAILED" },
        r.cases_run,
        r.case_failures.len(),
        r.forbid_run,
        r.files_scanned,
        r.forbid_hits.len(),
        r.warnings.len()
    );
    out
}
