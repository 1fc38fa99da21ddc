//! The Markdown report: one text for the check run summary and the step summary, cut to each
//! channel's limit with a visible marker that points at the full report.

use std::fmt::Write as _;

use crate::contracts::verdict::{ProofSetVerdict, ProofVerdict, Verdict};

use super::{Conclusion, conclusion, verdict_word};

/// GitHub's limit on a check run's `output.summary`, in characters.
pub const CHECK_RUN_SUMMARY_CHARS: usize = 65_535;
/// GitHub's limit on one step's `$GITHUB_STEP_SUMMARY` upload, in bytes.
pub const STEP_SUMMARY_BYTES: usize = 1 << 20;

/// The full Markdown report. `title` heads it; the non-claims close it.
pub fn report(v: &ProofSetVerdict, title: &str, inconclusive: Conclusion) -> String {
    let mut o = String::new();
    let c = conclusion(v.verdict, inconclusive);
    let _ = writeln!(o, "## {title}: {}\n", headline(v));
    let lane = v.lane.as_deref().unwrap_or("(not a lane selection)");
    let _ = writeln!(
        o,
        "Lane **{}** · overall verdict **{}** · check conclusion `{}`\n",
        code_free(lane),
        verdict_word(v.verdict),
        c.as_str()
    );
    if v.proofs.is_empty() {
        let _ = writeln!(o, "No proof is required for this lane.\n");
    } else {
        let _ = writeln!(
            o,
            "| proof | verdict | runs | deterministic | kernel layer | correlation | drops | surface |"
        );
        let _ = writeln!(o, "|---|---|---:|---|---|---|---:|---|");
        for p in &v.proofs {
            let (layer, corr, drops) = match &p.health {
                Some(h) => (
                    serde_plain(&h.kernel_layer),
                    serde_plain(&h.cgroup_correlation),
                    h.ringbuf_drops.to_string(),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            let surface = match &p.diff {
                None => "no diff".to_string(),
                Some(d) if !d.changed => "unchanged".to_string(),
                Some(d) => {
                    let (a, r) = d
                        .categories
                        .iter()
                        .fold((0, 0), |(a, r), c| (a + c.added.len(), r + c.removed.len()));
                    format!("+{a} −{r}")
                }
            };
            let _ = writeln!(
                o,
                "| {} | {} {} | {} | {} | {layer} | {corr} | {drops} | {surface} |",
                code_free(&p.name),
                icon(p.verdict),
                verdict_word(p.verdict),
                p.runs,
                if p.deterministic { "yes" } else { "**no**" },
            );
        }
        let _ = writeln!(o);
    }
    for p in &v.proofs {
        proof_section(&mut o, p);
    }
    let _ = writeln!(
        o,
        "<sub>Linux only. Kernel observation of the proof's cgroup; effects outside the observed \
         process tree (remote services) are invisible. Inconclusive means the observation was \
         not clean, never a pass.</sub>"
    );
    o
}

fn proof_section(o: &mut String, p: &ProofVerdict) {
    let _ = writeln!(
        o,
        "### {} `{}` — {}\n",
        icon(p.verdict),
        code_free(&p.name),
        verdict_word(p.verdict)
    );
    for r in &p.reasons {
        let _ = writeln!(o, "- {}", one_line(r));
    }
    if !p.reasons.is_empty() {
        let _ = writeln!(o);
    }
    let _ = write!(o, "Golden: `{}`", code_free(&p.golden));
    if let Some(b) = &p.bundle {
        let _ = write!(o, " · bundle: `{}`", code_free(b));
    }
    if let Some(n) = &p.pending {
        let _ = write!(
            o,
            " · pending golden: `{}` in the proof's artifact (if the change is intended: \
             download it, or run the proof locally, then `assay-runner golden accept {}` and \
             commit the golden; the PR then needs approval)",
            code_free(n),
            code_free(&p.name)
        );
    }
    let _ = writeln!(o, "\n");
    if let Some(u) = &p.golden_update {
        let _ = writeln!(
            o,
            "**This change updates the golden to exactly what its proof produced.** The base's \
             golden judges the PR, so this is green only after an approving review of the head \
             commit by someone with write access who is not the author \
             (docs/github-action.md, \"Approving an intended change\"). What the approval covers:\n"
        );
        let fence = "`".repeat(longest_backtick_run(&u.diff).max(2) + 1);
        let _ = writeln!(o, "{fence}diff\n{}{fence}\n", u.diff);
    }
    if let Some(d) = &p.diff {
        o.push_str(&crate::diff::markdown(d));
        let _ = writeln!(o);
    }
}

/// The longest run of backticks in `s` (a code fence must be longer to hold it).
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn headline(v: &ProofSetVerdict) -> String {
    let n = v.proofs.len();
    let count = |w: Verdict| v.proofs.iter().filter(|p| p.verdict == w).count();
    match v.verdict {
        Verdict::Pass if n == 0 => "pass (no proof required)".into(),
        Verdict::Pass => format!("pass ({n} of {n} proofs)"),
        Verdict::Fail => format!("fail ({} of {n} proofs failed)", count(Verdict::Fail)),
        Verdict::NeedsApproval => format!(
            "needs approval ({} of {n} proofs changed to the golden this change carries)",
            count(Verdict::NeedsApproval)
        ),
        Verdict::Inconclusive => format!(
            "inconclusive ({} of {n} proofs not cleanly observed)",
            count(Verdict::Inconclusive)
        ),
    }
}

/// One-line title for the check run output.
pub fn title(v: &ProofSetVerdict) -> String {
    match &v.lane {
        Some(l) => format!("{} · lane {}", headline(v), one_line(l)),
        None => headline(v),
    }
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::NeedsApproval => "✋",
        Verdict::Inconclusive => "⚠️",
    }
}

fn serde_plain<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "\\|")
}

/// Text placed inside a single-backtick code span: backticks and line breaks cannot end it.
fn code_free(s: &str) -> String {
    one_line(s).replace('`', "'")
}

/// `text` cut to at most `max` units (`count` measures a string) at a line boundary when one
/// is near, followed by a marker naming where the full report is. Unchanged when it fits.
pub fn truncate(text: &str, max: usize, count: fn(&str) -> usize, full: &str) -> String {
    if count(text) <= max {
        return text.to_string();
    }
    let marker = format!(
        "\n\n---\n**⚠️ truncated**: this report was cut to fit GitHub's limit. The full report is {full}.\n"
    );
    let budget = max.saturating_sub(count(&marker));
    // Longest prefix within budget (counting is monotone in the prefix length).
    let mut cut = 0;
    let mut used = 0;
    for (i, ch) in text.char_indices() {
        let w = count(ch.encode_utf8(&mut [0; 4]));
        if used + w > budget {
            break;
        }
        used += w;
        cut = i + ch.len_utf8();
    }
    let mut head = &text[..cut];
    if let Some(nl) = head.rfind('\n')
        && nl * 4 >= cut * 3
    {
        head = &head[..nl];
    }
    format!("{head}{marker}")
}

/// Characters, as GitHub counts the check run summary.
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Bytes, as GitHub counts the step summary.
pub fn bytes(s: &str) -> usize {
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::proof;

    #[test]
    fn report_names_lane_verdicts_and_changes() {
        let v = crate::prove::set_verdict(
            "lane:sdk",
            Some("sdk"),
            vec![
                proof("demo", Verdict::Fail, 2),
                proof("b", Verdict::Pass, 0),
            ],
        );
        let m = report(&v, "assay-runner proofs", Conclusion::Failure);
        assert!(
            m.starts_with("## assay-runner proofs: fail (1 of 2 proofs failed)"),
            "{m}"
        );
        assert!(m.contains("Lane **sdk**"));
        assert!(m.contains("| demo | ❌ fail | 3 | yes |"), "{m}");
        assert!(m.contains("golden accept demo"));
        assert_eq!(title(&v), "fail (1 of 2 proofs failed) · lane sdk");
    }

    #[test]
    fn untrusted_names_cannot_break_code_spans_or_tables() {
        let mut p = proof("x", Verdict::Fail, 0);
        p.name = "a`|\nb".into();
        let v = crate::prove::set_verdict("all", None, vec![p]);
        let m = report(&v, "t", Conclusion::Failure);
        assert!(m.contains("| a'\\| b |"), "{m}");
    }

    #[test]
    fn truncation_fits_the_limit_and_says_so() {
        let text = "line ✅\n".repeat(20_000);
        for (max, count) in [(65_535, chars as fn(&str) -> usize), (1000, bytes)] {
            let t = truncate(&text, max, count, "the `assay-report` artifact");
            assert!(count(&t) <= max, "{} > {max}", count(&t));
            assert!(count(&t) > max - 200);
            assert!(t.contains("**⚠️ truncated**"));
            assert!(t.contains("`assay-report` artifact"));
        }
        assert_eq!(truncate("short", 10, chars, "x"), "short");
    }
}
