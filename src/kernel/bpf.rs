//! Loading and attaching the observation programs (aya 0.14), the session filter map, the
//! ring-buffer reader thread and the exact per-CPU attempt/drop counters.
//! Imports: `crate::kernel::event`.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{BtfTracePoint, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use super::event::{self, PROG_SLOTS, RawEvent};

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
}

#[derive(Clone, Copy)]
enum Hook {
    Tp(&'static str, &'static str),
    TpBtf(&'static str),
}

/// Every program: (ELF name, hook, required). A required probe that fails stops the run before
/// anything executes; an optional one is recorded as a blind spot in health.
const PROGRAMS: &[(&str, Hook, bool)] = &[
    ("on_exec", Hook::Tp("sched", "sched_process_exec"), true),
    ("on_fork", Hook::TpBtf("sched_process_fork"), true),
    ("on_exit", Hook::Tp("sched", "sched_process_exit"), true),
    (
        "enter_openat",
        Hook::Tp("syscalls", "sys_enter_openat"),
        true,
    ),
    ("exit_openat", Hook::Tp("syscalls", "sys_exit_openat"), true),
    ("enter_open", Hook::Tp("syscalls", "sys_enter_open"), false),
    ("exit_open", Hook::Tp("syscalls", "sys_exit_open"), false),
    (
        "enter_creat",
        Hook::Tp("syscalls", "sys_enter_creat"),
        false,
    ),
    ("exit_creat", Hook::Tp("syscalls", "sys_exit_creat"), false),
    (
        "enter_openat2",
        Hook::Tp("syscalls", "sys_enter_openat2"),
        false,
    ),
    (
        "exit_openat2",
        Hook::Tp("syscalls", "sys_exit_openat2"),
        false,
    ),
    (
        "enter_unlinkat",
        Hook::Tp("syscalls", "sys_enter_unlinkat"),
        true,
    ),
    (
        "exit_unlinkat",
        Hook::Tp("syscalls", "sys_exit_unlinkat"),
        true,
    ),
    (
        "enter_unlink",
        Hook::Tp("syscalls", "sys_enter_unlink"),
        false,
    ),
    (
        "exit_unlink",
        Hook::Tp("syscalls", "sys_exit_unlink"),
        false,
    ),
    (
        "enter_rmdir",
        Hook::Tp("syscalls", "sys_enter_rmdir"),
        false,
    ),
    ("exit_rmdir", Hook::Tp("syscalls", "sys_exit_rmdir"), false),
    (
        "enter_renameat2",
        Hook::Tp("syscalls", "sys_enter_renameat2"),
        true,
    ),
    (
        "exit_renameat2",
        Hook::Tp("syscalls", "sys_exit_renameat2"),
        true,
    ),
    (
        "enter_renameat",
        Hook::Tp("syscalls", "sys_enter_renameat"),
        false,
    ),
    (
        "exit_renameat",
        Hook::Tp("syscalls", "sys_exit_renameat"),
        false,
    ),
    (
        "enter_rename",
        Hook::Tp("syscalls", "sys_enter_rename"),
        false,
    ),
    (
        "exit_rename",
        Hook::Tp("syscalls", "sys_exit_rename"),
        false,
    ),
    (
        "enter_mkdirat",
        Hook::Tp("syscalls", "sys_enter_mkdirat"),
        true,
    ),
    (
        "exit_mkdirat",
        Hook::Tp("syscalls", "sys_exit_mkdirat"),
        true,
    ),
    (
        "enter_mkdir",
        Hook::Tp("syscalls", "sys_enter_mkdir"),
        false,
    ),
    ("exit_mkdir", Hook::Tp("syscalls", "sys_exit_mkdir"), false),
    ("enter_chdir", Hook::Tp("syscalls", "sys_enter_chdir"), true),
    ("exit_chdir", Hook::Tp("syscalls", "sys_exit_chdir"), true),
    (
        "enter_fchdir",
        Hook::Tp("syscalls", "sys_enter_fchdir"),
        true,
    ),
    ("exit_fchdir", Hook::Tp("syscalls", "sys_exit_fchdir"), true),
    (
        "enter_connect",
        Hook::Tp("syscalls", "sys_enter_connect"),
        true,
    ),
    (
        "exit_connect",
        Hook::Tp("syscalls", "sys_exit_connect"),
        true,
    ),
    (
        "enter_linkat",
        Hook::Tp("syscalls", "sys_enter_linkat"),
        false,
    ),
    (
        "exit_linkat",
        Hook::Tp("syscalls", "sys_exit_linkat"),
        false,
    ),
    ("enter_link", Hook::Tp("syscalls", "sys_enter_link"), false),
    ("exit_link", Hook::Tp("syscalls", "sys_exit_link"), false),
    (
        "enter_symlinkat",
        Hook::Tp("syscalls", "sys_enter_symlinkat"),
        false,
    ),
    (
        "exit_symlinkat",
        Hook::Tp("syscalls", "sys_exit_symlinkat"),
        false,
    ),
    (
        "enter_symlink",
        Hook::Tp("syscalls", "sys_enter_symlink"),
        false,
    ),
    (
        "exit_symlink",
        Hook::Tp("syscalls", "sys_exit_symlink"),
        false,
    ),
];

impl Hook {
    fn describe(self) -> String {
        match self {
            Hook::Tp(c, n) => format!("tracepoint/{c}/{n}"),
            Hook::TpBtf(n) => format!("tp_btf/{n}"),
        }
    }
}

/// Loaded and attached observation programs.
pub struct Observer {
    ebpf: Ebpf,
    /// `program (hook): why` for each optional probe that failed.
    pub attach_failures: Vec<String>,
}

/// What the reader thread returns.
#[derive(Debug, Default)]
pub struct ReadResult {
    pub events: Vec<RawEvent>,
    pub parse_errors: u64,
    pub received: u64,
}

/// Exact counters summed over CPUs, per slot (see `event::PROG_SLOTS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub attempts: [u64; PROG_SLOTS.len()],
    pub drops: [u64; PROG_SLOTS.len()],
}

impl Observer {
    /// Loads the object with a ring of `ring_bytes` and attaches every program.
    pub fn start(ring_bytes: u32, wakeup_bytes: u64) -> Result<Observer, BpfError> {
        if ring_bytes < 4096 || !ring_bytes.is_power_of_two() {
            return Err(BpfError::RingSize(ring_bytes));
        }
        let btf = Btf::from_sys_fs().map_err(|e| BpfError::Btf(e.to_string()))?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries("events", ring_bytes)
            .override_global("wakeup_bytes", &wakeup_bytes, true)
            .load(OBJECT)?;
        let mut attach_failures = Vec::new();
        for &(name, hook, required) in PROGRAMS {
            let result = attach(&mut ebpf, name, hook, &btf);
            if let Err(why) = result {
                if required {
                    return Err(BpfError::Attach {
                        program: name.into(),
                        hook: hook.describe(),
                        why,
                    });
                }
                attach_failures.push(format!("{name} ({}): {why}", hook.describe()));
            }
        }
        Ok(Observer {
            ebpf,
            attach_failures,
        })
    }

    /// Adds a cgroup id to the in-kernel session filter.
    pub fn add_cgroup(&mut self, id: u64) -> Result<(), BpfError> {
        let map = self
            .ebpf
            .map_mut("session_cgroups")
            .ok_or(BpfError::MissingMap("session_cgroups"))?;
        let mut m: BpfHashMap<_, u64, u8> =
            BpfHashMap::try_from(map).map_err(|source| BpfError::Map {
                map: "session_cgroups",
                source,
            })?;
        m.insert(id, 1, 0).map_err(|source| BpfError::Map {
            map: "session_cgroups",
            source,
        })
    }

    /// Starts the reader thread. It polls the ring (waking on data or every `poll_ms`) and
    /// drains it completely after `stop` is set.
    pub fn spawn_reader(
        &mut self,
        stop: Arc<AtomicBool>,
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
        let mut c = Counters::default();
        for (name, out) in [("attempts", &mut c.attempts), ("drops", &mut c.drops)] {
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

impl Drop for Observer {
    /// Detaches every program in parallel: each tracepoint detach waits for an RCU grace period
    /// in the kernel, and concurrent detaches share grace periods instead of paying one each.
    fn drop(&mut self) {
        std::thread::scope(|s| {
            for (_, prog) in self.ebpf.programs_mut() {
                s.spawn(move || {
                    let _ = match prog {
                        aya::programs::Program::TracePoint(p) => p.unload(),
                        aya::programs::Program::BtfTracePoint(p) => p.unload(),
                        _ => Ok(()),
                    };
                });
            }
        });
    }
}

fn attach(ebpf: &mut Ebpf, name: &str, hook: Hook, btf: &Btf) -> Result<(), String> {
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| "not in the BPF object".to_string())?;
    match hook {
        Hook::Tp(cat, tp) => {
            let p: &mut TracePoint = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            p.load().map_err(|e| format!("{e:#}"))?;
            p.attach(cat, tp).map_err(|e| format!("{e:#}"))?;
        }
        Hook::TpBtf(tp) => {
            let p: &mut BtfTracePoint = prog
                .try_into()
                .map_err(|e: aya::programs::ProgramError| e.to_string())?;
            p.load(tp, btf).map_err(|e| format!("{e:#}"))?;
            p.attach().map_err(|e| format!("{e:#}"))?;
        }
    }
    Ok(())
}

fn read_loop(mut ring: RingBuf<MapData>, stop: &AtomicBool, poll_ms: u16) -> ReadResult {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut out = ReadResult::default();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        while let Some(item) = ring.next() {
            out.received += 1;
            match event::parse(&item) {
                Ok(e) => out.events.push(e),
                Err(_) => out.parse_errors += 1,
            }
        }
        if stopping {
            return out;
        }
        // SAFETY: the fd belongs to `ring`, which outlives this borrow.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(ring.as_raw_fd()) };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(poll_ms));
    }
}

#[cfg(test)]
mod tests {
    /// The committed fallback object must be rebuilt whenever `bpf/` changes
    /// (`scripts/update-prebuilt-bpf`); this fails when source and object drift.
    #[test]
    fn prebuilt_object_matches_sources() {
        let recorded = include_str!("../../bpf/prebuilt/observe.bpf.o.source-sha256");
        assert_eq!(
            recorded.trim(),
            super::SOURCE_SHA256,
            "bpf/ changed since bpf/prebuilt/observe.bpf.o was built: run scripts/update-prebuilt-bpf"
        );
        let obj = include_bytes!("../../bpf/prebuilt/observe.bpf.o");
        assert_eq!(&obj[..4], b"\x7fELF");
    }
}
