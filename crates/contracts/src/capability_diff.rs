//! `assay.runner.capability_diff.v2` — output of `assay-runner diff`: how a head surface differs
//! from a base (a committed golden or another bundle), per category.
//!
//! Strictness: `status` is `clean` only when both sides' observation was clean (a golden counts
//! as clean: it was accepted from a clean run); `partial:health` when either side's observation
//! was not clean (the diff may be missing entries, so "unchanged" proves nothing); `failed` when a
//! side could not be read. `changed` is true when any category has an added or removed entry.
//!
//! v2: `explanations` — who made each added entry (from the head bundle) and each removed one
//! (from the base, when it is a bundle): the first kernel witness, the chain of programs from
//! its process up to the command, and the tool calls that hold it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.capability_diff.v2";

/// Overall status of a diff.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum DiffStatus {
    /// Both sides were observed cleanly: the diff is complete.
    #[serde(rename = "clean")]
    Clean,
    /// A side's observation was not clean: entries may be missing on that side.
    #[serde(rename = "partial:health")]
    PartialHealth,
    /// A side could not be read or verified.
    #[serde(rename = "failed")]
    Failed,
}

/// What a side of the diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideKind {
    /// A committed golden surface file.
    Golden,
    /// An evidence bundle.
    Bundle,
}

/// One side of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// Golden file or bundle.
    pub kind: SideKind,
    /// The path as given on the command line.
    pub source: String,
    /// The run id recorded on that side.
    pub run_id: String,
    /// Whether that side's observation was clean (a golden is clean by acceptance).
    pub health_clean: bool,
}

/// The changes in one surface category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryDiff {
    /// Category name (a capability-surface list).
    #[schemars(extend("enum" = super::surface::CATEGORIES))]
    pub category: String,
    /// In head, not in base; sorted.
    #[schemars(extend("uniqueItems" = true))]
    pub added: Vec<String>,
    /// In base, not in head; sorted.
    #[schemars(extend("uniqueItems" = true))]
    pub removed: Vec<String>,
    /// In both; sorted.
    #[schemars(extend("uniqueItems" = true))]
    pub unchanged: Vec<String>,
}

/// A line of the golden file that an annotation should point at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoldenLine {
    /// 1-based line in the golden file: the removed entry's own line, or for an added entry the
    /// line of the entry it would follow (the category's opening line when it would come first).
    #[schemars(range(min = 1))]
    pub line: u64,
    /// Category name.
    #[schemars(extend("enum" = super::surface::CATEGORIES))]
    pub category: String,
    /// `added` or `removed`.
    #[schemars(extend("enum" = ["added", "removed"]))]
    pub change: String,
    /// The entry.
    pub entry: String,
}

/// A tool call whose effects hold an explained entry (from the correlation report).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainedToolCall {
    /// The tool call's id.
    pub id: String,
    /// The tool's name.
    pub tool: String,
    /// The policy decision (`allow` or `deny`).
    pub decision: String,
    /// The policy rule that decided.
    pub rule: String,
    /// The process label of the server that handled the call (empty when denied).
    pub server: String,
}

/// Who made an added or removed entry: its first witness in the side's kernel layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryExplanation {
    /// Category name.
    #[schemars(extend("enum" = super::surface::CATEGORIES))]
    pub category: String,
    /// `added` (explained from the head) or `removed` (explained from the base).
    #[schemars(extend("enum" = ["added", "removed"]))]
    pub change: String,
    /// The entry.
    pub entry: String,
    /// The witness's `seq` in that side's `layers/kernel.ndjson`; absent when no single kernel
    /// line names the entry (an endpoint named through a DNS answer).
    pub seq: Option<u64>,
    /// What the witness names exactly (the path a normalized entry stands for).
    pub exact: Option<String>,
    /// The witness's process label (`p0/sh#1/curl#1`).
    pub process: Option<String>,
    /// The programs from that process up to the command, the process's own first (`?` for one
    /// that executed nothing yet). An ordered chain, not a set.
    pub chain: Vec<String>,
    /// Tool calls whose effects hold the entry, sorted.
    #[schemars(extend("uniqueItems" = true))]
    pub tool_calls: Vec<ExplainedToolCall>,
    /// True when the side has a correlation report and no tool call holds the entry.
    pub outside_tool_calls: bool,
    /// The explanation in one line (`← /usr/bin/curl ← /usr/bin/dash (p0/sh#1/curl#1, kernel
    /// line 42); tool call c1 fetch: allow by r`).
    pub line: String,
}

/// The output of `diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityDiff {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The head side's run id.
    pub run_id: String,
    /// Complete, partial or failed (see the module docs).
    pub status: DiffStatus,
    /// Whether any entry was added or removed.
    pub changed: bool,
    /// The base side.
    pub base: Side,
    /// The head side.
    pub head: Side,
    /// One entry per category, in capability-surface order.
    pub categories: Vec<CategoryDiff>,
    /// Golden-file lines to annotate (empty when the base is a bundle), sorted.
    pub golden_lines: Vec<GoldenLine>,
    /// One per added and removed entry of a kernel category whose side is a bundle, sorted by
    /// category, change and entry.
    pub explanations: Vec<EntryExplanation>,
    /// `code: prose`, sorted.
    #[schemars(extend("items" = {"type": "string", "pattern": super::health::NOTE_PATTERN}, "uniqueItems" = true))]
    pub notes: Vec<String>,
}

impl CapabilityDiff {
    /// The explanation of an added or removed entry, if the diff has one.
    pub fn explanation(
        &self,
        category: &str,
        change: &str,
        entry: &str,
    ) -> Option<&EntryExplanation> {
        self.explanations
            .iter()
            .find(|x| x.category == category && x.change == change && x.entry == entry)
    }
}
