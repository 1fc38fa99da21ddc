//! assay-runner: kernel-observed CI verdicts for agents, MCP tool servers and build steps.
//!
//! The library behind the `assay-runner` binary. Data flows one way (see `ARCHITECTURE.md`):
//! `lanes` → `kernel` → `layers` → `surface`/`health` → `bundle` → `diff` → `verdict` → `report`.
//! `contracts` holds every wire type; `cli` is the only module that prints or exits.

pub use assay_contracts as contracts;
pub use assay_contracts::{diag, pathbytes, textutil};
pub use assay_lanes as lanes;

pub mod bundle;
pub mod cli;
pub mod correlation;
pub mod crossdiff;
pub mod diff;
pub mod exit;
pub mod fsutil;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod health;
pub mod kernel;
pub mod layers;
pub mod pipeline;
pub mod policy;
pub mod proofs;
pub mod prove;
pub mod report;
#[cfg(any(test, feature = "fuzzing"))]
pub mod sample;
pub mod sink;
pub mod surface;
pub mod verify;
