//! One measured run, end to end: kernel session → canonical kernel layer → surface and health →
//! bundle members. Shared by `run`, `demo` and the tests so they cannot drift apart.
//! Imports: `kernel`, `layers`, `surface`, `health`, `bundle`, `contracts`, `pathbytes`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::bundle::Entry;
use crate::contracts::health::{ObservationHealth, Platform};
use crate::contracts::manifest::MemberClass;
use crate::contracts::run_event::{self, RunRecord as RunLine};
use crate::contracts::surface::CapabilitySurface;
use crate::kernel::bpf;
use crate::kernel::event::{BLIND_SLOTS, EMITTER_SLOTS, PROG_SLOTS, TRACK_SLOT};
use crate::kernel::session::{self, End, RunSpec, SessionError};
use crate::layers::kernel::{Projection, project};
use crate::pathbytes::escape;
use crate::surface::NoiseFilter;

/// Everything one measured run produced.
#[derive(Debug)]
pub struct Measured {
    pub run_id: String,
    pub health: ObservationHealth,
    pub surface: CapabilitySurface,
    pub projection: Projection,
    pub run_lines: Vec<RunLine>,
    pub end: End,
    pub exit_code: i32,
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

/// Runs `spec` observed and derives every artifact. Errors only when observation could not start.
pub fn measure(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
) -> Result<Measured, SessionError> {
    measure_with(
        run_id,
        spec,
        noise,
        &crate::surface::normalize::Rules::defaults(),
    )
}

/// [`measure`] with the surface normalized by `rules` (a proof's own).
pub fn measure_with(
    run_id: &str,
    spec: &RunSpec,
    noise: &NoiseFilter,
    rules: &crate::surface::normalize::Rules,
) -> Result<Measured, SessionError> {
    let rec = session::run(spec)?;
    let work = std::fs::canonicalize(&spec.work_dir).unwrap_or_else(|_| spec.work_dir.clone());
    let projection = project(
        run_id,
        &rec.events,
        rec.root_pid,
        work.as_os_str().as_bytes(),
    );
    let derived = crate::surface::derive_with(run_id, &projection.events, noise, rules);

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
    hb.unobserved_channels(BLIND_SLOTS.iter().copied().zip(rec.counters.blind));
    hb.fileless_execs(
        projection
            .events
            .iter()
            .filter(|e| e.kind == crate::contracts::kernel_event::Kind::Exec)
            .filter_map(|e| e.path.as_deref()),
    );
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
        runner_max_rss_kib: rec.runner_max_rss_kib,
    });
    Ok(Measured {
        run_id: run_id.into(),
        health,
        surface: derived.surface,
        projection,
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
        Entry {
            path: "observation-health.json".into(),
            bytes: json(&m.health),
            class: MemberClass::Canonical,
        },
        Entry {
            path: "capability-surface.json".into(),
            bytes: json(&m.surface),
            class: MemberClass::Canonical,
        },
        Entry {
            path: "layers/kernel.ndjson".into(),
            bytes: ndjson(&m.projection.events),
            class: MemberClass::Canonical,
        },
        Entry {
            path: "events.ndjson".into(),
            bytes: ndjson(&m.run_lines),
            class: MemberClass::Diagnostic,
        },
    ]
}
