//! `assay.runner.policy_event.v2` — one line of the decision log written by
//! `assay-runner mcp-wrap`: one record per `tools/call`, written and fsynced before the call's
//! response (or denial) reaches the client. In a bundle, `layers/policy.ndjson` holds the
//! accepted records without `diag` (canonical) and `policy-diag.ndjson` holds them as written.
//! v1: `diag` became optional (v0 required it). v2: `diag.held_ns`, the time a call waited for
//! the one before it.
//!
//! Everything outside `diag` is canonical: identical across runs of a deterministic fixture.
//! `diag` holds what differs from run to run (pids, clock readings, the raw JSON-RPC id) and what
//! the correlation step needs: the monotonic window (CLOCK_MONOTONIC ns, the clock of BPF's
//! `bpf_ktime_get_ns`) between forwarding the request to the server and receiving its response,
//! and the wrapper's and server's pids.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.policy_event.v2";

/// Values of `rule` that are not rule names: no rule matched (`default`), or the message was
/// refused before the policy could decide it (`protocol`). Policy files may not use them.
pub const RESERVED_RULES: [&str; 2] = ["default", "protocol"];

/// Where `tool_call_id` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdSource {
    /// `params._meta["assay.dev/tool_call_id"]`, set by the client.
    Meta,
    /// Derived from the JSON-RPC request id (`jsonrpc:<id as JSON>`).
    Derived,
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

/// What became of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The server answered with a result (`isError` absent or false).
    Ok,
    /// The server answered with a result with `isError: true`.
    ToolError,
    /// The server answered with a JSON-RPC error.
    RpcError,
    /// The server answered with neither `result` nor `error`.
    InvalidResponse,
    /// Denied: the server never saw the call.
    Denied,
    /// The client cancelled the call (`notifications/cancelled`) before a response arrived.
    Cancelled,
    /// The server exited (or closed its stdout) before answering.
    ServerExited,
}

/// Run-specific facts, excluded from the canonical projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDiag {
    /// The request's JSON-RPC id as JSON text (`7`, `"abc"`), when it had one.
    pub jsonrpc_id: Option<String>,
    /// The wrapper's pid.
    pub wrapper_pid: u32,
    /// The server's pid.
    pub server_pid: u32,
    /// CLOCK_MONOTONIC ns when the request was read from the client.
    pub received_ns: u64,
    /// CLOCK_MONOTONIC ns just before the request was written to the server (absent on deny).
    pub forwarded_ns: Option<u64>,
    /// ns the call was held before forwarding, because another `tools/call` to the same server
    /// was in flight (`mcp-wrap` forwards one at a time in a measured run); absent when it was
    /// forwarded at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_ns: Option<u64>,
    /// CLOCK_MONOTONIC ns when the response was read from the server (absent when none came).
    pub responded_ns: Option<u64>,
    /// Wall clock when the record was written, ms since the Unix epoch.
    pub recorded_unix_ms: u64,
    /// `sha256:<hex>` of the compact JSON of `params.arguments`, when present.
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub arguments_sha256: Option<String>,
}

/// One decision record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyEvent {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// Run id (`ASSAY_RUN_ID`, else `standalone`).
    pub run_id: String,
    /// Line number from 0, gapless.
    pub seq: u64,
    /// The call's id across layers.
    #[schemars(extend("minLength" = 1))]
    pub tool_call_id: String,
    pub tool_call_id_source: IdSource,
    /// `params.name` (empty when the call had none).
    pub tool: String,
    pub decision: Decision,
    /// The deciding rule's name, `default` or `protocol` (see [`RESERVED_RULES`]).
    #[schemars(extend("pattern" = "^[a-z0-9][a-z0-9_-]{0,63}$"))]
    pub rule: String,
    /// `code: prose`, e.g. `rule-allow: rule read-data allows read_text_file`.
    #[schemars(extend("pattern" = super::health::NOTE_PATTERN))]
    pub reason: String,
    pub outcome: Outcome,
    /// Diagnostic part: differs between runs. Always written by `mcp-wrap`; absent from the
    /// canonical `layers/policy.ndjson` of a bundle (kept in the diagnostic `policy-diag.ndjson`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diag: Option<PolicyDiag>,
}
