//! Kernel tests: real eBPF observation of real processes in real cgroups (root only).
//!
//! Each test drives the `assay-runner` binary and checks exact bundle content. Every test is
//! `#[ignore]`d as a kernel test: a plain `cargo test` counts it as ignored (never as passed),
//! and `scripts/test` runs it with `--include-ignored` — required whenever `CI` is set. Once
//! run, a host that cannot observe fails it, naming what is missing (`support::require_kernel`),
//! so CI can never be green without these tests having observed for real.

mod support;
use support::require_kernel;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kernel")
        .join(p)
}

/// Bundle members by path. Every bundle the tool writes must verify (schemas, hashes,
/// internal consistency), so this checks that first.
fn members(bundle: &Path) -> BTreeMap<String, Vec<u8>> {
    let v = assay_runner::verify::verify_path(
        bundle,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap();
    assert!(v.ok(), "{}: {:#?}", bundle.display(), v.report.problems);
    let f = std::fs::File::open(bundle).unwrap_or_else(|e| panic!("{}: {e}", bundle.display()));
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = BTreeMap::new();
    for (i, e) in ar.entries().unwrap().enumerate() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        assert_eq!(
            i == 0,
            name == "manifest.json",
            "manifest.json must be the first member"
        );
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        out.insert(name, b);
    }
    out
}

struct Run {
    out: Output,
    health: Value,
    surface: Value,
    kernel: Vec<Value>,
    events: Vec<Value>,
}

fn run_in(work: &Path, extra: &[&str], cmd: &[&str]) -> Run {
    run_with(bin(), work, extra, cmd)
}

/// `assay-runner` as a new machine runs it: inside a private mount namespace where tracefs and
/// debugfs were mounted (as a developer or CI machine may have them, by hand) and then
/// `scripts/fresh-ns` removed them again, as on a new machine. The host's mounts never change.
fn fresh_machine_bin() -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tracefs nodev /sys/kernel/tracing && mount -t debugfs nodev /sys/kernel/debug \
         && grep -q ' - tracefs ' /proc/self/mountinfo && exec \"$@\"",
        "sh",
    ])
    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fresh-ns"))
    .arg(env!("CARGO_BIN_EXE_assay-runner"));
    c
}

fn run_with(mut runner: Command, work: &Path, extra: &[&str], cmd: &[&str]) -> Run {
    let bundle = work.with_extension("tar.gz");
    // A fixed HOME and SHELL: without either, bash looks the user up in /etc/passwd (CI
    // runners may set neither), which would add a path the exact-surface assertions do not
    // expect. Proofs run with the same fixed environment (src/prove.rs).
    let out = runner
        .env("HOME", work)
        .env("SHELL", "/bin/sh")
        .args(["run", "--run-id", "t", "--work-dir"])
        .arg(work)
        .arg("--out")
        .arg(&bundle)
        .args(extra)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap();
    let m = members(&bundle);
    assert_eq!(
        m.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "capability-surface.json",
            "events.ndjson",
            "layers/kernel.ndjson",
            "manifest.json",
            "observation-health.json"
        ]
    );
    let lines = |k: &str| -> Vec<Value> {
        String::from_utf8(m[k].clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    Run {
        health: serde_json::from_slice(&m["observation-health.json"]).unwrap(),
        surface: serde_json::from_slice(&m["capability-surface.json"]).unwrap(),
        kernel: lines("layers/kernel.ndjson"),
        events: lines("events.ndjson"),
        out,
    }
}

/// A program's file as the kernel resolves it (`/usr/bin/sh` is `/usr/bin/dash` on Debian).
fn resolved(p: &str) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

/// The ELF loader the kernel maps for this host's dynamic programs.
fn loader() -> String {
    resolved("/lib64/ld-linux-x86-64.so.2")
}

/// A surface list: sorted, without duplicates.
fn sorted(v: &[&str]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = v.iter().map(|s| s.to_string()).collect();
    set.into_iter().collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn work_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("work");
    std::fs::create_dir(&w).unwrap();
    (t, w)
}

fn assert_clean(r: &Run) {
    assert_eq!(r.health["kernel_layer"], "complete", "{:#}", r.health);
    assert_eq!(r.health["cgroup_correlation"], "clean", "{:#}", r.health);
    assert_eq!(r.health["ringbuf_drops"], 0);
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn demo_fixture_surface_is_exact() {
    require_kernel();
    let (_t, w) = work_dir();
    std::fs::copy(fixture("seed/input.txt"), w.join("input.txt")).unwrap();
    std::fs::copy(fixture("demo.sh"), w.join("demo.sh")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let script = w.join("demo.sh");
    let r = run_in(&w, &[], &[script.to_str().unwrap(), &port]);
    assert!(
        r.out.status.success(),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    assert_clean(&r);
    let s = &r.surface;
    assert_eq!(
        strings(&s["filesystem_paths"]),
        [
            "<work>/demo.sh",
            "<work>/input.txt",
            "<work>/out",
            "<work>/out/copy.txt",
            "<work>/out/count.txt",
            "<work>/out/greeting.txt",
            "<work>/out/late.txt",
            "<work>/out/lines.txt"
        ]
    );
    assert_eq!(
        strings(&s["filesystem_writes"]),
        [
            "<work>/out",
            "<work>/out/copy.txt",
            "<work>/out/count.txt",
            "<work>/out/greeting.txt",
            "<work>/out/late.txt",
            "<work>/out/lines.txt"
        ]
    );
    assert_eq!(
        strings(&s["network_endpoints"]),
        [format!("tcp:127.0.0.1:{port}")]
    );
    assert!(strings(&s["network_local"]).is_empty());
    // What the kernel executed: the script and the interpreter its `#!` line names (env),
    // each program resolved to its file, and the ELF loader mapped for them.
    assert_eq!(
        strings(&s["process_execs"]),
        sorted(&[
            "/usr/bin/bash",
            "/usr/bin/cat",
            "/usr/bin/env",
            "/usr/bin/mkdir",
            "/usr/bin/mv",
            "/usr/bin/rm",
            "/usr/bin/sleep",
            "/usr/bin/wc",
            &resolved("/usr/bin/env"),
            &loader(),
            "<work>/demo.sh"
        ])
    );
    // The background grandchild wrote late.txt after the script had exited: still observed,
    // by a process below p0, and the run waited for it (no grace kill).
    let late: Vec<&Value> = r
        .kernel
        .iter()
        .filter(|e| e["path"] == "<work>/out/late.txt")
        .collect();
    assert_eq!(late.len(), 1);
    assert!(
        late[0]["process"].as_str().unwrap().starts_with("p0/"),
        "{}",
        late[0]
    );
    assert_eq!(r.health["counters"]["grace_kills"], 0);
    // seq is gapless; every line carries the run id.
    for (i, e) in r.kernel.iter().enumerate() {
        assert_eq!(e["seq"], i as u64);
        assert_eq!(e["run_id"], "t");
    }
    // events.ndjson: argv, env keys only, exit status.
    assert_eq!(r.events[0]["event"], "run_started");
    let keys = strings(&r.events[0]["env_keys"]);
    assert!(keys.contains(&"PATH".to_string()));
    let env_text = serde_json::to_string(&r.events).unwrap();
    let path_value = std::env::var("PATH").unwrap();
    assert!(
        !env_text.contains(&path_value),
        "environment values must never be recorded"
    );
    assert_eq!(r.events.last().unwrap()["event"], "run_finished");
    assert_eq!(r.events.last().unwrap()["exit_code"], 0);
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn outside_process_is_never_observed() {
    require_kernel();
    let (t, w) = work_dir();
    let marker = t.path().join("outside-marker-file");
    std::fs::write(&marker, "x").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (m2, s2) = (marker.clone(), stop.clone());
    let opener = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::fs::read(&m2);
            n += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        n
    });
    let r = run_in(
        &w,
        &[],
        &["bash", "-c", "sleep 0.5; cat /etc/hostname >/dev/null"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let opens = opener.join().unwrap();
    assert!(
        opens > 50,
        "the outside process really opened the marker ({opens} times)"
    );
    let all =
        serde_json::to_string(&r.kernel).unwrap() + &serde_json::to_string(&r.surface).unwrap();
    assert!(
        !all.contains("outside-marker-file"),
        "an outside process leaked into the session"
    );
    assert!(
        strings(&r.surface["filesystem_paths"]).contains(&"/etc/hostname".to_string()),
        "the session itself was observed"
    );
    assert_clean(&r);
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn daemon_is_grace_killed_and_health_says_so() {
    require_kernel();
    let (_t, w) = work_dir();
    let t0 = Instant::now();
    let r = run_in(
        &w,
        &["--grace-ms", "300"],
        &["bash", "-c", "setsid sleep 1000 & exit 3"],
    );
    assert_eq!(
        r.out.status.code(),
        Some(3),
        "exit status mirrors the command"
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(r.health["counters"]["grace_kills"], 1);
    let notes = strings(&r.health["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("grace-kill: 1 process(es) in the session cgroup")),
        "{notes:?}"
    );
    // The daemon's exec and its exit (killed) are in the kernel layer.
    assert!(
        r.kernel
            .iter()
            .any(|e| e["kind"] == "exec" && e["path"] == "/usr/bin/sleep")
    );
    let sleep_label = r
        .kernel
        .iter()
        .find(|e| e["path"] == "/usr/bin/sleep")
        .unwrap()["process"]
        .clone();
    assert!(
        r.kernel
            .iter()
            .any(|e| e["kind"] == "exit" && e["process"] == sleep_label && e["exit_code"] == 9),
        "killed by SIGKILL"
    );
}

fn cgroup2_root() -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assay_runner::kernel::cgroup::find_cgroup2_mount(&text).unwrap()
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn escaping_child_stays_observed_and_health_is_not_clean() {
    require_kernel();
    let (_t, w) = work_dir();
    let other = cgroup2_root().join(format!("assay-test-escape-{}", std::process::id()));
    std::fs::create_dir(&other).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && touch after-escape && cat after-escape",
        other.display()
    );
    let r = run_in(&w, &[], &["bash", "-c", &script]);
    assert!(
        r.out.status.success(),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    let after: Vec<&Value> = r
        .kernel
        .iter()
        .filter(|e| e["path"] == "<work>/after-escape")
        .collect();
    assert!(
        !after.is_empty(),
        "events after the escape are still observed"
    );
    assert!(
        after.iter().all(|e| e["escaped"] == true),
        "and marked escaped: {after:?}"
    );
    assert!(strings(&r.surface["filesystem_writes"]).contains(&"<work>/after-escape".to_string()));
    assert_eq!(r.health["cgroup_correlation"], "partial");
    assert!(
        strings(&r.health["notes"])
            .iter()
            .any(|n| n.starts_with("escape: "))
    );
    for _ in 0..200 {
        if std::fs::remove_dir(&other).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process of no run placed below the session cgroup is a container runtime: it is followed
/// from the exec that starts the container's program, not from its own re-exec of a file on no
/// mount namespace (runc's init runs a memfd or detached bind-mount clone of itself first, and
/// whether that happens before or after it joins the container's cgroup is a race). The
/// program's effects are observed and health stays clean either way.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_runtimes_reexec_from_a_memfd_is_not_the_containers_program() {
    require_kernel();
    let (r, secret) = runtime_execs_from_a_memfd("runc_cloned:/proc/self/exe");
    assert_clean(&r);
    assert_eq!(
        strings(&r.health["notes"]),
        Vec::<String>::new(),
        "{:#}",
        r.health
    );
    assert!(
        strings(&r.surface["filesystem_paths"]).contains(&secret),
        "{:#}",
        r.surface
    );
    assert!(strings(&r.surface["process_execs"]).contains(&resolved("/usr/bin/cat")));
    assert!(
        !r.kernel.iter().any(|e| e["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "fileless"))),
        "the re-exec is the runtime's, not followed"
    );
}

/// Only runc's own clone is exempt: a runtime process that executes any other file on no mount
/// namespace (a memfd of another name; a binfmt_misc handler on a detached mount) starts the
/// container's program there, followed and never clean.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_runtimes_exec_of_another_memfd_is_followed_and_never_clean() {
    require_kernel();
    let (r, secret) = runtime_execs_from_a_memfd("payload");
    assert_ne!(r.health["kernel_layer"], "complete", "{:#}", r.health);
    assert!(
        strings(&r.health["notes"])
            .iter()
            .any(|n| n.starts_with("fileless-exec: memfd:payload")),
        "{:#}",
        r.health
    );
    assert!(strings(&r.surface["filesystem_paths"]).contains(&secret));
}

/// A "runtime" (a process of no run) joins a cgroup below the run's session, executes a memfd
/// named `memfd_name` holding dash, which starts the "container's program" (`cat SECRET`) by
/// path. Returns the run and the secret's path as shown.
fn runtime_execs_from_a_memfd(memfd_name: &str) -> (Run, String) {
    let (t, w) = work_dir();
    let secret = t.path().join("secret.txt");
    std::fs::write(&secret, "s\n").unwrap();
    let root = cgroup2_root();
    let script = "echo $$ > pid && i=0; while [ ! -e done ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done";
    let wc = w.clone();
    let run = std::thread::spawn(move || run_in(&wc, &[], &["sh", "-c", script]));
    let pid_file = w.join("pid");
    for _ in 0..400 {
        if std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let session = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    let session = session
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap()
        .trim_start_matches('/');
    // The runtime's cgroup for its container, made by no process of the run.
    let cg = root.join(session).join("ctr");
    std::fs::create_dir(&cg).unwrap();
    let cg = cg.display();
    // The "runtime": joins the cgroup, re-executes itself from a memfd (a copy of dash), which
    // then starts the "container's program" by path.
    let py = format!(
        "import os\n\
         open('{cg}/cgroup.procs','w').write(str(os.getpid()))\n\
         fd = os.memfd_create('{memfd_name}')\n\
         os.write(fd, open('/usr/bin/dash','rb').read())\n\
         os.execv('/proc/self/fd/%d' % fd, ['sh', '-c', 'exec /usr/bin/cat {secret}'])\n",
        secret = secret.display()
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"s\n");
    std::fs::write(w.join("done"), "").unwrap();
    let r = run.join().unwrap();
    assert!(
        r.out.status.success(),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    (r, secret.display().to_string())
}

fn storm_binary(dir: &Path) -> PathBuf {
    let out = dir.join("storm");
    let st = Command::new("cc")
        .args(["-O2", "-static", "-o"])
        .arg(&out)
        .arg(fixture("storm.c"))
        .status()
        .unwrap();
    assert!(st.success(), "cc -static failed (install libc6-dev)");
    out
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn drops_are_counted_exactly_and_make_the_layer_partial() {
    require_kernel();
    let (t, w) = work_dir();
    let storm = storm_binary(t.path());
    let r = run_in(
        &w,
        &["--ring-bytes", "4096"],
        &[storm.to_str().unwrap(), "20000"],
    );
    let generated: u64 = String::from_utf8_lossy(&r.out.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(generated, 20000);
    let drops = r.health["ringbuf_drops"].as_u64().unwrap();
    let received = r.health["counters"]["events_received"].as_u64().unwrap();
    assert!(drops > 0);
    assert_eq!(r.health["kernel_layer"], "partial_ringbuf_drops");
    // The static workload makes exactly its N opens plus one exec and one exit.
    assert_eq!(
        received + drops,
        generated + 2,
        "received {received} + drops {drops}"
    );
    assert_eq!(
        r.health["counters"]["events_attempted"].as_u64().unwrap(),
        generated + 2
    );
    assert_eq!(r.kernel.len() as u64, received);
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn default_ring_has_no_drops_on_the_same_storm() {
    require_kernel();
    let (t, w) = work_dir();
    let storm = storm_binary(t.path());
    let r = run_in(&w, &[], &[storm.to_str().unwrap(), "20000"]);
    assert_clean(&r);
    assert_eq!(r.health["counters"]["events_received"], 20002);
    let opens = r
        .kernel
        .iter()
        .filter(|e| e["kind"] == "open" && e["path"] == "<work>/storm-target")
        .count();
    assert_eq!(opens, 20000);
}

/// Memory is bounded by the processes of a run, not its events: a 10M-event storm with the
/// default ring loses nothing, every event reaches the bundle, and the runner's peak RSS stays
/// below 64 MiB. The peak is the runner's own `VmHWM`, sampled until it exits (so projection
/// and bundle writing count): `wait4`'s `ru_maxrss` would also carry this test process's
/// high-water mark, which Linux keeps across the child's exec.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn ten_million_event_storm_is_lossless_in_bounded_memory() {
    require_kernel();
    const N: u64 = 10_000_000;
    let (t, w) = work_dir();
    let storm = storm_binary(t.path());
    let bundle = t.path().join("storm.tar.gz");
    // Reaped by `waitpid` below, after the last sample of its high-water mark.
    #[allow(clippy::zombie_processes)]
    let mut child = bin()
        .args([
            "run",
            "--run-id",
            "t",
            "--grace-ms",
            "0",
            "--format",
            "json",
        ])
        .arg("--work-dir")
        .arg(&w)
        .arg("--out")
        .arg(&bundle)
        .arg("--")
        .arg(&storm)
        .arg(N.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both outputs are a line or two: they fit the pipe buffers while the runner runs.
    let pid = child.id() as libc::pid_t;
    let hwm_kib = |pid: libc::pid_t| -> Option<u64> {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = st.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let mut peak_kib = 0u64;
    let mut status = 0;
    loop {
        // VmHWM only grows; once the runner has exited (a zombie) it has no memory to report.
        if let Some(k) = hwm_kib(pid) {
            peak_kib = peak_kib.max(k);
        }
        // SAFETY: polls our own child; `status` is valid for writes.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(waited >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if waited == pid {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status}: {err}"
    );
    assert_eq!(out.trim(), N.to_string());
    let j: Value = serde_json::from_str(err.trim().lines().last().unwrap()).unwrap();
    let h = &j["health"];
    assert_eq!(h["ringbuf_drops"], 0, "{h:#}");
    assert_eq!(h["kernel_layer"], "complete", "{h:#}");
    assert_eq!(h["counters"]["events_received"], N + 2);
    let peak_mib = peak_kib as f64 / 1024.0;
    assert!(peak_kib > 0, "no memory sample of the runner was taken");
    assert!(
        peak_mib < 64.0,
        "the runner peaked at {peak_mib:.1} MiB for {N} events"
    );
    // Every event is a line of the bundle's kernel layer (streamed, never held here).
    let f = std::fs::File::open(&bundle).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut lines = None;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("layers/kernel.ndjson") {
            let mut n = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = e.read(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            lines = Some(n);
        }
    }
    assert_eq!(lines, Some(N + 2));
    eprintln!("10M storm: runner peak RSS {peak_mib:.1} MiB");
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn unicode_and_non_utf8_names_survive() {
    require_kernel();
    let (_t, w) = work_dir();
    let r = run_in(
        &w,
        &[],
        &[
            "bash",
            "-c",
            "touch 'café ✓.txt' \"$(printf 'bad\\xff\\xfe.bin')\" 'back\\slash'",
        ],
    );
    assert!(
        r.out.status.success(),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    let writes = strings(&r.surface["filesystem_writes"]);
    assert_eq!(
        writes,
        [
            "<work>/back\\\\slash",
            "<work>/bad\\xff\\xfe.bin",
            "<work>/café ✓.txt"
        ]
    );
    let raw =
        assay_runner::pathbytes::unescape(writes[1].strip_prefix("<work>/").unwrap()).unwrap();
    assert_eq!(raw, b"bad\xff\xfe.bin");
    assert!(
        w.join(std::ffi::OsStr::new(
            std::os::unix::ffi::OsStrExt::from_bytes(&raw[..]) as &std::ffi::OsStr
        ))
        .exists()
    );
}

fn session_dirs_of(pid: u32) -> Vec<PathBuf> {
    let base = cgroup2_root().join("assay-runner");
    std::fs::read_dir(&base)
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

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn sigterm_writes_a_partial_bundle_and_removes_the_cgroup() {
    require_kernel();
    let (t, w) = work_dir();
    let bundle = t.path().join("b.tar.gz");
    let mut child = bin()
        .args(["run", "--run-id", "t", "--work-dir"])
        .arg(&w)
        .arg("--out")
        .arg(&bundle)
        .args(["--", "bash", "-c", "touch started; sleep 30"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&w.join("started"));
    let pid = child.id();
    assert_eq!(session_dirs_of(pid).len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(128 + 15));
    assert!(session_dirs_of(pid).is_empty(), "no session cgroup remains");
    let m = members(&bundle);
    let h: Value = serde_json::from_slice(&m["observation-health.json"]).unwrap();
    assert!(
        strings(&h["notes"])
            .iter()
            .any(|n| n.starts_with("run-interrupted: the runner received signal 15")),
        "{h:#}"
    );
    let k = String::from_utf8_lossy(&m["layers/kernel.ndjson"]).into_owned();
    assert!(
        k.contains("<work>/started"),
        "what happened before the signal is in the bundle"
    );
}

fn proc_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        let state = st.rfind(')').and_then(|i| st.get(i + 2..i + 3));
        !matches!(state, Some("Z" | "X"))
    })
}

/// A runner killed with SIGKILL (the OOM killer, a cancelled job) takes its session with it:
/// one second later no process of the session is alive and the session cgroup is gone.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn sigkilled_runner_takes_its_session_with_it() {
    require_kernel();
    let (_t, w) = work_dir();
    let mut child = bin()
        .args(["run", "--work-dir"])
        .arg(&w)
        .args([
            "--",
            "sh",
            "-c",
            "sleep 300 & sleep 300 & : > started; wait",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&w.join("started"));
    let pid = child.id();
    let dirs = session_dirs_of(pid);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let procs: Vec<u32> = std::fs::read_to_string(dirs[0].join("cgroup.procs"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(procs.len(), 3, "sh and two sleeps: {procs:?}");
    assert!(procs.iter().all(|p| proc_alive(*p)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let alive: Vec<u32> = procs.iter().copied().filter(|p| proc_alive(*p)).collect();
    assert!(
        alive.is_empty(),
        "session processes alive 1 s after SIGKILL: {alive:?}"
    );
    assert!(
        !dirs[0].exists(),
        "the session cgroup {} is still there",
        dirs[0].display()
    );
}

/// A process that reads the very file the kernel executed for it (as node's V8 does on some runs
/// and not on others) adds no read to the surface: the exec already names that file. Another
/// program reading the same file does.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn reading_ones_own_program_is_part_of_its_exec() {
    require_kernel();
    let (_t, w) = work_dir();
    let cat = resolved("/usr/bin/cat");
    let own = run_in(&w, &[], &["/usr/bin/cat", "/usr/bin/cat"]);
    assert!(own.out.status.success());
    assert_clean(&own);
    let opens: Vec<&Value> = own
        .kernel
        .iter()
        .filter(|e| e["kind"] == "open" && e["path"] == cat.as_str())
        .collect();
    assert_eq!(opens.len(), 1, "{opens:#?}");
    assert_eq!(opens[0]["flags"], serde_json::json!(["own_program"]));
    assert!(!strings(&own.surface["filesystem_paths"]).contains(&cat));
    assert!(strings(&own.surface["process_execs"]).contains(&cat));

    // through its own root (`/proc/self/root`): the same file of its own namespace, folded;
    // another namespace's file is never (a_file_of_another_mount_namespace_is_never_a_clean_path)
    let linked = run_in(&w, &[], &["/usr/bin/cat", "/proc/self/root/usr/bin/cat"]);
    assert!(linked.out.status.success());
    assert_clean(&linked);
    assert!(!strings(&linked.surface["filesystem_paths"]).contains(&cat));

    let other = run_in(&w, &[], &["/usr/bin/head", "-c1", "/usr/bin/cat"]);
    assert!(other.out.status.success());
    assert_clean(&other);
    assert!(
        strings(&other.surface["filesystem_paths"]).contains(&cat),
        "{:#}",
        other.surface
    );
}

/// A file reached through another process's root (`/proc/PID/root/...`) lives in that process's
/// mount namespace: its path, rebuilt there, names another file here (a bind mount over
/// `/etc/hostname`). The line is ambiguous and health is never clean.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_file_of_another_mount_namespace_is_never_a_clean_path() {
    require_kernel();
    let (t, w) = work_dir();
    let secret = t.path().join("secret.txt");
    std::fs::write(&secret, "not the hostname\n").unwrap();
    let ready = t.path().join("ready");
    let mut outside = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/hostname && touch {} && exec sleep 30",
            secret.display(),
            ready.display()
        ))
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let through = format!("/proc/{}/root/etc/hostname", outside.id());
    let r = run_in(&w, &[], &["/usr/bin/cat", &through]);
    outside.kill().unwrap();
    outside.wait().unwrap();
    assert_eq!(r.out.stdout, b"not the hostname\n");
    let line = r
        .kernel
        .iter()
        .find(|e| e["kind"] == "open" && e["arg"] == through.as_str())
        .unwrap_or_else(|| panic!("no open of {through}: {:#?}", r.kernel));
    assert_eq!(line["ambiguous"], true, "{line}");
    assert_ne!(r.health["kernel_layer"], "complete", "{:#}", r.health);
}

/// `explain` names who made each effect: the first kernel line, and the programs from its
/// process up to the command.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn explain_names_the_process_chain_of_an_effect() {
    require_kernel();
    let (_t, w) = work_dir();
    let r = run_in(
        &w,
        &[],
        &["sh", "-c", "sh -c 'echo x > made.txt'; cat made.txt"],
    );
    assert!(r.out.status.success());
    assert_clean(&r);
    let bundle = w.with_extension("tar.gz");
    let out = bin()
        .arg("explain")
        .arg(&bundle)
        .args(["<work>/made.txt", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "one entry is not in the surface"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let sh = resolved("/bin/sh");
    let label = format!("p0/{}#1", sh.rsplit('/').next().unwrap());
    let writer =
        format!("filesystem_writes  <work>/made.txt\n    ← {sh} ← {sh} ({label}, kernel line ");
    assert!(text.contains(&writer), "{text}");
    let seq: u64 = text[text.find(&writer).unwrap() + writer.len()..]
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let line = r.kernel.iter().find(|e| e["seq"] == seq).unwrap();
    assert_eq!(line["process"], label.as_str());
    assert_eq!(line["path"], "<work>/made.txt");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`/nonexistent` is not an entry"));
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn exit_status_mirrors_the_command() {
    require_kernel();
    let (_t, w) = work_dir();
    let code = |extra: &[&str], cmd: &[&str]| run_in(&w, extra, cmd).out.status.code();
    assert_eq!(code(&[], &["bash", "-c", "exit 7"]), Some(7));
    assert_eq!(code(&[], &["bash", "-c", "kill -TERM $$"]), Some(143));
    assert_eq!(code(&[], &["/nonexistent/command"]), Some(127));
    assert_eq!(code(&["--timeout", "0.3"], &["sleep", "30"]), Some(124));
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn same_run_written_twice_is_byte_identical() {
    require_kernel();
    let (t, w) = work_dir();
    let spec = assay_runner::kernel::session::RunSpec {
        argv: vec!["bash".into(), "-c".into(), "echo x > a; cat a".into()],
        work_dir: w,
        ring_bytes: 1 << 20,
        wakeup_bytes: 1 << 16,
        grace: Duration::from_millis(500),
        timeout: None,
        user: None,
        env: None,
        detach: false,
        output: assay_runner::kernel::session::Output::Inherit,
        private_tmp: false,
    };
    let m = assay_runner::pipeline::measure(
        "twice",
        &spec,
        &assay_runner::surface::NoiseFilter::default_filter(),
    )
    .unwrap();
    let (a, b) = (t.path().join("a.tar.gz"), t.path().join("b.tar.gz"));
    assay_runner::bundle::write(&a, "twice", &assay_runner::pipeline::entries(&m)).unwrap();
    assay_runner::bundle::write(&b, "twice", &assay_runner::pipeline::entries(&m)).unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn user_option_runs_the_command_unprivileged() {
    require_kernel();
    let (t, w) = work_dir();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = run_in(
        &w,
        &["--user", "nobody"],
        &["bash", "-c", "id -u > uid.txt"],
    );
    assert!(
        r.out.status.success(),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(w.join("uid.txt")).unwrap().trim(),
        "65534"
    );
    assert!(strings(&r.surface["process_execs"]).contains(&"/usr/bin/id".to_string()));
    assert_eq!(r.events[0]["uid"], 65534);
    assert_clean(&r);
}

fn doctor_json(mut c: Command) -> (bool, Value) {
    let out = c.args(["doctor", "--format", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --format json is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let schema = assay_runner::contracts::Contract::find("doctor_report").unwrap();
    let validator =
        jsonschema::validator_for(&serde_json::from_str(schema.published).unwrap()).unwrap();
    assert!(
        validator.is_valid(&v),
        "doctor output violates its schema: {v:#}"
    );
    assert_eq!(v["ok"], out.status.success(), "exit status and `ok` agree");
    (out.status.success(), v)
}

fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}: {v:#}"))
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn doctor_reports_every_prerequisite_of_a_capable_host() {
    require_kernel();
    let (ok, v) = doctor_json(bin());
    assert!(ok, "{v:#}");
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, assay_runner::contracts::doctor_report::CHECK_IDS);
    assert_eq!(
        v["bpf_object"]["attach_points"],
        serde_json::json!([
            "raw_tp/sched_process_exec",
            "raw_tp/sched_process_fork",
            "raw_tp/sched_process_exit",
            "raw_tp/cgroup_mkdir",
            "tp_btf/sys_enter",
            "tp_btf/sys_exit",
            "raw_tp/io_uring_submit_req",
            "raw_tp/io_uring_complete",
            "raw_tp/io_uring_cqe_overflow",
            "cgroup/connect4",
            "cgroup/connect6",
            "cgroup/sendmsg4",
            "cgroup/sendmsg6",
            "cgroup/bind4",
            "cgroup/bind6",
            "cgroup_skb/ingress",
            "cgroup_skb/egress"
        ])
    );
    // The human form says the same, a line per check.
    let out = bin().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for id in ids {
        assert!(text.contains(&format!("ok    {id}")), "{id}: {text}");
    }
}

/// Each failure names its fix for this host; checks that depend on it are skipped, not failed.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn doctor_names_the_fix_for_each_failure() {
    require_kernel();
    // Not root.
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_assay-runner"));
    let (ok, v) = doctor_json(c);
    assert!(!ok);
    assert_eq!(check(&v, "root")["status"], "fail");
    assert!(
        check(&v, "root")["fix"].as_str().unwrap().contains("sudo "),
        "{v:#}"
    );
    for id in ["session-cgroup", "ringbuf", "bpf-object", "observed-run"] {
        assert_eq!(check(&v, id)["status"], "skipped", "{id}: {v:#}");
    }
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(
            c["status"] == "fail",
            c["fix"].is_string(),
            "a fix exactly for each failure: {c}"
        );
    }

    // No cgroup2 mount (in a private mount namespace): the printed fix, run there, repairs it.
    let cg = cgroup2_root();
    let script = format!(
        "umount {cg} && \"$0\" doctor --format json > before.json; \
         fix=$(python3 -c 'import json; print(next(c[\"fix\"] for c in json.load(open(\"before.json\"))[\"checks\"] if c[\"id\"] == \"cgroup2\"))') \
         && sh -c \"$fix\" && \"$0\" doctor --format json > after.json",
        cg = cg.display()
    );
    let t = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_assay-runner"))
        .current_dir(t.path())
        .output()
        .unwrap();
    let read = |f: &str| -> Value {
        serde_json::from_slice(&std::fs::read(t.path().join(f)).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{f}: {e}; {out:?}"))
    };
    let before = read("before.json");
    assert_eq!(check(&before, "cgroup2")["status"], "fail", "{before:#}");
    assert_eq!(check(&before, "session-cgroup")["status"], "skipped");
    let after = read("after.json");
    assert_eq!(after["ok"], true, "the fix did not repair it: {after:#}");
    assert!(
        cgroup2_root().exists() && cgroup2_root() == cg,
        "the host's cgroup2 mount is untouched"
    );
}

/// The fresh-machine promise: on a host where tracefs and debugfs are not mounted (a new
/// machine), `doctor` passes and a measured run is complete and exact. The namespace first
/// mounts both, as a hand-prepared machine would, so this holds whatever the CI host has.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn fresh_machine_without_tracefs_observes_exactly() {
    require_kernel();
    let host_tracefs = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - tracefs ");
    let mut mounts = Command::new("unshare");
    mounts.args([
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tracefs nodev /sys/kernel/tracing && grep -c ' - tracefs ' /proc/self/mountinfo \
         && exec \"$0\" grep -cE ' - (tracefs|debugfs) ' /proc/self/mountinfo",
    ]);
    mounts.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fresh-ns"));
    let out = mounts.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n0\n",
        "tracefs mounted before fresh-ns, none inside it: {out:?}"
    );

    let (ok, v) = doctor_json(fresh_machine_bin());
    assert!(ok, "doctor fails on a fresh machine: {v:#}");

    let (_t, w) = work_dir();
    std::fs::write(w.join("in.txt"), "x\n").unwrap();
    let r = run_with(
        fresh_machine_bin(),
        &w,
        &["--grace-ms", "0"],
        &["sh", "-c", "cat in.txt > out.txt; mkdir d"],
    );
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    assert_eq!(
        strings(&r.surface["filesystem_writes"]),
        ["<work>/d", "<work>/out.txt"]
    );
    assert_eq!(
        strings(&r.surface["process_execs"]),
        sorted(&[
            &resolved("/usr/bin/cat"),
            &resolved("/usr/bin/mkdir"),
            &resolved("/usr/bin/sh"),
            &loader()
        ])
    );
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(" - tracefs "),
        host_tracefs,
        "the host's mounts are untouched"
    );
}

/// The real Python interpreter (not a version-manager shim, which would run scripts of its own).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The run's kernel layer is a blind spot whose unobserved-channel note counts exactly
/// `expect` (`fd_passing x1`).
fn assert_blind(r: &Run, expect: &str, name: &str) {
    assert_eq!(
        r.health["kernel_layer"], "partial_blind_spot",
        "{name}: {:#}",
        r.health
    );
    let notes = strings(&r.health["notes"]);
    let note = notes
        .iter()
        .find(|n| n.starts_with("unobserved-channel: "))
        .unwrap_or_else(|| panic!("{name}: no unobserved-channel note: {notes:?}"));
    assert!(
        note.contains(&format!("the session used {expect} successfully")),
        "{name}: {note}"
    );
}

/// Every channel the probes do not observe yet makes the health not clean, with a note that
/// names it and counts its successful uses exactly — never `complete` with a surface that
/// silently misses the effect. One small program per channel.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn unobserved_channels_are_never_a_clean_health() {
    require_kernel();
    let py = python();
    let setup = "import os, socket, ctypes\nopen('f', 'w').write('abc')\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "sendto on a raw socket of protocol UDP (no sendmsg hook for raw sockets)",
            "t = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP); t.sendto(b'12345678', ('127.0.0.9', 9999))",
            "raw_socket x1, sendto x1",
        ),
        (
            "unix sendmmsg (one call, several destinations)",
            "r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); r.bind('sock'); s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); import ctypes.util\nlibc = ctypes.CDLL(None, use_errno=True)\nclass iov(ctypes.Structure): _fields_ = [('b', ctypes.c_void_p), ('n', ctypes.c_size_t)]\nclass sun(ctypes.Structure): _fields_ = [('f', ctypes.c_ushort), ('p', ctypes.c_char * 108)]\nclass msg(ctypes.Structure): _fields_ = [('name', ctypes.c_void_p), ('nlen', ctypes.c_uint), ('iov', ctypes.c_void_p), ('iovlen', ctypes.c_size_t), ('c', ctypes.c_void_p), ('cl', ctypes.c_size_t), ('fl', ctypes.c_int), ('len', ctypes.c_uint)]\na = sun(1, b'sock'); buf = ctypes.create_string_buffer(b'x'); v = iov(ctypes.cast(buf, ctypes.c_void_p), 1)\nm = msg(ctypes.cast(ctypes.pointer(a), ctypes.c_void_p), 2 + 4 + 1, ctypes.cast(ctypes.pointer(v), ctypes.c_void_p), 1, None, 0, 0, 0)\nassert libc.sendmmsg(s.fileno(), ctypes.byref(m), 1, 0) == 1, ctypes.get_errno()",
            "sendmmsg x1",
        ),
        (
            "raw socket",
            "socket.socket(socket.AF_PACKET, socket.SOCK_RAW)",
            "raw_socket x1",
        ),
        (
            "a file descriptor received over a UNIX socket (SCM_RIGHTS)",
            "a, b = socket.socketpair(); socket.send_fds(a, [b'x'], [os.open('f', os.O_RDONLY)]); socket.recv_fds(b, 1, 1)",
            "fd_passing x1",
        ),
        (
            "bpf(2): a map created by the measured command",
            "import struct\nlibc = ctypes.CDLL(None, use_errno=True)\nattr = struct.pack('IIII', 1, 4, 4, 1) + bytes(112)\nassert libc.syscall(321, 0, attr, len(attr)) >= 0, ctypes.get_errno()",
            "bpf x1",
        ),
        (
            "setns into a mount namespace",
            "libc = ctypes.CDLL(None, use_errno=True)\nfd = os.open('/proc/self/ns/mnt', os.O_RDONLY)\nassert libc.setns(fd, 0x20000) == 0, ctypes.get_errno()",
            "mount x1",
        ),
        (
            "a signal to a process outside the session",
            "import signal\nos.kill(1, signal.SIGCONT)",
            "signal x1",
        ),
        (
            "mount (in a private mount namespace)",
            "libc = ctypes.CDLL(None, use_errno=True)\nassert libc.unshare(0x20000) == 0, ctypes.get_errno()\nassert libc.mount(b'none', b'/', None, 0x40000 | 0x4000, None) == 0, ctypes.get_errno()\nos.mkdir('m'); assert libc.mount(b'none', b'm', b'tmpfs', 0, None) == 0, ctypes.get_errno()",
            "mount x2",
        ),
        (
            "ptrace",
            "assert ctypes.CDLL(None).ptrace(0, 0, 0, 0) == 0",
            "ptrace x1",
        ),
    ];
    for (name, code, expect) in cases {
        let (_t, w) = work_dir();
        let script = format!("{setup}{code}\n");
        let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &script]);
        assert!(r.out.status.success(), "{name}: {:?}", r.out);
        assert_blind(&r, expect, name);
    }

    // A file stat'ed through io_uring: the operation is flagged by name.
    let (t, w) = work_dir();
    let uring = uring_binary(t.path());
    let r = run_in(
        &w,
        &["--grace-ms", "0"],
        &[
            uring.to_str().unwrap(),
            "/etc/hostname",
            "created",
            "/etc/hostname",
        ],
    );
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_eq!(
        r.health["kernel_layer"], "partial_blind_spot",
        "{:#}",
        r.health
    );
    assert!(
        strings(&r.health["notes"])
            .iter()
            .any(|n| n.starts_with("unobserved-channel: the session submitted io_uring statx x1;")),
        "{:#}",
        r.health
    );

    // Fileless exec: a memfd holding a real binary, executed through its descriptor.
    let (_t, w) = work_dir();
    let script = "import os\nfd = os.memfd_create('payload', 0)\nos.write(fd, open('/usr/bin/true', 'rb').read())\nos.execve(fd, ['true'], {})\n";
    let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", script]);
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_eq!(
        r.health["kernel_layer"], "partial_blind_spot",
        "{:#}",
        r.health
    );
    assert!(
        strings(&r.health["notes"])
            .iter()
            .any(|n| n.starts_with("fileless-exec: memfd:payload was executed")),
        "{:#}",
        r.health
    );
    assert!(
        strings(&r.surface["process_execs"]).contains(&"memfd:payload".to_string()),
        "{:#}",
        r.surface
    );

    // Negative control: the same interpreter writing a file through observed channels only.
    let (_t, w) = work_dir();
    let r = run_in(
        &w,
        &["--grace-ms", "0"],
        &[&py, "-c", "open('g', 'w').write('x')"],
    );
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    assert!(strings(&r.surface["filesystem_writes"]).contains(&"<work>/g".to_string()));
}

/// Metadata and size changes of a file the session did not write otherwise (created before the
/// run) are observed exactly: by path, relative to a directory descriptor, and through the
/// file's own descriptor, each one a `kind` line in the kernel layer and the file's only write
/// in the surface, with a complete health. One small program per syscall family and variant.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn metadata_changes_are_observed_exactly() {
    require_kernel();
    let py = python();
    let cases: &[(&str, &str, &str)] = &[
        ("truncate", "os.truncate('f', 1)", "truncate"),
        ("chmod", "os.chmod('f', 0o600)", "chmod"),
        (
            "fchmod",
            "fd = os.open('f', os.O_RDONLY); os.chmod(fd, 0o600)",
            "chmod",
        ),
        (
            "fchmodat",
            "d = os.open('.', os.O_RDONLY); os.chmod('f', 0o600, dir_fd=d)",
            "chmod",
        ),
        (
            "fchmod through a dup2'ed descriptor (its number was never an open's)",
            "fd = os.open('f', os.O_RDONLY); os.dup2(fd, 9); os.chmod(9, 0o600)",
            "chmod",
        ),
        ("chown", "os.chown('f', 0, 0)", "chown"),
        ("lchown", "os.lchown('f', 0, 0)", "chown"),
        (
            "fchown",
            "fd = os.open('f', os.O_RDONLY); os.fchown(fd, 0, 0)",
            "chown",
        ),
        ("utime", "os.utime('f', (1, 1))", "utimes"),
        (
            "futimens",
            "fd = os.open('f', os.O_RDONLY); os.utime(fd, (1, 1))",
            "utimes",
        ),
        ("setxattr", "os.setxattr('f', 'user.k', b'v')", "xattr"),
        (
            "fsetxattr, fremovexattr",
            "fd = os.open('f', os.O_RDONLY); os.setxattr(fd, 'user.k', b'v'); os.removexattr(fd, 'user.k')",
            "xattr",
        ),
    ];
    for (name, code, kind) in cases {
        let (_t, w) = work_dir();
        std::fs::write(w.join("f"), "abc").unwrap();
        let script = format!("import os\n{code}\n");
        let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &script]);
        assert!(r.out.status.success(), "{name}: {:?}", r.out);
        assert_clean(&r);
        assert_eq!(
            strings(&r.surface["filesystem_writes"]),
            ["<work>/f"],
            "{name}: {:#}",
            r.surface
        );
        let lines: Vec<&Value> = r.kernel.iter().filter(|e| e["kind"] == *kind).collect();
        assert!(!lines.is_empty(), "{name}: no {kind} line");
        for e in &lines {
            assert_eq!(e["path"], "<work>/f", "{name}: {e}");
            assert_eq!(e["result"], "ok", "{name}: {e}");
        }
    }
}

/// UNIX sockets and FIFOs, the everyday local channels (a syslog datagram, an agent's socket,
/// make's jobserver FIFO), are observed exactly: datagrams by destination (`sendto` and
/// `sendmsg`), binds and listens by address, and the socket files and FIFOs they create as
/// writes — with a complete health, where they used to be blind spots.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn unix_sockets_and_fifos_are_observed_exactly() {
    require_kernel();
    let py = python();
    let (_t, w) = work_dir();
    let script = "import os, socket\n\
        r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); r.bind('dg')\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        s.sendto(b'x', 'dg'); s.sendmsg([b'y'], [], 0, os.path.abspath('dg'))\n\
        l = socket.socket(socket.AF_UNIX); l.bind('ls'); l.listen()\n\
        a = socket.socket(socket.AF_UNIX); a.bind(b'\\0assay-abstract'); a.listen()\n\
        os.mkfifo('fifo')\n";
    let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", script]);
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    assert_eq!(
        strings(&r.surface["network_endpoints"]),
        ["unix:<work>/dg"],
        "{:#}",
        r.surface
    );
    assert_eq!(
        strings(&r.surface["network_local"]),
        [
            "bind:unix:<work>/dg",
            "bind:unix:<work>/ls",
            "bind:unix:@assay-abstract",
            "listen:unix:<work>/ls",
            "listen:unix:@assay-abstract",
        ],
        "{:#}",
        r.surface
    );
    assert_eq!(
        strings(&r.surface["filesystem_writes"]),
        ["<work>/dg", "<work>/fifo", "<work>/ls"],
        "{:#}",
        r.surface
    );
    let fifo: Vec<&Value> = r.kernel.iter().filter(|e| e["kind"] == "mknod").collect();
    assert_eq!(fifo.len(), 1, "{fifo:?}");
    assert_eq!(fifo[0]["path"], "<work>/fifo");
    assert_eq!(fifo[0]["flags"], serde_json::json!(["fifo"]));
    let sends = r.kernel.iter().filter(|e| e["kind"] == "send").count();
    assert_eq!(sends, 2);
}

/// Renames, links, symlinks, xattr changes (by path and by descriptor), unlinks, mkdirs and
/// rmdirs submitted through io_uring are observed
/// exactly, as the syscall events they equal (paths at submission, result at completion, a
/// failure included), with a complete health — no syscall names any of these paths.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn io_uring_path_operations_are_observed_exactly() {
    require_kernel();
    let (t, w) = work_dir();
    let prog = uring_fixture(t.path(), "uring_paths");
    std::fs::write(w.join("f"), "x").unwrap();
    let r = run_in(&w, &["--grace-ms", "0"], &[prog.to_str().unwrap()]);
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    let lines: Vec<String> = r
        .kernel
        .iter()
        .filter(|e| e["process"] == "p0")
        .filter(|e| !matches!(e["kind"].as_str(), Some("exec" | "exit" | "open")))
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["kind"].as_str().unwrap(),
                e["path"].as_str().unwrap_or("-"),
                e["path2"].as_str().unwrap_or("-"),
                e["result"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "mkdir <work>/d - ok",
            "rename <work>/f <work>/d/moved ok",
            "link <work>/d/moved <work>/d/hard ok",
            "symlink moved <work>/d/sym ok",
            "xattr <work>/d/moved - ok",
            "xattr <work>/d/hard - ok",
            "unlink <work>/d/hard - ok",
            "mkdir <work>/e - ok",
            "rmdir <work>/e - ok",
            "unlink <work>/missing - ENOENT",
        ]
    );
    // `e` and `d/hard` were created and gone by the end: transient in the surface
    assert_eq!(
        strings(&r.surface["filesystem_writes"]),
        [
            "<work>/<transient>",
            "<work>/d",
            "<work>/d/<transient>",
            "<work>/d/moved",
            "<work>/d/sym",
            "<work>/f",
        ],
        "{:#}",
        r.surface
    );
    assert!(w.join("d/moved").exists() && !w.join("f").exists());
}

/// A Python `script` run outside the session, once it has created `ready` (its UNIX socket
/// listens by then).
fn outside_process(py: &str, script: &str, ready: &Path) -> std::process::Child {
    let child = Command::new(py).args(["-c", script]).spawn().unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// Sockets created outside the session (here by an outside process that passes a UDP and a
/// TCP socket over a UNIX socket) count toward the outside cgroup, so the session cgroup's hooks
/// never run for them: a datagram sent, a bind and a connect through them are reported from the
/// syscall, with their protocol. The health is still not clean (`fd_passing`): the sender keeps
/// its descriptors and could connect them after passing them, and what the session then sent
/// on them would name no address.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn foreign_sockets_are_observed_at_the_syscall() {
    require_kernel();
    let py = python();
    let (t, w) = work_dir();
    let sock = t.path().join("pass.sock");
    let ready = t.path().join("ready");
    let outside = format!(
        "import socket\n\
         srv = socket.socket(socket.AF_UNIX); srv.bind({sock:?}); srv.listen()\n\
         open({ready:?}, 'w').close()\n\
         c, _ = srv.accept()\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
         socket.send_fds(c, [b'x'], [u.fileno(), t.fileno()])\n\
         c.recv(1)\n",
        sock = sock.display().to_string(),
        ready = ready.display().to_string(),
    );
    let mut server = outside_process(&py, &outside, &ready);
    let inside = format!(
        "import socket\n\
         s = socket.socket(socket.AF_UNIX); s.connect({sock:?})\n\
         _, fds, _, _ = socket.recv_fds(s, 1, 2)\n\
         u = socket.socket(fileno=fds[0]); t = socket.socket(fileno=fds[1])\n\
         u.bind(('127.0.0.1', 0)); u.sendto(b'leak', ('127.0.0.9', 9999))\n\
         u.sendmsg([b'leak'], [], 0, ('127.0.0.9', 9998))\n\
         l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
         t.connect(l.getsockname()); print(l.getsockname()[1])\n\
         s.send(b'k')\n",
        sock = sock.display().to_string(),
    );
    let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &inside]);
    assert!(server.wait().unwrap().success());
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_blind(&r, "fd_passing x1", "two outside sockets in one message");
    let port = String::from_utf8_lossy(&r.out.stdout).trim().to_string();
    let pass = format!("unix:{}", sock.canonicalize().unwrap().display());
    assert_eq!(
        strings(&r.surface["network_endpoints"]),
        [
            format!("tcp:127.0.0.1:{port}"),
            "udp:127.0.0.9:9998".to_string(),
            "udp:127.0.0.9:9999".to_string(),
            pass,
        ],
        "{:#}",
        r.surface
    );
    assert_eq!(
        strings(&r.surface["network_local"]),
        [
            "bind:tcp:127.0.0.1:0".to_string(),
            "bind:udp:127.0.0.1:0".to_string(),
            format!("listen:tcp:127.0.0.1:{port}"),
        ],
        "{:#}",
        r.surface
    );
}

/// A socket an outside process connected and passed in, or one it connects only after passing
/// it: what the session then sends on it needs no address, so no syscall of the session names
/// its peer. Received like that, it is a blind spot (`fd_passing`), never a clean health with
/// the peer missing. A connected socket
/// passed between the session's own processes (a socketpair) is not counted: its traffic is
/// the session's, seen by its hooks.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn an_outside_socket_passed_in_is_never_clean() {
    require_kernel();
    let py = python();
    let (t, w) = work_dir();
    let sock = t.path().join("pass.sock");
    let ready = t.path().join("ready");
    let outside = format!(
        "import socket\n\
         srv = socket.socket(socket.AF_UNIX); srv.bind({sock:?}); srv.listen()\n\
         l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
         t = socket.create_connection(l.getsockname())\n\
         peer, _ = l.accept()\n\
         late = socket.socket()\n\
         open({ready:?}, 'w').close()\n\
         c, _ = srv.accept()\n\
         socket.send_fds(c, [b'x'], [t.fileno(), l.fileno(), late.fileno()])\n\
         late.connect(l.getsockname()); peer2, _ = l.accept()\n\
         assert peer.recv(4) == b'leak'\n\
         assert peer2.recv(4) == b'late'\n\
         c.recv(1)\n",
        sock = sock.display().to_string(),
        ready = ready.display().to_string(),
    );
    let mut server = outside_process(&py, &outside, &ready);
    let inside = format!(
        "import socket\n\
         a, b = socket.socketpair(); socket.send_fds(a, [b'x'], [a.fileno()]); socket.recv_fds(b, 1, 1)\n\
         s = socket.socket(socket.AF_UNIX); s.connect({sock:?})\n\
         _, fds, _, _ = socket.recv_fds(s, 1, 3)\n\
         t = socket.socket(fileno=fds[0]); t.send(b'leak')\n\
         late = socket.socket(fileno=fds[2])\n\
         import time\n\
         for _ in range(500):\n\
         \x20   try: late.send(b'late'); break\n\
         \x20   except OSError: time.sleep(0.01)\n\
         s.send(b'k')\n",
        sock = sock.display().to_string(),
    );
    let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &inside]);
    assert!(server.wait().unwrap().success(), "the peer got the data");
    assert!(r.out.status.success(), "{:?}", r.out);
    // one message carried the three outside sockets; the socketpair's own socket is not counted
    assert_blind(&r, "fd_passing x1", "outside sockets passed in");
}

/// Secrets in the environment (a CI token) never reach a bundle: `run` records env keys only,
/// and the command's own use of the value is what the kernel sees, not the value.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn token_values_never_reach_the_bundle() {
    require_kernel();
    let (t, w) = work_dir();
    let secret = "ghs_doNotLeak0123456789abcdefXYZ";
    let bundle = t.path().join("secret.tar.gz");
    let out = bin()
        .env("GITHUB_TOKEN", secret)
        .env("HOME", &w)
        .env("SHELL", "/bin/sh")
        .args(["run", "--run-id", "s", "--work-dir"])
        .arg(&w)
        .arg("--out")
        .arg(&bundle)
        .args([
            "--",
            "bash",
            "-c",
            "test -n \"$GITHUB_TOKEN\" && echo ok > seen",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(w.join("seen")).unwrap(), "ok\n");
    let m = members(&bundle);
    let events = String::from_utf8(m["events.ndjson"].clone()).unwrap();
    assert!(events.contains("GITHUB_TOKEN"), "env keys are recorded");
    for (name, bytes) in &m {
        assert!(
            !String::from_utf8_lossy(bytes).contains(secret),
            "{name} contains the token value"
        );
    }
    let raw = std::fs::read(&bundle).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut plain).unwrap();
    assert!(!String::from_utf8_lossy(&plain).contains(secret));
}

fn uring_binary(dir: &Path) -> PathBuf {
    uring_fixture(dir, "uring_files")
}

/// Compiles `fixtures/kernel/NAME.c` with liburing.
fn uring_fixture(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(fixture(&format!("{name}.c")))
        .arg("-luring")
        .status()
        .unwrap();
    assert!(
        st.success(),
        "cc -luring failed (install liburing-dev: scripts/setup)"
    );
    out
}

/// A free TCP port on 127.0.0.1 (bound and released by the test, so the session's own bind of
/// it gives an exact surface entry).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Network channels observed at the session cgroup: one small program per channel, each with
/// its exact surface entries and a clean health (complete kernel layer, no blind-spot note),
/// exact per-program counters, and a negative control (an outside process sending datagrams
/// during the run never appears).
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn network_channels_are_observed_exactly() {
    require_kernel();
    let py = python();
    let port = free_port();
    let setup = "import os, socket, ctypes\n";
    // (name, code, network_endpoints, network_local)
    let cases: Vec<(&str, String, Vec<String>, Vec<String>)> = vec![
        (
            "udp4 sendto",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.9', 9999))".into(),
            vec!["udp:127.0.0.9:9999".into()],
            vec![],
        ),
        (
            "udp6 sendto",
            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.sendto(b'x', ('::1', 9998))".into(),
            vec!["udp:[::1]:9998".into()],
            vec![],
        ),
        (
            "udp4 sendmsg",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendmsg([b'x'], [], 0, ('127.0.0.9', 9999))".into(),
            vec!["udp:127.0.0.9:9999".into()],
            vec![],
        ),
        (
            "udp6 sendmsg",
            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.sendmsg([b'x'], [], 0, ('::1', 9998))".into(),
            vec!["udp:[::1]:9998".into()],
            vec![],
        ),
        (
            "udp connect then send",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('127.0.0.9', 53)); s.send(b'x')".into(),
            vec!["udp:127.0.0.9:53".into()],
            vec![],
        ),
        (
            "udp bind to any port",
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 0))".into(),
            vec![],
            vec!["bind:udp:0.0.0.0:0".into()],
        ),
        (
            "tcp listen and connect",
            format!("s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\nc = socket.create_connection(('127.0.0.1', {port}))"),
            vec![format!("tcp:127.0.0.1:{port}")],
            vec![format!("bind:tcp:127.0.0.1:{port}"), format!("listen:tcp:127.0.0.1:{port}")],
        ),
        (
            "tcp6 listen",
            format!("s = socket.socket(socket.AF_INET6); s.bind(('::1', {port})); s.listen()"),
            vec![],
            vec![format!("bind:tcp:[::1]:{port}"), format!("listen:tcp:[::1]:{port}")],
        ),
        (
            "an io_uring ring with no operation",
            "p = ctypes.create_string_buffer(120); assert ctypes.CDLL(None).syscall(425, 4, p) >= 0".into(),
            vec![],
            vec![],
        ),
    ];
    for (name, code, endpoints, local) in &cases {
        let (_t, w) = work_dir();
        let script = format!("{setup}{code}\n");
        let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &script]);
        assert!(r.out.status.success(), "{name}: {:?}", r.out);
        assert_eq!(
            r.health["kernel_layer"], "complete",
            "{name}: {:#}",
            r.health
        );
        assert_eq!(
            r.health["cgroup_correlation"], "clean",
            "{name}: {:#}",
            r.health
        );
        assert_eq!(
            &strings(&r.surface["network_endpoints"]),
            endpoints,
            "{name}"
        );
        assert_eq!(&strings(&r.surface["network_local"]), local, "{name}");
    }

    // Exact counts: every datagram is one `send` line (sendmmsg: one per message), attempts
    // equal received events, and an outside process sending datagrams all along never appears.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let outside = std::thread::spawn(move || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut n = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = sock.send_to(b"outside", "127.0.0.77:7777");
            n += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        n
    });
    let (_t, w) = work_dir();
    let script = format!(
        "{setup}import time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(500):\n    s.sendto(b'x', ('127.0.0.9', 9000 + i % 5))\ntime.sleep(0.3)\n"
    );
    let r = run_in(&w, &["--grace-ms", "0"], &[&py, "-c", &script]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent_outside = outside.join().unwrap();
    assert!(
        sent_outside > 50,
        "the outside process really sent ({sent_outside})"
    );
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    let sends = r.kernel.iter().filter(|e| e["kind"] == "send").count();
    assert_eq!(sends, 500, "one send line per datagram");
    assert_eq!(
        strings(&r.surface["network_endpoints"]),
        (9000..9005)
            .map(|p| format!("udp:127.0.0.9:{p}"))
            .collect::<Vec<_>>()
    );
    let c = &r.health["counters"];
    assert_eq!(c["events_attempted"], c["events_received"]);
    assert_eq!(c["drops_by_program"]["net_send"], 0);
    let all =
        serde_json::to_string(&r.kernel).unwrap() + &serde_json::to_string(&r.surface).unwrap();
    assert!(
        !all.contains("127.0.0.77"),
        "an outside process leaked into the session"
    );
}

/// Files opened, read, created and written only through io_uring are in the surface exactly:
/// the opens are observed (path at submission, result at completion) and the reads and writes
/// go through the descriptors they returned; the health stays complete.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn io_uring_opens_are_observed_exactly() {
    require_kernel();
    let (t, w) = work_dir();
    let uring = uring_binary(t.path());
    // Negative control: the same program outside the session, opening its own files through
    // io_uring all along the run.
    let outside_dir = t.path().join("outside");
    std::fs::create_dir(&outside_dir).unwrap();
    std::fs::write(outside_dir.join("outside-uring-marker"), "x").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, u2, d2) = (stop.clone(), uring.clone(), outside_dir.clone());
    let outside = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let st = Command::new(&u2)
                .args(["outside-uring-marker", "outside-uring-created"])
                .current_dir(&d2)
                .status()
                .unwrap();
            assert!(st.success());
            n += 1;
        }
        n
    });
    let cmd = format!("sleep 0.3; exec {} /etc/hostname created", uring.display());
    let r = run_in(
        &w,
        &["--grace-ms", "0", "--no-noise-filter"],
        &["bash", "-c", &cmd],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs_outside = outside.join().unwrap();
    assert!(
        runs_outside > 5,
        "the outside program really ran ({runs_outside})"
    );
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_clean(&r);
    let all =
        serde_json::to_string(&r.kernel).unwrap() + &serde_json::to_string(&r.surface).unwrap();
    assert!(
        !all.contains("outside-uring"),
        "an outside process leaked into the session"
    );
    let opens: Vec<String> = r
        .kernel
        .iter()
        .filter(|e| e["kind"] == "open" && e["process"] == "p0")
        .filter(|e| e["path"] == "/etc/hostname" || e["path"] == "<work>/created")
        .map(|e| format!("{} {} {}", e["path"], e["access"], e["result"]))
        .collect();
    assert_eq!(
        opens,
        [
            "\"/etc/hostname\" \"read\" \"ok\"",
            "\"<work>/created\" \"write\" \"ok\""
        ]
    );
    assert!(strings(&r.surface["filesystem_paths"]).contains(&"/etc/hostname".to_string()));
    assert_eq!(
        strings(&r.surface["filesystem_writes"])
            .into_iter()
            .filter(|p| p.starts_with("<work>"))
            .collect::<Vec<_>>(),
        ["<work>/created"]
    );
    assert_eq!(std::fs::read(w.join("created")).unwrap(), b"x");
}

/// The session loop sleeps on `cgroup.events` (`POLLPRI`) to see the session cgroup empty when
/// it happens: the notification fires when the last process leaves, and reading the file again
/// re-arms it (else the loop would spin).
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn cgroup_events_notify_when_the_session_empties_and_rearm_on_read() {
    require_kernel();
    use assay_runner::kernel::cgroup::SessionCgroup;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;
    let cg = SessionCgroup::create(&cgroup2_root()).unwrap();
    let events = cg.events_file().expect("cgroup.events opens");
    let ready = |ms: u16| {
        let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() > 0
    };
    let rearm = || {
        let mut buf = [0u8; 128];
        let n = events.read_at(&mut buf, 0).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(!ready(0), "nothing changed since the open");
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let mut procs = std::fs::OpenOptions::new()
        .write(true)
        .open(cg.dir().join("cgroup.procs"))
        .unwrap();
    procs.write_all(child.id().to_string().as_bytes()).unwrap();
    assert!(ready(1000), "populated 0 -> 1 notifies");
    assert!(rearm().contains("populated 1"));
    assert!(!ready(0), "re-armed by the read");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready(5000), "the last process leaving notifies");
    assert!(rearm().contains("populated 0"));
    assert!(!ready(0), "re-armed by the read");
    drop(events);
    cg.remove(Duration::from_secs(5)).unwrap();
}

/// A failure of the runner after the command started (flushing the per-CPU stages, the ring
/// reader, reading the exact counters: each injected in turn, debug builds only) keeps what was
/// received in a bundle that verifies, says so in a `runner-failed` note that makes the
/// evidence unclean, and exits 125 — never "nothing was run" (120) and never a clean health.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_failure_after_the_start_keeps_the_evidence_and_exits_125() {
    require_kernel();
    for fault in ["flush", "reader", "counters"] {
        let (_t, w) = work_dir();
        let mut runner = bin();
        runner.env("ASSAY_RUNNER_INJECT_FAULT", fault);
        let r = run_with(runner, &w, &[], &["sh", "-c", "echo x > out.txt"]);
        assert_eq!(r.out.status.code(), Some(125), "{fault}: {r:?}", r = r.out);
        assert!(w.join("out.txt").exists(), "{fault}: the command did run");
        let notes = strings(&r.health["notes"]);
        assert!(
            notes.iter().any(|n| n.starts_with("runner-failed: ")),
            "{fault}: {notes:?}"
        );
        assert_eq!(r.health["kernel_layer"], "partial_blind_spot", "{fault}");
        let finished = r.events.last().unwrap();
        assert_eq!(finished["runner_exit"], 125, "{fault}");
        if fault == "counters" {
            // what the reader received is kept (a failed flush loses what the stages held,
            // a failed reader everything: the note says so)
            assert!(
                strings(&r.surface["filesystem_writes"]).contains(&"<work>/out.txt".to_string()),
                "{fault}: {:#}",
                r.surface
            );
        }
    }
}

/// The kernel hands one pid to two processes of the run (forced through `ns_last_pid`): they
/// are two processes with two labels, each with its own exec, never merged under one.
#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_reused_pid_is_two_processes() {
    require_kernel();
    let (t, w) = work_dir();
    let prog = t.path().join("pid_reuse");
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&prog)
        .arg(fixture("pid_reuse.c"))
        .status()
        .unwrap();
    assert!(st.success());
    let r = run_in(&w, &[], &[prog.to_str().unwrap()]);
    assert!(r.out.status.success(), "{:?}", r.out);
    let reused: u64 = String::from_utf8_lossy(&r.out.stdout)
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("reused "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", r.out));
    let procs: Vec<&Value> = r
        .events
        .iter()
        .filter(|e| e["event"] == "process" && e["pid"] == reused)
        .collect();
    let labels: Vec<&str> = procs.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(procs.len(), 2, "{labels:?}");
    assert_ne!(labels[0], labels[1]);
    let owner = |name: &str| -> Vec<&str> {
        r.kernel
            .iter()
            .filter(|e| e["kind"] == "exec")
            .filter(|e| e["path"].as_str().unwrap_or("").ends_with(name))
            .map(|e| e["process"].as_str().unwrap())
            .collect()
    };
    let (t_owner, e_owner) = (owner("/true"), owner("/echo"));
    assert!(
        labels.contains(t_owner.last().unwrap()),
        "{t_owner:?} {labels:?}"
    );
    assert!(
        labels.contains(e_owner.last().unwrap()),
        "{e_owner:?} {labels:?}"
    );
    assert_ne!(t_owner.last(), e_owner.last(), "two processes, two labels");
    assert_clean(&r);
}
