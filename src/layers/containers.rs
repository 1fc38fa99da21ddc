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
    /// When the run made legacy builds through the proxy: what a container the daemon made for
    /// a build step is (no create request names it; its cgroup has a container id's name).
    pub build: Option<Container>,
}

impl ContainerMap {
    /// The container a cgroup below the session's belongs to: a placed one by its id, else a
    /// build step's when the run built and the name is a container id (64 hex digits). Any
    /// other cgroup is the command's own making: its processes see the host's paths.
    pub fn of_cgroup(&self, name: &str) -> Option<&Container> {
        self.by_id.get(name).or_else(|| {
            let id =
                name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            self.build.as_ref().filter(|_| id)
        })
    }
}

/// The image a build step's container is shown with: `<build:TAG>` for one build with a tag,
/// else `<build>`.
pub fn build_image(tags_of_builds: &[Vec<String>]) -> String {
    match tags_of_builds {
        [tags] if !tags.is_empty() => format!("<build:{}>", tags[0]),
        _ => "<build>".into(),
    }
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

    #[test]
    fn a_build_steps_container_is_known_by_its_id_shaped_name_only_when_the_run_built() {
        let id = "a".repeat(64);
        let mut map = ContainerMap::default();
        assert!(
            map.of_cgroup(&id).is_none(),
            "no build: a cgroup of the command's own"
        );
        map.build = Some(Container {
            image: build_image(&[vec!["t:1".into()]]),
            ..Default::default()
        });
        assert_eq!(map.of_cgroup(&id).unwrap().image, "<build:t:1>");
        assert!(map.of_cgroup("my-own-cgroup").is_none());
        assert!(map.of_cgroup(&"A".repeat(64)).is_none());
        assert!(map.of_cgroup(&"a".repeat(63)).is_none());
        map.by_id.insert(id.clone(), container());
        assert_eq!(map.of_cgroup(&id).unwrap().image, "assay-busybox:1");
        assert_eq!(build_image(&[vec![], vec!["x".into()]]), "<build>");
        assert_eq!(build_image(&[vec![]]), "<build>");
    }
}
