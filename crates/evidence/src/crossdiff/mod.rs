//! `cross-diff`: the same fixture run by two agent runtimes, compared on what matters — the
//! tool surface (tools called, the policy's decisions, per tool the kernel effects the
//! correlation attributed to its calls) — with the runtime-specific rest set aside, rule by rule,
//! as diagnostics (see `docs/contracts/cross_runtime_diff.md` for why this split).
//!
//! Works from bundles alone: both are verified as hostile input first, and must be `sdk` runs
//! (an SDK layer and a correlation report). Imports: `verify`, `diff` (health rule),
//! `contracts`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::verify::{self, Keep, Limits};
use assay_contracts::correlation_report::{self, CorrelationReport, Effects};
use assay_contracts::cross_runtime_diff::{
    self as contract, Canonical, Change, CrossRuntimeDiff, CrossStatus, Diagnostic, RuntimeSide,
    SetAside, ToolChange,
};
use assay_contracts::sdk_event::{Sdk, SdkEvent};
use assay_contracts::surface::CapabilitySurface;

/// Why two bundles cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CrossDiffError {
    #[error(transparent)]
    Evidence(#[from] verify::EvidenceError),
    #[error(
        "{bundle}: no {member}: cross-diff compares bundles of `run --mode sdk` (or `mode: sdk` proofs), which have an SDK layer and a correlation report"
    )]
    MissingLayer {
        bundle: String,
        member: &'static str,
    },
    #[error("{bundle}: {member}: {why}")]
    BadLayer {
        bundle: String,
        member: &'static str,
        why: String,
    },
}

/// What one side contributes.
struct Loaded {
    side: RuntimeSide,
    surface: CapabilitySurface,
    correlation: CorrelationReport,
    sdk: Sdk,
}

fn load(path: &Path) -> Result<Loaded, CrossDiffError> {
    let ev = verify::evidence(path, &Limits::default(), Keep::Documents)?;
    let bundle = path.display().to_string();
    let kept = &ev.verified.kept;
    let member = |m: &'static str| {
        kept.get(m).ok_or(CrossDiffError::MissingLayer {
            bundle: bundle.clone(),
            member: m,
        })
    };
    let correlation: CorrelationReport = serde_json::from_slice(member("correlation-report.json")?)
        .map_err(|e| CrossDiffError::BadLayer {
            bundle: bundle.clone(),
            member: "correlation-report.json",
            why: e.to_string(),
        })?;
    let sdk_bytes = member("layers/sdk.ndjson")?;
    let first = sdk_bytes
        .split(|&b| b == b'\n')
        .find(|l| !l.is_empty())
        .ok_or_else(|| CrossDiffError::BadLayer {
            bundle: bundle.clone(),
            member: "layers/sdk.ndjson",
            why: "the SDK layer is empty: the runtime wrote no record".into(),
        })?;
    let first: SdkEvent = serde_json::from_slice(first).map_err(|e| CrossDiffError::BadLayer {
        bundle: bundle.clone(),
        member: "layers/sdk.ndjson",
        why: e.to_string(),
    })?;
    let clean = crate::diff::health_clean(&ev.health)
        && correlation.status == correlation_report::Status::Clean;
    Ok(Loaded {
        side: RuntimeSide {
            source: bundle,
            run_id: ev.surface.run_id.clone(),
            evidence_clean: clean,
        },
        surface: ev.surface,
        correlation,
        sdk: first.sdk,
    })
}

fn change(category: &str, base: &BTreeSet<String>, head: &BTreeSet<String>) -> Change {
    Change {
        category: category.into(),
        added: head.difference(base).cloned().collect(),
        removed: base.difference(head).cloned().collect(),
        unchanged: base.intersection(head).cloned().collect(),
    }
}

fn effect_lists(e: &Effects) -> [&Vec<String>; 4] {
    [
        &e.filesystem_paths,
        &e.filesystem_writes,
        &e.network_endpoints,
        &e.process_execs,
    ]
}

/// Per tool, the union of its calls' effects, per effect category.
fn per_tool(c: &CorrelationReport) -> BTreeMap<String, [BTreeSet<String>; 4]> {
    let mut out: BTreeMap<String, [BTreeSet<String>; 4]> = BTreeMap::new();
    for b in &c.bindings {
        let slot = out.entry(b.tool.clone()).or_default();
        for (set, list) in slot.iter_mut().zip(effect_lists(&b.effects)) {
            set.extend(list.iter().cloned());
        }
    }
    out
}

/// Surface entries no tool call explains, by rule.
fn set_aside(side: &str, l: &Loaded) -> Vec<SetAside> {
    let s = &l.surface;
    let surface_lists = [
        &s.filesystem_paths,
        &s.filesystem_writes,
        &s.network_endpoints,
        &s.process_execs,
    ];
    let mut explained: [BTreeSet<&String>; 4] = Default::default();
    for b in &l.correlation.bindings {
        for (set, list) in explained.iter_mut().zip(effect_lists(&b.effects)) {
            set.extend(list.iter());
        }
    }
    let unattributed = effect_lists(&l.correlation.unattributed);
    let mut out = Vec::new();
    for (i, category) in contract::EFFECT_CATEGORIES.iter().enumerate() {
        let mut by_rule: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for e in surface_lists[i]
            .iter()
            .filter(|e| !explained[i].contains(e))
        {
            let rule = if unattributed[i].contains(e) {
                "unattributed-server-effects"
            } else {
                "outside-tool-calls"
            };
            by_rule.entry(rule).or_default().push(e.clone());
        }
        for (rule, entries) in by_rule {
            out.push(SetAside {
                side: side.into(),
                rule: rule.into(),
                category: (*category).into(),
                entries,
            });
        }
    }
    out
}

/// Compares two `sdk` bundles.
pub fn cross_diff(base: &Path, head: &Path) -> Result<CrossRuntimeDiff, CrossDiffError> {
    let (b, h) = (load(base)?, load(head)?);
    let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<String>>();
    let tools = vec![
        change(
            contract::TOOL_CATEGORIES[0],
            &set(&b.surface.mcp_tools),
            &set(&h.surface.mcp_tools),
        ),
        change(
            contract::TOOL_CATEGORIES[1],
            &set(&b.surface.policy_decisions),
            &set(&h.surface.policy_decisions),
        ),
    ];
    let (bt, ht) = (per_tool(&b.correlation), per_tool(&h.correlation));
    let names: BTreeSet<&String> = bt.keys().chain(ht.keys()).collect();
    let empty: [BTreeSet<String>; 4] = Default::default();
    let per_tool: Vec<ToolChange> = names
        .into_iter()
        .map(|t| {
            let (x, y) = (bt.get(t).unwrap_or(&empty), ht.get(t).unwrap_or(&empty));
            ToolChange {
                tool: t.clone(),
                effects: contract::EFFECT_CATEGORIES
                    .iter()
                    .enumerate()
                    .map(|(i, c)| change(c, &x[i], &y[i]))
                    .collect(),
            }
        })
        .collect();
    let differs = tools
        .iter()
        .chain(per_tool.iter().flat_map(|t| t.effects.iter()))
        .any(|c| !c.added.is_empty() || !c.removed.is_empty());
    let status = if !(b.side.evidence_clean && h.side.evidence_clean) {
        CrossStatus::Inconclusive
    } else if differs {
        CrossStatus::Different
    } else {
        CrossStatus::Same
    };
    let mut aside = set_aside("base", &b);
    aside.extend(set_aside("head", &h));
    Ok(CrossRuntimeDiff {
        schema: contract::SCHEMA.into(),
        run_id: h.side.run_id.clone(),
        status,
        canonical: Canonical { tools, per_tool },
        diagnostic: Diagnostic {
            base_sdk: b.sdk,
            head_sdk: h.sdk,
            set_aside: aside,
        },
        base: b.side,
        head: h.side,
        non_claims: contract::NON_CLAIMS.iter().map(|s| s.to_string()).collect(),
    })
}

/// Whether anything canonical differs.
pub fn differs(d: &CrossRuntimeDiff) -> bool {
    d.canonical
        .tools
        .iter()
        .chain(d.canonical.per_tool.iter().flat_map(|t| t.effects.iter()))
        .any(|c| !c.added.is_empty() || !c.removed.is_empty())
}

fn sdk_text(s: &Sdk) -> String {
    format!("{} {}", s.name, s.version)
}

/// Text for people.
pub fn human(d: &CrossRuntimeDiff) -> String {
    let mut out = format!(
        "cross-runtime diff: {} ({}) -> {} ({}): {}\n",
        d.base.source,
        sdk_text(&d.diagnostic.base_sdk),
        d.head.source,
        sdk_text(&d.diagnostic.head_sdk),
        match d.status {
            CrossStatus::Same => "same tool surface",
            CrossStatus::Different => "DIFFERENT tool surface",
            CrossStatus::Inconclusive => "INCONCLUSIVE (a side's evidence is not clean)",
        }
    );
    let mut lines = |scope: &str, c: &Change| {
        if c.added.is_empty() && c.removed.is_empty() && c.unchanged.is_empty() {
            return;
        }
        for a in &c.added {
            out.push_str(&format!("  + {scope}{}: {a}\n", c.category));
        }
        for r in &c.removed {
            out.push_str(&format!("  - {scope}{}: {r}\n", c.category));
        }
        if c.added.is_empty() && c.removed.is_empty() {
            out.push_str(&format!(
                "    {scope}{}: {} unchanged\n",
                c.category,
                c.unchanged.len()
            ));
        }
    };
    for c in &d.canonical.tools {
        lines("", c);
    }
    for t in &d.canonical.per_tool {
        for c in &t.effects {
            lines(&format!("{} ", t.tool), c);
        }
    }
    out.push_str("set aside (runtime-specific, not compared):\n");
    for s in &d.diagnostic.set_aside {
        out.push_str(&format!(
            "  {} {} {}: {}\n",
            s.side,
            s.rule,
            s.category,
            s.entries.join(", ")
        ));
    }
    out.push_str("non-claims:\n");
    for n in &d.non_claims {
        out.push_str(&format!("  - {n}\n"));
    }
    out
}

/// GitHub-flavoured Markdown.
pub fn markdown(d: &CrossRuntimeDiff) -> String {
    let mut out = format!(
        "### Cross-runtime diff: `{}` vs `{}` — {}\n\n| scope | category | added | removed | unchanged |\n|---|---|---|---|---|\n",
        sdk_text(&d.diagnostic.base_sdk),
        sdk_text(&d.diagnostic.head_sdk),
        match d.status {
            CrossStatus::Same => "same",
            CrossStatus::Different => "**different**",
            CrossStatus::Inconclusive => "**inconclusive**",
        }
    );
    let code = |v: &[String]| {
        v.iter()
            .map(|x| format!("`{}`", x.replace('`', "'").replace('|', "\\|")))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let mut row = |scope: &str, c: &Change| {
        if c.added.is_empty() && c.removed.is_empty() && c.unchanged.is_empty() {
            return;
        }
        out.push_str(&format!(
            "| {scope} | {} | {} | {} | {} |\n",
            c.category,
            code(&c.added),
            code(&c.removed),
            c.unchanged.len()
        ));
    };
    for c in &d.canonical.tools {
        row("tools", c);
    }
    for t in &d.canonical.per_tool {
        for c in &t.effects {
            row(&format!("`{}`", t.tool), c);
        }
    }
    out.push_str("\nNon-claims:\n");
    for n in &d.non_claims {
        out.push_str(&format!("- {n}\n"));
    }
    out
}
