//! The projection as it was before the kernel layer was streamed through spills, kept as the
//! oracle the streaming projection is tested against (byte-identical layers).

use std::collections::{BTreeMap, HashMap};

use super::kernel::*;
use crate::contracts::kernel_event::{self, KernelEvent, Kind};
use crate::kernel::event::*;
use crate::pathbytes::escape;

const AT_FDCWD: i32 = -100;

fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    v.push(b'/');
    v.extend_from_slice(rel);
    normalize(&v)
}

#[derive(Debug, Default, Clone)]
struct Proc {
    pid: u32,
    parent: Option<u32>,
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
    /// The process key.
    pid: u32,
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

/// Builds the canonical kernel layer.
pub fn reference_project(
    run_id: &str,
    raw: &[RawEvent],
    root_pid: Option<u32>,
    work: &[u8],
) -> Projection {
    let mut raw: Vec<&RawEvent> = raw.iter().collect();
    raw.sort_by_key(|e| e.hdr.ts); // stable: ties keep ring order
    let mut procs: HashMap<u32, Proc> = HashMap::new();
    let mut stats = Stats::default();
    let mut pending: Vec<Pending> = Vec::new();
    let mut next_order = 0usize;
    // pid → the key of the process it names now (a fork of a reused pid is a new process)
    let mut live: HashMap<u32, u32> = HashMap::new();
    let mut root_key = None;

    for e in raw {
        let h = &e.hdr;
        let key = match live.get(&h.pid) {
            Some(&k) => k,
            None => {
                next_order += 1;
                let k = next_order as u32;
                live.insert(h.pid, k);
                let cwd = (Some(h.pid) == root_pid).then(|| normalize(work));
                if Some(h.pid) == root_pid && root_key.is_none() {
                    root_key = Some(k);
                }
                procs.insert(
                    k,
                    Proc {
                        pid: h.pid,
                        cwd,
                        first_ns: h.ts,
                        order: next_order,
                        ..Proc::default()
                    },
                );
                k
            }
        };
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
            let proc = &procs[&key];
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
            pid: key,
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
                if let Some(proc) = procs.get_mut(&key) {
                    proc.execs.push(p.clone());
                }
                ev.path = Some(p);
                ev.path2 = memfd_name(&e.data2).map(<[u8]>::to_vec);
                ev.ret = 0;
            }
            EV_FORK => {
                let child_pid = h.ret as u32;
                let parent = procs.get(&key).cloned().unwrap_or_default();
                next_order += 1;
                let child = next_order as u32;
                live.insert(child_pid, child);
                if Some(child_pid) == root_pid && root_key.is_none() {
                    root_key = Some(child);
                }
                procs.insert(
                    child,
                    Proc {
                        pid: child_pid,
                        parent: Some(key),
                        ppid: Some(h.pid),
                        cwd: parent.cwd.clone(),
                        fds: parent.fds.clone(),
                        first_ns: h.ts,
                        order: next_order,
                        ..Proc::default()
                    },
                );
                if let Some(p) = procs.get_mut(&key) {
                    p.children.push(child);
                }
                ev.kind = Kind::Fork;
                ev.child = Some(child);
                ev.ret = 0;
            }
            EV_EXIT => {
                if let Some(p) = procs.get_mut(&key) {
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
                if let Some(p) = unix_path(&e.data1) {
                    let abs = resolve(&procs, AT_FDCWD, p);
                    ev.endpoint = Some(format!("unix:{}", display(&abs, work)));
                    if h.op == NET_BIND {
                        ev.path = Some(abs);
                    }
                }
                ev.flags = 0;
                ev.ret = 0;
            }
            _ => match h.op {
                OP_OPEN => {
                    let p = resolve(&procs, h.dfd1, &e.data1);
                    if h.ret >= 0
                        && let Some(proc) = procs.get_mut(&key)
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
                        && let Some(proc) = procs.get_mut(&key)
                    {
                        proc.cwd = Some(p.clone());
                    }
                    ev.path = Some(p);
                    ev.flags = 0;
                }
                OP_FCHDIR => {
                    let target = fd_target(&e.data2)
                        .or_else(|| procs.get(&key).and_then(|p| p.fds.get(&h.dfd1).cloned()));
                    if h.ret == 0 {
                        if target.is_none() {
                            stats.unresolved_paths += 1;
                        }
                        if let Some(proc) = procs.get_mut(&key) {
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
                OP_MKNOD => {
                    ev.kind = Kind::Mknod;
                    ev.path = Some(resolve(&procs, h.dfd1, &e.data1));
                }
                OP_TRUNCATE | OP_CHMOD | OP_CHOWN | OP_UTIMES | OP_XATTR => {
                    let Some(kind) = metadata_kind(h.op) else {
                        continue;
                    };
                    ev.kind = kind;
                    ev.path = Some(if e.data1.is_empty() && h.dfd1 != AT_FDCWD {
                        match fd_target(&e.data2)
                            .or_else(|| procs.get(&key).and_then(|p| p.fds.get(&h.dfd1).cloned()))
                        {
                            Some(t) => t,
                            None => {
                                if h.ret == 0 {
                                    stats.unresolved_paths += 1;
                                }
                                format!("<fd {}>", h.dfd1).into_bytes()
                            }
                        }
                    } else {
                        resolve(&procs, h.dfd1, &e.data1)
                    });
                    ev.flags = 0;
                }
                OP_CONNECT => {
                    match unix_path(&e.data1) {
                        Some(p) => {
                            let abs = resolve(&procs, AT_FDCWD, p);
                            ev.endpoint = Some(format!("unix:{}", display(&abs, work)));
                        }
                        None => match sockaddr(&e.data1) {
                            Some(ep) => ev.endpoint = Some(ep),
                            None => continue,
                        },
                    }
                    ev.kind = Kind::Connect;
                    ev.flags = 0;
                }
                _ => continue,
            },
        }
        pending.push(ev);
    }

    let labels = assign_labels(&procs, root_key);
    let mut by_proc: BTreeMap<&str, Vec<&Pending>> = BTreeMap::new();
    for p in &pending {
        by_proc.entry(labels[&p.pid].as_str()).or_default().push(p);
    }
    let mut events = Vec::with_capacity(pending.len());
    for (label, list) in by_proc {
        for p in list {
            let (access, flags) = event_flags(p.kind, p.flags);
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
                name: None, // payload records are not in this oracle's input (kinds 1..=5)
                addresses: Vec::new(),
                child: p.child.map(|c| labels[&c].clone()),
                exit_code: p.exit_code,
                result: result_of(p.ret),
                escaped: p.escaped,
            });
        }
    }
    let mut processes: Vec<ProcessInfo> = procs
        .iter()
        .map(|(&key, p)| ProcessInfo {
            label: labels[&key].clone(),
            key,
            parent: p.parent,
            pid: p.pid,
            ppid: p.ppid,
            exec: p.execs.last().map(|x| display(x, work)),
            first_ns: p.first_ns,
            exit_ns: p.exit_ns,
        })
        .collect();
    processes.sort_by(|a, b| a.label.cmp(&b.label));
    Projection {
        events,
        origins: Vec::new(),
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
