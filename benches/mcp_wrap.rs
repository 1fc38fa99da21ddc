//! Benchmark: what `assay-runner mcp-wrap` adds, measured against a same-run baseline.
//!
//! 1. `tools/call` round trips to a local echo server (`tests/mcp/fixture-server.mjs`, node)
//!    directly and through the wrapper (policy decision, record written and fdatasynced to a
//!    decision log per call), interleaved in blocks: p50/p99 of both, the wrapped−direct
//!    difference at p50 (target ≤ 1 ms) and the ratio.
//! 2. One large message through the wrapper (wrapping `cat`, so it is parsed and classified in
//!    both directions) against the same bytes through `cat` alone, at 1 MB and 10 MB: the
//!    per-MB time should stay flat (linear).
//!
//! Run: `cargo bench --bench mcp_wrap` (`ASSAY_BENCH_CALLS`, default 1000). Under
//! `cargo test --all-targets` it is a small smoke run. Needs `node` (scripts/setup).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_assay-runner");

struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn start(cmd: &mut Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the benchmark peer (is node installed? run scripts/setup)");
        let input = child.stdin.take().unwrap();
        let output = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
        Peer {
            child,
            input,
            output,
        }
    }

    /// Writes one line, reads one line back, returns the elapsed time and the line's length.
    /// Large lines are written from another thread: the peer answers while it still reads.
    fn round_trip(&mut self, line: &[u8]) -> (Duration, usize) {
        let mut back = Vec::with_capacity(line.len() + 64);
        let t = Instant::now();
        if line.len() < 32 << 10 {
            self.input.write_all(line).unwrap();
            self.input.flush().unwrap();
            self.output.read_until(b'\n', &mut back).unwrap();
        } else {
            let input = &mut self.input;
            std::thread::scope(|s| {
                s.spawn(move || {
                    input.write_all(line).unwrap();
                    input.flush().unwrap();
                });
                self.output.read_until(b'\n', &mut back).unwrap();
            });
        }
        (t.elapsed(), back.len())
    }

    fn stop(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn round_trips(calls: usize, dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/fixture-server.mjs");
    let policy = dir.join("bench-policy.yaml");
    std::fs::write(
        &policy,
        "default: deny\nrules:\n  - name: shells\n    tool: \"shell*\"\n    decision: deny\n  - name: files\n    tool: read_file\n    decision: allow\n    when: {path: \"<work>/data/**\"}\n  - name: echo\n    tool: echo\n    decision: allow\n",
    )
    .unwrap();
    let log = dir.join("bench-decisions.ndjson");
    let _ = std::fs::remove_file(&log);
    let mut direct = Peer::start(Command::new("node").arg(&fixture));
    let mut wrapped = Peer::start(
        Command::new(BIN)
            .args(["mcp-wrap", "--policy"])
            .arg(&policy)
            .arg("--decision-log")
            .arg(&log)
            .arg("--")
            .arg("node")
            .arg(&fixture),
    );
    let call = |i: usize| {
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"text\":\"hello {i}\"}}}}}}\n"
        )
        .into_bytes()
    };
    for i in 0..50 {
        direct.round_trip(&call(i));
        wrapped.round_trip(&call(i));
    }
    let (mut d, mut w) = (Vec::new(), Vec::new());
    let block = 100.min(calls).max(1);
    let mut i = 50;
    while d.len() < calls {
        for _ in 0..block {
            d.push(direct.round_trip(&call(i)).0);
            i += 1;
        }
        for _ in 0..block {
            w.push(wrapped.round_trip(&call(i)).0);
            i += 1;
        }
    }
    direct.stop();
    wrapped.stop();
    let records = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(records, w.len() + 50, "one record per wrapped call");
    d.sort();
    w.sort();
    let (d50, d99, w50, w99) = (pct(&d, 0.5), pct(&d, 0.99), pct(&w, 0.5), pct(&w, 0.99));
    let diff = ms(w50) - ms(d50);
    println!(
        "tools/call round trips ({} each, interleaved blocks of {block}):",
        d.len()
    );
    println!("  direct   p50 {:8.3} ms   p99 {:8.3} ms", ms(d50), ms(d99));
    println!("  wrapped  p50 {:8.3} ms   p99 {:8.3} ms", ms(w50), ms(w99));
    println!(
        "  wrapped - direct at p50: {diff:+.3} ms (target <= 1 ms: {}); ratio p50 {:.2}x, p99 {:.2}x",
        if diff <= 1.0 { "met" } else { "NOT met" },
        ms(w50) / ms(d50),
        ms(w99) / ms(d99)
    );
}

fn large_message(mb: usize, dir: &Path) -> (Duration, Duration) {
    let policy = dir.join("bench-pass.yaml");
    std::fs::write(&policy, "default: deny\n").unwrap();
    let mut line =
        b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\""
            .to_vec();
    line.extend(std::iter::repeat_n(b'z', mb << 20));
    line.extend(b"\"}}\n");
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let mut cat = Peer::start(&mut Command::new("cat"));
        let (t, n) = cat.round_trip(&line);
        assert_eq!(n, line.len());
        cat.stop();
        let mut w = Peer::start(
            Command::new(BIN)
                .args(["mcp-wrap", "--policy"])
                .arg(&policy)
                .args(["--", "cat"]),
        );
        let (tw, n) = w.round_trip(&line);
        assert_eq!(n, line.len(), "the message came back whole");
        w.stop();
        best = (best.0.min(t), best.1.min(tw));
    }
    best
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let calls: usize = std::env::var("ASSAY_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 1000 } else { 100 });
    if !benching {
        println!("(smoke run under cargo test: an unoptimized build, so the figures mean nothing)");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    round_trips(calls, &dir);
    let sizes: &[usize] = if benching { &[1, 10] } else { &[1, 2] };
    println!("one large message through (best of 3; the wrapper wraps `cat`):");
    let mut per_mb = Vec::new();
    for &mb in sizes {
        let (cat, wrapped) = large_message(mb, &dir);
        println!(
            "  {mb:>2} MB   cat {:8.2} ms   mcp-wrap {:8.2} ms   ratio {:.2}x   mcp-wrap {:.2} ms/MB",
            ms(cat),
            ms(wrapped),
            ms(wrapped) / ms(cat),
            ms(wrapped) / mb as f64
        );
        per_mb.push(ms(wrapped) / mb as f64);
    }
    println!(
        "  linearity: ms/MB at {} MB / ms/MB at {} MB = {:.2} (1.00 is linear)",
        sizes[1],
        sizes[0],
        per_mb[1] / per_mb[0]
    );
}
