//! A per-run Docker Engine API proxy: the measured command gets `DOCKER_HOST=unix://<socket>`,
//! everything it asks is forwarded to the real daemon, and every container create (and legacy
//! build) is rewritten so the container's processes land under the session cgroup
//! (`HostConfig.CgroupParent`), where the kernel probes see them. What cannot be placed (a
//! systemd cgroup driver, BuildKit, swarm, plugins, work in containers the run did not create,
//! file work and network work the daemon does itself) goes through and is flagged; what could move work out
//! of the session on purpose (a start with a body or an old API version, an update to a
//! restarting policy) is refused with 403.
//!
//! Requests come from the measured command: untrusted. Heads are bounded
//! ([`http::MAX_HEAD`], [`http::MAX_HEADERS`]), rewritten bodies too ([`http::MAX_BODY`]),
//! connections too ([`server::MAX_CONNECTIONS`]); malformed input is a 4xx answer and the end
//! of that connection, never a panic. Request bodies are never logged or recorded beyond the
//! few fields the [`Report`] names (never `Env`).
//!
//! Layout: `http` (framing), `chunked` (chunked coding), `route` (paths and queries), `buildlog`
//! (what a build's answer says the daemon fetched), `rewrite`
//! (the create body), `binds` (the daemon socket's identities), `upstream` (the proxy's own
//! requests), `conn` (one connection), `server` ([`Proxy`]), `report` ([`Report`]), `fuzzing`.
//! Every rule follows a behaviour measured on dockerd 20.10 (the containers spike, section 0).
//! Imports nothing of the crate outside `docker`.

pub mod binds;
pub mod buildlog;
pub mod chunked;
mod conn;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod http;
pub mod report;
pub mod rewrite;
pub mod route;
pub mod server;
pub mod upstream;

use std::path::PathBuf;

use thiserror::Error;

pub use report::{Build, DaemonInfo, Flag, FlagCode, Mount, Placement, Report};
pub use server::Proxy;
pub use upstream::UpstreamError;

/// What to serve, and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The socket to create. Its directory must exist; the path must not (nothing is
    /// replaced). UTF-8 without `:` (it is written into `Binds` entries).
    pub listen: PathBuf,
    /// The real daemon's socket, e.g. `/var/run/docker.sock`.
    pub upstream: PathBuf,
    /// Absolute cgroup path for containers, e.g. `/assay-runner/run-123`: the session
    /// cgroup's path relative to the cgroup2 mount (a relative one would resolve against
    /// containerd's own cgroup, differently per hierarchy).
    pub cgroup_parent: String,
    /// uid/gid to own the socket (mode 0660), when the command runs as another user.
    pub owner: Option<(u32, u32)>,
}

impl ProxyConfig {
    fn validate(&self) -> Result<(), ProxyError> {
        let bad = |why: &str| Err(ProxyError::Config(why.to_string()));
        let p = &self.cgroup_parent;
        if !p.starts_with('/') || p.contains('\0') || p.split('/').any(|s| s == "..") {
            return bad("cgroup_parent must be an absolute cgroup path without '..'");
        }
        match self.listen.to_str() {
            Some(s) if !s.contains(':') && s.starts_with('/') => Ok(()),
            _ => bad("listen must be an absolute UTF-8 path without ':'"),
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("docker proxy configuration: {0}")]
    Config(String),
    #[error("probing the Docker daemon (GET /info): {0}")]
    Probe(#[source] UpstreamError),
    #[error("{0} already exists; the proxy creates its socket itself")]
    Exists(PathBuf),
    #[error("binding the proxy socket {path}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting the mode or owner of the proxy socket {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the proxy's accept thread: {0}")]
    Spawn(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, parent: &str) -> ProxyConfig {
        ProxyConfig {
            listen: listen.into(),
            upstream: "/nonexistent/docker.sock".into(),
            cgroup_parent: parent.into(),
            owner: None,
        }
    }

    #[test]
    fn configs_are_checked_before_anything_starts() {
        assert!(cfg("/tmp/p.sock", "/assay/run-1").validate().is_ok());
        for (l, p) in [
            ("/tmp/p.sock", "assay/run-1"),
            ("/tmp/p.sock", "/assay/../x"),
            ("/tmp/p.sock", ""),
            ("/tmp/a:b.sock", "/assay"),
            ("rel.sock", "/assay"),
        ] {
            assert!(
                matches!(cfg(l, p).validate(), Err(ProxyError::Config(_))),
                "{l} {p}"
            );
        }
    }

    #[test]
    fn a_missing_daemon_fails_the_start_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = ProxyConfig {
            listen: dir.path().join("p.sock"),
            ..cfg("/x", "/assay")
        };
        let e = Proxy::start(c).err().unwrap();
        assert!(matches!(e, ProxyError::Probe(_)), "{e}");
        assert!(e.to_string().contains("/nonexistent/docker.sock"), "{e}");
        assert!(!dir.path().join("p.sock").exists());
    }
}
