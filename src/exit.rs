//! Process exit codes: the one table every command maps its outcome to (documented in README).

/// Success: the command did what was asked and found nothing wrong.
pub const OK: i32 = 0;
/// A check failed: self-test failure, invalid bundle (`verify`), surface changed (`diff`),
/// proof failed (`prove`).
pub const FAILED: i32 = 1;
/// Usage, configuration or I/O error: the command could not do its job.
pub const ERROR: i32 = 2;
/// `run`: the observation (eBPF programs, session cgroup) could not be started; nothing ran.
pub const OBSERVATION_FAILED: i32 = 120;
/// `run`: `--timeout` expired and the session was killed.
pub const TIMEOUT: i32 = 124;
/// `run`: the runner itself failed after the command started.
pub const RUNNER_ERROR: i32 = 125;
/// `run`: the command was found but could not be executed.
pub const CANNOT_EXEC: i32 = 126;
/// `run`: the command was not found.
pub const NOT_FOUND: i32 = 127;
/// `prove`: no proof failed, but at least one was inconclusive (observation not clean).
pub const INCONCLUSIVE: i32 = 4;
