//! `assay.runner.capability_surface.v3` — what the run touched (`capability-surface.json`).
//!
//! Every list is a sorted set. Paths are absolute, escaped with `crate::pathbytes`, with the
//! work dir replaced by `<work>/`. `filesystem_paths` holds every path successfully opened,
//! created, removed or renamed; `filesystem_writes` the subset opened for writing (or created,
//! truncated, removed, renamed, linked, or changed in mode, owner, times or xattrs).
//! `network_endpoints` holds destinations: attempted connects and datagrams sent, with their
//! protocol (`tcp:127.0.0.1:8080`, `udp:[::1]:53`) — seen by the session cgroup's hooks, or at
//! the syscall for a socket created outside the session cgroup — and UNIX connects and
//! datagrams (`unix:/run/x.sock`, `unix:<work>/sock`, `unix:@name`). Since v3 a destination is named (`tcp:service.example:443`)
//! when a name was earned for its address in the same run: a DNS answer from the host's
//! resolver to a query the run sent (a ClientHello's server name never names an address;
//! `assay_evidence::surface::names` has the rule).
//! `network_local` holds local addresses: requested binds (`bind:udp:0.0.0.0:5353`; port 0 asks
//! for any) and listening sockets (`listen:tcp:127.0.0.1:8080`), UNIX ones too (`bind:unix:<work>/s`). `process_execs` holds executed
//! files (a memfd executed through its descriptor as `memfd:NAME`).
//!
//! Vocabulary since v1 (normalized entries; `assay_evidence::surface::normalize` has the rules): `<tmp>` is
//! the run's private temp dir; `DIR/<transient>` stands for paths the run created under `DIR`
//! that were gone at its end; `ROOT/**` for a collapsed tree; `<random>` for the random part of
//! a well-known temp name; `<name>` for a proof's own redaction. Sensitive paths are never
//! normalized.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.capability_surface.v3";

/// The set-valued categories, in file order (also the keys of `filtered_noise` in health).
pub const CATEGORIES: [&str; 7] = [
    "filesystem_paths",
    "filesystem_writes",
    "network_endpoints",
    "network_local",
    "process_execs",
    "mcp_tools",
    "policy_decisions",
];

/// `capability-surface.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilitySurface {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The run this belongs to.
    pub run_id: String,
    /// Paths opened or changed.
    #[schemars(extend("uniqueItems" = true))]
    pub filesystem_paths: Vec<String>,
    /// Paths written, created, removed, renamed or linked.
    #[schemars(extend("uniqueItems" = true))]
    pub filesystem_writes: Vec<String>,
    /// Destinations: attempted connects and datagrams sent (`tcp:…`, `udp:…`, `unix:…`), by
    /// name where the run observed one for the address (`tcp:NAME:PORT`).
    #[schemars(extend("uniqueItems" = true))]
    pub network_endpoints: Vec<String>,
    /// Local addresses: `bind:PROTOCOL:ADDRESS:PORT`, `listen:PROTOCOL:ADDRESS:PORT`.
    #[schemars(extend("uniqueItems" = true))]
    pub network_local: Vec<String>,
    /// Executed files.
    #[schemars(extend("uniqueItems" = true))]
    pub process_execs: Vec<String>,
    /// MCP tools called (policy layer; empty in kernel mode).
    #[schemars(extend("uniqueItems" = true))]
    pub mcp_tools: Vec<String>,
    /// `allow:tool` / `deny:tool` (policy layer; empty in kernel mode).
    #[schemars(extend("uniqueItems" = true))]
    pub policy_decisions: Vec<String>,
}
