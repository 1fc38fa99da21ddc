//! The walls between the workspace's crates (ARCHITECTURE.md, "Crates"): each crate depends only
//! on the workspace crates the architecture allows it (read from `cargo metadata`), and the
//! portable crates (contracts, evidence, lanes) pull in nothing Linux-only, so a reviewer can
//! classify, verify and diff on any machine.
//!
//! The portable crates' dependencies are read from `Cargo.lock`, which names every package of
//! every target (and the members' dev- and build-dependencies: a superset of what they pull in),
//! with no network and no package cache: `cargo tree --offline` needs the manifest of every
//! package it walks, which a build for this host never downloads.
//!
//! `libc` is allowed in the portable crates: it is the C library binding of every Unix (macOS and
//! the BSDs too), and reaches evidence through `tar` (file times), `tempfile` (rustix, getrandom)
//! and `parking_lot`. So is `linux-raw-sys`: rustix's Linux backend, which cargo chooses for a
//! Linux target only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The portable crates.
const PORTABLE: &[&str] = &["assay-contracts", "assay-evidence", "assay-lanes"];

/// Crates that are Linux-only, or that only the measured run or the GitHub face needs: never in
/// a portable crate's dependencies.
const NOT_PORTABLE: &[&str] = &[
    "aya",
    "aya-obj",
    "aya-log",
    "nix",
    "tokio",
    "octocrab",
    "assay-kernel",
    "assay-runner",
];

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let contracts = "assay-contracts";
    BTreeMap::from([
        (contracts, BTreeSet::new()),
        ("assay-lanes", BTreeSet::from([contracts])),
        ("assay-evidence", BTreeSet::from([contracts])),
        ("assay-kernel", BTreeSet::from([contracts])),
        (
            "assay-runner",
            BTreeSet::from([contracts, "assay-lanes", "assay-evidence", "assay-kernel"]),
        ),
    ])
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `Cargo.lock` as package (`name version`) → its dependencies (`name version`), and the
/// packages of each name.
struct Lock {
    deps: BTreeMap<String, Vec<String>>,
    by_name: BTreeMap<String, Vec<String>>,
}

impl Lock {
    fn read() -> Lock {
        let text = std::fs::read_to_string(root().join("Cargo.lock")).unwrap();
        // Each package: its name, version and dependency list as written ("name",
        // "name version" or "name version (source)").
        let mut packages: Vec<(String, String, Vec<String>)> = Vec::new();
        let mut in_deps = false;
        for line in text.lines() {
            let line = line.trim();
            let quoted = || line.split('"').nth(1).unwrap_or_default().to_string();
            if line == "[[package]]" {
                packages.push(Default::default());
                in_deps = false;
            } else if let Some(p) = packages.last_mut() {
                if line.starts_with("name = ") {
                    p.0 = quoted();
                } else if line.starts_with("version = ") {
                    p.1 = quoted();
                } else if line.starts_with("dependencies = [") {
                    in_deps = !line.ends_with(']');
                } else if in_deps && line == "]" {
                    in_deps = false;
                } else if in_deps {
                    p.2.push(quoted());
                }
            }
        }
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, version, _) in &packages {
            by_name
                .entry(name.clone())
                .or_default()
                .push(format!("{name} {version}"));
        }
        let resolve = |dep: &str| -> String {
            let mut words = dep.split(' ');
            let name = words.next().unwrap_or_default();
            match words.next() {
                Some(version) => format!("{name} {version}"),
                None => {
                    let all = &by_name[name];
                    assert_eq!(all.len(), 1, "Cargo.lock: `{dep}` names one package");
                    all[0].clone()
                }
            }
        };
        let deps = packages
            .iter()
            .map(|(name, version, deps)| {
                (
                    format!("{name} {version}"),
                    deps.iter().map(|d| resolve(d)).collect(),
                )
            })
            .collect();
        Lock { deps, by_name }
    }

    /// The names of every package `name` reaches (itself included).
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut todo = self.by_name[name].clone();
        let mut seen = BTreeSet::new();
        while let Some(p) = todo.pop() {
            if seen.insert(p.clone()) {
                todo.extend(self.deps[&p].iter().cloned());
            }
        }
        seen.into_iter()
            .map(|p| p.split(' ').next().unwrap_or_default().to_string())
            .collect()
    }
}

#[test]
fn each_crate_depends_only_on_the_crates_the_architecture_allows() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let allowed = allowed();
    let members: BTreeSet<&str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        members,
        allowed.keys().copied().collect(),
        "every workspace crate has its place in ARCHITECTURE.md and in this test"
    );
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let uses: BTreeSet<&str> = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap())
            .filter(|d| members.contains(d))
            .collect();
        assert!(
            uses.is_subset(&allowed[name]),
            "{name} depends on {uses:?}; ARCHITECTURE.md allows {:?}",
            allowed[name]
        );
    }
}

#[test]
fn the_portable_crates_pull_in_nothing_linux_only() {
    let lock = Lock::read();
    for package in PORTABLE {
        let deps = lock.closure(package);
        let bad: Vec<&str> = NOT_PORTABLE
            .iter()
            .copied()
            .filter(|n| deps.contains(*n))
            .collect();
        assert!(bad.is_empty(), "{package} pulls in {bad:?}");
    }
}

#[test]
fn the_kernel_crate_is_where_the_linux_only_crates_are() {
    // The check above would pass vacuously if the lock file were misread: the kernel crate's
    // own dependencies must show up in its closure.
    let deps = Lock::read().closure("assay-kernel");
    for n in ["aya", "nix", "libc", "assay-contracts"] {
        assert!(deps.contains(n), "assay-kernel's closure lacks {n}");
    }
}
