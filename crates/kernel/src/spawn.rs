//! Starting the command inside the session cgroup.
//!
//! `clone3(CLONE_INTO_CGROUP)` creates the child directly in the session cgroup, so its first
//! instruction runs there without a migration (writing `cgroup.procs` waits for an RCU grace
//! period, ~6 ms on this kind of host). A kernel without clone3 or `CLONE_INTO_CGROUP` (before
//! 5.7) gets `fork` and the child writes `0` to `cgroup.procs` before anything else.
//!
//! Between clone and exec the child runs only async-signal-safe system calls on data prepared
//! before the clone (the runner has other threads): stdio, gid/groups/uid, a search check of
//! the working directory (set by the spawning thread, see [`spawn`]), every descriptor above
//! stdio marked close-on-exec (nothing the runner's caller opened reaches the command), signal
//! mask and SIGPIPE
//! reset, `setsid`, `PR_SET_PDEATHSIG` (after the uid change, which
//! clears it), then `execvp` with the prepared environment — the steps and order of
//! `std::process::Command`. An exec failure reaches the parent through a close-on-exec pipe.
//! Imports: nothing from this crate.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `CLONE_INTO_CGROUP` (linux/sched.h).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What the child needs.
#[derive(Debug)]
pub struct Spawn<'a> {
    pub argv: &'a [OsString],
    /// The whole environment; `None` inherits the runner's.
    pub env: Option<&'a [(OsString, OsString)]>,
    pub dir: &'a Path,
    pub user: Option<(u32, u32)>,
    /// New session, stdin from `/dev/null`.
    pub detach: bool,
    /// Where stdout and stderr go: `None` inherits the runner's; else this file (opened by
    /// the runner: `/dev/null`, or a capture file).
    pub output: Option<&'a std::fs::File>,
    /// A private `/tmp`, mounted by the spawning thread in a mount namespace of its own before
    /// the clone: the child inherits it, and the mounts are the runner's, outside the session.
    pub private_tmp: Option<&'a super::privtmp::PrivateTmp>,
}

/// How the child was placed in the cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Created in the cgroup by `clone3(CLONE_INTO_CGROUP)`.
    Clone3,
    /// Forked, then wrote itself into `cgroup.procs` before exec.
    ProcsWrite,
}

/// A started child, reaped with [`Child::try_wait`] / [`Child::wait`].
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pub placement: Placement,
    _keeper: Keeper,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Everything the child touches, prepared before the clone.
struct Prepared {
    prog: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
    dir: CString,
    /// stdin of a detached child.
    devnull: Option<OwnedFd>,
    /// stdout and stderr, when not inherited.
    output: Option<OwnedFd>,
}

fn prepare(s: &Spawn) -> io::Result<Prepared> {
    let argv: Vec<CString> = s
        .argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<io::Result<_>>()?;
    let prog = argv
        .first()
        .cloned()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let env: Vec<(OsString, OsString)> = match s.env {
        Some(e) => e.to_vec(),
        None => std::env::vars_os().collect(),
    };
    let envp: Vec<CString> = env
        .iter()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            cstr(&b)
        })
        .collect::<io::Result<_>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let devnull = if s.detach {
        Some(OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?,
        ))
    } else {
        None
    };
    let output = s
        .output
        .map(|f| f.try_clone().map(OwnedFd::from))
        .transpose()?;
    Ok(Prepared {
        prog,
        _argv: argv,
        argv_ptrs,
        _envp: envp,
        envp_ptrs,
        dir: cstr(s.dir.as_os_str().as_bytes())?,
        devnull,
        output,
    })
}

unsafe extern "C" {
    static mut environ: *const *const libc::c_char;
}

/// The child side: only raw system calls on prepared data. Never returns.
///
/// # Safety
/// Must run in a freshly cloned child of this process, before anything else.
unsafe fn child(p: &Prepared, s: &Owned, procs_fd: Option<i32>, report: i32) -> ! {
    // SAFETY (whole body): every call is an async-signal-safe system call wrapper on fds and
    // NUL-terminated buffers prepared before the clone; nothing allocates or takes a lock.
    unsafe {
        let fail = |report: i32| -> ! {
            let e = *libc::__errno_location();
            libc::write(report, (&e as *const i32).cast(), 4);
            libc::_exit(127)
        };
        if let Some(fd) = procs_fd
            && libc::write(fd, b"0".as_ptr().cast(), 1) != 1
        {
            fail(report);
        }
        if let Some(n) = &p.devnull
            && libc::dup2(n.as_raw_fd(), 0) < 0
        {
            fail(report);
        }
        if let Some(o) = &p.output {
            let o = o.as_raw_fd();
            if libc::dup2(o, 1) < 0 || libc::dup2(o, 2) < 0 {
                fail(report);
            }
        }
        // Every descriptor above stdio closes at exec: a file the runner's caller opened and
        // passed down would be written without an open the session made (the report pipe is
        // close-on-exec already). CLOSE_RANGE_CLOEXEC needs Linux 5.11; the probes need 5.17.
        if libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        ) != 0
        {
            fail(report);
        }
        // Raw system calls: glibc's setuid/setgid/setgroups signal every thread it believes
        // exists (setxid), and after a raw clone it still believes in the parent's threads.
        if let Some((uid, gid)) = s.user {
            if libc::syscall(libc::SYS_setgid, gid as libc::c_long) != 0 {
                fail(report);
            }
            if libc::getuid() == 0
                && libc::syscall(
                    libc::SYS_setgroups,
                    0 as libc::c_long,
                    std::ptr::null::<libc::gid_t>(),
                ) != 0
            {
                fail(report);
            }
            if libc::syscall(libc::SYS_setuid, uid as libc::c_long) != 0 {
                fail(report);
            }
        }
        // The working directory was set by the spawning thread (a chdir here, inside the
        // session, would be observed); a user must still be able to search it.
        if s.user.is_some() && libc::access(c".".as_ptr(), libc::X_OK) != 0 {
            fail(report);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            fail(report);
        }
        if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR {
            fail(report);
        }
        if s.detach && libc::setsid() < 0 {
            fail(report);
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            fail(report);
        }
        environ = p.envp_ptrs.as_ptr();
        libc::execvp(p.prog.as_ptr(), p.argv_ptrs.as_ptr());
        fail(report)
    }
}

/// Starts `s` inside the cgroup whose directory is `cgroup_dir` (`procs` is its open
/// `cgroup.procs`, used only by the fork fallback). An exec failure is an error with the
/// child's errno (`NotFound` for ENOENT), like `std::process::Command::spawn`.
///
/// The clone is made by a dedicated thread that first takes its own working directory
/// (`unshare(CLONE_FS)`, `chdir`), so the child starts in the work dir without a `chdir` of its
/// own inside the session. That thread lives as long as the [`Child`]: `PR_SET_PDEATHSIG`
/// fires when the creating *thread* exits.
pub fn spawn(s: &Spawn, cgroup_dir: &std::fs::File, procs: &std::fs::File) -> io::Result<Child> {
    let p = prepare(s)?;
    let (tx, rx) = std::sync::mpsc::channel::<io::Result<(libc::pid_t, Placement)>>();
    let (hold, released) = std::sync::mpsc::channel::<()>();
    let cg = cgroup_dir.as_raw_fd();
    let pr = procs.as_raw_fd();
    let spec = Owned {
        user: s.user,
        detach: s.detach,
        private_tmp: s.private_tmp.cloned(),
    };
    let keeper = std::thread::Builder::new()
        .name("assay-spawn".into())
        .spawn(move || {
            let _ = tx.send(clone_child(&p, &spec, cg, pr));
            // Keep this thread (the child's parent for PR_SET_PDEATHSIG) until the run ends.
            let _ = released.recv();
        })?;
    let r = rx
        .recv()
        .map_err(|_| io::Error::other("the spawning thread ended early"));
    let keeper = Keeper {
        hold: Some(hold),
        thread: Some(keeper),
    };
    let (pid, placement) = r??;
    Ok(Child {
        pid,
        placement,
        _keeper: keeper,
    })
}

/// The parts of [`Spawn`] the spawning thread and the child read, owned by that thread.
#[derive(Debug, Clone)]
struct Owned {
    user: Option<(u32, u32)>,
    detach: bool,
    private_tmp: Option<super::privtmp::PrivateTmp>,
}

/// Ends the spawning thread when the child handle goes.
#[derive(Debug)]
struct Keeper {
    hold: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.hold.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// SAFETY: the raw pointers in `Prepared` point into CStrings it owns; it moves to the spawning
// thread whole and is only read there.
unsafe impl Send for Prepared {}

fn clone_child(
    p: &Prepared,
    s: &Owned,
    cgroup_fd: i32,
    procs_fd: i32,
) -> io::Result<(libc::pid_t, Placement)> {
    // SAFETY: unshare(CLONE_FS) gives this thread its own cwd; chdir takes a NUL-terminated
    // path we own. Neither touches other threads.
    unsafe {
        if libc::unshare(libc::CLONE_FS) != 0 || libc::chdir(p.dir.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // This thread's own mount namespace (possible now that it has its own fs state): the child
    // inherits the private /tmp; the runner's other threads keep the host's mounts.
    if let Some(t) = &s.private_tmp {
        t.enter()?;
    }
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the two-element array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two fds to us; each is owned once.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // SAFETY: clone_args is plain data; all-zero is its documented default.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = libc::SIGCHLD as u64;
    args.cgroup = cgroup_fd as u64;
    // SAFETY: clone3 with a valid clone_args of the size we pass and no stack (fork semantics);
    // the child branch only runs `child`, which execs or exits.
    let mut pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    } as libc::pid_t;
    let mut placement = Placement::Clone3;
    if pid == 0 {
        // SAFETY: we are the fresh child.
        unsafe { child(p, s, None, wr.as_raw_fd()) }
    }
    if pid < 0 {
        let e = io::Error::last_os_error();
        if !matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EPERM)
        ) {
            return Err(e);
        }
        placement = Placement::ProcsWrite;
        // SAFETY: fork; the child branch only runs `child`, which execs or exits.
        pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: we are the fresh child.
            unsafe { child(p, s, Some(procs_fd), wr.as_raw_fd()) }
        }
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    drop(wr);
    let mut errno = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        // SAFETY: reads into the rest of our 4-byte buffer from the pipe we own.
        let n = unsafe { libc::read(rd.as_raw_fd(), errno[got..].as_mut_ptr().cast(), 4 - got) };
        if n == 0 {
            break;
        }
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        got += n as usize;
    }
    if got == 4 {
        let mut st = 0;
        // SAFETY: reaps our own child, which exits right after reporting.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
    }
    Ok((pid, placement))
}

/// A pidfd for `pid` (`pidfd_open(2)`): readable once the process has ended.
pub fn pidfd_open(pid: u32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; nothing is borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

impl Child {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    fn decode(st: i32) -> Status {
        if libc::WIFEXITED(st) {
            Status::Exited(libc::WEXITSTATUS(st))
        } else if libc::WIFSIGNALED(st) {
            Status::Signaled(libc::WTERMSIG(st))
        } else {
            Status::Exited(0)
        }
    }

    /// A pidfd for the child (readable once it has ended), or `None` where the kernel has no
    /// `pidfd_open` (Linux < 5.3): callers then fall back to their own tick.
    pub fn pidfd(&self) -> Option<std::os::fd::OwnedFd> {
        pidfd_open(self.pid as u32).ok()
    }

    /// The status if the child has ended (reaping it), else `None`.
    pub fn try_wait(&self) -> io::Result<Option<Status>> {
        let mut st = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        match r {
            0 => Ok(None),
            r if r < 0 => Err(io::Error::last_os_error()),
            _ => Ok(Some(Self::decode(st))),
        }
    }

    /// Waits for the child to end.
    pub fn wait(&self) -> io::Result<Status> {
        loop {
            let mut st = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut st, 0) };
            if r >= 0 {
                return Ok(Self::decode(st));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}
