//! The test suite cannot pass by not running: every test that observes the kernel is counted by
//! cargo as ignored when it does not run (`#[ignore]` with the kernel reason, run by
//! `scripts/test` with `--include-ignored`), goes through the one shared check
//! (`support::require_kernel`), and no test prints a skip and passes.

use std::path::Path;

const KERNEL_IGNORE: &str = "#[ignore = \"kernel test: ";

fn test_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .filter(|e| e.file_name() != "honesty.rs")
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The functions of a test file: (attributes above it, name, body up to the next top-level fn).
fn functions(src: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if let Some(rest) = lines[i].strip_prefix("fn ") {
            let name = rest.split('(').next().unwrap_or_default().to_string();
            let mut attrs = Vec::new();
            let mut j = i;
            while j > 0 && lines[j - 1].starts_with('#') {
                j -= 1;
                attrs.push(lines[j]);
            }
            let end = (i + 1..lines.len())
                .find(|&k| lines[k].starts_with("fn ") || lines[k].starts_with("#[test]"))
                .unwrap_or(lines.len());
            out.push((attrs.join("\n"), name, lines[i..end].join("\n")));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_kernel_test_is_ignored_by_default_and_requires_the_kernel() {
    let mut checked = 0;
    for (file, src) in test_sources() {
        // helpers that call the shared check (e.g. `ready`) make their callers kernel tests
        let helpers: Vec<String> = functions(&src)
            .into_iter()
            .filter(|(a, _, body)| !a.contains("#[test]") && body.contains("require_kernel()"))
            .map(|(_, n, _)| format!("{n}("))
            .collect();
        for (attrs, name, body) in functions(&src) {
            if !attrs.contains("#[test]") {
                continue;
            }
            let kernel = body.contains("require_kernel()")
                || helpers.iter().any(|h| body.contains(h.as_str()));
            let ignored = attrs.contains(KERNEL_IGNORE);
            assert_eq!(
                kernel, ignored,
                "{file}: {name}: a test that requires the kernel must be #[ignore]d as a kernel test, and only such a test"
            );
            checked += kernel as usize;
        }
    }
    assert!(
        checked > 40,
        "only {checked} kernel tests found: the scan is broken"
    );
}

#[test]
fn no_test_checks_for_root_on_its_own_or_prints_a_skip() {
    for (file, src) in test_sources() {
        if file == "support" {
            continue;
        }
        assert!(
            !src.contains("is_root()") || file == "mod.rs",
            "{file}: checks for root itself; use support::require_kernel()"
        );
        assert!(
            !src.contains("SKIPPED"),
            "{file}: prints a skip; a test that cannot run must fail or be #[ignore]d"
        );
    }
    let support =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mod.rs"))
            .unwrap();
    assert!(!support.contains("SKIPPED") && !support.contains("skipped"));
}
