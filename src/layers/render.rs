//! How the kernel layer reads raw kernel values: paths (normalized, shown against the work
//! dir), socket addresses and endpoints, open flags, node types, syscall results, the
//! descriptor targets and memfd names the probes report, and metadata operations' kinds.
//! Pure functions of their arguments; used by the projector ([`super::project`]) and by the
//! kernel layer ([`super::kernel`]), which re-exports them at their old paths.
//!
//! Imports: `crate::kernel::event`, `crate::contracts::kernel_event`, `crate::pathbytes`.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::contracts::kernel_event::Kind;
use crate::kernel::event::*;
use crate::pathbytes::escape;

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
/// A UNIX address (a datagram's destination, a bind, a listening socket, read at the syscall)
/// is `unix:PATH` or `unix:@NAME` like a UNIX connect.
pub fn net_endpoint(proto: u64, addr: &[u8]) -> Option<String> {
    let a = sockaddr(addr)?;
    if a.starts_with("unix:") {
        return Some(a);
    }
    Some(format!("{}:{a}", protocol_name(proto)))
}

/// The path of a UNIX address (none for an abstract or autobound address): the file a bind
/// creates, the socket a datagram or connect goes to. Endpoints show it resolved like a path
/// (`unix:<work>/sock`), so a relative name and the work dir do not vary between runs.
pub fn unix_path(addr: &[u8]) -> Option<&[u8]> {
    if addr.get(0..2)? != 1u16.to_ne_bytes() {
        return None;
    }
    let path = &addr[2..];
    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    (end > 0).then(|| &path[..end])
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
        (super::project::OWN_PROGRAM, "own_program"),
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

/// The name of an executed descriptor's file when it is a memfd's (`memfd:NAME`; the probe
/// reads it only for an exec of `/dev/fd/N` or `/proc/.../fd/N`).
pub fn memfd_name(data2: &[u8]) -> Option<&[u8]> {
    data2.starts_with(b"memfd:").then_some(data2)
}

/// The `access` and `flags` of a kernel-layer line from its kind and raw flags: an open's access
/// mode and flags, a mknod's node type.
pub fn event_flags_for(kind: Kind, flags: u64) -> (Option<String>, Vec<String>) {
    match kind {
        Kind::Open => {
            let (a, f) = open_flags(flags);
            (Some(a.to_string()), f)
        }
        Kind::Mknod => (
            None,
            node_type(flags).map(String::from).into_iter().collect(),
        ),
        _ => (None, Vec::new()),
    }
}

/// The type of a node mknod created, from its mode (none for a regular file).
pub fn node_type(mode: u64) -> Option<&'static str> {
    match mode & 0o170000 {
        0o010000 => Some("fifo"),
        0o140000 => Some("socket"),
        0o020000 => Some("char_device"),
        0o060000 => Some("block_device"),
        _ => None,
    }
}

/// A descriptor's absolute path as the probe rebuilt it from the file's dentries and mounts
/// (second path of fchdir and of a metadata change of a descriptor), normalized.
pub fn fd_target(data2: &[u8]) -> Option<Vec<u8>> {
    (data2.first() == Some(&b'/')).then(|| normalize(data2))
}

/// The kind of a metadata or size change (`OP_TRUNCATE` ..= `OP_XATTR`).
pub fn metadata_kind(op: u32) -> Option<Kind> {
    Some(match op {
        OP_TRUNCATE => Kind::Truncate,
        OP_CHMOD => Kind::Chmod,
        OP_CHOWN => Kind::Chown,
        OP_UTIMES => Kind::Utimes,
        OP_XATTR => Kind::Xattr,
        _ => return None,
    })
}
