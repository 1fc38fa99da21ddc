//! assay-evidence: everything a reviewer needs to judge a run from its bundle alone, offline, on
//! any OS: the bundle format ([`bundle`]), its hostile-input verifier ([`verify`]), capability
//! diffs against goldens or bundles ([`diff`]), the cross-runtime diff of two SDK bundles
//! ([`crossdiff`]), and the derivations every bundle's canonical members are built by and
//! checked against: the capability surface ([`surface`]) and observation health ([`health`]).
//! [`sink`] is the interface through which the runner's kernel layer feeds the surface;
//! [`fsutil`] holds the atomic writes every artifact goes through; [`attest`] signs a verdict
//! and its bundles as an in-toto attestation and checks one.
//!
//! Architecture Invariant: depends on `assay-contracts` only, never on the kernel crate or the
//! runner, and on nothing Linux-only (held by the crate boundary and `tests/workspace.rs`).

pub mod attest;
pub mod bundle;
pub mod crossdiff;
pub mod diff;
pub mod explain;
pub mod fsutil;
pub mod health;
pub mod html;
#[cfg(any(test, feature = "fuzzing"))]
pub mod sample;
pub mod sink;
pub mod surface;
pub mod verify;
