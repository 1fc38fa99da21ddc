//! Correlation (design §6): kernel effects attributed to tool calls, and the kernel-attested
//! acceptance of layer records that makes the attribution trustworthy.
//!
//! * [`provenance`] extracts what the kernel saw of the processes that may write layer records.
//! * [`policy`] accepts the decision log of a run's wrappers against that attestation.
//! * [`correlate`] builds `assay.runner.correlation_report.v1`: a call's window runs from the
//!   wrapper forwarding the request (`diag.forwarded_ns`) to the response arriving
//!   (`diag.responded_ns`); both are CLOCK_MONOTONIC, the clock of the kernel's event times. An
//!   effect of the server's process subtree inside exactly one window belongs to that call;
//!   inside several windows (concurrent calls), inside a window that never closed, or in the
//!   window of an id used twice, it is ambiguous and belongs to none; outside every window it is
//!   unattributed. Effects are normalized like the surface (same rules, same noise filter).
//!
//! Imports: `contracts`, `layers::kernel` (projection and origins), `surface` (the touch rules
//! and noise filter).

pub mod policy;
pub mod provenance;
pub mod sdk;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::contracts::correlation_report::{
    self, Ambiguity, Binding, CorrelationReport, Effects, Status,
};
use crate::contracts::health::{self as health, NoteCode, OtherLayer};
use crate::contracts::policy_event::Decision;
use crate::layers::kernel::{KernelSink, Origin, Projection};
use crate::surface::names::Names;
use crate::surface::{Accumulator, NoiseFilter};

use self::policy::PolicyLayer;

/// Notes kept per code; more are summarized in one note.
const NOTES_PER_CODE: usize = 5;

/// Coded notes of a layer for health: at most [`NOTES_PER_CODE`] per code, then a summary.
#[derive(Debug, Default)]
pub(crate) struct Notes(BTreeMap<NoteCode, Vec<String>>);

impl Notes {
    pub(crate) fn add(&mut self, code: NoteCode, prose: String) {
        self.0
            .entry(code)
            .or_default()
            .push(prose.replace(['\n', '\r'], " "));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `code: prose` lines, sorted.
    pub(crate) fn finish(self) -> Vec<String> {
        let mut out = Vec::new();
        for (code, list) in self.0 {
            let n = list.len();
            for p in list.into_iter().take(NOTES_PER_CODE) {
                out.push(health::note(code, p));
            }
            if n > NOTES_PER_CODE {
                out.push(health::note(
                    code,
                    format!("and {} more", n - NOTES_PER_CODE),
                ));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The records of a layer log (untrusted: written by processes of the run), each with its
/// 1-based line number. A last line without its newline (a torn write) or a line that does not
/// parse as `T` is an `invalid` note naming the line; `what` names the record kind.
pub(crate) fn log_records<T: serde::de::DeserializeOwned>(
    log: &[u8],
    invalid: NoteCode,
    what: &str,
    notes: &mut Notes,
) -> Vec<(usize, T)> {
    let mut out = Vec::new();
    let mut lines = log.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let n = i + 1;
        if lines.peek().is_none() {
            if !line.is_empty() {
                notes.add(
                    invalid,
                    format!("line {n}: the last record has no newline (torn write)"),
                );
            }
            break;
        }
        match serde_json::from_slice(line) {
            Ok(r) => out.push((n, r)),
            Err(e) => notes.add(invalid, format!("line {n}: not {what}: {e}")),
        }
    }
    out
}
use self::sdk::SdkLayer;

/// The effects of an accumulator, destinations named by the run's names (the surface's rule).
fn effects(a: Accumulator, names: &Names) -> Effects {
    Effects {
        filesystem_paths: a.paths.into_iter().collect(),
        filesystem_writes: a.writes.into_iter().collect(),
        network_endpoints: names.apply(&a.endpoints).into_iter().collect(),
        process_execs: a.execs.into_iter().collect(),
    }
}

struct Window {
    start: u64,
    end: Option<u64>,
    binding: usize,
}

/// Attributes the projection's effects to the accepted policy records and, in `sdk` runs, joins
/// the SDK's tool calls to them by `tool_call_id` (never by position or time). Destinations stay
/// addresses: [`correlate_named`] names them as the surface does.
pub fn correlate(
    run_id: &str,
    layer: &PolicyLayer,
    sdk: Option<&SdkLayer>,
    p: &Projection,
    noise: &NoiseFilter,
) -> CorrelationReport {
    correlate_named(run_id, layer, sdk, p, noise, &Names::default())
}

/// [`correlate`], with destinations named by `names` (the run's DNS answers and ClientHello
/// server names, as the surface has them), so every effect reads as its surface entry.
///
/// The steps: the records as [`Calls`] (bindings and their windows), the events [`attribute`]d
/// to them, the SDK's calls joined by id, and the report's status.
pub fn correlate_named(
    run_id: &str,
    layer: &PolicyLayer,
    sdk: Option<&SdkLayer>,
    p: &Projection,
    noise: &NoiseFilter,
    names: &Names,
) -> CorrelationReport {
    let mut c = calls(layer, p);
    let (per_binding, unattributed) = attribute(&mut c, p, noise);
    let Calls {
        mut bindings,
        mut ambiguous,
        ..
    } = c;
    for (b, acc) in bindings.iter_mut().zip(per_binding) {
        b.effects = effects(acc, names);
    }
    if let Some(sdk) = sdk {
        join_sdk(sdk, &mut bindings, &mut ambiguous);
    }
    let ambiguities: Vec<Ambiguity> = ambiguous
        .into_iter()
        .map(|((code, ids), acc)| Ambiguity {
            code: code.into(),
            tool_call_ids: ids,
            effects: effects(acc, names),
        })
        .collect();
    let sdk_ok = sdk.is_none_or(|s| s.state == OtherLayer::Complete);
    let status = match layer.state {
        OtherLayer::Complete if sdk_ok && ambiguities.is_empty() => Status::Clean,
        OtherLayer::Complete if sdk_ok => Status::Partial,
        _ => Status::Failed,
    };
    CorrelationReport {
        schema: correlation_report::SCHEMA.into(),
        run_id: run_id.into(),
        status,
        bindings,
        unattributed: effects(unattributed, names),
        ambiguities,
    }
}

/// Ambiguities by code and the tool call ids involved, with the effects they hold.
type Ambiguous = BTreeMap<(&'static str, Vec<String>), Accumulator>;

/// The accepted policy records as bindings (their effects still empty), the window of each
/// allowed, forwarded call on its server's process, and what the records alone show to be
/// ambiguous (a duplicate tool call id, a server the run does not know).
struct Calls<'a> {
    bindings: Vec<Binding>,
    /// Server process key → the windows of the calls it served.
    windows: HashMap<u32, Vec<Window>>,
    /// How many records carry each tool call id.
    id_count: BTreeMap<&'a str, usize>,
    ambiguous: Ambiguous,
}

fn calls<'a>(layer: &'a PolicyLayer, p: &Projection) -> Calls<'a> {
    // Processes by their run-unique key; a record's raw server pid names one only when no
    // other process of the run had the same pid.
    let labels: HashMap<u32, &str> = p
        .processes
        .iter()
        .map(|x| (x.key, x.label.as_str()))
        .collect();
    let pid_keys = crate::layers::kernel::pid_keys(&p.processes);
    let key_of = |pid: u32| match pid_keys.get(&pid).map(Vec::as_slice) {
        Some([k]) => Some(*k),
        _ => None,
    };
    let mut id_count: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &layer.records {
        *id_count.entry(r.tool_call_id.as_str()).or_default() += 1;
    }
    let mut ambiguous: Ambiguous = BTreeMap::new();
    let mut bindings = Vec::with_capacity(layer.records.len());
    let mut windows: HashMap<u32, Vec<Window>> = HashMap::new();
    for (i, r) in layer.records.iter().enumerate() {
        let diag = r.diag.as_ref();
        let server_key = diag.and_then(|d| key_of(d.server_pid));
        let known = server_key.and_then(|s| labels.get(&s).copied());
        bindings.push(Binding {
            tool_call_id: r.tool_call_id.clone(),
            tool: r.tool.clone(),
            decision: r.decision,
            rule: r.rule.clone(),
            outcome: r.outcome,
            server: if r.decision == Decision::Allow {
                known.unwrap_or_default().to_string()
            } else {
                String::new()
            },
            sdk_outcome: None,
            effects: Effects::default(),
        });
        if id_count[r.tool_call_id.as_str()] > 1 {
            ambiguous
                .entry(("duplicate-tool-call-id", vec![r.tool_call_id.clone()]))
                .or_default();
        }
        let Some(d) = diag else { continue };
        let (Decision::Allow, Some(start)) = (r.decision, d.forwarded_ns) else {
            continue;
        };
        let (Some(server), Some(_)) = (server_key, known) else {
            ambiguous
                .entry(("unknown-server", vec![r.tool_call_id.clone()]))
                .or_default();
            continue;
        };
        windows.entry(server).or_default().push(Window {
            start,
            end: d.responded_ns,
            binding: i,
        });
    }
    Calls {
        bindings,
        windows,
        id_count,
        ambiguous,
    }
}

/// Attributes each event of a server's process subtree: to the call whose closed window on
/// that server holds it alone, else to an ambiguity (a duplicate id, an open window, windows
/// that overlap). Returns the effects per binding and those in no window.
fn attribute(
    c: &mut Calls,
    p: &Projection,
    noise: &NoiseFilter,
) -> (Vec<Accumulator>, Accumulator) {
    let Calls {
        bindings,
        windows,
        id_count,
        ambiguous,
    } = c;
    let parents: HashMap<u32, u32> = p
        .processes
        .iter()
        .filter_map(|x| x.parent.map(|pp| (x.key, pp)))
        .collect();
    // Which server (if any) each process belongs to: itself or its nearest server ancestor.
    let mut owner: HashMap<u32, Option<u32>> = HashMap::new();
    let mut find_owner = |key: u32| -> Option<u32> {
        if let Some(o) = owner.get(&key) {
            return *o;
        }
        let mut cur = key;
        let mut seen = BTreeSet::new();
        let found = loop {
            if windows.contains_key(&cur) {
                break Some(cur);
            }
            if !seen.insert(cur) {
                break None; // a pid cycle cannot happen; never loop on one
            }
            match parents.get(&cur) {
                Some(&pp) => cur = pp,
                None => break None,
            }
        };
        owner.insert(key, found);
        found
    };
    let mut per_binding: Vec<Accumulator> = vec![Accumulator::default(); bindings.len()];
    let mut unattributed = Accumulator::default();
    for (e, o) in p.events.iter().zip(&p.origins) {
        let Some(server) = find_owner(o.key) else {
            continue;
        };
        let hits: Vec<&Window> = windows[&server]
            .iter()
            .filter(|w| w.start <= o.ns && w.end.is_none_or(|end| o.ns <= end))
            .collect();
        let ids = |hits: &[&Window]| -> Vec<String> {
            let set: BTreeSet<String> = hits
                .iter()
                .map(|w| bindings[w.binding].tool_call_id.clone())
                .collect();
            set.into_iter().collect()
        };
        match hits.as_slice() {
            [] => unattributed.add(e, noise),
            [w] if w.end.is_some() => {
                let id = bindings[w.binding].tool_call_id.as_str();
                if id_count[id] > 1 {
                    ambiguous
                        .entry(("duplicate-tool-call-id", vec![id.to_string()]))
                        .or_default()
                        .add(e, noise);
                } else {
                    per_binding[w.binding].add(e, noise);
                }
            }
            _ if hits.iter().any(|w| w.end.is_none()) => ambiguous
                .entry(("open-window", ids(&hits)))
                .or_default()
                .add(e, noise),
            _ => ambiguous
                .entry(("overlapping-windows", ids(&hits)))
                .or_default()
                .add(e, noise),
        }
    }
    (per_binding, unattributed)
}

/// The events of the servers' process subtrees, kept while the kernel layer streams past (a
/// [`KernelSink`]): all [`correlate`] needs of a run. `servers` are the server pids the decision
/// log claims (attribution later uses only the accepted records). Labels name the process tree
/// and arrive sorted, so a server's own events come before its descendants'.
#[derive(Debug, Default)]
pub struct ServerEvents {
    servers: BTreeSet<u32>,
    roots: Vec<String>,
    events: Vec<crate::contracts::kernel_event::KernelEvent>,
    origins: Vec<Origin>,
}

impl ServerEvents {
    pub fn new(servers: impl IntoIterator<Item = u32>) -> ServerEvents {
        ServerEvents {
            servers: servers.into_iter().collect(),
            ..ServerEvents::default()
        }
    }

    /// The kept events as a projection with the run's process table.
    pub fn into_projection(self, processes: Vec<crate::layers::kernel::ProcessInfo>) -> Projection {
        Projection {
            events: self.events,
            origins: self.origins,
            processes,
            stats: Default::default(),
        }
    }
}

impl KernelSink for ServerEvents {
    fn event(&mut self, ev: &crate::contracts::kernel_event::KernelEvent, origin: &Origin) {
        if self.servers.contains(&origin.pid) && !self.roots.contains(&ev.process) {
            self.roots.push(ev.process.clone());
        }
        let inside = self.roots.iter().any(|r| {
            ev.process == *r
                || ev
                    .process
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if inside {
            self.events.push(ev.clone());
            self.origins.push(*origin);
        }
    }
}

/// Joins the SDK's calls to the policy bindings by id: a call only one side saw, or an id the
/// two sides name different tools under, is an ambiguity.
fn join_sdk(sdk: &SdkLayer, bindings: &mut [Binding], ambiguous: &mut Ambiguous) {
    let calls = sdk.calls();
    let mut by_id: BTreeMap<&str, Vec<(&str, Option<crate::contracts::sdk_event::ToolOutcome>)>> =
        BTreeMap::new();
    for (id, tool, outcome) in &calls {
        by_id.entry(id).or_default().push((tool, *outcome));
    }
    let policy_ids: BTreeSet<String> = bindings.iter().map(|b| b.tool_call_id.clone()).collect();
    for b in bindings.iter_mut() {
        match by_id.get(b.tool_call_id.as_str()).map(Vec::as_slice) {
            None => {
                ambiguous
                    .entry(("policy-without-sdk", vec![b.tool_call_id.clone()]))
                    .or_default();
            }
            Some([(tool, outcome)]) => {
                b.sdk_outcome = *outcome;
                if *tool != b.tool {
                    ambiguous
                        .entry(("tool-mismatch", vec![b.tool_call_id.clone()]))
                        .or_default();
                }
            }
            Some(_) => {
                ambiguous
                    .entry(("duplicate-tool-call-id", vec![b.tool_call_id.clone()]))
                    .or_default();
            }
        }
    }
    for id in by_id.keys() {
        if !policy_ids.contains(*id) {
            ambiguous
                .entry(("sdk-without-policy", vec![id.to_string()]))
                .or_default();
        }
    }
}

#[cfg(test)]
mod tests;
