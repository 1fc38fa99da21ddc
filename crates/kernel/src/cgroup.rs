//! Session cgroups on cgroup v2: find the mount, create a fresh session cgroup under a domain
//! cgroup of the runner (`<cgroup2>/assay-runner/run-<owner pid>-<owner start>-<n>`), kill and
//! remove it, and clean up sessions whose owner died (a `SIGKILL`ed runner).
//! Imports: nothing from this crate.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Errors managing cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup2 mount in /proc/self/mountinfo (mount one: `mount -t cgroup2 none /sys/fs/cgroup/unified`)"
    )]
    NoCgroup2,
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The cgroup2 mount point from mountinfo text (`/sys/fs/cgroup` on pure v2 hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones). Mount points are octal-escaped by the kernel.
pub fn find_cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mount = pre.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_octal(mount)))
    })
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 mount of this host.
pub fn cgroup2_root() -> Result<PathBuf, CgroupError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io("read", Path::new("/proc/self/mountinfo")))?;
    find_cgroup2_mount(&text).ok_or(CgroupError::NoCgroup2)
}

/// Start time of a process (field 22 of /proc/PID/stat), to tell a live owner from a reused pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 2..)?;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the runner that owns a session (pid and start time) is still running: the pid
/// exists, is the same process (same start time) and is not a zombie (`Z`) or dead (`X`) — a
/// killed runner can linger as a zombie while its fds close.
pub fn owner_alive(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    owner_alive_in(&stat, start)
}

fn owner_alive_in(stat: &str, start: u64) -> bool {
    let Some(after) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return false;
    };
    let mut fields = after.split_whitespace();
    let state = fields.next().unwrap_or("X");
    let started = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    !matches!(state, "Z" | "X" | "x") && started == Some(start)
}

/// A session cgroup owned by this runner.
#[derive(Debug)]
pub struct SessionCgroup {
    /// The cgroup2 mount it was made under.
    root: PathBuf,
    dir: PathBuf,
    id: u64,
    procs: File,
}

impl SessionCgroup {
    /// Creates a fresh session cgroup under `<root>/assay-runner/`.
    pub fn create(root: &Path) -> Result<SessionCgroup, CgroupError> {
        let base = root.join("assay-runner");
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("mkdir", &base)(e)),
        }
        let me = std::process::id();
        let start = start_time(me).unwrap_or(0);
        for n in 0..1000 {
            let dir = base.join(format!("run-{me}-{start}-{n}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let id = std::fs::metadata(&dir).map_err(io("stat", &dir))?.ino();
                    let procs_path = dir.join("cgroup.procs");
                    let procs = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&procs_path)
                        .map_err(io("open", &procs_path))?;
                    return Ok(SessionCgroup {
                        root: root.to_path_buf(),
                        dir,
                        id,
                        procs,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io("mkdir", &dir)(e)),
            }
        }
        Err(io("mkdir", &base)(std::io::Error::other(
            "no free session name",
        )))
    }

    /// The cgroup id (inode of the directory), as `bpf_get_current_cgroup_id()` reports it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The open `cgroup.procs` (a child writes `0` to it before exec to join).
    pub fn procs_file(&self) -> &File {
        &self.procs
    }

    /// Pids in the cgroup now.
    pub fn pids(&self) -> Vec<u32> {
        pids_of(&self.dir)
    }

    /// Whether any process is in the cgroup (`populated 1` in `cgroup.events`).
    pub fn populated(&self) -> bool {
        populated(&self.dir)
    }

    /// `cgroup.events`, opened for reading and read once: it polls `POLLPRI` when `populated`
    /// changes, and until it is read again (a read re-arms it; a file never read polls ready).
    /// `None` if it cannot be opened.
    pub fn events_file(&self) -> Option<File> {
        use std::os::unix::fs::FileExt;
        let f = File::open(self.dir.join("cgroup.events")).ok()?;
        let _ = f.read_at(&mut [0u8; 128], 0);
        Some(f)
    }

    /// Kills every process in the cgroup (`cgroup.kill`, with a per-pid fallback).
    pub fn kill(&self) {
        kill_dir(&self.dir);
    }

    /// Kills what is left, waits until the cgroup is empty (up to `wait`) and removes it.
    pub fn remove(self, wait: Duration) -> Result<(), CgroupError> {
        remove_dir(&self.dir, wait)
    }

    /// The session cgroup's path in the cgroup2 hierarchy (`/assay-runner/run-…`, below the
    /// mount's own root when a sub-tree is mounted): what a container's `CgroupParent` names.
    pub fn hierarchy_path(&self) -> String {
        let mount_root = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|t| cgroup2_mount_root(&t))
            .unwrap_or_default();
        let below = self
            .dir
            .strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{}", mount_root.trim_end_matches('/'), below)
    }

    /// The session's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The session cgroup's level in the cgroup2 hierarchy (the root is 0): the components of
    /// the mount's own root within the hierarchy plus those of the directory below the mount.
    /// The probes accept a process of any cgroup below the session's by its ancestor at this
    /// level (containers the run creates are placed there).
    pub fn level(&self, root: &Path) -> u32 {
        let mount_root = std::fs::read_to_string("/proc/self/mountinfo")
            .ok()
            .and_then(|t| cgroup2_mount_root(&t))
            .unwrap_or_default();
        let below = self
            .dir
            .strip_prefix(root)
            .map(|p| p.components().count())
            .unwrap_or(0);
        let above = mount_root.split('/').filter(|c| !c.is_empty()).count();
        (above + below) as u32
    }
}

/// The root of the cgroup2 mount within the hierarchy (mountinfo's fourth field: `/` unless
/// a sub-tree is mounted).
pub fn cgroup2_mount_root(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        if post.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        Some(unescape_octal(pre.split_whitespace().nth(3)?))
    })
}

fn pids_of(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn populated(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join("cgroup.events")) {
        Ok(t) => t.lines().any(|l| l.trim() == "populated 1"),
        Err(_) => !pids_of(dir).is_empty(),
    }
}

fn kill_dir(dir: &Path) {
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
        .and_then(|mut f| f.write_all(b"1"))
        .is_ok();
    if !ok {
        for pid in pids_of(dir) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::SIGKILL,
            );
        }
    }
}

/// Kills what is in `dir` and removes it, the cgroups below it first (a container's, made by
/// its runtime under the session), waiting up to `wait` for the processes to go.
fn remove_dir(dir: &Path, wait: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + wait;
    loop {
        if populated(dir) {
            kill_dir(dir);
        }
        remove_below(dir, 0);
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(io("rmdir", dir)(e)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Removes the cgroups below `dir`, deepest first (best effort: one still populated stays and
/// its parent's removal reports it).
fn remove_below(dir: &Path, depth: u32) {
    if depth > 32 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let sub = e.path();
            remove_below(&sub, depth + 1);
            let _ = std::fs::remove_dir(&sub);
        }
    }
}

/// The cgroup v1 hierarchies' mount points (a hybrid host): where a container runtime using
/// the cgroupfs driver also makes the session's path, once per controller.
pub fn v1_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            if post.split_whitespace().next()? != "cgroup" {
                return None;
            }
            Some(PathBuf::from(unescape_octal(
                pre.split_whitespace().nth(4)?,
            )))
        })
        .collect()
}

/// Removes what a container runtime left of the session in the v1 hierarchies: the
/// directories of `hierarchy_path` (e.g. `/assay-runner/run-…`), deepest first, and the
/// `assay-runner` directory when it is empty. Their processes were the session's, killed
/// already. Returns the directories that could not be removed.
pub fn remove_v1_leftovers(hierarchy_path: &str) -> Vec<String> {
    let rel = hierarchy_path.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return Vec::new();
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut left = Vec::new();
    for m in v1_mounts(&info) {
        let dir = m.join(rel);
        if !dir.exists() {
            continue;
        }
        remove_below(&dir, 0);
        match std::fs::remove_dir(&dir) {
            Ok(()) => {
                if let Some(parent) = dir.parent().filter(|p| p.ends_with("assay-runner")) {
                    let _ = std::fs::remove_dir(parent);
                }
            }
            Err(e) => left.push(format!("{}: {e}", dir.display())),
        }
    }
    left
}

/// A process that takes the session with it when the runner dies, however it dies (SIGKILL,
/// the OOM killer, a cancelled job): it blocks on a pipe whose only writer is the runner; when
/// the runner's fds close it writes `cgroup.kill` and removes the session cgroup. Forked (not
/// exec'd) right after the session cgroup exists, it runs only async-signal-safe syscalls on
/// paths prepared before the fork, so it is safe in a multi-threaded runner. Dropping it (a
/// runner that ended normally and removed the cgroup itself) closes the pipe and reaps it.
#[derive(Debug)]
pub struct Reaper {
    guard: Option<std::os::fd::OwnedFd>,
    pid: nix::unistd::Pid,
}

impl Reaper {
    /// Starts the reaper for `dir`.
    pub fn spawn(dir: &Path) -> Result<Reaper, CgroupError> {
        use std::os::unix::ffi::OsStrExt;
        let cstr = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io("reaper", p)(std::io::Error::other("path contains a NUL byte")))
        };
        let dir_c = cstr(dir)?;
        let kill_c = cstr(&dir.join("cgroup.kill"))?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io("pipe", dir)(std::io::Error::from_raw_os_error(e as i32)))?;
        // SAFETY: the child runs only `reaper_child`, which makes async-signal-safe syscalls
        // (signal, close_range, read, open, write, close, rmdir, nanosleep, _exit) on buffers
        // prepared before the fork, and never returns.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                reaper_child(read.as_raw_fd(), &dir_c, &kill_c);
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop(read);
                Ok(Reaper {
                    guard: Some(write),
                    pid: child,
                })
            }
            Err(e) => Err(io("fork", dir)(std::io::Error::from_raw_os_error(e as i32))),
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        drop(self.guard.take());
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The reaper process's whole life (see [`Reaper`]). Never returns.
fn reaper_child(guard: std::os::fd::RawFd, dir: &std::ffi::CStr, kill: &std::ffi::CStr) -> ! {
    // SAFETY: every call below is an async-signal-safe syscall wrapper on fds and
    // NUL-terminated strings that stay valid for the child's life; nothing allocates.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(sig, libc::SIG_IGN);
        }
        // Hold no fd but the guard: not the runner's BPF links, pipes or terminal.
        let g = guard as libc::c_uint;
        if g > 0 {
            libc::syscall(
                libc::SYS_close_range,
                0 as libc::c_uint,
                g - 1,
                0 as libc::c_uint,
            );
        }
        libc::syscall(
            libc::SYS_close_range,
            g + 1,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
        let mut buf = [0u8; 64];
        loop {
            let n = libc::read(guard, buf.as_mut_ptr().cast(), buf.len());
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        // The runner is gone. Kill what is left and remove the cgroup (up to ~5 s).
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 5_000_000,
        };
        for _ in 0..1000 {
            let fd = libc::open(kill.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 && *libc::__errno_location() == libc::ENOENT {
                break; // removed already: the runner ended normally
            }
            if fd >= 0 {
                libc::write(fd, b"1".as_ptr().cast(), 1);
                libc::close(fd);
            }
            if libc::rmdir(dir.as_ptr()) == 0 || *libc::__errno_location() == libc::ENOENT {
                break;
            }
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        libc::_exit(0)
    }
}

/// Removes session cgroups under `<root>/assay-runner/` whose owning runner is gone.
/// Returns one `stale-cgroup-removed: ...` note per removed session.
pub fn clean_stale(root: &Path) -> Vec<String> {
    let base = root.join("assay-runner");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.strip_prefix("run-").unwrap_or("").split('-');
        let (Some(pid), Some(start)) = (
            parts.next().and_then(|p| p.parse::<u32>().ok()),
            parts.next().and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        if owner_alive(pid, start) {
            continue;
        }
        let dir = e.path();
        let left = pids_of(&dir).len();
        let removed = remove_dir(&dir, Duration::from_secs(2));
        let _ = remove_v1_leftovers(&format!("/assay-runner/{name}"));
        match removed {
            Ok(()) => notes.push(format!(
                "stale-cgroup-removed: removed session cgroup {name} of runner pid {pid} (no longer running), killing {left} leftover process(es)"
            )),
            Err(err) => notes.push(format!("stale-cgroup-failed: could not remove {name}: {err}")),
        }
    }
    notes.sort();
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hybrid_and_pure_v2_mounts() {
        let hybrid = "25 18 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                      26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n\
                      27 25 0:24 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(
            find_cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let pure = "30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            find_cgroup2_mount(pure),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let escaped = "30 1 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n";
        assert_eq!(
            find_cgroup2_mount(escaped),
            Some(PathBuf::from("/mnt/my cg"))
        );
        assert_eq!(find_cgroup2_mount("garbage\n- - -\n"), None);
    }

    #[test]
    fn zombie_or_reused_owners_are_gone() {
        let stat = |state: &str| {
            format!(
                "42 (assay (runner)) {state} 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0"
            )
        };
        assert!(owner_alive_in(&stat("S"), 777));
        assert!(owner_alive_in(&stat("R"), 777));
        assert!(!owner_alive_in(&stat("Z"), 777), "a zombie owner is gone");
        assert!(!owner_alive_in(&stat("X"), 777));
        assert!(
            !owner_alive_in(&stat("S"), 778),
            "a reused pid is another process"
        );
        assert!(!owner_alive_in("garbage", 777));
        let me = std::process::id();
        assert!(owner_alive(me, start_time(me).unwrap()));
    }

    #[test]
    fn reaper_exits_when_its_guard_closes_and_the_cgroup_is_gone() {
        let gone = Path::new("/nonexistent/assay-runner/run-0-0-0");
        let r = Reaper::spawn(gone).unwrap();
        let pid = r.pid;
        drop(r); // closes the guard, reaps the child: must not hang
        assert!(
            nix::sys::wait::waitpid(pid, None).is_err(),
            "already reaped"
        );
    }

    #[test]
    fn start_time_of_self() {
        assert!(start_time(std::process::id()).is_some());
        assert_eq!(start_time(u32::MAX), None);
    }
}
