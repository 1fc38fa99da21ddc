//! assay-runner: kernel-observed CI verdicts for agents, MCP tool servers and build steps.
//!
//! The library behind the `assay-runner` binary. Data flows one way (see `ARCHITECTURE.md`):
//! `lanes` → `kernel` → `layers` → `surface`/`health` → `bundle` → `diff` → `verdict` → `report`.
//! `contracts` holds every wire type; `cli` is the only module that prints or exits.
//!
//! The workspace's crates hold the stages that stand on their own: `assay-contracts`,
//! `assay-lanes`, `assay-evidence` (bundle, verify, diff, cross-diff, surface, health) and
//! `assay-kernel` (the measured run); they are re-exported here at their old paths. This crate
//! joins a measured run to its layers and judges it: `layers`, `policy`, `correlation`,
//! `pipeline`, `proofs`, `prove`, `report`, `cli`, `exit`.

pub use assay_contracts as contracts;
pub use assay_contracts::{diag, pathbytes, textutil};
pub use assay_evidence::{
    attest, bundle, crossdiff, diff, explain, fsutil, health, html, sink, surface, verify,
};
pub use assay_kernel as kernel;
pub use assay_lanes as lanes;

pub mod cli;
pub mod containers;
pub mod correlation;
pub mod delegation;
pub mod docker;
pub mod exit;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod layers;
pub mod listeners;
pub mod pipeline;
pub mod policy;
pub mod proofs;
pub mod prove;
pub mod report;
