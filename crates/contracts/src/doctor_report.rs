//! `assay.runner.doctor_report.v0` — output of `assay-runner doctor --format json`.
//!
//! One entry per prerequisite of a measured run, in the order they are checked. `ok` is true
//! exactly when no check has status `fail` or `skipped`. A failed check carries the concrete fix
//! for the host it ran on; a check whose prerequisite failed is `skipped` and names it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.doctor_report.v0";

/// Stable check ids, in check order.
pub const CHECK_IDS: [&str; 9] = [
    "root",
    "btf",
    "cgroup2",
    "session-cgroup",
    "ringbuf",
    "bpf-object",
    "probes-process",
    "probes-syscall",
    "observed-run",
];

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Fail,
    /// Not attempted: a prerequisite failed (named in `detail`).
    Skipped,
}

/// One prerequisite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorCheck {
    /// Stable id (one of [`CHECK_IDS`]).
    #[schemars(extend("enum" = CHECK_IDS))]
    pub id: String,
    pub status: CheckStatus,
    /// What was checked and what was found.
    pub detail: String,
    /// For `fail`: what to do on this host (a command where there is one).
    pub fix: Option<String>,
}

/// The embedded BPF object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BpfObject {
    /// `clang` (built here) or `prebuilt` (the committed, source-hash-checked fallback).
    #[schemars(extend("enum" = ["clang", "prebuilt"]))]
    pub origin: String,
    /// SHA-256 over the `bpf/` sources it was built from.
    pub source_sha256: String,
    /// Every attach point (`raw_tp/NAME`, `tp_btf/NAME`, `cgroup/NAME`), in attach order.
    pub attach_points: Vec<String>,
}

/// `doctor --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorReport {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// Every check passed.
    pub ok: bool,
    pub checks: Vec<DoctorCheck>,
    pub bpf_object: BpfObject,
    /// Facts that need no fix (e.g. whether tracefs is mounted: it is not needed).
    pub facts: Vec<String>,
}
