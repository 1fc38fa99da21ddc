//! A private `/tmp` for the measured command: a new mount namespace (mounts private, so nothing
//! reaches the host) with a fresh tmpfs on `/tmp`. Set up between fork and exec, *before* the
//! child joins the session cgroup, so the mount calls are not the command's (they would count as
//! an unobserved mount channel) while the command's first instruction still runs inside the
//! cgroup. A work dir under `/tmp` is bound back at the same path (from the child's working
//! directory, which `unshare` carries into the new namespace), so absolute paths into it still
//! work. The tmpfs disappears with the last process of the namespace.
//! Imports: nothing from this crate.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where the private temp dir is mounted.
pub const MOUNT_POINT: &str = "/tmp";

/// Everything [`PrivateTmp::enter`] needs, prepared before the spawning thread enters it.
#[derive(Debug, Clone)]
pub struct PrivateTmp {
    target: CString,
    /// A work dir under `/tmp`: the directories to create in the tmpfs, outermost first (the
    /// last is the bind target).
    work: Option<Vec<CString>>,
}

fn cstr(b: &[u8]) -> std::io::Result<CString> {
    CString::new(b).map_err(|_| std::io::Error::other("path contains a NUL byte"))
}

impl PrivateTmp {
    /// Prepares the mounts for a command whose work dir is `work_dir`.
    pub fn prepare(work_dir: &Path) -> std::io::Result<PrivateTmp> {
        let work = std::fs::canonicalize(work_dir)?;
        let mut bind = None;
        if let Ok(rest) = work.strip_prefix(MOUNT_POINT)
            && !rest.as_os_str().is_empty()
        {
            let mut dirs = Vec::new();
            let mut d = std::path::PathBuf::from(MOUNT_POINT);
            for c in rest.components() {
                d.push(c);
                dirs.push(cstr(d.as_os_str().as_bytes())?);
            }
            bind = Some(dirs);
        }
        Ok(PrivateTmp {
            target: cstr(MOUNT_POINT.as_bytes())?,
            work: bind,
        })
    }

    /// Enters a new mount namespace with a fresh tmpfs on `/tmp`. Only for the child between
    /// fork and exec, after it changed into the work dir: it makes raw syscalls on prepared
    /// buffers and allocates nothing.
    pub fn enter(&self) -> std::io::Result<()> {
        let err = std::io::Error::last_os_error;
        // SAFETY: unshare and mount take NUL-terminated strings that live in `self` for the
        // whole call; null pointers are allowed where passed. No memory is shared with others.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(err());
            }
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(err());
            }
            if libc::mount(
                c"tmpfs".as_ptr(),
                self.target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=1777".as_ptr().cast(),
            ) != 0
            {
                return Err(err());
            }
            if let Some(dirs) = &self.work {
                for d in dirs {
                    if libc::mkdir(d.as_ptr(), 0o755) != 0
                        && *libc::__errno_location() != libc::EEXIST
                    {
                        return Err(err());
                    }
                }
                let Some(target) = dirs.last() else {
                    return Ok(());
                };
                // "." is the work dir under the covered /tmp (the working directory moved into
                // the new namespace with unshare); enter the bind so the two are one.
                if libc::mount(
                    c".".as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) != 0
                    || libc::chdir(target.as_ptr()) != 0
                {
                    return Err(err());
                }
            }
        }
        Ok(())
    }
}
