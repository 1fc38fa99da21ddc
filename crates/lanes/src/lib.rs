//! Lanes: classify a PR's changed files into ordered cost lanes from a declarative YAML file,
//! explain every decision, and self-test the file (design §4).
//!
//! Pipeline position: first stage (changed files → which proofs to run).
//! Imports: `assay_contracts` (to build `lane_decision`, `pathbytes`, `diag`) only: never the
//! kernel, the evidence crate or the runner, and nothing Linux-only (the crate boundary).

pub mod changes;
pub mod classify;
pub mod config;
pub mod diag;
pub mod git;
pub mod matcher;
pub mod render;
pub mod selftest;

pub use changes::{ChangeKind, ChangedPath};
pub use classify::Decision;
pub use config::LanesConfig;
pub use diag::ConfigError;
