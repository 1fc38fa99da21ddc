//! One measured run, end to end: kernel session → canonical kernel layer → surface and health →
//! bundle members. Shared by `run`, `demo` and the tests so they cannot drift apart.
//!
//! Memory stays flat in the number of events: the raw records come back from the reader's spill
//! (`kernel::spill`), the projection streams each canonical event once to its sinks (the
//! `layers/kernel.ndjson` writer, which hashes as it writes to an unnamed temporary file; the
//! surface [`Deriver`]; any extra sinks a caller passes), and the bundle streams that file.
//! Imports: `kernel`, `layers`, `surface`, `health`, `bundle`, `contracts`, `pathbytes`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use crate::bundle::{Body, Entry, FileBody, Hashing};
use crate::contracts::health::{ObservationHealth, Platform};
use crate::contracts::kernel_event::KernelEvent;
use crate::contracts::manifest::MemberClass;
use crate::contracts::run_event::{self, RunRecord as RunLine};
use crate::contracts::surface::CapabilitySurface;
use crate::kernel::bpf;
use crate::kernel::event::{BLIND_SLOTS, EMITTER_SLOTS, PROG_SLOTS, TRACK_SLOT};
use crate::kernel::session::{self, End, RunSpec, SessionError};
use crate::layers::kernel::{KernelSink, LayerError, Origin, ProcessInfo, project_into};
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
    pub end: End,
    pub exit_code: i32,
}

/// A measured run that could not produce its artifacts.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// Observation could not start: nothing was run.
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("kernel layer: cannot write its temporary file: {0}")]
    LayerFile(#[source] std::io::Error),
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

fn max_rss_kib() -> u64 {
    // SAFETY: getrusage fills the struct we pass; no other invariants.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss.max(0) as u64
    }
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

/// Runs `spec` observed and derives every artifact.
pub fn measure(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
) -> Result<Measured, MeasureError> {
    measure_with(run_id, spec, noise, &mut [])
}

/// [`measure`], handing every canonical kernel event (in canonical order, with its raw origin)
/// to `sinks` as well, in the same single pass that writes the layer and derives the surface.
pub fn measure_with(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
    sinks: &mut [&mut dyn KernelSink],
) -> Result<Measured, MeasureError> {
    let rec = session::run(spec)?;
    let work = std::fs::canonicalize(&spec.work_dir).unwrap_or_else(|_| spec.work_dir.clone());
    let mut layer = LayerWriter::new().map_err(MeasureError::LayerFile)?;
    let mut deriver = Deriver::new(noise);
    let projection = {
        let mut all: Vec<&mut dyn KernelSink> = vec![&mut layer, &mut deriver];
        all.extend(sinks.iter_mut().map(|s| &mut **s as &mut dyn KernelSink));
        project_into(
            run_id,
            &rec.events,
            rec.root_pid,
            work.as_os_str().as_bytes(),
            &mut all,
        )?
    };
    drop(rec.events);
    let kernel_layer = layer.finish().map_err(MeasureError::LayerFile)?;
    let derived = deriver.finish(run_id);

    let mut hb = crate::health::Builder::new(run_id, platform());
    {
        let c = hb.counters();
        c.events_attempted = rec.counters.attempts[..EMITTER_SLOTS].iter().sum();
        c.events_received = rec.received;
        c.drops_by_program = crate::health::drops_by_program(
            &PROG_SLOTS[..EMITTER_SLOTS],
            &rec.counters.drops[..EMITTER_SLOTS],
        );
        c.track_failures = rec.counters.drops[TRACK_SLOT];
        c.parse_errors = rec.parse_errors;
        c.filtered_noise = derived.filtered.clone();
        c.escapes = projection.stats.escaped_pids.len() as u64;
        c.grace_kills = rec.grace_kills + rec.escaped_kills;
        c.unresolved_paths = projection.stats.unresolved_paths;
        c.truncated_paths = projection.stats.truncated_paths;
        c.read_faults = projection.stats.read_faults;
        c.attach_failures = rec.attach_failures.len() as u64;
    }
    for f in &rec.attach_failures {
        hb.note(
            "probe-missing",
            format!("{f}; those events were not observed"),
        );
    }
    if rec.spill_lost > 0 {
        hb.kernel(crate::contracts::health::KernelLayer::PartialBlindSpot);
        hb.note(
            "spill-failed",
            format!(
                "{} received event(s) could not be kept because the spill file could not be written ({})",
                rec.spill_lost,
                rec.spill_error.as_deref().unwrap_or("unknown error")
            ),
        );
    }
    hb.unobserved_channels(BLIND_SLOTS.iter().copied().zip(rec.counters.blind));
    // Every exec event's path is in `process_execs` (no filter applies to execs).
    hb.fileless_execs(derived.surface.process_execs.iter().map(String::as_str));
    hb.notes(rec.notes.iter().cloned());
    if let End::SpawnFailed { why, .. } = &rec.end {
        hb.note("spawn-failed", why);
    }
    let health = hb.finish();

    let exit_code = rec.end.exit_code();
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
    for p in &projection.processes {
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
        runner_max_rss_kib: rec.runner_max_rss_kib.max(max_rss_kib()),
    });
    Ok(Measured {
        run_id: run_id.into(),
        health,
        surface: derived.surface,
        kernel_layer,
        kernel_events: projection.events,
        processes: projection.processes,
        run_lines: lines,
        end: rec.end,
        exit_code,
    })
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
    vec![
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
    ]
}
