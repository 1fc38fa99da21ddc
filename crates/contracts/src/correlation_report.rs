//! `assay.runner.correlation_report.v1` — kernel effects attributed to tool calls, and tool
//! calls joined across the SDK and policy layers by `tool_call_id` (`correlation-report.json`).
//! v1 added `sdk_outcome` and the cross-layer ambiguity codes (v0 had the policy layer only).
//!
//! A call's window runs from the wrapper forwarding the request to the server until the
//! server's response arrives (CLOCK_MONOTONIC on both sides: the policy record's
//! `diag.forwarded_ns`/`responded_ns` and the kernel's `bpf_ktime_get_ns`). An effect of the
//! server's process subtree inside exactly one window belongs to that call; inside several
//! (concurrent calls) it is ambiguous and assigned to none; outside every window it is
//! unattributed. Nothing is ever assigned by proximity.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy_event::{Decision, Outcome};
use super::sdk_event::ToolOutcome;

/// Schema id.
pub const SCHEMA: &str = "assay.runner.correlation_report.v1";

/// Ambiguity codes.
pub const AMBIGUITY_CODES: [&str; 7] = [
    "duplicate-tool-call-id",
    "open-window",
    "overlapping-windows",
    "policy-without-sdk",
    "sdk-without-policy",
    "tool-mismatch",
    "unknown-server",
];

/// How far the attribution can be trusted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every call's effects are attributed and nothing is ambiguous.
    Clean,
    /// Some effects or calls could not be attributed (see `ambiguities`).
    Partial,
    /// No trustworthy attribution: the policy layer (or, in `sdk` runs, the SDK layer) is
    /// absent or not attested.
    Failed,
}

/// Kernel effects, normalized like the capability surface (sorted sets, noise filtered).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    #[schemars(extend("uniqueItems" = true))]
    pub filesystem_paths: Vec<String>,
    #[schemars(extend("uniqueItems" = true))]
    pub filesystem_writes: Vec<String>,
    #[schemars(extend("uniqueItems" = true))]
    pub network_endpoints: Vec<String>,
    #[schemars(extend("uniqueItems" = true))]
    pub process_execs: Vec<String>,
}

impl Effects {
    /// True when no category holds anything.
    pub fn is_empty(&self) -> bool {
        self.filesystem_paths.is_empty()
            && self.filesystem_writes.is_empty()
            && self.network_endpoints.is_empty()
            && self.process_execs.is_empty()
    }
}

/// One tool call and what the kernel saw it cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    #[schemars(extend("minLength" = 1))]
    pub tool_call_id: String,
    pub tool: String,
    pub decision: Decision,
    /// The deciding policy rule (as in the policy record).
    pub rule: String,
    pub outcome: Outcome,
    /// The process label of the server that handled the call (empty when denied).
    pub server: String,
    /// How the SDK saw the call end (runs with an SDK layer, when the SDK reported this id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk_outcome: Option<ToolOutcome>,
    /// Effects of the server's subtree inside this call's window only.
    pub effects: Effects,
}

/// Effects or calls that could not be attributed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// A stable code from [`AMBIGUITY_CODES`].
    #[schemars(extend("enum" = AMBIGUITY_CODES))]
    pub code: String,
    /// The calls involved, sorted.
    #[schemars(extend("uniqueItems" = true))]
    pub tool_call_ids: Vec<String>,
    /// Effects that could have belonged to any of them (assigned to none).
    pub effects: Effects,
}

/// `correlation-report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrelationReport {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    pub status: Status,
    /// One per policy record, in the order of `layers/policy.ndjson`.
    pub bindings: Vec<Binding>,
    /// Effects of server subtrees outside every call's window (start-up, shutdown).
    pub unattributed: Effects,
    /// Sorted by code, then ids.
    pub ambiguities: Vec<Ambiguity>,
}
