//! Who holds a UNIX socket address: the processes with a socket bound to it, from the kernel's
//! tables (`/proc/net/unix`: every UNIX socket of the runner's network namespace, its bound
//! address and its inode) and each process's descriptors (`/proc/PID/fd/N` →
//! `socket:[INODE]`). A daemon's socket is recognised by the program listening on it, wherever
//! the daemon put it. Read when the run is projected (daemons outlive the run).
//!
//! `/proc/net/unix` prints an address's bytes as they are, newlines included: a process can
//! bind an address that reads as more lines. Every line naming the address counts, so such a
//! line can add sockets to an address but never hide the real one's.
//! Imports `pathbytes` only.

use std::collections::BTreeSet;
use std::path::Path;

/// The programs that listen on a daemon's socket and run work for whoever connects, by file
/// name, with what to call them in a note. A name ending in `*` matches any continuation.
pub const DAEMONS: &[(&str, &str)] = &[
    ("dockerd", "the Docker daemon"),
    ("containerd", "containerd"),
    (
        "containerd-shim*",
        "a containerd shim (it runs processes in its container)",
    ),
    ("buildkitd", "a BuildKit daemon"),
    ("podman", "a Podman service"),
    ("conmon", "Podman's container monitor"),
    ("crio", "CRI-O"),
    ("libvirtd", "libvirt (it starts machines)"),
    ("virtqemud", "libvirt (it starts machines)"),
];

/// Most addresses looked up in one run: each lookup reads every process's descriptors.
pub const MAX_LOOKUPS: usize = 64;

/// What a program is called in a note, when it is one of [`DAEMONS`].
pub fn daemon_named(program: &str) -> Option<&'static str> {
    DAEMONS
        .iter()
        .find(|(name, _)| match name.strip_suffix('*') {
            Some(prefix) => program.starts_with(prefix),
            None => program == *name,
        })
        .map(|d| d.1)
}

/// The inodes of the sockets bound to `addr` (escaped as [`crate::pathbytes::escape`] does; an
/// abstract address starts with `@`), from the text of `/proc/net/unix`.
pub fn inodes_bound_to(table: &[u8], addr: &str) -> BTreeSet<u64> {
    table
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            // Num RefCount Protocol Flags Type St Inode Path: seven fields, then the address
            let mut rest = line;
            let mut fields = Vec::with_capacity(7);
            for _ in 0..7 {
                let start = rest.iter().position(|&b| b != b' ')?;
                rest = &rest[start..];
                let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                fields.push(&rest[..end]);
                rest = &rest[end..];
            }
            let path = rest.strip_prefix(b" ")?;
            let inode = std::str::from_utf8(fields[6]).ok()?.parse().ok()?;
            (crate::pathbytes::escape(path) == addr).then_some(inode)
        })
        .collect()
}

/// The processes (pid, program file name) holding one of `inodes` open, from `proc`
/// (`/proc`).
pub fn holders(proc: &Path, inodes: &BTreeSet<u64>) -> Vec<(u32, String)> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if holds(&entry.path().join("fd"), inodes) {
            out.push((pid, program(&entry.path())));
        }
    }
    out
}

/// Whether a process's descriptor directory holds one of `inodes`.
fn holds(fd_dir: &Path, inodes: &BTreeSet<u64>) -> bool {
    let Ok(fds) = std::fs::read_dir(fd_dir) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| inodes.contains(&n))
        })
    })
}

/// A process's program: the file name of its executable (`exe`), else its `comm`.
fn program(pid_dir: &Path) -> String {
    if let Ok(exe) = std::fs::read_link(pid_dir.join("exe"))
        && let Some(name) = exe.file_name().and_then(|n| n.to_str())
    {
        return name.trim_end_matches(" (deleted)").to_string();
    }
    std::fs::read_to_string(pid_dir.join("comm"))
        .map(|c| c.trim_end().to_string())
        .unwrap_or_default()
}

/// The daemon of [`DAEMONS`] holding a socket bound to `addr` (a UNIX endpoint's address as the
/// kernel layer shows it), with its pid and program; `None` for an address of the run's own
/// (`<work>/…`, `<tmp>/…`, the proxy's) or one no daemon holds.
pub fn daemon_at(addr: &str) -> Option<(u32, String, &'static str)> {
    if addr.starts_with('<') {
        return None;
    }
    let table = std::fs::read("/proc/net/unix").ok()?;
    let inodes = inodes_bound_to(&table, addr);
    holders(Path::new("/proc"), &inodes)
        .into_iter()
        .find_map(|(pid, prog)| daemon_named(&prog).map(|d| (pid, prog, d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/containerd/containerd.sock\n\
0000000000000000: 00000003 00000000 00000000 0001 03 4243 /run/containerd/containerd.sock\n\
0000000000000000: 00000002 00000000 00010000 0001 01 77 /tmp/a b.sock\n\
0000000000000000: 00000002 00000000 00010000 0001 01 78 @/containerd-shim/x.sock\n\
0000000000000000: 00000002 00000000 00000000 0002 07 79\n\
0000000000000000: 00000002 00000000 00010000 0001 01 80 /tmp/evil\n\
0000000000000000: 00000002 00000000 00010000 0001 01 81 /run/containerd/containerd.sock\n";

    #[test]
    fn every_line_naming_the_address_counts() {
        let at = |a| inodes_bound_to(TABLE, a).into_iter().collect::<Vec<_>>();
        // the last line is a forged one (an address with a newline in it): it adds, never hides
        assert_eq!(at("/run/containerd/containerd.sock"), [81, 4242, 4243]);
        assert_eq!(at("/tmp/a b.sock"), [77]);
        assert_eq!(at("@/containerd-shim/x.sock"), [78]);
        assert!(at("/tmp/a").is_empty());
        assert!(inodes_bound_to(b"", "/x").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn an_appended_line_never_hides_a_socket(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96)) {
            let before = inodes_bound_to(TABLE, "/run/containerd/containerd.sock");
            let mut more = TABLE.to_vec();
            more.extend_from_slice(&line);
            more.push(b'\n');
            let after = inodes_bound_to(&more, "/run/containerd/containerd.sock");
            proptest::prop_assert!(after.is_superset(&before));
        }
    }

    #[test]
    fn daemons_are_named_by_their_program() {
        assert_eq!(daemon_named("containerd"), Some("containerd"));
        assert!(daemon_named("containerd-shim-runc-v2").is_some());
        assert!(daemon_named("dockerd").is_some());
        assert_eq!(daemon_named("containerd2"), None);
        assert_eq!(daemon_named("bash"), None);
    }

    #[test]
    fn the_holder_of_a_bound_socket_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sock");
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let table = std::fs::read("/proc/net/unix").unwrap();
        let addr = crate::pathbytes::escape(path.as_os_str().as_encoded_bytes());
        let inodes = inodes_bound_to(&table, &addr);
        assert_eq!(inodes.len(), 1, "{addr}");
        let me = std::process::id();
        let found = holders(Path::new("/proc"), &inodes);
        assert!(found.iter().any(|(pid, _)| *pid == me), "{found:?}");
        assert_eq!(daemon_at(&addr), None, "a test binary is no daemon");
        assert_eq!(daemon_at("<work>/x.sock"), None);
    }
}
