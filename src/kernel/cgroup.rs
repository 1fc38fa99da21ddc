//! Session cgroups on cgroup v2: find the mount, create a fresh session cgroup under a domain
//! cgroup of the runner (`<cgroup2>/assay-runner/run-<owner pid>-<owner start>-<n>`), kill and
//! remove it, and clean up sessions whose owner died (a `SIGKILL`ed runner).
//! Imports: nothing from this crate.

use std::fs::File;
use std::io::Write as _;
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
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A session cgroup owned by this runner.
#[derive(Debug)]
pub struct SessionCgroup {
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
                    return Ok(SessionCgroup { dir, id, procs });
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

    /// Kills every process in the cgroup (`cgroup.kill`, with a per-pid fallback).
    pub fn kill(&self) {
        kill_dir(&self.dir);
    }

    /// Kills what is left, waits until the cgroup is empty (up to `wait`) and removes it.
    pub fn remove(self, wait: Duration) -> Result<(), CgroupError> {
        remove_dir(&self.dir, wait)
    }
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

fn remove_dir(dir: &Path, wait: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + wait;
    loop {
        if populated(dir) {
            kill_dir(dir);
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(io("rmdir", dir)(e)),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
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
        if start_time(pid) == Some(start) {
            continue; // owner alive
        }
        let dir = e.path();
        let left = pids_of(&dir).len();
        match remove_dir(&dir, Duration::from_secs(2)) {
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
    fn start_time_of_self() {
        assert!(start_time(std::process::id()).is_some());
        assert_eq!(start_time(u32::MAX), None);
    }
}
