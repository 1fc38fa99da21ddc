//! Accepting the SDK layer of a run: the `assay.runner.sdk_event.v0` records an agent fixture
//! wrote to `$ASSAY_SDK_LOG`, checked against what the kernel witnessed.
//!
//! The agent is the measured command's own code, so the kernel can attest *who* wrote: exactly
//! one process wrote the log, it is not an MCP server (a runner process or a descendant of one:
//! the tools being called must not be able to speak for the agent), and every record names that
//! process in `diag.pid` (records naming a process that never wrote the log are dropped; with
//! several writers the records are kept but the layer is not trusted). The records must also tell a coherent story: `seq` gapless from 0,
//! `run_started` first and `run_finished` last, each `tool_call_started` finished exactly once,
//! one SDK throughout. Anything else makes `sdk_layer` partial with coded notes; no record at
//! all is `absent`.

use std::collections::BTreeMap;

use crate::contracts::health::{NoteCode, OtherLayer};
use crate::contracts::sdk_event::{self, EventType, SdkEvent};

use super::Notes;
use super::provenance::Attestation;

/// The accepted SDK layer of one run.
#[derive(Debug, Clone)]
pub struct SdkLayer {
    pub state: OtherLayer,
    /// Accepted records (with `diag`), in canonical order ([`canonical_order`]).
    pub records: Vec<SdkEvent>,
    /// `code: prose` notes for health.
    pub notes: Vec<String>,
}

impl SdkLayer {
    /// The tool calls the SDK reported: `(tool_call_id, tool, outcome)`, by call id.
    pub fn calls(&self) -> Vec<(&str, &str, Option<sdk_event::ToolOutcome>)> {
        let mut out: Vec<(&str, &str, Option<sdk_event::ToolOutcome>)> = Vec::new();
        for r in &self.records {
            let (Some(id), Some(tool)) = (r.tool_call_id.as_deref(), r.tool.as_deref()) else {
                continue;
            };
            match r.event_type {
                EventType::ToolCallStarted => out.push((id, tool, None)),
                EventType::ToolCallFinished => {
                    if let Some(c) = out.iter_mut().rev().find(|c| c.0 == id && c.2.is_none()) {
                        c.2 = r.outcome;
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Checks the records of `log` (`None`: never created) written to `log_path` (display form).
pub fn accept(
    run_id: &str,
    log: Option<&[u8]>,
    truncated: bool,
    att: &Attestation,
    log_path: &str,
) -> SdkLayer {
    let mut notes = Notes::default();
    if truncated {
        notes.add(
            NoteCode::SdkRecordInvalid,
            format!(
                "the SDK log is larger than {} bytes; only its start was read",
                super::policy::MAX_LOG_BYTES
            ),
        );
    }
    let writers = check_writers(att, log_path, &mut notes);
    let mut records: Vec<SdkEvent> = Vec::new();
    let log = log.unwrap_or_default();
    for (n, rec) in
        super::log_records::<SdkEvent>(log, NoteCode::SdkRecordInvalid, "an SDK record", &mut notes)
    {
        if check_record(n, &rec, run_id, att, &writers, &mut notes) {
            records.push(rec);
        }
    }
    story(&records, &mut notes);
    if records.is_empty() && notes.is_empty() {
        notes.add(
            NoteCode::SdkAbsent,
            "no SDK record was written: the agent fixture writes `assay.runner.sdk_event.v0` lines to $ASSAY_SDK_LOG".into(),
        );
    }
    let state = if records.is_empty() {
        OtherLayer::Absent
    } else if notes.is_empty() {
        OtherLayer::Complete
    } else {
        OtherLayer::Partial
    };
    canonical_order(&mut records);
    SdkLayer {
        state,
        records,
        notes: notes.finish(),
    }
}

/// Orders checked records canonically and renumbers them from 0: `run_started` first,
/// `run_finished` last, the tool calls between them by `tool_call_id` (each call's start before
/// its finish), ties by the written `seq`. Concurrent tool calls start and finish in an order
/// that varies from run to run; the canonical layer must not (the real order is `diag`'s).
fn canonical_order(records: &mut [SdkEvent]) {
    records.sort_by(|a, b| {
        let key = |r: &SdkEvent| {
            let phase = match r.event_type {
                EventType::RunStarted => 0,
                EventType::ToolCallStarted | EventType::ToolCallFinished => 1,
                EventType::RunFinished => 2,
            };
            (phase, r.tool_call_id.clone(), r.event_type, r.seq)
        };
        key(a).cmp(&key(b))
    });
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64;
    }
}

/// The processes the kernel saw write the SDK log: only the agent may, once, from outside
/// every MCP server's process tree (anything else is a note).
fn check_writers(att: &Attestation, log_path: &str, notes: &mut Notes) -> Vec<u32> {
    let label = |key: u32| {
        att.labels
            .get(&key)
            .cloned()
            .unwrap_or_else(|| format!("process {key}"))
    };
    let writers: Vec<u32> = att
        .writers
        .get(log_path)
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    if writers.len() > 1 {
        let names: Vec<String> = writers.iter().map(|&p| label(p)).collect();
        notes.add(
            NoteCode::SdkLogTampered,
            format!(
                "{} processes wrote the SDK log ({}); only the agent may",
                writers.len(),
                names.join(", ")
            ),
        );
    }
    for &w in &writers {
        if att.in_wrapper_tree(w) {
            notes.add(
                NoteCode::SdkRecordForged,
                format!(
                    "{} wrote the SDK log from inside an MCP server's process tree",
                    label(w)
                ),
            );
        }
    }
    writers
}

/// One parsed record (line `n`) checked against the run and the kernel's witness: this run's
/// schema and id, a `diag`, written by a process the kernel saw write the log.
fn check_record(
    n: usize,
    rec: &SdkEvent,
    run_id: &str,
    att: &Attestation,
    writers: &[u32],
    notes: &mut Notes,
) -> bool {
    if rec.schema != sdk_event::SCHEMA {
        notes.add(
            NoteCode::SdkRecordInvalid,
            format!(
                "line {n}: schema `{}`, expected `{}`",
                rec.schema,
                sdk_event::SCHEMA
            ),
        );
        return false;
    }
    if rec.run_id != run_id {
        notes.add(
            NoteCode::SdkRecordForged,
            format!("line {n}: run id `{}` is not this run's", rec.run_id),
        );
        return false;
    }
    let Some(diag) = &rec.diag else {
        notes.add(
            NoteCode::SdkRecordInvalid,
            format!("line {n}: the record has no diag (pid and clock)"),
        );
        return false;
    };
    if !att.key_of(diag.pid).is_some_and(|k| writers.contains(&k)) {
        notes.add(
            NoteCode::SdkRecordForged,
            format!(
                "line {n}: pid {} is not the process the kernel saw write the SDK log",
                diag.pid
            ),
        );
        return false;
    }
    true
}

/// The records' own coherence: gapless seq, one SDK, run start/end, calls finished once.
fn story(records: &[SdkEvent], notes: &mut Notes) {
    if let Some((i, r)) = records.iter().enumerate().find(|(i, r)| r.seq != *i as u64) {
        notes.add(
            NoteCode::SdkRecordMissing,
            format!(
                "record {} has seq {}: records are missing or out of order",
                i + 1,
                r.seq
            ),
        );
    }
    let Some(first) = records.first() else { return };
    if records.iter().any(|r| r.sdk != first.sdk) {
        notes.add(
            NoteCode::SdkRecordInvalid,
            "the records name more than one SDK".into(),
        );
    }
    if first.event_type != EventType::RunStarted {
        notes.add(
            NoteCode::SdkRecordInvalid,
            "the first record is not run_started".into(),
        );
    }
    if records.last().map(|r| r.event_type) != Some(EventType::RunFinished) {
        notes.add(
            NoteCode::SdkRecordMissing,
            "the last record is not run_finished (the agent did not finish)".into(),
        );
    }
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        let is_call = matches!(
            r.event_type,
            EventType::ToolCallStarted | EventType::ToolCallFinished
        );
        if is_call != (r.tool_call_id.is_some() && r.tool.is_some()) {
            notes.add(
                NoteCode::SdkRecordInvalid,
                format!(
                    "seq {}: tool_call_id and tool belong to tool call events, and only to them",
                    r.seq
                ),
            );
            continue;
        }
        if (r.event_type == EventType::ToolCallFinished) != r.outcome.is_some() {
            notes.add(
                NoteCode::SdkRecordInvalid,
                format!(
                    "seq {}: outcome belongs to tool_call_finished, and only to it",
                    r.seq
                ),
            );
        }
        let Some(id) = r.tool_call_id.as_deref() else {
            continue;
        };
        match r.event_type {
            EventType::ToolCallStarted => *open.entry(id).or_default() += 1,
            EventType::ToolCallFinished => match open.get_mut(id) {
                Some(n) if *n > 0 => *n -= 1,
                _ => notes.add(
                    NoteCode::SdkRecordInvalid,
                    format!("seq {}: call {id} finished without starting", r.seq),
                ),
            },
            _ => {}
        }
    }
    for (id, n) in open {
        if n > 0 {
            notes.add(
                NoteCode::SdkRecordMissing,
                format!("call {id} started but never finished"),
            );
        }
    }
}

/// The canonical form of a record: `diag` dropped.
pub fn canonical(r: &SdkEvent) -> SdkEvent {
    SdkEvent {
        diag: None,
        ..r.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::contracts::sdk_event::{Sdk, SdkDiag, ToolOutcome};

    const LOG: &str = "/run/l/sdk.ndjson";

    fn ev(seq: u64, t: EventType, call: Option<(&str, &str)>, pid: u32) -> String {
        let r = SdkEvent {
            schema: sdk_event::SCHEMA.into(),
            run_id: "r".into(),
            seq,
            event_type: t,
            tool_call_id: call.map(|c| c.0.into()),
            tool: call.map(|c| c.1.into()),
            outcome: (t == EventType::ToolCallFinished).then_some(ToolOutcome::Ok),
            sdk: Sdk {
                name: "@openai/agents".into(),
                version: "0.20.0".into(),
            },
            diag: Some(SdkDiag {
                pid,
                monotonic_ns: seq,
            }),
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    fn good(pid: u32) -> String {
        [
            ev(0, EventType::RunStarted, None, pid),
            ev(1, EventType::ToolCallStarted, Some(("c1", "read")), pid),
            ev(2, EventType::ToolCallFinished, Some(("c1", "read")), pid),
            ev(3, EventType::RunFinished, None, pid),
        ]
        .concat()
    }

    fn att(writers: &[u32]) -> Attestation {
        let mut a = Attestation::default();
        a.runners.insert(10, "p0/assay-runner#1".into());
        a.parents.insert(11, 10);
        a.parents.insert(10, 5);
        a.labels.insert(5, "p0".into());
        a.labels.insert(7, "p0/sh#1".into());
        a.labels.insert(11, "p0/assay-runner#1/node#1".into());
        a.writers
            .insert(LOG.into(), writers.iter().copied().collect::<BTreeSet<_>>());
        a.identity_pids()
    }

    #[test]
    fn the_agent_alone_writing_a_coherent_story_is_complete() {
        let l = accept("r", Some(good(5).as_bytes()), false, &att(&[5]), LOG);
        assert_eq!(l.state, OtherLayer::Complete, "{:?}", l.notes);
        assert_eq!(l.calls(), [("c1", "read", Some(ToolOutcome::Ok))]);
        assert!(canonical(&l.records[0]).diag.is_none());
    }

    #[test]
    fn other_writers_forged_pids_and_broken_stories_are_never_complete() {
        let cases: Vec<(String, Vec<u32>, &str)> = vec![
            (good(5), vec![5, 7], "sdk-log-tampered"),
            (good(11), vec![11], "sdk-record-forged"),
            (good(7), vec![5], "sdk-record-forged"),
            (
                good(5).replace("\"run_id\":\"r\"", "\"run_id\":\"x\""),
                vec![5],
                "sdk-record-forged",
            ),
            (
                good(5).lines().take(3).map(|l| format!("{l}\n")).collect(),
                vec![5],
                "sdk-record-missing",
            ),
            (
                good(5).lines().skip(1).map(|l| format!("{l}\n")).collect(),
                vec![5],
                "sdk-record-missing",
            ),
            ("garbage\n".into(), vec![5], "sdk-record-invalid"),
            (good(5).trim_end().into(), vec![5], "sdk-record-invalid"),
        ];
        for (log, writers, code) in cases {
            let l = accept("r", Some(log.as_bytes()), false, &att(&writers), LOG);
            assert_ne!(l.state, OtherLayer::Complete, "{log}");
            assert!(
                l.notes.iter().any(|n| n.starts_with(&format!("{code}: "))),
                "{code} not in {:?}",
                l.notes
            );
        }
        let none = accept("r", None, false, &att(&[]), LOG);
        assert_eq!(none.state, OtherLayer::Absent);
        assert!(none.notes[0].starts_with("sdk-absent: "));
    }
}
