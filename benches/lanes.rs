//! Benchmark: classify 100,000 paths against 500 rules (target ≤ 100 ms on a 2-vCPU machine).
//!
//! Prints the rule-set compile time, total classification time and paths/s (median of 5), plus
//! a same-run baseline: the cost of only building a `globset::Candidate` per path, so the ratio
//! shows what matching adds. Run: `cargo bench --bench lanes`.

use std::time::{Duration, Instant};

use assay_runner::lanes::LanesConfig;
use assay_runner::lanes::classify::Scratch;

const RULES: usize = 500;
const PATHS: usize = 100_000;

fn config() -> String {
    let mut y = String::from("lanes: [l0, l1, l2, l3, l4]\ndefault: l0\nrules:\n");
    for i in 0..RULES {
        let lane = i % 5;
        let paths = match i % 5 {
            0 => format!("[\"svc{i}/**\"]"),
            1 => format!("[\"**/*.ext{i}\", \"lib{i}/src/**/*.rs\"]"),
            2 => format!("[\"pkg{i}/{{src,tests}}/**\"]"),
            3 => format!("[\"tools/t{i}/*.py\", \"conf{i}.toml\"]"),
            _ => format!("[\"area{}/mod{i}/**\"]", i % 17),
        };
        let except = if i % 3 == 0 {
            "\n    except: [\"**/*.md\"]"
        } else {
            ""
        };
        y.push_str(&format!(
            "  - name: r{i}\n    lane: l{lane}\n    paths: {paths}{except}\n"
        ));
    }
    y
}

fn paths() -> Vec<Vec<u8>> {
    // Deterministic pseudo-random mix: hits on every glob kind plus plenty of misses.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..PATHS)
        .map(|_| {
            let i = next() % (RULES as u64 * 2);
            let p = match next() % 7 {
                0 => format!("svc{i}/internal/handler{}.go", next() % 100),
                1 => format!("docs/guide/page{}.ext{i}", next() % 50),
                2 => format!("lib{i}/src/a/b/c{}.rs", next() % 10),
                3 => format!("pkg{i}/tests/it{}.rs", next() % 10),
                4 => format!("tools/t{i}/run.py"),
                5 => format!("area{}/mod{i}/x/README.md", i % 17),
                _ => format!("unrelated/deep/path/number{}/file.txt", next() % 1000),
            };
            p.into_bytes()
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = config();
    let t = Instant::now();
    let cfg = LanesConfig::parse("bench.yaml", text.as_bytes()).expect("bench config is valid");
    let compile = t.elapsed();
    let paths = paths();

    let mut base = Vec::new();
    let mut full = Vec::new();
    let mut checksum = 0usize;
    for _ in 0..5 {
        let t = Instant::now();
        for p in &paths {
            let c = globset::Candidate::new(std::path::Path::new(std::str::from_utf8(p).unwrap()));
            checksum += std::hint::black_box(&c) as *const _ as usize & 1;
        }
        base.push(t.elapsed());

        let mut scratch = Scratch::default();
        let mut applied = Vec::new();
        let t = Instant::now();
        for p in &paths {
            checksum += cfg.classify_path(p, &mut scratch, &mut applied);
        }
        full.push(t.elapsed());
    }
    let (base, full) = (median(base), median(full));
    println!(
        "lanes bench: {PATHS} paths x {RULES} rules ({} globs), median of 5",
        cfg.rules
            .iter()
            .map(|r| r.paths.len() + r.except.len())
            .sum::<usize>()
    );
    println!(
        "  compile rule set:      {:>8.2} ms (once per config)",
        compile.as_secs_f64() * 1e3
    );
    println!(
        "  classify all paths:    {:>8.2} ms  (target <= 100 ms)",
        full.as_secs_f64() * 1e3
    );
    println!(
        "  throughput:            {:>8.0} paths/s",
        PATHS as f64 / full.as_secs_f64()
    );
    println!(
        "  baseline (candidates): {:>8.2} ms; classify/baseline = {:.1}x",
        base.as_secs_f64() * 1e3,
        full.as_secs_f64() / base.as_secs_f64()
    );
    println!("  (checksum {checksum})");
}
