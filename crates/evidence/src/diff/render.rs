//! Human and Markdown renderings of a capability diff.

use std::fmt::Write as _;

use assay_contracts::capability_diff::{CapabilityDiff, DiffStatus};

/// Rows listed per category in Markdown before the rest is summarised.
pub const MAX_ROWS: usize = 200;

fn status(s: DiffStatus) -> &'static str {
    match s {
        DiffStatus::Clean => "clean",
        DiffStatus::PartialHealth => "partial:health",
        DiffStatus::Failed => "failed",
    }
}

/// Concise text: one line per added (`+`) or removed (`-`) entry, grouped by category.
pub fn human(d: &CapabilityDiff) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "base {} ({}), head {} — status {}",
        d.base.source,
        d.base.run_id,
        d.head.source,
        status(d.status)
    );
    for c in &d.categories {
        if c.added.is_empty() && c.removed.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "{}: +{} -{} ={}",
            c.category,
            c.added.len(),
            c.removed.len(),
            c.unchanged.len()
        );
        for (sign, change, list) in [('-', "removed", &c.removed), ('+', "added", &c.added)] {
            for e in list {
                let _ = writeln!(o, "  {sign} {e}");
                if let Some(x) = d.explanation(&c.category, change, e) {
                    let _ = writeln!(o, "      {}", x.line);
                }
            }
        }
    }
    if !d.changed {
        let _ = writeln!(o, "no change");
    }
    for n in &d.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o
}

/// Text as inline code in a Markdown table cell: pipes escaped, line breaks made spaces, and
/// fenced by a backtick run longer than any in the text (CommonMark), so no text can end the
/// code span and become markup (links, images, HTML) in a GitHub summary.
fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    if longest == 0 {
        return format!("`{s}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {s} {fence}")
}

/// GitHub-flavoured Markdown: a status line and an added/removed table per changed category.
pub fn markdown(d: &CapabilityDiff) -> String {
    let mut o = String::new();
    let verdict = if d.changed { "changed" } else { "unchanged" };
    let _ = writeln!(
        o,
        "**Capability surface {verdict}** — status `{}` (base `{}`, head `{}`)\n",
        status(d.status),
        d.base.source,
        d.head.source
    );
    let _ = writeln!(o, "| category | added | removed | unchanged |");
    let _ = writeln!(o, "|---|---:|---:|---:|");
    for c in &d.categories {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            c.category,
            c.added.len(),
            c.removed.len(),
            c.unchanged.len()
        );
    }
    for c in &d.categories {
        if c.added.is_empty() && c.removed.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n#### {}\n\n| change | entry | who |\n|---|---|---|",
            c.category
        );
        let rows = c
            .removed
            .iter()
            .map(|e| ("removed", e))
            .chain(c.added.iter().map(|e| ("added", e)));
        let total = c.added.len() + c.removed.len();
        for (ch, e) in rows.take(MAX_ROWS) {
            let who = d
                .explanation(&c.category, ch, e)
                .map_or(String::new(), |x| cell(&x.line));
            let _ = writeln!(o, "| {ch} | {} | {who} |", cell(e));
        }
        if total > MAX_ROWS {
            let _ = writeln!(
                o,
                "\n_{} more change(s) not shown; see the diff JSON._",
                total - MAX_ROWS
            );
        }
    }
    if !d.notes.is_empty() {
        let _ = writeln!(o);
        for n in &d.notes {
            let _ = writeln!(o, "> {n}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::cell;

    /// No text ends its code span: the fence is longer than any backtick run in it.
    #[test]
    fn a_cell_holds_any_text_as_code() {
        assert_eq!(cell("a|b"), "`a\\|b`");
        assert_eq!(
            cell("<work>/a``<img src=x>``b"),
            "``` <work>/a``<img src=x>``b ```"
        );
        assert_eq!(cell("x`y"), "`` x`y ``");
    }
}
