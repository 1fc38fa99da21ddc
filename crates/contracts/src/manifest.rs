//! `assay.runner.archive_manifest.v0` — `manifest.json`, the first member of every bundle.
//!
//! Lists every other member with its size and `sha256:<hex>`, sorted by path, and whether it is
//! canonical (must be identical across runs of the same proof) or diagnostic (timings, pids).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.archive_manifest.v0";

/// Member class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberClass {
    /// Identical across runs of the same proof.
    Canonical,
    /// Run-specific (timings, raw pids); excluded from determinism checks.
    Diagnostic,
}

/// One listed member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// `sha256:<64 hex>`.
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Canonical or diagnostic.
    pub class: MemberClass,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveManifest {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    /// Every other member, sorted by path.
    pub members: Vec<Member>,
}
