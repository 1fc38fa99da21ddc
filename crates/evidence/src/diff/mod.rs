//! Capability-surface diffs (design §9): a head surface against a base that is either a
//! committed golden or another bundle's surface, per category, with the golden-file lines an
//! annotation should point at.
//!
//! A golden is the canonical surface exactly as a bundle stores it (`capability-surface.json`:
//! pretty JSON, one entry per line), so the golden of a clean run equals that member byte for
//! byte. [`parse_golden`] insists on that canonical form so line numbers are trustworthy.
//! [`explain_changes`] attaches who made each added and removed entry ([`crate::explain`]).
//! Imports: `contracts`, [`crate::explain`].

mod render;

use std::collections::{BTreeSet, HashMap};

use assay_contracts::capability_diff::{
    self, CapabilityDiff, CategoryDiff, DiffStatus, EntryExplanation, GoldenLine, Side,
};
use assay_contracts::health::ObservationHealth;
use assay_contracts::surface::{self, CATEGORIES, CapabilitySurface};

pub use render::{human, markdown};

/// A golden file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error("{file}:{line}:{column}: expected an {schema} document: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        schema: &'static str,
        message: String,
    },
    #[error(
        "{file}:{line}: not in canonical form (expected {expected}); goldens are written by `assay-runner prove` and promoted with `assay-runner golden accept`, never edited by hand"
    )]
    NotCanonical {
        file: String,
        line: usize,
        expected: String,
    },
}

/// The canonical text of a surface: what bundles and goldens hold.
pub fn golden_text(s: &CapabilitySurface) -> String {
    let mut t = serde_json::to_string_pretty(s).unwrap_or_default();
    t.push('\n');
    t
}

/// The entries of a surface category.
pub fn category<'a>(s: &'a CapabilitySurface, name: &str) -> &'a [String] {
    match name {
        "filesystem_paths" => &s.filesystem_paths,
        "filesystem_writes" => &s.filesystem_writes,
        "network_endpoints" => &s.network_endpoints,
        "network_local" => &s.network_local,
        "process_execs" => &s.process_execs,
        "mcp_tools" => &s.mcp_tools,
        "policy_decisions" => &s.policy_decisions,
        _ => &[],
    }
}

/// One category of a golden file: its name, its opening line, and each entry with its line.
type CategoryLines = (String, u64, Vec<(String, u64)>);

/// A parsed golden with the line of every entry.
#[derive(Debug, Clone)]
pub struct Golden {
    pub surface: CapabilitySurface,
    /// `(category, opening line, [(entry, line)])`, 1-based lines.
    lines: Vec<CategoryLines>,
}

impl Golden {
    /// The line an annotation for `entry` in `category` should point at.
    fn line_for(&self, category: &str, entry: &str) -> u64 {
        let Some((_, open, entries)) = self.lines.iter().find(|(c, _, _)| c == category) else {
            return 1;
        };
        match entries.binary_search_by(|(e, _)| e.as_str().cmp(entry)) {
            Ok(i) => entries[i].1,
            Err(0) => *open,
            Err(i) => entries[i - 1].1,
        }
    }
}

/// Parses a golden file, requiring its canonical form.
pub fn parse_golden(file: &str, text: &str) -> Result<Golden, GoldenError> {
    let surface: CapabilitySurface =
        serde_json::from_str(text).map_err(|e| GoldenError::Parse {
            file: file.into(),
            line: e.line(),
            column: e.column(),
            schema: surface::SCHEMA,
            message: e.to_string(),
        })?;
    if surface.schema != surface::SCHEMA {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with("\"schema\""))
            .map_or(1, |i| i + 1);
        return Err(GoldenError::Parse {
            file: file.into(),
            line,
            column: 1,
            schema: surface::SCHEMA,
            message: format!("`schema` is `{}`", surface.schema),
        });
    }
    let canonical = golden_text(&surface);
    if canonical != text {
        let (line, expected) = text
            .lines()
            .zip(canonical.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (_, b))| (i + 1, format!("`{}`", b.trim())))
            .unwrap_or_else(|| {
                let n = text.lines().count().min(canonical.lines().count()) + 1;
                (
                    n,
                    "the file to end exactly after the closing brace and a newline".into(),
                )
            });
        return Err(GoldenError::NotCanonical {
            file: file.into(),
            line,
            expected: format!("{expected}: sorted entries, one per line, 2-space indent"),
        });
    }
    // Canonical text: each category opens on `  "name": [` and lists one entry per line.
    let mut lines = Vec::new();
    let mut current: Option<CategoryLines> = None;
    for (i, l) in text.lines().enumerate() {
        let n = (i + 1) as u64;
        if let Some(c) = CATEGORIES
            .iter()
            .find(|c| l.starts_with(&format!("  \"{c}\": [")))
        {
            if let Some(done) = current.take() {
                lines.push(done);
            }
            current = Some(((*c).to_string(), n, Vec::new()));
        } else if let Some((_, _, entries)) = current.as_mut()
            && l.starts_with("    \"")
        {
            let raw = l.trim().trim_end_matches(',');
            if let Ok(e) = serde_json::from_str::<String>(raw) {
                entries.push((e, n));
            }
        }
    }
    if let Some(done) = current.take() {
        lines.push(done);
    }
    for (c, _, entries) in &lines {
        if let Some(w) = entries.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(GoldenError::NotCanonical {
                file: file.into(),
                line: w[1].1 as usize,
                expected: format!(
                    "`{c}` entries sorted and unique (`{}` follows `{}`)",
                    w[1].0, w[0].0
                ),
            });
        }
    }
    Ok(Golden { surface, lines })
}

/// Whether a run's observation was clean (a golden counts as clean by acceptance).
pub fn health_clean(h: &ObservationHealth) -> bool {
    h.is_clean()
}

/// Diffs `head` against `base`; `golden` gives annotation lines when the base is a golden.
pub fn diff(
    base: Side,
    base_surface: &CapabilitySurface,
    head: Side,
    head_surface: &CapabilitySurface,
    golden: Option<&Golden>,
) -> CapabilityDiff {
    let mut categories = Vec::new();
    let mut golden_lines = Vec::new();
    for c in CATEGORIES {
        let b: BTreeSet<&String> = category(base_surface, c).iter().collect();
        let h: BTreeSet<&String> = category(head_surface, c).iter().collect();
        let added: Vec<String> = h.difference(&b).map(|s| (*s).clone()).collect();
        let removed: Vec<String> = b.difference(&h).map(|s| (*s).clone()).collect();
        let unchanged: Vec<String> = b.intersection(&h).map(|s| (*s).clone()).collect();
        if let Some(g) = golden {
            for (change, list) in [("added", &added), ("removed", &removed)] {
                for e in list {
                    golden_lines.push(GoldenLine {
                        line: g.line_for(c, e),
                        category: c.into(),
                        change: change.into(),
                        entry: e.clone(),
                    });
                }
            }
        }
        categories.push(CategoryDiff {
            category: c.into(),
            added,
            removed,
            unchanged,
        });
    }
    golden_lines.sort();
    let changed = categories
        .iter()
        .any(|c| !c.added.is_empty() || !c.removed.is_empty());
    let mut notes = Vec::new();
    for (name, side) in [("base", &base), ("head", &head)] {
        if !side.health_clean {
            notes.push(format!(
                "{name}-health: the {name} side's observation was not clean, so entries may be missing from it; an unchanged result proves nothing"
            ));
        }
    }
    if base.run_id != head.run_id {
        notes.push(format!(
            "run-id-differs: base run `{}`, head run `{}`",
            base.run_id, head.run_id
        ));
    }
    notes.sort();
    let status = if base.health_clean && head.health_clean {
        DiffStatus::Clean
    } else {
        DiffStatus::PartialHealth
    };
    CapabilityDiff {
        schema: capability_diff::SCHEMA.into(),
        run_id: head.run_id.clone(),
        status,
        changed,
        base,
        head,
        categories,
        golden_lines,
        explanations: Vec::new(),
        notes,
    }
}

/// Explains each added entry from the head side's explanations and each removed one from the
/// base side's (`None` for a golden: it holds no witnesses). Entries a side does not explain
/// (the policy layer's categories) get none.
pub fn explain_changes(
    d: &mut CapabilityDiff,
    head: Option<&[crate::explain::Explanation]>,
    base: Option<&[crate::explain::Explanation]>,
) {
    fn index(
        side: Option<&[crate::explain::Explanation]>,
    ) -> HashMap<(&str, &str), &crate::explain::Explanation> {
        side.unwrap_or_default()
            .iter()
            .map(|x| ((x.category.as_str(), x.entry.as_str()), x))
            .collect()
    }
    let (head, base) = (index(head), index(base));
    let mut out: Vec<EntryExplanation> = Vec::new();
    for c in &d.categories {
        for (change, list, side) in [("added", &c.added, &head), ("removed", &c.removed, &base)] {
            out.extend(
                list.iter()
                    .filter_map(|e| side.get(&(c.category.as_str(), e.as_str())))
                    .map(|x| x.entry(change)),
            );
        }
    }
    out.sort_by(|a, b| (&a.category, &a.change, &a.entry).cmp(&(&b.category, &b.change, &b.entry)));
    d.explanations = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_contracts::capability_diff::SideKind;

    fn surf(paths: &[&str], eps: &[&str]) -> CapabilitySurface {
        CapabilitySurface {
            schema: surface::SCHEMA.into(),
            run_id: "r".into(),
            filesystem_paths: paths.iter().map(|s| s.to_string()).collect(),
            network_endpoints: eps.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn side(kind: SideKind, clean: bool) -> Side {
        Side {
            kind,
            source: "x".into(),
            run_id: "r".into(),
            health_clean: clean,
        }
    }

    #[test]
    fn golden_round_trips_and_maps_lines() {
        let base = surf(&["<work>/a", "<work>/c"], &[]);
        let text = golden_text(&base);
        let g = parse_golden("g.json", &text).unwrap();
        assert_eq!(g.surface, base);
        let head = surf(&["<work>/b", "<work>/c"], &["127.0.0.1:9"]);
        let d = diff(
            side(SideKind::Golden, true),
            &g.surface,
            side(SideKind::Bundle, true),
            &head,
            Some(&g),
        );
        assert!(d.changed);
        assert_eq!(d.status, DiffStatus::Clean);
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        for gl in &d.golden_lines {
            let at = &lines[gl.line as usize - 1];
            match (gl.change.as_str(), gl.entry.as_str()) {
                ("removed", "<work>/a") => assert_eq!(at, "    \"<work>/a\","),
                ("added", "<work>/b") => assert_eq!(at, "    \"<work>/a\","),
                ("added", "127.0.0.1:9") => assert_eq!(at, "  \"network_endpoints\": [],"),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(d.golden_lines.len(), 3);
    }

    #[test]
    fn self_diff_is_empty_and_clean() {
        let s = surf(&["<work>/a"], &["[::1]:443"]);
        let d = diff(
            side(SideKind::Bundle, true),
            &s,
            side(SideKind::Bundle, true),
            &s,
            None,
        );
        assert!(!d.changed);
        assert_eq!(d.status, DiffStatus::Clean);
        assert!(d.notes.is_empty());
        assert!(d.golden_lines.is_empty());
    }

    #[test]
    fn unclean_side_makes_the_diff_partial() {
        let s = surf(&[], &[]);
        let d = diff(
            side(SideKind::Golden, true),
            &s,
            side(SideKind::Bundle, false),
            &s,
            None,
        );
        assert_eq!(d.status, DiffStatus::PartialHealth);
        assert!(d.notes[0].starts_with("head-health: "));
    }

    #[test]
    fn hand_edited_golden_is_rejected_with_its_line() {
        let text = golden_text(&surf(&["<work>/a", "<work>/b"], &[]));
        let edited = text.replace(
            "    \"<work>/a\",\n    \"<work>/b\"",
            "    \"<work>/b\",\n    \"<work>/a\"",
        );
        let e = parse_golden("g.json", &edited).unwrap_err().to_string();
        assert!(e.starts_with("g.json:6: not in canonical form"), "{e}");
        let e = parse_golden("g.json", "{\"schema\": 1}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.json:1:"), "{e}");
    }

    /// Added entries are explained from the head's witnesses, removed ones from the base's;
    /// a side without witnesses (a golden) explains nothing, and the human and Markdown
    /// renderings carry each explanation under its entry.
    #[test]
    fn changes_are_explained_from_their_own_side() {
        use assay_contracts::kernel_event::{KernelEvent, Kind};
        let ev = |seq, process: &str, kind, path: &str| {
            let mut e = KernelEvent::new("r", seq, process, kind);
            e.path = Some(path.to_string());
            e.result = "ok".into();
            e
        };
        let base = surf(&["<work>/gone", "<work>/kept"], &[]);
        let head = surf(&["<work>/kept", "<work>/n|ew`<b>"], &[]);
        let head_x = crate::explain::explain(
            &head,
            &[
                ev(0, "p0", Kind::Exec, "/usr/bin/bash"),
                ev(1, "p0/cat#1", Kind::Exec, "/usr/bin/cat"),
                ev(2, "p0/cat#1", Kind::Open, "<work>/n|ew`<b>"),
            ],
            None,
        );
        let base_x = crate::explain::explain(
            &base,
            &[
                ev(0, "p0", Kind::Exec, "/usr/bin/sh"),
                ev(1, "p0", Kind::Open, "<work>/gone"),
            ],
            None,
        );
        let mut d = diff(
            side(SideKind::Bundle, true),
            &base,
            side(SideKind::Bundle, true),
            &head,
            None,
        );
        explain_changes(&mut d, Some(&head_x), Some(&base_x));
        let got: Vec<(&str, &str, Option<u64>, &[String])> = d
            .explanations
            .iter()
            .map(|x| (x.change.as_str(), x.entry.as_str(), x.seq, &x.chain[..]))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "added",
                    "<work>/n|ew`<b>",
                    Some(2),
                    &["/usr/bin/cat".to_string(), "/usr/bin/bash".to_string()][..]
                ),
                (
                    "removed",
                    "<work>/gone",
                    Some(1),
                    &["/usr/bin/sh".to_string()][..]
                ),
            ]
        );
        let h = human(&d);
        assert!(h.contains("  + <work>/n|ew`<b>\n      ← /usr/bin/cat ← /usr/bin/bash (p0/cat#1, kernel line 2)\n"), "{h}");
        let m = markdown(&d);
        assert!(
            m.contains("| added | `` <work>/n\\|ew`<b> `` | `← /usr/bin/cat ← /usr/bin/bash (p0/cat#1, kernel line 2)` |"),
            "{m}"
        );
        // a golden base: nothing to explain removals with
        explain_changes(&mut d, Some(&head_x), None);
        assert!(d.explanations.iter().all(|x| x.change == "added"));
    }
}
