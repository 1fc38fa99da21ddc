//! `doctor`: every prerequisite of a measured run checked on its own (root and capabilities,
//! kernel BTF, the cgroup2 mount, a session cgroup, BPF ring buffers, the BPF object, each
//! program family's load and attach, and one observed run end to end), each failure with the
//! fix for this host. Nothing here needs tracefs, and nothing is mounted or changed on the host
//! (the session cgroup it creates is removed again).
//! Imports: `crate::{bpf, cgroup, event, session}`, `assay_contracts::doctor_report`.

use std::ffi::OsString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bpf::{self, PROGRAMS};
use super::cgroup::{self, CgroupError, SessionCgroup};
use super::event::EV_EXEC;
use super::session::{self, End, RunSpec};
use super::spill::RawSource as _;
use assay_contracts::doctor_report::{BpfObject, CheckStatus, DoctorCheck, DoctorReport, SCHEMA};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

struct Checks {
    list: Vec<DoctorCheck>,
}

impl Checks {
    fn ok(&mut self, id: &str, detail: String) -> bool {
        self.push(id, CheckStatus::Ok, detail, None);
        true
    }
    fn fail(&mut self, id: &str, detail: String, fix: String) -> bool {
        self.push(id, CheckStatus::Fail, detail, Some(fix));
        false
    }
    /// Records `id` as skipped when a prerequisite is not ok; true when all are.
    fn needs(&mut self, id: &str, prereqs: &[&str]) -> bool {
        let missing: Vec<&str> = prereqs
            .iter()
            .copied()
            .filter(|p| {
                !self
                    .list
                    .iter()
                    .any(|c| c.id == *p && c.status == CheckStatus::Ok)
            })
            .collect();
        if missing.is_empty() {
            return true;
        }
        let detail = format!("not attempted: needs {}", missing.join(", "));
        self.push(id, CheckStatus::Skipped, detail, None);
        false
    }
    fn push(&mut self, id: &str, status: CheckStatus, detail: String, fix: Option<String>) {
        self.list.push(DoctorCheck {
            id: id.into(),
            status,
            detail,
            fix,
        });
    }
}

fn exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "assay-runner".into())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Effective capability bits from `/proc/self/status`.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Mount points by filesystem type, from `/proc/self/mountinfo`.
fn mounts_of(fstype: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            if post.split_whitespace().next()? != fstype {
                return None;
            }
            Some(PathBuf::from(pre.split_whitespace().nth(4)?))
        })
        .collect()
}

fn errno_of(e: &CgroupError) -> Option<i32> {
    match e {
        CgroupError::Io { source, .. } => source.raw_os_error(),
        CgroupError::NoCgroup2 => None,
    }
}

/// Creates a BPF ring buffer map on its own (Linux >= 5.8), then closes it.
fn create_ringbuf() -> std::io::Result<()> {
    // union bpf_attr, BPF_MAP_CREATE: map_type, key_size, value_size, max_entries, map_flags.
    let mut attr = [0u32; 32];
    attr[0] = 27; // BPF_MAP_TYPE_RINGBUF
    attr[3] = 4096; // max_entries: one page, a power of two
    // SAFETY: bpf(BPF_MAP_CREATE) reads `size` bytes of `attr`, a live, zero-initialised buffer
    // of at least that size; it returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            0, // BPF_MAP_CREATE
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(())
}

fn eperm_fix(what: &str) -> String {
    format!(
        "{what} was refused (EPERM): run as root outside a restricted container (docker: \
         `--privileged`, or `--cap-add SYS_ADMIN --cap-add BPF --cap-add PERFMON` with a \
         seccomp profile that allows bpf(2)); check that kernel lockdown is not `confidentiality` \
         (`cat /sys/kernel/security/lockdown` after `mount -t securityfs securityfs /sys/kernel/security`)"
    )
}

/// Runs every check, each on its own, in order: a check whose prerequisites failed is
/// recorded as not attempted.
pub fn diagnose() -> DoctorReport {
    let mut c = Checks { list: Vec::new() };
    let release = kernel_release();
    check_root(&mut c);
    check_btf(&mut c, &release);
    let root_cg = check_cgroup2(&mut c);
    check_session_cgroup(&mut c, &root_cg);
    check_ringbuf(&mut c, &release);
    let attach_points: Vec<String> = PROGRAMS.iter().map(|p| p.hook.describe()).collect();
    check_bpf_object(&mut c, &release);
    // one observed run end to end
    if c.needs(
        "observed-run",
        &["session-cgroup", "probes-process", "probes-syscall"],
    ) {
        observed_run(&mut c);
    }

    let tracefs = mounts_of("tracefs");
    let facts = vec![
        format!("kernel: {release}"),
        format!(
            "tracefs: not needed (every program attaches through a BPF link); mounted here: {}",
            if tracefs.is_empty() {
                "no".to_string()
            } else {
                tracefs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ];
    let ok = c.list.iter().all(|x| x.status == CheckStatus::Ok);
    DoctorReport {
        schema: SCHEMA.into(),
        ok,
        checks: c.list,
        bpf_object: BpfObject {
            origin: bpf::OBJECT_ORIGIN.into(),
            source_sha256: bpf::SOURCE_SHA256.into(),
            attach_points,
        },
        facts,
    }
}

/// Root and the capabilities the session cgroup and BPF need.
fn check_root(c: &mut Checks) {
    let euid0 = nix::unistd::geteuid().is_root();
    let caps = effective_caps().unwrap_or(0);
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    let bpf_caps = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    if !euid0 {
        c.fail(
            "root",
            format!("running as uid {}", nix::unistd::geteuid()),
            format!("run as root: `sudo {} doctor`", exe()),
        );
    } else if !has(CAP_SYS_ADMIN) {
        c.fail(
            "root",
            format!(
                "root, but CAP_SYS_ADMIN is missing (CapEff {caps:#x}; BPF and PERFMON: {})",
                bpf_caps
            ),
            "the container drops capabilities the session cgroup and BPF need: run it with \
             `--privileged` (docker/podman) or `--cap-add SYS_ADMIN --cap-add BPF --cap-add PERFMON`"
                .into(),
        );
    } else {
        c.ok(
            "root",
            format!("root with CAP_SYS_ADMIN (CapEff {caps:#x})"),
        );
    }
}

/// The kernel's BTF, which CO-RE relocation needs.
fn check_btf(c: &mut Checks, release: &str) {
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    match std::fs::metadata(btf) {
        Ok(m) if m.len() > 0 => c.ok("btf", format!("{} ({} bytes)", btf.display(), m.len())),
        _ if !Path::new("/sys/kernel").is_dir() => c.fail(
            "btf",
            "/sys is not mounted".into(),
            "mount -t sysfs sysfs /sys".into(),
        ),
        _ => c.fail(
            "btf",
            format!("kernel {release} exposes no BTF at {}", btf.display()),
            "boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (the stock kernels of Debian >= 11, \
             Ubuntu >= 20.10, Fedora and GitHub's Ubuntu runners have it)"
                .into(),
        ),
    };
}

/// A mounted cgroup2 tree (its root, for the session-cgroup check).
fn check_cgroup2(c: &mut Checks) -> Result<PathBuf, CgroupError> {
    let root_cg = cgroup::cgroup2_root();
    match &root_cg {
        Ok(p) => c.ok("cgroup2", format!("cgroup2 mounted at {}", p.display())),
        Err(e) => {
            let hybrid = mounts_of("tmpfs")
                .iter()
                .any(|m| m == Path::new("/sys/fs/cgroup"));
            let fix = if hybrid {
                "mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified"
            } else {
                "mount -t cgroup2 none /sys/fs/cgroup"
            };
            c.fail("cgroup2", e.to_string(), fix.into())
        }
    };
    root_cg
}

/// A session cgroup created and removed under the cgroup2 root.
fn check_session_cgroup(c: &mut Checks, root_cg: &Result<PathBuf, CgroupError>) {
    if c.needs("session-cgroup", &["root", "cgroup2"])
        && let Ok(root) = &root_cg
    {
        match SessionCgroup::create(root) {
            Ok(s) => {
                let detail = format!(
                    "created and removed a session cgroup under {}/assay-runner",
                    root.display()
                );
                match s.remove(Duration::from_secs(1)) {
                    Ok(()) => c.ok("session-cgroup", detail),
                    Err(e) => c.fail(
                        "session-cgroup",
                        format!("created a session cgroup but could not remove it: {e}"),
                        format!("rmdir {}/assay-runner/run-*", root.display()),
                    ),
                };
            }
            Err(e) => {
                let fix = match errno_of(&e) {
                    Some(libc::EROFS) => format!("mount -o remount,rw {}", root.display()),
                    Some(libc::EACCES | libc::EPERM) => format!(
                        "the cgroup2 tree at {} is not writable by this user: run as root \
                         (`sudo {} doctor`), or delegate a subtree \
                         (`systemd-run --scope -p Delegate=yes {} doctor`)",
                        root.display(),
                        exe(),
                        exe()
                    ),
                    Some(libc::EBUSY | libc::EOPNOTSUPP) => format!(
                        "the runner's own cgroup cannot hold child cgroups (a threaded or leaf \
                         cgroup): start it from a delegated scope, e.g. \
                         `systemd-run --scope -p Delegate=yes {} doctor`",
                        exe()
                    ),
                    _ => format!("see docs/kernel.md (session cgroups): {e}"),
                };
                c.fail("session-cgroup", e.to_string(), fix);
            }
        }
    }
}

/// A BPF ring buffer map, created on its own.
fn check_ringbuf(c: &mut Checks, release: &str) {
    if c.needs("ringbuf", &["root"]) {
        match create_ringbuf() {
            Ok(()) => c.ok("ringbuf", "a BPF ring buffer map can be created".into()),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                c.fail("ringbuf", e.to_string(), eperm_fix("bpf(BPF_MAP_CREATE)"))
            }
            Err(e) => c.fail(
                "ringbuf",
                format!("creating a BPF ring buffer map failed: {e}"),
                format!(
                    "BPF ring buffers need Linux >= 5.8 with CONFIG_BPF_SYSCALL=y; this kernel is \
                     {release}: upgrade it"
                ),
            ),
        };
    }
}

/// The embedded BPF object loads, and each program family loads and attaches.
fn check_bpf_object(c: &mut Checks, release: &str) {
    if c.needs("bpf-object", &["root", "btf", "ringbuf"]) {
        match bpf::probe_each() {
            Err(e) => {
                let text = e.to_string();
                let fix = if text.contains("Operation not permitted") {
                    eperm_fix("loading the BPF object")
                } else {
                    format!(
                        "the embedded object ({}) does not load on kernel {release}: rebuild it \
                         from source with `scripts/setup && cargo build --release` (clang), and \
                         report the error if it persists",
                        bpf::OBJECT_ORIGIN
                    )
                };
                c.fail("bpf-object", text, fix);
                c.needs("probes-process", &["bpf-object"]);
                c.needs("probes-syscall", &["bpf-object"]);
            }
            Ok(results) => {
                c.ok(
                    "bpf-object",
                    format!(
                        "the {} object loads (maps created, CO-RE relocated against kernel BTF)",
                        bpf::OBJECT_ORIGIN
                    ),
                );
                check_families(c, &results, release);
            }
        }
    } else {
        c.needs("probes-process", &["bpf-object"]);
        c.needs("probes-syscall", &["bpf-object"]);
    }
}

/// Each program family of a loaded object: every program loaded and attached.
fn check_families(c: &mut Checks, results: &[bpf::ProbeResult], release: &str) {
    for (id, family, fix) in [
        (
            "probes-process",
            "process",
            "raw tracepoints need Linux >= 4.17 (CONFIG_BPF_EVENTS=y); the sched \
             tracepoints must exist (CONFIG_TRACEPOINTS=y)",
        ),
        (
            "probes-syscall",
            "syscall",
            "raw tracepoints need Linux >= 4.17 (CONFIG_BPF_EVENTS=y)",
        ),
    ] {
        let mine: Vec<_> = results.iter().filter(|(p, _)| p.family == family).collect();
        let failed: Vec<String> = mine
            .iter()
            .filter_map(|(p, r)| {
                r.as_ref()
                    .err()
                    .map(|why| format!("{} ({}): {why}", p.name, p.hook.describe()))
            })
            .collect();
        let names: Vec<String> = mine.iter().map(|(p, _)| p.hook.describe()).collect();
        if failed.is_empty() {
            c.ok(
                id,
                format!(
                    "loaded and attached through BPF links: {}",
                    names.join(", ")
                ),
            );
        } else if failed.iter().any(|f| f.contains("Operation not permitted")) {
            c.fail(id, failed.join("; "), eperm_fix("attaching"));
        } else {
            c.fail(
                id,
                failed.join("; "),
                format!("{fix}; this kernel is {release}"),
            );
        }
    }
}

/// Runs this binary's `--version` observed, and checks that its exec arrived through the ring
/// with exact counters and no drops.
fn observed_run(c: &mut Checks) {
    let Ok(me) = std::env::current_exe() else {
        c.fail(
            "observed-run",
            "cannot locate this binary (/proc/self/exe)".into(),
            "mount -t proc proc /proc".into(),
        );
        return;
    };
    let dir = std::env::temp_dir();
    let spec = RunSpec {
        argv: vec![me.clone().into_os_string(), OsString::from("--version")],
        work_dir: dir,
        ring_bytes: 1 << 16,
        wakeup_bytes: 4096,
        grace: Duration::from_millis(200),
        timeout: Some(Duration::from_secs(10)),
        user: None,
        env: None,
        detach: true,
        output: super::session::Output::Null,
        private_tmp: false,
    };
    let rec = match session::run(&spec) {
        Ok(r) => r,
        Err(e) => {
            c.fail(
                "observed-run",
                e.to_string(),
                "the checks above passed but a run could not start: see docs/kernel.md".into(),
            );
            return;
        }
    };
    let attempts: u64 = rec.counters.attempts.iter().sum();
    let drops: u64 = rec.counters.drops.iter().sum();
    let mut saw_exec = false;
    let _ = rec.events.for_each_raw(&mut |h, d1, _| {
        saw_exec |= h.kind == EV_EXEC && d1 == me.as_os_str().as_encoded_bytes();
    });
    let detail = format!(
        "`{} --version` in a session cgroup: end {:?}, {} event(s) received of {attempts} \
         attempted, {drops} dropped, exec seen: {saw_exec}",
        me.display(),
        rec.end,
        rec.received
    );
    if rec.end == End::Exited(0) && saw_exec && drops == 0 && rec.received + drops == attempts {
        c.ok("observed-run", detail);
    } else {
        c.fail(
            "observed-run",
            detail,
            "observation attached but did not deliver the probe run's exec: check for another \
             BPF tool detaching programs, then report it with this output"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_family_has_a_check() {
        for p in PROGRAMS {
            assert!(
                ["process", "syscall"].contains(&p.family),
                "{}: family {} has no doctor check",
                p.name,
                p.family
            );
        }
    }

    #[test]
    fn mountinfo_types_are_read_from_after_the_separator() {
        // /proc/self/mountinfo always has a cgroup2 or proc entry on Linux.
        assert!(!mounts_of("proc").is_empty());
    }
}
