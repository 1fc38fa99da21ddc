//! Containers are part of the run: the Docker API proxy as the session's [`Companion`], what
//! the projection needs to show a container's work as the host's ([`ContainerMap`]), and the
//! health notes for what could not be placed or went around the proxy.
//!
//! The measured command gets `DOCKER_HOST=unix://<socket>` of a proxy the runner serves; every
//! container it creates there is placed under the session cgroup, where the probes see its
//! processes (their events carry the container's cgroup id, named by the `cgroup_mkdir`
//! probe). A command that talks to a daemon's socket itself is seen doing so (a UNIX connect
//! the kernel resolved) and the health says `daemon-bypass`.
//! Imports: `docker`, `kernel::session`, `contracts::health`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _};
use std::path::{Path, PathBuf};

use crate::contracts::health::{NoteCode, note};
use crate::docker::{Placement, Proxy, ProxyConfig, Report};
use crate::kernel::session::Companion;
use crate::layers::containers::{Container, ContainerMap};

/// The daemon socket a client uses when `DOCKER_HOST` is unset.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Sockets of container and service daemons: a session process connecting to one of them
/// directly has work done outside the session. Matched on the kernel's path of the socket.
pub const DAEMON_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock.ttrpc",
    "/var/run/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
    "/run/buildkit/buildkitd.sock",
    "/run/podman/podman.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
];

/// Where a run's proxy would forward to: the daemon `DOCKER_HOST` names (a `unix://` one),
/// else the default socket when it exists. `Err` with why not, when `DOCKER_HOST` names one
/// the proxy cannot serve (`tcp://`, `ssh://`): then no proxy runs and the health says so.
pub fn upstream_of(env: &[(OsString, OsString)]) -> Result<Option<PathBuf>, String> {
    let host = env
        .iter()
        .find(|(k, _)| k == "DOCKER_HOST")
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .filter(|v| !v.is_empty());
    let path = match host {
        Some(h) => match h.strip_prefix("unix://") {
            Some(p) => PathBuf::from(p),
            None => return Err(format!("DOCKER_HOST={h} is not a unix:// socket")),
        },
        None => PathBuf::from(DEFAULT_SOCKET),
    };
    let is_socket = std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_socket());
    Ok(is_socket.then_some(path))
}

/// The directory of a run's proxy socket: this runner's own (runs with the same id may run at
/// once: each must reach its own proxy), short enough for a socket address. The surface
/// shows the socket by a fixed name (`layers::containers::PROXY_SOCKET_SHOWN`).
fn socket_dir(run_id: &str) -> PathBuf {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(run_id.as_bytes());
    let hex: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let pid = std::process::id();
    Path::new(crate::pipeline::LAYERS_ROOT).join(format!("docker-{pid}-{hex}"))
}

/// The proxy of one run, started by the session once the cgroup exists.
pub struct DockerCompanion {
    upstream: Result<Option<PathBuf>, String>,
    dir: PathBuf,
    owner: Option<(u32, u32)>,
    proxy: Option<Proxy>,
    failed: Option<String>,
}

impl DockerCompanion {
    /// A companion for `run_id` whose command has environment `env` and runs as `owner`.
    pub fn new(
        run_id: &str,
        env: &[(OsString, OsString)],
        owner: Option<(u32, u32)>,
    ) -> DockerCompanion {
        DockerCompanion {
            upstream: upstream_of(env),
            dir: socket_dir(run_id),
            owner,
            proxy: None,
            failed: None,
        }
    }

    fn serve(&mut self, upstream: &Path, cgroup: &str) -> Result<Proxy, String> {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(crate::pipeline::LAYERS_ROOT)
            .and_then(|()| {
                std::fs::DirBuilder::new()
                    .mode(if self.owner.is_some() { 0o711 } else { 0o700 })
                    .create(&self.dir)
            })
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        Proxy::start(ProxyConfig {
            listen: self.dir.join("docker.sock"),
            upstream: upstream.to_path_buf(),
            cgroup_parent: cgroup.to_string(),
            owner: self.owner,
        })
        .map_err(|e| e.to_string())
    }

    /// Stops the proxy (if it ran) and returns what it saw.
    pub fn finish(mut self) -> Containers {
        let report = self.proxy.take().map(Proxy::finish);
        let _ = std::fs::remove_dir_all(&self.dir);
        let (upstream, unproxied) = match self.upstream {
            Ok(u) => (u, None),
            Err(why) => (None, Some(why)),
        };
        Containers {
            socket: report.as_ref().map(|_| self.dir.join("docker.sock")),
            upstream,
            report,
            failed: self.failed.or(unproxied),
        }
    }
}

impl Companion for DockerCompanion {
    fn start(&mut self, cgroup: &str) -> Vec<(OsString, OsString)> {
        let Ok(Some(upstream)) = self.upstream.clone() else {
            return Vec::new();
        };
        match self.serve(&upstream, cgroup) {
            Ok(p) => {
                let host = format!("unix://{}", p.socket().display());
                self.proxy = Some(p);
                vec![("DOCKER_HOST".into(), host.into())]
            }
            Err(e) => {
                self.failed = Some(format!(
                    "the Docker API proxy for {} could not start: {e}",
                    upstream.display()
                ));
                Vec::new()
            }
        }
    }
}

/// What the projection needs of a placement.
fn container_of(p: &Placement) -> Container {
    Container {
        image: p.image.clone(),
        creator_pid: p.creator_pid,
        mounts: p
            .mounts
            .iter()
            .filter(|m| !m.source.is_empty() && m.kind != "tmpfs" && !docker_managed(m))
            .map(|m| (m.destination.clone(), m.source.clone()))
            .collect(),
    }
}

/// `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`: files the daemon makes for each
/// container (`<root>/containers/<id>/hosts`): the container's own, shown as in its image
/// (`container:IMAGE:/etc/hosts`), not by a path that changes with every container id.
fn docker_managed(m: &crate::docker::Mount) -> bool {
    let src = Path::new(&m.source);
    let file = src.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let id = src
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|f| f.to_str())
        .unwrap_or("");
    m.destination == format!("/etc/{file}")
        && matches!(file, "hosts" | "resolv.conf" | "hostname")
        && id.len() == 64
        && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pull is the daemon's network work for the run (a registry's address, its credentials):
/// no session process makes it, so the surface cannot show it, and the health says so.
fn pull_note(reference: &str) -> String {
    format!(
        "pull: {reference} (the daemon fetched the image over the network for the run; pulls are not in the surface)"
    )
}

/// What a run's containers were: the proxy's report, and the sockets involved.
#[derive(Debug, Default)]
pub struct Containers {
    /// The real daemon's socket the proxy forwarded to.
    pub upstream: Option<PathBuf>,
    /// The proxy's socket (the command's `DOCKER_HOST`).
    pub socket: Option<PathBuf>,
    pub report: Option<Report>,
    /// Why no proxy served a daemon that was there.
    pub failed: Option<String>,
}

impl Containers {
    /// The placed containers by id, for the projection.
    pub fn map(&self) -> ContainerMap {
        let placed = self.report.iter().flat_map(|r| r.placed.iter());
        let builds: Vec<Vec<String>> = self
            .report
            .iter()
            .flat_map(|r| r.builds.iter().map(|b| b.tags.clone()))
            .collect();
        ContainerMap {
            build: (!builds.is_empty()).then(|| Container {
                image: crate::layers::containers::build_image(&builds),
                ..Default::default()
            }),
            by_id: placed.map(|p| (p.id.clone(), container_of(p))).collect(),
            proxy_socket: self
                .socket
                .as_ref()
                .map(|s| s.as_os_str().as_encoded_bytes().to_vec()),
        }
    }

    /// The sockets a session process must not connect to directly, as the kernel shows them.
    pub fn daemon_sockets(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = DAEMON_SOCKETS.iter().map(|p| p.to_string()).collect();
        if let Some(u) = &self.upstream {
            s.insert(u.to_string_lossy().into_owned());
            if let Ok(c) = std::fs::canonicalize(u) {
                s.insert(c.to_string_lossy().into_owned());
            }
        }
        s
    }

    /// The health notes: what the proxy could not place, and why none ran.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(why) = &self.failed {
            out.push(note(
                NoteCode::ContainerUnplaced,
                format!("{why}; containers the command started are not observed"),
            ));
        }
        let Some(r) = &self.report else {
            return out;
        };
        for f in &r.flagged {
            out.push(note(
                NoteCode::ContainerUnplaced,
                format!("{}: {}", f.code, f.detail),
            ));
        }
        for reference in &r.pulls {
            out.push(note(NoteCode::ContainerUnplaced, pull_note(reference)));
        }
        if r.truncated > 0 {
            out.push(note(
                NoteCode::ContainerUnplaced,
                format!("{} more proxy record(s) were not kept", r.truncated),
            ));
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_follows_docker_host() {
        let env = |v: &str| vec![(OsString::from("DOCKER_HOST"), OsString::from(v))];
        assert!(upstream_of(&env("tcp://1.2.3.4:2375")).is_err());
        assert_eq!(upstream_of(&env("unix:///nonexistent/d.sock")), Ok(None));
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("d.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(
            upstream_of(&env(&format!("unix://{}", sock.display()))),
            Ok(Some(sock.clone()))
        );
    }

    #[test]
    fn every_flag_is_a_container_unplaced_note() {
        let c = Containers {
            report: Some(Report {
                flagged: vec![crate::docker::Flag {
                    code: crate::docker::FlagCode::BuildKit,
                    detail: "POST /session".into(),
                }],
                ..Report::default()
            }),
            ..Containers::default()
        };
        assert_eq!(
            c.notes(),
            ["container-unplaced: buildkit: POST /session".to_string()]
        );
        assert!(Containers::default().notes().is_empty());
    }

    #[test]
    fn every_pull_is_a_container_unplaced_note() {
        let c = Containers {
            report: Some(Report {
                pulls: vec!["busybox:1.36".into(), "registry.example/x@sha256:ab".into()],
                ..Report::default()
            }),
            ..Containers::default()
        };
        let n = c.notes();
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n[0].starts_with("container-unplaced: pull: busybox:1.36 (the daemon fetched"));
        assert!(n[1].starts_with("container-unplaced: pull: registry.example/x@sha256:ab ("));
    }
}
