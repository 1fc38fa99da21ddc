//! `assay.runner.observation_health.v3` — how well the run was observed (`observation-health.json`).
//!
//! Strictness: `ringbuf_drops > 0` ⇒ `kernel_layer` is not `complete`; any escape, lost process
//! or tracking failure ⇒ `cgroup_correlation` is not `clean`. Values only get worse as evidence
//! arrives (`failed` is sticky). `notes` are `code: prose` strings, sorted.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.observation_health.v3";

/// Program families that count attempts and drops (keys of `drops_by_program`).
pub const PROGRAM_FAMILIES: [&str; 25] = [
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
    /// Probes that could not be attached.
    pub attach_failures: u64,
}

/// Note codes that say a class of effects was not observed: a health carrying one is never
/// `kernel_layer: complete` (the builder makes it `partial_blind_spot`; `verify` checks it).
pub const BLIND_SPOT_NOTE_CODES: [&str; 3] =
    ["fileless-exec", "probe-missing", "unobserved-channel"];

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
    #[schemars(extend("items" = {"type": "string", "pattern": NOTE_PATTERN}, "uniqueItems" = true))]
    pub notes: Vec<String>,
}
