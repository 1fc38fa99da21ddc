//! `assay.runner.sdk_event.v0` — one line of the SDK layer (`layers/sdk.ndjson`): what an agent
//! runtime (`@openai/agents`, `@google/genai`) says it did, written by the fixture that drives it
//! to `$ASSAY_SDK_LOG`.
//!
//! Everything outside `diag` is canonical: identical across runs of a deterministic fixture (a
//! deterministic local model, fixed call ids). In a bundle, `layers/sdk.ndjson` holds the
//! accepted records without `diag`; `sdk-diag.ndjson` holds them as written.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.sdk_event.v0";

/// What happened.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// The agent run began.
    RunStarted,
    /// The runtime is about to execute a tool call the model asked for.
    ToolCallStarted,
    /// The tool call's result came back to the runtime.
    ToolCallFinished,
    /// The agent run ended (its final output was produced).
    RunFinished,
}

/// The runtime, as its installed package names itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sdk {
    /// The npm package name (`@openai/agents`, `@google/genai`).
    #[schemars(extend("minLength" = 1))]
    pub name: String,
    /// Its version, read from the installed package's `package.json`.
    #[schemars(extend("minLength" = 1))]
    pub version: String,
}

/// How a finished tool call ended, as the runtime saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool returned a result.
    Ok,
    /// The tool returned an error result (e.g. a policy denial) or threw.
    Error,
}

/// Run-specific facts, excluded from the canonical projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkDiag {
    /// The writing process's pid.
    pub pid: u32,
    /// CLOCK_MONOTONIC ns when the record was made (`process.hrtime.bigint()` in Node).
    pub monotonic_ns: u64,
}

/// One SDK record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkEvent {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// Run id (`$ASSAY_RUN_ID`).
    pub run_id: String,
    /// Line number from 0, gapless.
    pub seq: u64,
    pub event_type: EventType,
    /// The call's id across layers (tool call events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    pub tool_call_id: Option<String>,
    /// The tool's name (tool call events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `tool_call_finished` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ToolOutcome>,
    pub sdk: Sdk,
    /// Diagnostic part: differs between runs; absent in the canonical layer of a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diag: Option<SdkDiag>,
}
