//! The server's stdin, written by a thread of its own.
//!
//! Both pumps hand it lines. The client pump waits while too much is queued, so a server that
//! stops reading slows its client as the pipe itself would. The server pump never waits: it
//! releases held calls ([`super::wrap`]) while it must keep reading the server's output, and a
//! server blocked writing its output while its stdin is full would otherwise wait on the pump
//! that waits on it.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Bytes queued past which the client pump waits (one line is always taken when the queue is
/// empty, whatever its size).
pub const QUEUE_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Queue {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    closed: bool,
}

/// Lines on their way to the server.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, mut q: MutexGuard<'_, Queue>, line: Vec<u8>) {
        if q.closed {
            return;
        }
        q.bytes += line.len();
        q.lines.push_back(line);
        drop(q);
        self.changed.notify_all();
    }

    /// Queues a line once no more than [`QUEUE_BYTES`] are queued (the client pump).
    pub fn send(&self, line: Vec<u8>) {
        let mut q = self.lock();
        while !q.closed && !q.lines.is_empty() && q.bytes + line.len() > QUEUE_BYTES {
            q = self
                .changed
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        self.push(q, line);
    }

    /// Queues a line at once (the server pump, releasing a held call).
    pub fn send_now(&self, line: Vec<u8>) {
        let q = self.lock();
        self.push(q, line);
    }

    /// No more lines: what is queued is written, then the server's stdin is closed.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Writes queued lines (each followed by a newline) until closed and empty, then drops
    /// `server`, closing its stdin. After a write error the rest is discarded (and `note` told
    /// once), so no sender waits on a dead pipe.
    pub fn write_to(&self, mut server: impl Write, note: &dyn Fn(&str)) {
        let mut ok = true;
        loop {
            let line = {
                let mut q = self.lock();
                loop {
                    if let Some(line) = q.lines.pop_front() {
                        q.bytes -= line.len();
                        break Some(line);
                    }
                    if q.closed {
                        break None;
                    }
                    q = self
                        .changed
                        .wait(q)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            self.changed.notify_all();
            let Some(line) = line else { break };
            if ok
                && let Err(e) = server
                    .write_all(&line)
                    .and_then(|()| server.write_all(b"\n"))
                    .and_then(|()| server.flush())
            {
                note(&format!("mcp-wrap: cannot write to the server: {e}"));
                ok = false;
            }
        }
        drop(server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lines_reach_the_writer_in_order_and_close_ends_it() {
        let ob = Arc::new(Outbox::default());
        let writer = {
            let ob = ob.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                ob.write_to(&mut out, &|_| {});
                out
            })
        };
        ob.send(b"one".to_vec());
        ob.send_now(b"two".to_vec());
        ob.send(b"three".to_vec());
        ob.close();
        ob.send(b"after close".to_vec());
        assert_eq!(writer.join().unwrap(), b"one\ntwo\nthree\n");
    }

    #[test]
    fn a_line_larger_than_the_bound_passes_when_the_queue_is_empty() {
        let ob = Outbox::default();
        ob.send(vec![b'x'; QUEUE_BYTES * 2]);
        ob.send_now(b"y".to_vec());
        ob.close();
        let mut out = Vec::new();
        ob.write_to(&mut out, &|_| {});
        assert_eq!(out.len(), QUEUE_BYTES * 2 + 3);
    }

    /// A writer that fails: the rest is dropped, the note said once, and senders never block.
    #[test]
    fn after_a_write_error_lines_are_discarded() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let ob = Arc::new(Outbox::default());
        let notes = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (ob, notes) = (ob.clone(), notes.clone());
            std::thread::spawn(move || {
                ob.write_to(Broken, &|n| notes.lock().unwrap().push(n.to_string()))
            })
        };
        for _ in 0..8 {
            ob.send(vec![b'z'; QUEUE_BYTES / 2]);
        }
        ob.close();
        writer.join().unwrap();
        assert_eq!(notes.lock().unwrap().len(), 1);
    }
}
