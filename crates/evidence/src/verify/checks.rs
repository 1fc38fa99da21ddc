//! Whole-bundle checks after the streaming pass: manifest against members, run ids, and the
//! internal consistency of the claims (health strictness rules, surface supported by the
//! canonical kernel layer, sorted sets).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::stream::{POLICY_LAYER, ReadOut, SDK_LAYER};
use super::{ARCHIVE, Problems, REQUIRED_MEMBERS, expected_class};
use assay_contracts::correlation_report::{CorrelationReport, Status};
use assay_contracts::health::{
    CgroupCorrelation, KernelLayer, NoteClass, NoteCode, ObservationHealth, OtherLayer,
};
use assay_contracts::manifest::{ArchiveManifest, Member as ManifestMember};
use assay_contracts::policy_event::PolicyEvent;
use assay_contracts::surface::CapabilitySurface;

pub(crate) fn check(r: &ReadOut, p: &mut Problems) {
    if r.members.is_empty() && !p.is_empty() {
        return; // the framing already failed before any member
    }
    manifest(r, p);
    run_ids(r, p);
    health(r, p);
    surface(r, p);
    policy(r, p);
    sdk(r, p);
}

/// The SDK layer against health and the correlation report.
fn sdk(r: &ReadOut, p: &mut Problems) {
    let Some(h) = &r.health else { return };
    let layer = r.kept.get(SDK_LAYER);
    match (h.sdk_layer, layer.is_some()) {
        (OtherLayer::NotApplicable, false)
        | (OtherLayer::Complete | OtherLayer::Partial | OtherLayer::Absent, true) => {}
        (OtherLayer::NotApplicable, true) => p.push(
            SDK_LAYER,
            "inconsistent",
            "the bundle has an SDK layer but health says sdk_layer is not_applicable",
        ),
        (state, false) => p.push(
            "observation-health.json",
            "inconsistent",
            format!("sdk_layer is {state:?} but the bundle has no {SDK_LAYER}"),
        ),
    }
    let Some(bytes) = layer else { return };
    if !r.kept.contains_key(POLICY_LAYER) {
        p.push(
            SDK_LAYER,
            "inconsistent",
            format!("an SDK layer needs {POLICY_LAYER}"),
        );
    }
    let Ok(records) = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice::<assay_contracts::sdk_event::SdkEvent>)
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    if records.iter().any(|r| r.diag.is_some()) {
        p.push(
            SDK_LAYER,
            "inconsistent",
            "canonical SDK records carry diag (it belongs in sdk-diag.ndjson)",
        );
    }
    if let Some((i, r)) = records.iter().enumerate().find(|(i, r)| r.seq != *i as u64) {
        p.push(
            SDK_LAYER,
            "inconsistent",
            format!("line {}: seq {} is not gapless from 0", i + 1, r.seq),
        );
    }
    if matches!(h.sdk_layer, OtherLayer::Complete | OtherLayer::Partial) == records.is_empty() {
        p.push(
            "observation-health.json",
            "inconsistent",
            format!(
                "sdk_layer is {:?} but the SDK layer holds {} record(s)",
                h.sdk_layer,
                records.len()
            ),
        );
    }
}

/// The policy layer against health, the surface and the correlation report: the layer exists
/// exactly when health expects one, the surface's `mcp_tools`/`policy_decisions` are exactly
/// what its records say, and the correlation binds exactly its records, in order.
fn policy(r: &ReadOut, p: &mut Problems) {
    let layer = r.kept.get(POLICY_LAYER);
    let correlation: Option<CorrelationReport> = r
        .kept
        .get(CORRELATION)
        .and_then(|b| serde_json::from_slice(b).ok());
    let Some(h) = &r.health else { return };
    policy_presence(r, h, layer.is_some(), p);
    let Some(bytes) = layer else { return };
    let Ok(records) = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice::<PolicyEvent>)
        .collect::<Result<Vec<_>, _>>()
    else {
        return; // schema problems are already reported line by line
    };
    policy_records(h, &records, p);
    if let Some(s) = &r.surface {
        policy_surface(s, &records, p);
    }
    let Some(c) = correlation else { return };
    policy_correlation(h, &c, &records, p);
}

/// The correlation report, which comes with the policy layer.
const CORRELATION: &str = "correlation-report.json";

/// Whether the policy layer and the correlation report are there exactly when health says so.
fn policy_presence(r: &ReadOut, h: &ObservationHealth, has_layer: bool, p: &mut Problems) {
    match (h.policy_layer, has_layer) {
        (OtherLayer::NotApplicable, false)
        | (OtherLayer::Complete | OtherLayer::Partial | OtherLayer::Absent, true) => {}
        (OtherLayer::NotApplicable, true) => p.push(
            POLICY_LAYER,
            "inconsistent",
            "the bundle has a policy layer but health says policy_layer is not_applicable",
        ),
        (state, false) => p.push(
            "observation-health.json",
            "inconsistent",
            format!("policy_layer is {state:?} but the bundle has no {POLICY_LAYER}"),
        ),
    }
    if has_layer != r.kept.contains_key(CORRELATION) {
        p.push(
            CORRELATION,
            "inconsistent",
            format!("{CORRELATION} and {POLICY_LAYER} must come together"),
        );
    }
}

/// The policy records themselves: canonical (no diag), gapless `seq`, and as many as health's
/// `policy_layer` implies.
fn policy_records(h: &ObservationHealth, records: &[PolicyEvent], p: &mut Problems) {
    if records.iter().any(|r| r.diag.is_some()) {
        p.push(
            POLICY_LAYER,
            "inconsistent",
            "canonical policy records carry diag (it belongs in policy-diag.ndjson)",
        );
    }
    if let Some((i, r)) = records.iter().enumerate().find(|(i, r)| r.seq != *i as u64) {
        p.push(
            POLICY_LAYER,
            "inconsistent",
            format!("line {}: seq {} is not gapless from 0", i + 1, r.seq),
        );
    }
    match (h.policy_layer, records.is_empty()) {
        (OtherLayer::Complete | OtherLayer::Partial, true) => p.push(
            "observation-health.json",
            "inconsistent",
            format!(
                "policy_layer is {:?} but the policy layer holds no record",
                h.policy_layer
            ),
        ),
        (OtherLayer::Absent, false) => p.push(
            "observation-health.json",
            "inconsistent",
            "policy_layer is absent but the policy layer holds records",
        ),
        _ => {}
    }
}

/// The surface's `mcp_tools` and `policy_decisions` against what the policy records say.
fn policy_surface(s: &CapabilitySurface, records: &[PolicyEvent], p: &mut Problems) {
    let mut want = CapabilitySurface::default();
    crate::surface::add_policy(&mut want, records);
    for (name, have, want) in [
        ("mcp_tools", &s.mcp_tools, &want.mcp_tools),
        (
            "policy_decisions",
            &s.policy_decisions,
            &want.policy_decisions,
        ),
    ] {
        if have != want {
            p.push(
                "capability-surface.json",
                "inconsistent",
                format!("{name} is not what {POLICY_LAYER} records: {have:?} vs {want:?}"),
            );
        }
    }
}

/// The correlation report against the policy records and health: its bindings are the records
/// one for one, its status follows from the layers' states, and no denied call has effects.
fn policy_correlation(
    h: &ObservationHealth,
    c: &CorrelationReport,
    records: &[PolicyEvent],
    p: &mut Problems,
) {
    let bound: Vec<_> = c
        .bindings
        .iter()
        .map(|b| (&b.tool_call_id, &b.tool, b.decision, &b.rule, b.outcome))
        .collect();
    let recorded: Vec<_> = records
        .iter()
        .map(|r| (&r.tool_call_id, &r.tool, r.decision, &r.rule, r.outcome))
        .collect();
    if bound != recorded {
        p.push(
            CORRELATION,
            "inconsistent",
            format!("bindings do not match the records of {POLICY_LAYER} one for one, in order"),
        );
    }
    let trusted = h.policy_layer == OtherLayer::Complete
        && matches!(
            h.sdk_layer,
            OtherLayer::NotApplicable | OtherLayer::Complete
        );
    let consistent = match c.status {
        Status::Clean => trusted && c.ambiguities.is_empty(),
        Status::Partial => trusted && !c.ambiguities.is_empty(),
        Status::Failed => !trusted,
    };
    if !consistent {
        p.push(
            CORRELATION,
            "inconsistent",
            format!(
                "status {:?} contradicts policy_layer {:?} with {} ambiguit(ies)",
                c.status,
                h.policy_layer,
                c.ambiguities.len()
            ),
        );
    }
    for b in &c.bindings {
        let e = &b.effects;
        if b.decision == assay_contracts::policy_event::Decision::Deny && !e.is_empty() {
            p.push(
                CORRELATION,
                "inconsistent",
                format!(
                    "denied call {} has effects: it never reached the server",
                    b.tool_call_id
                ),
            );
        }
    }
}

/// The manifest against the archive's members: first, sorted, complete, and each member's
/// size and hash as listed.
fn manifest(r: &ReadOut, p: &mut Problems) {
    let Some(m) = &r.manifest else {
        if !r.members.iter().any(|m| m.path == "manifest.json") {
            p.push(
                "manifest.json",
                "manifest-missing",
                "the bundle has no manifest.json",
            );
        }
        return;
    };
    let listed: BTreeMap<&str, _> = m.members.iter().map(|x| (x.path.as_str(), x)).collect();
    manifest_listing(r, m, &listed, p);
    let present: BTreeSet<&str> = r.members.iter().map(|x| x.path.as_str()).collect();
    listed_members(m, &listed, &present, p);
    archived_members(r, &listed, p);
}

/// The manifest's own shape: the archive's first member, each path listed once, sorted, and
/// not itself.
fn manifest_listing(
    r: &ReadOut,
    m: &ArchiveManifest,
    listed: &BTreeMap<&str, &ManifestMember>,
    p: &mut Problems,
) {
    if !r.manifest_first {
        p.push(
            "manifest.json",
            "manifest-not-first",
            "manifest.json must be the archive's first member",
        );
    }
    if listed.len() != m.members.len() {
        p.push(
            "manifest.json",
            "duplicate-member",
            "the manifest lists a path twice",
        );
    }
    let paths: Vec<&str> = m.members.iter().map(|x| x.path.as_str()).collect();
    if paths.windows(2).any(|w| w[0] >= w[1]) {
        p.push(
            "manifest.json",
            "member-order",
            "the manifest's members are not sorted by path",
        );
    }
    if listed.contains_key("manifest.json") {
        p.push("manifest.json", "inconsistent", "the manifest lists itself");
    }
}

/// Each listed member is in the archive with its contract's class, and every required member
/// is listed or present.
fn listed_members(
    m: &ArchiveManifest,
    listed: &BTreeMap<&str, &ManifestMember>,
    present: &BTreeSet<&str>,
    p: &mut Problems,
) {
    for x in &m.members {
        if !present.contains(x.path.as_str()) {
            p.push(
                &x.path,
                "missing-member",
                "listed in the manifest but not in the archive",
            );
        }
        if let Some(want) = expected_class(&x.path)
            && want != x.class
        {
            p.push(
                &x.path,
                "class-mismatch",
                format!(
                    "the manifest marks it {:?}, but this member is {want:?} by contract",
                    x.class
                ),
            );
        }
    }
    for req in REQUIRED_MEMBERS {
        if !listed.contains_key(req) && !present.contains(req) {
            p.push(
                req,
                "missing-member",
                "every bundle of this version holds this member",
            );
        }
    }
}

/// Each archive member after the manifest is listed with its size and hash, in path order.
fn archived_members(r: &ReadOut, listed: &BTreeMap<&str, &ManifestMember>, p: &mut Problems) {
    let mut order: Vec<&str> = Vec::new();
    for x in &r.members {
        if x.path == "manifest.json" {
            continue;
        }
        order.push(&x.path);
        match listed.get(x.path.as_str()) {
            None => p.push(
                &x.path,
                "not-listed",
                "in the archive but not in the manifest",
            ),
            Some(l) => {
                if l.bytes != x.bytes {
                    p.push(
                        &x.path,
                        "size-mismatch",
                        format!("manifest says {} bytes, archive has {}", l.bytes, x.bytes),
                    );
                } else if l.sha256 != x.sha256 {
                    p.push(
                        &x.path,
                        "sha256-mismatch",
                        format!("manifest says {}, content hashes to {}", l.sha256, x.sha256),
                    );
                }
            }
        }
    }
    if order.windows(2).any(|w| w[0] > w[1]) {
        p.push(
            ARCHIVE,
            "member-order",
            "members after manifest.json are not sorted by path",
        );
    }
}

fn run_ids(r: &ReadOut, p: &mut Problems) {
    let Some(m) = &r.manifest else { return };
    for (where_, id) in &r.run_ids {
        if *id != m.run_id {
            let member = where_.split(' ').next().unwrap_or(where_);
            p.push(
                member,
                "run-id-mismatch",
                format!(
                    "{where_}: run_id `{id}` differs from the manifest's `{}`",
                    m.run_id
                ),
            );
        }
    }
}

/// Health's internal consistency: drop counters, the strictness of `kernel_layer: complete` and
/// `cgroup_correlation: clean`, and its notes (known codes, a sorted set, none contradicting
/// the state it names).
fn health(r: &ReadOut, p: &mut Problems) {
    let Some(h) = &r.health else { return };
    let c = &h.counters;
    let by_program: u64 = c.drops_by_program.values().sum();
    if by_program != h.ringbuf_drops {
        p.push(
            HEALTH,
            "inconsistent",
            format!(
                "ringbuf_drops is {} but drops_by_program sums to {by_program}",
                h.ringbuf_drops
            ),
        );
    }
    let classes: Vec<(NoteCode, NoteClass)> = h
        .notes
        .iter()
        .filter_map(|n| NoteCode::parse(n))
        .map(|c| (c, c.class()))
        .collect();
    kernel_complete(h, &classes, p);
    notes_contradicted(h, &classes, p);
    for n in &h.notes {
        if NoteCode::parse(n).is_none() {
            p.push(HEALTH, "invalid", format!("note with an unknown code: {n}"));
        }
    }
    cgroup_clean(h, p);
    if h.notes.windows(2).any(|w| w[0] >= w[1]) {
        p.push(HEALTH, "inconsistent", "notes are not a sorted set");
    }
}

/// The health member.
const HEALTH: &str = "observation-health.json";

/// `kernel_layer: complete` holds only with no drop, every emitted event received, no probe,
/// parse or read failure, and no note saying effects were not observed.
fn kernel_complete(h: &ObservationHealth, classes: &[(NoteCode, NoteClass)], p: &mut Problems) {
    if h.kernel_layer != KernelLayer::Complete {
        return;
    }
    let c = &h.counters;
    let mut not_complete = |why: String| {
        p.push(
            HEALTH,
            "inconsistent",
            format!("kernel_layer is complete but {why}"),
        );
    };
    if h.ringbuf_drops > 0 {
        not_complete(format!("{} event(s) were dropped", h.ringbuf_drops));
    }
    if c.events_received + h.ringbuf_drops != c.events_attempted {
        not_complete(format!(
            "received {} + dropped {} != emitted {}",
            c.events_received, h.ringbuf_drops, c.events_attempted
        ));
    }
    for (n, what) in [
        (c.attach_failures, "probe(s) failed to attach"),
        (c.parse_errors, "record(s) could not be parsed"),
        (c.read_faults, "path(s) could not be read"),
    ] {
        if n > 0 {
            not_complete(format!("{n} {what}"));
        }
    }
    for (code, class) in classes {
        if matches!(class, NoteClass::BlindSpot | NoteClass::Drops) {
            not_complete(format!(
                "a `{}` note says effects were not observed",
                code.code()
            ));
        }
    }
}

/// No correlation, policy-layer or SDK-layer note stands beside a clean or complete state of
/// what it names.
fn notes_contradicted(h: &ObservationHealth, classes: &[(NoteCode, NoteClass)], p: &mut Problems) {
    for (code, class) in classes {
        let contradicted = match class {
            NoteClass::Correlation => h.cgroup_correlation == CgroupCorrelation::Clean,
            NoteClass::PolicyLayer => h.policy_layer == OtherLayer::Complete,
            NoteClass::SdkLayer => h.sdk_layer == OtherLayer::Complete,
            _ => false,
        };
        if contradicted {
            p.push(
                HEALTH,
                "inconsistent",
                format!("a `{}` note contradicts the state it names", code.code()),
            );
        }
    }
}

/// `cgroup_correlation: clean` holds only when no process escaped or went untracked.
fn cgroup_clean(h: &ObservationHealth, p: &mut Problems) {
    if h.cgroup_correlation != CgroupCorrelation::Clean {
        return;
    }
    let c = &h.counters;
    for (n, what) in [
        (c.escapes, "process(es) escaped the session cgroup"),
        (c.track_failures, "process(es) could not be tracked"),
    ] {
        if n > 0 {
            p.push(
                HEALTH,
                "inconsistent",
                format!("cgroup_correlation is clean but {n} {what}"),
            );
        }
    }
}

fn surface(r: &ReadOut, p: &mut Problems) {
    let Some(s) = &r.surface else { return };
    const M: &str = "capability-surface.json";
    let sup = &r.support;
    type Cat<'a> = (&'a str, &'a Vec<String>, Option<&'a HashSet<String>>);
    let cats: [Cat; 7] = [
        ("filesystem_paths", &s.filesystem_paths, Some(&sup.paths)),
        ("filesystem_writes", &s.filesystem_writes, Some(&sup.writes)),
        (
            "network_endpoints",
            &s.network_endpoints,
            Some(&sup.endpoints),
        ),
        ("network_local", &s.network_local, Some(&sup.local)),
        ("process_execs", &s.process_execs, Some(&sup.execs)),
        ("mcp_tools", &s.mcp_tools, None),
        ("policy_decisions", &s.policy_decisions, None),
    ];
    for (name, list, support) in cats {
        if list.windows(2).any(|w| w[0] >= w[1]) {
            p.push(M, "inconsistent", format!("{name} is not a sorted set"));
        }
        if !r.kernel_complete || !sup.ready {
            continue; // the kernel layer is broken or misplaced, which is already reported
        }
        match support {
            Some(remaining) => {
                let unsupported: Vec<&String> =
                    list.iter().filter(|e| remaining.contains(*e)).collect();
                if let Some(first) = unsupported.first() {
                    p.push(
                        M,
                        "inconsistent",
                        format!(
                            "{name}: {} entr{} with no supporting event in layers/kernel.ndjson (first: `{first}`)",
                            unsupported.len(),
                            if unsupported.len() == 1 { "y" } else { "ies" }
                        ),
                    );
                }
            }
            None if !list.is_empty() && !r.kept.contains_key(POLICY_LAYER) => p.push(
                M,
                "inconsistent",
                format!("{name} is not empty but the bundle has no policy layer"),
            ),
            None => {}
        }
    }
    let paths: BTreeSet<&String> = s.filesystem_paths.iter().collect();
    if let Some(w) = s.filesystem_writes.iter().find(|w| !paths.contains(w)) {
        p.push(
            M,
            "inconsistent",
            format!("`{w}` is in filesystem_writes but not in filesystem_paths"),
        );
    }
}
