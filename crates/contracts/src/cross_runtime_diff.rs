//! `assay.runner.cross_runtime_diff.v0` — output of `assay-runner cross-diff`: what differs
//! between two agent runtimes running the same fixture (two `sdk` bundles).
//!
//! `canonical` compares each side's *tool surface*: the tools called, the policy's decisions, and
//! per tool the kernel effects the correlation attributed to its calls (effects of the MCP
//! server's subtree inside the calls' windows, so nothing of the runtime itself). It is the same
//! for two runtimes that made the same calls with the same effects, whatever their SDKs did
//! around them. `diagnostic` keeps beside it what canonicalization set aside, with the rule that
//! did it (the runtime's own files and its model transport), and each side's SDK. `non_claims`
//! says what the comparison does not show.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sdk_event::Sdk;

/// Schema id.
pub const SCHEMA: &str = "assay.runner.cross_runtime_diff.v0";

/// Categories of the canonical comparison, in output order.
pub const TOOL_CATEGORIES: [&str; 2] = ["mcp_tools", "policy_decisions"];

/// Effect categories compared per tool.
pub const EFFECT_CATEGORIES: [&str; 4] = [
    "filesystem_paths",
    "filesystem_writes",
    "network_endpoints",
    "process_execs",
];

/// Rules that set surface entries aside as runtime-specific.
pub const RULES: [&str; 2] = ["outside-tool-calls", "unattributed-server-effects"];

/// The statements printed with every comparison.
pub const NON_CLAIMS: [&str; 4] = [
    "no claim about model quality or the answers produced: only observed tool calls and their kernel effects are compared",
    "no claim about calls the runtimes did not make in these runs: the fixture's scripted model decides which calls happen",
    "no claim about effects outside tool-call windows: they are runtime-specific and listed as diagnostics, not compared",
    "no claim beyond each side's observation health: an unclean side makes the comparison inconclusive",
];

/// Whether the two tool surfaces are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrossStatus {
    /// Same tool surface, both sides observed cleanly.
    Same,
    /// The tool surfaces differ.
    Different,
    /// Same or not, a side's evidence (health or correlation) was not clean: unchanged entries
    /// prove nothing.
    Inconclusive,
}

/// One side (a bundle of an `sdk` run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSide {
    /// The bundle path as given.
    pub source: String,
    pub run_id: String,
    /// Observation health and correlation both clean.
    pub evidence_clean: bool,
}

/// Added / removed / unchanged entries of one category (`added`: only in head).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub category: String,
    #[schemars(extend("uniqueItems" = true))]
    pub added: Vec<String>,
    #[schemars(extend("uniqueItems" = true))]
    pub removed: Vec<String>,
    #[schemars(extend("uniqueItems" = true))]
    pub unchanged: Vec<String>,
}

/// The effects of one tool's calls, compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolChange {
    pub tool: String,
    /// One per [`EFFECT_CATEGORIES`], in that order.
    pub effects: Vec<Change>,
}

/// The canonical comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canonical {
    /// One per [`TOOL_CATEGORIES`], in that order.
    pub tools: Vec<Change>,
    /// One per tool called on either side, sorted by tool.
    pub per_tool: Vec<ToolChange>,
}

/// Entries a rule set aside on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAside {
    /// `base` or `head`.
    #[schemars(extend("enum" = ["base", "head"]))]
    pub side: String,
    #[schemars(extend("enum" = RULES))]
    pub rule: String,
    /// A surface category.
    pub category: String,
    #[schemars(extend("uniqueItems" = true))]
    pub entries: Vec<String>,
}

/// Run-specific and runtime-specific facts, kept beside the canonical comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// The base side's runtime (from its SDK layer).
    pub base_sdk: Sdk,
    /// The head side's runtime.
    pub head_sdk: Sdk,
    /// What canonicalization set aside, per side, rule and category.
    pub set_aside: Vec<SetAside>,
}

/// The output of `cross-diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrossRuntimeDiff {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The head side's run id.
    pub run_id: String,
    pub status: CrossStatus,
    pub base: RuntimeSide,
    pub head: RuntimeSide,
    pub canonical: Canonical,
    pub diagnostic: Diagnostic,
    /// Always [`NON_CLAIMS`].
    pub non_claims: Vec<String>,
}
