//! assay-runner: kernel-observed CI verdicts for agents, MCP tool servers and build steps.
//!
//! The library behind the `assay-runner` binary. Data flows one way (see `ARCHITECTURE.md`):
//! `lanes` → `kernel` → `layers` → `surface`/`health` → `bundle` → `diff` → `verdict` → `report`.
//! `contracts` holds every wire type; `cli` is the only module that prints or exits.

pub mod bundle;
pub mod cli;
pub mod contracts;
pub mod correlation;
pub mod crossdiff;
pub mod diag;
pub mod diff;
pub mod docker;
pub mod exit;
pub mod fsutil;
pub mod fuzzing;
pub mod health;
pub mod kernel;
pub mod lanes;
pub mod layers;
pub mod pathbytes;
pub mod pipeline;
pub mod policy;
pub mod proofs;
pub mod prove;
pub mod report;
pub mod surface;
pub mod textutil;
pub mod verify;
