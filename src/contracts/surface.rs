//! `assay.runner.capability_surface.v0` — what the run touched (`capability-surface.json`).
//!
//! Every list is a sorted set. Paths are absolute, escaped with `crate::pathbytes`, with the
//! work dir replaced by `<work>/`. `filesystem_paths` holds every path successfully opened,
//! created, removed or renamed; `filesystem_writes` the subset opened for writing (or created,
//! truncated, removed, renamed, linked). `network_endpoints` holds attempted connects
//! (`127.0.0.1:8080`, `[::1]:443`, `unix:/run/x.sock`). `process_execs` holds executed files.

use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.capability_surface.v0";

/// `capability-surface.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitySurface {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    /// Paths opened or changed.
    pub filesystem_paths: Vec<String>,
    /// Paths written, created, removed, renamed or linked.
    pub filesystem_writes: Vec<String>,
    /// Attempted connects.
    pub network_endpoints: Vec<String>,
    /// Executed files.
    pub process_execs: Vec<String>,
    /// MCP tools called (policy layer; empty in kernel mode).
    pub mcp_tools: Vec<String>,
    /// `allow:tool` / `deny:tool` (policy layer; empty in kernel mode).
    pub policy_decisions: Vec<String>,
}
