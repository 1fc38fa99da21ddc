//! Loading and attaching the observation programs (aya 0.14), the session filter map, the
//! ring-buffer reader thread and the exact per-CPU attempt/drop counters.
//! Imports: `crate::event`.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{
    BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSockAddr, RawTracePoint,
};
use aya::{Ebpf, EbpfLoader};

use super::event::{self, BLIND_SLOTS, PROG_SLOTS, URING_OPS};
use super::spill::{RawSpill, SpillWriter};

/// The BPF object built by build.rs (clang, or the verified prebuilt fallback).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/observe.bpf.o"));
/// `clang` or `prebuilt`.
pub const OBJECT_ORIGIN: &str = env!("ASSAY_BPF_ORIGIN");
/// SHA-256 over the `bpf/` sources the object was built from.
pub const SOURCE_SHA256: &str = env!("ASSAY_BPF_SOURCE_SHA256");

/// Errors starting observation.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("loading the BPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program `{program}` ({hook}) could not be loaded or attached: {why}")]
    Attach {
        program: String,
        hook: String,
        why: String,
    },
    #[error("map `{0}` is missing from the BPF object")]
    MissingMap(&'static str),
    #[error("map `{map}`: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("kernel BTF unavailable (/sys/kernel/btf/vmlinux): {0}")]
    Btf(String),
    #[error("--ring-bytes {0} must be a power of two and at least 4096")]
    RingSize(u32),
    #[error("the possible CPUs could not be read: {0}")]
    Cpus(String),
    /// A fault injected by a test (debug builds only; see `session`).
    #[error("injected fault at `{0}`")]
    Injected(String),
}

/// Where a program attaches: a raw tracepoint, through a BPF link. It needs no tracefs
/// (perf-event tracepoints read their id from tracefs, which a fresh host does not mount, and
/// cost ~40 ms each to detach).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `raw_tp/NAME`: attached by name, untyped arguments (pointers are read with helpers).
    RawTp(&'static str),
    /// `tp_btf/NAME`: the same raw tracepoint with BTF-typed arguments, so the program reads
    /// what they point to with plain loads; its attach point is named by its kernel BTF id
    /// (`kernel::btf`).
    BtfTp(&'static str),
    /// `cgroup/NAME`: a sock_addr program attached to the session cgroup (per run, through a
    /// BPF link on the cgroup directory); it sees exactly the sockets created in that cgroup.
    Cgroup(&'static str),
    /// `cgroup_skb/ingress` (`false`) or `cgroup_skb/egress` (`true`): a packet program attached
    /// to the session cgroup like [`Hook::Cgroup`]; it sees the packets of exactly those sockets.
    CgroupSkb { egress: bool },
}

/// One observation program.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// Its name in the BPF object.
    pub name: &'static str,
    pub hook: Hook,
    /// The event family it serves (`doctor` checks each family).
    pub family: &'static str,
    /// A required probe that fails stops the run before anything executes; an optional one is
    /// recorded as a blind spot in health.
    pub required: bool,
}

/// Every program, in attach order. The `cgroup_skb` programs are optional: without them,
/// endpoints stay addresses (a `probe-missing` note says so). Syscalls are dispatched on their
/// number in-kernel by one program at syscall exit; one at syscall entry keeps the path texts of
/// path-only syscalls, to compare at exit.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "on_exec",
        hook: Hook::RawTp("sched_process_exec"),
        family: "process",
        required: true,
    },
    Program {
        name: "on_fork",
        hook: Hook::RawTp("sched_process_fork"),
        family: "process",
        required: true,
    },
    Program {
        name: "on_exit",
        hook: Hook::RawTp("sched_process_exit"),
        family: "process",
        required: true,
    },
    Program {
        name: "on_cgroup_mkdir",
        hook: Hook::RawTp("cgroup_mkdir"),
        family: "process",
        required: false,
    },
    Program {
        name: "on_sys_enter",
        hook: Hook::BtfTp("sys_enter"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_sys_exit",
        hook: Hook::BtfTp("sys_exit"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_uring_submit",
        hook: Hook::RawTp("io_uring_submit_req"),
        family: "syscall",
        required: false,
    },
    Program {
        name: "on_uring_complete",
        hook: Hook::RawTp("io_uring_complete"),
        family: "syscall",
        required: false,
    },
    Program {
        name: "on_uring_overflow",
        hook: Hook::RawTp("io_uring_cqe_overflow"),
        family: "syscall",
        required: false,
    },
    Program {
        name: "on_connect4",
        hook: Hook::Cgroup("connect4"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_connect6",
        hook: Hook::Cgroup("connect6"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_sendmsg4",
        hook: Hook::Cgroup("sendmsg4"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_sendmsg6",
        hook: Hook::Cgroup("sendmsg6"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_bind4",
        hook: Hook::Cgroup("bind4"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_bind6",
        hook: Hook::Cgroup("bind6"),
        family: "syscall",
        required: true,
    },
    Program {
        name: "on_skb_ingress",
        hook: Hook::CgroupSkb { egress: false },
        family: "syscall",
        required: false,
    },
    Program {
        name: "on_skb_egress",
        hook: Hook::CgroupSkb { egress: true },
        family: "syscall",
        required: false,
    },
];

impl Hook {
    pub fn describe(self) -> String {
        match self {
            Hook::RawTp(n) => format!("raw_tp/{n}"),
            Hook::BtfTp(n) => format!("tp_btf/{n}"),
            Hook::Cgroup(n) => format!("cgroup/{n}"),
            Hook::CgroupSkb { egress: false } => "cgroup_skb/ingress".into(),
            Hook::CgroupSkb { egress: true } => "cgroup_skb/egress".into(),
        }
    }

    /// Whether the hook attaches to the session cgroup (per run) rather than globally.
    pub fn per_session(self) -> bool {
        matches!(self, Hook::Cgroup(_) | Hook::CgroupSkb { .. })
    }
}

/// Loaded and attached observation programs.
pub struct Observer {
    ebpf: Ebpf,
    /// `program (hook): why` for each optional probe that failed.
    pub attach_failures: Vec<String>,
    /// Events still staged on a CPU that could not be flushed, per counter slot: dropped.
    stage_lost: [u64; PROG_SLOTS.len()],
}

/// What the reader thread returns.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// Every record that parsed, in bounded memory (sorted runs on disk).
    pub events: RawSpill,
    pub parse_errors: u64,
    pub received: u64,
    /// Records received but lost because the spill file could not be written, and why.
    pub spill_lost: u64,
    pub spill_error: Option<String>,
}

/// Exact counters summed over CPUs, per slot (see `event::PROG_SLOTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub attempts: [u64; PROG_SLOTS.len()],
    pub drops: [u64; PROG_SLOTS.len()],
    /// Successful uses of channels the probes do not observe, per `BLIND_SLOTS` entry.
    pub blind: [u64; BLIND_SLOTS.len()],
    /// io_uring submissions by the session, per opcode (`event::URING_OPS`).
    pub uring_ops: Vec<u64>,
}

impl Observer {
    /// Loads the object with a ring of `ring_bytes`, filtering to the cgroup `session_cgid`,
    /// and attaches every program.
    pub fn start(
        ring_bytes: u32,
        wakeup_bytes: u64,
        session_cgid: u64,
        session_level: u32,
    ) -> Result<Observer, BpfError> {
        let mut ebpf = load(ring_bytes, wakeup_bytes, session_cgid, session_level)?;
        let mut attach_failures = Vec::new();
        for p in PROGRAMS {
            if p.hook.per_session() {
                continue; // attached to the session cgroup by `attach_cgroup`
            }
            if let Err(why) = attach(&mut ebpf, p.name, p.hook, None) {
                if p.required {
                    return Err(BpfError::Attach {
                        program: p.name.into(),
                        hook: p.hook.describe(),
                        why,
                    });
                }
                attach_failures.push(format!("{} ({}): {why}", p.name, p.hook.describe()));
            }
        }
        let flush: &mut RawTracePoint = ebpf
            .program_mut(FLUSH_PROGRAM)
            .ok_or_else(|| flush_error("not in the BPF object".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| flush_error(e.to_string()))?;
        flush.load().map_err(|e| flush_error(format!("{e:#}")))?;
        Ok(Observer {
            ebpf,
            attach_failures,
            stage_lost: [0; PROG_SLOTS.len()],
        })
    }

    /// Hands every CPU's staged events to the ring (`flush_stage`, run on each CPU in turn
    /// from a thread pinned there). Call it once the session's processes are gone and before
    /// the reader is stopped. Whatever a CPU still holds afterwards (it could not be flushed)
    /// is counted as dropped.
    pub fn flush_staged(&mut self) -> Result<(), BpfError> {
        use aya::programs::{RawTracePointRunOptions, TestRun};
        let cpus = possible_cpus()?;
        let prog: &RawTracePoint = self
            .ebpf
            .program(FLUSH_PROGRAM)
            .ok_or_else(|| flush_error("not in the BPF object".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| flush_error(e.to_string()))?;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for cpu in 0..cpus {
                    // Pinned, the program runs here in process context; otherwise the kernel
                    // would run it from an interrupt on that CPU. An offline CPU fails both.
                    let mut set = nix::sched::CpuSet::new();
                    if set.set(cpu as usize).is_err()
                        || nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                            .is_err()
                    {
                        continue;
                    }
                    let _ = prog.test_run(RawTracePointRunOptions {
                        cpu: Some(cpu),
                        ..RawTracePointRunOptions::new()
                    });
                }
            });
        });
        let map = self
            .ebpf
            .map("stage_meta")
            .ok_or(BpfError::MissingMap("stage_meta"))?;
        let meta: aya::maps::Array<&MapData, StageMeta> =
            aya::maps::Array::try_from(map).map_err(|source| BpfError::Map {
                map: "stage_meta",
                source,
            })?;
        for cpu in 0..cpus {
            let m = meta.get(&cpu, 0).map_err(|source| BpfError::Map {
                map: "stage_meta",
                source,
            })?;
            for (lost, staged) in self.stage_lost.iter_mut().zip(&m[2..]) {
                *lost += staged;
            }
        }
        Ok(())
    }

    /// Attaches the `cgroup/*` programs to the session cgroup directory, through BPF links
    /// owned by this observer (they go away with it). A required one that fails is an error.
    pub fn attach_cgroup(&mut self, dir: &std::path::Path) -> Result<(), BpfError> {
        let cgroup = std::fs::File::open(dir).map_err(|e| BpfError::Attach {
            program: "cgroup programs".into(),
            hook: dir.display().to_string(),
            why: e.to_string(),
        })?;
        for p in PROGRAMS {
            if !p.hook.per_session() {
                continue;
            }
            if let Err(why) = attach(&mut self.ebpf, p.name, p.hook, Some(&cgroup)) {
                if p.required {
                    return Err(BpfError::Attach {
                        program: p.name.into(),
                        hook: p.hook.describe(),
                        why,
                    });
                }
                self.attach_failures
                    .push(format!("{} ({}): {why}", p.name, p.hook.describe()));
            }
        }
        Ok(())
    }

    /// Starts the reader thread. It polls the ring (waking on data, on `stop`, or every
    /// `poll_ms`) and drains it completely once `stop` is set.
    pub fn spawn_reader(
        &mut self,
        stop: Arc<Stop>,
        poll_ms: u16,
    ) -> Result<JoinHandle<ReadResult>, BpfError> {
        let map = self
            .ebpf
            .take_map("events")
            .ok_or(BpfError::MissingMap("events"))?;
        let ring: RingBuf<aya::maps::MapData> =
            RingBuf::try_from(map).map_err(|source| BpfError::Map {
                map: "events",
                source,
            })?;
        Ok(std::thread::spawn(move || read_loop(ring, &stop, poll_ms)))
    }

    /// Reads the exact per-CPU attempt and drop counters.
    pub fn counters(&self) -> Result<Counters, BpfError> {
        let mut c = Counters {
            uring_ops: vec![0; URING_OPS],
            ..Counters::default()
        };
        let maps: [(&'static str, &mut [u64]); 4] = [
            ("attempts", &mut c.attempts),
            ("drops", &mut c.drops),
            ("blind", &mut c.blind),
            ("uring_ops", &mut c.uring_ops),
        ];
        for (name, out) in maps {
            let map = self.ebpf.map(name).ok_or(BpfError::MissingMap(name))?;
            let arr: PerCpuArray<&MapData, u64> =
                PerCpuArray::try_from(map).map_err(|source| BpfError::Map { map: name, source })?;
            for (slot, total) in out.iter_mut().enumerate() {
                let values = arr
                    .get(&(slot as u32), 0)
                    .map_err(|source| BpfError::Map { map: name, source })?;
                *total = values.iter().sum();
            }
        }
        for (d, lost) in c.drops.iter_mut().zip(self.stage_lost) {
            *d += lost;
        }
        Ok(c)
    }

    /// Processes followed by pid tree that have not exited yet.
    pub fn tracked_pids(&self) -> Vec<u32> {
        let Some(map) = self.ebpf.map("tracked") else {
            return Vec::new();
        };
        let Ok(m) = BpfHashMap::<&MapData, u32, u8>::try_from(map) else {
            return Vec::new();
        };
        m.keys().filter_map(Result::ok).collect()
    }
}

/// Loads the object (maps, including the ring buffer, are created here; programs are verified
/// when they are attached). The loader reads the kernel BTF once for CO-RE relocations.
fn load(
    ring_bytes: u32,
    wakeup_bytes: u64,
    session_cgid: u64,
    session_level: u32,
) -> Result<Ebpf, BpfError> {
    if ring_bytes < 4096 || !ring_bytes.is_power_of_two() {
        return Err(BpfError::RingSize(ring_bytes));
    }
    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
    if let Err(e) = std::fs::metadata(VMLINUX) {
        return Err(BpfError::Btf(e.to_string()));
    }
    // the kernel BTF cut down to what the object's relocations can reach (`kernel::btf`)
    let btf = super::btf::relocation_btf(OBJECT).map_err(|e| BpfError::Btf(e.to_string()))?;
    let cpus = possible_cpus()?;
    let (stage_bytes, wakeup_bytes) = ring_thresholds(ring_bytes, wakeup_bytes);
    Ok(new_loader()
        .btf(Some(&btf))
        .map_max_entries("events", ring_bytes)
        .map_max_entries("stage", cpus)
        .map_max_entries("stage_meta", cpus)
        .override_global("wakeup_bytes", &wakeup_bytes, true)
        .override_global("session_cgid", &session_cgid, true)
        .override_global("session_level", &session_level, true)
        .override_global("stage_bytes", &stage_bytes, true)
        .load(OBJECT)?)
}

/// `EbpfLoader::new()` parses the whole kernel BTF (~150k types; with its page faults and its
/// free, ~45 ms of a ~145 ms fixed cost here) only for `load` to replace it with the cut one.
/// Made on a thread with a filesystem context of its own (`unshare(CLONE_FS)`) whose root is
/// an empty directory, that parse finds no `/sys/kernel/btf/vmlinux` and is skipped. If that
/// cannot be arranged, the loader is made here, parse and all.
fn new_loader() -> EbpfLoader<'static> {
    let made = tempfile::tempdir().ok().and_then(|empty| {
        let root = empty.path().to_path_buf();
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).ok()?;
            nix::unistd::chroot(&root).ok()?;
            Some(EbpfLoader::new())
        })
        .join()
        .ok()
        .flatten()
    });
    made.unwrap_or_default() // `EbpfLoader::new()`
}

/// The program that flushes a CPU's stage (run, never attached).
const FLUSH_PROGRAM: &str = "flush_stage";

fn flush_error(why: String) -> BpfError {
    BpfError::Attach {
        program: FLUSH_PROGRAM.into(),
        hook: "BPF_PROG_TEST_RUN".into(),
        why,
    }
}

/// `struct stage_meta` in `bpf/observe.bpf.c`, as its `u64`s: staged bytes, staged events, then
/// the events staged per counter slot.
type StageMeta = [u64; 2 + PROG_SLOTS.len()];

/// The batch size (`stage_bytes`) and the pending bytes that wake the reader (`wakeup_bytes`)
/// for a ring: a batch is at most a quarter of the ring (and at most `STAGE_MAX`), and the
/// reader is woken by a quarter of the ring at the latest, so a small ring does not fill while
/// the reader sleeps out its poll.
fn ring_thresholds(ring_bytes: u32, wakeup_bytes: u64) -> (u64, u64) {
    let quarter = u64::from(ring_bytes / 4);
    (quarter.min(STAGE_MAX), wakeup_bytes.min(quarter))
}

use super::event::STAGE_MAX;

/// The number of possible CPUs (the stages are indexed by CPU number).
fn possible_cpus() -> Result<u32, BpfError> {
    let n = aya::util::nr_cpus().map_err(|(path, e)| BpfError::Cpus(format!("{path}: {e}")))?;
    u32::try_from(n).map_err(|_| BpfError::Cpus(format!("{n} possible CPUs")))
}

/// A program and whether it loaded and attached (`Err` says why not).
pub type ProbeResult = (Program, Result<(), String>);

/// Loads the object, then loads and attaches each program on its own (all are detached again
/// when this returns), so `doctor` can report every prerequisite separately. `cgroup/*`
/// programs are loaded (verified) only: they attach to a session cgroup, which `doctor`'s
/// observed run exercises.
pub fn probe_each() -> Result<Vec<ProbeResult>, BpfError> {
    // No cgroup has id 0: the programs see no session.
    let mut ebpf = load(1 << 16, 4096, 0, 0)?;
    Ok(PROGRAMS
        .iter()
        .map(|p| (*p, attach(&mut ebpf, p.name, p.hook, None)))
        .collect())
}

fn attach(
    ebpf: &mut Ebpf,
    name: &str,
    hook: Hook,
    cgroup: Option<&std::fs::File>,
) -> Result<(), String> {
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| "not in the BPF object".to_string())?;
    match hook {
        Hook::RawTp(tp) => {
            let p: &mut RawTracePoint = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            p.load().map_err(|e| format!("{e:#}"))?;
            p.attach(tp).map_err(|e| format!("{e:#}"))?;
        }
        Hook::BtfTp(tp) => {
            let p: &mut BtfTracePoint = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            // only the kernel BTF up to the attach point's typedef (`kernel::btf`)
            let btf = super::btf::attach_btf(tp).map_err(|e| e.to_string())?;
            p.load(tp, &btf).map_err(|e| format!("{e:#}"))?;
            p.attach().map_err(|e| format!("{e:#}"))?;
        }
        Hook::Cgroup(_) => {
            let p: &mut CgroupSockAddr = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            p.load().map_err(|e| format!("{e:#}"))?;
            if let Some(cg) = cgroup {
                // Through a BPF link (flags 0): links on a cgroup always coexist with other
                // programs on it and its parents; BPF_F_ALLOW_MULTI is refused for links.
                p.attach(cg, CgroupAttachMode::Single)
                    .map_err(|e| format!("{e:#}"))?;
            }
        }
        Hook::CgroupSkb { egress } => {
            let p: &mut CgroupSkb = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            p.load().map_err(|e| format!("{e:#}"))?;
            if let Some(cg) = cgroup {
                let kind = if egress {
                    CgroupSkbAttachType::Egress
                } else {
                    CgroupSkbAttachType::Ingress
                };
                p.attach(cg, kind, CgroupAttachMode::Single)
                    .map_err(|e| format!("{e:#}"))?;
            }
        }
    }
    Ok(())
}

/// Tells the reader thread to drain the ring and return, waking it at once (an eventfd in its
/// poll set) instead of at its next poll timeout.
#[derive(Debug)]
pub struct Stop {
    flag: AtomicBool,
    wake: nix::sys::eventfd::EventFd,
}

impl Stop {
    pub fn new() -> std::io::Result<Stop> {
        Ok(Stop {
            flag: AtomicBool::new(false),
            wake: nix::sys::eventfd::EventFd::from_value_and_flags(
                0,
                nix::sys::eventfd::EfdFlags::EFD_CLOEXEC,
            )
            .map_err(std::io::Error::from)?,
        })
    }

    /// Sets the flag, then wakes the reader.
    pub fn set(&self) {
        self.flag.store(true, Ordering::Release);
        let _ = self.wake.write(1);
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

fn read_loop(mut ring: RingBuf<MapData>, stop: &Stop, poll_ms: u16) -> ReadResult {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut out = ReadResult::default();
    let mut spill = SpillWriter::default();
    loop {
        let stopping = stop.is_set();
        while let Some(item) = ring.next() {
            let n = event::parse_record(&item, |h, d1, d2| {
                if out.spill_error.is_some() {
                    out.spill_lost += 1;
                } else if let Err(e) = spill.push(&h, d1, d2) {
                    out.spill_lost += 1;
                    out.spill_error = Some(e.to_string());
                }
            });
            out.received += n.events;
            out.parse_errors += n.bad;
        }
        if stopping {
            match spill.finish() {
                Ok(events) => out.events = events,
                Err(e) => {
                    out.spill_lost = out.received - out.parse_errors;
                    out.spill_error = Some(e.to_string());
                }
            }
            return out;
        }
        // SAFETY: the fd belongs to `ring`, which outlives this borrow.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(ring.as_raw_fd()) };
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(stop.wake.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, PollTimeout::from(poll_ms));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn batches_and_wakeups_fit_the_ring() {
        use super::ring_thresholds;
        // the default ring: 64 KiB batches, the reader woken at 256 KiB pending
        assert_eq!(ring_thresholds(16 << 20, 256 << 10), (64 << 10, 256 << 10));
        // a small ring: a batch and a wakeup at a quarter of it
        assert_eq!(ring_thresholds(4096, 256 << 10), (1024, 1024));
        assert_eq!(ring_thresholds(128 << 10, 256 << 10), (32 << 10, 32 << 10));
        // a lower wakeup asked for is kept
        assert_eq!(ring_thresholds(16 << 20, 4096), (64 << 10, 4096));
    }

    /// The committed fallback object must be rebuilt whenever `bpf/` changes
    /// (`scripts/update-prebuilt-bpf`); this fails when source and object drift.
    #[test]
    fn prebuilt_object_matches_sources() {
        let recorded = include_str!("../../../bpf/prebuilt/observe.bpf.o.source-sha256");
        assert_eq!(
            recorded.trim(),
            super::SOURCE_SHA256,
            "bpf/ changed since bpf/prebuilt/observe.bpf.o was built: run scripts/update-prebuilt-bpf"
        );
        let obj = include_bytes!("../../../bpf/prebuilt/observe.bpf.o");
        assert_eq!(&obj[..4], b"\x7fELF");
    }
}
