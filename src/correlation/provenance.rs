//! Kernel-attested provenance of layer records (design §6).
//!
//! The measured command can write files too, so a layer record (a policy decision, later an
//! SDK event) counts only when the kernel itself witnessed its writer: a process of the session
//! that executed the runner's own binary, and a layer directory that no other process of the
//! session wrote to. This module extracts exactly those facts from the canonical kernel layer;
//! the layers decide what to accept from them.
//! Imports: `crate::contracts`, `crate::layers::kernel` (the projection), `crate::surface` (the
//! one rule for what an event touches).

use std::collections::{BTreeMap, BTreeSet};

use crate::contracts::kernel_event::{KernelEvent, Kind};
use crate::layers::kernel::{KernelSink, Origin, ProcessInfo, Projection};
use crate::surface::{Touch, touches};

/// A write into the layer directory by a process that is not a known writer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignWrite {
    pub label: String,
    pub path: String,
}

/// What the kernel saw of the processes that may write layer records. Processes are named by
/// their run-unique key ([`ProcessInfo`]); records name raw pids, which [`Attestation::key_of`]
/// maps to a key only when exactly one process of the run had that pid.
#[derive(Debug, Clone, Default)]
pub struct Attestation {
    /// Processes that successfully executed the runner's binary: key → process label.
    pub runners: BTreeMap<u32, String>,
    /// key → parent key, for every process of the session whose fork was seen.
    pub parents: BTreeMap<u32, u32>,
    /// key → label, for every process of the session.
    pub labels: BTreeMap<u32, String>,
    /// raw pid → the keys of the processes that had it.
    pub pids: BTreeMap<u32, Vec<u32>>,
    /// For each watched path, the keys of the processes that opened it for reading.
    pub readers: BTreeMap<String, BTreeSet<u32>>,
    /// For each watched agent log, the keys of the processes that wrote it (opened it for
    /// writing, created, renamed, linked or removed it).
    pub writers: BTreeMap<String, BTreeSet<u32>>,
    /// Writes (opens for writing, creates, renames, links, removals) inside the layer
    /// directory by processes other than `runners`, sorted; writes to a watched agent log are
    /// in `writers` instead.
    pub foreign_writes: Vec<ForeignWrite>,
}

impl Attestation {
    /// The process a record's raw `pid` names: `None` when no process of the run had it, or
    /// several did (the kernel reused it), so the record cannot be tied to one process.
    pub fn key_of(&self, pid: u32) -> Option<u32> {
        match self.pids.get(&pid).map(Vec::as_slice) {
            Some([k]) => Some(*k),
            _ => None,
        }
    }

    /// For tests that build an attestation by hand with keys equal to pids: every key named
    /// anywhere is the one process of its pid.
    #[cfg(test)]
    pub fn identity_pids(mut self) -> Attestation {
        let keys: BTreeSet<u32> = (self.runners.keys())
            .chain(self.parents.keys())
            .chain(self.parents.values())
            .chain(self.labels.keys())
            .chain(self.readers.values().flatten())
            .chain(self.writers.values().flatten())
            .copied()
            .collect();
        for k in keys {
            self.pids.entry(k).or_insert_with(|| vec![k]);
        }
        self
    }

    /// Whether the process `key` is a runner process or a descendant of one (an MCP server and
    /// its children).
    pub fn in_wrapper_tree(&self, key: u32) -> bool {
        let mut cur = key;
        for _ in 0..self.parents.len() + 1 {
            if self.runners.contains_key(&cur) {
                return true;
            }
            match self.parents.get(&cur) {
                Some(&pp) => cur = pp,
                None => return false,
            }
        }
        false
    }
}

fn inside(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Extracts the attestation from a projection held in memory (see [`Witness`] for the rules).
pub fn attest(
    p: &Projection,
    runner_exe: &str,
    layer_dir: &str,
    watch: &[&str],
    agent_logs: &[&str],
) -> Attestation {
    let mut w = Witness::new(runner_exe, layer_dir, watch, agent_logs);
    for (e, o) in p.events.iter().zip(&p.origins) {
        w.event(e, o);
    }
    w.finish(&p.processes)
}

/// The attestation built while the kernel layer streams past (a [`KernelSink`]). `runner_exe`
/// and `layer_dir` are in the projection's display form (escaped, `<work>` replaced); `watch`
/// lists paths whose readers are wanted (e.g. the policy file the runner handed out);
/// `agent_logs` lists files inside the layer directory that agent processes (not runners)
/// write, whose writers are wanted. Memory grows with runner processes and writes into the
/// layer directory, not with events.
#[derive(Debug)]
pub struct Witness {
    runner_exe: String,
    layer_dir: String,
    runners: BTreeMap<u32, String>,
    readers: BTreeMap<String, BTreeSet<u32>>,
    writers: BTreeMap<String, BTreeSet<u32>>,
    /// Writes into the layer directory: (key, label, path).
    dir_writes: BTreeSet<(u32, String, String)>,
}

impl Witness {
    pub fn new(runner_exe: &str, layer_dir: &str, watch: &[&str], agent_logs: &[&str]) -> Witness {
        Witness {
            runner_exe: runner_exe.into(),
            layer_dir: layer_dir.into(),
            runners: BTreeMap::new(),
            readers: watch
                .iter()
                .map(|w| (w.to_string(), BTreeSet::new()))
                .collect(),
            writers: agent_logs
                .iter()
                .map(|w| (w.to_string(), BTreeSet::new()))
                .collect(),
            dir_writes: BTreeSet::new(),
        }
    }

    /// The attestation, given the projection's process table.
    pub fn finish(self, processes: &[ProcessInfo]) -> Attestation {
        let mut a = Attestation {
            runners: self.runners,
            readers: self.readers,
            writers: self.writers,
            ..Attestation::default()
        };
        for proc in processes {
            a.labels.insert(proc.key, proc.label.clone());
            a.pids.entry(proc.pid).or_default().push(proc.key);
            if let Some(parent) = proc.parent {
                a.parents.insert(proc.key, parent);
            }
        }
        let foreign: BTreeSet<ForeignWrite> = self
            .dir_writes
            .into_iter()
            .filter(|(key, _, _)| !a.runners.contains_key(key))
            .map(|(_, label, path)| ForeignWrite { label, path })
            .collect();
        a.foreign_writes = foreign.into_iter().collect();
        a
    }
}

impl KernelSink for Witness {
    fn event(&mut self, e: &KernelEvent, o: &Origin) {
        if e.kind == Kind::Exec && e.result == "ok" && e.path.as_deref() == Some(&self.runner_exe) {
            self.runners.insert(o.key, e.process.clone());
        }
        for t in touches(e).into_iter().flatten() {
            match t {
                Touch::OpenRead(path) => {
                    if let Some(set) = self.readers.get_mut(path) {
                        set.insert(o.key);
                    }
                }
                Touch::OpenWrite(path) | Touch::Change(path) => {
                    if let Some(set) = self.writers.get_mut(path) {
                        set.insert(o.key);
                    } else if inside(path, &self.layer_dir) {
                        self.dir_writes
                            .insert((o.key, e.process.clone(), path.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(label: &str, pid: u32, ppid: Option<u32>) -> ProcessInfo {
        ProcessInfo {
            label: label.into(),
            key: pid,
            parent: ppid,
            pid,
            ppid,
            exec: None,
            first_ns: 0,
            exit_ns: None,
        }
    }

    fn ev(process: &str, kind: Kind, path: &str, access: Option<&str>) -> KernelEvent {
        KernelEvent {
            path: Some(path.into()),
            access: access.map(String::from),
            ..KernelEvent::new("r", 0, process, kind)
        }
    }

    #[test]
    fn only_runner_processes_may_write_the_layer_dir() {
        let p = Projection {
            events: vec![
                ev("p0", Kind::Exec, "/bin/sh", None),
                ev("p0/assay-runner#1", Kind::Exec, "/opt/assay-runner", None),
                ev(
                    "p0/assay-runner#1",
                    Kind::Open,
                    "/run/l/policy.yaml",
                    Some("read"),
                ),
                ev(
                    "p0/assay-runner#1",
                    Kind::Open,
                    "/run/l/policy.ndjson",
                    Some("write"),
                ),
                ev("p0/sh#1", Kind::Exec, "/bin/sh", None),
                ev("p0/sh#1", Kind::Open, "/run/l/policy.ndjson", Some("write")),
                ev("p0/sh#1", Kind::Open, "/run/l/policy.yaml", Some("read")),
                ev("p0/sh#1", Kind::Open, "/run/lx/other", Some("write")),
            ],
            origins: [10, 11, 11, 11, 12, 12, 12, 12]
                .into_iter()
                .map(|pid| Origin {
                    key: pid,
                    pid,
                    ns: 0,
                })
                .collect(),
            processes: vec![
                proc("p0", 10, None),
                proc("p0/assay-runner#1", 11, Some(10)),
                proc("p0/sh#1", 12, Some(10)),
            ],
            stats: Default::default(),
        };
        let a = attest(
            &p,
            "/opt/assay-runner",
            "/run/l",
            &["/run/l/policy.yaml"],
            &[],
        );
        assert_eq!(a.runners.keys().copied().collect::<Vec<_>>(), [11]);
        assert_eq!(
            a.foreign_writes,
            [ForeignWrite {
                label: "p0/sh#1".into(),
                path: "/run/l/policy.ndjson".into()
            }]
        );
        assert_eq!(
            a.readers["/run/l/policy.yaml"]
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            [11, 12]
        );
        assert_eq!(a.parents.get(&11), Some(&10));
    }
}
