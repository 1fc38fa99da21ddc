//! What the proxy saw: the [`Report`] returned by `Proxy::finish`, and the [`Recorder`] the
//! connection threads write it through. Everything in it comes from request heads, the
//! daemon's answers, and the few create-body fields it names (never `Env` or other body
//! values). Flags, pulls and builds are bounded ([`MAX_ENTRIES`] each); what goes past is
//! counted in `truncated`.
//! Imports nothing of the crate.

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most flags, pulls or builds kept; the rest are counted.
pub const MAX_ENTRIES: usize = 4096;

/// What one run's proxy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Containers created through the proxy and placed under the cgroup parent, in creation
    /// order.
    pub placed: Vec<Placement>,
    /// Work let through but not placed, or refused, in the order it happened.
    pub flagged: Vec<Flag>,
    /// Image references pulled (`POST /images/create?fromImage=&tag=`), as given; sorted,
    /// deduplicated.
    pub pulls: Vec<String>,
    /// Legacy builds placed under the cgroup parent; sorted.
    pub builds: Vec<Build>,
    /// HTTP requests seen (parsed heads, refused ones included).
    pub requests: u64,
    /// Flags, pulls and builds not kept because [`MAX_ENTRIES`] was reached.
    pub truncated: u64,
}

/// A container created through the proxy and placed under the cgroup parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Full container id.
    pub id: String,
    /// Its name without the leading `/`, when inspect gave one.
    pub name: Option<String>,
    /// `Config.Image` as the client gave it.
    pub image: String,
    /// The image id (`sha256:…`) from inspect.
    pub image_id: String,
    /// `SO_PEERCRED` pid of the connection that created it.
    pub creator_pid: Option<u32>,
    /// Its mounts from inspect right after create, plus `/etc/hosts`, `/etc/resolv.conf` and
    /// `/etc/hostname` with their host files.
    pub mounts: Vec<Mount>,
    /// `<cgroup_parent>/<id>` (the cgroupfs driver's leaf).
    pub cgroup_leaf: String,
}

/// One mount of a placed container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, …, as inspect says (`bind` for the three files docker
    /// manages).
    pub kind: String,
    /// Host path (empty for tmpfs).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    pub rw: bool,
}

/// Something the proxy let through but could not place, or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub code: FlagCode,
    /// What it was, in one line (route, container, image; never body values).
    pub detail: String,
}

/// Why a flag was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlagCode {
    /// The daemon's cgroup driver is not cgroupfs: creates and builds went through unmodified.
    UnsupportedDriver,
    /// A BuildKit build or session: its steps run outside the session (Engine 20.10 ignores
    /// `cgroupparent` there).
    BuildKit,
    /// Work started in a container this run did not create (start, restart, unpause, kill,
    /// exec, attach): it runs in that container's cgroup.
    ForeignContainer,
    /// A changing swarm request (services, tasks, nodes, secrets, configs).
    Swarm,
    /// A changing managed-plugin request.
    Plugin,
    /// Files the daemon itself writes or reads (archive upload, commit, export, image load,
    /// import).
    DaemonFileWork,
    /// Refused: a request that could move work out of the session (a start with a body or
    /// an API version below 1.24, an update to a restarting policy).
    Refused,
    /// A bind of a directory holding the daemon socket: the container can reach the real
    /// daemon.
    SocketExposed,
    /// A create the daemon accepted whose container the proxy could not inspect.
    Unrecorded,
    /// The daemon's own network work for the run, which no session process makes: a push, a
    /// registry login, an image search or lookup, a build's remote context, base-image pull
    /// or `ADD` of a URL, a container's output sent by a network log driver, a volume whose
    /// driver mounts what the daemon is told to (NFS, CIFS, a plugin's).
    DaemonNetwork,
    /// A container created able to reach past its image and mounts (privileged, the host's or
    /// another container's pid, ipc or user namespace, a capability that mounts or reads any
    /// file, devices, a runtime other than runc): what it reaches would be named as its image's
    /// files.
    HostReach,
}

impl FlagCode {
    /// Stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagCode::UnsupportedDriver => "unsupported-driver",
            FlagCode::BuildKit => "buildkit",
            FlagCode::ForeignContainer => "foreign-container",
            FlagCode::Swarm => "swarm",
            FlagCode::Plugin => "plugin",
            FlagCode::DaemonFileWork => "daemon-file-work",
            FlagCode::Refused => "refused",
            FlagCode::SocketExposed => "socket-exposed",
            FlagCode::Unrecorded => "unrecorded",
            FlagCode::DaemonNetwork => "daemon-network",
            FlagCode::HostReach => "host-reach",
        }
    }
}

impl fmt::Display for FlagCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A legacy build placed under the cgroup parent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Build {
    /// Its `t=` tags, sorted (may be empty).
    pub tags: Vec<String>,
}

/// What the daemon's `GET /info` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    /// `CgroupDriver`: `cgroupfs`, `systemd`, …
    pub cgroup_driver: String,
    /// `CgroupVersion`: `1` or `2`.
    pub cgroup_version: String,
    /// `ServerVersion`, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// `DockerRootDir`: where the daemon keeps containers' files.
    pub root_dir: String,
    /// `LoggingDriver`: the log driver of a container that names none.
    pub logging_driver: String,
}

impl DaemonInfo {
    /// Whether the proxy can place containers (`CgroupParent` is a cgroupfs path).
    pub fn places(&self) -> bool {
        self.cgroup_driver == "cgroupfs"
    }
}

/// The report under construction, shared by the connection threads.
#[derive(Debug, Default)]
pub struct Recorder {
    report: Mutex<Report>,
    /// Ids of every container created through the proxy (placed or not).
    created: Mutex<HashSet<String>>,
    requests: AtomicU64,
}

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Report) -> T) -> T {
        // a poisoned lock only means a connection thread panicked; the report is still whole
        let mut r = self.report.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r)
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn flag(&self, code: FlagCode, detail: impl Into<String>) {
        let detail = detail.into();
        self.with(|r| {
            if r.flagged.len() < MAX_ENTRIES {
                r.flagged.push(Flag { code, detail });
            } else {
                r.truncated += 1;
            }
        });
    }

    pub fn pull(&self, reference: String) {
        self.with(|r| {
            if r.pulls.len() < MAX_ENTRIES {
                r.pulls.push(reference);
            } else {
                r.truncated += 1;
            }
        });
    }

    pub fn build(&self, mut tags: Vec<String>) {
        tags.sort();
        self.with(|r| {
            if r.builds.len() < MAX_ENTRIES {
                r.builds.push(Build { tags });
            } else {
                r.truncated += 1;
            }
        });
    }

    /// Notes a container id the daemon created through the proxy.
    pub fn created(&self, id: &str) {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
    }

    pub fn placed(&self, p: Placement) {
        self.created(&p.id);
        self.with(|r| r.placed.push(p));
    }

    /// Whether this run created the container with this full id.
    pub fn is_ours(&self, id: &str) -> bool {
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// The finished report: pulls and builds sorted (pulls deduplicated).
    pub fn report(&self) -> Report {
        let mut r = self.with(|r| r.clone());
        r.requests = self.requests.load(Ordering::Relaxed);
        r.pulls.sort();
        r.pulls.dedup();
        r.builds.sort();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_bounded_and_sorted() {
        let r = Recorder::default();
        for i in 0..MAX_ENTRIES + 3 {
            r.flag(FlagCode::Swarm, format!("{i}"));
        }
        r.pull("b:1".into());
        r.pull("a:1".into());
        r.pull("b:1".into());
        r.build(vec!["z".into(), "y".into()]);
        r.build(vec![]);
        r.request();
        let rep = r.report();
        assert_eq!(rep.flagged.len(), MAX_ENTRIES);
        assert_eq!(rep.truncated, 3);
        assert_eq!(rep.pulls, ["a:1", "b:1"]);
        assert_eq!(
            rep.builds,
            [
                Build { tags: vec![] },
                Build {
                    tags: vec!["y".into(), "z".into()]
                }
            ]
        );
        assert_eq!(rep.requests, 1);
    }

    #[test]
    fn codes_are_unique() {
        let all = [
            FlagCode::UnsupportedDriver,
            FlagCode::BuildKit,
            FlagCode::ForeignContainer,
            FlagCode::Swarm,
            FlagCode::Plugin,
            FlagCode::DaemonFileWork,
            FlagCode::Refused,
            FlagCode::SocketExposed,
            FlagCode::Unrecorded,
        ];
        let names: HashSet<_> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
    }
}
