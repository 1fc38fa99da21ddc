//! `assay.runner.lane_decision.v0` — output of `lanes classify --format json`.
//!
//! Wire format:
//! ```json
//! {"schema":"assay.runner.lane_decision.v0","config":"lanes/lanes.yaml","lanes":["none","all"],
//!  "lane":"all","files":[{"path":"bpf/x.c","change":"modified","lane":"all","rules":["kernel"]}]}
//! ```
//! `files` is sorted by `path`, then `change`; `rules` is sorted by name; an empty `rules` means
//! the file got the default lane. Paths use the lossless escaping of `crate::pathbytes`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id of this contract.
pub const SCHEMA: &str = "assay.runner.lane_decision.v0";

/// A PR's lane decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaneDecision {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The lanes file the decision was made with (as named on the command line, plus `@REV`
    /// when read from git).
    pub config: String,
    /// The ordered lanes of that file, cheapest first.
    pub lanes: Vec<String>,
    /// The PR's lane: the highest file lane, or the lowest lane for an empty PR.
    pub lane: String,
    /// One entry per changed path.
    pub files: Vec<FileLane>,
}

/// One changed path's lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileLane {
    /// Repo-relative path, escaped losslessly.
    pub path: String,
    /// `listed`, `added`, `modified`, `deleted`, `type_changed`, `renamed_from`, `renamed_to`,
    /// `copied_to` or `other`.
    #[schemars(extend("enum" = ["listed", "added", "modified", "deleted", "type_changed", "renamed_from", "renamed_to", "copied_to", "other"]))]
    pub change: String,
    /// The file's lane.
    pub lane: String,
    /// Names of the rules that applied, sorted.
    pub rules: Vec<String>,
}
