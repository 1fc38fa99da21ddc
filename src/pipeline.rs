//! One measured run, end to end: kernel session → canonical kernel layer → (policy layer,
//! accepted against the kernel's witness) → surface, health and correlation → bundle members.
//! Shared by `run`, `prove`, `demo` and the tests so they cannot drift apart.
//!
//! Memory stays flat in the number of events: the raw records come back from the reader's spill
//! (`kernel::spill`), the projection streams each canonical event once to its sinks (the
//! `layers/kernel.ndjson` writer, which hashes as it writes to an unnamed temporary file; the
//! surface [`Deriver`]; in layered runs the provenance witness and the servers' events for
//! correlation), and the bundle streams that file.
//! Imports: `kernel`, `layers`, `policy` (to check a policy before running), `correlation`,
//! `surface`, `health`, `bundle`, `contracts`, `pathbytes`, `fsutil`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bundle::{Body, Entry, FileBody, Hashing};
use crate::contracts::correlation_report::CorrelationReport;
use crate::contracts::health::{NoteCode, ObservationHealth, Platform};
use crate::contracts::kernel_event::KernelEvent;
use crate::contracts::manifest::MemberClass;
use crate::contracts::run_event::{self, RunRecord as RunLine};
use crate::contracts::surface::CapabilitySurface;
use crate::correlation::policy::PolicyLayer;
use crate::correlation::sdk::SdkLayer;
use crate::exit::Exit;
use crate::kernel::bpf;
use crate::kernel::event::{BLIND_SLOTS, PROG_SLOTS, TRACK_SLOT, emitter_slots};
use crate::kernel::session::{self, End, RunSpec, SessionError};
use crate::layers::kernel::{KernelSink, LayerError, Origin, ProcessInfo, Projected, project_into};
use crate::pathbytes::escape;
use crate::surface::{Deriver, NoiseFilter};

/// Everything one measured run produced.
#[derive(Debug)]
pub struct Measured {
    pub run_id: String,
    pub health: ObservationHealth,
    pub surface: CapabilitySurface,
    /// `layers/kernel.ndjson`, written and hashed while it was projected.
    pub kernel_layer: FileBody,
    /// Number of canonical kernel events (lines of the kernel layer).
    pub kernel_events: u64,
    /// The process table of the projection, sorted by label.
    pub processes: Vec<ProcessInfo>,
    pub run_lines: Vec<RunLine>,
    /// Notes about the machine rather than the run (also `host_note` lines of `run_lines`).
    pub host_notes: Vec<String>,
    pub end: End,
    pub exit_code: i32,
    /// The accepted policy layer (mode `kernel-policy`).
    pub policy: Option<PolicyLayer>,
    /// The accepted SDK layer (mode `sdk`).
    pub sdk: Option<SdkLayer>,
    /// Kernel effects per tool call (modes `kernel-policy` and `sdk`).
    pub correlation: Option<CorrelationReport>,
}

/// Which layers a run observes besides the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layers {
    /// The kernel alone (mode `kernel`).
    Kernel,
    /// Kernel + the decision records of `mcp-wrap` processes that use this policy file
    /// (mode `kernel-policy`).
    Policy { policy: PathBuf },
    /// Kernel + policy + the agent runtime's `sdk_event` records (mode `sdk`).
    Sdk { policy: PathBuf },
}

impl Layers {
    /// The policy file, for modes with a policy layer.
    pub fn policy(&self) -> Option<&Path> {
        match self {
            Layers::Kernel => None,
            Layers::Policy { policy } | Layers::Sdk { policy } => Some(policy),
        }
    }
}

/// Where the runner tells `mcp-wrap` processes of the session to write (see docs/policy.md).
pub const LAYERS_ROOT: &str = "/run/assay-runner";

/// Environment the runner sets for the measured command in mode `kernel-policy`.
pub const ENV_RUNNER: &str = "ASSAY_RUNNER";
pub const ENV_POLICY: &str = "ASSAY_POLICY";
pub const ENV_POLICY_LOG: &str = "ASSAY_POLICY_LOG";
pub const ENV_SDK_LOG: &str = "ASSAY_SDK_LOG";
pub const ENV_RUN_ID: &str = "ASSAY_RUN_ID";
pub const ENV_WORK_DIR: &str = "ASSAY_WORK_DIR";

/// Why a run could not start or its layers could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Policy(String),
    #[error("layer directory {path}: {source}")]
    LayerDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("kernel layer: cannot write its temporary file: {0}")]
    LayerFile(#[source] std::io::Error),
}

/// The per-run directory the session's wrappers write into, and what they are told.
struct LayerDir {
    dir: PathBuf,
    policy: PathBuf,
    log: PathBuf,
    /// The agent's SDK log (mode `sdk`).
    sdk_log: Option<PathBuf>,
    runner: PathBuf,
}

/// A directory name for a run id: the id itself when it is a plain name, else its digest.
fn dir_name(run_id: &str) -> String {
    let plain = !run_id.is_empty()
        && run_id.len() <= 100
        && !run_id.starts_with('.')
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if plain {
        run_id.to_string()
    } else {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(run_id.as_bytes());
        d.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

impl LayerDir {
    /// Checks the policy, then creates `LAYERS_ROOT/<run id>/` afresh (mode 0700) holding a copy
    /// of it. The path depends only on the run id, so proofs stay deterministic.
    fn prepare(
        run_id: &str,
        policy: &Path,
        sdk: bool,
        work: &Path,
    ) -> Result<LayerDir, MeasureError> {
        let work_text = work.to_string_lossy();
        crate::policy::Policy::load(policy, &work_text)
            .map_err(|e| MeasureError::Policy(e.to_string()))?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| MeasureError::LayerDir { path, source }
        };
        let root = Path::new(LAYERS_ROOT);
        std::fs::create_dir_all(root).map_err(io(root))?;
        let dir = root.join(dir_name(run_id));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&dir)(e)),
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
        let copy = dir.join("policy.yaml");
        let bytes = std::fs::read(policy).map_err(io(policy))?;
        crate::fsutil::write_atomic(&copy, &bytes).map_err(io(&copy))?;
        let runner = dir.join("assay-runner");
        place_runner(&runner).map_err(io(&runner))?;
        Ok(LayerDir {
            log: dir.join("policy.ndjson"),
            sdk_log: sdk.then(|| dir.join("sdk.ndjson")),
            policy: copy,
            dir,
            runner,
        })
    }

    fn env(&self, run_id: &str, work: &Path) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = vec![
            (ENV_RUNNER.into(), self.runner.clone().into()),
            (ENV_POLICY.into(), self.policy.clone().into()),
            (ENV_POLICY_LOG.into(), self.log.clone().into()),
            (ENV_RUN_ID.into(), run_id.into()),
            (ENV_WORK_DIR.into(), work.as_os_str().to_owned()),
        ];
        if let Some(s) = &self.sdk_log {
            env.push((ENV_SDK_LOG.into(), s.clone().into()));
        }
        env
    }

    /// A log as written (`None` when nobody created it) and whether it was cut short.
    fn read_log(path: &Path) -> (Option<Vec<u8>>, bool) {
        use std::io::Read as _;
        let max = crate::correlation::policy::MAX_LOG_BYTES;
        match std::fs::File::open(path) {
            Ok(f) => {
                let mut buf = Vec::new();
                let read = f.take(max as u64 + 1).read_to_end(&mut buf);
                let truncated = read.is_err() || buf.len() > max;
                buf.truncate(max);
                (Some(buf), truncated)
            }
            Err(_) => (None, false),
        }
    }
}

/// Puts the runner's own binary at `dest`: a path that depends only on the run id (stable
/// across machines and checkouts, so wrappers' execs are the same in every run), that only the
/// runner wrote, and that stays reachable from wherever the command runs — a proof's private
/// `/tmp` hides a runner installed under `/tmp`, so a link to it would dangle. A hard link when
/// `/run` shares the binary's filesystem, else a copy; the binary is opened through
/// `/proc/self/exe`, so it is the file this process executes even if its path was replaced.
fn place_runner(dest: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let exe = Path::new("/proc/self/exe");
    let linked = std::fs::read_link(exe).and_then(|p| std::fs::hard_link(p, dest));
    if linked.is_ok() && same_file(exe, dest)? {
        return Ok(());
    }
    let _ = std::fs::remove_file(dest);
    let mut src = File::open(exe)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(dest)?;
    std::io::copy(&mut src, &mut out)?;
    out.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    out.sync_all()
}

fn same_file(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let (a, b) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

impl Drop for LayerDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes each canonical event as one NDJSON line to an unnamed temporary file, hashing it.
struct LayerWriter {
    /// Buffered before hashing, so the hash sees 64 KiB blocks, not every JSON token.
    out: BufWriter<Hashing<File>>,
    err: Option<std::io::Error>,
}

impl KernelSink for LayerWriter {
    fn event(&mut self, ev: &KernelEvent, _origin: &Origin) {
        if self.err.is_some() {
            return;
        }
        let r = serde_json::to_writer(&mut self.out, ev)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.err = Some(e);
        }
    }
}

impl LayerWriter {
    fn new() -> std::io::Result<LayerWriter> {
        Ok(LayerWriter {
            out: BufWriter::with_capacity(1 << 16, Hashing::new(tempfile::tempfile()?)),
            err: None,
        })
    }

    fn finish(self) -> std::io::Result<FileBody> {
        if let Some(e) = self.err {
            return Err(e);
        }
        let hashing = self.out.into_inner().map_err(|e| e.into_error())?;
        let (file, len, sha256) = hashing.finish();
        Ok(FileBody {
            file: Arc::new(file),
            len,
            sha256,
        })
    }
}

/// The runner's own peak RSS (`VmHWM`): unlike `getrusage`'s `ru_maxrss`, it does not carry
/// the high-water mark of the process that spawned the runner (kept across exec by Linux).
fn max_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|st| {
            st.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A directory prefix of a path-only operation's text as it is after the run, in the runner's
/// mount namespace (a proof's private `/tmp` is gone by then: its prefixes are taken as plain).
fn prefix_now(prefix: &[u8], private_tmp: bool) -> crate::layers::kernel::Prefix {
    use crate::layers::kernel::Prefix;
    if private_tmp && (prefix == b"/tmp" || prefix.starts_with(b"/tmp/")) {
        return Prefix::Plain;
    }
    let p = Path::new(std::ffi::OsStr::from_bytes(prefix));
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(p) {
            Ok(t) => Prefix::Symlink(t.into_os_string().into_vec()),
            Err(_) => Prefix::Missing, // a dangling link: where it led then is not known
        },
        Ok(_) => Prefix::Plain,
        Err(_) => Prefix::Missing,
    }
}

/// Fileless executions — files the kernel loaded that no name leads to (a memfd, an unlinked
/// file; the probe judges the file, not the name it was run by) — for health.
#[derive(Default)]
struct FdExecs(std::collections::BTreeSet<String>);

impl KernelSink for FdExecs {
    fn event(&mut self, ev: &KernelEvent, _origin: &Origin) {
        if ev.kind == crate::contracts::kernel_event::Kind::Exec
            && ev.flags.iter().any(|f| f == "fileless")
        {
            self.0
                .insert(ev.path.clone().unwrap_or_else(|| "<unresolved>".into()));
        }
    }
}

/// The server pids the decision log claims (parseable lines only): what correlation keeps
/// events for while the kernel layer streams past. Acceptance comes later.
fn claimed_servers(log: Option<&[u8]>) -> Vec<u32> {
    log.unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter_map(|l| {
            serde_json::from_slice::<crate::contracts::policy_event::PolicyEvent>(l).ok()
        })
        .filter_map(|r| r.diag.map(|d| d.server_pid))
        .collect()
}

/// The DNS resolvers this host is configured with (`/etc/resolv.conf`), as the endpoints their
/// answers come from (`udp:ADDR:53`): only their answers to the run's queries name addresses.
pub fn host_resolvers() -> Vec<String> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    resolvers_of(&text)
}

fn resolvers_of(resolv_conf: &str) -> Vec<String> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().split('%').next()?.parse::<std::net::IpAddr>().ok())
        .map(|ip| match ip {
            std::net::IpAddr::V4(v4) => format!("udp:{v4}:53"),
            std::net::IpAddr::V6(v6) => format!("udp:[{v6}]:53"),
        })
        .collect()
}

/// The host facts recorded in health.
pub fn platform() -> Platform {
    Platform {
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
        bpf_object: bpf::OBJECT_ORIGIN.into(),
    }
}

/// Runs `spec` observed (kernel layer only) and derives every artifact. Errors only when
/// observation could not start.
pub fn measure(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
) -> Result<Measured, MeasureError> {
    measure_with(
        run_id,
        spec,
        noise,
        &Layers::Kernel,
        &crate::surface::normalize::Rules::defaults(),
    )
}

/// Runs `spec` observed with `layers` and derives every artifact, the surface normalized by
/// `rules` (a proof's own). Errors only when observation or a layer could not start (a bad
/// policy file, an unwritable layer directory).
///
/// The steps: prepare the layer directory, [`observe`], one projection pass over the kernel
/// layer into every sink, [`Layered::accept`] the layer logs, then [`health_of`] and
/// [`run_lines`].
pub fn measure_with(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
    layers: &Layers,
    rules: &crate::surface::normalize::Rules,
) -> Result<Measured, MeasureError> {
    let work = std::fs::canonicalize(&spec.work_dir).unwrap_or_else(|_| spec.work_dir.clone());
    let layer_dir = layers
        .policy()
        .map(|policy| {
            let sdk = matches!(layers, Layers::Sdk { .. });
            LayerDir::prepare(run_id, policy, sdk, &work)
        })
        .transpose()?;
    let (rec, containers) = observe(run_id, spec, layer_dir.as_ref(), &work)?;
    let container_map = containers.map();
    let work_bytes = work.as_os_str().as_bytes();
    // The layer logs are read before the projection: correlation keeps the events of the
    // servers they claim while the kernel layer streams past.
    let mut layered = layer_dir.as_ref().map(|ld| Layered::new(ld, work_bytes));
    let mut layer_file = LayerWriter::new().map_err(MeasureError::LayerFile)?;
    let mut deriver = Deriver::new(noise, rules);
    let mut fd_execs = FdExecs::default();
    let mut delegations = crate::delegation::Delegations::new(&containers);
    let projected = {
        let mut all: Vec<&mut dyn KernelSink> = vec![
            &mut layer_file,
            &mut deriver,
            &mut fd_execs,
            &mut delegations,
        ];
        if let Some(l) = layered.as_mut() {
            all.push(&mut l.witness);
            all.push(&mut l.servers);
        }
        project_run(run_id, spec, &rec, work_bytes, &container_map, &mut all)?
    };
    let kernel_layer = layer_file.finish().map_err(MeasureError::LayerFile)?;
    let names = deriver.names().clone();
    let mut derived = deriver.finish(run_id);
    let (policy, sdk, correlation) = match layered {
        Some(l) => {
            let (layer, sdk, report) = l.accept(run_id, &projected.processes, noise, &names);
            crate::surface::add_policy(&mut derived.surface, &layer.records);
            (Some(layer), sdk, Some(report))
        }
        None => (None, None, None),
    };
    drop(layer_dir);

    let mut side_notes = containers.notes();
    side_notes.extend(delegations.notes());
    let side = Side {
        fd_execs: &fd_execs,
        notes: side_notes,
    };
    let health = health_of(
        run_id,
        &rec,
        &projected,
        &derived.filtered,
        &side,
        policy.as_ref(),
        sdk.as_ref(),
    );
    let exit_code = if rec.runner_failed {
        Exit::RunnerError.code()
    } else {
        crate::exit::of_end(&rec.end)
    };
    let lines = run_lines(run_id, spec, &work, &rec, &projected.processes, exit_code);
    Ok(Measured {
        run_id: run_id.into(),
        health,
        surface: derived.surface,
        kernel_layer,
        kernel_events: projected.events,
        processes: projected.processes,
        run_lines: lines,
        host_notes: rec.host_notes,
        end: rec.end,
        exit_code,
        policy,
        sdk,
        correlation,
    })
}

/// The kernel layer's one projection pass over the run's raw events, into every sink.
fn project_run(
    run_id: &str,
    spec: &RunSpec,
    rec: &session::RunRecord,
    work: &[u8],
    containers: &crate::layers::containers::ContainerMap,
    sinks: &mut [&mut dyn KernelSink],
) -> Result<Projected, MeasureError> {
    let resolvers = host_resolvers();
    let private_tmp = spec.private_tmp;
    let lookup = |p: &[u8]| prefix_now(p, private_tmp);
    let input = crate::layers::kernel::Input {
        root_pid: rec.root_pid,
        work,
        resolvers: &resolvers,
        lookup: &lookup,
        containers,
    };
    Ok(project_into(run_id, &rec.events, &input, sinks)?)
}

/// Runs the session with the Docker API proxy beside it: `spec` as given, or, in a layered
/// run, with the layer directory's environment (which replaces the same keys of the
/// command's own).
fn observe(
    run_id: &str,
    spec: &RunSpec,
    layer_dir: Option<&LayerDir>,
    work: &Path,
) -> Result<(session::RunRecord, crate::containers::Containers), MeasureError> {
    let mut env: Vec<(OsString, OsString)> = spec
        .env
        .clone()
        .unwrap_or_else(|| std::env::vars_os().collect());
    if let Some(ld) = layer_dir {
        let extra = ld.env(run_id, work);
        env.retain(|(k, _)| !extra.iter().any(|(x, _)| x == k));
        env.extend(extra);
        env.sort();
    }
    let mut docker = crate::containers::DockerCompanion::new(run_id, &env, spec.user);
    let spec = RunSpec {
        env: layer_dir.map(|_| env).or_else(|| spec.env.clone()),
        ..spec.clone()
    };
    let rec = session::run_with(&spec, Some(&mut docker));
    let containers = docker.finish();
    Ok((rec?, containers))
}

/// What health takes from beside the projection: fileless executions, and the notes of
/// containers (what the proxy could not place, daemons' sockets used directly).
struct Side<'a> {
    fd_execs: &'a FdExecs,
    notes: Vec<String>,
}

/// What a layered run (modes `kernel-policy`, `sdk`) gathers around the projection: the layer
/// logs as written, and the two sinks that watch the kernel layer stream past (the provenance
/// witness, the events of the servers the decision log claims).
struct Layered {
    log: (Option<Vec<u8>>, bool),
    sdk_log: Option<(Option<Vec<u8>>, bool)>,
    /// The policy copy and the agent's SDK log, as the kernel layer shows paths.
    policy_shown: String,
    sdk_shown: Option<String>,
    witness: crate::correlation::provenance::Witness,
    servers: crate::correlation::ServerEvents,
}

impl Layered {
    /// Reads the layer logs of `ld` and sets up the sinks; `work` is the run's work dir.
    fn new(ld: &LayerDir, work: &[u8]) -> Layered {
        let shown = |p: &Path| crate::layers::kernel::display(p.as_os_str().as_bytes(), work);
        let log = LayerDir::read_log(&ld.log);
        let sdk_log = ld.sdk_log.as_deref().map(LayerDir::read_log);
        let policy_shown = shown(&ld.policy);
        let sdk_shown = ld.sdk_log.as_deref().map(shown);
        let agent_logs: Vec<&str> = sdk_shown.iter().map(String::as_str).collect();
        let witness = crate::correlation::provenance::Witness::new(
            &shown(&ld.runner),
            &shown(&ld.dir),
            &[policy_shown.as_str()],
            &agent_logs,
        );
        let servers = crate::correlation::ServerEvents::new(claimed_servers(log.0.as_deref()));
        Layered {
            log,
            sdk_log,
            policy_shown,
            sdk_shown,
            witness,
            servers,
        }
    }

    /// Accepts the decision log (and the SDK log) against what the kernel witnessed, and
    /// correlates the accepted records with the servers' kernel effects.
    fn accept(
        self,
        run_id: &str,
        processes: &[ProcessInfo],
        noise: &NoiseFilter,
        names: &crate::surface::names::Names,
    ) -> (PolicyLayer, Option<SdkLayer>, CorrelationReport) {
        let att = self.witness.finish(processes);
        let (log, truncated) = self.log;
        let layer = crate::correlation::policy::accept(
            run_id,
            log.as_deref(),
            truncated,
            &att,
            &self.policy_shown,
        );
        let sdk = match (self.sdk_log, self.sdk_shown.as_deref()) {
            (Some((log, truncated)), Some(shown_path)) => Some(crate::correlation::sdk::accept(
                run_id,
                log.as_deref(),
                truncated,
                &att,
                shown_path,
            )),
            _ => None,
        };
        let server_events = self.servers.into_projection(processes.to_vec());
        let report = crate::correlation::correlate_named(
            run_id,
            &layer,
            sdk.as_ref(),
            &server_events,
            noise,
            names,
        );
        (layer, sdk, report)
    }
}

/// The run's observation health: the kernel's counters and the projection's counts, every
/// note the session, the probes and the accepted layers left, judged by the health builder.
fn health_of(
    run_id: &str,
    rec: &session::RunRecord,
    projected: &Projected,
    filtered: &std::collections::BTreeMap<String, u64>,
    side: &Side,
    policy: Option<&PolicyLayer>,
    sdk: Option<&SdkLayer>,
) -> ObservationHealth {
    let mut hb = crate::health::Builder::new(run_id, platform());
    {
        let c = hb.counters();
        c.events_attempted = emitter_slots().map(|i| rec.counters.attempts[i]).sum();
        c.events_received = rec.received;
        let (names, drops): (Vec<&str>, Vec<u64>) = emitter_slots()
            .map(|i| (PROG_SLOTS[i], rec.counters.drops[i]))
            .unzip();
        c.drops_by_program = crate::health::drops_by_program(&names, &drops);
        c.track_failures = rec.counters.drops[TRACK_SLOT];
        c.parse_errors = rec.parse_errors;
        c.filtered_noise = filtered.clone();
        c.escapes = projected.stats.escaped_pids.len() as u64;
        c.grace_kills = rec.grace_kills + rec.escaped_kills;
        c.unresolved_paths = projected.stats.unresolved_paths;
        c.truncated_paths = projected.stats.truncated_paths;
        c.read_faults = projected.stats.read_faults;
        c.ambiguous_paths = projected.stats.ambiguous_paths;
        c.attach_failures = rec.attach_failures.len() as u64;
    }
    for f in &rec.attach_failures {
        hb.note(
            NoteCode::ProbeMissing,
            format!("{f}; those events were not observed"),
        );
    }
    hb.unobserved_channels(BLIND_SLOTS.iter().copied().zip(rec.counters.blind));
    // io_uring is observed per operation (`io_uring_submit_req`): a ring by itself is no blind
    // spot, the operations whose effects the surface would miss are.
    let uring = crate::kernel::event::uring_blind(&rec.counters.uring_ops);
    hb.unobserved_uring_ops(uring.iter().map(|(op, n)| (op.as_str(), *n)));
    if rec.spill_lost > 0 {
        hb.note(
            NoteCode::SpillFailed,
            format!(
                "{} received event(s) could not be kept because the spill file could not be written ({})",
                rec.spill_lost,
                rec.spill_error.as_deref().unwrap_or("unknown error")
            ),
        );
    }
    hb.fileless_execs(side.fd_execs.0.iter().map(String::as_str));
    hb.notes(rec.notes.iter().cloned());
    hb.notes(side.notes.iter().cloned());
    if let Some(l) = policy {
        hb.policy_layer(l.state);
        hb.notes(l.notes.iter().cloned());
    }
    if let Some(l) = sdk {
        hb.sdk_layer(l.state);
        hb.notes(l.notes.iter().cloned());
    }
    if let End::SpawnFailed { why, .. } = &rec.end {
        hb.note(NoteCode::SpawnFailed, why);
    }
    hb.finish()
}

/// The diagnostic `run_event` lines: the start (argv, environment keys, work dir, uid), one
/// line per process, the host notes, and how the run finished.
fn run_lines(
    run_id: &str,
    spec: &RunSpec,
    work: &Path,
    rec: &session::RunRecord,
    processes: &[ProcessInfo],
    exit_code: i32,
) -> Vec<RunLine> {
    let mut lines = vec![RunLine::RunStarted {
        schema: run_event::SCHEMA.into(),
        run_id: run_id.into(),
        seq: 0,
        argv: spec.argv.iter().map(|a| escape(a.as_bytes())).collect(),
        env_keys: {
            let mut k: Vec<String> = match &spec.env {
                Some(env) => env.iter().map(|(k, _)| escape(k.as_bytes())).collect(),
                None => std::env::vars_os()
                    .map(|(k, _)| escape(k.as_bytes()))
                    .collect(),
            };
            k.sort();
            k.dedup();
            k
        },
        work_dir: escape(work.as_os_str().as_bytes()),
        uid: spec
            .user
            .map(|u| u.0)
            .unwrap_or_else(|| nix::unistd::getuid().as_raw()),
        started_unix_ms: rec.started_unix_ms,
    }];
    for p in processes {
        lines.push(RunLine::Process {
            schema: run_event::SCHEMA.into(),
            run_id: run_id.into(),
            seq: lines.len() as u64,
            label: p.label.clone(),
            pid: p.pid,
            ppid: p.ppid,
            exec: p.exec.clone(),
            first_ns: p.first_ns,
            exit_ns: p.exit_ns,
        });
    }
    for n in &rec.host_notes {
        lines.push(RunLine::HostNote {
            schema: run_event::SCHEMA.into(),
            run_id: run_id.into(),
            seq: lines.len() as u64,
            note: n.clone(),
        });
    }
    let (end, code, signal) = match &rec.end {
        End::Exited(c) => ("exited", Some(*c), None),
        End::Signaled(s) => ("signaled", None, Some(*s)),
        End::Timeout => ("timeout", None, None),
        End::Interrupted(s) => ("interrupted", None, Some(*s)),
        End::SpawnFailed { .. } => ("spawn_failed", None, None),
    };
    lines.push(RunLine::RunFinished {
        schema: run_event::SCHEMA.into(),
        run_id: run_id.into(),
        seq: lines.len() as u64,
        end: end.into(),
        exit_code: code,
        signal,
        runner_exit: exit_code,
        duration_ms: rec.duration.as_millis() as u64,
        runner_max_rss_kib: max_rss_kib(),
    });
    lines
}

/// A document member: pretty JSON and a newline.
pub fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// An NDJSON member: one compact JSON object per line.
pub fn ndjson<T: serde::Serialize>(items: &[T]) -> Vec<u8> {
    let mut b = Vec::new();
    for i in items {
        b.extend(serde_json::to_vec(i).unwrap_or_default());
        b.push(b'\n');
    }
    b
}

/// The bundle members of a measured run.
pub fn entries(m: &Measured) -> Vec<Entry> {
    let mut out = vec![
        Entry::bytes(
            "observation-health.json",
            json(&m.health),
            MemberClass::Canonical,
        ),
        Entry::bytes(
            "capability-surface.json",
            json(&m.surface),
            MemberClass::Canonical,
        ),
        Entry {
            path: "layers/kernel.ndjson".into(),
            body: Body::File(m.kernel_layer.clone()),
            class: MemberClass::Canonical,
        },
        Entry::bytes(
            "events.ndjson",
            ndjson(&m.run_lines),
            MemberClass::Diagnostic,
        ),
    ];
    // a layer's canonical records (without `diag`) and the same records with it
    fn layer<R: serde::Serialize, C: serde::Serialize>(
        out: &mut Vec<Entry>,
        (member, diag): (&str, &str),
        records: &[R],
        canonical: impl Fn(&R) -> C,
    ) {
        let c: Vec<C> = records.iter().map(canonical).collect();
        out.push(Entry::bytes(member, ndjson(&c), MemberClass::Canonical));
        out.push(Entry::bytes(diag, ndjson(records), MemberClass::Diagnostic));
    }
    if let Some(l) = &m.policy {
        let names = ("layers/policy.ndjson", "policy-diag.ndjson");
        layer(
            &mut out,
            names,
            &l.records,
            crate::correlation::policy::canonical,
        );
    }
    if let Some(l) = &m.sdk {
        let names = ("layers/sdk.ndjson", "sdk-diag.ndjson");
        layer(
            &mut out,
            names,
            &l.records,
            crate::correlation::sdk::canonical,
        );
    }
    if let Some(c) = &m.correlation {
        out.push(Entry::bytes(
            "correlation-report.json",
            json(c),
            MemberClass::Canonical,
        ));
    }
    out
}
