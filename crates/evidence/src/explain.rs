//! Who did it: for each capability-surface entry, its first witness in the kernel layer (the
//! line's `seq`, the process label and the chain of programs from that process up to the
//! command) and, where the bundle has a correlation report, the tool calls whose effects hold it
//! (or that it happened outside every tool call). Computed from a bundle alone; the same bundle
//! gives the same explanations.
//!
//! A witness is the first kernel-layer line (in the layer's canonical order: by process, then
//! time) whose contribution to the surface (the rules of
//! [`crate::surface::touches`]) is the entry itself, or an exact path a normalized entry stands
//! for ([`crate::surface::normalize::support_pattern`]). An entry no single line names (an
//! endpoint named through a DNS answer) has none, and says so.
//! Imports: `assay_contracts::{kernel_event, correlation_report, surface, capability_diff}`,
//! [`crate::surface`].

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use assay_contracts::capability_diff::{EntryExplanation, ExplainedToolCall};
use assay_contracts::correlation_report::{CorrelationReport, Effects};
use assay_contracts::kernel_event::{KernelEvent, Kind};
use assay_contracts::surface::CapabilitySurface;

use crate::surface::{Touch, touches};

/// The tool call an entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ToolCall {
    pub id: String,
    pub tool: String,
    /// `allow` or `deny`.
    pub decision: String,
    pub rule: String,
    /// The process label of the server that handled the call (empty when denied).
    pub server: String,
}

/// One entry explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The surface category (`filesystem_writes`, ...).
    pub category: String,
    pub entry: String,
    /// The first witness's `seq` in `layers/kernel.ndjson`.
    pub seq: Option<u64>,
    /// What that line names exactly (the path or endpoint the entry stands for).
    pub exact: Option<String>,
    /// The witness's process label (`p0/sh#1/curl#1`).
    pub process: Option<String>,
    /// The programs from that process up to the command: `[/usr/bin/curl, /usr/bin/dash, ...]`
    /// (each process's program at the witness; `?` for one that executed nothing yet).
    pub chain: Vec<String>,
    /// Tool calls whose effects hold the entry; empty with `outside_tool_calls` when the
    /// correlation report lists it as unattributed.
    pub tool_calls: Vec<ToolCall>,
    /// True when a correlation report exists and no tool call holds the entry.
    pub outside_tool_calls: bool,
}

impl Explanation {
    /// One line: `← /usr/bin/curl ← /usr/bin/dash (p0/sh#1/curl#1, seq 42; tool call c1 fetch: allow by r)`.
    pub fn line(&self) -> String {
        let mut s = match (&self.process, self.seq) {
            (Some(p), Some(seq)) => format!(
                "← {} ({p}, kernel line {seq})",
                self.chain.join(" ← ")
            ),
            _ => "no single kernel line names it (a name from a DNS answer, or an entry only a layer adds)".to_string(),
        };
        for c in &self.tool_calls {
            s.push_str(&format!(
                "; tool call {} {}: {} by {}",
                c.id, c.tool, c.decision, c.rule
            ));
        }
        if self.outside_tool_calls {
            s.push_str("; outside every tool call");
        }
        s
    }
}

impl Explanation {
    /// This explanation as a diff's contract entry for a change (`added` or `removed`).
    pub fn entry(&self, change: &str) -> EntryExplanation {
        let tool_calls: Vec<ExplainedToolCall> = self
            .tool_calls
            .iter()
            .map(|c| ExplainedToolCall {
                id: c.id.clone(),
                tool: c.tool.clone(),
                decision: c.decision.clone(),
                rule: c.rule.clone(),
                server: c.server.clone(),
            })
            .collect();
        EntryExplanation {
            category: self.category.clone(),
            change: change.to_string(),
            entry: self.entry.clone(),
            seq: self.seq,
            exact: self.exact.clone(),
            process: self.process.clone(),
            chain: self.chain.clone(),
            tool_calls,
            outside_tool_calls: self.outside_tool_calls,
            line: self.line(),
        }
    }
}

/// Why a verified bundle's members could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("{member} line {line}: {source}")]
    Line {
        member: &'static str,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{member}: {source}")]
    Document {
        member: &'static str,
        source: serde_json::Error,
    },
}

/// Explains `surface` from a verified bundle's members (`layers/kernel.ndjson` and, when
/// present, `correlation-report.json`; see [`crate::verify::Keep::All`]).
pub fn from_members(
    surface: &CapabilitySurface,
    members: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<Explanation>, ExplainError> {
    const KERNEL: &str = "layers/kernel.ndjson";
    const CORRELATION: &str = "correlation-report.json";
    let kernel: Vec<KernelEvent> = members
        .get(KERNEL)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            serde_json::from_slice(l).map_err(|source| ExplainError::Line {
                member: KERNEL,
                line: i + 1,
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let correlation: Option<CorrelationReport> = members
        .get(CORRELATION)
        .map(|b| serde_json::from_slice(b))
        .transpose()
        .map_err(|source| ExplainError::Document {
            member: CORRELATION,
            source,
        })?;
    Ok(explain(surface, &kernel, correlation.as_ref()))
}

/// The surface categories a kernel line contributes to, with the exact text.
pub(crate) fn contributions(e: &KernelEvent) -> Vec<(&'static str, Cow<'_, str>)> {
    let mut out = Vec::new();
    for t in touches(e).into_iter().flatten() {
        match t {
            Touch::OpenRead(p) | Touch::LinkSource(p) => {
                out.push(("filesystem_paths", Cow::Borrowed(p)));
            }
            Touch::OpenWrite(p) | Touch::Change(p) => {
                out.push(("filesystem_writes", Cow::Borrowed(p)));
                out.push(("filesystem_paths", Cow::Borrowed(p)));
            }
            Touch::Exec(p) => out.push(("process_execs", Cow::Borrowed(p))),
            Touch::Connect(ep) => out.push(("network_endpoints", Cow::Borrowed(ep))),
            Touch::Local(prefix, ep) => {
                out.push(("network_local", Cow::Owned(Touch::local_entry(prefix, ep))));
            }
        }
    }
    out
}

/// The entries of one category still without a witness: exact ones by text, normalized ones by
/// their pattern.
struct Pending {
    exact: HashMap<String, usize>,
    patterns: Vec<(regex::Regex, usize)>,
}

/// The process label's ancestors, itself first: `p0/a#1/b#2` → `[p0/a#1/b#2, p0/a#1, p0]`.
fn lineage(label: &str) -> Vec<&str> {
    let mut out = vec![label];
    let mut l = label;
    while let Some((parent, _)) = l.rsplit_once('/') {
        out.push(parent);
        l = parent;
    }
    out
}

fn entries(s: &CapabilitySurface) -> Vec<(&'static str, &Vec<String>)> {
    vec![
        ("filesystem_paths", &s.filesystem_paths),
        ("filesystem_writes", &s.filesystem_writes),
        ("network_endpoints", &s.network_endpoints),
        ("network_local", &s.network_local),
        ("process_execs", &s.process_execs),
    ]
}

fn pending_of(out: &[Explanation]) -> BTreeMap<&'static str, Pending> {
    let mut by_cat: BTreeMap<&'static str, Pending> = BTreeMap::new();
    for (i, x) in out.iter().enumerate() {
        let cat: &'static str = match x.category.as_str() {
            "filesystem_paths" => "filesystem_paths",
            "filesystem_writes" => "filesystem_writes",
            "network_endpoints" => "network_endpoints",
            "network_local" => "network_local",
            _ => "process_execs",
        };
        let p = by_cat.entry(cat).or_insert_with(|| Pending {
            exact: HashMap::new(),
            patterns: Vec::new(),
        });
        match crate::surface::normalize::support_pattern(&x.entry)
            .and_then(|re| regex::Regex::new(&re).ok())
        {
            Some(re) => p.patterns.push((re, i)),
            None => {
                p.exact.insert(x.entry.clone(), i);
            }
        }
    }
    by_cat
}

/// Explains every kernel-category entry of `surface` from the kernel layer `kernel` (in `seq`
/// order) and the correlation report, if any.
pub fn explain(
    surface: &CapabilitySurface,
    kernel: &[KernelEvent],
    correlation: Option<&CorrelationReport>,
) -> Vec<Explanation> {
    let mut out: Vec<Explanation> = entries(surface)
        .into_iter()
        .flat_map(|(cat, list)| {
            list.iter().map(move |entry| Explanation {
                category: cat.to_string(),
                entry: entry.clone(),
                seq: None,
                exact: None,
                process: None,
                chain: Vec::new(),
                tool_calls: Vec::new(),
                outside_tool_calls: false,
            })
        })
        .collect();
    let mut pending = pending_of(&out);
    let mut program: HashMap<&str, &str> = HashMap::new();
    for e in kernel {
        if e.kind == Kind::Exec
            && !e.flags.iter().any(|f| f == "loader")
            && let Some(p) = e.path.as_deref()
        {
            program.insert(e.process.as_str(), p);
        }
        for (cat, text) in contributions(e) {
            let Some(p) = pending.get_mut(cat) else {
                continue;
            };
            let text: &str = &text;
            let mut hit = p.exact.remove(text).into_iter().collect::<Vec<_>>();
            p.patterns.retain(|(re, i)| {
                let m = re.is_match(text);
                if m {
                    hit.push(*i);
                }
                !m
            });
            for i in hit {
                let x = &mut out[i];
                x.seq = Some(e.seq);
                x.exact = Some(text.to_string());
                x.process = Some(e.process.clone());
                x.chain = lineage(&e.process)
                    .into_iter()
                    .map(|l| program.get(l).copied().unwrap_or("?").to_string())
                    .collect();
            }
        }
    }
    if let Some(c) = correlation {
        attribute(&mut out, c);
    }
    out
}

fn holds(e: &Effects, cat: &str, entry: &str) -> bool {
    let list = match cat {
        "filesystem_paths" => &e.filesystem_paths,
        "filesystem_writes" => &e.filesystem_writes,
        "network_endpoints" => &e.network_endpoints,
        "process_execs" => &e.process_execs,
        _ => return false,
    };
    // a bundle's lists are sorted when it verifies, but a linear look never depends on it
    list.iter().any(|x| x == entry)
}

fn attribute(out: &mut [Explanation], c: &CorrelationReport) {
    for x in out.iter_mut() {
        for b in &c.bindings {
            if holds(&b.effects, &x.category, &x.entry) {
                x.tool_calls.push(ToolCall {
                    id: b.tool_call_id.clone(),
                    tool: b.tool.clone(),
                    decision: serde_json::to_value(b.decision)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    rule: b.rule.clone(),
                    server: b.server.clone(),
                });
            }
        }
        x.tool_calls.sort();
        x.tool_calls.dedup();
        x.outside_tool_calls = x.tool_calls.is_empty() && x.category != "network_local";
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn surface(
        paths: &[&str],
        writes: &[&str],
        execs: &[&str],
        endpoints: &[&str],
    ) -> CapabilitySurface {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CapabilitySurface {
            schema: assay_contracts::surface::SCHEMA.into(),
            run_id: "r".into(),
            filesystem_paths: v(paths),
            filesystem_writes: v(writes),
            network_endpoints: v(endpoints),
            network_local: Vec::new(),
            process_execs: v(execs),
            mcp_tools: Vec::new(),
            policy_decisions: Vec::new(),
        }
    }

    /// A successful kernel line (an open is a write). Also used by the HTML report's tests.
    pub(crate) fn ev(seq: u64, process: &str, kind: Kind, path: &str) -> KernelEvent {
        let mut e = KernelEvent::new("r", seq, process, kind);
        e.path = Some(path.to_string());
        e.result = "ok".into();
        if kind == Kind::Open {
            e.access = Some("write".into());
        }
        e
    }

    #[test]
    fn the_first_witness_and_its_chain_of_programs() {
        let kernel = vec![
            ev(0, "p0", Kind::Exec, "/usr/bin/node"),
            ev(1, "p0/sh#1", Kind::Exec, "/usr/bin/dash"),
            ev(2, "p0/sh#1/curl#1", Kind::Exec, "/usr/bin/curl"),
            ev(3, "p0/sh#1/curl#1", Kind::Open, "<work>/out/a.txt"),
            ev(4, "p0", Kind::Open, "<work>/out/a.txt"),
            ev(5, "p0", Kind::Open, "/tmp/x-1234"),
        ];
        let both = ["<tmp>/x-<random>", "<work>/out/a.txt"];
        let s = surface(
            &both,
            &both,
            &["/usr/bin/curl"],
            &["tcp:service.example:443"],
        );
        let x = explain(&s, &kernel, None);
        let w = x
            .iter()
            .find(|x| x.category == "filesystem_writes" && x.entry == "<work>/out/a.txt")
            .unwrap();
        assert_eq!(w.seq, Some(3));
        assert_eq!(w.process.as_deref(), Some("p0/sh#1/curl#1"));
        assert_eq!(w.chain, ["/usr/bin/curl", "/usr/bin/dash", "/usr/bin/node"]);
        assert!(
            w.line().starts_with(
                "← /usr/bin/curl ← /usr/bin/dash ← /usr/bin/node (p0/sh#1/curl#1, kernel line 3)"
            ),
            "{}",
            w.line()
        );
        let tmp = x.iter().find(|x| x.entry == "<tmp>/x-<random>").unwrap();
        assert_eq!(
            (tmp.seq, tmp.exact.as_deref()),
            (Some(5), Some("/tmp/x-1234"))
        );
        let named = x
            .iter()
            .find(|x| x.category == "network_endpoints")
            .unwrap();
        assert_eq!(named.seq, None);
        assert!(named.line().starts_with("no single kernel line names it"));
        assert!(
            !named.outside_tool_calls,
            "no correlation report: nothing said of tool calls"
        );
    }

    /// A reused pid is a new process with a label of its own: its chain is its own programs.
    #[test]
    fn a_reused_pid_keeps_its_own_chain() {
        let kernel = vec![
            ev(0, "p0", Kind::Exec, "/usr/bin/dash"),
            ev(1, "p0/cat#1", Kind::Exec, "/usr/bin/cat"),
            ev(2, "p0/curl#1", Kind::Exec, "/usr/bin/curl"),
            ev(3, "p0/curl#1", Kind::Open, "<work>/o"),
        ];
        let s = surface(&["<work>/o"], &["<work>/o"], &[], &[]);
        let x = explain(&s, &kernel, None);
        let w = x
            .iter()
            .find(|x| x.category == "filesystem_writes")
            .unwrap();
        assert_eq!(w.chain, ["/usr/bin/curl", "/usr/bin/dash"]);
    }

    /// With a correlation report, an entry a call's effects hold names that call; one no call
    /// holds is outside every tool call; a loopback bind is never said to be either.
    #[test]
    fn tool_calls_hold_entries_and_the_rest_is_outside_every_call() {
        let kernel = vec![
            ev(0, "p0", Kind::Exec, "/usr/bin/node"),
            ev(1, "p0/node#1", Kind::Exec, "/usr/bin/node"),
            ev(2, "p0/node#1", Kind::Open, "<work>/called.txt"),
            ev(3, "p0", Kind::Open, "<work>/startup.txt"),
        ];
        let s = surface(&[], &["<work>/called.txt", "<work>/startup.txt"], &[], &[]);
        let effects = |w: &[&str]| {
            json!({"filesystem_paths": [], "filesystem_writes": w,
            "network_endpoints": [], "process_execs": []})
        };
        let c: CorrelationReport = serde_json::from_value(json!({
            "schema": assay_contracts::correlation_report::SCHEMA, "run_id": "r", "status": "clean",
            "bindings": [
                {"tool_call_id": "c2", "tool": "write", "decision": "allow", "rule": "w",
                 "outcome": "ok", "server": "p0/node#1", "effects": effects(&["<work>/called.txt"])},
                {"tool_call_id": "c1", "tool": "write", "decision": "allow", "rule": "w",
                 "outcome": "ok", "server": "p0/node#1", "effects": effects(&["<work>/called.txt"])}],
            "unattributed": effects(&["<work>/startup.txt"]), "ambiguities": []
        }))
        .unwrap();
        let x = explain(&s, &kernel, Some(&c));
        let called = x.iter().find(|x| x.entry == "<work>/called.txt").unwrap();
        assert!(!called.outside_tool_calls);
        let e = called.entry("added");
        let ids: Vec<&str> = e.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"], "sorted");
        assert_eq!(e.tool_calls[0].server, "p0/node#1");
        assert!(
            e.line
                .ends_with("; tool call c1 write: allow by w; tool call c2 write: allow by w"),
            "{}",
            e.line
        );
        let startup = x.iter().find(|x| x.entry == "<work>/startup.txt").unwrap();
        assert!(startup.tool_calls.is_empty() && startup.outside_tool_calls);
        assert!(startup.line().ends_with("; outside every tool call"));
    }
}
