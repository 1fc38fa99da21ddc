//! `assay.runner.observation_health.v4` — how well the run was observed (`observation-health.json`).
//!
//! Strictness: `ringbuf_drops > 0` ⇒ `kernel_layer` is not `complete`; any escape, lost process
//! or tracking failure ⇒ `cgroup_correlation` is not `clean`. Values only get worse as evidence
//! arrives (`failed` is sticky). `notes` are `code: prose` strings, sorted.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.observation_health.v4";

/// Program families that count attempts and drops (keys of `drops_by_program`).
pub const PROGRAM_FAMILIES: [&str; 27] = [
    "cgroup",
    "chdir",
    "chmod",
    "chown",
    "connect",
    "exec",
    "exit",
    "fchdir",
    "fork",
    "link",
    "mkdir",
    "mknod",
    "net_bind",
    "net_connect",
    "net_listen",
    "net_send",
    "open",
    "payload_dns",
    "payload_dns_query",
    "payload_tls",
    "rename",
    "rmdir",
    "symlink",
    "truncate",
    "unlink",
    "utimes",
    "xattr",
];

/// Keys of `filtered_noise`: the surface categories the noise filter applies to, and
/// `sink_devices` (opens of `/dev/null`-like sinks, counted when the sink switch is on).
pub const NOISE_KEYS: [&str; 3] = ["filesystem_paths", "network_endpoints", "sink_devices"];

/// Notes are `code: prose` with a kebab-case code.
pub const NOTE_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*: .+$";

/// State of the kernel layer, best first; `worsen` never moves left.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KernelLayer {
    /// Every event the session produced was received.
    Complete,
    /// The ring buffer was full at least once: `ringbuf_drops` events are missing.
    PartialRingbufDrops,
    /// Some probe could not be attached: a class of events was not observed at all.
    PartialBlindSpot,
    /// No kernel observation happened.
    Absent,
}

/// Whether everything the run did was attributed to the session.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CgroupCorrelation {
    /// The session cgroup and its pid tree held every process; nothing escaped.
    Clean,
    /// Some process left the session cgroup or could not be tracked (see notes).
    Partial,
    /// The session cgroup could not be set up or read.
    Failed,
}

/// State of a layer that the run's mode does not use or has not produced (ordered best first
/// after `not_applicable`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OtherLayer {
    /// The run's mode does not include this layer.
    NotApplicable,
    /// The layer is complete.
    Complete,
    /// The layer is incomplete.
    Partial,
    /// The layer was expected but is missing.
    Absent,
}

/// Host facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `uname -s`.
    pub os: String,
    /// Machine architecture.
    pub arch: String,
    /// Whether `/sys/kernel/btf/vmlinux` exists.
    pub btf: bool,
    /// `clang` or `prebuilt`.
    #[schemars(extend("enum" = ["clang", "prebuilt"]))]
    pub bpf_object: String,
}

/// Exact counts behind the health values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Records emitted by the programs (received + dropped).
    pub events_attempted: u64,
    /// Records read from the ring buffer.
    pub events_received: u64,
    /// Drops by program family: `exec`, `fork`, `exit`, and one per syscall operation
    /// (`open`, `unlink`, `rmdir`, `rename`, `mkdir`, `chdir`, `fchdir`, `connect`, `link`, `symlink`)
    /// and one per network operation seen at the session cgroup (`net_connect`, `net_send`,
    /// `net_bind`, `net_listen`), and one per payload the session cgroup's packet hooks copy
    /// for names (`payload_dns`, `payload_tls`).
    #[schemars(extend("propertyNames" = {"enum": PROGRAM_FAMILIES}))]
    pub drops_by_program: BTreeMap<String, u64>,
    /// Failed insertions into the in-kernel pid-tree map.
    pub track_failures: u64,
    /// Records that could not be parsed.
    pub parse_errors: u64,
    /// Surface entries removed by the noise filter, per category.
    #[schemars(extend("propertyNames" = {"enum": NOISE_KEYS}))]
    pub filtered_noise: BTreeMap<String, u64>,
    /// Processes seen outside the session cgroup (followed by pid tree).
    pub escapes: u64,
    /// Processes killed after the grace period.
    pub grace_kills: u64,
    /// Paths that could not be made absolute (relative to an unknown directory).
    pub unresolved_paths: u64,
    /// Paths longer than the probe buffer.
    pub truncated_paths: u64,
    /// Paths or addresses that could not be read from user memory.
    pub read_faults: u64,
    /// Paths of successful path-only operations whose text the kernel may have resolved
    /// elsewhere (`..` after a name, a magic link, a symlink the run made).
    #[serde(default)]
    pub ambiguous_paths: u64,
    /// Probes that could not be attached.
    pub attach_failures: u64,
    /// Successful uses of channels the probes do not observe, by channel (`mount`, `ptrace`,
    /// ...; `io_uring:<op>` for io_uring submissions whose effects are not observed): what an
    /// `unobserved-channel` note says, as data a proof's `allow_unobserved` is checked against.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^([a-z0-9_]+|io_uring:[a-z0-9_]+)$"}))]
    pub unobserved_channels: BTreeMap<String, u64>,
}

/// What a note's presence says about the evidence: the one decision every consumer (the health
/// builder, `verify`, `prove`, `diff`) reads, so no list of note prefixes can drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteClass {
    /// Effects may be missing from the surface: `kernel_layer` is never `complete`.
    BlindSpot,
    /// Events were lost to a full ring: `kernel_layer` is at least `partial_ringbuf_drops`.
    Drops,
    /// A process was not (or not only) in the session: `cgroup_correlation` is not `clean`.
    Correlation,
    /// The policy layer is not complete.
    PolicyLayer,
    /// The SDK layer is not complete.
    SdkLayer,
    /// The run did not end on its own (interrupted, timed out, not started): the surface is of
    /// a cut-short run.
    RunCut,
    /// A fact about how the run ended that leaves the evidence whole (a grace kill, a cleanup).
    Info,
}

impl NoteClass {
    /// Whether a note of this class keeps evidence from being clean.
    pub fn unclean(self) -> bool {
        self != NoteClass::Info
    }
}

macro_rules! note_codes {
    ($($(#[$doc:meta])* $v:ident = $code:literal => $class:ident,)*) => {
        /// Every note code a health may carry (`code: prose`), with its [`NoteClass`]. Adding a
        /// code means deciding its class here; the schema's note pattern is generated from this
        /// list, so an unknown code is a schema error in `verify`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum NoteCode { $($(#[$doc])* $v,)* }

        impl NoteCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [NoteCode] = &[$(NoteCode::$v,)*];

            /// The stable kebab-case code.
            pub fn code(self) -> &'static str {
                match self { $(NoteCode::$v => $code,)* }
            }

            /// What a note of this code says about the evidence.
            pub fn class(self) -> NoteClass {
                match self { $(NoteCode::$v => NoteClass::$class,)* }
            }

            /// The code of `s` (`code` alone, or a whole `code: prose` note).
            pub fn parse(s: &str) -> Option<NoteCode> {
                let code = s.split_once(':').map_or(s, |(c, _)| c);
                match code { $($code => Some(NoteCode::$v),)* _ => None }
            }
        }
    };
}

note_codes! {
    /// Some ring-buffer records could not be parsed.
    ParseErrors = "parse-errors" => BlindSpot,
    /// A path or address could not be read from the process's memory.
    PathReadFaults = "path-read-faults" => BlindSpot,
    /// An optional probe could not be attached.
    ProbeMissing = "probe-missing" => BlindSpot,
    /// A file descriptor (memfd, unlinked file) was executed.
    FilelessExec = "fileless-exec" => BlindSpot,
    /// received + dropped != emitted.
    CountMismatch = "count-mismatch" => BlindSpot,
    /// Received events could not be kept (the raw spill could not be written).
    SpillFailed = "spill-failed" => BlindSpot,
    /// The session used a channel the probes do not observe.
    UnobservedChannel = "unobserved-channel" => BlindSpot,
    /// A relative path had no known base directory (`<unresolved>/...`).
    UnresolvedPaths = "unresolved-paths" => BlindSpot,
    /// A path filled the probe buffer and may be cut short.
    TruncatedPaths = "truncated-paths" => BlindSpot,
    /// A path-only operation's text went through what text cannot resolve (`..` after a name,
    /// a magic link, a symlink the run made).
    AmbiguousPaths = "ambiguous-paths" => BlindSpot,
    /// The runner failed after the command started (draining, reading counters): what was
    /// received is kept, the rest may be missing.
    RunnerFailed = "runner-failed" => BlindSpot,
    /// A container's work was not placed under the session (the Docker API proxy flagged a
    /// request it could not place: a systemd cgroup driver, BuildKit, a container the run did
    /// not create, swarm, plugins, file work the daemon does itself, an image pull: the
    /// daemon's network work), or the proxy could not start while a daemon was there.
    ContainerUnplaced = "container-unplaced" => BlindSpot,
    /// A session process connected to a container or service daemon's socket directly (not
    /// through the runner's Docker API proxy): what the daemon did for it runs outside the
    /// session.
    DaemonBypass = "daemon-bypass" => BlindSpot,
    /// The ring buffer was full.
    RingbufDrops = "ringbuf-drops" => Drops,
    /// A process left the session cgroup.
    Escape = "escape" => Correlation,
    /// A process could not be added to the pid-tree map.
    TrackFailures = "track-failures" => Correlation,
    /// Processes survived `cgroup.kill` at the end of the run.
    CgroupNotEmpty = "cgroup-not-empty" => Correlation,
    /// No decision record at all.
    PolicyAbsent = "policy-absent" => PolicyLayer,
    /// Another process wrote into the layer directory.
    PolicyLogTampered = "policy-log-tampered" => PolicyLayer,
    /// A record names a writer the kernel did not see.
    PolicyRecordForged = "policy-record-forged" => PolicyLayer,
    /// A record does not parse or does not fit the contract.
    PolicyRecordInvalid = "policy-record-invalid" => PolicyLayer,
    /// A wrapper's `seq` has a gap, or the log was cut short.
    PolicyRecordMissing = "policy-record-missing" => PolicyLayer,
    /// A wrapper did not read the policy the runner handed out.
    PolicyUnattested = "policy-unattested" => PolicyLayer,
    /// No SDK record at all.
    SdkAbsent = "sdk-absent" => SdkLayer,
    /// The SDK log had several writers.
    SdkLogTampered = "sdk-log-tampered" => SdkLayer,
    /// A record names a writer the kernel did not see.
    SdkRecordForged = "sdk-record-forged" => SdkLayer,
    /// A record does not parse or does not fit the contract.
    SdkRecordInvalid = "sdk-record-invalid" => SdkLayer,
    /// The SDK's story is incomplete (a gap, a call never finished).
    SdkRecordMissing = "sdk-record-missing" => SdkLayer,
    /// The runner received SIGINT or SIGTERM and killed the session.
    RunInterrupted = "run-interrupted" => RunCut,
    /// `--timeout` expired and the session was killed.
    RunTimeout = "run-timeout" => RunCut,
    /// The command could not be started.
    SpawnFailed = "spawn-failed" => RunCut,
    /// Descendants still running after the grace period were killed.
    GraceKill = "grace-kill" => Info,
    /// The session cgroup could not be removed after the run.
    CgroupRemoveFailed = "cgroup-remove-failed" => Info,
}

/// The notes pattern of the schema: one of [`NoteCode::ALL`], a colon, a space, prose.
pub fn note_pattern() -> String {
    let codes: Vec<&str> = NoteCode::ALL.iter().map(|c| c.code()).collect();
    format!("^({}): .+$", codes.join("|"))
}

/// A `code: prose` note.
pub fn note(code: NoteCode, prose: impl AsRef<str>) -> String {
    format!(
        "{}: {}",
        code.code(),
        prose.as_ref().replace(['\n', '\r'], " ")
    )
}

/// `observation-health.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationHealth {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    /// Host facts.
    pub platform: Platform,
    /// Kernel layer state.
    pub kernel_layer: KernelLayer,
    /// Exact ring-buffer drops (sum over CPUs and programs).
    pub ringbuf_drops: u64,
    /// Policy layer state.
    pub policy_layer: OtherLayer,
    /// SDK layer state.
    pub sdk_layer: OtherLayer,
    /// Attribution of processes to the session.
    pub cgroup_correlation: CgroupCorrelation,
    /// Exact counts.
    pub counters: Counters,
    /// `code: prose`, sorted.
    #[schemars(extend("items" = {"type": "string", "pattern": note_pattern()}, "uniqueItems" = true))]
    pub notes: Vec<String>,
}

impl ObservationHealth {
    /// The one rule for clean evidence: the kernel layer complete with no drops, correlation
    /// clean, every expected layer complete, and no note whose class keeps evidence from being
    /// clean (an unknown code counts as unclean: it fails closed).
    pub fn is_clean(&self) -> bool {
        let layer_ok =
            |l: OtherLayer| matches!(l, OtherLayer::NotApplicable | OtherLayer::Complete);
        self.kernel_layer == KernelLayer::Complete
            && self.cgroup_correlation == CgroupCorrelation::Clean
            && self.ringbuf_drops == 0
            && layer_ok(self.policy_layer)
            && layer_ok(self.sdk_layer)
            && self
                .notes
                .iter()
                .all(|n| NoteCode::parse(n).is_some_and(|c| !c.class().unclean()))
    }

    /// Clean but for unobserved channels (what a proof's `allow_unobserved` may accept): some
    /// were used, and with them set aside the rule of [`Self::is_clean`] holds.
    pub fn is_clean_but_unobserved_channels(&self) -> bool {
        if self.counters.unobserved_channels.is_empty() {
            return false;
        }
        let only = self.notes.iter().all(|n| match NoteCode::parse(n) {
            Some(NoteCode::UnobservedChannel) => true,
            Some(c) => !c.class().unclean(),
            None => false,
        });
        let mut relaxed = self.clone();
        relaxed.kernel_layer = KernelLayer::Complete;
        relaxed
            .notes
            .retain(|n| NoteCode::parse(n) != Some(NoteCode::UnobservedChannel));
        only && relaxed.is_clean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_kebab_case_unique_and_parses_back() {
        let re = regex::Regex::new(NOTE_PATTERN).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for &c in NoteCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!(re.is_match(&note(c, "x")), "{}", c.code());
            assert_eq!(NoteCode::parse(&note(c, "some: prose")), Some(c));
            assert_eq!(NoteCode::parse(c.code()), Some(c));
        }
        assert_eq!(NoteCode::parse("stale-cgroup-removed: x"), None);
        let full = regex::Regex::new(&note_pattern()).unwrap();
        assert!(full.is_match("escape: 1 process"));
        assert!(!full.is_match("made-up: 1 process"));
        assert!(!full.is_match("escape:1"));
    }

    /// The classes are decisions, not defaults: this table is the one place a reviewer sees
    /// them all, and it must be changed together with the enum (docs/contracts/observation_health.md
    /// lists the same).
    #[test]
    fn every_code_has_the_class_decided_for_it() {
        let decided: Vec<(&str, NoteClass)> = NoteCode::ALL
            .iter()
            .map(|c| (c.code(), c.class()))
            .collect();
        use NoteClass::*;
        assert_eq!(
            decided,
            [
                ("parse-errors", BlindSpot),
                ("path-read-faults", BlindSpot),
                ("probe-missing", BlindSpot),
                ("fileless-exec", BlindSpot),
                ("count-mismatch", BlindSpot),
                ("spill-failed", BlindSpot),
                ("unobserved-channel", BlindSpot),
                ("unresolved-paths", BlindSpot),
                ("truncated-paths", BlindSpot),
                ("ambiguous-paths", BlindSpot),
                ("runner-failed", BlindSpot),
                ("container-unplaced", BlindSpot),
                ("daemon-bypass", BlindSpot),
                ("ringbuf-drops", Drops),
                ("escape", Correlation),
                ("track-failures", Correlation),
                ("cgroup-not-empty", Correlation),
                ("policy-absent", PolicyLayer),
                ("policy-log-tampered", PolicyLayer),
                ("policy-record-forged", PolicyLayer),
                ("policy-record-invalid", PolicyLayer),
                ("policy-record-missing", PolicyLayer),
                ("policy-unattested", PolicyLayer),
                ("sdk-absent", SdkLayer),
                ("sdk-log-tampered", SdkLayer),
                ("sdk-record-forged", SdkLayer),
                ("sdk-record-invalid", SdkLayer),
                ("sdk-record-missing", SdkLayer),
                ("run-interrupted", RunCut),
                ("run-timeout", RunCut),
                ("spawn-failed", RunCut),
                ("grace-kill", Info),
                ("cgroup-remove-failed", Info),
            ]
        );
    }

    #[test]
    fn the_docs_list_every_code_with_its_class() {
        let doc = include_str!("../../../docs/contracts/observation_health.md");
        for &c in NoteCode::ALL {
            let row = format!("| `{}` | {:?} |", c.code(), c.class());
            assert!(
                doc.contains(&row),
                "docs/contracts/observation_health.md lacks the row {row}"
            );
        }
    }
}
