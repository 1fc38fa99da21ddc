//! The MCP policy layer (design §6): `mcp-wrap` sits between an MCP client and a stdio server,
//! passes every message through, decides each `tools/call` against a policy file before the
//! server sees it, and writes one `assay.runner.policy_event.v2` record per call.
//!
//! `config` parses and validates the policy file (file:line:column errors) and decides calls;
//! `path` normalizes path arguments lexically; `framing` reads bounded lines and classifies
//! JSON-RPC messages; `wrap` is the proxy, `outbox` its writer to the server; `fuzzing` holds the fuzz entry points.
//! May import `contracts`, `fsutil`; nothing imports it but `cli`.

pub mod config;
pub mod framing;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod outbox;
pub mod path;
pub mod wrap;

pub use config::{Policy, PolicyError, Verdict};
