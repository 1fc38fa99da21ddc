//! Containers the run placed under its session (by the Docker API proxy), as the projection
//! needs them: a container's processes carry its cgroup's id, the `cgroup_mkdir` probe names
//! that cgroup by the container's id, and this map turns the paths its processes see (its own
//! mount namespace) into the host's.
//! Imports nothing of the crate.

use std::collections::HashMap;

/// One placed container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The image as the client named it.
    pub image: String,
    /// The pid of the process that created it (its processes are that process's children in
    /// the process tree).
    pub creator_pid: Option<u32>,
    /// (destination in the container, host source) of every mount with a host path.
    pub mounts: Vec<(String, String)>,
}

/// How the runner's Docker API proxy socket is shown: its path depends on the run id, and
/// the same command talks to the same proxy in every run.
pub const PROXY_SOCKET_SHOWN: &str = "<docker-api>";

/// Placed containers by id (the name of the cgroup the runtime made for each), and the
/// proxy's socket.
#[derive(Debug, Default, Clone)]
pub struct ContainerMap {
    pub by_id: HashMap<String, Container>,
    /// The proxy's socket, shown as [`PROXY_SOCKET_SHOWN`].
    pub proxy_socket: Option<Vec<u8>>,
}

impl Container {
    /// A container-namespace path as the host's: through the mount whose destination is its
    /// longest prefix, else `container:<image>:<path>` (the image's own filesystem, a tmpfs).
    /// The flag is true for a host path.
    pub fn host_path(&self, path: &[u8]) -> (Vec<u8>, bool) {
        let best = self
            .mounts
            .iter()
            .filter(|(dest, _)| under(path, dest.as_bytes()))
            .max_by_key(|(dest, _)| dest.len());
        match best {
            Some((dest, source)) => {
                let rest = &path[dest.trim_end_matches('/').len().min(path.len())..];
                let mut out = source.trim_end_matches('/').as_bytes().to_vec();
                out.extend_from_slice(rest);
                if out.is_empty() {
                    out.push(b'/');
                }
                (out, true)
            }
            None => {
                let mut out = format!("container:{}:", self.image).into_bytes();
                out.extend_from_slice(path);
                (out, false)
            }
        }
    }
}

/// Whether `path` is `dir` or below it.
fn under(path: &[u8], dir: &[u8]) -> bool {
    let dir = match dir.len() > 1 && dir.ends_with(b"/") {
        true => &dir[..dir.len() - 1],
        false => dir,
    };
    dir == b"/" || path == dir || (path.starts_with(dir) && path.get(dir.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Container {
        Container {
            image: "assay-busybox:1".into(),
            creator_pid: Some(7),
            mounts: vec![
                ("/data".into(), "/work/w".into()),
                ("/data/deep".into(), "/work/w/sub".into()),
                ("/host".into(), "/".into()),
            ],
        }
    }

    #[test]
    fn paths_map_through_the_longest_mount() {
        let c = container();
        let m = |s: &str| {
            let (v, ok) = c.host_path(s.as_bytes());
            (String::from_utf8(v).unwrap(), ok)
        };
        assert_eq!(m("/data/out.txt"), ("/work/w/out.txt".into(), true));
        assert_eq!(m("/data"), ("/work/w".into(), true));
        assert_eq!(m("/data/deep/x"), ("/work/w/sub/x".into(), true));
        assert_eq!(m("/host/etc/passwd"), ("/etc/passwd".into(), true));
        assert_eq!(m("/host"), ("/".into(), true));
        assert_eq!(
            m("/database"),
            ("container:assay-busybox:1:/database".into(), false)
        );
        assert_eq!(
            m("/etc/img-secret"),
            ("container:assay-busybox:1:/etc/img-secret".into(), false)
        );
    }
}
