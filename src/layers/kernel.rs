//! The canonical kernel layer: raw ring-buffer records → `assay.runner.kernel_event.v1` lines.
//!
//! * Paths are made absolute against each process's tracked working directory (inherited at
//!   fork, updated by chdir/fchdir) or the directory fd it used (known from earlier opens), then
//!   normalized lexically (`.`/`..`; symlinks are not resolved). A path relative to an unknown
//!   directory becomes `<unresolved>/name` and is counted. The work dir becomes `<work>`.
//! * Pids become stable labels from the process tree: the command is `p0`; a child is
//!   `<parent>/<first exec basename or "fork">#<n>`, numbered among its siblings of that name in
//!   fork order. Processes not reached from `p0` are `orphan/<name>#<n>`.
//! * Lines are ordered by label, then by each process's own order; `seq` is gapless from 0.
//!
//! Imports: `crate::kernel::event`, `crate::contracts::kernel_event`, `crate::pathbytes`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::contracts::kernel_event::{self, KernelEvent, Kind};
use crate::kernel::event::*;
use crate::pathbytes::escape;

const AT_FDCWD: i32 = -100;

/// Facts about one process, for the diagnostic run events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub label: String,
    pub pid: u32,
    pub ppid: Option<u32>,
    pub exec: Option<String>,
    pub first_ns: u64,
    pub exit_ns: Option<u64>,
}

/// Counts the projection found worth reporting in health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub escaped_pids: BTreeSet<u32>,
    pub unresolved_paths: u64,
    pub truncated_paths: u64,
    pub read_faults: u64,
}

/// Where a canonical event came from: the raw record's pid and kernel time
/// (`bpf_ktime_get_ns`, CLOCK_MONOTONIC). Diagnostic; what correlation and provenance use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub pid: u32,
    pub ns: u64,
}

/// The kernel layer of one run.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub events: Vec<KernelEvent>,
    /// The origin of each of `events`, index for index.
    pub origins: Vec<Origin>,
    pub processes: Vec<ProcessInfo>,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone)]
struct Proc {
    ppid: Option<u32>,
    cwd: Option<Vec<u8>>,
    fds: HashMap<i32, Vec<u8>>,
    children: Vec<u32>,
    execs: Vec<Vec<u8>>,
    first_ns: u64,
    exit_ns: Option<u64>,
    order: usize,
}

/// One event before labels are known.
#[derive(Debug)]
struct Pending {
    pid: u32,
    ns: u64,
    kind: Kind,
    path: Option<Vec<u8>>,
    path2: Option<Vec<u8>>,
    flags: u64,
    endpoint: Option<String>,
    child: Option<u32>,
    exit_code: Option<i64>,
    ret: i64,
    escaped: bool,
}

/// Lexically normalizes an absolute path: collapses `//`, `.` and `..` (never above `/`).
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    v.push(b'/');
    v.extend_from_slice(rel);
    normalize(&v)
}

/// The text form of a normalized path, with the work dir replaced by `<work>`.
pub fn display(path: &[u8], work: &[u8]) -> String {
    if !work.is_empty() && work != b"/" {
        if path == work {
            return "<work>".into();
        }
        if let Some(rest) = path.strip_prefix(work)
            && rest.first() == Some(&b'/')
        {
            return format!("<work>{}", escape(rest));
        }
    }
    escape(path)
}

/// Text form of a sockaddr read by the connect probe.
pub fn sockaddr(b: &[u8]) -> Option<String> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    match family {
        2 => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let ip = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(4..8)?).ok()?);
            Some(format!("{ip}:{port}"))
        }
        10 => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?);
            Some(format!("[{ip}]:{port}"))
        }
        1 => {
            let path = b.get(2..).unwrap_or(&[]);
            if path.first() == Some(&0) {
                let name = &path[1..];
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                Some(format!("unix:@{}", escape(&name[..end])))
            } else {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                Some(format!("unix:{}", escape(&path[..end])))
            }
        }
        0 => None, // AF_UNSPEC: dissolves a UDP association, not an endpoint
        f => Some(format!("family{f}:unparsed")),
    }
}

/// Name of an IP protocol number in endpoints (`tcp:127.0.0.1:80`).
pub fn protocol_name(proto: u64) -> String {
    match proto {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        136 => "udplite".into(),
        n => format!("ip{n}"),
    }
}

/// The endpoint of a network event from the session cgroup's hooks (or listen): the protocol,
/// then the address (`udp:[::1]:53`).
pub fn net_endpoint(proto: u64, addr: &[u8]) -> Option<String> {
    let a = sockaddr(addr)?;
    Some(format!("{}:{a}", protocol_name(proto)))
}

/// `ok` or the errno name.
pub fn result_of(ret: i64) -> String {
    if ret >= 0 {
        return "ok".into();
    }
    // A kernel error is -1..=-4095; anything else is not an errno and is shown as a number.
    match i32::try_from(ret.unsigned_abs()).map(nix::errno::Errno::from_raw) {
        Ok(errno) if errno != nix::errno::Errno::UnknownErrno => format!("{errno:?}"),
        _ => format!("E{}", ret.unsigned_abs()),
    }
}

/// Access mode and sorted extra flags of an open.
pub fn open_flags(flags: u64) -> (&'static str, Vec<String>) {
    let access = match flags & 3 {
        0 => "read",
        1 => "write",
        _ => "read_write",
    };
    let mut extra = Vec::new();
    for (bit, name) in [
        (0o100, "create"),
        (0o200, "excl"),
        (0o1000, "trunc"),
        (0o2000, "append"),
        (0o200000, "directory"),
        (0o20000000, "tmpfile"),
    ] {
        if flags & bit == bit {
            extra.push(name.to_string());
        }
    }
    if extra.iter().any(|f| f == "tmpfile") {
        extra.retain(|f| f != "directory");
    }
    extra.sort();
    (access, extra)
}

/// Whether an open with these flags can change the file.
pub fn open_writes(flags: u64) -> bool {
    flags & 3 != 0 || flags & (0o100 | 0o1000) != 0
}

/// Builds the canonical kernel layer.
pub fn project(run_id: &str, raw: &[RawEvent], root_pid: Option<u32>, work: &[u8]) -> Projection {
    let mut raw: Vec<&RawEvent> = raw.iter().collect();
    raw.sort_by_key(|e| e.hdr.ts); // stable: ties keep ring order
    let mut procs: HashMap<u32, Proc> = HashMap::new();
    let mut stats = Stats::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut next_order = 0usize;

    for e in raw {
        let h = &e.hdr;
        if let std::collections::hash_map::Entry::Vacant(slot) = procs.entry(h.pid) {
            next_order += 1;
            let cwd = (Some(h.pid) == root_pid).then(|| normalize(work));
            slot.insert(Proc {
                cwd,
                first_ns: h.ts,
                order: next_order,
                ..Proc::default()
            });
        }
        if h.status & ST_ESCAPED != 0 {
            stats.escaped_pids.insert(h.pid);
        }
        if h.status & (ST_TRUNC1 | ST_TRUNC2) != 0 {
            stats.truncated_paths += 1;
        }
        if h.status & (ST_FAULT1 | ST_FAULT2) != 0 {
            stats.read_faults += 1;
        }
        let mut resolve = |procs: &HashMap<u32, Proc>, dfd: i32, p: &[u8]| -> Vec<u8> {
            if p.first() == Some(&b'/') {
                return normalize(p);
            }
            let proc = &procs[&h.pid];
            let base = if dfd == AT_FDCWD {
                proc.cwd.clone()
            } else {
                proc.fds.get(&dfd).cloned()
            };
            match base {
                Some(b) => join(&b, p),
                None => {
                    stats.unresolved_paths += 1;
                    let mut v = b"<unresolved>/".to_vec();
                    v.extend_from_slice(p);
                    v
                }
            }
        };
        let escaped = h.status & ST_ESCAPED != 0;
        let mut ev = Pending {
            pid: h.pid,
            ns: h.ts,
            kind: Kind::Exec,
            path: None,
            path2: None,
            flags: h.flags,
            endpoint: None,
            child: None,
            exit_code: None,
            ret: h.ret,
            escaped,
        };
        match h.kind {
            EV_EXEC => {
                let p = resolve(&procs, AT_FDCWD, &e.data1);
                if let Some(proc) = procs.get_mut(&h.pid) {
                    proc.execs.push(p.clone());
                }
                ev.path = Some(p);
                ev.ret = 0;
            }
            EV_FORK => {
                let child = h.ret as u32;
                let parent = procs.get(&h.pid).cloned().unwrap_or_default();
                procs.insert(
                    child,
                    Proc {
                        ppid: Some(h.pid),
                        cwd: parent.cwd.clone(),
                        fds: parent.fds.clone(),
                        first_ns: h.ts,
                        order: {
                            next_order += 1;
                            next_order
                        },
                        ..Proc::default()
                    },
                );
                if let Some(p) = procs.get_mut(&h.pid) {
                    p.children.push(child);
                }
                ev.kind = Kind::Fork;
                ev.child = Some(child);
                ev.ret = 0;
            }
            EV_EXIT => {
                if let Some(p) = procs.get_mut(&h.pid) {
                    p.exit_ns = Some(h.ts);
                }
                ev.kind = Kind::Exit;
                ev.exit_code = Some(h.ret);
                ev.ret = 0;
            }
            EV_NET => {
                let Some(ep) = net_endpoint(h.flags, &e.data1) else {
                    continue;
                };
                ev.kind = match h.op {
                    NET_CONNECT => Kind::NetConnect,
                    NET_SEND => Kind::Send,
                    NET_BIND => Kind::Bind,
                    NET_LISTEN => Kind::Listen,
                    _ => continue,
                };
                ev.endpoint = Some(ep);
                ev.flags = 0;
                ev.ret = 0;
            }
            _ => match h.op {
                OP_OPEN => {
                    let p = resolve(&procs, h.dfd1, &e.data1);
                    if h.ret >= 0
                        && let Some(proc) = procs.get_mut(&h.pid)
                    {
                        proc.fds.insert(h.ret as i32, p.clone());
                    }
                    ev.kind = Kind::Open;
                    ev.path = Some(p);
                }
                OP_UNLINK | OP_RMDIR | OP_MKDIR | OP_CHDIR => {
                    let p = resolve(&procs, h.dfd1, &e.data1);
                    ev.kind = match h.op {
                        OP_UNLINK => Kind::Unlink,
                        OP_RMDIR => Kind::Rmdir,
                        OP_MKDIR => Kind::Mkdir,
                        _ => Kind::Chdir,
                    };
                    if h.op == OP_CHDIR
                        && h.ret == 0
                        && let Some(proc) = procs.get_mut(&h.pid)
                    {
                        proc.cwd = Some(p.clone());
                    }
                    ev.path = Some(p);
                    ev.flags = 0;
                }
                OP_FCHDIR => {
                    let target = procs.get(&h.pid).and_then(|p| p.fds.get(&h.dfd1).cloned());
                    if h.ret == 0 {
                        if target.is_none() {
                            stats.unresolved_paths += 1;
                        }
                        if let Some(proc) = procs.get_mut(&h.pid) {
                            proc.cwd = target.clone();
                        }
                    }
                    ev.kind = Kind::Chdir;
                    ev.path =
                        Some(target.unwrap_or_else(|| format!("<fd {}>", h.dfd1).into_bytes()));
                    ev.flags = 0;
                }
                OP_RENAME | OP_LINK => {
                    ev.kind = if h.op == OP_RENAME {
                        Kind::Rename
                    } else {
                        Kind::Link
                    };
                    ev.path = Some(resolve(&procs, h.dfd1, &e.data1));
                    ev.path2 = Some(resolve(&procs, h.dfd2, &e.data2));
                    ev.flags = 0;
                }
                OP_SYMLINK => {
                    ev.kind = Kind::Symlink;
                    ev.path = Some(e.data1.clone()); // link text, not resolved
                    ev.path2 = Some(resolve(&procs, h.dfd2, &e.data2));
                    ev.flags = 0;
                }
                OP_CONNECT => {
                    match sockaddr(&e.data1) {
                        Some(ep) => ev.endpoint = Some(ep),
                        None => continue,
                    }
                    ev.kind = Kind::Connect;
                    ev.flags = 0;
                }
                _ => continue,
            },
        }
        pending.push(ev);
    }

    let labels = assign_labels(&procs, root_pid);
    let mut by_proc: BTreeMap<&str, Vec<&Pending>> = BTreeMap::new();
    for p in &pending {
        by_proc.entry(labels[&p.pid].as_str()).or_default().push(p);
    }
    let mut events = Vec::with_capacity(pending.len());
    let mut origins = Vec::with_capacity(pending.len());
    for (label, list) in by_proc {
        for p in list {
            origins.push(Origin {
                pid: p.pid,
                ns: p.ns,
            });
            let (access, flags) = if p.kind == Kind::Open {
                let (a, f) = open_flags(p.flags);
                (Some(a.to_string()), f)
            } else {
                (None, Vec::new())
            };
            events.push(KernelEvent {
                schema: kernel_event::SCHEMA.into(),
                run_id: run_id.into(),
                seq: events.len() as u64,
                process: label.to_string(),
                kind: p.kind,
                path: p.path.as_deref().map(|x| {
                    if p.kind == Kind::Symlink {
                        escape(x)
                    } else {
                        display(x, work)
                    }
                }),
                path2: p.path2.as_deref().map(|x| display(x, work)),
                access,
                flags,
                endpoint: p.endpoint.clone(),
                child: p.child.map(|c| labels[&c].clone()),
                exit_code: p.exit_code,
                result: result_of(p.ret),
                escaped: p.escaped,
            });
        }
    }
    let mut processes: Vec<ProcessInfo> = procs
        .iter()
        .map(|(&pid, p)| ProcessInfo {
            label: labels[&pid].clone(),
            pid,
            ppid: p.ppid,
            exec: p.execs.last().map(|x| display(x, work)),
            first_ns: p.first_ns,
            exit_ns: p.exit_ns,
        })
        .collect();
    processes.sort_by(|a, b| a.label.cmp(&b.label));
    Projection {
        events,
        origins,
        processes,
        stats,
    }
}

fn base_name(p: &Proc) -> String {
    match p.execs.first() {
        Some(path) => {
            let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            escape(name).replace(['/', '#'], "_")
        }
        None => "fork".into(),
    }
}

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
        let parent_label = labels[&pid].clone();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut kids = procs[&pid].children.clone();
        kids.sort_by_key(|c| procs.get(c).map(|p| (p.first_ns, p.order)));
        for c in kids {
            if labels.contains_key(&c) || !procs.contains_key(&c) {
                continue;
            }
            let name = base_name(&procs[&c]);
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
    }

    #[test]
    fn resolves_relative_paths_labels_and_orders() {
        let work = b"/w";
        let raw = vec![
            ev(EV_EXEC, 0, 10, 1, 0, 0, b"/bin/sh", b""),
            ev(EV_SYSCALL, OP_OPEN, 10, 2, 3, AT_FDCWD, b"a.txt", b""),
            ev(EV_FORK, 0, 10, 3, 11, 0, b"", b""),
            ev(EV_FORK, 0, 10, 4, 12, 0, b"", b""),
            ev(EV_EXEC, 0, 12, 5, 0, 0, b"/bin/cat", b""),
            ev(EV_EXEC, 0, 11, 6, 0, 0, b"/bin/cat", b""),
            ev(EV_SYSCALL, OP_CHDIR, 11, 7, 0, AT_FDCWD, b"sub/../d", b""),
            ev(EV_SYSCALL, OP_OPEN, 11, 8, 4, AT_FDCWD, b"f", b""),
            ev(EV_SYSCALL, OP_OPEN, 11, 9, -2, 4, b"g", b""),
            ev(EV_SYSCALL, OP_OPEN, 11, 10, -2, 9, b"h", b""),
            ev(EV_EXIT, 0, 11, 11, 256, 0, b"", b""),
        ];
        let p = project("r", &raw, Some(10), work);
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
                "8 p0/cat#1 Open Some(\"<unresolved>/h\") None ENOENT",
                "9 p0/cat#1 Exit None None ok",
                "10 p0/cat#2 Exec Some(\"/bin/cat\") None ok",
            ]
        );
        assert_eq!(p.stats.unresolved_paths, 1);
        assert_eq!(p.events[9].exit_code, Some(256));
        let info: Vec<_> = p
            .processes
            .iter()
            .map(|x| (x.label.as_str(), x.pid))
            .collect();
        assert_eq!(info, [("p0", 10), ("p0/cat#1", 11), ("p0/cat#2", 12)]);
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
        let p = project("r", &raw, Some(10), b"/w");
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

        #[test]
        fn projection_never_panics_and_seq_is_gapless(
            evs in proptest::collection::vec((1u32..6, 0u32..12, 1u32..5, any::<u64>(), -5i64..8, -101i32..8, proptest::collection::vec(any::<u8>(), 0..12)), 0..40)
        ) {
            let raw: Vec<RawEvent> = evs.into_iter().map(|(k, op, pid, ts, ret, dfd, p)| ev(k, op, pid, ts, ret, dfd, &p, b"")).collect();
            let pr = project("r", &raw, Some(1), b"/w");
            for (i, e) in pr.events.iter().enumerate() {
                prop_assert_eq!(e.seq, i as u64);
            }
        }
    }
}
