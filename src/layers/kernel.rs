//! The canonical kernel layer: raw ring-buffer records → `assay.runner.kernel_event.v5` lines.
//!
//! * Paths are made absolute against each process's tracked working directory (inherited at
//!   fork, updated by chdir/fchdir) or the directory fd it used (known from earlier opens), then
//!   normalized lexically (`.`/`..`; symlinks are not resolved). A path relative to an unknown
//!   directory becomes `<unresolved>/name` and is counted. The work dir becomes `<work>`.
//! * Pids become stable labels from the process tree: the command is `p0`; a child is
//!   `<parent>/<first exec basename or "fork">#<n>`, numbered among its siblings of that name in
//!   fork order. Processes not reached from `p0` are `orphan/<name>#<n>`.
//! * Lines are ordered by label, then by each process's own order; `seq` is gapless from 0.
//! * Packet payloads (`EV_PAYLOAD`) belong to no process: a DNS answer or a TLS ClientHello that
//!   names something ([`crate::layers::names`]) becomes a `dns_answer` / `tls_client_hello` line
//!   of the reserved process label [`NET_LABEL`] (real labels start with `p0` or `orphan/`);
//!   one that names nothing is no line. The addresses stay as they are everywhere else: naming
//!   endpoints is the surface's rule (`crate::surface::names`).
//!
//! Memory stays bounded by the number of processes, not events ([`project_into`]): pass 1 reads
//! the raw records in timestamp order (from the spill), keeps per-process state only (working
//! directory, the fds it opened, parent, children, first and last exec) and appends each
//! resolved event to a pending spill, whose chunks are grouped by pid and written to an unnamed
//! temporary file when full. Labels are assigned from the process table; pass 2 then reads, for
//! each process in label order, its segment of every chunk, and hands each canonical event with
//! its raw origin to every [`KernelSink`].
//!
//! Imports: `crate::kernel::{event, spill}`, `crate::contracts::kernel_event`, `crate::pathbytes`,
//! `crate::layers::names`.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};

use super::pending::{At, Chunks, PENDING_CHUNK_BYTES, PendingSpill, bad, decode};
use super::project::{NET_KEY, Proc, Projector, line_flags};
pub use super::project::{Prefix, PrefixLookup, Stats};
pub use super::render::{
    display, event_flags_for, fd_target, memfd_name, metadata_kind, net_endpoint, node_type,
    normalize, open_flags, open_writes, protocol_name, result_of, sockaddr, unix_path,
};
use crate::contracts::kernel_event::{KernelEvent, Kind};
use crate::kernel::event::*;
use crate::kernel::spill::RawSource;
use crate::pathbytes::escape;
pub use crate::sink::{KernelSink, Origin};

/// The process label of the lines that belong to no process (names seen in packets).
pub const NET_LABEL: &str = "net";

/// Facts about one process, for the diagnostic run events (and later stages).
///
/// A process is identified by its `key`, unique within the run: a pid the kernel reuses after
/// a process exited starts a new process with a new key and label, so two processes are never
/// merged. `pid`/`ppid` are the raw (init namespace) pids, for the diagnostic member and for
/// matching the pids layer records name ([`pid_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub label: String,
    pub key: u32,
    /// The parent's key, when the fork was seen.
    pub parent: Option<u32>,
    pub pid: u32,
    pub ppid: Option<u32>,
    pub exec: Option<String>,
    pub first_ns: u64,
    pub exit_ns: Option<u64>,
}

/// raw pid → the keys of the processes that had it in this run (more than one when the kernel
/// reused the pid): a record that names a pid names a process only when exactly one did.
pub fn pid_keys(processes: &[ProcessInfo]) -> HashMap<u32, Vec<u32>> {
    let mut m: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in processes {
        m.entry(p.pid).or_default().push(p.key);
    }
    m
}

/// A sink that keeps every event (tests, fuzzing, small in-memory projections).
#[derive(Debug, Default)]
pub struct Collect {
    pub events: Vec<KernelEvent>,
    pub origins: Vec<Origin>,
}

impl KernelSink for Collect {
    fn event(&mut self, ev: &KernelEvent, origin: &Origin) {
        self.events.push(ev.clone());
        self.origins.push(*origin);
    }
}

/// The kernel layer of one run, held in memory ([`project`]).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub events: Vec<KernelEvent>,
    /// The origin of each of `events`, index for index.
    pub origins: Vec<Origin>,
    pub processes: Vec<ProcessInfo>,
    pub stats: Stats,
}

/// What [`project_into`] leaves after the events went to the sinks: the process table (sorted
/// by label), the counts for health and the number of events.
#[derive(Debug, Clone, Default)]
pub struct Projected {
    pub processes: Vec<ProcessInfo>,
    pub stats: Stats,
    pub events: u64,
}

/// The projection could not read its spills back.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("kernel layer: the raw spill could not be read: {0}")]
    Raw(#[source] io::Error),
    #[error("kernel layer: the pending spill could not be written or read: {0}")]
    Pending(#[source] io::Error),
}

/// Builds the canonical kernel layer in memory (tests, fuzzing, small inputs).
pub fn project(
    run_id: &str,
    raw: &[RawEvent],
    root_pid: Option<u32>,
    work: &[u8],
) -> Result<Projection, LayerError> {
    let mut all = Collect::default();
    let input = Input {
        root_pid,
        work,
        resolvers: &[],
        lookup: &no_lookup,
        containers: &NO_CONTAINERS,
    };
    let p = project_into(run_id, &raw, &input, &mut [&mut all])?;
    Ok(Projection {
        events: all.events,
        origins: all.origins,
        processes: p.processes,
        stats: p.stats,
    })
}

/// Builds the canonical kernel layer from `raw` and hands each event, in canonical order, to
/// every sink. Memory grows with the number of processes and distinct open fds, not events.
pub fn project_into(
    run_id: &str,
    raw: &dyn RawSource,
    input: &Input,
    sinks: &mut [&mut dyn KernelSink],
) -> Result<Projected, LayerError> {
    project_chunked(run_id, raw, input, sinks, PENDING_CHUNK_BYTES)
}

/// What pass 1 needs besides the records: the command's pid, the work dir, the resolvers the
/// host is configured with (`udp:ADDR:53`, for names), and how to look at a directory prefix
/// of a path-only operation's text after the run (`lstat`: `super::project::Prefix`).
pub struct Input<'a> {
    pub root_pid: Option<u32>,
    pub work: &'a [u8],
    pub resolvers: &'a [String],
    pub lookup: PrefixLookup<'a>,
    /// Containers placed under the session (empty when the run made none).
    pub containers: &'a super::containers::ContainerMap,
}

/// No containers (tests, fuzzing, replays).
pub static NO_CONTAINERS: std::sync::LazyLock<super::containers::ContainerMap> =
    std::sync::LazyLock::new(Default::default);

/// A lookup that sees every prefix as a plain directory (tests, fuzzing, replays).
pub fn no_lookup(_: &[u8]) -> Prefix {
    Prefix::Plain
}

/// Pass 1 ([`spill_pass`]), labels from the process table, pass 2 ([`emit_pass`]).
fn project_chunked(
    run_id: &str,
    raw: &dyn RawSource,
    input: &Input,
    sinks: &mut [&mut dyn KernelSink],
    chunk_bytes: usize,
) -> Result<Projected, LayerError> {
    let (pj, chunks) = spill_pass(raw, input, chunk_bytes)?;
    let labels = assign_labels(&pj.procs.all, pj.procs.root_key(input.root_pid));
    let events = emit_pass(run_id, &chunks, &labels, sinks)?;
    let mut processes: Vec<ProcessInfo> = pj
        .procs
        .all
        .iter()
        .map(|(&key, p)| ProcessInfo {
            label: labels.get(&key).cloned().unwrap_or_default(),
            key,
            parent: p.parent,
            pid: p.pid,
            ppid: p.ppid,
            exec: p.last_exec.as_deref().map(|x| display(x, input.work)),
            first_ns: p.first_ns,
            exit_ns: p.exit_ns,
        })
        .collect();
    processes.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(Projected {
        processes,
        stats: pj.stats,
        events,
    })
}

/// Pass 1: every raw record through the projector, in timestamp order; the resolved events to
/// the pending spill. Returns the projector (its process table and counts) and the chunks.
fn spill_pass<'a>(
    raw: &dyn RawSource,
    input: &Input<'a>,
    chunk_bytes: usize,
) -> Result<(Projector<'a>, Chunks), LayerError> {
    let mut pj = Projector::new(input.work, input.resolvers, input.lookup, input.containers);
    let mut pending = PendingSpill::new(chunk_bytes);
    let mut pending_err: Option<io::Error> = None;
    raw.for_each_raw(&mut |h, data1, data2| {
        if pending_err.is_some() {
            return;
        }
        if let Some(ev) = pj.record(h, data1, data2)
            && let Err(e) = pending.push(&ev)
        {
            pending_err = Some(e);
        }
    })
    .map_err(LayerError::Raw)?;
    if let Some(e) = pending_err {
        return Err(LayerError::Pending(e));
    }
    let chunks = pending.finish().map_err(LayerError::Pending)?;
    Ok((pj, chunks))
}

/// Pass 2: for each process in label order (then the packet names' [`NET_LABEL`]), its segment
/// of every chunk, each event made a canonical line and handed to every sink. Returns the
/// number of lines.
fn emit_pass(
    run_id: &str,
    chunks: &Chunks,
    labels: &HashMap<u32, String>,
    sinks: &mut [&mut dyn KernelSink],
) -> Result<u64, LayerError> {
    let mut order: Vec<(&str, u32)> = labels.iter().map(|(k, l)| (l.as_str(), *k)).collect();
    order.push((NET_LABEL, NET_KEY));
    order.sort_unstable();
    let mut ev = KernelEvent::new(run_id, 0, "", Kind::Exec);
    let mut seq = 0u64;
    for (label, key) in order {
        ev.process.clear();
        ev.process.push_str(label);
        for c in &chunks.list {
            let Ok(i) = c.segments.binary_search_by_key(&key, |s| s.0) else {
                continue;
            };
            let (_, start, end) = c.segments[i];
            let mut r: Box<dyn Read> = match (&chunks.file, c.on_disk) {
                (Some(f), true) => Box::new(BufReader::with_capacity(
                    1 << 16,
                    At {
                        file: f,
                        pos: start,
                        end,
                    },
                )),
                _ => Box::new(
                    chunks
                        .mem
                        .get(start as usize..end as usize)
                        .unwrap_or_default(),
                ),
            };
            let mut left = end - start;
            while left > 0 {
                let (p, n) = decode(&mut r).map_err(LayerError::Pending)?;
                left = left.saturating_sub(n);
                let origin = fill_line(&mut ev, p, seq, labels)?;
                for s in sinks.iter_mut() {
                    s.event(&ev, &origin);
                }
                seq += 1;
            }
        }
    }
    Ok(seq)
}

/// Makes `ev` (its process label already set) the canonical line of pending event `p`, number
/// `seq`; returns the event's raw origin.
fn fill_line(
    ev: &mut KernelEvent,
    p: super::project::Pending,
    seq: u64,
    labels: &HashMap<u32, String>,
) -> Result<Origin, LayerError> {
    let kind = p.kind.ok_or_else(|| LayerError::Pending(bad()))?;
    let (access, flags) = line_flags(kind, p.flags);
    ev.seq = seq;
    ev.kind = kind;
    ev.path = p.path;
    ev.path2 = p.path2;
    ev.path_from = p.path_from;
    ev.arg = p.arg;
    ev.ambiguous = p.ambiguous;
    ev.access = access;
    ev.flags = flags;
    ev.endpoint = p.endpoint;
    ev.name = p.name;
    ev.addresses = p.addresses;
    ev.dns_id = p.dns_id;
    ev.earned = p.earned;
    ev.child = p.child.map(|c| labels.get(&c).cloned().unwrap_or_default());
    ev.exit_code = p.exit_code;
    ev.result = result_of(p.ret);
    ev.escaped = p.escaped;
    Ok(Origin {
        key: p.key,
        pid: p.pid,
        ns: p.ns,
    })
}

fn base_name(p: &Proc) -> String {
    match &p.first_exec {
        Some(path) => {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            escape(name).replace(['/', '#'], "_")
        }
        None => "fork".into(),
    }
}

/// Labels by process key (`root` is the command's key).
fn assign_labels(procs: &HashMap<u32, Proc>, root: Option<u32>) -> HashMap<u32, String> {
    let mut labels = HashMap::new();
    let mut stack = Vec::new();
    if let Some(r) = root
        && procs.contains_key(&r)
    {
        labels.insert(r, "p0".to_string());
        stack.push(r);
    }
    while let Some(pid) = stack.pop() {
        let parent_label = labels.get(&pid).cloned().unwrap_or_default();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut kids = procs
            .get(&pid)
            .map(|p| p.children.clone())
            .unwrap_or_default();
        kids.sort_by_key(|c| procs.get(c).map(|p| (p.first_ns, p.order)));
        for c in kids {
            let Some(child) = procs.get(&c) else {
                continue;
            };
            if labels.contains_key(&c) {
                continue;
            }
            let name = base_name(child);
            let n = counts.entry(name.clone()).or_insert(0);
            *n += 1;
            labels.insert(c, format!("{parent_label}/{name}#{n}"));
            stack.push(c);
        }
    }
    // Everything not reached from the root, in first-seen order.
    let mut rest: Vec<(&u32, &Proc)> = procs
        .iter()
        .filter(|(pid, _)| !labels.contains_key(pid))
        .collect();
    rest.sort_by_key(|(_, p)| (p.first_ns, p.order));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (pid, p) in rest {
        let name = base_name(p);
        let n = counts.entry(name.clone()).or_insert(0);
        *n += 1;
        labels.insert(*pid, format!("orphan/{name}#{n}"));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    const AT_FDCWD: i32 = -100;

    #[allow(clippy::too_many_arguments)]
    fn ev(
        kind: u32,
        op: u32,
        pid: u32,
        ts: u64,
        ret: i64,
        dfd1: i32,
        p1: &[u8],
        p2: &[u8],
    ) -> RawEvent {
        RawEvent {
            hdr: EventHdr {
                kind,
                op,
                pid,
                tid: pid,
                ts,
                ret,
                dfd1,
                dfd2: AT_FDCWD,
                len1: p1.len() as u16,
                len2: p2.len() as u16,
                ..Default::default()
            },
            data1: p1.to_vec(),
            data2: p2.to_vec(),
        }
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize(b"/a//b/./c/../d"), b"/a/b/d");
        assert_eq!(normalize(b"/../.."), b"/");
        assert_eq!(display(b"/w/x/y", b"/w/x"), "<work>/y");
        assert_eq!(display(b"/w/xy", b"/w/x"), "/w/xy");
        assert_eq!(display(b"/w/x", b"/w/x"), "<work>");
        assert_eq!(display(b"/w/x/\xff", b"/w/x"), "<work>/\\xff");
    }

    /// A path the probe rebuilt from the object the kernel resolved (KPATH).
    fn kpath(mut e: RawEvent) -> RawEvent {
        e.hdr.status |= ST_KPATH1;
        e
    }

    /// A path the probe made from the kernel's base directory (`base` bytes) and the text.
    fn dir_text(mut e: RawEvent, base: u32) -> RawEvent {
        e.hdr.status |= ST_TEXT1;
        e.hdr.ppid |= base;
        e
    }

    /// Paths are the probe's: a descriptor's or an object's path (`kernel`), the kernel's base
    /// directory joined with the text (`dir_text`), an absolute text (`text`); a path the probe
    /// could not make is `<unresolved>` (counted only when the operation succeeded).
    #[test]
    fn paths_are_what_the_probe_made_of_them() {
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b"")),
            dir_text(
                ev(EV_SYSCALL, OP_TRUNCATE, 10, 4, 0, AT_FDCWD, b"/w/t", b""),
                2,
            ),
            kpath(ev(EV_SYSCALL, OP_CHMOD, 10, 5, 0, 6, b"/etc/f", b"")),
            dir_text(ev(EV_SYSCALL, OP_CHOWN, 10, 6, 0, 5, b"/w/d/x", b""), 4),
            ev(EV_SYSCALL, OP_UTIMES, 10, 7, 0, 9, b"", b""),
            ev(EV_SYSCALL, OP_XATTR, 10, 8, -9, 8, b"", b""),
            ev(EV_SYSCALL, OP_XATTR, 10, 9, 0, AT_FDCWD, b"/abs", b""),
            kpath(ev(EV_SYSCALL, OP_CHMOD, 10, 10, 0, 6, b"/k//d/./f", b"")),
            ev(EV_SYSCALL, OP_UNLINK, 10, 11, 0, AT_FDCWD, b"rel", b""),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .skip(1)
            .map(|e| {
                format!(
                    "{:?} {} {:?} {}",
                    e.kind,
                    e.path.as_deref().unwrap(),
                    e.path_from.unwrap(),
                    e.result
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "Truncate <work>/t DirText ok",
                "Chmod /etc/f Kernel ok",
                "Chown <work>/d/x DirText ok",
                "Utimes <unresolved>/ Text ok",
                "Xattr <unresolved>/ Text EBADF",
                "Xattr /abs Text ok",
                "Chmod /k/d/f Kernel ok",
                "Unlink <unresolved>/rel Text ok",
            ]
        );
        assert_eq!(p.stats.unresolved_paths, 2);
        assert_eq!(p.stats.ambiguous_paths, 0);
        let d = crate::surface::derive("r", &p.events, &crate::surface::NoiseFilter::none());
        assert_eq!(
            d.surface.filesystem_writes,
            [
                "/abs",
                "/etc/f",
                "/k/d/f",
                "<unresolved>/",
                "<unresolved>/rel",
                "<work>/d/x",
                "<work>/t"
            ]
        );
    }

    /// Text the kernel resolves differently from a lexical join, or that changed while the
    /// syscall ran, is ambiguous: counted (health flags it), the path kept as made.
    #[test]
    fn text_that_may_not_name_what_the_kernel_used_is_ambiguous() {
        let mut unstable = dir_text(
            ev(EV_SYSCALL, OP_UNLINK, 10, 5, 0, AT_FDCWD, b"/w/x", b""),
            2,
        );
        unstable.hdr.status |= ST_UNSTABLE;
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b"")),
            dir_text(
                ev(
                    EV_SYSCALL,
                    OP_MKDIR,
                    10,
                    2,
                    0,
                    AT_FDCWD,
                    b"/w/a/link/../y",
                    b"",
                ),
                2,
            ),
            ev(
                EV_SYSCALL,
                OP_UNLINK,
                10,
                3,
                0,
                AT_FDCWD,
                b"/proc/self/fd/3/x",
                b"",
            ),
            ev(
                EV_SYSCALL,
                OP_UNLINK,
                10,
                4,
                -2,
                AT_FDCWD,
                b"/dev/fd/3/x",
                b"",
            ),
            unstable,
            dir_text(
                ev(EV_SYSCALL, OP_UNLINK, 10, 6, 0, AT_FDCWD, b"/w/../z", b""),
                2,
            ),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let amb: Vec<(String, bool)> = p
            .events
            .iter()
            .skip(1)
            .map(|e| (e.path.clone().unwrap(), e.ambiguous))
            .collect();
        assert_eq!(
            amb,
            [
                ("<work>/a/y".to_string(), true),
                ("/proc/self/fd/3/x".to_string(), true),
                ("/dev/fd/3/x".to_string(), true),
                ("<work>/x".to_string(), true),
                ("/z".to_string(), false),
            ]
        );
        // the failed one is not counted
        assert_eq!(p.stats.ambiguous_paths, 3);
    }

    /// The loader the kernel mapped for a program is executed, but it is not the process's
    /// program; a script and the interpreter the kernel loaded for it are both executed.
    #[test]
    fn loaders_and_scripts_keep_the_process_program() {
        let mut loader = kpath(ev(EV_EXEC, 0, 10, 2, 0, 0, b"/lib64/ld.so", b""));
        loader.hdr.status |= ST_LOADER;
        let mut script = kpath(ev(EV_EXEC, 0, 10, 3, 0, 0, b"/bin/sh", b"/w/run.sh"));
        script.hdr.status |= ST_SCRIPT | ST_TEXT2;
        script.hdr.ppid = 2 << 16;
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/usr/bin/env", b"")),
            loader,
            script,
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .map(|e| format!("{:?} {:?} {:?}", e.path, e.path2, e.flags))
            .collect();
        assert_eq!(
            lines,
            [
                "Some(\"/usr/bin/env\") None []",
                "Some(\"/lib64/ld.so\") None [\"loader\"]",
                "Some(\"/bin/sh\") Some(\"<work>/run.sh\") [\"script\"]",
            ]
        );
        assert_eq!(p.processes[0].exec.as_deref(), Some("/bin/sh"));
        let d = crate::surface::derive("r", &p.events, &crate::surface::NoiseFilter::none());
        assert_eq!(
            d.surface.process_execs,
            ["/bin/sh", "/lib64/ld.so", "/usr/bin/env", "<work>/run.sh"]
        );
    }

    /// A read-only open of the file the kernel executed for the process (both named by the
    /// kernel) is flagged `own_program` and is no read of its own in the surface; text that
    /// names it, a write, another program's process or forged flag bits are not.
    #[test]
    fn reading_the_own_program_is_part_of_its_exec() {
        let open = |pid: u32, ts: u64, flags: u64, path: &[u8]| {
            let mut e = kpath(ev(EV_SYSCALL, OP_OPEN, pid, ts, 3, AT_FDCWD, path, path));
            e.hdr.flags = flags;
            e
        };
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/usr/bin/node", b"")),
            open(10, 2, 0, b"/usr/bin/node"),
            // the same name as text the process passed: a claim, never folded
            ev(
                EV_SYSCALL,
                OP_OPEN,
                10,
                3,
                3,
                AT_FDCWD,
                b"/usr/bin/node",
                b"",
            ),
            open(10, 4, 2, b"/usr/bin/node"),
            // a file of another mount namespace (reached through /proc/PID/root), where the
            // same path may be another file (a bind mount over it): never folded
            {
                let mut e = kpath(ev(
                    EV_SYSCALL,
                    OP_OPEN,
                    10,
                    4,
                    3,
                    AT_FDCWD,
                    b"/usr/bin/node",
                    b"/proc/77/root/usr/bin/node",
                ));
                e.hdr.status |= ST_FOREIGN;
                e
            },
            ev(EV_FORK, 0, 10, 5, 11, 0, b"", b""),
            ev(EV_FORK, 0, 10, 6, 12, 0, b"", b""),
            open(11, 7, 0, b"/usr/bin/node"),
            kpath(ev(EV_EXEC, 0, 12, 8, 0, 0, b"/usr/bin/cat", b"")),
            open(12, 9, 1 << 40, b"/usr/bin/node"),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .filter(|e| e.kind == Kind::Open)
            .map(|e| format!("{} {:?} {:?}", e.process, e.access, e.flags))
            .collect();
        assert_eq!(
            lines,
            [
                "p0 Some(\"read\") [\"own_program\"]",
                "p0 Some(\"read\") []",
                "p0 Some(\"read_write\") []",
                "p0 Some(\"read\") []",
                "p0/cat#1 Some(\"read\") []",
                "p0/fork#1 Some(\"read\") [\"own_program\"]",
            ]
        );
        let only_own = [raw[0].clone(), raw[1].clone()];
        let p = project("r", &only_own, Some(10), b"/w").unwrap();
        let d = crate::surface::derive("r", &p.events, &crate::surface::NoiseFilter::none());
        assert!(d.surface.filesystem_paths.is_empty(), "{:?}", d.surface);
        assert_eq!(d.surface.process_execs, ["/usr/bin/node"]);
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let d = crate::surface::derive("r", &p.events, &crate::surface::NoiseFilter::none());
        assert_eq!(d.surface.filesystem_paths, ["/usr/bin/node"]);
        assert_eq!(d.surface.filesystem_writes, ["/usr/bin/node"]);
    }

    #[test]
    fn sockaddrs() {
        let mut v4 = vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1];
        v4.extend([0; 8]);
        assert_eq!(sockaddr(&v4).unwrap(), "127.0.0.1:8080");
        let mut v6 = vec![10, 0, 0x01, 0xbb, 0, 0, 0, 0];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        assert_eq!(sockaddr(&v6).unwrap(), "[::1]:443");
        let mut un = vec![1, 0];
        un.extend(b"/run/x.sock\0junk");
        assert_eq!(sockaddr(&un).unwrap(), "unix:/run/x.sock");
        assert_eq!(sockaddr(&[1, 0, 0, b'a', b'b']).unwrap(), "unix:@ab");
        assert_eq!(sockaddr(&[0, 0]), None);
        assert_eq!(sockaddr(&[2]), None);
        // UNIX addresses keep their form in endpoints; only a path names a file
        assert_eq!(net_endpoint(0, &un).unwrap(), "unix:/run/x.sock");
        assert_eq!(unix_path(&un), Some(&b"/run/x.sock"[..]));
        assert_eq!(unix_path(&[1, 0, 0, b'a']), None);
        assert_eq!(unix_path(&[1, 0]), None);
        assert_eq!(unix_path(&v4), None);
    }

    #[test]
    fn mknod_names_the_node_type() {
        assert_eq!(node_type(0o010644), Some("fifo"));
        assert_eq!(node_type(0o140755), Some("socket"));
        assert_eq!(node_type(0o020600), Some("char_device"));
        assert_eq!(node_type(0o060600), Some("block_device"));
        assert_eq!(node_type(0o100644), None);
        assert_eq!(node_type(0o644), None);
        assert_eq!(
            event_flags_for(Kind::Mknod, 0o010644),
            (None, vec!["fifo".to_string()])
        );
    }

    #[test]
    fn labels_and_orders() {
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b"")),
            kpath(ev(
                EV_SYSCALL,
                OP_OPEN,
                10,
                2,
                3,
                AT_FDCWD,
                b"/w/a.txt",
                b"a.txt",
            )),
            ev(EV_FORK, 0, 10, 3, 11, 0, b"", b""),
            ev(EV_FORK, 0, 10, 4, 12, 0, b"", b""),
            kpath(ev(EV_EXEC, 0, 12, 5, 0, 0, b"/bin/cat", b"")),
            kpath(ev(EV_EXEC, 0, 11, 6, 0, 0, b"/bin/cat", b"")),
            kpath(ev(
                EV_SYSCALL,
                OP_CHDIR,
                11,
                7,
                0,
                AT_FDCWD,
                b"/w/d",
                b"sub/../d",
            )),
            kpath(ev(EV_SYSCALL, OP_OPEN, 11, 8, 4, AT_FDCWD, b"/w/d/f", b"f")),
            dir_text(ev(EV_SYSCALL, OP_OPEN, 11, 9, -2, 4, b"/w/d/f/g", b""), 6),
            ev(EV_SYSCALL, OP_OPEN, 11, 10, -2, 9, b"", b""),
            ev(EV_EXIT, 0, 11, 11, 256, 0, b"", b""),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?} {:?} {:?} {}",
                    e.seq, e.process, e.kind, e.path, e.child, e.result
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "0 p0 Exec Some(\"/bin/sh\") None ok",
                "1 p0 Open Some(\"<work>/a.txt\") None ok",
                "2 p0 Fork None Some(\"p0/cat#1\") ok",
                "3 p0 Fork None Some(\"p0/cat#2\") ok",
                "4 p0/cat#1 Exec Some(\"/bin/cat\") None ok",
                "5 p0/cat#1 Chdir Some(\"<work>/d\") None ok",
                "6 p0/cat#1 Open Some(\"<work>/d/f\") None ok",
                "7 p0/cat#1 Open Some(\"<work>/d/f/g\") None ENOENT",
                "8 p0/cat#1 Open Some(\"<unresolved>/\") None ENOENT",
                "9 p0/cat#1 Exit None None ok",
                "10 p0/cat#2 Exec Some(\"/bin/cat\") None ok",
            ]
        );
        assert_eq!(p.stats.unresolved_paths, 0);
        assert_eq!(p.events[1].arg.as_deref(), Some("a.txt"));
        assert_eq!(p.events[9].exit_code, Some(256));
        let info: Vec<_> = p
            .processes
            .iter()
            .map(|x| (x.label.as_str(), x.pid))
            .collect();
        assert_eq!(info, [("p0", 10), ("p0/cat#1", 11), ("p0/cat#2", 12)]);
    }

    /// The kernel reuses a pid after its process exited: the second process gets its own key,
    /// label and events; nothing of the first is merged into it.
    #[test]
    fn a_reused_pid_is_a_new_process() {
        let raw = vec![
            kpath(ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b"")),
            ev(EV_FORK, 0, 10, 2, 11, 0, b"", b""),
            kpath(ev(EV_EXEC, 0, 11, 3, 0, 0, b"/bin/cat", b"")),
            kpath(ev(
                EV_SYSCALL,
                OP_OPEN,
                11,
                5,
                3,
                AT_FDCWD,
                b"/etc/passwd",
                b"",
            )),
            ev(EV_EXIT, 0, 11, 6, 0, 0, b"", b""),
            ev(EV_FORK, 0, 10, 7, 11, 0, b"", b""),
            kpath(ev(EV_EXEC, 0, 11, 8, 0, 0, b"/bin/curl", b"")),
            kpath(ev(EV_SYSCALL, OP_OPEN, 11, 9, 3, AT_FDCWD, b"/w/out", b"")),
            ev(EV_EXIT, 0, 11, 10, 0, 0, b"", b""),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .zip(&p.origins)
            .map(|(e, o)| {
                format!(
                    "{} {} {:?} {:?} {:?}",
                    o.pid, e.process, e.kind, e.path, e.child
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "10 p0 Exec Some(\"/bin/sh\") None",
                "10 p0 Fork None Some(\"p0/cat#1\")",
                "10 p0 Fork None Some(\"p0/curl#1\")",
                "11 p0/cat#1 Exec Some(\"/bin/cat\") None",
                "11 p0/cat#1 Open Some(\"/etc/passwd\") None",
                "11 p0/cat#1 Exit None None",
                "11 p0/curl#1 Exec Some(\"/bin/curl\") None",
                "11 p0/curl#1 Open Some(\"<work>/out\") None",
                "11 p0/curl#1 Exit None None",
            ]
        );
        let info: Vec<_> = p
            .processes
            .iter()
            .map(|x| (x.label.as_str(), x.pid, x.key, x.parent))
            .collect();
        assert_eq!(
            info,
            [
                ("p0", 10, 1, None),
                ("p0/cat#1", 11, 2, Some(1)),
                ("p0/curl#1", 11, 3, Some(1))
            ]
        );
        assert_eq!(pid_keys(&p.processes)[&11], [2, 3]);
    }

    #[test]
    fn network_events_name_their_protocol() {
        let mut v4 = vec![2, 0, 0x27, 0x0f, 127, 0, 0, 9];
        v4.extend([0; 8]);
        let mut v6 = vec![10, 0, 0x27, 0x0e, 0, 0, 0, 0];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        let net = |op, ts, proto: u64, addr: &[u8]| {
            let mut e = ev(EV_NET, op, 10, ts, 0, 0, addr, b"");
            e.hdr.flags = proto;
            e
        };
        let raw = vec![
            ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b""),
            net(NET_SEND, 2, 17, &v4),
            net(NET_SEND, 3, 17, &v6),
            net(NET_CONNECT, 4, 6, &v4),
            net(NET_BIND, 5, 17, &v6),
            net(NET_LISTEN, 6, 6, &v4),
            net(9, 7, 6, &v4),
            net(NET_SEND, 8, 17, &[0, 0]),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .skip(1)
            .map(|e| format!("{:?} {}", e.kind, e.endpoint.as_deref().unwrap_or("-")))
            .collect();
        assert_eq!(
            lines,
            [
                "Send udp:127.0.0.9:9999",
                "Send udp:[::1]:9998",
                "NetConnect tcp:127.0.0.9:9999",
                "Bind udp:[::1]:9998",
                "Listen tcp:127.0.0.9:9999",
            ]
        );
        assert_eq!(protocol_name(132), "ip132");
        assert_eq!(p.origins.len(), p.events.len());
    }

    /// A payload record: remote and local sockaddrs in their slots, then the payload.
    pub(crate) fn payload_record(
        op: u32,
        proto: u64,
        remote: &[u8],
        body: &[u8],
        ts: u64,
    ) -> RawEvent {
        let mut data = remote.to_vec();
        data.resize(SOCKADDR_SLOT * 2, 0);
        data.extend_from_slice(body);
        let mut e = ev(EV_PAYLOAD, op, 0, ts, body.len() as i64, 0, &data, b"");
        e.hdr.tid = 0;
        e.hdr.flags = proto;
        e
    }

    #[test]
    fn payloads_become_name_lines_of_no_process() {
        use crate::layers::names::tests::{client_hello, response};
        let mut dns_server = vec![2, 0, 0, 53, 127, 0, 0, 1];
        dns_server.resize(16, 0);
        let mut tls_dest = vec![10, 0, 0x01, 0xbb, 0, 0, 0, 0];
        tls_dest.extend(Ipv6Addr::LOCALHOST.octets());
        let answer = response(
            "Service.assay.test",
            &[(vec![0xc0, 12], 1, vec![127, 0, 0, 2])],
        );
        let raw = vec![
            ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b""),
            payload_record(PAY_DNS, 17, &dns_server, &answer, 2),
            payload_record(PAY_TLS, 6, &tls_dest, &client_hello("tls.assay.test"), 3),
            // Names nothing: not a response, not a hello, an unknown op.
            payload_record(PAY_DNS, 17, &dns_server, b"\x00\x01junk", 4),
            payload_record(PAY_TLS, 6, &tls_dest, b"\x16\x03\x01\x00", 5),
            payload_record(9, 6, &tls_dest, &answer, 6),
        ];
        let p = project("r", &raw, Some(10), b"/w").unwrap();
        let lines: Vec<String> = p
            .events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?} {} {:?} {:?}",
                    e.seq,
                    e.process,
                    e.kind,
                    e.endpoint.as_deref().unwrap_or("-"),
                    e.name,
                    e.addresses
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                "0 net DnsAnswer udp:127.0.0.1:53 Some(\"service.assay.test\") [\"127.0.0.2\"]",
                "1 net TlsClientHello tcp:[::1]:443 Some(\"tls.assay.test\") []",
                "2 p0 Exec - None []",
            ]
        );
        // No process for the packets: the table holds the command only.
        assert_eq!(p.processes.len(), 1);
        assert_eq!(p.events[0].path, None);
    }

    #[test]
    fn results_never_overflow() {
        assert_eq!(result_of(0), "ok");
        assert_eq!(result_of(-2), "ENOENT");
        assert_eq!(result_of(-4000), "E4000");
        assert_eq!(result_of(i64::MIN), "E9223372036854775808");
    }

    #[test]
    fn open_flag_names() {
        assert_eq!(open_flags(0), ("read", vec![]));
        assert_eq!(
            open_flags(0o1101),
            ("write", vec!["create".to_string(), "trunc".to_string()])
        );
        assert!(open_writes(0o100));
        assert!(!open_writes(0o200000));
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_and_absolute(p in proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'.'), Just(b'a'), any::<u8>()], 0..40)) {
            let mut abs = vec![b'/'];
            abs.extend(&p);
            let n = normalize(&abs);
            prop_assert_eq!(n[0], b'/');
            prop_assert_eq!(normalize(&n), n.clone());
            prop_assert!(!n.windows(2).any(|w| w == b"//"));
        }

        /// Pending chunks written to disk and merged back give exactly the in-memory layer.
        #[test]
        fn spilled_projection_equals_in_memory(
            evs in proptest::collection::vec((1u32..6, 0u32..18, 1u32..6, 0u64..50, -5i64..8, -101i32..8, proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'a'), Just(b'.')], 0..12), any::<u16>()), 0..120),
            chunk in 1usize..2000,
        ) {
            let raw: Vec<RawEvent> = evs.into_iter().map(|(k, op, pid, ts, ret, dfd, p, st)| {
                let mut e = ev(k, op, pid, ts, ret, dfd, &p, b"");
                e.hdr.status = u32::from(st) & 0x1fff;
                e.hdr.ppid = u32::from(st) % 7;
                e
            }).collect();
            let mem = project("r", &raw, Some(1), b"/w").unwrap();
            let mut all = Collect::default();
            let input = Input { root_pid: Some(1), work: b"/w", resolvers: &[], lookup: &no_lookup, containers: &NO_CONTAINERS };
            let p = project_chunked("r", &raw.as_slice(), &input, &mut [&mut all], chunk).unwrap();
            prop_assert_eq!(&all.events, &mem.events);
            prop_assert_eq!(&p.processes, &mem.processes);
            prop_assert_eq!(p.events, mem.events.len() as u64);
            for (e, o) in all.events.iter().zip(&all.origins) {
                let label = &p.processes.iter().find(|x| x.key == o.key).unwrap().label;
                prop_assert_eq!(&e.process, label);
            }
        }

        #[test]
        fn projection_never_panics_and_seq_is_gapless(
            evs in proptest::collection::vec((1u32..6, 0u32..18, 1u32..5, any::<u64>(), -5i64..8, -101i32..8, proptest::collection::vec(any::<u8>(), 0..12)), 0..40)
        ) {
            let raw: Vec<RawEvent> = evs.into_iter().map(|(k, op, pid, ts, ret, dfd, p)| ev(k, op, pid, ts, ret, dfd, &p, b"")).collect();
            let pr = project("r", &raw, Some(1), b"/w").unwrap();
            for (i, e) in pr.events.iter().enumerate() {
                prop_assert_eq!(e.seq, i as u64);
            }
        }
    }
}
