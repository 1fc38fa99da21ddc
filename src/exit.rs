//! Process exit codes: the one table every command maps its outcome to (documented in README,
//! "Exit codes"). `run` and `mcp-wrap` otherwise pass on the measured command's own status
//! ([`of_end`]).

use crate::kernel::session::End;

/// What a command's outcome means to its caller; [`Exit::code`] is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success: the command did what was asked and found nothing wrong.
    Ok,
    /// A check failed: self-test failure, invalid bundle (`verify`), surface changed (`diff`),
    /// proof failed (`prove`).
    Failed,
    /// Usage, configuration or I/O error: the command could not do its job.
    Error,
    /// `prove`: no proof failed, but at least one was inconclusive (observation not clean).
    Inconclusive,
    /// `run`: the observation (eBPF programs, session cgroup) could not be started; nothing ran.
    ObservationFailed,
    /// `run`: `--timeout` expired and the session was killed.
    Timeout,
    /// `run`: the runner itself failed after the command started.
    RunnerError,
    /// `run`: the command was found but could not be executed.
    CannotExec,
    /// `run`: the command was not found.
    NotFound,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
            Exit::Inconclusive => 4,
            Exit::ObservationFailed => 120,
            Exit::Timeout => 124,
            Exit::RunnerError => 125,
            Exit::CannotExec => 126,
            Exit::NotFound => 127,
        }
    }
}

/// The runner's exit code for a measured command's end: its own status, 128 + the signal that
/// killed it, or the runner's code for a timeout or a spawn that failed.
pub fn of_end(end: &End) -> i32 {
    match end {
        End::Exited(c) => *c,
        End::Signaled(s) | End::Interrupted(s) => 128 + s,
        End::Timeout => Exit::Timeout.code(),
        End::SpawnFailed {
            not_found: true, ..
        } => Exit::NotFound.code(),
        End::SpawnFailed { .. } => Exit::CannotExec.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_match_the_readme_table() {
        let all = [
            (Exit::Ok, 0),
            (Exit::Failed, 1),
            (Exit::Error, 2),
            (Exit::Inconclusive, 4),
            (Exit::ObservationFailed, 120),
            (Exit::Timeout, 124),
            (Exit::RunnerError, 125),
            (Exit::CannotExec, 126),
            (Exit::NotFound, 127),
        ];
        for (e, code) in all {
            assert_eq!(e.code(), code, "{e:?}");
        }
    }
}
