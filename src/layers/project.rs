//! Pass 1 of the kernel layer, one raw record at a time: the process table (keys, parents,
//! labels' inputs) and each record's canonical event before labels are known ([`Pending`]).
//!
//! Paths come from the kernel (`bpf/paths.h`): the path of the object it resolved (`kernel`:
//! an opened or executed file, the working directory after a chdir, a UNIX socket's file), or
//! the directory it resolved against joined with the argument's text (`dir_text`: a path-only
//! operation), or the text alone (`text`: an absolute argument). Nothing is resolved against a
//! working directory or descriptor table kept here. Text that cannot be joined lexically — a
//! `..` after a component of the text, a `/proc`/`/dev/fd` magic link, a symlink the run made
//! — or that changed while the syscall ran (`ST_UNSTABLE`: the probe compares the text and its
//! base at entry and exit) makes the path `ambiguous` (counted for health).
//! Imports: `crate::kernel::event`, `crate::contracts::kernel_event`, `crate::pathbytes`,
//! `crate::layers::{kernel, names}`.

use super::containers::{Container, ContainerMap, PROXY_SOCKET_SHOWN};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use super::render::{display, event_flags_for, net_endpoint, normalize, sockaddr, unix_path};
use crate::contracts::kernel_event::{Kind, PathFrom};
use crate::kernel::event::*;
use crate::pathbytes::escape;

/// The key the lines of no process carry (process keys start at 1).
pub(crate) const NET_KEY: u32 = 0;

/// A bit of an open line's flags, above every `O_*` flag (the syscall's own bits are cut to 32):
/// the process opened, only for reading, the very file the kernel executed for it (both named
/// by the kernel from dentries) — as V8 does to remap its own code, on some runs and not on
/// others. Shown as the flag `own_program`; the surface counts it as part of the exec.
pub(crate) const OWN_PROGRAM: u64 = 1 << 40;

/// One event before labels are known; paths are already in their text form.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// The process's key (events are grouped by it).
    pub key: u32,
    pub pid: u32,
    pub ns: u64,
    pub kind: Option<Kind>,
    pub path: Option<String>,
    pub path2: Option<String>,
    pub path_from: Option<PathFrom>,
    pub arg: Option<String>,
    pub ambiguous: bool,
    pub flags: u64,
    pub endpoint: Option<String>,
    pub name: Option<String>,
    pub addresses: Vec<String>,
    pub dns_id: Option<u16>,
    pub earned: bool,
    pub child: Option<u32>,
    pub exit_code: Option<i64>,
    pub ret: i64,
    pub escaped: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Proc {
    pub pid: u32,
    /// The parent's key.
    pub parent: Option<u32>,
    pub ppid: Option<u32>,
    pub children: Vec<u32>,
    pub first_exec: Option<Vec<u8>>,
    pub last_exec: Option<Vec<u8>>,
    /// The program the process runs, as shown, when the kernel named it (its exec's file,
    /// rebuilt from dentries; a fork runs its parent's): an open of it for reading is part of
    /// that exec (see [`OWN_PROGRAM`]).
    pub program: Option<String>,
    pub first_ns: u64,
    pub exit_ns: Option<u64>,
    pub order: usize,
}

/// The process table: every process of the run by key, and which key each pid currently
/// names (a fork of a reused pid points it at a new process).
#[derive(Debug, Default)]
pub(crate) struct Procs {
    pub all: HashMap<u32, Proc>,
    live: HashMap<u32, u32>,
    next_key: u32,
}

impl Procs {
    fn add(&mut self, p: Proc) -> u32 {
        self.next_key += 1;
        let key = self.next_key;
        self.live.insert(p.pid, key);
        self.all.insert(
            key,
            Proc {
                order: key as usize,
                ..p
            },
        );
        key
    }

    /// The key of the process `pid` names now, adding it when there is none (the command
    /// itself, or a process the probes met mid-life).
    fn key_of(&mut self, pid: u32, ns: u64) -> u32 {
        if let Some(&k) = self.live.get(&pid) {
            return k;
        }
        self.add(Proc {
            pid,
            first_ns: ns,
            ..Proc::default()
        })
    }

    /// Gives a container's first process, which the probes met with no parent (the
    /// container runtime forked it outside the session), the process that created the
    /// container as its parent.
    fn adopt(&mut self, key: u32, creator_pid: Option<u32>) {
        let Some(parent) = creator_pid.and_then(|pid| self.live.get(&pid).copied()) else {
            return;
        };
        if parent == key || self.all.get(&key).is_none_or(|p| p.parent.is_some()) {
            return;
        }
        if let Some(p) = self.all.get_mut(&key) {
            p.parent = Some(parent);
            p.ppid = creator_pid;
        }
        if let Some(p) = self.all.get_mut(&parent) {
            p.children.push(key);
        }
    }

    /// A fork of `child_pid` by the process `parent`: always a new process (the pid may be a
    /// reused one).
    fn fork(&mut self, parent: u32, parent_pid: u32, child_pid: u32, ns: u64) -> u32 {
        let program = self.all.get(&parent).and_then(|p| p.program.clone());
        let child = self.add(Proc {
            pid: child_pid,
            parent: Some(parent),
            ppid: Some(parent_pid),
            program,
            first_ns: ns,
            ..Proc::default()
        });
        if let Some(p) = self.all.get_mut(&parent) {
            p.children.push(child);
        }
        child
    }

    /// The key of the command's process: the first process that had the root pid.
    pub fn root_key(&self, root_pid: Option<u32>) -> Option<u32> {
        let root = root_pid?;
        self.all
            .iter()
            .filter(|(_, p)| p.pid == root)
            .map(|(k, _)| *k)
            .min()
    }
}

/// DNS traffic of the run, for names: the queries it sent and who may answer them.
#[derive(Debug, Default)]
struct Dns {
    /// (server, id, question) of every query a session socket sent.
    queries: HashSet<(String, u16, String)>,
    /// Local UDP endpoints session sockets bound (`udp:ADDR:PORT`): an answer from one of them
    /// was made by the run itself.
    bound: HashSet<String>,
}

/// What a directory prefix of a path-only operation's text is now, after the run (the
/// pipeline looks; tests and fuzzing say `Plain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// A directory (or anything that is not a symlink): the text names it.
    Plain,
    /// A symlink, resolving to this absolute path: the kernel went there.
    Symlink(Vec<u8>),
    /// Gone: if the run did not make it, it may have been a symlink the run removed.
    Missing,
}

/// Looks a prefix up (`lstat`, and the target of a symlink).
pub type PrefixLookup<'a> = &'a dyn Fn(&[u8]) -> Prefix;

/// Counts the projection found worth reporting in health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub escaped_pids: BTreeSet<u32>,
    pub unresolved_paths: u64,
    pub truncated_paths: u64,
    pub read_faults: u64,
    /// Paths of successful path-only operations whose text the kernel may have resolved
    /// elsewhere (`..` after a name, a magic link, a symlink the run made).
    pub ambiguous_paths: u64,
}

/// Pass 1 over the raw records.
pub(crate) struct Projector<'a> {
    pub procs: Procs,
    pub stats: Stats,
    work: &'a [u8],
    /// The resolvers the host is configured with (`udp:ADDR:53`): only their answers name.
    resolvers: &'a [String],
    /// Paths of symlinks the run made: text through them is ambiguous.
    symlinks: HashSet<Vec<u8>>,
    /// Directories the run made (mkdir, a rename's target): not planted.
    made_dirs: HashSet<Vec<u8>>,
    lookup: PrefixLookup<'a>,
    prefixes: HashMap<Vec<u8>, Prefix>,
    /// Cgroups made below the session's during the run, by id: the name a container is looked up
    /// by (a runtime's cgroup: its own name; one the run made: its maker's cgroup's, so a
    /// container's nested cgroup stays that container's and any other is the host's), or none.
    pub cgroups: HashMap<u64, Option<String>>,
    /// The containers placed under the session, by id (a cgroup's name).
    containers: &'a ContainerMap,
    /// The container of the record being projected, if its process is in one.
    current: Option<&'a Container>,
    dns: Dns,
}

/// How one path of a record was made (`which` 1 or 2), from its status bits.
struct Made {
    kernel: bool,
    dir_text: bool,
    /// Where the text starts in a `dir_text` path.
    base: usize,
}

fn made(h: &EventHdr, which: u8) -> Made {
    let (k, t) = if which == 1 {
        (ST_KPATH1, ST_TEXT1)
    } else {
        (ST_KPATH2, ST_TEXT2)
    };
    let base = if which == 1 {
        h.ppid & 0xffff
    } else {
        h.ppid >> 16
    };
    Made {
        kernel: h.status & k != 0,
        dir_text: h.status & t != 0,
        base: base as usize,
    }
}

/// A `/proc` path in a form that does not depend on pids (the kernel rebuilds `/proc/self/x` as
/// `/proc/PID/x`): the opener's own process is `/proc/self`, its own thread
/// `/proc/thread-self` (another of its threads `/proc/self/task/<tid>`), any other process
/// `/proc/<pid>`.
fn proc_canonical(path: Vec<u8>, pid: u32, tid: u32) -> Vec<u8> {
    let Some(rest) = path.strip_prefix(b"/proc/") else {
        return path;
    };
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let (num, tail) = rest.split_at(end);
    if num.is_empty() || !num.iter().all(u8::is_ascii_digit) {
        return path;
    }
    let is = |n: &[u8], v: u32| n == v.to_string().as_bytes();
    if !is(num, pid) {
        let mut out = b"/proc/<pid>".to_vec();
        out.extend_from_slice(tail);
        return out;
    }
    // the opener's own process: its own thread, or another thread of it
    if let Some(t) = tail.strip_prefix(b"/task/") {
        let end = t.iter().position(|&b| b == b'/').unwrap_or(t.len());
        let (n, t) = t.split_at(end);
        if !n.is_empty() && n.iter().all(u8::is_ascii_digit) {
            let mut out = if is(n, tid) {
                b"/proc/thread-self".to_vec()
            } else {
                b"/proc/self/task/<tid>".to_vec()
            };
            out.extend_from_slice(t);
            return out;
        }
    }
    let mut out = b"/proc/self".to_vec();
    out.extend_from_slice(tail);
    out
}

/// Whether text components (`text`, relative) hold a `..` after a name: the kernel resolves
/// it against what that name is (a symlink's target), which text cannot know.
fn dotdot_after_name(text: &[u8]) -> bool {
    let mut named = false;
    for c in text.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." if named => return true,
            b".." => {}
            _ => named = true,
        }
    }
    false
}

/// Whether a normalized path goes through a magic link of `/proc` or `/dev/fd`, which the
/// kernel resolves to whatever the link points at (a descriptor's file, a process's root or
/// working directory).
fn magic(path: &[u8]) -> bool {
    if let Some(rest) = path.strip_prefix(b"/dev/") {
        return rest.starts_with(b"fd/")
            || matches!(rest, b"stdin" | b"stdout" | b"stderr")
            || rest.starts_with(b"stdin/")
            || rest.starts_with(b"stdout/")
            || rest.starts_with(b"stderr/");
    }
    let Some(rest) = path.strip_prefix(b"/proc/") else {
        return false;
    };
    let mut parts = rest.split(|&b| b == b'/');
    let who = parts.next().unwrap_or_default();
    let proc_dir = who == b"self"
        || who == b"thread-self"
        || (!who.is_empty() && who.iter().all(u8::is_ascii_digit));
    let mut next = parts.next().unwrap_or_default();
    if proc_dir && next == b"task" {
        parts.next();
        next = parts.next().unwrap_or_default();
    }
    proc_dir && matches!(next, b"fd" | b"cwd" | b"root" | b"exe" | b"map_files")
}

impl<'a> Projector<'a> {
    pub fn new(
        work: &'a [u8],
        resolvers: &'a [String],
        lookup: PrefixLookup<'a>,
        containers: &'a ContainerMap,
    ) -> Projector<'a> {
        Projector {
            procs: Procs::default(),
            stats: Stats::default(),
            work,
            resolvers,
            symlinks: HashSet::new(),
            made_dirs: HashSet::new(),
            lookup,
            prefixes: HashMap::new(),
            cgroups: HashMap::new(),
            containers,
            current: None,
            dns: Dns::default(),
        }
    }

    /// A text path's directory components (from `start`, where the text begins) as the kernel
    /// followed them: a component that is a symlink now is replaced by its target; one that is
    /// gone, and that the run did not make, makes the path ambiguous (it may have been a
    /// symlink the run removed). Returns the path and whether it is ambiguous.
    fn follow_prefixes(&mut self, path: Vec<u8>, start: usize) -> (Vec<u8>, bool) {
        let mut path = path;
        let mut i = start.max(1);
        let mut hops = 0;
        while let Some(off) = path
            .get(i..)
            .and_then(|r| r.iter().position(|&b| b == b'/'))
        {
            let end = i + off;
            i = end + 1;
            let prefix = normalize(&path[..end]);
            if prefix.len() <= 1
                || self.made_dirs.contains(&prefix)
                || self.symlinks.contains(&prefix)
            {
                continue;
            }
            let kind = match self.prefixes.get(&prefix) {
                Some(k) => k.clone(),
                None => {
                    let k = (self.lookup)(&prefix);
                    self.prefixes.insert(prefix.clone(), k.clone());
                    k
                }
            };
            match kind {
                Prefix::Plain => {}
                Prefix::Missing => return (path, true),
                Prefix::Symlink(target) => {
                    hops += 1;
                    if hops > 40 {
                        return (path, true);
                    }
                    let mut p = target;
                    i = p.len() + 1;
                    p.extend_from_slice(&path[end..]);
                    path = p;
                }
            }
        }
        (path, false)
    }

    /// One raw record: updates the process table, returns the event it makes (if any).
    pub fn record(&mut self, h: &EventHdr, data1: &[u8], data2: &[u8]) -> Option<Pending> {
        if h.kind == EV_PAYLOAD {
            return self.payload(h, data1);
        }
        if h.kind == EV_CGROUP {
            // a cgroup below the session's: whose processes carry this id (containers). A name
            // the run's own processes chose claims nothing: such a cgroup is the container its
            // maker was in, if any.
            let name = match h.status & ST_BY_RUN {
                0 => Some(escape(data1)),
                _ => self.cgroups.get(&h.flags).cloned().flatten(),
            };
            self.cgroups.insert(h.cgid, name);
            return None;
        }
        self.current = self
            .cgroups
            .get(&h.cgid)
            .and_then(|name| name.as_deref())
            .and_then(|name| self.containers.of_cgroup(name));
        let key = self.procs.key_of(h.pid, h.ts);
        if let Some(c) = self.current {
            self.procs.adopt(key, c.creator_pid);
        }
        if h.status & ST_ESCAPED != 0 {
            self.stats.escaped_pids.insert(h.pid);
        }
        if h.status & (ST_TRUNC1 | ST_TRUNC2) != 0 {
            self.stats.truncated_paths += 1;
        }
        if h.status & (ST_FAULT1 | ST_FAULT2) != 0 && h.ret >= 0 {
            self.stats.read_faults += 1;
        }
        let mut ev = Pending {
            key,
            pid: h.pid,
            ns: h.ts,
            flags: h.flags,
            ret: h.ret,
            escaped: h.status & ST_ESCAPED != 0,
            ..Pending::default()
        };
        match h.kind {
            EV_EXEC => self.exec(key, h, data1, data2, &mut ev),
            EV_FORK => {
                ev.kind = Some(Kind::Fork);
                ev.child = Some(self.procs.fork(key, h.pid, h.ret as u32, h.ts));
                ev.ret = 0;
            }
            EV_EXIT => {
                if let Some(p) = self.procs.all.get_mut(&key) {
                    p.exit_ns = Some(h.ts);
                }
                ev.kind = Some(Kind::Exit);
                ev.exit_code = Some(h.ret);
                ev.ret = 0;
            }
            EV_NET => self.net(h, data1, data2, &mut ev)?,
            _ => self.syscall(h, data1, data2, &mut ev)?,
        }
        Some(ev)
    }

    /// A path of a record in its display form, how it was made, and whether text made it
    /// ambiguous. An empty path (it could not be read or rebuilt) is `<unresolved>`.
    fn path(&mut self, h: &EventHdr, which: u8, data: &[u8]) -> (String, PathFrom, bool) {
        let m = made(h, which);
        if m.kernel && !data.is_empty() && data.first() != Some(&b'/') {
            // a file no path leads to, by the name the kernel gives it (`memfd:NAME`)
            return (escape(data), PathFrom::Kernel, false);
        }
        if data.is_empty() || (!m.kernel && !m.dir_text && data.first() != Some(&b'/')) {
            if h.ret >= 0 {
                self.stats.unresolved_paths += 1;
            }
            let mut v = b"<unresolved>/".to_vec();
            v.extend_from_slice(data);
            return (escape(&v), PathFrom::Text, false);
        }
        let mut n = proc_canonical(normalize(data), h.pid, h.tid);
        if let Some(c) = self.current {
            // the container's own namespace: a mount's host path, or the image's
            let (mapped, host) = c.host_path(&n);
            if !host {
                return self.in_image(h, &m, data, mapped);
            }
            n = mapped;
        }
        if self.containers.proxy_socket.as_deref() == Some(n.as_slice()) {
            let from = match (m.kernel, m.dir_text) {
                (true, _) => PathFrom::Kernel,
                (false, true) => PathFrom::DirText,
                (false, false) => PathFrom::Text,
            };
            return (PROXY_SOCKET_SHOWN.into(), from, false);
        }
        if m.kernel {
            // a file of another mount namespace: the path names a file there, not here
            let foreign = h.status & ST_FOREIGN != 0;
            if foreign && h.ret >= 0 {
                self.stats.ambiguous_paths += 1;
            }
            return (display(&n, self.work), PathFrom::Kernel, foreign);
        }
        let text = if m.dir_text {
            data.get(m.base.min(data.len())..).unwrap_or_default()
        } else {
            data
        };
        let mut ambiguous = h.status & ST_UNSTABLE != 0
            || dotdot_after_name(text)
            || magic(&n)
            || self.through_symlink(&n);
        if h.ret >= 0 && !ambiguous {
            // the text's own directory components (the base is the kernel's)
            let start = if m.dir_text {
                (m.base + 1).min(n.len())
            } else {
                0
            };
            let (followed, gone) = self.follow_prefixes(n, start);
            n = normalize(&followed);
            ambiguous = gone;
        }
        if ambiguous && h.ret >= 0 {
            self.stats.ambiguous_paths += 1;
        }
        let from = if m.dir_text {
            PathFrom::DirText
        } else {
            PathFrom::Text
        };
        (display(&n, self.work), from, ambiguous)
    }

    /// A path in a container's own filesystem (`container:IMAGE:/path`, no host path leads
    /// there): made by the kernel, or text, which is ambiguous where it holds what text cannot
    /// resolve (the container's symlinks are not looked up).
    fn in_image(
        &mut self,
        h: &EventHdr,
        m: &Made,
        data: &[u8],
        shown: Vec<u8>,
    ) -> (String, PathFrom, bool) {
        if m.kernel {
            return (escape(&shown), PathFrom::Kernel, false);
        }
        let text = match m.dir_text {
            true => data.get(m.base.min(data.len())..).unwrap_or_default(),
            false => data,
        };
        let ambiguous = h.status & ST_UNSTABLE != 0 || dotdot_after_name(text);
        if ambiguous && h.ret >= 0 {
            self.stats.ambiguous_paths += 1;
        }
        let from = match m.dir_text {
            true => PathFrom::DirText,
            false => PathFrom::Text,
        };
        (escape(&shown), from, ambiguous)
    }

    /// Whether a successful open only reads the file the kernel executed for the process: both
    /// named by the kernel, and equal; and the file is of the process's own mount namespace (a
    /// file reached through `/proc/PID/root` or a descriptor from another namespace is
    /// `ST_FOREIGN`: there the same path may name another file, a bind mount over it).
    fn own_program(&self, h: &EventHdr, ev: &Pending) -> bool {
        h.ret >= 0
            && h.status & ST_FOREIGN == 0
            && !super::render::open_writes(ev.flags)
            && ev.path_from == Some(PathFrom::Kernel)
            && self.procs.all.get(&ev.key).and_then(|p| p.program.as_ref()) == ev.path.as_ref()
    }

    /// Whether a symlink the run made is a proper prefix (a directory component) of `path`.
    fn through_symlink(&self, path: &[u8]) -> bool {
        path.iter()
            .enumerate()
            .filter(|(i, b)| **b == b'/' && *i > 0)
            .any(|(i, _)| self.symlinks.contains(&path[..i]))
    }

    fn set_path(&mut self, h: &EventHdr, data: &[u8], ev: &mut Pending) {
        let (p, from, amb) = self.path(h, 1, data);
        ev.path = Some(p);
        ev.path_from = Some(from);
        ev.ambiguous = amb;
    }

    fn exec(&mut self, key: u32, h: &EventHdr, data1: &[u8], data2: &[u8], ev: &mut Pending) {
        ev.kind = Some(Kind::Exec);
        self.set_path(h, data1, ev);
        if h.status & ST_SCRIPT != 0 {
            let (p, _, amb) = self.path(h, 2, data2);
            ev.path2 = Some(p);
            ev.ambiguous |= amb;
        }
        ev.flags = u64::from(h.status & (ST_SCRIPT | ST_FILELESS | ST_LOADER));
        if h.status & ST_LOADER != 0 {
            // the loader of the program just executed: not the process's program
            ev.ret = 0;
            return;
        }
        let program = (ev.path_from == Some(PathFrom::Kernel) && h.status & ST_FILELESS == 0)
            .then(|| ev.path.clone())
            .flatten();
        if let Some(proc) = self.procs.all.get_mut(&key) {
            proc.program = program;
            let mut p = normalize(data1);
            if let Some(c) = self.current {
                p = c.host_path(&p).0;
            }
            if proc.first_exec.is_none() {
                proc.first_exec = Some(p.clone());
            }
            proc.last_exec = Some(p);
        }
        ev.ret = 0;
    }

    fn net(&mut self, h: &EventHdr, data1: &[u8], data2: &[u8], ev: &mut Pending) -> Option<()> {
        ev.endpoint = Some(net_endpoint(h.flags, data1)?);
        ev.kind = Some(match h.op {
            NET_CONNECT => Kind::NetConnect,
            NET_SEND => Kind::Send,
            NET_BIND => Kind::Bind,
            NET_LISTEN => Kind::Listen,
            _ => return None,
        });
        if h.op == NET_BIND
            && let Some(e) = &ev.endpoint
            && e.starts_with("udp:")
        {
            self.dns.bound.insert(e.clone());
        }
        if let Some(text) = unix_path(data1) {
            // the socket file as the kernel made it (bind, listen), else the text
            let p = if data2.is_empty() {
                self.path(h, 1, text).0
            } else {
                self.path(h, 2, data2).0
            };
            ev.endpoint = Some(format!("unix:{p}"));
            if h.op == NET_BIND {
                ev.path = Some(p);
                ev.path_from = Some(if data2.is_empty() {
                    PathFrom::Text
                } else {
                    PathFrom::Kernel
                });
            }
        }
        ev.flags = 0;
        ev.ret = 0;
        Some(())
    }

    fn syscall(
        &mut self,
        h: &EventHdr,
        data1: &[u8],
        data2: &[u8],
        ev: &mut Pending,
    ) -> Option<()> {
        let kind = match h.op {
            OP_OPEN => Kind::Open,
            OP_UNLINK => Kind::Unlink,
            OP_RMDIR => Kind::Rmdir,
            OP_MKDIR => Kind::Mkdir,
            OP_CHDIR | OP_FCHDIR => Kind::Chdir,
            OP_RENAME => Kind::Rename,
            OP_LINK => Kind::Link,
            OP_SYMLINK => Kind::Symlink,
            OP_CONNECT => Kind::Connect,
            OP_MKNOD => Kind::Mknod,
            op => super::render::metadata_kind(op)?,
        };
        ev.kind = Some(kind);
        match h.op {
            OP_OPEN => {
                self.set_path(h, data1, ev);
                if made(h, 1).kernel && !data2.is_empty() {
                    let arg = escape(data2);
                    if Some(&arg) != ev.path.as_ref() {
                        ev.arg = Some(arg);
                    }
                }
                ev.flags &= u64::from(u32::MAX);
                if self.own_program(h, ev) {
                    ev.flags |= OWN_PROGRAM;
                }
            }
            OP_CONNECT => {
                ev.endpoint = Some(match unix_path(data1) {
                    Some(_) if !data2.is_empty() => format!("unix:{}", self.path(h, 2, data2).0),
                    Some(text) => format!("unix:{}", self.path(h, 1, text).0),
                    None => sockaddr(data1)?,
                });
                ev.flags = 0;
            }
            OP_SYMLINK => {
                ev.path = Some(escape(data1)); // the link's content, not a path
                let (p, from, amb) = self.path(h, 2, data2);
                ev.path2 = Some(p);
                ev.path_from = Some(from);
                ev.ambiguous = amb;
                if h.ret == 0 {
                    self.symlinks.insert(normalize(data2));
                }
                ev.flags = 0;
            }
            OP_RENAME | OP_LINK => {
                if h.ret == 0 && h.op == OP_RENAME {
                    self.made_dirs.insert(normalize(data2));
                }
                self.set_path(h, data1, ev);
                let (p, _, amb) = self.path(h, 2, data2);
                ev.path2 = Some(p);
                ev.ambiguous |= amb;
                ev.flags = 0;
            }
            OP_MKNOD => self.set_path(h, data1, ev),
            _ => {
                self.set_path(h, data1, ev);
                if h.op == OP_MKDIR && h.ret == 0 {
                    self.made_dirs.insert(normalize(data1));
                }
                ev.flags = 0;
            }
        }
        Some(())
    }

    /// The line of an `EV_PAYLOAD` record, if its payload names something. A DNS answer is
    /// `earned` (names addresses in the surface) only when it comes from a resolver the host is
    /// configured with, from no socket of the run, and answers a query the run sent (same
    /// server, id and question), which came first (records arrive in time order).
    fn payload(&mut self, h: &EventHdr, data: &[u8]) -> Option<Pending> {
        use super::names;
        let remote = data.get(..SOCKADDR_SLOT)?;
        let body = data.get(PAYLOAD_OFF..)?;
        let endpoint = net_endpoint(h.flags, remote)?;
        let mut ev = Pending {
            key: NET_KEY,
            ns: h.ts,
            endpoint: Some(endpoint.clone()),
            ..Pending::default()
        };
        match h.op {
            PAY_DNS_QUERY => {
                let (id, name) = names::parse_dns_query(body).ok()?;
                self.dns.queries.insert((endpoint, id, name.clone()));
                ev.kind = Some(Kind::DnsQuery);
                ev.name = Some(name);
                ev.dns_id = Some(id);
            }
            PAY_DNS => {
                let a = names::parse_dns_response(body).ok()?;
                let from_resolver = self.resolvers.contains(&endpoint);
                let self_made = self.dns.bound.iter().any(|b| same_port_addr(b, &endpoint));
                let asked = self
                    .dns
                    .queries
                    .contains(&(endpoint.clone(), a.id, a.name.clone()));
                ev.kind = Some(Kind::DnsAnswer);
                ev.earned = from_resolver && !self_made && asked;
                ev.addresses = a.addresses.iter().map(IpAddr::to_string).collect();
                ev.name = Some(a.name);
                ev.dns_id = Some(a.id);
            }
            PAY_TLS => {
                ev.kind = Some(Kind::TlsClientHello);
                ev.name = Some(names::parse_client_hello_sni(body).ok()?);
            }
            _ => return None,
        }
        Some(ev)
    }
}

/// Whether a bound local endpoint (`udp:0.0.0.0:53` binds every address) covers `endpoint`.
fn same_port_addr(bound: &str, endpoint: &str) -> bool {
    if bound == endpoint {
        return true;
    }
    let port = |e: &str| e.rsplit_once(':').map(|(_, p)| p.to_string());
    let wildcard = bound.starts_with("udp:0.0.0.0:") || bound.starts_with("udp:[::]:");
    wildcard && port(bound) == port(endpoint)
}

/// The flags of a kernel-layer line (`exec`: `fileless`, `loader`, `script`; sorted), besides those
/// [`event_flags_for`] gives opens and mknods.
pub(crate) fn line_flags(kind: Kind, flags: u64) -> (Option<String>, Vec<String>) {
    if kind == Kind::Exec {
        let mut f = Vec::new();
        if flags & u64::from(ST_FILELESS) != 0 {
            f.push("fileless".to_string());
        }
        if flags & u64::from(ST_LOADER) != 0 {
            f.push("loader".to_string());
        }
        if flags & u64::from(ST_SCRIPT) != 0 {
            f.push("script".to_string());
        }
        return (None, f);
    }
    event_flags_for(kind, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_paths_do_not_depend_on_pids() {
        let c = |p: &str| String::from_utf8(proc_canonical(p.as_bytes().to_vec(), 42, 43)).unwrap();
        assert_eq!(c("/proc/42/cgroup"), "/proc/self/cgroup");
        assert_eq!(c("/proc/42"), "/proc/self");
        assert_eq!(c("/proc/42/task/43/comm"), "/proc/thread-self/comm");
        assert_eq!(c("/proc/42/task/44/comm"), "/proc/self/task/<tid>/comm");
        assert_eq!(c("/proc/42/task/43"), "/proc/thread-self");
        let main =
            |p: &str| String::from_utf8(proc_canonical(p.as_bytes().to_vec(), 42, 42)).unwrap();
        assert_eq!(main("/proc/42/task/42/comm"), "/proc/thread-self/comm");
        assert_eq!(c("/proc/7/status"), "/proc/<pid>/status");
        assert_eq!(c("/proc/420/status"), "/proc/<pid>/status");
        assert_eq!(c("/proc/sys/kernel"), "/proc/sys/kernel");
        assert_eq!(c("/proc/"), "/proc/");
        assert_eq!(c("/etc/42"), "/etc/42");
    }

    #[test]
    fn text_that_cannot_be_joined_lexically_is_ambiguous() {
        assert!(dotdot_after_name(b"a/link/../x"));
        assert!(!dotdot_after_name(b"../../x"));
        assert!(!dotdot_after_name(b"./a/./b"));
        assert!(dotdot_after_name(b"/etc/x/../y"));
        for p in [
            &b"/proc/self/fd/3/x"[..],
            b"/proc/1234/cwd/a",
            b"/proc/self/task/77/fd/4",
            b"/proc/thread-self/root/etc",
            b"/dev/fd/3/x",
            b"/dev/stdin",
        ] {
            assert!(magic(p), "{}", String::from_utf8_lossy(p));
        }
        for p in [
            &b"/proc/cpuinfo"[..],
            b"/proc/self/status",
            b"/dev/null",
            b"/etc/fd/x",
        ] {
            assert!(!magic(p), "{}", String::from_utf8_lossy(p));
        }
    }
}
