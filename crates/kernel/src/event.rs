//! The ring-buffer record: a `#[repr(C)]` mirror of `struct event_hdr` in `bpf/events.h` (its
//! layout is tested against the header's numbers below) and the parser that turns raw bytes
//! into [`RawEvent`]s. Parsing never panics: a short or unknown record is a [`ParseError`],
//! counted in health.
//! Imports: nothing from this crate.

/// Path buffer size of one path in a record (`ASSAY_PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Header size (`ASSAY_HDR_SIZE`).
pub const HDR_SIZE: usize = 72;
/// Largest socket address a record carries (`ASSAY_SOCKADDR_MAX`).
pub const SOCKADDR_MAX: usize = 128;

pub const EV_EXEC: u32 = 1;
pub const EV_FORK: u32 = 2;
pub const EV_EXIT: u32 = 3;
pub const EV_SYSCALL: u32 = 4;
pub const EV_NET: u32 = 5;
/// The start of a packet's payload from the session cgroup's `cgroup_skb` hooks (no process:
/// pid 0). `data1` is the remote address, the local address (each a `sockaddr_in`/`_in6` in
/// [`SOCKADDR_SLOT`] bytes), then at most [`PAYLOAD_MAX`] payload bytes; `flags` is the IP
/// protocol, `ret` the payload's full length in the packet.
pub const EV_PAYLOAD: u32 = 6;
/// A cgroup made below the session's (a container placed there): `cgid` is its id, path 1 its
/// name (a container's id under the cgroupfs driver).
pub const EV_CGROUP: u32 = 7;
/// A ring record that is a batch of events staged on one CPU (`EV_BATCH`): an 8-byte header
/// (this kind, then the number of events, each `u32`), then the events, each starting 8-byte
/// aligned. Any other record is one event. [`parse_record`] reads both.
pub const EV_BATCH: u32 = 15;
/// Size of a batch record's header (`ASSAY_BATCH_HDR_SIZE`).
pub const BATCH_HDR_SIZE: usize = 8;

/// `EV_PAYLOAD` operations: a UDP datagram from port 53 (ingress), a TCP segment starting a
/// TLS ClientHello (egress), a UDP datagram to port 53 (egress: a DNS query of the run).
pub const PAY_DNS: u32 = 1;
pub const PAY_TLS: u32 = 2;
pub const PAY_DNS_QUERY: u32 = 3;
/// Bytes of one address in an `EV_PAYLOAD` record (`ASSAY_SOCKADDR_SLOT`).
pub const SOCKADDR_SLOT: usize = 28;
/// Where the payload starts in an `EV_PAYLOAD` record's `data1` (`ASSAY_PAYLOAD_OFF`).
pub const PAYLOAD_OFF: usize = 56;
/// Payload bytes copied at most (`ASSAY_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = 512;

/// `EV_NET` operations: `data1` is a `sockaddr_in`/`sockaddr_in6`, `flags` the IP protocol.
pub const NET_CONNECT: u32 = 1;
pub const NET_SEND: u32 = 2;
pub const NET_BIND: u32 = 3;
pub const NET_LISTEN: u32 = 4;

pub const OP_OPEN: u32 = 1;
pub const OP_UNLINK: u32 = 2;
pub const OP_RMDIR: u32 = 3;
pub const OP_RENAME: u32 = 4;
pub const OP_MKDIR: u32 = 5;
pub const OP_CHDIR: u32 = 6;
pub const OP_FCHDIR: u32 = 7;
pub const OP_CONNECT: u32 = 8;
pub const OP_LINK: u32 = 9;
pub const OP_SYMLINK: u32 = 10;
/// Metadata and size changes: path 1, or with an empty path the descriptor in `dfd1` itself.
pub const OP_TRUNCATE: u32 = 11;
pub const OP_CHMOD: u32 = 12;
pub const OP_CHOWN: u32 = 13;
pub const OP_UTIMES: u32 = 14;
pub const OP_XATTR: u32 = 15;
/// mknod/mknodat: `flags` is the mode (file type bits and permissions).
pub const OP_MKNOD: u32 = 16;

pub const ST_ESCAPED: u32 = 1;
pub const ST_TRUNC1: u32 = 2;
pub const ST_TRUNC2: u32 = 4;
pub const ST_FAULT1: u32 = 8;
pub const ST_FAULT2: u32 = 16;
/// Path 1 (2) is the path of the object the kernel resolved (an opened or executed file, the
/// working directory after chdir, a UNIX socket's file), rebuilt from its dentries: exact.
pub const ST_KPATH1: u32 = 32;
pub const ST_KPATH2: u32 = 64;
/// Path 1 (2) is the kernel's base directory (a dirfd's or the working directory, rebuilt from
/// its dentries) joined with the argument's text: a path-only operation.
pub const ST_TEXT1: u32 = 128;
pub const ST_TEXT2: u32 = 256;
/// exec: a script (or binfmt_misc) ran: path 1 is its interpreter, path 2 the script as named.
pub const ST_SCRIPT: u32 = 512;
/// exec: the file has no name anyone could open (memfd, unlinked, kernel-internal mount).
pub const ST_FILELESS: u32 = 1024;
/// exec: the ELF program interpreter the kernel mapped for the program just executed (its code
/// runs first), not a new program of the process.
pub const ST_LOADER: u32 = 2048;
/// A path-only syscall's text, or the base directory it was joined to, differed between the
/// syscall's entry and exit, or could not be compared: the path may not be the one the kernel
/// used.
pub const ST_UNSTABLE: u32 = 4096;
/// cgroup: made by a process of the run, not by a container runtime; the event's `flags` then
/// hold the id of the cgroup its maker was in.
pub const ST_BY_RUN: u32 = 8192;
/// An open or executed file on a mount of another mount namespace than the process's own.
pub const ST_FOREIGN: u32 = 16384;
/// The largest batch a CPU stages (`STAGE_MAX`).
pub const STAGE_MAX: u64 = 65536;

/// Counter slots (`PROG_*`), in order, with their names in health: one per emitting program
/// family (syscall exits by operation), the pid-tree insertion failures, then the payload
/// events by `PAY_*` operation.
pub const PROG_SLOTS: [&str; 28] = [
    "exec",
    "fork",
    "exit",
    "open",
    "unlink",
    "rmdir",
    "rename",
    "mkdir",
    "chdir",
    "fchdir",
    "connect",
    "link",
    "symlink",
    "truncate",
    "chmod",
    "chown",
    "utimes",
    "xattr",
    "mknod",
    "net_connect",
    "net_send",
    "net_bind",
    "net_listen",
    "track",
    "payload_dns",
    "payload_tls",
    "payload_dns_query",
    "cgroup",
];
/// The slot of cgroups made below the session's (`PROG_CGROUP`).
pub const PROG_CGROUP: usize = 27;
/// Channels counted (not observed) by the probes, by `BLIND_*` slot: the syscall families whose
/// effects are not in the surface yet (docs/kernel.md, "Channels").
pub const BLIND_SLOTS: [&str; 17] = [
    "sendto",
    "sendmsg",
    "sendmmsg",
    "bind",
    "listen",
    "io_uring_path",
    "raw_socket",
    "mount",
    "ptrace",
    "fd_passing",
    "bpf",
    "kernel_module",
    "compat",
    "fanotify",
    "core_dump",
    "tun",
    "signal",
];

/// The slot counting failed pid-tree insertions (every other slot counts ring-buffer outputs).
pub const TRACK_SLOT: usize = 23;
/// The first payload slot (`PROG_PAYLOAD`): slot `PAYLOAD_SLOT + op - 1` per `PAY_*`.
pub const PAYLOAD_SLOT: usize = 24;

/// The slots that count ring-buffer outputs: all but [`TRACK_SLOT`].
pub fn emitter_slots() -> impl Iterator<Item = usize> {
    (0..PROG_SLOTS.len()).filter(|&i| i != TRACK_SLOT)
}

/// Slots of the per-opcode io_uring submission counter (`URING_OPS`); the last one also counts
/// every opcode above it.
pub const URING_OPS: usize = 64;

/// io_uring opcodes whose effect the surface would miss, by number, with the name used in the
/// `unobserved-channel` note: operations that name a path (other than `openat`/`openat2`,
/// `renameat`, `unlinkat`, `mkdirat`, `symlinkat`, `linkat`, `setxattr` and `fsetxattr`
/// (on a descriptor, not a registered file), which are observed as the
/// syscall events they equal: paths at submission, result at completion), and socket
/// operations the session cgroup's hooks may not see (a UNIX address, a
/// listen, a raw socket, a driver command, a `recvmsg` whose control data may carry a
/// descriptor from another process), and `splice`/`tee`, whose input may be a registered file
/// the request is not issued on (`SPLICE_F_FD_IN_FIXED`). Every other opcode works on descriptors whose
/// opening was observed (or flagged here), or touches nothing (timeouts, polls, futexes).
/// Opcodes this table does not know (newer kernels) are blind too, as `op<N>`.
pub const URING_BLIND_OPS: [(usize, &str); 11] = [
    (9, "sendmsg"),
    (10, "recvmsg"),
    (16, "connect"),
    (21, "statx"),
    (26, "send"),
    (30, "splice"),
    (33, "tee"),
    (45, "socket"),
    (46, "uring_cmd"),
    (47, "send_zc"),
    (48, "sendmsg_zc"),
];
/// The highest opcode the tables here know (Linux 6.18: `IORING_OP_LISTEN` is 57); above it,
/// an opcode is blind.
pub const URING_KNOWN_MAX: usize = 57;
/// Known opcodes above 48 that are blind.
pub const URING_BLIND_OPS_LATE: [(usize, &str); 2] = [(56, "bind"), (57, "listen")];

/// The io_uring operations among `counts` (per opcode) whose effects the surface would miss,
/// as `(name, count)`.
pub fn uring_blind(counts: &[u64]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (op, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let known = URING_BLIND_OPS
            .iter()
            .chain(URING_BLIND_OPS_LATE.iter())
            .find(|(o, _)| *o == op);
        match known {
            Some((_, name)) => out.push((name.to_string(), n)),
            None if op > URING_KNOWN_MAX => out.push((format!("op{op}"), n)),
            None => {}
        }
    }
    out
}

/// Mirror of `struct event_hdr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventHdr {
    pub kind: u32,
    pub op: u32,
    pub pid: u32,
    pub tid: u32,
    pub ts: u64,
    pub cgid: u64,
    pub ret: i64,
    pub flags: u64,
    pub dfd1: i32,
    pub dfd2: i32,
    pub ppid: u32,
    pub status: u32,
    pub len1: u16,
    pub len2: u16,
    pub _pad: u32,
}

/// A parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub hdr: EventHdr,
    /// First path (or sockaddr bytes for connect).
    pub data1: Vec<u8>,
    /// Second path.
    pub data2: Vec<u8>,
}

/// A record that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("record of {0} bytes is shorter than the {HDR_SIZE}-byte header")]
    Short(usize),
    #[error("record kind {0} is unknown")]
    UnknownKind(u32),
    #[error("record claims {claimed} data bytes but has {have}")]
    Truncated { claimed: usize, have: usize },
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}
fn u16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_ne_bytes)
}

/// Parses one ring-buffer record.
pub fn parse(b: &[u8]) -> Result<RawEvent, ParseError> {
    let (hdr, data1, data2) = parse_view(b)?;
    Ok(RawEvent {
        hdr,
        data1: data1.to_vec(),
        data2: data2.to_vec(),
    })
}

/// Where path 2 starts in a record's data: right after path 1 when both fit in [`PATH_MAX`],
/// else at [`PATH_MAX`] (`path2_offset` in `bpf/session.h`).
pub fn path2_offset(len1: usize, len2: usize) -> usize {
    if len1 + len2 <= PATH_MAX {
        len1
    } else {
        PATH_MAX
    }
}

/// The bytes an event's data takes after its header (`event_size` in `bpf/session.h`).
fn data_len(hdr: &EventHdr) -> usize {
    let (l1, l2) = (hdr.len1 as usize, hdr.len2 as usize);
    if l2 > 0 {
        path2_offset(l1, l2) + l2
    } else {
        l1
    }
}

/// Parses one ring-buffer record without copying its data: the header and the two data slices
/// (empty when absent), borrowed from `b`.
pub fn parse_view(b: &[u8]) -> Result<(EventHdr, &[u8], &[u8]), ParseError> {
    if b.len() < HDR_SIZE {
        return Err(ParseError::Short(b.len()));
    }
    let hdr = header_at(b);
    if !(EV_EXEC..=EV_CGROUP).contains(&hdr.kind) {
        return Err(ParseError::UnknownKind(hdr.kind));
    }
    let data = &b[HDR_SIZE..];
    let l1 = hdr.len1 as usize;
    let l2 = hdr.len2 as usize;
    let need = data_len(&hdr);
    if data.len() < need || l1 > PATH_MAX {
        return Err(ParseError::Truncated {
            claimed: need,
            have: data.len(),
        });
    }
    let data2 = if l2 > 0 {
        let at = path2_offset(l1, l2);
        &data[at..at + l2]
    } else {
        &[][..]
    };
    Ok((hdr, &data[..l1], data2))
}

/// What one ring record held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordCount {
    /// Events the record holds (a batch: the number its header claims).
    pub events: u64,
    /// Of those, events that did not parse (in a batch, an event that does not parse and every
    /// one after it, whose start is then unknown).
    pub bad: u64,
}

/// Reads one ring record, a single event or an `EV_BATCH` of them, calling `f` with each event
/// that parses, in order.
pub fn parse_record<'a>(
    b: &'a [u8],
    mut f: impl FnMut(EventHdr, &'a [u8], &'a [u8]),
) -> RecordCount {
    if b.len() < BATCH_HDR_SIZE || u32_at(b, 0) != EV_BATCH {
        let bad = match parse_view(b) {
            Ok((h, d1, d2)) => {
                f(h, d1, d2);
                0
            }
            Err(_) => 1,
        };
        return RecordCount { events: 1, bad };
    }
    let count = u64::from(u32_at(b, 4));
    let mut off = BATCH_HDR_SIZE;
    let mut parsed = 0;
    while parsed < count {
        // (a batch inside a batch is an unknown kind to parse_view)
        let Ok((h, d1, d2)) = parse_view(b.get(off..).unwrap_or_default()) else {
            break;
        };
        let size = HDR_SIZE + data_len(&h);
        f(h, d1, d2);
        parsed += 1;
        off += size.next_multiple_of(8);
    }
    RecordCount {
        events: count,
        bad: count - parsed,
    }
}

/// The header fields at the start of `b` (at least [`HDR_SIZE`] bytes; shorter reads as zeros).
pub fn header_at(b: &[u8]) -> EventHdr {
    EventHdr {
        kind: u32_at(b, 0),
        op: u32_at(b, 4),
        pid: u32_at(b, 8),
        tid: u32_at(b, 12),
        ts: u64_at(b, 16),
        cgid: u64_at(b, 24),
        ret: u64_at(b, 32) as i64,
        flags: u64_at(b, 40),
        dfd1: u32_at(b, 48) as i32,
        dfd2: u32_at(b, 52) as i32,
        ppid: u32_at(b, 56),
        status: u32_at(b, 60),
        len1: u16_at(b, 64),
        len2: u16_at(b, 66),
        _pad: 0,
    }
}

/// The header in the ring's own byte layout (the inverse of [`header_at`]).
pub fn header_bytes(h: &EventHdr) -> [u8; HDR_SIZE] {
    let mut b = [0u8; HDR_SIZE];
    b[0..4].copy_from_slice(&h.kind.to_ne_bytes());
    b[4..8].copy_from_slice(&h.op.to_ne_bytes());
    b[8..12].copy_from_slice(&h.pid.to_ne_bytes());
    b[12..16].copy_from_slice(&h.tid.to_ne_bytes());
    b[16..24].copy_from_slice(&h.ts.to_ne_bytes());
    b[24..32].copy_from_slice(&h.cgid.to_ne_bytes());
    b[32..40].copy_from_slice(&h.ret.to_ne_bytes());
    b[40..48].copy_from_slice(&h.flags.to_ne_bytes());
    b[48..52].copy_from_slice(&h.dfd1.to_ne_bytes());
    b[52..56].copy_from_slice(&h.dfd2.to_ne_bytes());
    b[56..60].copy_from_slice(&h.ppid.to_ne_bytes());
    b[60..64].copy_from_slice(&h.status.to_ne_bytes());
    b[64..66].copy_from_slice(&h.len1.to_ne_bytes());
    b[66..68].copy_from_slice(&h.len2.to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Every number `bpf/events.h` defines, with the Rust value it must equal: the header is
    /// the one source, and this table must name each of its numeric `#define`s exactly once (a
    /// new constant, a renumbering or two swapped values fail here).
    fn mirrored() -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = vec![
            ("ASSAY_PATH_MAX".into(), PATH_MAX as u64),
            ("ASSAY_SOCKADDR_MAX".into(), SOCKADDR_MAX as u64),
            ("ASSAY_HDR_SIZE".into(), HDR_SIZE as u64),
            ("ASSAY_BATCH_HDR_SIZE".into(), BATCH_HDR_SIZE as u64),
            ("ASSAY_OFF_TS".into(), offset_of!(EventHdr, ts) as u64),
            ("ASSAY_OFF_RET".into(), offset_of!(EventHdr, ret) as u64),
            ("ASSAY_OFF_DFD1".into(), offset_of!(EventHdr, dfd1) as u64),
            ("ASSAY_OFF_LEN1".into(), offset_of!(EventHdr, len1) as u64),
            ("ASSAY_SOCKADDR_SLOT".into(), SOCKADDR_SLOT as u64),
            ("ASSAY_PAYLOAD_OFF".into(), PAYLOAD_OFF as u64),
            ("ASSAY_PAYLOAD_MAX".into(), PAYLOAD_MAX as u64),
            ("STAGE_MAX".into(), STAGE_MAX),
            ("URING_OPS".into(), URING_OPS as u64),
            ("EV_EXEC".into(), EV_EXEC.into()),
            ("EV_FORK".into(), EV_FORK.into()),
            ("EV_EXIT".into(), EV_EXIT.into()),
            ("EV_SYSCALL".into(), EV_SYSCALL.into()),
            ("EV_NET".into(), EV_NET.into()),
            ("EV_PAYLOAD".into(), EV_PAYLOAD.into()),
            ("EV_CGROUP".into(), EV_CGROUP.into()),
            ("PROG_CGROUP".into(), PROG_CGROUP as u64),
            ("EV_BATCH".into(), EV_BATCH.into()),
            ("NET_CONNECT".into(), NET_CONNECT.into()),
            ("NET_SEND".into(), NET_SEND.into()),
            ("NET_BIND".into(), NET_BIND.into()),
            ("NET_LISTEN".into(), NET_LISTEN.into()),
            ("PAY_DNS".into(), PAY_DNS.into()),
            ("PAY_TLS".into(), PAY_TLS.into()),
            ("PAY_DNS_QUERY".into(), PAY_DNS_QUERY.into()),
            ("ST_ESCAPED".into(), ST_ESCAPED.into()),
            ("ST_TRUNC1".into(), ST_TRUNC1.into()),
            ("ST_TRUNC2".into(), ST_TRUNC2.into()),
            ("ST_FAULT1".into(), ST_FAULT1.into()),
            ("ST_FAULT2".into(), ST_FAULT2.into()),
            ("ST_KPATH1".into(), ST_KPATH1.into()),
            ("ST_KPATH2".into(), ST_KPATH2.into()),
            ("ST_TEXT1".into(), ST_TEXT1.into()),
            ("ST_TEXT2".into(), ST_TEXT2.into()),
            ("ST_SCRIPT".into(), ST_SCRIPT.into()),
            ("ST_FILELESS".into(), ST_FILELESS.into()),
            ("ST_LOADER".into(), ST_LOADER.into()),
            ("ST_UNSTABLE".into(), ST_UNSTABLE.into()),
            ("ST_BY_RUN".into(), ST_BY_RUN.into()),
            ("ST_FOREIGN".into(), ST_FOREIGN.into()),
            ("OP_COUNT".into(), OP_MKNOD.into()),
            ("PROG_EXEC".into(), 0),
            ("PROG_FORK".into(), 1),
            ("PROG_EXIT".into(), 2),
            ("PROG_SYSCALL".into(), 3),
            ("PROG_NET".into(), 3 + OP_MKNOD as u64),
            ("PROG_TRACK".into(), TRACK_SLOT as u64),
            ("PROG_PAYLOAD".into(), PAYLOAD_SLOT as u64),
            ("PROG_SLOTS".into(), PROG_SLOTS.len() as u64),
            ("BLIND_SLOTS".into(), BLIND_SLOTS.len() as u64),
        ];
        let ops = [
            ("OPEN", OP_OPEN),
            ("UNLINK", OP_UNLINK),
            ("RMDIR", OP_RMDIR),
            ("RENAME", OP_RENAME),
            ("MKDIR", OP_MKDIR),
            ("CHDIR", OP_CHDIR),
            ("FCHDIR", OP_FCHDIR),
            ("CONNECT", OP_CONNECT),
            ("LINK", OP_LINK),
            ("SYMLINK", OP_SYMLINK),
            ("TRUNCATE", OP_TRUNCATE),
            ("CHMOD", OP_CHMOD),
            ("CHOWN", OP_CHOWN),
            ("UTIMES", OP_UTIMES),
            ("XATTR", OP_XATTR),
            ("MKNOD", OP_MKNOD),
        ];
        v.extend(ops.iter().map(|(n, o)| (format!("OP_{n}"), u64::from(*o))));
        v.extend(
            BLIND_SLOTS
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("BLIND_{}", n.to_uppercase()), i as u64)),
        );
        v
    }

    #[test]
    fn every_number_of_the_header_is_mirrored() {
        let header = include_str!("../../../bpf/events.h");
        let mut defined: Vec<(String, u64)> = header
            .lines()
            .filter_map(|l| l.strip_prefix("#define "))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let name = w.next()?;
                let value = w.next()?.parse::<u64>().ok()?;
                Some((name.to_string(), value))
            })
            .collect();
        let mut want = mirrored();
        defined.sort();
        want.sort();
        assert_eq!(
            defined, want,
            "bpf/events.h and crates/kernel/src/event.rs disagree"
        );
        assert_eq!(size_of::<EventHdr>(), HDR_SIZE);
        // the per-op and per-family slot layout: one slot per op, then per network op, then
        // the tracker, then one per payload op, last
        assert_eq!(3 + OP_MKNOD as usize + NET_LISTEN as usize, TRACK_SLOT);
        assert_eq!(PAYLOAD_SLOT + PAY_DNS_QUERY as usize, PROG_CGROUP);
        assert_eq!(PROG_CGROUP + 1, PROG_SLOTS.len());
        assert_eq!(emitter_slots().count(), PROG_SLOTS.len() - 1);
    }

    fn record(kind: u32, p1: &[u8], p2: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HDR_SIZE];
        b[0..4].copy_from_slice(&kind.to_ne_bytes());
        b[64..66].copy_from_slice(&(p1.len() as u16).to_ne_bytes());
        b[66..68].copy_from_slice(&(p2.len() as u16).to_ne_bytes());
        b.extend_from_slice(p1);
        if !p2.is_empty() {
            b.resize(HDR_SIZE + path2_offset(p1.len(), p2.len()), 0);
            b.extend_from_slice(p2);
        }
        b
    }

    #[test]
    fn parses_one_and_two_paths() {
        let e = parse(&record(EV_SYSCALL, b"/a", b"")).unwrap();
        assert_eq!(e.data1, b"/a");
        let e = parse(&record(EV_SYSCALL, b"/old", b"/new")).unwrap();
        assert_eq!(
            (e.data1.as_slice(), e.data2.as_slice()),
            (&b"/old"[..], &b"/new"[..])
        );
        // packed: path 2 right after path 1 while both fit in one path's room
        assert_eq!(record(EV_SYSCALL, b"/old", b"/new").len(), HDR_SIZE + 8);
        let long1 = vec![b'a'; 3000];
        let long2 = vec![b'b'; 2000];
        let r = record(EV_SYSCALL, &long1, &long2);
        assert_eq!(r.len(), HDR_SIZE + PATH_MAX + 2000);
        let e = parse(&r).unwrap();
        assert_eq!((e.data1, e.data2), (long1, long2));
    }

    #[test]
    fn bad_records_are_errors() {
        assert_eq!(parse(&[0; 10]), Err(ParseError::Short(10)));
        assert_eq!(parse(&record(9, b"", b"")), Err(ParseError::UnknownKind(9)));
        assert!(parse(&record(EV_NET, b"", b"")).is_ok());
        let mut r = record(EV_EXEC, b"/abc", b"");
        r.truncate(HDR_SIZE + 2);
        assert_eq!(
            parse(&r),
            Err(ParseError::Truncated {
                claimed: 4,
                have: 2
            })
        );
    }

    fn batch(events: &[Vec<u8>]) -> Vec<u8> {
        let mut b = EV_BATCH.to_ne_bytes().to_vec();
        b.extend_from_slice(&(events.len() as u32).to_ne_bytes());
        for e in events {
            b.extend_from_slice(e);
            b.resize(b.len().next_multiple_of(8), 0xee);
        }
        b
    }

    /// The two data fields of each event a record yields.
    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn events_of(rec: &[u8]) -> (RecordCount, Fields) {
        let mut out = Vec::new();
        let n = parse_record(rec, |_, a, b| out.push((a.to_vec(), b.to_vec())));
        (n, out)
    }

    #[test]
    fn batch_records_hold_aligned_events() {
        let long = vec![b'x'; 5];
        let rec = batch(&[
            record(EV_SYSCALL, b"/a", b""),
            record(EV_SYSCALL, b"/old", b"/new"),
            record(EV_EXEC, &long, b""),
        ]);
        let (n, got) = events_of(&rec);
        assert_eq!(n, RecordCount { events: 3, bad: 0 });
        assert_eq!(
            got,
            vec![
                (b"/a".to_vec(), vec![]),
                (b"/old".to_vec(), b"/new".to_vec()),
                (long, vec![]),
            ]
        );
        // a single event is a record of its own
        let (n, got) = events_of(&record(EV_SYSCALL, b"/one", b""));
        assert_eq!(n, RecordCount { events: 1, bad: 0 });
        assert_eq!(got, vec![(b"/one".to_vec(), vec![])]);
        let (n, _) = events_of(&record(9, b"", b""));
        assert_eq!(n, RecordCount { events: 1, bad: 1 });
    }

    #[test]
    fn a_broken_batch_counts_every_event_it_claims() {
        let mut rec = batch(&[
            record(EV_SYSCALL, b"/a", b""),
            record(EV_SYSCALL, b"/b", b""),
        ]);
        rec[4..8].copy_from_slice(&u32::MAX.to_ne_bytes()); // claims far more than it holds
        let (n, got) = events_of(&rec);
        assert_eq!(
            n,
            RecordCount {
                events: u64::from(u32::MAX),
                bad: u64::from(u32::MAX) - 2
            }
        );
        assert_eq!(got.len(), 2);
        // an event cut short ends the batch: it and every later one are bad
        let mut rec = batch(&[
            record(EV_SYSCALL, b"/a", b""),
            record(EV_SYSCALL, b"/bcd", b""),
        ]);
        rec.truncate(rec.len() - 6);
        assert_eq!(events_of(&rec).0, RecordCount { events: 2, bad: 1 });
        // a batch nested in a batch is not an event
        let inner = batch(&[record(EV_SYSCALL, b"/a", b"")]);
        let (n, got) = events_of(&batch(&[inner]));
        assert_eq!(n, RecordCount { events: 1, bad: 1 });
        assert!(got.is_empty());
    }

    #[test]
    fn uring_ops_that_carry_paths_or_addresses_are_blind() {
        let mut counts = [0u64; URING_OPS];
        counts[0] = 5; // nop
        counts[22] = 3; // read on a descriptor: its open was observed
        counts[18] = 1; // openat: observed as an open
        counts[36] = 1; // unlinkat: observed as an unlink
        counts[42] = 1; // setxattr: observed as an xattr change
        counts[21] = 1; // statx
        counts[57] = 2; // listen
        counts[63] = 1; // unknown
        assert_eq!(
            uring_blind(&counts),
            [
                ("statx".to_string(), 1),
                ("listen".to_string(), 2),
                ("op63".to_string(), 1)
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse(&b);
            let mut seen = 0;
            let n = parse_record(&b, |_, _, _| seen += 1);
            proptest::prop_assert_eq!(n.events - n.bad, seen);
        }

        /// Any events, batched, come back whole and in order.
        #[test]
        fn batches_round_trip(paths in proptest::collection::vec(
            (proptest::collection::vec(1u8..=255, 0..40), proptest::collection::vec(1u8..=255, 0..40)), 0..20)) {
            let recs: Vec<Vec<u8>> = paths.iter().map(|(a, b)| record(EV_SYSCALL, a, b)).collect();
            let (n, got) = events_of(&batch(&recs));
            proptest::prop_assert_eq!(n, RecordCount { events: paths.len() as u64, bad: 0 });
            proptest::prop_assert_eq!(got, paths);
        }
    }
}
