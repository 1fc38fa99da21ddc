//! `assay.runner.verify_report.v0` — output of `assay-runner verify --format json`.
//!
//! `valid` is true exactly when `problems` is empty. Problems keep the order in which the
//! streaming reader found them; each names the member (`<archive>` for the gzip/tar framing),
//! a stable code, and prose.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::manifest::MemberClass;

/// Schema id.
pub const SCHEMA: &str = "assay.runner.verify_report.v0";

/// Stable problem codes.
pub const PROBLEM_CODES: [&str; 26] = [
    "class-mismatch",
    "directory",
    "duplicate-member",
    "device",
    "entry-type",
    "extension-header",
    "fifo",
    "gzip-corrupt",
    "gzip-header",
    "gzip-trailing-data",
    "gzip-truncated",
    "inconsistent",
    "json-invalid",
    "link",
    "manifest-missing",
    "manifest-not-first",
    "member-order",
    "missing-member",
    "not-listed",
    "run-id-mismatch",
    "schema-violation",
    "sha256-mismatch",
    "size-mismatch",
    "tar-invalid",
    "too-large",
    "unsafe-path",
];

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// The member path, or `<archive>` for the framing.
    pub member: String,
    /// Stable code.
    #[schemars(extend("enum" = PROBLEM_CODES))]
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
}

/// One member as read from the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRead {
    /// Path inside the archive (escaped losslessly when not UTF-8).
    pub path: String,
    /// Bytes read.
    pub bytes: u64,
    /// `sha256:<hex>` of the bytes read.
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub sha256: String,
    /// The class the manifest gives it, when listed.
    pub class: Option<MemberClass>,
}

/// The verify report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyReport {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The manifest's run id, when the manifest could be read.
    pub run_id: Option<String>,
    /// The bundle path as given.
    pub bundle: String,
    /// True when there are no problems.
    pub valid: bool,
    /// `sha256:<hex>` of the archive bytes, when it was read to the end.
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub bundle_sha256: Option<String>,
    /// Compressed bytes read.
    pub compressed_bytes: u64,
    /// Decompressed bytes read.
    pub decompressed_bytes: u64,
    /// Members in archive order.
    pub members: Vec<MemberRead>,
    /// Problems in the order found.
    pub problems: Vec<Problem>,
}
