//! The raw spill: every ring record the reader received, kept in bounded memory.
//!
//! The reader appends each record (compacted: header, then only the bytes of its paths) to an
//! in-memory chunk. A full chunk ([`CHUNK_BYTES`]) is sorted by (kernel timestamp, arrival
//! number) and appended to an unnamed temporary file as one sorted run; a run that fits in one
//! chunk never touches the disk. [`RawSpill::for_each`] merges the runs (k-way, by the same key), so the records come
//! back in timestamp order with ties in ring order — the order the projection needs — while the
//! runner holds one chunk and a small buffer per run, however many events the run produced.
//!
//! Record layout in a run: arrival number (`u64`), the header in the ring's layout
//! ([`HDR_SIZE`] bytes, `len1`/`len2` giving the data lengths), data1, data2.
//! Imports: `crate::event`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use super::event::{EventHdr, HDR_SIZE, PATH_MAX, RawEvent, header_at, header_bytes};

/// Bytes of records held in memory before a chunk is sorted and written out.
pub const CHUNK_BYTES: usize = 4 << 20;
/// Read buffer per on-disk run while merging (at least one whole record).
const RUN_BUFFER: usize = 16 << 10;
const PREFIX: usize = 8 + HDR_SIZE;
const TS_AT: usize = 8 + 16;

/// A visitor of raw records: header, data1, data2.
pub type Visit<'a> = dyn FnMut(&EventHdr, &[u8], &[u8]) + 'a;

/// Anything that yields raw records in projection order: timestamp, ties in arrival order.
pub trait RawSource {
    /// Calls `f` with each record's header and data, in order.
    fn for_each_raw(&self, f: &mut Visit) -> io::Result<()>;
}

impl RawSource for &[RawEvent] {
    fn for_each_raw(&self, f: &mut Visit) -> io::Result<()> {
        let mut sorted: Vec<&RawEvent> = self.iter().collect();
        sorted.sort_by_key(|e| e.hdr.ts); // stable: ties keep ring order
        for e in sorted {
            f(&e.hdr, &e.data1, &e.data2);
        }
        Ok(())
    }
}

/// Accepts records as they arrive; [`SpillWriter::finish`] turns them into a [`RawSpill`].
#[derive(Debug)]
pub struct SpillWriter {
    chunk: Vec<u8>,
    /// (timestamp, arrival number, offset in `chunk`) per record of the chunk.
    index: Vec<(u64, u64, usize)>,
    file: Option<File>,
    runs: Vec<(u64, u64)>,
    file_len: u64,
    next: u64,
    chunk_bytes: usize,
}

impl Default for SpillWriter {
    fn default() -> Self {
        SpillWriter::with_chunk(CHUNK_BYTES)
    }
}

impl SpillWriter {
    /// A writer whose chunks hold `chunk_bytes` (tests use small chunks to exercise merging).
    pub fn with_chunk(chunk_bytes: usize) -> SpillWriter {
        SpillWriter {
            chunk: Vec::new(),
            index: Vec::new(),
            file: None,
            runs: Vec::new(),
            file_len: 0,
            next: 0,
            chunk_bytes: chunk_bytes.max(PREFIX + 2 * PATH_MAX),
        }
    }

    /// Appends one record. `data1`/`data2` are at most [`PATH_MAX`] bytes each (as parsed).
    pub fn push(&mut self, hdr: &EventHdr, data1: &[u8], data2: &[u8]) -> io::Result<()> {
        let data1 = &data1[..data1.len().min(PATH_MAX)];
        let data2 = &data2[..data2.len().min(PATH_MAX)];
        let mut h = *hdr;
        h.len1 = data1.len() as u16;
        h.len2 = data2.len() as u16;
        self.index.push((h.ts, self.next, self.chunk.len()));
        self.chunk.extend_from_slice(&self.next.to_ne_bytes());
        self.chunk.extend_from_slice(&header_bytes(&h));
        self.chunk.extend_from_slice(data1);
        self.chunk.extend_from_slice(data2);
        self.next += 1;
        if self.chunk.len() >= self.chunk_bytes {
            self.flush_chunk()?;
        }
        Ok(())
    }

    /// Records accepted so far.
    pub fn len(&self) -> u64 {
        self.next
    }

    /// Whether no record was accepted.
    pub fn is_empty(&self) -> bool {
        self.next == 0
    }

    fn sort_index(&mut self) {
        if !self.index.is_sorted_by_key(|&(ts, n, _)| (ts, n)) {
            self.index.sort_unstable_by_key(|&(ts, n, _)| (ts, n));
        }
    }

    /// Writes the chunk, in key order, straight from the chunk buffer as one run on disk.
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.index.is_empty() {
            return Ok(());
        }
        self.sort_index();
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        let mut w = BufWriter::with_capacity(1 << 16, &*file);
        let mut written = 0u64;
        for &(_, _, off) in &self.index {
            let r = record_at(&self.chunk[off..]);
            w.write_all(r)?;
            written += r.len() as u64;
        }
        w.flush()?;
        let start = self.file_len;
        self.file_len += written;
        self.runs.push((start, self.file_len));
        self.index.clear();
        self.chunk.clear();
        Ok(())
    }

    /// Ends the spill. A run that fit in one chunk stays in memory (sorted); otherwise the last
    /// chunk becomes a run on disk too.
    pub fn finish(mut self) -> io::Result<RawSpill> {
        let mut mem = Vec::new();
        if self.file.is_none() {
            self.sort_index();
            mem.reserve_exact(self.chunk.len());
            for &(_, _, off) in &self.index {
                mem.extend_from_slice(record_at(&self.chunk[off..]));
            }
        } else {
            self.flush_chunk()?;
        }
        Ok(RawSpill {
            file: self.file,
            runs: self.runs,
            mem,
            len: self.next,
        })
    }
}

/// One whole record at the start of `b` (a record written by [`SpillWriter::push`]).
fn record_at(b: &[u8]) -> &[u8] {
    &b[..record_len(b).min(b.len())]
}

fn record_len(b: &[u8]) -> usize {
    let h = header_at(b.get(8..).unwrap_or(&[]));
    PREFIX + h.len1 as usize + h.len2 as usize
}

fn split(rec: &[u8]) -> (EventHdr, &[u8], &[u8]) {
    let h = header_at(&rec[8..]);
    let d = &rec[PREFIX..];
    let l1 = (h.len1 as usize).min(d.len());
    let (d1, rest) = d.split_at(l1);
    let l2 = (h.len2 as usize).min(rest.len());
    (h, d1, &rest[..l2])
}

fn key(rec: &[u8]) -> (u64, u64) {
    let n = rec
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes);
    let ts = rec
        .get(TS_AT..TS_AT + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes);
    (ts, n)
}

/// Every record of a run, as sorted runs on disk plus the last chunk in memory.
#[derive(Debug, Default)]
pub struct RawSpill {
    file: Option<File>,
    runs: Vec<(u64, u64)>,
    mem: Vec<u8>,
    len: u64,
}

impl RawSpill {
    /// Number of records.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sorted runs written to disk (0 when the run fit in one chunk).
    pub fn disk_runs(&self) -> usize {
        self.runs.len()
    }
}

/// A cursor over one sorted run.
struct Cursor<'a> {
    src: Src<'a>,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

enum Src<'a> {
    Mem(&'a [u8]),
    Disk { file: &'a File, pos: u64, end: u64 },
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "spill record cut short")
}

impl Cursor<'_> {
    /// Makes at least `need` bytes available; false when the run ends first.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        match &mut self.src {
            Src::Mem(b) => Ok(b.len() - self.lo >= need),
            Src::Disk { file, pos, end } => {
                if self.hi - self.lo >= need {
                    return Ok(true);
                }
                self.buf.copy_within(self.lo..self.hi, 0);
                self.hi -= self.lo;
                self.lo = 0;
                if self.buf.len() < need {
                    self.buf.resize(need, 0);
                }
                while self.hi < need && *pos < *end {
                    let room = (self.buf.len() - self.hi).min((*end - *pos) as usize);
                    let n = file.read_at(&mut self.buf[self.hi..self.hi + room], *pos)?;
                    if n == 0 {
                        return Err(corrupt());
                    }
                    self.hi += n;
                    *pos += n as u64;
                }
                Ok(self.hi >= need)
            }
        }
    }

    /// The current record, or `None` at the end of the run.
    fn peek(&mut self) -> io::Result<Option<&[u8]>> {
        if !self.fill(PREFIX)? {
            return if self.remaining() == 0 {
                Ok(None)
            } else {
                Err(corrupt())
            };
        }
        let n = record_len(self.bytes());
        if !self.fill(n)? {
            return Err(corrupt());
        }
        Ok(Some(&self.bytes()[..n]))
    }

    fn remaining(&self) -> usize {
        match &self.src {
            Src::Mem(b) => b.len() - self.lo,
            Src::Disk { pos, end, .. } => self.hi - self.lo + (*end - *pos) as usize,
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.src {
            Src::Mem(b) => &b[self.lo..],
            Src::Disk { .. } => &self.buf[self.lo..self.hi],
        }
    }

    fn advance(&mut self, n: usize) {
        self.lo += n;
    }
}

impl RawSource for RawSpill {
    fn for_each_raw(&self, f: &mut Visit) -> io::Result<()> {
        let mut cursors: Vec<Cursor> = Vec::with_capacity(self.runs.len() + 1);
        if let Some(file) = &self.file {
            for &(start, end) in &self.runs {
                cursors.push(Cursor {
                    src: Src::Disk {
                        file,
                        pos: start,
                        end,
                    },
                    buf: vec![0; RUN_BUFFER],
                    lo: 0,
                    hi: 0,
                });
            }
        }
        cursors.push(Cursor {
            src: Src::Mem(&self.mem),
            buf: Vec::new(),
            lo: 0,
            hi: 0,
        });
        let mut heap = BinaryHeap::with_capacity(cursors.len());
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(r) = c.peek()? {
                heap.push(Reverse((key(r), i)));
            }
        }
        while let Some(Reverse((_, i))) = heap.pop() {
            let c = &mut cursors[i];
            let n = match c.peek()? {
                Some(r) => {
                    let (h, d1, d2) = split(r);
                    f(&h, d1, d2);
                    r.len()
                }
                None => continue,
            };
            c.advance(n);
            if let Some(r) = c.peek()? {
                heap.push(Reverse((key(r), i)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hdr(ts: u64, pid: u32) -> EventHdr {
        EventHdr {
            kind: super::super::event::EV_SYSCALL,
            pid,
            ts,
            ..Default::default()
        }
    }

    fn collect(src: &dyn RawSource) -> Vec<(u64, u32, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        src.for_each_raw(&mut |h, a, b| out.push((h.ts, h.pid, a.to_vec(), b.to_vec())))
            .unwrap();
        out
    }

    proptest! {
        /// Whatever the chunk size, the spill yields exactly what sorting the records in
        /// memory (stable, by timestamp) yields.
        #[test]
        fn spill_order_is_the_in_memory_order(
            recs in proptest::collection::vec((0u64..20, proptest::collection::vec(any::<u8>(), 0..300), proptest::collection::vec(any::<u8>(), 0..50)), 0..200),
            chunk in 1usize..40_000,
        ) {
            let mut w = SpillWriter::with_chunk(chunk);
            let mut mem = Vec::new();
            for (i, (ts, a, b)) in recs.iter().enumerate() {
                w.push(&hdr(*ts, i as u32), a, b).unwrap();
                mem.push(RawEvent { hdr: hdr(*ts, i as u32), data1: a.clone(), data2: b.clone() });
            }
            let spill = w.finish().unwrap();
            prop_assert_eq!(spill.len(), recs.len() as u64);
            prop_assert_eq!(collect(&spill), collect(&mem.as_slice()));
        }
    }

    #[test]
    fn large_runs_go_to_disk_and_merge_back() {
        let mut w = SpillWriter::with_chunk(1);
        for i in 0..1000u64 {
            // out of order across records, chunks of ~100 records
            w.push(&hdr((i * 7919) % 1000, i as u32), b"/p", b"")
                .unwrap();
        }
        let spill = w.finish().unwrap();
        assert!(spill.disk_runs() >= 5, "{} runs", spill.disk_runs());
        let ts: Vec<u64> = collect(&spill).into_iter().map(|r| r.0).collect();
        assert_eq!(ts, (0..1000).collect::<Vec<_>>());
    }
}
