//! Accepting the policy layer of a run: the decision log the session's wrappers wrote, checked
//! record by record against what the kernel witnessed (see [`super::provenance`]).
//!
//! A record is accepted when it parses as `assay.runner.policy_event.v2` with its `diag`, names
//! this run, and its `wrapper_pid` executed the runner's binary in the session with its
//! `server_pid` as a child. The layer is `complete` only when every record was accepted, each
//! wrapper's `seq` runs gaplessly from 0, each wrapper read the policy the runner handed out, and
//! no other process of the session wrote into the layer directory. Anything else is `partial`
//! with a coded note; no record at all is `absent`. Accepted records are ordered by the
//! wrapper's process label, then by `tool_call_id`, then by the wrapper's own `seq`, and
//! renumbered from 0: the order in which concurrent calls settle varies from run to run, so
//! the canonical layer does not follow it (the real order is `diag`'s clock readings).

use std::collections::BTreeMap;

use crate::contracts::health::{NoteCode, OtherLayer};
use crate::contracts::policy_event::{self, PolicyEvent};

use super::Notes;
use super::provenance::Attestation;

/// Largest decision log read (a run that writes more is `partial`).
pub const MAX_LOG_BYTES: usize = 64 << 20;

/// The accepted policy layer of one run.
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    pub state: OtherLayer,
    /// Accepted records (with `diag`), in canonical order, `seq` renumbered from 0.
    pub records: Vec<PolicyEvent>,
    /// `code: prose` notes for health.
    pub notes: Vec<String>,
}

/// Checks and orders the records of `log` (`None`: the file was never created).
/// `truncated` says the log was longer than [`MAX_LOG_BYTES`] and only its start is given.
pub fn accept(
    run_id: &str,
    log: Option<&[u8]>,
    truncated: bool,
    att: &Attestation,
    policy_file: &str,
) -> PolicyLayer {
    let mut notes = Notes::default();
    for w in &att.foreign_writes {
        notes.add(
            NoteCode::PolicyLogTampered,
            format!(
                "{} wrote {}, where only the runner's wrappers may write",
                w.label, w.path
            ),
        );
    }
    if truncated {
        notes.add(
            NoteCode::PolicyRecordInvalid,
            format!(
                "the decision log is larger than {MAX_LOG_BYTES} bytes; only its start was read"
            ),
        );
    }
    let log = log.unwrap_or_default();
    let mut accepted: Vec<(String, u64, PolicyEvent)> = Vec::new();
    for (n, rec) in super::log_records::<PolicyEvent>(
        log,
        NoteCode::PolicyRecordInvalid,
        "a policy record",
        &mut notes,
    ) {
        if let Some(ok) = check_record(n, rec, run_id, att, &mut notes) {
            accepted.push(ok);
        }
    }
    check_wrappers(&accepted, att, policy_file, &mut notes);
    // By call id, not by `seq`: concurrent calls settle in an order that varies from run to
    // run, and the canonical layer must not.
    accepted.sort_by(|a, b| (&a.0, &a.2.tool_call_id, a.1).cmp(&(&b.0, &b.2.tool_call_id, b.1)));
    let records: Vec<PolicyEvent> = accepted
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, mut r))| {
            r.seq = i as u64;
            r
        })
        .collect();
    if records.is_empty() && notes.is_empty() {
        notes.add(
            NoteCode::PolicyAbsent,
            "no decision record was written: start the MCP server through `$ASSAY_RUNNER mcp-wrap`"
                .into(),
        );
    }
    let state = if records.is_empty() {
        OtherLayer::Absent
    } else if notes.is_empty() {
        OtherLayer::Complete
    } else {
        OtherLayer::Partial
    };
    PolicyLayer {
        state,
        records,
        notes: notes.finish(),
    }
}

/// One parsed record (line `n`) checked against the run and what the kernel witnessed: this
/// run's schema and id, a `diag`, a wrapper that executed the runner, a server that is the
/// wrapper's child. Accepted: the wrapper's label, the record's own `seq`, the record.
fn check_record(
    n: usize,
    rec: PolicyEvent,
    run_id: &str,
    att: &Attestation,
    notes: &mut Notes,
) -> Option<(String, u64, PolicyEvent)> {
    if rec.schema != policy_event::SCHEMA {
        notes.add(
            NoteCode::PolicyRecordInvalid,
            format!(
                "line {n}: schema `{}`, expected `{}`",
                rec.schema,
                policy_event::SCHEMA
            ),
        );
        return None;
    }
    if rec.run_id != run_id {
        notes.add(
            NoteCode::PolicyRecordForged,
            format!("line {n}: run id `{}` is not this run's", rec.run_id),
        );
        return None;
    }
    let Some(diag) = &rec.diag else {
        notes.add(
            NoteCode::PolicyRecordInvalid,
            format!("line {n}: the record has no diag (pids and clock)"),
        );
        return None;
    };
    let wrapper = att
        .key_of(diag.wrapper_pid)
        .and_then(|k| att.runners.get(&k).map(|l| (k, l)));
    let Some((wrapper_key, wrapper)) = wrapper else {
        notes.add(
            NoteCode::PolicyRecordForged,
            format!(
                "line {n}: wrapper pid {} never executed the runner in this session (or names several processes of it)",
                diag.wrapper_pid
            ),
        );
        return None;
    };
    let server_parent = att
        .key_of(diag.server_pid)
        .and_then(|k| att.parents.get(&k));
    if server_parent != Some(&wrapper_key) {
        notes.add(
            NoteCode::PolicyRecordForged,
            format!(
                "line {n}: server pid {} is not a child of wrapper {wrapper}",
                diag.server_pid
            ),
        );
        return None;
    }
    Some((wrapper.clone(), rec.seq, rec))
}

/// Each wrapper of the accepted records: its own `seq` runs 0, 1, 2, ... in file order, and it
/// read the policy the runner handed out.
fn check_wrappers(
    accepted: &[(String, u64, PolicyEvent)],
    att: &Attestation,
    policy_file: &str,
    notes: &mut Notes,
) {
    // Each wrapper's own seq must run 0, 1, 2, ... in file order.
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for (w, seq, _) in accepted {
        let want = next.entry(w.as_str()).or_insert(0);
        if *seq != *want {
            notes.add(
                NoteCode::PolicyRecordMissing,
                format!("wrapper {w}: seq {seq} follows {} records", *want),
            );
        }
        *want = seq.saturating_add(1);
    }
    for w in next.keys() {
        let key = att
            .runners
            .iter()
            .find(|(_, l)| l.as_str() == *w)
            .map(|(k, _)| *k);
        let read = key.is_some_and(|p| {
            att.readers
                .get(policy_file)
                .is_some_and(|set| set.contains(&p))
        });
        if !read {
            notes.add(
                NoteCode::PolicyUnattested,
                format!("wrapper {w} did not read the run's policy {policy_file}"),
            );
        }
    }
}

/// The canonical form of a record: `diag` dropped.
pub fn canonical(r: &PolicyEvent) -> PolicyEvent {
    PolicyEvent {
        diag: None,
        ..r.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::contracts::policy_event::{Decision, IdSource, Outcome, PolicyDiag};

    fn rec(run: &str, seq: u64, wrapper: u32, server: u32, id: &str) -> String {
        let r = PolicyEvent {
            schema: policy_event::SCHEMA.into(),
            run_id: run.into(),
            seq,
            tool_call_id: id.into(),
            tool_call_id_source: IdSource::Meta,
            tool: "read".into(),
            decision: Decision::Allow,
            rule: "r".into(),
            reason: "rule-allow: r".into(),
            outcome: Outcome::Ok,
            diag: Some(PolicyDiag {
                jsonrpc_id: Some("1".into()),
                wrapper_pid: wrapper,
                server_pid: server,
                received_ns: 1,
                forwarded_ns: Some(2),
                held_ns: None,
                responded_ns: Some(3),
                recorded_unix_ms: 4,
                arguments_sha256: None,
            }),
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    fn att() -> Attestation {
        let mut a = Attestation::default();
        a.runners.insert(20, "p0/assay-runner#2".into());
        a.runners.insert(10, "p0/assay-runner#1".into());
        a.parents.insert(11, 10);
        a.parents.insert(21, 20);
        a.parents.insert(30, 1);
        a.readers.insert("/p.yaml".into(), BTreeSet::from([10, 20]));
        a.identity_pids()
    }

    /// A pid the kernel reused names two processes: a record naming it cannot be tied to the
    /// runner process, whichever of the two wrote it.
    #[test]
    fn a_reused_wrapper_pid_is_never_attested() {
        let mut a = att();
        a.pids.get_mut(&10).unwrap().push(99);
        a.labels.insert(99, "p0/sh#1".into());
        let l = accept(
            "r",
            Some(rec("r", 0, 10, 11, "a0").as_bytes()),
            false,
            &a,
            "/p.yaml",
        );
        assert_ne!(l.state, OtherLayer::Complete);
        assert!(l.records.is_empty());
        assert!(
            l.notes[0].starts_with("policy-record-forged: line 1: wrapper pid 10 never executed"),
            "{:?}",
            l.notes
        );
    }

    #[test]
    fn attested_records_are_complete_and_ordered_by_wrapper() {
        let log =
            rec("r", 0, 20, 21, "b0") + &rec("r", 0, 10, 11, "a0") + &rec("r", 1, 10, 11, "a1");
        let l = accept("r", Some(log.as_bytes()), false, &att(), "/p.yaml");
        assert_eq!(l.state, OtherLayer::Complete, "{:?}", l.notes);
        let ids: Vec<_> = l
            .records
            .iter()
            .map(|r| (r.seq, r.tool_call_id.as_str()))
            .collect();
        assert_eq!(ids, [(0, "a0"), (1, "a1"), (2, "b0")]);
        assert!(canonical(&l.records[0]).diag.is_none());
    }

    #[test]
    fn forged_torn_and_tampered_records_are_never_complete() {
        let cases: Vec<(String, &str)> = vec![
            (rec("r", 0, 99, 11, "x"), "policy-record-forged"),
            (rec("r", 0, 10, 30, "x"), "policy-record-forged"),
            (rec("other", 0, 10, 11, "x"), "policy-record-forged"),
            (rec("r", 1, 10, 11, "x"), "policy-record-missing"),
            ("{not json\n".into(), "policy-record-invalid"),
            (
                rec("r", 0, 10, 11, "x").trim_end().to_string(),
                "policy-record-invalid",
            ),
        ];
        for (log, code) in cases {
            let l = accept("r", Some(log.as_bytes()), false, &att(), "/p.yaml");
            assert_ne!(l.state, OtherLayer::Complete, "{log}");
            assert!(
                l.notes.iter().any(|n| n.starts_with(&format!("{code}: "))),
                "{code} missing in {:?}",
                l.notes
            );
        }
        let mut a = att();
        a.foreign_writes
            .push(super::super::provenance::ForeignWrite {
                label: "p0/sh#1".into(),
                path: "/run/x/policy.ndjson".into(),
            });
        let l = accept(
            "r",
            Some(rec("r", 0, 10, 11, "x").as_bytes()),
            false,
            &a,
            "/p.yaml",
        );
        assert_eq!(l.state, OtherLayer::Partial);
        assert!(l.notes[0].starts_with("policy-log-tampered: p0/sh#1 wrote"));
    }

    #[test]
    fn a_wrapper_with_another_policy_is_unattested_and_no_log_is_absent() {
        let mut a = att();
        a.readers.insert("/p.yaml".into(), BTreeSet::from([20]));
        let l = accept(
            "r",
            Some(rec("r", 0, 10, 11, "x").as_bytes()),
            false,
            &a,
            "/p.yaml",
        );
        assert_eq!(l.state, OtherLayer::Partial);
        assert!(l.notes[0].starts_with("policy-unattested: wrapper p0/assay-runner#1"));
        let none = accept("r", None, false, &att(), "/p.yaml");
        assert_eq!(none.state, OtherLayer::Absent);
        assert!(none.notes[0].starts_with("policy-absent: "));
    }
}
