//! `assay-runner run` and `assay-runner doctor`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::args::{DoctorArgs, Format, Mode, RunArgs};
use crate::contracts::doctor_report::{CheckStatus, DoctorReport};
use crate::exit::Exit;
use crate::kernel::session::{self, RunSpec};
use crate::pipeline::{self, Measured};
use crate::surface::NoiseFilter;

/// A default run id: time and pid, so two runs never collide.
pub fn default_run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("run-{ms}-{}", std::process::id())
}

fn resolve_user(name: &str) -> anyhow::Result<(u32, u32)> {
    let user = nix::unistd::User::from_name(name)
        .with_context(|| format!("cannot look up user `{name}`"))?
        .with_context(|| format!("no such user `{name}` (expected a name from /etc/passwd)"))?;
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

/// The JSON text of a unit enum value (`partial`, `allow`).
fn text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Prints the surface/health summary to stderr.
pub fn summary(m: &Measured, bundle: Option<&Path>) -> String {
    let s = &m.surface;
    let h = &m.health;
    let mut out = String::new();
    let list = |out: &mut String, name: &str, v: &[String]| {
        out.push_str(&format!("  {name} ({}):\n", v.len()));
        for x in v {
            out.push_str(&format!("    {x}\n"));
        }
    };
    out.push_str(&format!(
        "assay-runner: run {} ended: {:?} (exit {})\n",
        m.run_id, m.end, m.exit_code
    ));
    out.push_str("capability surface:\n");
    list(&mut out, "filesystem_paths", &s.filesystem_paths);
    list(&mut out, "filesystem_writes", &s.filesystem_writes);
    list(&mut out, "network_endpoints", &s.network_endpoints);
    list(&mut out, "network_local", &s.network_local);
    list(&mut out, "process_execs", &s.process_execs);
    if m.policy.is_some() {
        list(&mut out, "mcp_tools", &s.mcp_tools);
        list(&mut out, "policy_decisions", &s.policy_decisions);
    }
    out.push_str(&format!(
        "observation health: kernel_layer={} cgroup_correlation={} ringbuf_drops={} events={}/{}\n",
        serde_json::to_value(h.kernel_layer)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        serde_json::to_value(h.cgroup_correlation)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        h.ringbuf_drops,
        h.counters.events_received,
        h.counters.events_attempted,
    ));
    if m.policy.is_some() {
        out.push_str(&format!("  policy_layer={}\n", text(&h.policy_layer)));
    }
    if m.sdk.is_some() {
        out.push_str(&format!("  sdk_layer={}\n", text(&h.sdk_layer)));
    }
    for n in &h.notes {
        out.push_str(&format!("  note {n}\n"));
    }
    for n in &m.host_notes {
        out.push_str(&format!("  host note (not this run's evidence) {n}\n"));
    }
    if let Some(c) = &m.correlation {
        tool_calls(&mut out, c);
    }
    if let Some(b) = bundle {
        out.push_str(&format!("bundle: {}\n", b.display()));
    }
    out
}

/// The tool calls of a correlation report, one line each with its kernel effects, and its
/// ambiguities.
fn tool_calls(out: &mut String, c: &crate::contracts::correlation_report::CorrelationReport) {
    out.push_str(&format!("tool calls (correlation {}):\n", text(&c.status)));
    for b in &c.bindings {
        let e = &b.effects;
        out.push_str(&format!(
            "  {} {} {}{}: {} path(s), {} write(s), {} endpoint(s), {} exec(s)\n",
            b.tool_call_id,
            b.tool,
            text(&b.decision),
            b.sdk_outcome
                .map(|o| format!(" (sdk: {})", text(&o)))
                .unwrap_or_default(),
            e.filesystem_paths.len(),
            e.filesystem_writes.len(),
            e.network_endpoints.len(),
            e.process_execs.len()
        ));
    }
    for a in &c.ambiguities {
        out.push_str(&format!(
            "  ambiguous ({}): {}\n",
            a.code,
            a.tool_call_ids.join(", ")
        ));
    }
}

pub fn run(a: RunArgs) -> anyhow::Result<i32> {
    let layers = layers_of(a.mode, a.policy.as_ref())?;
    let noise = noise_of(&a)?;
    let work_dir = match a.work_dir {
        Some(d) => d,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if !work_dir.is_dir() {
        bail!("--work-dir {}: not a directory", work_dir.display());
    }
    let timeout = timeout_of(a.timeout)?;
    let user = a.user.as_deref().map(resolve_user).transpose()?;
    // In GitHub Actions the job log would take the command's output as workflow commands: it
    // goes to a file and is replayed, fenced, after the run (when no process of it is left).
    let captured = match super::in_actions() {
        true => Some(
            tempfile::Builder::new()
                .prefix("assay-run-output.")
                .tempfile()
                .context("cannot create the file for the command's output")?,
        ),
        false => None,
    };
    let spec = RunSpec {
        argv: a.command,
        work_dir,
        ring_bytes: a.ring_bytes,
        wakeup_bytes: a.wakeup_bytes,
        grace: Duration::from_millis(a.grace_ms),
        timeout,
        user,
        env: None,
        detach: false,
        output: match &captured {
            Some(f) => session::Output::File(f.path().to_path_buf()),
            None => session::Output::Inherit,
        },
        private_tmp: false,
    };
    let run_id = a.run_id.unwrap_or_else(default_run_id);
    session::install_interrupt_handlers();
    let m = match pipeline::measure_with(
        &run_id,
        &spec,
        &noise,
        &layers,
        &crate::surface::normalize::Rules::defaults(),
    ) {
        Ok(m) => m,
        Err(e) => return Ok(measure_failed(e)),
    };
    if let Some(f) = &captured {
        let text = std::fs::read(f.path()).unwrap_or_default();
        super::print_untrusted(&String::from_utf8_lossy(&text));
    }
    if let Some(out) = &a.out
        && let Err(e) = crate::bundle::write(out, &run_id, &pipeline::entries(&m))
    {
        eprintln!("assay-runner: {e}");
        return Ok(Exit::RunnerError.code());
    }
    match a.format {
        Format::Json => super::eprint_untrusted(&format!(
            "{}\n",
            serde_json::json!({"run_id": run_id, "exit_code": m.exit_code, "bundle": a.out, "health": m.health, "host_notes": m.host_notes, "surface": m.surface, "correlation": m.correlation, "run_finished": m.run_lines.last()})
        )),
        _ => super::eprint_untrusted(&summary(&m, a.out.as_deref())),
    }
    Ok(m.exit_code)
}

/// Says why a run could not be measured; the exit code: a bad policy is a usage error, an
/// observation that could not start ran nothing, anything else failed after the start.
fn measure_failed(e: pipeline::MeasureError) -> i32 {
    match e {
        e @ pipeline::MeasureError::Policy(_) => {
            eprintln!("{e}");
            Exit::Error.code()
        }
        e @ (pipeline::MeasureError::Session(_) | pipeline::MeasureError::LayerDir { .. }) => {
            eprintln!("assay-runner: {e}");
            eprintln!(
                "assay-runner: nothing was run; `assay-runner doctor` explains what this host lacks"
            );
            Exit::ObservationFailed.code()
        }
        e => {
            eprintln!("assay-runner: {e}");
            Exit::RunnerError.code()
        }
    }
}

/// The layers `--mode` and `--policy` ask for.
fn layers_of(mode: Mode, policy: Option<&std::path::PathBuf>) -> anyhow::Result<pipeline::Layers> {
    Ok(match (mode, policy) {
        (Mode::Kernel, None) => pipeline::Layers::Kernel,
        (Mode::Kernel, Some(_)) => bail!("--policy needs --mode kernel-policy or sdk"),
        (Mode::KernelPolicy, Some(p)) => pipeline::Layers::Policy { policy: p.clone() },
        (Mode::KernelPolicy, None) => {
            bail!(
                "--mode kernel-policy needs --policy POLICY.yaml (the policy every mcp-wrap of the run uses)"
            )
        }
        (Mode::Sdk, Some(p)) => pipeline::Layers::Sdk { policy: p.clone() },
        (Mode::Sdk, None) => {
            bail!(
                "--mode sdk needs --policy POLICY.yaml (the policy every mcp-wrap of the run uses)"
            )
        }
    })
}

/// `--timeout` as a duration: a positive, finite number of seconds.
fn timeout_of(t: Option<f64>) -> anyhow::Result<Option<Duration>> {
    Ok(match t {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            bail!("--timeout {t}: expected a positive number of seconds")
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    })
}

/// The noise filter: none, the `--noise-filter` file's, or the default.
fn noise_of(a: &RunArgs) -> anyhow::Result<NoiseFilter> {
    Ok(if a.no_noise_filter {
        NoiseFilter::none()
    } else if let Some(f) = &a.noise_filter {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read noise filter {}", f.display()))?;
        NoiseFilter::parse(&text).with_context(|| format!("{}", f.display()))?
    } else {
        NoiseFilter::default_filter()
    })
}

/// `doctor`: every prerequisite on its own line, each failure with its fix for this host.
pub fn doctor(a: DoctorArgs) -> anyhow::Result<i32> {
    if a.bpf_source_hash {
        println!("{}", crate::kernel::bpf::SOURCE_SHA256);
        return Ok(Exit::Ok.code());
    }
    let report = crate::kernel::doctor::diagnose();
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", doctor_text(&report));
    }
    Ok(if report.ok {
        Exit::Ok.code()
    } else {
        Exit::Failed.code()
    })
}

fn doctor_text(r: &DoctorReport) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let tag = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skipped => "skip",
        };
        out.push_str(&format!("{tag}  {:<15} {}\n", c.id, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      {:<15} fix: {fix}\n", ""));
        }
    }
    for f in &r.facts {
        out.push_str(&format!("      {f}\n"));
    }
    out.push_str(&format!(
        "      bpf object: {} ({}), sources sha256 {}\n",
        r.bpf_object.origin,
        r.bpf_object.attach_points.join(", "),
        r.bpf_object.source_sha256
    ));
    out.push_str(if r.ok {
        "doctor: ok, this host can observe measured runs\n"
    } else {
        "doctor: FAIL, fix the checks marked FAIL (skipped ones depend on them)\n"
    });
    out
}

/// Copies the demo seed into a fresh work dir.
pub fn fresh_work_dir(dir: &Path, seed: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot reset {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for e in std::fs::read_dir(seed).with_context(|| format!("cannot read {}", seed.display()))? {
        let e = e?;
        std::fs::copy(e.path(), dir.join(e.file_name()))?;
    }
    Ok(std::fs::canonicalize(dir)?)
}
