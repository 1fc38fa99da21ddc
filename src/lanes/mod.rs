//! Lanes: classify a PR's changed files into ordered cost lanes from a declarative YAML file,
//! explain every decision, and self-test the file (design §4).
//!
//! Pipeline position: first stage (changed files → which proofs to run).
//! Imports: `crate::contracts` (to build `lane_decision`), `crate::pathbytes`. Never `kernel`,
//! `bundle`, `report` or anything after it.

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
