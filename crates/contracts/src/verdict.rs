//! `assay.runner.verdict.v4` — output of `assay-runner prove` (`verdict.json` in the out dir):
//! one verdict per proof and the overall verdict, with what the report needs (health, diff,
//! bundle paths) so reporting works from this file and the bundles alone.
//!
//! v4: a proof's `diff` is `capability_diff.v2`, which explains each added and removed entry.
//!
//! Strictness: a proof is `pass` only when every run verified, the canonical members of all
//! runs are byte-identical, observation was clean and the surface equals the golden; `fail`
//! when the surface differs, determinism broke, a bundle failed verification or no golden
//! exists; otherwise (observation not clean) `inconclusive` — never `pass`. A proof judged by a
//! base revision's golden (`--judge-from-ref`) whose surface changed, on clean evidence, to
//! exactly the golden the change itself carries is `needs_approval`: an intended change that a
//! reviewer approves (`report --approval`), never one the change approves itself. The overall
//! verdict is the worst of the proofs (`fail` > `inconclusive` > `needs_approval` > `pass`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::capability_diff::CapabilityDiff;
use super::health::{CgroupCorrelation, KernelLayer};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.verdict.v4";

/// A verdict, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Clean observation, deterministic, surface equals golden.
    Pass,
    /// Clean and deterministic; the surface differs from the judging (base) golden and equals
    /// the golden the change under test carries: waits for a reviewer's approval.
    NeedsApproval,
    /// Observation was not clean: the evidence cannot decide.
    Inconclusive,
    /// The surface differs, determinism broke, or a bundle failed verification.
    Fail,
}

/// Health figures a report shows, taken from the first run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSummary {
    /// Kernel layer state.
    pub kernel_layer: KernelLayer,
    /// Cgroup correlation state.
    pub cgroup_correlation: CgroupCorrelation,
    /// Exact ring-buffer drops.
    pub ringbuf_drops: u64,
}

/// One proof's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofVerdict {
    /// Proof name from `proofs.yaml`.
    pub name: String,
    /// The proof's verdict.
    pub verdict: Verdict,
    /// Why, as `code: prose` strings, sorted (empty for a plain pass).
    #[schemars(extend("items" = {"type": "string", "pattern": super::health::NOTE_PATTERN}, "uniqueItems" = true))]
    pub reasons: Vec<String>,
    /// How many runs were made.
    pub runs: u32,
    /// Whether the canonical members of all runs were byte-identical.
    pub deterministic: bool,
    /// The bundle of the first run (the one reported), relative to the current directory.
    pub bundle: Option<String>,
    /// The golden file, as named in `proofs.yaml`.
    pub golden: String,
    /// The pending golden written for review, when the surface differs from the golden.
    pub pending: Option<String>,
    /// Health of the first run, when one was measured.
    pub health: Option<HealthSummary>,
    /// The first run's surface against the golden, when both exist.
    pub diff: Option<CapabilityDiff>,
    /// For `needs_approval`: the golden update the change carries, which a reviewer approves.
    #[serde(default)]
    pub golden_update: Option<GoldenUpdate>,
    /// `sha256:<hex>` of the golden the surface was judged against, as read (a base
    /// revision's when judged from one); absent when there was none or it was not reached.
    #[serde(default)]
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub golden_sha256: Option<String>,
}

/// A golden the change under test updated to exactly the surface its proof produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoldenUpdate {
    /// The judging golden (the base revision's), `sha256:<hex>` of its bytes.
    pub base_sha256: String,
    /// The change's golden, `sha256:<hex>` of its bytes.
    pub head_sha256: String,
    /// Unified diff from the judging golden to the change's golden: what the approval covers.
    pub diff: String,
}

/// `verdict.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofSetVerdict {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The selection that was proved: `all`, `lane:<lane>` or `proof:<name>[,<name>...]`.
    pub run_id: String,
    /// The lane, when the selection was a lane.
    pub lane: Option<String>,
    /// Worst verdict of the proofs (`pass` when no proof was selected).
    pub verdict: Verdict,
    /// One entry per proof, in selection order.
    pub proofs: Vec<ProofVerdict>,
}
