//! The walls between the workspace's crates (ARCHITECTURE.md, "Crates"), read from cargo itself:
//! each crate depends only on the workspace crates the architecture allows it, and the portable
//! crates (contracts, evidence, lanes) pull in nothing Linux-only, for any target, so a reviewer
//! can classify, verify and diff on any machine.
//!
//! `libc` is allowed in the portable crates: it is the C library binding of every Unix (macOS and
//! the BSDs too), and reaches evidence through `tar` (file times), `tempfile` (rustix, getrandom)
//! and `parking_lot`. `linux-raw-sys` is rustix's Linux backend, chosen per target: it is not in
//! the tree for a non-Linux target, which the last test holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The portable crates.
const PORTABLE: &[&str] = &["assay-contracts", "assay-evidence", "assay-lanes"];

/// Crates that are Linux-only, or that only the measured run or the GitHub face needs: never in
/// a portable crate's tree.
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

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .args(["--offline", "--locked"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// The names of every package in `package`'s normal-dependency tree for `target`.
fn tree(package: &str, target: &str) -> BTreeSet<String> {
    let text = cargo(&[
        "tree", "-p", package, "-e", "normal", "--target", target, "--prefix", "none", "--format",
        "{p}",
    ]);
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn each_crate_depends_only_on_the_crates_the_architecture_allows() {
    let meta: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap();
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
            "{name} depends on {:?}; ARCHITECTURE.md allows {:?}",
            uses,
            allowed[name]
        );
    }
}

#[test]
fn the_portable_crates_pull_in_nothing_linux_only_for_any_target() {
    for package in PORTABLE {
        let deps = tree(package, "all");
        let bad: Vec<&str> = NOT_PORTABLE
            .iter()
            .copied()
            .filter(|n| deps.contains(*n))
            .collect();
        assert!(bad.is_empty(), "{package} pulls in {bad:?}");
    }
}

#[test]
fn on_a_non_linux_target_the_portable_crates_have_no_linux_crate() {
    for package in PORTABLE {
        let deps = tree(package, "aarch64-apple-darwin");
        let linux: Vec<&String> = deps.iter().filter(|d| d.contains("linux")).collect();
        assert!(linux.is_empty(), "{package} on macOS pulls in {linux:?}");
    }
}
