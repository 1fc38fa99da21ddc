//! `assay.runner.run_event.v1` — one line of `events.ndjson` (diagnostic, not canonical):
//! run start (argv, environment **keys only**), each process with its raw pid and times, notes
//! about the machine rather than the run (a dead runner's session cleaned up), run end.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id.
pub const SCHEMA: &str = "assay.runner.run_event.v1";

/// One diagnostic run record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum RunRecord {
    /// The command started.
    RunStarted {
        /// Schema id.
        #[schemars(extend("const" = SCHEMA))]
        schema: String,
        /// Run id.
        run_id: String,
        /// Line number from 0.
        seq: u64,
        /// The command line (escaped).
        argv: Vec<String>,
        /// Environment variable names (values are never recorded), sorted.
        #[schemars(extend("uniqueItems" = true))]
        env_keys: Vec<String>,
        /// The work dir.
        work_dir: String,
        /// The uid the command ran as.
        uid: u32,
        /// Wall clock, ms since the Unix epoch.
        started_unix_ms: u64,
    },
    /// A process of the session.
    Process {
        /// Schema id.
        #[schemars(extend("const" = SCHEMA))]
        schema: String,
        /// Run id.
        run_id: String,
        /// Line number.
        seq: u64,
        /// Stable label (as in the kernel layer).
        label: String,
        /// Raw pid (init namespace).
        pid: u32,
        /// Raw parent pid, when known.
        ppid: Option<u32>,
        /// Last executed file.
        exec: Option<String>,
        /// Monotonic ns of the first event.
        first_ns: u64,
        /// Monotonic ns of the exit, when seen.
        exit_ns: Option<u64>,
    },
    /// A fact about the machine, not the run (`stale-cgroup-removed`, `stale-cgroup-failed`):
    /// kept out of canonical health so a crashed earlier run cannot change this run's evidence.
    HostNote {
        /// Schema id.
        #[schemars(extend("const" = SCHEMA))]
        schema: String,
        /// Run id.
        run_id: String,
        /// Line number.
        seq: u64,
        /// `code: prose`.
        #[schemars(extend("pattern" = "^stale-cgroup-(removed|failed): .+$"))]
        note: String,
    },
    /// The run ended.
    RunFinished {
        /// Schema id.
        #[schemars(extend("const" = SCHEMA))]
        schema: String,
        /// Run id.
        run_id: String,
        /// Line number.
        seq: u64,
        /// `exited`, `signaled`, `timeout`, `interrupted` or `spawn_failed`.
        #[schemars(extend("enum" = ["exited", "signaled", "timeout", "interrupted", "spawn_failed"]))]
        end: String,
        /// The command's exit status, when it exited.
        exit_code: Option<i32>,
        /// The signal that killed it, when it was killed.
        signal: Option<i32>,
        /// The runner's own exit code.
        runner_exit: i32,
        /// Wall time of the run in ms.
        duration_ms: u64,
        /// Peak RSS of the runner in KiB.
        runner_max_rss_kib: u64,
    },
}
