//! Is a bind source the daemon's socket? A container given the real socket could create
//! containers outside the session, so the create rewrite points such binds at the proxy. A
//! source is the socket when it names it (the upstream path, `/var/run/docker.sock`,
//! `/run/docker.sock`, lexically or through symlinks) or is the same inode (a hard link);
//! a directory that holds the socket only exposes it (reported, not rewritten).
//! Imports `docker::rewrite::SocketBind`.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::rewrite::SocketBind;

/// The daemon socket's identities, taken once at proxy start.
#[derive(Debug, Clone)]
pub struct DaemonSocket {
    /// Lexical and canonical paths of the socket.
    paths: Vec<PathBuf>,
    /// `(st_dev, st_ino)` of the socket.
    inodes: Vec<(u64, u64)>,
}

impl DaemonSocket {
    /// The upstream socket plus the two default daemon socket paths.
    pub fn new(upstream: &Path) -> DaemonSocket {
        let mut paths = Vec::new();
        let mut inodes = Vec::new();
        for p in [
            upstream,
            Path::new("/var/run/docker.sock"),
            Path::new("/run/docker.sock"),
        ] {
            paths.push(normalize(p));
            if let Ok(c) = std::fs::canonicalize(p) {
                paths.push(c);
            }
            if let Ok(m) = std::fs::metadata(p) {
                inodes.push((m.dev(), m.ino()));
            }
        }
        paths.sort();
        paths.dedup();
        inodes.sort();
        inodes.dedup();
        DaemonSocket { paths, inodes }
    }

    /// What an (absolute) bind source is; relative ones are volume names.
    pub fn classify(&self, source: &str) -> SocketBind {
        if !source.starts_with('/') {
            return SocketBind::Other;
        }
        let lexical = normalize(Path::new(source));
        let canonical = std::fs::canonicalize(source).ok();
        let is_socket = self.paths.contains(&lexical)
            || canonical.as_ref().is_some_and(|c| self.paths.contains(c))
            || std::fs::metadata(source).is_ok_and(|m| self.inodes.contains(&(m.dev(), m.ino())));
        if is_socket {
            return SocketBind::Daemon;
        }
        let holds = |dir: &Path| self.paths.iter().any(|p| p.starts_with(dir) && p != dir);
        if holds(&lexical) || canonical.as_deref().is_some_and(holds) {
            SocketBind::Exposes
        } else {
            SocketBind::Other
        }
    }
}

/// `.` and `..` and repeated slashes resolved lexically (no symlinks followed).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn socket_paths_links_and_parents_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let _l = UnixListener::bind(&sock).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(&sock, dir.path().join("sym")).unwrap();
        std::fs::hard_link(&sock, dir.path().join("sub/hard")).unwrap();
        let d = DaemonSocket::new(&sock);
        let s = |p: &Path| d.classify(p.to_str().unwrap());
        assert_eq!(s(&sock), SocketBind::Daemon);
        assert_eq!(s(&dir.path().join("sym")), SocketBind::Daemon);
        assert_eq!(s(&dir.path().join("sub/hard")), SocketBind::Daemon);
        assert_eq!(s(&dir.path().join("sub/../d.sock")), SocketBind::Daemon);
        assert_eq!(s(dir.path()), SocketBind::Exposes);
        assert_eq!(s(&dir.path().join("sub")), SocketBind::Other);
        assert_eq!(d.classify("/"), SocketBind::Exposes);
        assert_eq!(d.classify("/var/run/docker.sock"), SocketBind::Daemon);
        assert_eq!(d.classify("//var/run/./docker.sock"), SocketBind::Daemon);
        assert_eq!(d.classify("/var/run"), SocketBind::Exposes);
        assert_eq!(d.classify("/nonexistent/x"), SocketBind::Other);
        assert_eq!(d.classify("docker.sock"), SocketBind::Other);
    }
}
