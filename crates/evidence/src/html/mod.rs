//! The offline HTML report (`report --html`, and `prove`'s `OUT_DIR/report.html`): one file,
//! everything inline (`page.html`: styles, script, a strict content security policy), built
//! from a verdict and its bundles. The summary (lane, each proof's verdict and health, every
//! added and removed entry with who made it) is static HTML, readable without JavaScript; the
//! data the script draws the process trees and tool-call timelines from is inline JSON
//! (`assay.runner.report_html.v1`, every `<` escaped so the data cannot end its element).
//!
//! Big runs are aggregated, never embedded: the processes drawn, their exact effects, the
//! tool calls' effects and the changes listed are each capped by a budget ([`Budget`], shared
//! out between the proofs), and what was cut is counted. Processes are aggregated from the
//! kernel layer one event at a time ([`Processes`]), so a run of any length takes memory in
//! proportion to the budget, not the run. A page over [`MAX_BYTES`] (long or escape-heavy
//! texts) is rendered again with half the budget until it fits.
//! Imports: `assay_contracts::{verdict, capability_diff, kernel_event, correlation_report}`,
//! [`crate::explain`], [`crate::verify`] (bundles are hostile input: verified before drawn).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use assay_contracts::capability_diff::CapabilityDiff;
use assay_contracts::correlation_report::{CorrelationReport, Effects};
use assay_contracts::health::{CgroupCorrelation, KernelLayer};
use assay_contracts::kernel_event::{KernelEvent, Kind};
use assay_contracts::verdict::{ProofSetVerdict, ProofVerdict, Verdict};
use serde::Serialize;

const PAGE: &str = include_str!("page.html");
/// The data's schema id.
pub const SCHEMA: &str = "assay.runner.report_html.v1";
/// Bytes of a proof's name drawn.
const MAX_NAME: usize = 200;
/// Programs of a change's chain drawn (the rest is in the verdict).
const MAX_CHAIN: usize = 16;
/// The size the default budget keeps a report under, in bytes.
pub const MAX_BYTES: usize = 2 << 20;

/// How much a report lists before it counts instead (for the whole report).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Processes drawn in the trees.
    pub processes: usize,
    /// Exact effects listed under processes and tool calls.
    pub effects: usize,
    /// Added and removed entries listed.
    pub changes: usize,
    /// Tool calls drawn in the timelines.
    pub calls: usize,
    /// Bytes of one listed text (a path or label); longer ones are cut with `…`.
    pub text: usize,
}

impl Budget {
    /// Each of `n` proofs' share (at least one of each).
    pub fn share(self, n: usize) -> Budget {
        let n = n.max(1);
        Budget {
            processes: (self.processes / n).max(1),
            effects: (self.effects / n).max(1),
            changes: (self.changes / n).max(1),
            calls: (self.calls / n).max(1),
            text: self.text,
        }
    }

    fn halve(self) -> Budget {
        Budget {
            processes: self.processes / 2,
            effects: self.effects / 2,
            changes: self.changes / 2,
            calls: self.calls / 2,
            text: (self.text / 2).max(16),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            processes: 1_000,
            effects: 3_000,
            changes: 300,
            calls: 500,
            text: 100,
        }
    }
}

/// What a proof's bundle holds for the report (absent when the proof has no bundle).
pub struct ProofEvidence {
    /// Its kernel layer, aggregated.
    pub processes: Processes,
    /// `correlation-report.json`, when the run had one.
    pub correlation: Option<CorrelationReport>,
}

/// What the bundle at `path` holds for the report, aggregated within `b`: verified as hostile
/// input, then its kernel layer replayed ([`crate::verify::replay_kernel`]). `None` when it
/// cannot be read, does not verify, or changed after it was verified: the page then draws no
/// evidence for the proof.
pub fn evidence(path: &std::path::Path, b: Budget) -> Option<ProofEvidence> {
    use crate::verify::{self, Keep, Limits};
    let v = verify::verify_path(path, &Limits::default(), Keep::Documents).ok()?;
    if !v.ok() {
        return None;
    }
    let correlation: Option<CorrelationReport> = match v.kept.get("correlation-report.json") {
        Some(bytes) => Some(serde_json::from_slice(bytes).ok()?),
        None => None,
    };
    let mut processes = Processes::new(b);
    let sha = v.report.bundle_sha256.as_deref()?;
    verify::replay_kernel(path, sha, &Limits::default(), &mut |e| processes.event(e)).ok()?;
    Some(ProofEvidence {
        processes,
        correlation,
    })
}

/// A kernel layer's processes, aggregated one event at a time within a budget: each process
/// once (first seen), with its last program, exit status and its distinct exact effects.
pub struct Processes {
    b: Budget,
    index: BTreeMap<String, usize>,
    done: BTreeSet<(usize, &'static str, String)>,
    cut: BTreeSet<u64>,
    effects_left: usize,
    list: Vec<Process>,
}

impl Processes {
    /// An empty aggregate that keeps at most `b.processes` processes and `b.effects` effects.
    pub fn new(b: Budget) -> Processes {
        Processes {
            b,
            index: BTreeMap::new(),
            done: BTreeSet::new(),
            cut: BTreeSet::new(),
            effects_left: b.effects,
            list: Vec::new(),
        }
    }

    /// Adds the next kernel-layer line.
    pub fn event(&mut self, e: &KernelEvent) {
        let i = match self.index.get(e.process.as_str()) {
            Some(&i) => i,
            None if self.list.len() < self.b.processes => {
                let i = self.list.len();
                // the canonical order puts a parent (a prefix of its label) before its children
                let parent_id = e
                    .process
                    .rsplit_once('/')
                    .and_then(|(p, _)| self.index.get(p).copied());
                self.index.insert(e.process.clone(), i);
                self.list.push(Process {
                    id: i,
                    parent_id,
                    label: clip(&e.process, self.b.text),
                    program: None,
                    argv: None,
                    exit_code: None,
                    effects: Lists::default(),
                    effects_omitted: 0,
                });
                i
            }
            None => {
                // distinct processes not drawn, counted by a hash of their label
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                e.process.hash(&mut h);
                if self.cut.len() < 1 << 20 {
                    self.cut.insert(h.finish());
                }
                return;
            }
        };
        let text = self.b.text;
        let p = &mut self.list[i];
        match e.kind {
            Kind::Exec if !e.flags.iter().any(|f| f == "loader") => {
                p.program = e.path.as_deref().map(|s| clip(s, text));
                p.argv = e.arg.as_deref().map(|s| clip(s, text));
            }
            // the raw wait status as a shell would say it: the code, or 128 + the signal
            Kind::Exit => {
                p.exit_code = e.exit_code.map(|w| {
                    if w & 0x7f == 0 {
                        (w >> 8) & 0xff
                    } else {
                        128 + (w & 0x7f)
                    }
                })
            }
            _ => {}
        }
        for (cat, t) in crate::explain::contributions(e) {
            if self.effects_left == 0 {
                p.effects_omitted += 1;
            } else if self.done.insert((i, cat, t.to_string()))
                && let Some(l) = p.effects.get(cat)
            {
                self.effects_left -= 1;
                l.push(clip(&t, text));
            }
        }
    }
}

#[derive(Serialize, Default, Clone)]
struct Lists {
    filesystem_paths: Vec<String>,
    filesystem_writes: Vec<String>,
    network_endpoints: Vec<String>,
    network_local: Vec<String>,
    process_execs: Vec<String>,
}

impl Lists {
    fn get(&mut self, cat: &str) -> Option<&mut Vec<String>> {
        Some(match cat {
            "filesystem_paths" => &mut self.filesystem_paths,
            "filesystem_writes" => &mut self.filesystem_writes,
            "network_endpoints" => &mut self.network_endpoints,
            "network_local" => &mut self.network_local,
            "process_execs" => &mut self.process_execs,
            _ => return None,
        })
    }
}

#[derive(Serialize)]
struct Health {
    status: String,
    clean: bool,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct ToolCallRef {
    id: String,
    tool: String,
    decision: String,
    rule: String,
}

#[derive(Serialize)]
struct Change {
    category: String,
    change: &'static str,
    entry: String,
    /// The witness's process label, cut for display.
    process: Option<String>,
    /// The drawn process it is (`Process::id`), when drawn.
    process_id: Option<usize>,
    chain: Vec<String>,
    seq: Option<u64>,
    tool_calls: Vec<ToolCallRef>,
    tool_calls_omitted: usize,
    outside_tool_calls: bool,
    line: String,
}

#[derive(Serialize, Clone)]
struct Process {
    /// Its index in the drawn list: the tree is linked by ids, never by (cut) labels.
    id: usize,
    /// Its parent's id, when the parent is drawn.
    parent_id: Option<usize>,
    /// Its label, cut for display.
    label: String,
    program: Option<String>,
    argv: Option<String>,
    exit_code: Option<i64>,
    effects: Lists,
    effects_omitted: usize,
}

#[derive(Serialize)]
struct ToolCall {
    id: String,
    tool: String,
    decision: String,
    rule: String,
    server: String,
    outcome: String,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    effects: Lists,
    effects_omitted: usize,
}

#[derive(Serialize)]
struct Proof {
    name: String,
    verdict: &'static str,
    health: Option<Health>,
    changes: Vec<Change>,
    changes_omitted: usize,
    processes: Vec<Process>,
    processes_omitted: usize,
    tool_calls: Vec<ToolCall>,
    tool_calls_omitted: usize,
    unattributed: Option<Lists>,
    cross_runtime: Option<()>,
}

#[derive(Serialize)]
struct Data {
    schema: &'static str,
    lane: Option<String>,
    verdict: &'static str,
    proofs: Vec<Proof>,
}

/// What is left of the budget while a report is built.
struct Left {
    b: Budget,
    processes: usize,
    effects: usize,
    changes: usize,
    calls: usize,
}

impl Left {
    fn clip(&self, s: &str) -> String {
        crate::html::clip(s, self.b.text)
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `pass`, `fail`, `inconclusive` or `needs_approval`.
fn word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Inconclusive => "inconclusive",
        Verdict::NeedsApproval => "needs_approval",
    }
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The report for `v`; `evidence[i]` is what proof `i`'s bundle holds (or `None`). Under
/// [`MAX_BYTES`] unless even a budget of nothing is over it (thousands of proofs).
pub fn render(v: &ProofSetVerdict, evidence: &[Option<ProofEvidence>], budget: Budget) -> String {
    let mut b = budget;
    loop {
        let page = render_once(v, evidence, b);
        if page.len() <= MAX_BYTES || (b.processes, b.effects, b.changes, b.calls) == (0, 0, 0, 0) {
            return page;
        }
        b = b.halve();
    }
}

fn render_once(v: &ProofSetVerdict, evidence: &[Option<ProofEvidence>], budget: Budget) -> String {
    let share = budget.share(v.proofs.len());
    let proofs: Vec<Proof> = v
        .proofs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut left = Left {
                b: share,
                processes: share.processes,
                effects: share.effects,
                changes: share.changes,
                calls: share.calls,
            };
            proof(p, evidence.get(i).and_then(Option::as_ref), &mut left)
        })
        .collect();
    let summary = summary(v, &proofs);
    let data = Data {
        schema: SCHEMA,
        lane: v.lane.clone(),
        verdict: word(v.verdict),
        proofs,
    };
    // serde_json escapes control characters; `<` is escaped so that no `</script>` or `<!--`
    // in a path can end or comment out the data's element.
    let json = serde_json::to_string(&data)
        .expect("the report data serializes")
        .replace('<', "\\u003c");
    let title = format!(
        "assay-runner · {} · {}",
        v.lane.as_deref().unwrap_or("all proofs"),
        word(v.verdict)
    );
    fill(&esc(&title), &summary, &json)
}

/// The page with its three markers filled. The template is cut at the markers first and the
/// pieces joined, so no filled-in text (which a measured process chose) can be taken for a
/// marker; the inline script is allowed by its hash, not by `'unsafe-inline'`, so markup
/// that got in anyway could run nothing.
fn fill(title: &str, summary: &str, json: &str) -> String {
    const MARKERS: [&str; 3] = [
        "<!--ASSAY:TITLE-->",
        "<!--ASSAY:SUMMARY-->",
        "/*ASSAY:DATA*/null",
    ];
    let page = PAGE.replacen(CSP_SCRIPT_INLINE, &script_hash_source(), 1);
    let mut pieces = Vec::with_capacity(4);
    let mut rest = page.as_str();
    for m in MARKERS {
        let (before, after) = rest.split_once(m).expect("the page holds each marker once");
        pieces.push(before);
        rest = after;
    }
    let mut out = String::with_capacity(page.len() + summary.len() + json.len());
    for (piece, text) in pieces.iter().zip([title, summary, json]) {
        out.push_str(piece);
        out.push_str(text);
    }
    out.push_str(rest);
    out
}

/// The template's script policy, replaced by the hash of its one inline script.
const CSP_SCRIPT_INLINE: &str = "script-src 'unsafe-inline'";

/// `script-src 'sha256-…'` of the page's script (the one `<script>` without a type).
fn script_hash_source() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let start = PAGE.find("<script>").expect("the page has its script") + "<script>".len();
    let end = start + PAGE[start..].find("</script>").expect("its script ends");
    let hash = sha2::Sha256::digest(&PAGE.as_bytes()[start..end]);
    format!(
        "script-src 'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The processes drawn within `left`'s budget, and how many distinct ones are not.
fn drawn(agg: &Processes, left: &mut Left) -> (Vec<Process>, usize) {
    let mut out = Vec::new();
    for p in agg.list.iter().take(left.processes) {
        let mut p = p.clone();
        p.label = left.clip(&p.label);
        p.program = p.program.as_deref().map(|x| left.clip(x));
        p.argv = p.argv.as_deref().map(|x| left.clip(x));
        for l in [
            &mut p.effects.filesystem_paths,
            &mut p.effects.filesystem_writes,
            &mut p.effects.network_endpoints,
            &mut p.effects.network_local,
            &mut p.effects.process_execs,
        ] {
            let keep = l.len().min(left.effects);
            p.effects_omitted += l.len() - keep;
            left.effects -= keep;
            l.truncate(keep);
            for x in l.iter_mut() {
                *x = left.clip(x);
            }
        }
        out.push(p);
    }
    let omitted = agg.cut.len() + agg.list.len().saturating_sub(left.processes);
    left.processes = left.processes.saturating_sub(out.len());
    (out, omitted)
}

fn proof(p: &ProofVerdict, ev: Option<&ProofEvidence>, left: &mut Left) -> Proof {
    let health = p.health.as_ref().map(|h| Health {
        status: format!(
            "{} · cgroup {}",
            plain(&h.kernel_layer),
            plain(&h.cgroup_correlation)
        ),
        clean: h.kernel_layer == KernelLayer::Complete
            && h.cgroup_correlation == CgroupCorrelation::Clean
            && h.ringbuf_drops == 0,
        notes: p
            .reasons
            .iter()
            .take(MAX_NOTES)
            .map(|r| clip(r, left.b.text * 4))
            .collect(),
    });
    let (changes, changes_omitted) = changes(p.diff.as_ref(), ev.map(|e| &e.processes), left);
    let (processes, processes_omitted) = ev.map_or((Vec::new(), 0), |e| drawn(&e.processes, left));
    let (tool_calls, tool_calls_omitted, unattributed) = ev
        .and_then(|e| e.correlation.as_ref())
        .map_or((Vec::new(), 0, None), |c| tool_calls(c, left));
    Proof {
        // a proofs.yaml name; cut like any text, as a verdict file can be forged
        name: clip(&p.name, MAX_NAME),
        verdict: word(p.verdict),
        health,
        changes,
        changes_omitted,
        processes,
        processes_omitted,
        tool_calls,
        tool_calls_omitted,
        unattributed,
        cross_runtime: None,
    }
}

/// Tool calls named per change (the rest are counted; all are in the verdict).
const MAX_REFS: usize = 8;
/// Reasons listed per proof.
const MAX_NOTES: usize = 50;

fn changes(
    d: Option<&CapabilityDiff>,
    drawn: Option<&Processes>,
    left: &mut Left,
) -> (Vec<Change>, usize) {
    let Some(d) = d else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::new();
    let mut omitted = 0;
    for c in &d.categories {
        for (change, list) in [("removed", &c.removed), ("added", &c.added)] {
            for e in list {
                if left.changes == 0 {
                    omitted += 1;
                    continue;
                }
                left.changes -= 1;
                let x = d.explanation(&c.category, change, e);
                out.push(Change {
                    category: c.category.clone(),
                    change,
                    entry: left.clip(e),
                    process: x.and_then(|x| x.process.as_deref()).map(|p| left.clip(p)),
                    process_id: x
                        .and_then(|x| x.process.as_deref())
                        .filter(|_| change == "added") // the head's processes are drawn
                        .and_then(|p| drawn?.index.get(p).copied())
                        .filter(|&i| i < left.b.processes),
                    chain: x.map_or(Vec::new(), |x| {
                        x.chain
                            .iter()
                            .take(MAX_CHAIN)
                            .map(|p| left.clip(p))
                            .collect()
                    }),
                    seq: x.and_then(|x| x.seq),
                    tool_calls: x.map_or(Vec::new(), |x| {
                        x.tool_calls
                            .iter()
                            .take(MAX_REFS)
                            .map(|t| ToolCallRef {
                                id: left.clip(&t.id),
                                tool: left.clip(&t.tool),
                                decision: left.clip(&t.decision),
                                rule: left.clip(&t.rule),
                            })
                            .collect()
                    }),
                    tool_calls_omitted: x
                        .map_or(0, |x| x.tool_calls.len().saturating_sub(MAX_REFS)),
                    outside_tool_calls: x.is_some_and(|x| x.outside_tool_calls),
                    // the one line a reviewer reads: room for a chain and a tool call
                    line: x.map_or(String::new(), |x| clip(&x.line, left.b.text * 4)),
                });
            }
        }
    }
    (out, omitted)
}

/// Adds `text` to `cat` of `lists` while the budget lasts; counts it otherwise.
fn add(lists: &mut Lists, omitted: &mut usize, cat: &str, text: &str, left: &mut Left) {
    if left.effects == 0 {
        *omitted += 1;
        return;
    }
    if let Some(l) = lists.get(cat) {
        left.effects -= 1;
        l.push(left.clip(text));
    }
}

fn effects_lists(e: &Effects, left: &mut Left) -> (Lists, usize) {
    let mut l = Lists::default();
    let mut omitted = 0;
    for (cat, list) in [
        ("filesystem_paths", &e.filesystem_paths),
        ("filesystem_writes", &e.filesystem_writes),
        ("network_endpoints", &e.network_endpoints),
        ("process_execs", &e.process_execs),
    ] {
        for x in list {
            add(&mut l, &mut omitted, cat, x, left);
        }
    }
    (l, omitted)
}

fn plain<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn tool_calls(c: &CorrelationReport, left: &mut Left) -> (Vec<ToolCall>, usize, Option<Lists>) {
    let n = c.bindings.len().min(left.calls);
    left.calls -= n;
    let calls = c.bindings[..n]
        .iter()
        .map(|b| {
            let (effects, effects_omitted) = effects_lists(&b.effects, left);
            ToolCall {
                id: left.clip(&b.tool_call_id),
                tool: left.clip(&b.tool),
                decision: plain(&b.decision),
                rule: left.clip(&b.rule),
                server: left.clip(&b.server),
                outcome: plain(&b.outcome),
                first_seq: None,
                last_seq: None,
                effects,
                effects_omitted,
            }
        })
        .collect();
    let (unattributed, _) = effects_lists(&c.unattributed, left);
    (calls, c.bindings.len() - n, Some(unattributed))
}

/// The static summary: readable without JavaScript.
fn summary(v: &ProofSetVerdict, proofs: &[Proof]) -> String {
    let mut o = String::new();
    let class = |w: &str| match w {
        "pass" | "fail" => w.to_string(),
        _ => "pending".to_string(),
    };
    let _ = write!(
        o,
        "<section id=\"summary\">\n<h1>assay-runner · lane <code>{}</code> · <span class=\"verdict v-{}\">{}</span></h1>\n",
        esc(v.lane.as_deref().unwrap_or("(all proofs)")),
        class(word(v.verdict)),
        word(v.verdict)
    );
    o.push_str("<table class=\"proofs\"><thead><tr><th>proof</th><th>verdict</th><th>health</th><th>changes</th></tr></thead><tbody>\n");
    for p in proofs {
        let (added, removed) = p.changes.iter().fold((0, 0), |(a, r), c| {
            if c.change == "added" {
                (a + 1, r)
            } else {
                (a, r + 1)
            }
        });
        let health = p
            .health
            .as_ref()
            .map_or(("h-unclean", "not measured".to_string()), |h| {
                (
                    if h.clean { "h-clean" } else { "h-unclean" },
                    format!(
                        "{} · {}",
                        h.status,
                        if h.clean { "clean" } else { "not clean" }
                    ),
                )
            });
        let _ = writeln!(
            o,
            "<tr data-proof=\"{n}\"><td><a href=\"#proof-{n}\">{n}</a></td><td><span class=\"verdict v-{}\">{}</span></td><td class=\"health {}\">{}</td><td>+{added} −{removed}</td></tr>",
            class(p.verdict),
            p.verdict,
            health.0,
            esc(&health.1),
            n = esc(&p.name),
        );
    }
    o.push_str("</tbody></table>\n");
    for p in proofs.iter().filter(|p| !p.changes.is_empty()) {
        changes_html(&mut o, p);
    }
    o.push_str("</section>");
    o
}

/// One proof's added and removed entries, each with who made it.
fn changes_html(o: &mut String, p: &Proof) {
    let _ = write!(
        o,
        "<div class=\"changes\">\n<h2 id=\"proof-{n}\">{n}</h2>\n<ul class=\"entries\">\n",
        n = esc(&p.name)
    );
    for c in &p.changes {
        let (mark, class) = if c.change == "added" {
            ("+", "added")
        } else {
            ("−", "removed")
        };
        let why = match (c.line.is_empty(), c.change) {
            (false, _) => c.line.as_str(),
            (true, "removed") => {
                "not in this run (the golden it was judged against holds no witnesses)"
            }
            (true, _) => "no kernel witness",
        };
        let filter = format!("{} {} {} {why}", c.category, c.change, c.entry).to_lowercase();
        let _ = writeln!(
            o,
            "<li class=\"entry {class}\" data-filter=\"{}\"><span class=\"mark\">{mark}</span> <span class=\"cat\">{}</span> <code class=\"ent\">{}</code>\n<div class=\"why\">{}</div></li>",
            esc(&filter),
            esc(&c.category),
            esc(&c.entry),
            esc(why)
        );
    }
    if p.changes_omitted > 0 {
        let _ = writeln!(
            o,
            "<li class=\"more\">… {} more change(s): see the verdict JSON</li>",
            p.changes_omitted
        );
    }
    o.push_str("</ul>\n</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOSTILE: &str = "<work>/</script><script>alert(1)</script><!--\"'&";

    fn verdict(entry: &str, line: &str) -> ProofSetVerdict {
        let diff = json!({
            "schema": assay_contracts::capability_diff::SCHEMA, "run_id": "r", "status": "clean",
            "changed": true,
            "base": {"kind": "golden", "source": "g", "run_id": "r", "health_clean": true},
            "head": {"kind": "bundle", "source": "b", "run_id": "r", "health_clean": true},
            "categories": [{"category": "filesystem_writes", "added": [entry], "removed": ["<work>/gone"], "unchanged": []}],
            "golden_lines": [],
            "explanations": [{"category": "filesystem_writes", "change": "added", "entry": entry,
                "seq": 3, "exact": entry, "process": "p0/node#1", "chain": ["/usr/bin/node", "/usr/bin/bash"],
                "tool_calls": [{"id": "c1", "tool": "write_file", "decision": "allow", "rule": "w", "server": "p0/node#1"}],
                "outside_tool_calls": false, "line": line}],
            "notes": []
        });
        serde_json::from_value(json!({
            "schema": assay_contracts::verdict::SCHEMA, "run_id": "lane:x", "lane": "x", "verdict": "fail",
            "proofs": [{"name": "demo", "verdict": "fail", "reasons": ["surface-changed: 1 entry added"],
                "runs": 1, "deterministic": true, "bundle": "b.tar.gz", "golden": "g",
                "pending": null,
                "health": {"kernel_layer": "complete", "cgroup_correlation": "clean", "ringbuf_drops": 0},
                "diff": diff}]
        }))
        .unwrap()
    }

    use crate::explain::tests::ev;

    /// The page of `v` with `processes` as its one proof's evidence.
    fn page_of(v: &ProofSetVerdict, processes: Processes) -> String {
        let evidence = ProofEvidence {
            processes,
            correlation: None,
        };
        render(v, &[Some(evidence)], Budget::default())
    }

    fn data(page: &str) -> serde_json::Value {
        let start = page.find("id=\"assay-data\">").unwrap() + "id=\"assay-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        serde_json::from_str(&page[start..end]).unwrap()
    }

    /// Texts a measured process chose (paths) can neither end the data's element nor add
    /// markup to the summary; the data still holds them exactly.
    #[test]
    fn hostile_texts_stay_text() {
        let v = verdict(HOSTILE, &format!("← /usr/bin/node ({HOSTILE})"));
        let mut p = Processes::new(Budget::default());
        p.event(&ev(0, "p0", Kind::Exec, "/usr/bin/bash"));
        p.event(&ev(1, "p0/node#1", Kind::Open, HOSTILE));
        let page = page_of(&v, p);
        assert_eq!(
            page.matches("<script").count(),
            PAGE.matches("<script").count()
        );
        assert_eq!(
            page.matches("</script>").count(),
            PAGE.matches("</script>").count()
        );
        assert_eq!(
            page.matches("<!--").count(),
            PAGE.matches("<!--").count() - 2
        );
        let d = data(&page);
        assert_eq!(d["proofs"][0]["changes"][1]["entry"], HOSTILE);
        assert_eq!(
            d["proofs"][0]["processes"][1]["effects"]["filesystem_writes"][0],
            HOSTILE
        );
        assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
    }

    /// The summary names each change's chain and tool call; a removal judged against a golden
    /// says it has no witness; the same input gives the same bytes.
    #[test]
    fn the_summary_explains_each_change_and_is_deterministic() {
        let line = "← /usr/bin/node ← /usr/bin/bash (p0/node#1, kernel line 3); tool call c1 write_file: allow by w";
        let v = verdict("<work>/out.txt", line);
        let page = render(&v, &[None], Budget::default());
        assert_eq!(page, render(&v, &[None], Budget::default()));
        let summary = &page[page.find("<section id=\"summary\">").unwrap()..];
        assert!(
            summary.contains(&format!("<div class=\"why\">{}</div>", esc(line))),
            "{summary}"
        );
        assert!(
            summary
                .contains("not in this run (the golden it was judged against holds no witnesses)")
        );
        assert!(summary.contains("<td>+1 −1</td>"));
        let d = data(&page);
        assert_eq!(d["proofs"][0]["changes"][1]["tool_calls"][0]["id"], "c1");
        assert_eq!(
            d["proofs"][0]["changes"][1]["chain"],
            json!(["/usr/bin/node", "/usr/bin/bash"])
        );
    }

    /// A million events in a hundred thousand processes, every path distinct: the aggregate
    /// keeps the budget, counts the rest, and the page stays under the bound, also when its
    /// texts are long and escape-heavy.
    #[test]
    fn a_million_events_stay_under_the_bound() {
        let long = "<".repeat(400);
        let mut p = Processes::new(Budget::default());
        for i in 0..1_000_000u64 {
            let proc_ = format!("p0/sh#1/cc#{}", i % 100_000);
            let kind = if i % 10 == 0 { Kind::Exec } else { Kind::Open };
            p.event(&ev(i, &proc_, kind, &format!("/src/{long}/{i}.c")));
        }
        assert_eq!(p.list.len(), Budget::default().processes);
        let v = verdict(&format!("<work>/{long}"), &long);
        let page = page_of(&v, p);
        assert!(page.len() <= MAX_BYTES, "{} bytes", page.len());
        let d = data(&page);
        let omitted = d["proofs"][0]["processes_omitted"].as_u64().unwrap();
        let drawn = d["proofs"][0]["processes"].as_array().unwrap().len() as u64;
        assert_eq!(omitted + drawn, 100_000, "every process drawn or counted");
    }

    /// Filled-in text is never taken for a marker: an entry or a proof name that spells one
    /// stays text, and the data still reaches its element; the script runs by its hash.
    #[test]
    fn a_marker_in_the_data_is_text() {
        let marker = "<work>/*ASSAY:DATA*/null<!--ASSAY:SUMMARY-->";
        let mut v = verdict(marker, "x");
        v.proofs[0].name = "n /*ASSAY:DATA*/null".into();
        let page = render(&v, &[None], Budget::default());
        let d = data(&page);
        assert_eq!(d["proofs"][0]["changes"][1]["entry"], marker);
        assert_eq!(d["proofs"][0]["name"], "n /*ASSAY:DATA*/null");
        assert!(page.contains("script-src 'sha256-"));
        assert!(!page.contains("script-src 'unsafe-inline'"));
    }

    /// Labels are cut for display; the tree is linked by ids, so two processes whose labels
    /// share their first bytes keep their own parents and children.
    #[test]
    fn processes_are_linked_by_id_not_by_cut_labels() {
        let long = "a".repeat(300);
        let mut p = Processes::new(Budget::default());
        p.event(&ev(0, "p0", Kind::Exec, "/usr/bin/bash"));
        p.event(&ev(
            1,
            &format!("p0/{long}#1"),
            Kind::Exec,
            "/usr/bin/harmless",
        ));
        p.event(&ev(2, &format!("p0/{long}#2"), Kind::Exec, "/tmp/evil"));
        p.event(&ev(
            3,
            &format!("p0/{long}#2/curl#1"),
            Kind::Exec,
            "/usr/bin/curl",
        ));
        let v = verdict("x", "y");
        let page = page_of(&v, p);
        let d = data(&page);
        let procs = d["proofs"][0]["processes"].as_array().unwrap();
        assert_eq!(procs[1]["label"], procs[2]["label"], "cut alike");
        assert_eq!(procs[3]["parent_id"], 2, "curl is the evil one's child");
        assert_eq!(procs[2]["program"], "/tmp/evil");
    }
}
