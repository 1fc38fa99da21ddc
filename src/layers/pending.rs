//! The pending spill of the kernel layer's pass 1: resolved events, encoded compactly, kept in
//! memory in chunks of [`PENDING_CHUNK_BYTES`]; a full chunk is grouped by process key and
//! written to an unnamed temporary file. Pass 2 reads each process's segment of every chunk
//! back ([`Chunks`], [`decode`]), so memory stays bounded by processes, not events.
//!
//! Imports: `super::project::Pending`, `crate::contracts::kernel_event`.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

use super::project::Pending;
use crate::contracts::kernel_event::{Kind, PathFrom};

/// Bytes of pending events held in memory before a chunk is grouped by pid and written out.
pub(super) const PENDING_CHUNK_BYTES: usize = 4 << 20;

/// The kinds by their code in the pending spill ([`kind_code`] is the inverse).
const KINDS: [Kind; 25] = [
    Kind::Exec,
    Kind::Fork,
    Kind::Exit,
    Kind::Open,
    Kind::Unlink,
    Kind::Rmdir,
    Kind::Rename,
    Kind::Mkdir,
    Kind::Chdir,
    Kind::Connect,
    Kind::Link,
    Kind::Symlink,
    Kind::NetConnect,
    Kind::Send,
    Kind::Bind,
    Kind::Listen,
    Kind::Truncate,
    Kind::Chmod,
    Kind::Chown,
    Kind::Utimes,
    Kind::Xattr,
    Kind::Mknod,
    Kind::DnsAnswer,
    Kind::TlsClientHello,
    Kind::DnsQuery,
];

/// A kind's code in the pending spill: an exhaustive match, so a new kind cannot be spilled
/// as another one.
fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Exec => 0,
        Kind::Fork => 1,
        Kind::Exit => 2,
        Kind::Open => 3,
        Kind::Unlink => 4,
        Kind::Rmdir => 5,
        Kind::Rename => 6,
        Kind::Mkdir => 7,
        Kind::Chdir => 8,
        Kind::Connect => 9,
        Kind::Link => 10,
        Kind::Symlink => 11,
        Kind::NetConnect => 12,
        Kind::Send => 13,
        Kind::Bind => 14,
        Kind::Listen => 15,
        Kind::Truncate => 16,
        Kind::Chmod => 17,
        Kind::Chown => 18,
        Kind::Utimes => 19,
        Kind::Xattr => 20,
        Kind::Mknod => 21,
        Kind::DnsAnswer => 22,
        Kind::TlsClientHello => 23,
        Kind::DnsQuery => 24,
    }
}

/// Pending events, in chunks grouped by pid (each chunk keeps pass-1 order within a pid).
pub(super) struct PendingSpill {
    chunk: Vec<u8>,
    /// (pid, offset, length) per event of the current chunk.
    index: Vec<(u32, usize, usize)>,
    file: Option<File>,
    file_len: u64,
    list: Vec<Chunk>,
    limit: usize,
}

pub(super) struct Chunk {
    pub(super) on_disk: bool,
    /// (pid, start, end) sorted by pid; offsets in the file or in `Chunks::mem`.
    pub(super) segments: Vec<(u32, u64, u64)>,
}

pub(super) struct Chunks {
    pub(super) file: Option<File>,
    pub(super) mem: Vec<u8>,
    pub(super) list: Vec<Chunk>,
}

impl PendingSpill {
    pub(super) fn new(limit: usize) -> PendingSpill {
        PendingSpill {
            chunk: Vec::new(),
            index: Vec::new(),
            file: None,
            file_len: 0,
            list: Vec::new(),
            limit,
        }
    }

    pub(super) fn push(&mut self, p: &Pending) -> io::Result<()> {
        let off = self.chunk.len();
        encode(&mut self.chunk, p);
        self.index.push((p.key, off, self.chunk.len() - off));
        if self.chunk.len() >= self.limit {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the chunk grouped by pid straight from the chunk buffer; returns its segments.
    fn write_grouped(&mut self, w: &mut dyn Write, base: u64) -> io::Result<Vec<(u32, u64, u64)>> {
        self.index.sort_by_key(|&(pid, _, _)| pid); // stable: keeps each pid's order
        let mut segments: Vec<(u32, u64, u64)> = Vec::new();
        let mut at = base;
        for &(pid, off, len) in &self.index {
            w.write_all(&self.chunk[off..off + len])?;
            let start = at;
            at += len as u64;
            match segments.last_mut() {
                Some(s) if s.0 == pid => s.2 = at,
                _ => segments.push((pid, start, at)),
            }
        }
        self.index.clear();
        self.chunk.clear();
        Ok(segments)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.index.is_empty() {
            return Ok(());
        }
        let file = match self.file.take() {
            Some(f) => f,
            None => tempfile::tempfile()?,
        };
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        let segments = self.write_grouped(&mut w, self.file_len)?;
        w.flush()?;
        drop(w);
        self.file = Some(file);
        if let Some(last) = segments.last() {
            self.file_len = last.2;
        }
        self.list.push(Chunk {
            on_disk: true,
            segments,
        });
        Ok(())
    }

    /// Ends the spill: a layer that fit in one chunk stays in memory, else the last chunk goes
    /// to disk too.
    pub(super) fn finish(mut self) -> io::Result<Chunks> {
        let mut mem = Vec::new();
        if self.file.is_none() {
            mem.reserve_exact(self.chunk.len());
            let segments = self.write_grouped(&mut mem, 0)?;
            self.list.push(Chunk {
                on_disk: false,
                segments,
            });
        } else {
            self.flush()?;
        }
        Ok(Chunks {
            file: self.file,
            mem,
            list: self.list,
        })
    }
}

/// Reads `file` from `pos` to `end` with positioned reads (several readers share one file).
pub(super) struct At<'a> {
    pub(super) file: &'a File,
    pub(super) pos: u64,
    pub(super) end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = buf.len().min((self.end - self.pos) as usize);
        let n = self.file.read_at(&mut buf[..room], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn put_str(out: &mut Vec<u8>, s: &Option<String>) {
    match s {
        Some(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Pending record: the fixed fields (key, pid, ns, kind, escaped, flags, ret, exit code and
/// child with their tags, path origin, ambiguous, earned, DNS id with its tag), then the
/// strings path, path2, arg, endpoint and name as (length, bytes) with length `u32::MAX` for
/// none, then the addresses as a count and strings.
fn encode(out: &mut Vec<u8>, p: &Pending) {
    out.extend_from_slice(&p.key.to_le_bytes());
    out.extend_from_slice(&p.pid.to_le_bytes());
    out.extend_from_slice(&p.ns.to_le_bytes());
    out.push(p.kind.map_or(u8::MAX, kind_code));
    out.push(p.escaped as u8);
    out.extend_from_slice(&p.flags.to_le_bytes());
    out.extend_from_slice(&p.ret.to_le_bytes());
    out.push(p.exit_code.is_some() as u8);
    out.extend_from_slice(&p.exit_code.unwrap_or(0).to_le_bytes());
    out.push(p.child.is_some() as u8);
    out.extend_from_slice(&p.child.unwrap_or(0).to_le_bytes());
    out.push(match p.path_from {
        None => 0,
        Some(PathFrom::Kernel) => 1,
        Some(PathFrom::DirText) => 2,
        Some(PathFrom::Text) => 3,
    });
    out.push(p.ambiguous as u8);
    out.push(p.earned as u8);
    out.push(p.dns_id.is_some() as u8);
    out.extend_from_slice(&p.dns_id.unwrap_or(0).to_le_bytes());
    for s in [&p.path, &p.path2, &p.arg, &p.endpoint, &p.name] {
        put_str(out, s);
    }
    out.extend_from_slice(&(p.addresses.len() as u32).to_le_bytes());
    for a in &p.addresses {
        put_str(out, &Some(a.clone()));
    }
}

const FIXED: usize = 4 + 4 + 8 + 1 + 1 + 8 + 8 + 1 + 8 + 1 + 4 + 1 + 1 + 1 + 1 + 2;

pub(super) fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "pending record is corrupt")
}

fn get_str(r: &mut dyn Read, n: &mut u64) -> io::Result<Option<String>> {
    let mut l = [0u8; 4];
    r.read_exact(&mut l)?;
    *n += 4;
    let len = u32::from_le_bytes(l);
    if len == u32::MAX {
        return Ok(None);
    }
    let mut b = vec![0u8; len as usize];
    r.read_exact(&mut b)?;
    *n += len as u64;
    String::from_utf8(b).map(Some).map_err(|_| bad())
}

/// Decodes one pending record; returns it and its encoded length.
pub(super) fn decode(r: &mut dyn Read) -> io::Result<(Pending, u64)> {
    let mut f = [0u8; FIXED];
    r.read_exact(&mut f)?;
    let u64_at = |o: usize| u64::from_le_bytes(f[o..o + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |o: usize| u32::from_le_bytes(f[o..o + 4].try_into().unwrap_or([0; 4]));
    let mut n = FIXED as u64;
    let kind = match f[16] {
        u8::MAX => None,
        k => Some(*KINDS.get(k as usize).ok_or_else(bad)?),
    };
    let path_from = match f[48] {
        0 => None,
        1 => Some(PathFrom::Kernel),
        2 => Some(PathFrom::DirText),
        3 => Some(PathFrom::Text),
        _ => return Err(bad()),
    };
    let mut p = Pending {
        key: u32_at(0),
        pid: u32_at(4),
        ns: u64_at(8),
        kind,
        escaped: f[17] != 0,
        flags: u64_at(18),
        ret: u64_at(26) as i64,
        exit_code: (f[34] != 0).then(|| u64_at(35) as i64),
        child: (f[43] != 0).then(|| u32_at(44)),
        path_from,
        ambiguous: f[49] != 0,
        earned: f[50] != 0,
        dns_id: (f[51] != 0).then(|| u16::from_le_bytes([f[52], f[53]])),
        ..Pending::default()
    };
    p.path = get_str(r, &mut n)?;
    p.path2 = get_str(r, &mut n)?;
    p.arg = get_str(r, &mut n)?;
    p.endpoint = get_str(r, &mut n)?;
    p.name = get_str(r, &mut n)?;
    let mut c = [0u8; 4];
    r.read_exact(&mut c)?;
    n += 4;
    for _ in 0..u32::from_le_bytes(c) {
        p.addresses.push(get_str(r, &mut n)?.ok_or_else(bad)?);
    }
    Ok((p, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_spill_code() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(kind_code(*k) as usize, i, "{k:?}");
        }
    }
}
