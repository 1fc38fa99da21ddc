//! Stale session cleanup, with real eBPF (root only; see tests/kernel.rs for the skip rules).
//!
//! A test binary of its own: any measured run cleans stale sessions, so a run of another test
//! in the same process could clean this test's stale session first. Cargo runs test binaries
//! one after another, so here nothing else runs meanwhile.

mod support;
use support::require_kernel;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
}

fn cgroup2_root() -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assay_runner::kernel::cgroup::find_cgroup2_mount(&text).unwrap()
}

fn session_dirs_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(cgroup2_root().join("assay-runner"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("run-{pid}-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(p: &Path) {
    let t0 = Instant::now();
    while !p.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where even the reaper died with the runner (the whole process group SIGKILLed), the next
/// run removes the stale session cgroup and says so.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn stale_session_of_a_killed_process_group_is_cleaned_by_the_next_run() {
    require_kernel();
    use std::os::unix::process::CommandExt;
    let t = tempfile::tempdir().unwrap();
    let (w, w2) = (t.path().join("a"), t.path().join("b"));
    std::fs::create_dir_all(&w).unwrap();
    std::fs::create_dir_all(&w2).unwrap();
    let mut child = bin()
        .args(["run", "--work-dir"])
        .arg(&w)
        .args(["--", "bash", "-c", "touch started; sleep 30"])
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for(&w.join("started"));
    let pid = child.id();
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        session_dirs_of(pid).len(),
        1,
        "nobody was left to remove the cgroup"
    );
    let out = bin()
        .args(["run", "--format", "json", "--work-dir"])
        .arg(&w2)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        session_dirs_of(pid).is_empty(),
        "the next run removed the stale cgroup"
    );
    let summary: serde_json::Value = serde_json::from_slice(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // a fact about the machine's past, not this run: a host note, never in canonical health
    let notes = &summary["host_notes"];
    assert!(
        notes.as_array().unwrap().iter().any(|n| {
            let n = n.as_str().unwrap();
            n.starts_with("stale-cgroup-removed: ") && n.contains(&format!("runner pid {pid} "))
        }),
        "{notes:#}"
    );
    assert_eq!(
        summary["health"]["notes"],
        serde_json::json!([]),
        "{summary:#}"
    );
}
