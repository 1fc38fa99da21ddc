//! The run lifecycle: start observation, create the session cgroup, start the command inside it
//! before its first instruction (`spawn`: clone3 into the cgroup), wait for it and its descendants (grace period, then
//! `cgroup.kill`), honour `--timeout` and SIGINT/SIGTERM, then drain the ring and read the exact
//! counters. Produces a [`RunRecord`]; what it means is decided later (layers, health).
//! Imports: `crate::{bpf, cgroup, event}`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::bpf::{BpfError, Counters, Observer, ReadResult, Stop};
use super::cgroup::{self, CgroupError, SessionCgroup};
use super::spawn::Status;
use super::spill::RawSpill;
use assay_contracts::health::{NoteCode, note};

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub argv: Vec<OsString>,
    pub work_dir: PathBuf,
    pub ring_bytes: u32,
    pub wakeup_bytes: u64,
    pub grace: Duration,
    pub timeout: Option<Duration>,
    /// Run the command as this (uid, gid) instead of root.
    pub user: Option<(u32, u32)>,
    /// The command's whole environment; `None` inherits the runner's.
    pub env: Option<Vec<(OsString, OsString)>>,
    /// Start the command in a new session (no controlling terminal) with stdin from
    /// `/dev/null`, so what it touches does not depend on whether the caller has a terminal
    /// (bash opens `/dev/tty` when it has one). Proofs always detach.
    pub detach: bool,
    /// Where the command's stdout and stderr go.
    pub output: Output,
    /// Give the command a private `/tmp` (a fresh tmpfs in its own mount namespace; see
    /// `privtmp`). Proofs always do.
    pub private_tmp: bool,
}

/// Where the measured command's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The runner's own (the terminal, or a CI log).
    Inherit,
    /// `/dev/null` (`doctor`'s probe run).
    Null,
    /// A file the runner creates (truncated, mode 0600): nothing the command writes reaches the
    /// runner's stdout or stderr, where in CI it could speak for the runner (workflow commands).
    File(PathBuf),
}

impl Output {
    fn open(&self) -> std::io::Result<Option<std::fs::File>> {
        use std::os::unix::fs::OpenOptionsExt as _;
        match self {
            Output::Inherit => Ok(None),
            Output::Null => std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .map(Some),
            Output::File(p) => std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(p)
                .map(Some),
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Exited(i32),
    Signaled(i32),
    Timeout,
    Interrupted(i32),
    SpawnFailed { not_found: bool, why: String },
}

/// Everything the kernel side recorded about one run.
#[derive(Debug)]
pub struct RunRecord {
    /// The raw records, in bounded memory (`kernel::spill`).
    pub events: RawSpill,
    pub received: u64,
    pub parse_errors: u64,
    /// Records received but lost because the spill file could not be written, and why.
    pub spill_lost: u64,
    pub spill_error: Option<String>,
    pub counters: Counters,
    pub root_pid: Option<u32>,
    pub end: End,
    pub grace_kills: u64,
    pub escaped_kills: u64,
    pub attach_failures: Vec<String>,
    /// `code: prose` notes about the lifecycle (grace kill, timeout, signal, runner failures).
    pub notes: Vec<String>,
    /// Notes about the machine's past that are not this run's (stale sessions of dead runners
    /// cleaned up): diagnostic only, never in canonical health.
    pub host_notes: Vec<String>,
    /// The runner failed after the command started (a `runner-failed` note says how): the
    /// run exits 125 with what was kept.
    pub runner_failed: bool,
    pub started_unix_ms: u64,
    pub duration: Duration,
}

/// Observation could not start: nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("observation could not start: {0}")]
    Bpf(#[from] BpfError),
    #[error("observation could not start: {0}")]
    Cgroup(#[from] CgroupError),
    #[error("observation could not start: cannot start the ring-buffer reader: {0}")]
    Reader(String),
    #[error("observation could not start: cannot prepare the private /tmp: {0}")]
    PrivateTmp(String),
    #[error("observation could not start: cannot open the command's output file: {0}")]
    Output(String),
}

static INTERRUPT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPT.store(sig, Ordering::SeqCst);
}

/// Installs SIGINT/SIGTERM handlers that make a running session end as `Interrupted`.
pub fn install_interrupt_handlers() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs an atomic store, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &act) };
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; its exit event was already emitted.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s.get(i + 2..i + 3))
            .is_some_and(|st| st != "Z"),
        Err(_) => false,
    }
}

/// Live processes followed by pid tree that are no longer in the session cgroup.
fn escaped_alive(observer: &Observer, in_cgroup: &[u32]) -> Vec<u32> {
    observer
        .tracked_pids()
        .into_iter()
        .filter(|p| !in_cgroup.contains(p) && alive(*p))
        .collect()
}

fn kill_pid(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGKILL,
    );
}

/// What the session loop sleeps on between its checks: the child's pidfd (readable once it has
/// ended) and the session cgroup's `cgroup.events` (`POLLPRI` when `populated` changes), so an
/// exit is seen when it happens, not at the next tick. The tick still bounds every wait:
/// signals, `--timeout` and escaped processes have no fd of their own.
struct Wakeups {
    pidfd: Option<std::os::fd::OwnedFd>,
    events: Option<std::fs::File>,
}

impl Wakeups {
    const TICK_MS: u16 = 5;

    /// Sleeps until an fd is ready or a tick has passed; true if an fd woke it.
    fn wait(&mut self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileExt;
        let mut fds = Vec::with_capacity(2);
        if let Some(p) = &self.pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        if let Some(e) = &self.events {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLPRI));
        }
        if fds.is_empty() {
            std::thread::sleep(Duration::from_millis(Self::TICK_MS.into()));
            return false;
        }
        let woken = poll(&mut fds, PollTimeout::from(Self::TICK_MS)).is_ok_and(|n| n > 0);
        if let Some(e) = &self.events {
            // reading re-arms the notification; the content is read where it is needed
            let mut buf = [0u8; 128];
            let _ = e.read_at(&mut buf, 0);
        }
        woken
    }
}

/// The command's environment (`base`, or the runner's own) with `extra` replacing the same
/// keys, sorted.
fn with_env(
    base: Option<&[(OsString, OsString)]>,
    extra: Vec<(OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = match base {
        Some(b) => b.to_vec(),
        None => std::env::vars_os().collect(),
    };
    env.retain(|(k, _)| !extra.iter().any(|(x, _)| x == k));
    env.extend(extra);
    env.sort();
    env
}

/// What serves the command for the session's life beside the runner (the Docker API proxy,
/// which places containers under the session cgroup). Started once the session cgroup exists
/// and is observed, before the command; it is stopped by its owner after [`run_with`] returns.
pub trait Companion {
    /// `cgroup` is the session cgroup's path in the cgroup2 hierarchy (e.g.
    /// `/assay-runner/run-1-2-0`). Returns environment for the command, replacing the same
    /// keys of its own. A companion that cannot start says so in its own report.
    fn start(&mut self, cgroup: &str) -> Vec<(OsString, OsString)>;
}

/// Runs `spec` observed. Errors only when observation could not start.
pub fn run(spec: &RunSpec) -> Result<RunRecord, SessionError> {
    run_with(spec, None)
}

/// [`run`], with a [`Companion`] started before the command.
pub fn run_with(
    spec: &RunSpec,
    companion: Option<&mut dyn Companion>,
) -> Result<RunRecord, SessionError> {
    let root = cgroup::cgroup2_root()?;
    let host_notes = cgroup::clean_stale(&root);

    let cg = SessionCgroup::create(&root)?;
    // From here on, a runner that dies takes the session with it.
    let reaper = match cgroup::Reaper::spawn(cg.dir()) {
        Ok(r) => r,
        Err(e) => {
            let _ = cg.remove(Duration::from_secs(1));
            return Err(e.into());
        }
    };
    let result = match Observer::start(spec.ring_bytes, spec.wakeup_bytes, cg.id(), cg.level(&root))
    {
        Ok(mut observer) => run_in(spec, &mut observer, &cg, host_notes, companion),
        Err(e) => Err(e.into()),
    };
    let path = cg.hierarchy_path();
    let remove = cg.remove(Duration::from_secs(5));
    drop(reaper);
    let v1_left = cgroup::remove_v1_leftovers(&path);
    let mut rec = result?;
    if let Err(e) = remove {
        rec.notes
            .push(note(NoteCode::CgroupRemoveFailed, e.to_string()));
    }
    if !v1_left.is_empty() {
        rec.notes.push(note(
            NoteCode::CgroupRemoveFailed,
            format!("cgroup v1 directories left: {}", v1_left.join(", ")),
        ));
    }
    Ok(rec)
}

fn run_in(
    spec: &RunSpec,
    observer: &mut Observer,
    cg: &SessionCgroup,
    host_notes: Vec<String>,
    companion: Option<&mut dyn Companion>,
) -> Result<RunRecord, SessionError> {
    let mut notes = Vec::new();
    let private_tmp = match spec.private_tmp {
        true => Some(
            super::privtmp::PrivateTmp::prepare(&spec.work_dir)
                .map_err(|e| SessionError::PrivateTmp(e.to_string()))?,
        ),
        false => None,
    };
    observer.attach_cgroup(cg.dir())?;
    let stop = Arc::new(Stop::new().map_err(|e| SessionError::Reader(e.to_string()))?);
    let reader = Reader {
        handle: Some(observer.spawn_reader(stop.clone(), 50)?),
        stop,
    };

    let started_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut wake = Wakeups {
        pidfd: None,
        events: cg.events_file(),
    };
    let t0 = Instant::now();
    let spawned = start(spec, cg, private_tmp.as_ref(), companion)?;

    let mut kills = Kills::default();
    let mut root_pid = None;
    let end = match spawned {
        Err(e) => End::SpawnFailed {
            not_found: e.kind() == std::io::ErrorKind::NotFound,
            why: format!("{}: {e}", spec.argv[0].to_string_lossy()),
        },
        Ok(mut child) => {
            root_pid = Some(child.id());
            wake.pidfd = child.pidfd();
            let watch = Watch {
                spec,
                observer,
                cg,
                t0,
            };
            watch.until_end(&mut child, &mut wake, &mut kills, &mut notes)
        }
    };
    empty_session(observer, cg, &mut wake, &mut notes);
    let duration = t0.elapsed();
    let (read, counters, runner_failures) = collect(observer, reader);
    notes.extend(runner_failures.iter().cloned());
    Ok(RunRecord {
        events: read.events,
        received: read.received,
        parse_errors: read.parse_errors,
        spill_lost: read.spill_lost,
        spill_error: read.spill_error,
        counters,
        root_pid,
        end,
        runner_failed: !runner_failures.is_empty(),
        grace_kills: kills.grace,
        escaped_kills: kills.escaped,
        attach_failures: observer.attach_failures.clone(),
        notes,
        host_notes,
        started_unix_ms,
        duration,
    })
}

/// Starts the command in the session cgroup, with what the companion adds to its environment.
/// The outer error is the runner's (the output could not be opened); the inner, the spawn's.
fn start(
    spec: &RunSpec,
    cg: &SessionCgroup,
    private_tmp: Option<&super::privtmp::PrivateTmp>,
    companion: Option<&mut dyn Companion>,
) -> Result<std::io::Result<super::spawn::Child>, SessionError> {
    let output = spec
        .output
        .open()
        .map_err(|e| SessionError::Output(e.to_string()))?;
    let env = match companion {
        None => spec.env.clone(),
        Some(c) => Some(with_env(spec.env.as_deref(), c.start(&cg.hierarchy_path()))),
    };
    let launch = super::spawn::Spawn {
        argv: &spec.argv,
        env: env.as_deref(),
        dir: &spec.work_dir,
        user: spec.user,
        detach: spec.detach,
        output: output.as_ref(),
        private_tmp,
    };
    Ok(std::fs::File::open(cg.dir())
        .and_then(|dir| super::spawn::spawn(&launch, &dir, cg.procs_file())))
}

/// Processes killed because they outlived the command by the grace period.
#[derive(Default)]
struct Kills {
    /// In the session cgroup.
    grace: u64,
    /// Escaped from it (tracked by the probes).
    escaped: u64,
}

/// What watching the command needs: the run's limits, the observer and the session cgroup.
struct Watch<'a> {
    spec: &'a RunSpec,
    observer: &'a Observer,
    cg: &'a SessionCgroup,
    t0: Instant,
}

impl Watch<'_> {
    /// Waits for the run to end: the runner interrupted, the timeout, or the command exited
    /// and its session emptied (whatever outlives it by the grace period is killed).
    fn until_end(
        &self,
        child: &mut super::spawn::Child,
        wake: &mut Wakeups,
        kills: &mut Kills,
        notes: &mut Vec<String>,
    ) -> End {
        let (spec, cg) = (self.spec, self.cg);
        let mut child_end: Option<End> = None;
        let mut lingering_since: Option<Instant> = None;
        loop {
            let sig = INTERRUPT.load(Ordering::SeqCst);
            if sig != 0 {
                notes.push(note(
                    NoteCode::RunInterrupted,
                    format!("the runner received signal {sig}; the session was killed and this bundle is partial"),
                ));
                cg.kill();
                let _ = child.wait();
                return End::Interrupted(sig);
            }
            if spec.timeout.is_some_and(|t| self.t0.elapsed() >= t) {
                notes.push(note(
                    NoteCode::RunTimeout,
                    format!(
                        "--timeout {}s expired; the session was killed",
                        spec.timeout.unwrap_or_default().as_secs_f64()
                    ),
                ));
                cg.kill();
                let _ = child.wait();
                return End::Timeout;
            }
            if child_end.is_none()
                && let Ok(Some(st)) = child.try_wait()
            {
                child_end = Some(match st {
                    Status::Exited(c) => End::Exited(c),
                    Status::Signaled(s) => End::Signaled(s),
                });
            }
            if let Some(e) = &child_end {
                wake.pidfd = None; // reaped: its pidfd would stay readable
                let since = *lingering_since.get_or_insert_with(Instant::now);
                if self.settled(since, kills, notes) {
                    return e.clone();
                }
            }
            wake.wait();
        }
    }

    /// After the command exited: true once its session is empty, or once the grace period
    /// since `since` has passed and what was left is killed (counted in `kills`, with a note).
    fn settled(&self, since: Instant, kills: &mut Kills, notes: &mut Vec<String>) -> bool {
        let in_cg = self.cg.pids();
        let escaped = escaped_alive(self.observer, &in_cg);
        if in_cg.is_empty() && !self.cg.populated() && escaped.is_empty() {
            return true;
        }
        if since.elapsed() < self.spec.grace {
            return false;
        }
        kills.grace = in_cg.len() as u64;
        kills.escaped = escaped.len() as u64;
        self.cg.kill();
        escaped.iter().for_each(|&p| kill_pid(p));
        notes.push(note(
            NoteCode::GraceKill,
            format!(
                "{} process(es) in the session cgroup and {} escaped process(es) were still running {} ms after the command exited and were killed",
                kills.grace,
                kills.escaped,
                self.spec.grace.as_millis()
            ),
        ));
        true
    }
}

/// Kills whatever is left of the session and waits (at most 5 s) until it is gone. Everything
/// must be dead before the counters are final: the exit tracepoint fires before a process
/// leaves its cgroup, so an empty cgroup means every exit event has been emitted.
fn empty_session(
    observer: &Observer,
    cg: &SessionCgroup,
    wake: &mut Wakeups,
    notes: &mut Vec<String>,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let in_cg = cg.pids();
        let escaped = escaped_alive(observer, &in_cg);
        if !cg.populated() && escaped.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            notes.push(note(
                NoteCode::CgroupNotEmpty,
                "processes survived cgroup.kill for 5 s",
            ));
            return;
        }
        cg.kill();
        escaped.iter().for_each(|&p| kill_pid(p));
        wake.wait();
    }
}

/// The staged events flushed, the ring drained and the exact counters read. From here on the
/// command has run: a failure keeps what was received and is returned as a `runner-failed`
/// note (the run then exits 125, never "nothing was run").
fn collect(observer: &mut Observer, reader: Reader) -> (ReadResult, Counters, Vec<String>) {
    let mut runner_failures = Vec::new();
    let mut fail = |what: &str, e: &dyn std::fmt::Display| {
        runner_failures.push(note(NoteCode::RunnerFailed, format!("{what}: {e}")));
    };
    if let Err(e) = injected_fault("flush").map_or_else(|| observer.flush_staged(), Err) {
        fail(
            "the per-CPU stages could not be flushed; events they held are missing",
            &e,
        );
    }
    let read = match reader.finish() {
        Ok(r) if injected_fault("reader").is_none() => r,
        Ok(_) => {
            fail("the ring-buffer reader failed", &"injected fault");
            ReadResult::default()
        }
        Err(e) => {
            fail("the ring-buffer reader failed; no event was kept", &e);
            ReadResult::default()
        }
    };
    let counters = match injected_fault("counters").map_or_else(|| observer.counters(), Err) {
        Ok(c) => c,
        Err(e) => {
            fail("the exact counters could not be read", &e);
            Counters::default()
        }
    };
    (read, counters, runner_failures)
}

/// The ring reader thread, told to stop and joined on every path: by [`Reader::finish`], or
/// when the session unwinds before it (an early return, a panic), by `Drop`.
struct Reader {
    stop: Arc<Stop>,
    handle: Option<std::thread::JoinHandle<ReadResult>>,
}

impl Reader {
    fn finish(mut self) -> Result<ReadResult, &'static str> {
        self.stop.set();
        match self.handle.take() {
            Some(h) => h.join().map_err(|_| "the reader thread panicked"),
            None => Err("the reader thread was already gone"),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.set();
            let _ = h.join();
        }
    }
}

/// Fault injection for the tests of the after-start failure paths (debug builds only):
/// `ASSAY_RUNNER_INJECT_FAULT=flush|reader|counters` makes that step fail.
fn injected_fault(point: &str) -> Option<BpfError> {
    if cfg!(debug_assertions)
        && std::env::var("ASSAY_RUNNER_INJECT_FAULT").is_ok_and(|v| v == point)
    {
        return Some(BpfError::Injected(point.to_string()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Wakeups;
    use crate::spawn::pidfd_open;

    fn pidfd(pid: u32) -> std::os::fd::OwnedFd {
        pidfd_open(pid).expect("pidfd_open")
    }

    fn zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
            .unwrap_or(false)
    }

    #[test]
    fn an_ended_child_wakes_the_wait_and_a_running_one_does_not() {
        let mut running = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut w = Wakeups {
            pidfd: Some(pidfd(running.id())),
            events: None,
        };
        assert!(!w.wait(), "a running child's pidfd is not readable");
        running.kill().unwrap();
        running.wait().unwrap();

        let mut ended = std::process::Command::new("true").spawn().unwrap();
        let fd = pidfd(ended.id());
        while !zombie(ended.id()) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut w = Wakeups {
            pidfd: Some(fd),
            events: None,
        };
        assert!(w.wait(), "an ended (unreaped) child's pidfd wakes the wait");
        ended.wait().unwrap();
        w.pidfd = None;
        assert!(!w.wait(), "with nothing to watch, the wait is one tick");
    }
}
