//! Observation health: honest, exact, and only ever getting worse as evidence arrives.
//!
//! Every note is a [`NoteCode`] whose [`NoteClass`] decides what it does to the states, applied
//! in [`Builder::finish`] whatever added the note: a blind spot makes `kernel_layer`
//! `partial_blind_spot`, drops make it at least `partial_ringbuf_drops`, a correlation note makes
//! `cgroup_correlation` `partial`, a layer note makes its layer at least `partial`. Counters that
//! mean lost or doubtful evidence (drops, parse errors, read faults, unresolved or truncated
//! paths, escapes, track failures, a count mismatch) each add their note.
//!
//! Imports: `assay_contracts::health` only.

use std::collections::BTreeMap;

use assay_contracts::health::{
    self, CgroupCorrelation, Counters, KernelLayer, NoteClass, NoteCode, ObservationHealth,
    OtherLayer, Platform,
};

/// Health being built; every setter only worsens.
#[derive(Debug, Clone)]
pub struct Builder {
    h: ObservationHealth,
}

impl Builder {
    /// Starts from the best claims for a kernel-mode run that did observe.
    pub fn new(run_id: &str, platform: Platform) -> Builder {
        Builder {
            h: ObservationHealth {
                schema: health::SCHEMA.into(),
                run_id: run_id.into(),
                platform,
                kernel_layer: KernelLayer::Complete,
                ringbuf_drops: 0,
                policy_layer: OtherLayer::NotApplicable,
                sdk_layer: OtherLayer::NotApplicable,
                cgroup_correlation: CgroupCorrelation::Clean,
                counters: Counters::default(),
                notes: Vec::new(),
            },
        }
    }

    /// Worsens the kernel layer to at least `v`.
    pub fn kernel(&mut self, v: KernelLayer) -> &mut Self {
        self.h.kernel_layer = self.h.kernel_layer.max(v);
        self
    }

    /// Worsens the correlation to at least `v`.
    pub fn correlation(&mut self, v: CgroupCorrelation) -> &mut Self {
        self.h.cgroup_correlation = self.h.cgroup_correlation.max(v);
        self
    }

    /// Sets the policy layer of a run that expects one; afterwards it only worsens
    /// (`complete` < `partial` < `absent`).
    pub fn policy_layer(&mut self, v: OtherLayer) -> &mut Self {
        self.h.policy_layer = expected_layer(self.h.policy_layer, v);
        self
    }

    /// Sets the SDK layer of a run that expects one; afterwards it only worsens.
    pub fn sdk_layer(&mut self, v: OtherLayer) -> &mut Self {
        self.h.sdk_layer = expected_layer(self.h.sdk_layer, v);
        self
    }

    /// Adds a `code: prose` note; its class takes effect in [`Builder::finish`].
    pub fn note(&mut self, code: NoteCode, prose: impl AsRef<str>) -> &mut Self {
        self.h.notes.push(health::note(code, prose));
        self
    }

    /// Adds notes made by [`health::note`] elsewhere (a layer's, the session's).
    pub fn notes(&mut self, notes: impl IntoIterator<Item = String>) -> &mut Self {
        self.h.notes.extend(notes);
        self
    }

    /// The session used channels the probes do not observe (`(name, successful uses)`, zero
    /// counts ignored): their effects may be missing from the surface, so the kernel layer is
    /// `partial_blind_spot`, with one `unobserved-channel` note naming each channel and count.
    pub fn unobserved_channels<'a>(
        &mut self,
        uses: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> &mut Self {
        let used = self.count_unobserved("", uses);
        if !used.is_empty() {
            self.note(
                NoteCode::UnobservedChannel,
                format!(
                    "the session used {} successfully; effects through these are not observed and may be missing from the surface (docs/kernel.md, channels)",
                    used.join(", ")
                ),
            );
        }
        self
    }

    /// io_uring operations submitted by the session whose effects the surface would miss
    /// (`(operation, submissions)`, zero counts ignored): `partial_blind_spot` and one
    /// `unobserved-channel` note naming each operation and count. Submissions, not successes:
    /// the probe sees an operation when it enters the ring.
    pub fn unobserved_uring_ops<'a>(
        &mut self,
        ops: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> &mut Self {
        let used = self.count_unobserved("io_uring:", ops);
        if !used.is_empty() {
            self.note(
                NoteCode::UnobservedChannel,
                format!(
                    "the session submitted io_uring {}; their paths and addresses are not observed and may be missing from the surface (docs/kernel.md, channels)",
                    used.join(", ")
                ),
            );
        }
        self
    }

    /// Executions of files no name leads to (a memfd, an unlinked file, a kernel-internal
    /// mount: the probe judged the file the kernel loaded), each by the path its dentries
    /// give (`/memfd:NAME`): what ran is not identified by any path ⇒ `partial_blind_spot` and
    /// one `fileless-exec` note.
    pub fn fileless_execs<'a>(&mut self, execs: impl IntoIterator<Item = &'a str>) -> &mut Self {
        let mut found: Vec<String> = execs.into_iter().map(str::to_string).collect();
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            self.kernel(KernelLayer::PartialBlindSpot);
            self.note(
                NoteCode::FilelessExec,
                format!(
                    "{} was executed, a file no name leads to (a memfd, an unlinked file); what ran is not identified by a path",
                    found.join(", ")
                ),
            );
        }
        self
    }

    /// Adds each used channel (zero counts ignored) to `counters.unobserved_channels` under
    /// `prefix` + its name, and returns the uses as `name xN`, sorted.
    fn count_unobserved<'a>(
        &mut self,
        prefix: &str,
        uses: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Vec<String> {
        let uses: Vec<(&str, u64)> = uses.into_iter().filter(|(_, n)| *n > 0).collect();
        for (name, n) in &uses {
            *self
                .h
                .counters
                .unobserved_channels
                .entry(format!("{prefix}{name}"))
                .or_default() += n;
        }
        counted(uses)
    }

    /// Mutable counters (counts are facts, not claims).
    pub fn counters(&mut self) -> &mut Counters {
        &mut self.h.counters
    }

    /// Applies the strictness rules to the counters and returns the health.
    pub fn finish(mut self) -> ObservationHealth {
        let c = self.h.counters.clone();
        let drops: u64 = c.drops_by_program.values().sum();
        self.h.ringbuf_drops = drops;
        if drops > 0 {
            self.kernel(KernelLayer::PartialRingbufDrops);
            let by: Vec<String> = c
                .drops_by_program
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            self.note(NoteCode::RingbufDrops, format!("{drops} event(s) were lost because the ring buffer was full ({}); raise --ring-bytes", by.join(", ")));
        }
        if c.attach_failures > 0 {
            self.kernel(KernelLayer::PartialBlindSpot);
            if !self.has(NoteCode::ProbeMissing) {
                self.note(
                    NoteCode::ProbeMissing,
                    format!("{} probe(s) could not be attached", c.attach_failures),
                );
            }
        }
        if c.parse_errors > 0 {
            self.kernel(KernelLayer::PartialBlindSpot);
            self.note(
                NoteCode::ParseErrors,
                format!(
                    "{} ring-buffer record(s) could not be parsed",
                    c.parse_errors
                ),
            );
        }
        if c.read_faults > 0 {
            self.kernel(KernelLayer::PartialBlindSpot);
            self.note(
                NoteCode::PathReadFaults,
                format!(
                    "{} path(s) or address(es) could not be read from process memory",
                    c.read_faults
                ),
            );
        }
        if c.escapes > 0 {
            self.correlation(CgroupCorrelation::Partial);
            self.note(NoteCode::Escape, format!("{} process(es) left the session cgroup; they were still followed through the pid tree and their events are marked escaped", c.escapes));
        }
        if c.track_failures > 0 {
            self.correlation(CgroupCorrelation::Partial);
            self.note(NoteCode::TrackFailures, format!("{} process(es) could not be added to the pid-tree map; an escape by them would be unobserved", c.track_failures));
        }
        if c.unresolved_paths > 0 {
            self.note(NoteCode::UnresolvedPaths, format!("{} path(s) had an unknown base directory and are shown as <unresolved>/...; where they lead is not known", c.unresolved_paths));
        }
        if c.ambiguous_paths > 0 {
            self.note(NoteCode::AmbiguousPaths, format!("{} path(s) of path-only operations (unlink, rename, mkdir, ...) went through `..` after a name, a /proc or /dev/fd magic link, or a symlink the run made, or named a file of another mount namespace (through /proc/PID/root or a passed descriptor); where the kernel resolved them is not known exactly (their kernel-layer lines are marked ambiguous)", c.ambiguous_paths));
        }
        if c.truncated_paths > 0 {
            self.note(
                NoteCode::TruncatedPaths,
                format!(
                    "{} path(s) reached the 4096-byte probe buffer and may be truncated",
                    c.truncated_paths
                ),
            );
        }
        if c.events_received + drops != c.events_attempted {
            self.kernel(KernelLayer::PartialBlindSpot);
            self.note(
                NoteCode::CountMismatch,
                format!(
                    "received {} + dropped {drops} != emitted {}",
                    c.events_received, c.events_attempted
                ),
            );
        }
        self.apply_note_classes();
        self.h.notes.sort();
        self.h.notes.dedup();
        self.h
    }

    fn has(&self, code: NoteCode) -> bool {
        self.h
            .notes
            .iter()
            .any(|n| NoteCode::parse(n) == Some(code))
    }

    /// Each note worsens the state its class names (a note with an unknown code is a bug of
    /// this crate: every note is made from a [`NoteCode`]).
    fn apply_note_classes(&mut self) {
        let classes: Vec<NoteClass> = self
            .h
            .notes
            .iter()
            .map(|n| match NoteCode::parse(n) {
                Some(c) => c.class(),
                None => panic!("health note with an unknown code: {n}"),
            })
            .collect();
        for class in classes {
            match class {
                NoteClass::BlindSpot => {
                    self.kernel(KernelLayer::PartialBlindSpot);
                }
                NoteClass::Drops => {
                    self.kernel(KernelLayer::PartialRingbufDrops);
                }
                NoteClass::Correlation => {
                    self.correlation(CgroupCorrelation::Partial);
                }
                NoteClass::PolicyLayer => {
                    self.policy_layer(OtherLayer::Partial);
                }
                NoteClass::SdkLayer => {
                    self.sdk_layer(OtherLayer::Partial);
                }
                NoteClass::RunCut | NoteClass::Info => {}
            }
        }
    }
}

/// `name xN` for each nonzero count, sorted.
fn counted<'a>(uses: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<String> {
    let mut used: Vec<String> = uses
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} x{n}"))
        .collect();
    used.sort();
    used
}

/// A layer the run expects: set from `not_applicable`, afterwards only worse.
fn expected_layer(cur: OtherLayer, v: OtherLayer) -> OtherLayer {
    match cur {
        OtherLayer::NotApplicable => v,
        cur => cur.max(v),
    }
}

/// Drop counts keyed by program name.
pub fn drops_by_program(names: &[&str], drops: &[u64]) -> BTreeMap<String, u64> {
    names
        .iter()
        .zip(drops)
        .map(|(n, d)| (n.to_string(), *d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        Platform {
            os: "linux".into(),
            arch: "x86_64".into(),
            btf: true,
            bpf_object: "clang".into(),
        }
    }

    #[test]
    fn clean_run_is_complete_and_clean() {
        let mut b = Builder::new("r", platform());
        b.counters().events_attempted = 5;
        b.counters().events_received = 5;
        let h = b.finish();
        assert_eq!(
            (h.kernel_layer, h.cgroup_correlation, h.ringbuf_drops),
            (KernelLayer::Complete, CgroupCorrelation::Clean, 0)
        );
        assert!(h.notes.is_empty());
    }

    #[test]
    fn unobserved_uring_ops_are_a_blind_spot() {
        let mut b = Builder::new("r", platform());
        b.unobserved_uring_ops([("openat", 0)]);
        assert_eq!(b.clone().finish().kernel_layer, KernelLayer::Complete);
        b.unobserved_uring_ops([("read", 3), ("openat", 1)]);
        let h = b.finish();
        assert_eq!(h.kernel_layer, KernelLayer::PartialBlindSpot);
        assert!(
            h.notes[0].starts_with(
                "unobserved-channel: the session submitted io_uring openat x1, read x3;"
            ),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn unobserved_channels_and_fileless_execs_are_blind_spots() {
        let mut b = Builder::new("r", platform());
        b.unobserved_channels([("sendto", 0), ("listen", 0)]);
        b.fileless_execs([]);
        let h = b.finish();
        assert_eq!(
            h.kernel_layer,
            KernelLayer::Complete,
            "zero uses change nothing"
        );
        assert!(h.notes.is_empty());

        let mut b = Builder::new("r", platform());
        b.unobserved_channels([("sendto", 2), ("listen", 0), ("bind", 1)]);
        b.fileless_execs(["/memfd:payload", "<work>/gone", "/memfd:payload"]);
        let h = b.finish();
        assert_eq!(h.kernel_layer, KernelLayer::PartialBlindSpot);
        assert_eq!(h.notes.len(), 2, "{:?}", h.notes);
        assert!(h.notes[0].starts_with("fileless-exec: /memfd:payload, <work>/gone was executed"));
        assert!(
            h.notes[1].starts_with(
                "unobserved-channel: the session used bind x1, sendto x2 successfully"
            )
        );
        for n in &h.notes {
            let code = n.split(':').next().unwrap();
            assert_eq!(
                NoteCode::parse(code).map(NoteCode::class),
                Some(NoteClass::BlindSpot)
            );
        }
    }

    #[test]
    fn drops_make_the_kernel_layer_partial() {
        let mut b = Builder::new("r", platform());
        let c = b.counters();
        c.events_attempted = 10;
        c.events_received = 7;
        c.drops_by_program = drops_by_program(&["exec", "syscall"], &[0, 3]);
        let h = b.finish();
        assert_eq!(h.kernel_layer, KernelLayer::PartialRingbufDrops);
        assert_eq!(h.ringbuf_drops, 3);
        assert!(
            h.notes[0].starts_with("ringbuf-drops: 3 event(s) were lost"),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn values_only_get_worse() {
        let mut b = Builder::new("r", platform());
        b.kernel(KernelLayer::Absent).kernel(KernelLayer::Complete);
        b.correlation(CgroupCorrelation::Failed)
            .correlation(CgroupCorrelation::Clean);
        let h = b.finish();
        assert_eq!(h.kernel_layer, KernelLayer::Absent);
        assert_eq!(
            h.cgroup_correlation,
            CgroupCorrelation::Failed,
            "failed is sticky"
        );
    }

    #[test]
    fn escapes_and_mismatches_are_never_clean() {
        let mut b = Builder::new("r", platform());
        b.counters().escapes = 1;
        b.counters().events_attempted = 2;
        let h = b.finish();
        assert_eq!(h.cgroup_correlation, CgroupCorrelation::Partial);
        assert_eq!(h.kernel_layer, KernelLayer::PartialBlindSpot);
        assert!(h.notes.iter().any(|n| n.starts_with("count-mismatch:")));
    }
}
