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

/// Escapes text for a Markdown table cell (inline code).
fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Escapes prose for a Markdown table cell: pipes, line breaks, and the characters Markdown
/// or HTML would act on (the text names paths a measured process chose).
fn text_cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\n' | '\r' => o.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '~' => {
                o.push('\\');
                o.push(ch);
            }
            c => o.push(c),
        }
    }
    o
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
                .map_or(String::new(), |x| text_cell(&x.line));
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
