//! Every `assay.runner.*.v0` wire contract, as serde types and nothing else (no I/O).
//!
//! Architecture Invariant: `Serialize`/`Deserialize` are derived only here; other modules build
//! these types and hand them to the edge. Set-valued fields are sorted by whoever builds them
//! and checked sorted by the tests. Adding a field or a vocabulary value is a contract change:
//! bump the schema id, update `schemas/` and the docs.

pub mod health;
pub mod kernel_event;
pub mod lane_decision;
pub mod manifest;
pub mod run_event;
pub mod surface;

pub use lane_decision::{FileLane, LaneDecision};
