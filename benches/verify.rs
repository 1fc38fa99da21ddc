//! Benchmark: `assay-runner verify` on a large bundle against the limit of any verifier — the
//! same bytes through `sha256sum` plus `gzip -t` — measured side by side in one invocation
//! (target: verify throughput ≥ 0.8× of that baseline's).
//!
//! The bundle is built with the real writer from a synthetic but realistic kernel layer (opens,
//! execs, forks, connects of a build-like process tree), sized by `ASSAY_BENCH_BUNDLE_MB`
//! (compressed size, default 200). Reps are interleaved (default 3, `ASSAY_BENCH_REPS`) and
//! medians are printed. Run: `cargo bench --bench verify` (under `cargo test` it is a 1 MB smoke
//! run that still checks the bundle verifies).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use assay_runner::contracts::kernel_event::KernelEvent;
use assay_runner::pipeline::ndjson;

const RUN: &str = "bench";

fn event(seq: u64, i: u64) -> KernelEvent {
    assay_runner::fuzzing::build_like_event(RUN, seq, i)
}

fn build(out: &Path, target_bytes: u64) -> (u64, u64) {
    // Probe the compression ratio with a slice, then size the layer to hit the target.
    let probe: Vec<KernelEvent> = (0..200_000).map(|i| event(i, i)).collect();
    let raw = ndjson(&probe);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let ratio = raw.len() as f64 / gz.finish().unwrap().len() as f64;
    let per_event = raw.len() as f64 / probe.len() as f64;
    let n = (target_bytes as f64 * ratio / per_event) as u64;
    let events: Vec<KernelEvent> = (0..n).map(|i| event(i, i)).collect();
    let entries = assay_runner::fuzzing::entries_for(RUN, &events, n, Vec::new());
    let decompressed: u64 = entries.iter().map(|e| e.body.len()).sum();
    assay_runner::bundle::write(out, RUN, &entries).unwrap();
    (n, decompressed)
}

fn time(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a 1 MB smoke run.
    let benching = std::env::args().any(|a| a == "--bench");
    let mb: u64 = std::env::var("ASSAY_BENCH_BUNDLE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 200 } else { 1 });
    let reps: usize = std::env::var("ASSAY_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    if !benching {
        println!("(smoke run under cargo test: an unoptimized build, so the figures mean nothing)");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let bundle = dir.join("bench-verify.tar.gz");
    let t = Instant::now();
    let (events, decompressed) = build(&bundle, mb << 20);
    let size = std::fs::metadata(&bundle).unwrap().len();
    println!(
        "bundle: {:.1} MB compressed, {:.1} MB decompressed, {events} kernel events (built in {:.1?})",
        size as f64 / 1e6,
        decompressed as f64 / 1e6,
        t.elapsed()
    );
    let bin = env!("CARGO_BIN_EXE_assay-runner");
    let mut base = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..reps {
        base.push(time(|| {
            let a = Command::new("sha256sum").arg(&bundle).output().unwrap();
            let b = Command::new("gzip")
                .arg("-t")
                .arg(&bundle)
                .output()
                .unwrap();
            assert!(a.status.success() && b.status.success());
        }));
        ours.push(time(|| {
            let o = Command::new(bin)
                .arg("verify")
                .arg(&bundle)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        }));
    }
    let (b, v) = (median(base), median(ours));
    println!(
        "baseline sha256sum + gzip -t: {b:.2?}  ({:.0} MB/s compressed)",
        size as f64 / 1e6 / b.as_secs_f64()
    );
    println!(
        "assay-runner verify:          {v:.2?}  ({:.0} MB/s compressed, {:.0} MB/s decompressed, {:.2} M lines/s)",
        size as f64 / 1e6 / v.as_secs_f64(),
        decompressed as f64 / 1e6 / v.as_secs_f64(),
        events as f64 / 1e6 / v.as_secs_f64()
    );
    println!(
        "ratio (verify throughput / baseline throughput): {:.2}x  (target >= 0.80x)",
        b.as_secs_f64() / v.as_secs_f64()
    );
    if std::env::var_os("ASSAY_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_file(&bundle);
    }
}
