//! Benchmark: classify 100,000 paths against 500 rules, for several rule shapes (target
//! ≤ 100 ms each on a 2-vCPU machine).
//!
//! For each shape it prints, side by side: the rule-set compile time, the first classification
//! pass (which also builds the lazy DFA of each glob a path is a candidate for), the
//! classification time of all paths and paths/s (median of 5; the target applies to
//! compile + first pass too), and the same figures for the matcher this replaced — one
//! `globset::GlobSet` over every glob — measured in the same run. That baseline runs once, on a
//! 10,000-path sample scaled to 100,000 (on the alternation shape it takes seconds and grows to
//! gigabytes). Run: `cargo bench --bench lanes`.

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use assay_runner::lanes::LanesConfig;
use assay_runner::lanes::classify::Scratch;
use assay_runner::lanes::config::compile_glob;
use globset::{Candidate, GlobSet, GlobSetBuilder};

const RULES: usize = 500;
const PATHS: usize = 100_000;
const BASELINE_SAMPLE: usize = 10_000;
const TARGET_MS: f64 = 100.0;

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// One rule shape: rule `i`'s `paths` and `except` globs, and a generator of changed paths.
struct Shape {
    name: &'static str,
    rule: fn(usize) -> (Vec<String>, Vec<String>),
    path: fn(&mut Rng) -> String,
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            // The original benchmark's mix.
            name: "mixed",
            rule: |i| {
                let paths = match i % 5 {
                    0 => vec![format!("svc{i}/**")],
                    1 => vec![format!("**/*.ext{i}"), format!("lib{i}/src/**/*.rs")],
                    2 => vec![format!("pkg{i}/{{src,tests}}/**")],
                    3 => vec![format!("tools/t{i}/*.py"), format!("conf{i}.toml")],
                    _ => vec![format!("area{}/mod{i}/**", i % 17)],
                };
                let except = if i % 3 == 0 {
                    vec!["**/*.md".to_string()]
                } else {
                    vec![]
                };
                (paths, except)
            },
            path: |r| {
                let i = r.below(RULES * 2);
                match r.below(7) {
                    0 => format!("svc{i}/internal/handler{}.go", r.below(100)),
                    1 => format!("docs/guide/page{}.ext{i}", r.below(50)),
                    2 => format!("lib{i}/src/a/b/c{}.rs", r.below(10)),
                    3 => format!("pkg{i}/tests/it{}.rs", r.below(10)),
                    4 => format!("tools/t{i}/run.py"),
                    5 => format!("area{}/mod{i}/x/README.md", i % 17),
                    _ => format!("unrelated/deep/path/number{}/file.txt", r.below(1000)),
                }
            },
        },
        Shape {
            // Literal directory plus extension, and basename patterns, each with an except.
            name: "prefix+ext",
            rule: |i| {
                (
                    vec![format!("mod{i}/**/*.rs"), format!("**/f{i}_*.txt")],
                    vec![format!("**/skip{i}/**")],
                )
            },
            path: |r| match r.below(10) {
                0..6 => format!(
                    "mod{}/sub{}/file{}.rs",
                    r.below(1000),
                    r.below(10),
                    r.below(100_000)
                ),
                6 => format!(
                    "mod{}/skip{}/file{}.rs",
                    r.below(1000),
                    r.below(600),
                    r.below(100_000)
                ),
                7 | 8 => format!("d{}/f{}_{}.txt", r.below(100), r.below(700), r.below(1000)),
                _ => format!("other/x{}.md", r.below(100_000)),
            },
        },
        Shape {
            // JS/TS monorepo: alternations, Dockerfiles, docs anywhere, one shared except.
            name: "alternations",
            rule: |i| {
                (
                    vec![
                        format!("pkg{i}/{{src,lib}}/**/*.{{ts,tsx}}"),
                        format!("services/s{i}/**/Dockerfile"),
                        format!("**/docs{i}/**"),
                    ],
                    vec!["**/*.test.ts".to_string()],
                )
            },
            path: |r| {
                let d = r.pick(&["src", "lib", "test"]);
                let e = r.pick(&["ts", "tsx", "test.ts", "js"]);
                match r.below(10) {
                    0..6 => format!(
                        "pkg{}/{d}/c{}/file{}.{e}",
                        r.below(700),
                        r.below(50),
                        r.below(100_000)
                    ),
                    6 => format!("services/s{}/build/Dockerfile", r.below(700)),
                    7 | 8 => format!("web/docs{}/page{}.md", r.below(700), r.below(10_000)),
                    _ => format!("other/x{}.md", r.below(100_000)),
                }
            },
        },
        Shape {
            // A realistic polyglot monorepo: workspaces, crates with test excepts, shared
            // catch-alls with no literal prefix, root files, CI files.
            name: "monorepo",
            rule: |i| match i % 10 {
                0 => (vec![format!("{{apps,packages}}/app{i}/**")], vec![]),
                1 => (
                    vec![
                        format!("crates/c{i}/src/**/*.rs"),
                        format!("crates/c{i}/Cargo.toml"),
                    ],
                    vec![format!("crates/c{i}/**/tests/**")],
                ),
                2 => (
                    vec![format!("libs/l{i}/**/*.{{c,h,cc}}")],
                    vec!["**/third_party/**".to_string()],
                ),
                3 => (vec![format!("**/*Service{i}.java")], vec![]),
                4 => (
                    vec![format!("proto/v{}/p{i}_*.proto", i % 4)],
                    vec!["**/*_test.proto".to_string()],
                ),
                5 => (
                    vec![format!("tools/t{i}/**/*.py")],
                    vec!["**/*.md".to_string()],
                ),
                6 => (vec![format!(".github/workflows/w{i}*.yml")], vec![]),
                7 => (vec![format!("deploy/{{staging,prod}}/svc{i}/**")], vec![]),
                8 => (
                    vec![format!("**/BUILD{i}.bazel"), format!("**/go{i}/**/*.go")],
                    vec![],
                ),
                _ => match i % 40 {
                    9 => (vec!["**/*.md".to_string(), "docs/**".to_string()], vec![]),
                    19 => (
                        vec!["Cargo.lock".to_string(), "**/Cargo.toml".to_string()],
                        vec![],
                    ),
                    29 => (vec!["*.json".to_string(), "**/*.lock".to_string()], vec![]),
                    _ => (vec!["**".to_string()], vec!["**/*.md".to_string()]),
                },
            },
            path: |r| {
                let i = r.below(RULES * 2);
                match r.below(12) {
                    0 => format!(
                        "{}/app{i}/src/x{}.ts",
                        r.pick(&["apps", "packages"]),
                        r.below(99)
                    ),
                    1 => format!("crates/c{i}/src/m{}/lib.rs", r.below(20)),
                    2 => format!("crates/c{i}/tests/it{}.rs", r.below(20)),
                    3 => format!(
                        "libs/l{i}/src/f{}.{}",
                        r.below(50),
                        r.pick(&["c", "h", "cc"])
                    ),
                    4 => format!("java/com/acme/x/OrderService{i}.java"),
                    5 => format!("proto/v{}/p{i}_api.proto", i % 4),
                    6 => format!("tools/t{i}/sub/run{}.py", r.below(9)),
                    7 => format!(".github/workflows/w{i}-ci.yml"),
                    8 => format!("deploy/prod/svc{i}/values.yaml"),
                    9 => format!("go/go{i}/pkg/f{}.go", r.below(30)),
                    10 => format!("docs/guide/p{}.md", r.below(500)),
                    _ => format!("misc/{}/README.md", r.below(1000)),
                }
            },
        },
    ]
}

fn config(shape: &Shape) -> String {
    let mut y = String::from("lanes: [l0, l1, l2, l3, l4]\ndefault: l0\nrules:\n");
    for i in 0..RULES {
        let (paths, except) = (shape.rule)(i);
        y.push_str(&format!(
            "  - name: r{i}\n    lane: l{}\n    paths: {paths:?}\n    except: {except:?}\n",
            i % 5
        ));
    }
    y
}

/// The matcher before the index: one `GlobSet` over every glob, owners looked up per hit.
struct OneGlobSet {
    set: GlobSet,
    owner: Vec<(usize, bool)>,
}

impl OneGlobSet {
    fn new(cfg: &LanesConfig) -> OneGlobSet {
        let mut b = GlobSetBuilder::new();
        let mut owner = Vec::new();
        for (r, rule) in cfg.rules.iter().enumerate() {
            for (p, is_path) in rule
                .paths
                .iter()
                .map(|p| (p, true))
                .chain(rule.except.iter().map(|p| (p, false)))
            {
                b.add(compile_glob(&p.glob).expect("valid glob"));
                owner.push((r, is_path));
            }
        }
        OneGlobSet {
            set: b.build().expect("globs compile"),
            owner,
        }
    }

    fn lane(
        &self,
        cfg: &LanesConfig,
        path: &[u8],
        hits: &mut Vec<usize>,
        state: &mut [u8],
    ) -> usize {
        let c = Candidate::new(std::path::Path::new(std::ffi::OsStr::from_bytes(path)));
        self.set.matches_candidate_into(&c, hits);
        for &g in hits.iter() {
            let (r, is_path) = self.owner[g];
            state[r] |= if is_path { 1 } else { 2 };
        }
        let mut lane = None;
        for &g in hits.iter() {
            let r = self.owner[g].0;
            if state[r] == 1 {
                lane = lane.max(Some(cfg.rules[r].lane));
            }
            state[r] = 0;
        }
        lane.unwrap_or(cfg.default)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    println!(
        "lanes bench: {PATHS} paths x {RULES} rules per shape; index: median of 5; \
         GlobSet (before): once, {BASELINE_SAMPLE}-path sample scaled to {PATHS}"
    );
    println!(
        "{:<13} {:>6} {:>11} {:>10} {:>12} {:>11} {:>12} {:>14} {:>8}  target",
        "shape",
        "globs",
        "compile ms",
        "1st pass",
        "classify ms",
        "paths/s",
        "GlobSet cmp",
        "GlobSet cls ms",
        "speedup"
    );
    let mut checksum = 0usize;
    for shape in shapes() {
        let text = config(&shape);
        let mut compile = Vec::new();
        let mut cfg = None;
        for _ in 0..5 {
            let t = Instant::now();
            let c =
                LanesConfig::parse("bench.yaml", text.as_bytes()).expect("bench config is valid");
            compile.push(t.elapsed());
            cfg = Some(c);
        }
        let cfg = cfg.expect("parsed");
        let compile = median(compile);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let paths: Vec<Vec<u8>> = (0..PATHS)
            .map(|_| (shape.path)(&mut rng).into_bytes())
            .collect();

        let mut full = Vec::new();
        let mut cold = None;
        for _ in 0..5 {
            let mut scratch = Scratch::default();
            let mut applied = Vec::new();
            let t = Instant::now();
            for p in &paths {
                checksum += cfg.classify_path(p, &mut scratch, &mut applied);
            }
            full.push(t.elapsed());
            // The first pass also builds each glob's lazy DFA the first time it is a candidate.
            cold.get_or_insert(t.elapsed());
        }
        let cold = cold.unwrap_or_default();
        let full = median(full);

        let t = Instant::now();
        let old = OneGlobSet::new(&cfg);
        let old_compile = t.elapsed();
        let (mut hits, mut state) = (Vec::new(), vec![0u8; cfg.rules.len()]);
        let sample = &paths[..BASELINE_SAMPLE];
        let t = Instant::now();
        let old_lanes: Vec<usize> = sample
            .iter()
            .map(|p| old.lane(&cfg, p, &mut hits, &mut state))
            .collect();
        let old_full = t.elapsed().mul_f64(PATHS as f64 / BASELINE_SAMPLE as f64);
        // Same run, same answers: the index decides the sample as the GlobSet did.
        let mut scratch = Scratch::default();
        let mut applied = Vec::new();
        for (p, &lane) in sample.iter().zip(&old_lanes) {
            assert_eq!(
                lane,
                cfg.classify_path(p, &mut scratch, &mut applied),
                "{p:?}"
            );
            checksum += lane;
        }

        println!(
            "{:<13} {:>6} {:>11.2} {:>10.2} {:>12.2} {:>11.0} {:>12.2} {:>14.1} {:>7.1}x  {}",
            shape.name,
            old.owner.len(),
            ms(compile),
            ms(cold),
            ms(full),
            PATHS as f64 / full.as_secs_f64(),
            ms(old_compile),
            ms(old_full),
            old_full.as_secs_f64() / full.as_secs_f64(),
            if ms(full) <= TARGET_MS && ms(compile + cold) <= TARGET_MS {
                "ok"
            } else {
                "MISSED"
            }
        );
    }
    println!("(checksum {checksum})");
}
