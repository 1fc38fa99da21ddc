//! Daemons that run work for a process outside its session.
//!
//! A measured command can ask a daemon to run something: over the daemon's socket (D-Bus and
//! systemd's `StartTransientUnit`, as `systemd-run` does; a rootless container runtime), or by
//! writing where the daemon picks work up (the at and cron spools, systemd's unit directories).
//! What the daemon then runs is no descendant of the command and is in no session cgroup: no
//! probe of the run sees it. These channels are not observed, so using one makes the health not
//! clean (`daemon-bypass`, a blind spot) with a note naming the daemon. Container runtimes
//! reached around the run's Docker API proxy are [`crate::containers::DAEMON_SOCKETS`]; Podman,
//! which needs no daemon but places its containers with its own cgroup manager, is flagged when
//! the run executes it ([`RUNTIMES`]).
//!
//! The patterns are globs over the kernel layer's resolved paths (`*` stays within one path
//! component). A write is what the surface counts as one ([`crate::surface::touches`]). A UNIX
//! address that matches no pattern is still a daemon's when a program of
//! [`crate::listeners::DAEMONS`] holds a socket bound to it (a containerd shim's socket, a
//! daemon started with another socket path).

use std::sync::LazyLock;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::contracts::health::{NoteCode, note};
use crate::contracts::kernel_event::{KernelEvent, Kind};
use crate::layers::kernel::{KernelSink, Origin};
use crate::surface::Touch;

/// Sockets of daemons that run work on request, with what to call the daemon in a note.
pub const SOCKETS: &[(&str, &str)] = &[
    (
        "/run/dbus/system_bus_socket",
        "the D-Bus system bus (systemd-run, StartTransientUnit, bus-activated services)",
    ),
    (
        "/var/run/dbus/system_bus_socket",
        "the D-Bus system bus (systemd-run, StartTransientUnit, bus-activated services)",
    ),
    (
        "/run/systemd/private",
        "systemd's private socket (systemctl, systemd-run)",
    ),
    (
        "/run/user/*/bus",
        "a user's D-Bus session bus (systemd-run --user)",
    ),
    (
        "/run/user/*/systemd/private",
        "a user's systemd (systemd-run --user)",
    ),
    ("/run/user/*/docker.sock", "a rootless Docker daemon"),
    (
        "/run/user/*/podman/podman.sock",
        "a rootless Podman service",
    ),
    (
        "/run/user/*/containerd/containerd.sock",
        "a rootless containerd",
    ),
    (
        "/run/user/*/buildkit/buildkitd.sock",
        "a rootless BuildKit daemon",
    ),
];

/// Where daemons pick up work to run: a write there is a request.
pub const SPOOLS: &[(&str, &str)] = &[
    ("/var/spool/cron/**", "atd or cron (their spool)"),
    ("/var/spool/at/**", "atd (its spool)"),
    ("/var/spool/anacron/**", "anacron (its spool)"),
    ("/etc/crontab", "cron"),
    ("/etc/cron.d/**", "cron"),
    ("/etc/cron.hourly/**", "cron"),
    ("/etc/cron.daily/**", "cron"),
    ("/etc/cron.weekly/**", "cron"),
    ("/etc/cron.monthly/**", "cron"),
    ("/etc/systemd/system/**", "systemd (a unit file)"),
    ("/run/systemd/system/**", "systemd (a unit file)"),
    ("/run/systemd/transient/**", "systemd (a transient unit)"),
    ("/lib/systemd/system/**", "systemd (a unit file)"),
    ("/usr/lib/systemd/system/**", "systemd (a unit file)"),
];

/// Programs that start containers the runner cannot place, by file name.
pub const RUNTIMES: &[(&str, &str)] = &[
    (
        "podman",
        "Podman, whose containers its own cgroup manager places outside the session",
    ),
    (
        "buildah",
        "Buildah, whose build containers its own cgroup manager places outside the session",
    ),
    (
        "nerdctl",
        "nerdctl, which asks containerd to run containers outside the session",
    ),
];

/// A compiled table: which pattern a path matches, and the daemon it names.
struct Table {
    set: GlobSet,
    names: Vec<&'static str>,
}

impl Table {
    fn new(rows: &[(&str, &'static str)]) -> Table {
        let mut b = GlobSetBuilder::new();
        for (pattern, _) in rows {
            // The patterns are constants: a bad one is a bug the unit tests catch.
            if let Ok(g) = GlobBuilder::new(pattern).literal_separator(true).build() {
                b.add(g);
            }
        }
        Table {
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
            names: rows.iter().map(|r| r.1).collect(),
        }
    }

    fn find(&self, path: &str) -> Option<&'static str> {
        self.set
            .matches(path)
            .first()
            .and_then(|&i| self.names.get(i).copied())
    }
}

static SOCKET_TABLE: LazyLock<Table> = LazyLock::new(|| Table::new(SOCKETS));
static SPOOL_TABLE: LazyLock<Table> = LazyLock::new(|| Table::new(SPOOLS));

/// The daemon behind a socket path, when it is one that runs work on request.
pub fn socket(path: &str) -> Option<&'static str> {
    SOCKET_TABLE.find(path)
}

/// The daemon that runs work written to `path`, when it is a spool or unit directory.
pub fn spool(path: &str) -> Option<&'static str> {
    SPOOL_TABLE.find(path)
}

/// The container runtime an executed file is, by its file name.
pub fn runtime(exec: &str) -> Option<&'static str> {
    let name = exec.rsplit('/').next().unwrap_or(exec);
    RUNTIMES.iter().find(|r| r.0 == name).map(|r| r.1)
}

/// Most requests kept (each is a note).
const MAX_HITS: usize = 64;

/// The kernel-layer sink that finds the run's requests to daemons: a connection to a container
/// runtime's socket that bypasses the run's proxy, or to a socket of [`SOCKETS`], a write to a
/// path of [`SPOOLS`], an exec of a program of [`RUNTIMES`]. Each is a `daemon-bypass` note.
pub struct Delegations {
    /// Container runtimes' sockets (the proxy's upstream included): reached only around it.
    runtimes: std::collections::BTreeSet<String>,
    hits: std::collections::BTreeSet<String>,
    /// UNIX addresses looked up in the kernel's tables (`crate::listeners`), with the daemon
    /// holding each, if one does.
    looked_up: std::collections::HashMap<String, Option<String>>,
}

impl Delegations {
    pub fn new(containers: &crate::containers::Containers) -> Delegations {
        Delegations {
            runtimes: containers.daemon_sockets(),
            hits: Default::default(),
            looked_up: Default::default(),
        }
    }

    /// The `daemon-bypass` notes, sorted.
    pub fn notes(&self) -> Vec<String> {
        self.hits
            .iter()
            .map(|h| note(NoteCode::DaemonBypass, h.clone()))
            .collect()
    }

    fn hit(&mut self, prose: String) {
        if self.hits.len() < MAX_HITS {
            self.hits.insert(prose);
        }
    }

    fn connected(&mut self, ev: &KernelEvent) {
        let Some(path) = ev.endpoint.as_deref().and_then(|e| e.strip_prefix("unix:")) else {
            return;
        };
        let p = &ev.process;
        if self.runtimes.contains(path) {
            self.hit(format!(
                "{p} connected to {path} directly; what that daemon did for it ran outside the session"
            ));
        } else if let Some(d) = socket(path) {
            self.hit(format!(
                "{p} connected to {path}, {d}; what it runs on request runs outside the session"
            ));
        } else if let Some(d) = self.held_by_daemon(path) {
            self.hit(format!(
                "{p} connected to {path}, a socket of {d}; what it runs on request runs outside the session"
            ));
        }
    }

    /// The daemon holding a socket bound to `addr`, by the program listening there (any
    /// address: a daemon configured with another socket path, a containerd shim's); each
    /// address is looked up once, at most [`crate::listeners::MAX_LOOKUPS`] of them.
    fn held_by_daemon(&mut self, addr: &str) -> Option<String> {
        if let Some(known) = self.looked_up.get(addr) {
            return known.clone();
        }
        if self.looked_up.len() >= crate::listeners::MAX_LOOKUPS {
            return None;
        }
        let found = crate::listeners::daemon_at(addr)
            .map(|(pid, program, d)| format!("{d} ({program}, pid {pid})"));
        self.looked_up.insert(addr.to_string(), found.clone());
        found
    }
}

impl KernelSink for Delegations {
    fn event(&mut self, ev: &KernelEvent, _origin: &Origin) {
        if ev.result != "ok" {
            return;
        }
        match ev.kind {
            Kind::Connect | Kind::NetConnect | Kind::Send => self.connected(ev),
            Kind::Link | Kind::Rename => {
                // another name for a daemon's socket: a connect through it names no daemon
                for name in [ev.path.as_deref(), ev.path2.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    let daemon = if self.runtimes.contains(name) {
                        Some("a container runtime")
                    } else {
                        socket(name)
                    };
                    if let Some(d) = daemon {
                        self.hit(format!(
                            "{} linked or renamed {name}, the socket of {d}; a connection through the new name reaches it",
                            ev.process
                        ));
                    }
                }
                self.spooled(ev);
            }
            Kind::Exec => {
                if let Some(path) = ev.path.as_deref()
                    && let Some(d) = runtime(path)
                {
                    self.hit(format!("{} ran {path}: {d}", ev.process));
                }
            }
            _ => self.spooled(ev),
        }
    }
}

impl Delegations {
    /// A write into a spool or unit directory.
    fn spooled(&mut self, ev: &KernelEvent) {
        for t in crate::surface::touches(ev).into_iter().flatten() {
            if let Touch::OpenWrite(path) | Touch::Change(path) = t
                && let Some(d) = spool(path)
            {
                self.hit(format!(
                    "{} wrote {path}, where {d} picks up work; what it runs from there runs outside the session",
                    ev.process
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(SOCKET_TABLE.set.len(), SOCKETS.len());
        assert_eq!(SPOOL_TABLE.set.len(), SPOOLS.len());
    }

    #[test]
    fn sockets_spools_and_runtimes_are_named() {
        assert!(
            socket("/run/dbus/system_bus_socket")
                .unwrap()
                .contains("D-Bus")
        );
        assert!(
            socket("/run/user/1000/bus")
                .unwrap()
                .contains("session bus")
        );
        assert_eq!(
            socket("/run/user/1000/x/bus"),
            None,
            "* stays in one component"
        );
        assert_eq!(socket("/run/dbus/other"), None);
        assert_eq!(
            spool("/var/spool/cron/atjobs/a0001"),
            Some("atd or cron (their spool)")
        );
        assert_eq!(spool("/etc/cron.d/job"), Some("cron"));
        assert_eq!(spool("/etc/crontab"), Some("cron"));
        assert_eq!(spool("/etc/cron.dx"), None);
        assert!(spool("/run/systemd/transient/x.service").is_some());
        assert_eq!(spool("/etc/hosts"), None);
        assert!(runtime("/usr/bin/podman").unwrap().starts_with("Podman"));
        assert_eq!(runtime("/usr/bin/podman-remote-helper"), None);
        assert_eq!(runtime("<work>/podman.sh"), None);
    }
}
