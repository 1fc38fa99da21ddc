//! Proofs end to end (design §9): run a proof N times with the same run id in a work dir reset
//! at the same path, verify every bundle, compare canonical members byte for byte, diff the
//! surface against the golden, write a pending golden when it differs, and decide the verdict.
//!
//! The measured command gets a fixed environment so a proof means the same thing on every
//! machine: `PATH` (the standard system path), `HOME` (the work dir), `LANG=C`, `SHELL=/bin/sh`
//! (without it bash reads `/etc/passwd` to find one), `TZ=UTC`, plus the
//! proof's own `env`. Nothing else of the runner's environment leaks in.
//! Imports: `proofs`, `pipeline`, `kernel::session`, `bundle`, `verify`, `diff`, `contracts`,
//! `fsutil`, `surface`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::contracts::capability_diff::{CapabilityDiff, Side, SideKind};
use crate::contracts::health::ObservationHealth;
use crate::contracts::manifest::MemberClass;
use crate::contracts::surface::CapabilitySurface;
use crate::contracts::verdict::{self, HealthSummary, ProofSetVerdict, ProofVerdict, Verdict};
use crate::kernel::session::{End, RunSpec};
use crate::proofs::{Proof, ProofMode};
use crate::surface::NoiseFilter;
use crate::verify::{self, Keep, Limits};

/// The `PATH` of every proof.
pub const PROOF_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How proofs run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Runs per proof.
    pub runs: u32,
    /// Where work dirs, bundles and `verdict.json` go.
    pub out_dir: PathBuf,
    /// Ring buffer size per run.
    pub ring_bytes: u32,
    /// Grace period before leftover processes are killed.
    pub grace: Duration,
    /// When proofs are judged by a base revision's goldens (`--judge-from-ref`): each proof's
    /// golden as the change under test carries it, where that differs from the judge's.
    pub change_goldens: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Options {
    /// The defaults of `assay-runner run`, with `runs` and `out_dir`.
    pub fn new(runs: u32, out_dir: PathBuf) -> Options {
        Options {
            runs,
            out_dir,
            ring_bytes: 16 * 1024 * 1024,
            grace: Duration::from_millis(2000),
            change_goldens: Default::default(),
        }
    }
}

/// Errors that stop a proof before it can be judged (setup, not evidence).
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The cause is part of the message (not a `#[source]`, which a `{:#}` chain would
    /// print a second time).
    #[error("proof `{proof}`: {path}: {cause}")]
    Io {
        proof: String,
        path: String,
        cause: std::io::Error,
    },
    #[error("proof `{proof}`: {message}")]
    Layer { proof: String, message: String },
}

/// One proof's result plus what a person needs to see when determinism broke.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: ProofVerdict,
    /// Unified diff of the first canonical member that differed between runs.
    pub determinism_diff: Option<String>,
}

fn io_err(proof: &str, path: &Path) -> impl FnOnce(std::io::Error) -> ProveError {
    let (proof, path) = (proof.to_string(), path.display().to_string());
    move |cause| ProveError::Io { proof, path, cause }
}

/// Checks what can be checked before running anything: mode and seed files.
pub fn preflight(p: &Proof) -> Result<(), ProveError> {
    match p.mode {
        ProofMode::Kernel => {}
        ProofMode::KernelPolicy | ProofMode::Sdk => {
            if let Some(pol) = &p.policy_path {
                std::fs::metadata(pol).map_err(io_err(&p.name, pol))?;
            }
        }
    }
    for s in &p.seed {
        std::fs::symlink_metadata(s).map_err(io_err(&p.name, s))?;
    }
    Ok(())
}

fn copy_into(src: &Path, dst_dir: &Path) -> std::io::Result<()> {
    let name = src
        .file_name()
        .ok_or_else(|| std::io::Error::other("seed has no file name"))?;
    let dst = dst_dir.join(name);
    let meta = std::fs::symlink_metadata(src)?;
    if meta.is_dir() {
        std::fs::create_dir(&dst)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            copy_into(&e.path(), &dst)?;
        }
    } else if meta.is_file() {
        std::fs::copy(src, &dst)?;
    } else {
        return Err(std::io::Error::other(format!(
            "{}: seeds must be regular files or directories",
            src.display()
        )));
    }
    Ok(())
}

/// Removes and recreates `work` with the seeds in it.
fn reset_work_dir(p: &Proof, work: &Path) -> Result<(), ProveError> {
    match std::fs::remove_dir_all(work) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&p.name, work)(e)),
    }
    std::fs::create_dir_all(work).map_err(io_err(&p.name, work))?;
    for s in &p.seed {
        copy_into(s, work).map_err(io_err(&p.name, s))?;
    }
    Ok(())
}

fn environment(p: &Proof, work: &Path) -> Vec<(OsString, OsString)> {
    let mut env: std::collections::BTreeMap<OsString, OsString> = [
        ("PATH", OsString::from(PROOF_PATH)),
        ("HOME", work.as_os_str().to_owned()),
        ("LANG", "C".into()),
        ("SHELL", "/bin/sh".into()),
        ("TZ", "UTC".into()),
        ("TMPDIR", crate::kernel::privtmp::MOUNT_POINT.into()),
    ]
    .into_iter()
    .map(|(k, v)| (OsString::from(k), v))
    .collect();
    for (k, v) in &p.env {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}

/// The kernel layer's bundle member.
pub const KERNEL_LAYER: &str = "layers/kernel.ndjson";

/// The kernel layer's class in a proof's bundles: canonical (gated) only for `strict_kernel`
/// proofs. Concurrent processes make its order, sibling numbering and temp names vary between
/// runs of real work; it stays the complete diagnostic record, and the surface derived from it is
/// gated.
pub fn kernel_class(p: &Proof) -> MemberClass {
    if p.strict_kernel {
        MemberClass::Canonical
    } else {
        MemberClass::Diagnostic
    }
}

/// The proof's surface rules for a run in `work` (freshly reset: its contents are the seeds),
/// with the private temp dir.
fn surface_rules(p: &Proof, work: &Path) -> Result<crate::surface::normalize::Rules, ProveError> {
    let mut rules = p.surface_rules().map_err(|e| ProveError::Io {
        proof: p.name.clone(),
        path: "proofs.yaml".into(),
        cause: std::io::Error::other(e.to_string()),
    })?;
    rules.private_tmp = true;
    let mut before = std::collections::BTreeSet::new();
    let mut stack = vec![(work.to_path_buf(), "<work>".to_string())];
    while let Some((dir, shown)) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(io_err(&p.name, &dir))? {
            let e = e.map_err(io_err(&p.name, &dir))?;
            let name = crate::pathbytes::escape(std::os::unix::ffi::OsStrExt::as_bytes(
                e.file_name().as_os_str(),
            ));
            let child = format!("{shown}/{name}");
            if e.file_type().map_err(io_err(&p.name, &dir))?.is_dir() {
                stack.push((e.path(), child.clone()));
            }
            before.insert(child);
        }
    }
    rules.work_before = Some(before);
    Ok(rules)
}

/// Unified diff of two member texts (lossy for non-UTF-8).
fn unified(member: &str, a: &[u8], b: &[u8], run_b: u32) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    similar::TextDiff::from_lines(a.as_ref(), b.as_ref())
        .unified_diff()
        .context_radius(3)
        .header(&format!("run-1/{member}"), &format!("run-{run_b}/{member}"))
        .to_string()
}

/// The health member.
const HEALTH: &str = "observation-health.json";

/// The canonical members of a verified bundle and what the gate compares of each across runs:
/// their hashes (the bytes are read back only to show a difference) — except the health of a
/// proof whose kernel layer is diagnostic, compared by [`gated_health`].
fn canonical(ev: &verify::Evidence, p: &Proof) -> Vec<(String, String)> {
    ev.verified
        .report
        .members
        .iter()
        .filter(|m| m.class == Some(MemberClass::Canonical))
        .map(|m| {
            if m.path == HEALTH && !p.strict_kernel {
                (m.path.clone(), gated_health(&ev.health))
            } else {
                (m.path.clone(), m.sha256.clone())
            }
        })
        .collect()
}

/// The health as the gate compares it when the kernel layer is diagnostic: every state, note,
/// drop and failure count, but not the counters that only measure the kernel layer's volume
/// (`events_attempted`, `events_received`, `filtered_noise`), which vary with it — a runtime
/// that reads `/proc/self/maps` once more in one run is not a different result. The member
/// itself keeps every counter.
fn gated_health(h: &crate::contracts::health::ObservationHealth) -> String {
    use sha2::Digest as _;
    let mut g = h.clone();
    g.counters.events_attempted = 0;
    g.counters.events_received = 0;
    g.counters.filtered_noise.clear();
    let bytes = serde_json::to_vec(&g).unwrap_or_default();
    format!("gated:{:x}", sha2::Sha256::digest(bytes))
}

/// Largest member shown as a unified diff when runs differ.
const DIFF_MAX_BYTES: u64 = 8 << 20;

/// One member's bytes, from a bundle that verified (for the determinism diff only).
fn member_bytes(bundle: &Path, member: &str) -> Vec<u8> {
    use std::io::Read as _;
    let read = || -> std::io::Result<Vec<u8>> {
        let f = std::fs::File::open(bundle)?;
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        for e in ar.entries()? {
            let e = e?;
            if e.path()?.to_string_lossy() == member {
                let mut b = Vec::new();
                e.take(DIFF_MAX_BYTES).read_to_end(&mut b)?;
                return Ok(b);
            }
        }
        Ok(Vec::new())
    };
    read().unwrap_or_default()
}

/// Where run `i` of a proof keeps the command's stdout and stderr (`dir` is the proof's out
/// dir): never the runner's own output, which in CI is the job log.
pub fn run_log(dir: &Path, i: u32) -> PathBuf {
    dir.join(format!("run-{i}.log"))
}

/// Runs one proof `opts.runs` times and judges it: each run measured ([`measure_run`]), judged
/// ([`Runs::judge`]), bundled and verified, and gated against run 1 ([`Runs::gate`]); then the
/// verdict of them all ([`Runs::verdict`]).
pub fn prove_one(
    p: &Proof,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome, ProveError> {
    preflight(p)?;
    let dir = opts.out_dir.join(&p.name);
    std::fs::create_dir_all(&dir).map_err(io_err(&p.name, &dir))?;
    let dir = std::fs::canonicalize(&dir).map_err(io_err(&p.name, &dir))?;
    let work = dir.join("work");
    let mut runs = Runs::new();
    for i in 1..=opts.runs {
        reset_work_dir(p, &work)?;
        progress(&format!("{}: run {i}/{}", p.name, opts.runs));
        let rules = surface_rules(p, &work)?;
        let m = match measure_run(p, opts, &dir, &work, i, &rules) {
            Ok(m) => m,
            Err(e @ crate::pipeline::MeasureError::Policy(_)) => {
                return Err(ProveError::Layer {
                    proof: p.name.clone(),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                runs.worsen(
                    Verdict::Inconclusive,
                    format!("observation-failed: run {i}: {e}"),
                );
                break;
            }
        };
        runs.done = i;
        runs.judge(i, &m);
        let bundle = write_bundle(p, &dir, i, &m)?;
        let ev = match verify::evidence(&bundle, &Limits::default(), Keep::Documents) {
            Ok(ev) => ev,
            Err(e) => {
                runs.worsen(
                    Verdict::Fail,
                    format!("verify-failed: run {i}: {e}").replace('\n', "; "),
                );
                break;
            }
        };
        runs.gate(p, i, ev, bundle);
    }
    runs.verdict(p, opts)
}

/// Run `i` of proof `p`: the command in the reset work dir, with the proof's fixed
/// environment, layers and surface rules, its output kept in the run's log.
fn measure_run(
    p: &Proof,
    opts: &Options,
    dir: &Path,
    work: &Path,
    i: u32,
    rules: &crate::surface::normalize::Rules,
) -> Result<crate::pipeline::Measured, crate::pipeline::MeasureError> {
    let spec = RunSpec {
        argv: p.command.iter().map(OsString::from).collect(),
        work_dir: work.to_path_buf(),
        ring_bytes: opts.ring_bytes,
        wakeup_bytes: 256 * 1024,
        grace: opts.grace,
        timeout: Some(Duration::from_secs(p.timeout_s)),
        user: None,
        env: Some(environment(p, work)),
        detach: true,
        output: crate::kernel::session::Output::File(run_log(dir, i)),
        private_tmp: true,
    };
    let layers = match (&p.mode, &p.policy_path) {
        (ProofMode::KernelPolicy, Some(pol)) => crate::pipeline::Layers::Policy {
            policy: pol.clone(),
        },
        (ProofMode::Sdk, Some(pol)) => crate::pipeline::Layers::Sdk {
            policy: pol.clone(),
        },
        _ => crate::pipeline::Layers::Kernel,
    };
    crate::pipeline::measure_with(
        &p.name,
        &spec,
        &NoiseFilter::default_filter(),
        &layers,
        rules,
    )
}

/// Writes run `i`'s bundle (`run-<i>.tar.gz` in the proof's dir), the kernel layer classed as
/// the proof says.
fn write_bundle(
    p: &Proof,
    dir: &Path,
    i: u32,
    m: &crate::pipeline::Measured,
) -> Result<PathBuf, ProveError> {
    let bundle = dir.join(format!("run-{i}.tar.gz"));
    let mut entries = crate::pipeline::entries(m);
    for e in &mut entries {
        if e.path == KERNEL_LAYER {
            e.class = kernel_class(p);
        }
    }
    crate::bundle::write(&bundle, &p.name, &entries).map_err(|e| ProveError::Io {
        proof: p.name.clone(),
        path: bundle.display().to_string(),
        cause: std::io::Error::other(e.to_string()),
    })?;
    Ok(bundle)
}

/// What the runs of one proof have shown so far.
struct Runs {
    reasons: Vec<String>,
    verdict: Verdict,
    /// Run 1's evidence and bundle: what the golden is compared with.
    first: Option<(verify::Evidence, PathBuf)>,
    first_canonical: Vec<(String, String)>,
    /// No canonical member differed from run 1's so far.
    deterministic: bool,
    determinism_diff: Option<String>,
    /// Runs measured.
    done: u32,
}

impl Runs {
    fn new() -> Runs {
        Runs {
            reasons: Vec::new(),
            verdict: Verdict::Pass,
            first: None,
            first_canonical: Vec::new(),
            deterministic: true,
            determinism_diff: None,
            done: 0,
        }
    }

    fn worsen(&mut self, v: Verdict, reason: String) {
        self.reasons.push(reason);
        self.verdict = self.verdict.max(v);
    }

    /// Judges run `i` on its own: an unclean correlation, a command that did not exit 0.
    fn judge(&mut self, i: u32, m: &crate::pipeline::Measured) {
        if let Some(c) = &m.correlation
            && c.status != crate::contracts::correlation_report::Status::Clean
        {
            let codes: std::collections::BTreeSet<&str> =
                c.ambiguities.iter().map(|a| a.code.as_str()).collect();
            self.worsen(
                Verdict::Inconclusive,
                format!(
                    "correlation-unclean: run {i}: kernel effects could not all be attributed to tool calls (status {:?}{}{})",
                    c.status,
                    if codes.is_empty() { "" } else { "; " },
                    codes.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        match &m.end {
            End::Exited(0) => {}
            other => self.worsen(
                Verdict::Fail,
                format!(
                    "command-failed: run {i}: the command ended with {other:?} (exit {})",
                    m.exit_code
                ),
            ),
        }
    }

    /// The determinism gate: run 1 is kept; a later run whose canonical members differ from
    /// run 1's fails the proof, with a unified diff of the first member that differs.
    fn gate(&mut self, p: &Proof, i: u32, ev: verify::Evidence, bundle: PathBuf) {
        let canon = canonical(&ev, p);
        if i == 1 {
            self.first_canonical = canon;
            self.first = Some((ev, bundle));
            return;
        }
        if !self.deterministic {
            return;
        }
        let first_bundle = self.first.as_ref().map(|(_, b)| b.as_path());
        let differing = self
            .first_canonical
            .iter()
            .zip(&canon)
            .find(|(a, b)| a != b)
            .map(|(a, _)| {
                let run1 = first_bundle
                    .map(|b| member_bytes(b, &a.0))
                    .unwrap_or_default();
                (a.0.clone(), run1, member_bytes(&bundle, &a.0))
            })
            .or_else(|| {
                (self.first_canonical.len() != canon.len())
                    .then(|| ("manifest.json".into(), Vec::new(), Vec::new()))
            });
        if let Some((member, a, b)) = differing {
            self.deterministic = false;
            self.determinism_diff = Some(unified(&member, &a, &b, i));
            self.worsen(
                Verdict::Fail,
                format!(
                    "nondeterministic: canonical member {member} differs between run 1 and run {i}"
                ),
            );
        }
    }

    /// The proof's verdict from its runs: run 1's health decides whether the evidence is clean
    /// enough to judge, and trustworthy evidence goes on to the golden step.
    fn verdict(self, p: &Proof, opts: &Options) -> Result<Outcome, ProveError> {
        let Runs {
            mut reasons,
            verdict,
            first,
            deterministic,
            determinism_diff,
            done,
            ..
        } = self;
        let mut out = ProofVerdict {
            name: p.name.clone(),
            verdict,
            reasons: Vec::new(),
            runs: done,
            deterministic,
            bundle: None,
            golden: p.golden.clone(),
            pending: None,
            health: None,
            diff: None,
            golden_update: None,
            golden_sha256: None,
        };
        if let Some((ev, bundle)) = &first {
            out.bundle = Some(relative(bundle));
            out.health = Some(HealthSummary {
                kernel_layer: ev.health.kernel_layer,
                cgroup_correlation: ev.health.cgroup_correlation,
                ringbuf_drops: ev.health.ringbuf_drops,
            });
            let (clean, accepted) = clean_for(p, &ev.health);
            if let Some(a) = accepted {
                reasons.push(format!(
                    "unobserved-allowed: the session used {a}, allowed by the proof's allow_unobserved; effects through these channels are not in the surface"
                ));
            }
            if !clean {
                reasons.push(format!(
                    "observation-unclean: kernel_layer {:?}, cgroup_correlation {:?}, {} drop(s); the evidence cannot decide",
                    ev.health.kernel_layer, ev.health.cgroup_correlation, ev.health.ringbuf_drops
                ));
                out.verdict = out.verdict.max(Verdict::Inconclusive);
            }
            // Only evidence that can decide yields a pending golden: clean, deterministic, and
            // of a command that did what it was asked (no run failed).
            let trustworthy = clean && deterministic && out.verdict != Verdict::Fail;
            golden_step(p, opts, ev, bundle, trustworthy, &mut out, &mut reasons)?;
        }
        reasons.sort();
        reasons.dedup();
        out.reasons = reasons;
        Ok(Outcome {
            verdict: out,
            determinism_diff,
        })
    }
}

/// Whether a proof's evidence is clean enough to decide: clean health, or health whose only
/// flaw is the successful use of unobserved channels the proof allows (then also which uses
/// were allowed). Reads the typed note codes and the `unobserved_channels` counters, never
/// note prose.
pub fn clean_for(p: &Proof, h: &ObservationHealth) -> (bool, Option<String>) {
    if h.is_clean() {
        return (true, None);
    }
    let used = &h.counters.unobserved_channels;
    let allowed = |c: &String| p.allow_unobserved.iter().any(|a| a == c);
    if !(used.keys().all(allowed) && h.is_clean_but_unobserved_channels()) {
        return (false, None);
    }
    let accepted: Vec<String> = used.iter().map(|(c, k)| format!("{c} x{k}")).collect();
    (true, Some(accepted.join(", ")))
}

/// Where `prove` writes a proof's pending golden: in the proof's out dir (so it travels with
/// the proof's artifact), named after the golden, never next to the golden in the source tree.
pub fn pending_path(out_dir: &Path, p: &Proof) -> PathBuf {
    let name = Path::new(&p.golden)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{}.surface.json", p.name));
    out_dir.join(&p.name).join(format!("{name}.new"))
}

fn relative(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.as_deref()
        .and_then(|c| p.strip_prefix(c).ok())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// Compares the first run's surface with the golden; decides whether a change is one the
/// change under test asks approval for; writes or clears the pending golden.
fn golden_step(
    p: &Proof,
    opts: &Options,
    ev: &verify::Evidence,
    bundle: &Path,
    trustworthy: bool,
    out: &mut ProofVerdict,
    reasons: &mut Vec<String>,
) -> Result<(), ProveError> {
    let pending = pending_path(&opts.out_dir, p);
    let text = crate::diff::golden_text(&ev.surface);
    let head = Side {
        kind: SideKind::Bundle,
        source: relative(bundle),
        run_id: ev.surface.run_id.clone(),
        health_clean: clean_for(p, &ev.health).0,
    };
    let Some((golden, golden_bytes)) = read_golden(p, trustworthy, out, reasons)? else {
        return write_pending(p, &pending, &text, trustworthy, true, out);
    };
    out.golden_sha256 = Some(sha256_text(&golden_bytes));
    let base = Side {
        kind: SideKind::Golden,
        source: p.golden.clone(),
        run_id: golden.surface.run_id.clone(),
        health_clean: true,
    };
    let mut d = crate::diff::diff(base, &golden.surface, head, &ev.surface, Some(&golden));
    // A golden is the surface's bytes, its run id (the proof's name) included: a golden of
    // another proof (a renamed one) is not this proof's, even with the same entries.
    let other_run = golden.surface.run_id != ev.surface.run_id;
    if other_run {
        reasons.push(format!(
            "golden-run-id-differs: {} is the golden of run `{}`, this proof's runs are `{}`; accept this proof's pending golden",
            p.golden, golden.surface.run_id, ev.surface.run_id
        ));
    }
    let changed = d.changed || other_run;
    if changed {
        explain_head(&mut d, bundle, &ev.surface);
        let (a, r): (usize, usize) = d
            .categories
            .iter()
            .fold((0, 0), |(a, r), c| (a + c.added.len(), r + c.removed.len()));
        if d.changed {
            reasons.push(format!(
                "surface-changed: {a} entr{} added, {r} removed against {}",
                if a == 1 { "y" } else { "ies" },
                p.golden
            ));
        }
        // A changed surface fails only on clean evidence; otherwise it is inconclusive.
        if out.verdict != Verdict::Inconclusive {
            out.verdict = Verdict::Fail;
        }
        if trustworthy && out.verdict == Verdict::Fail {
            judge_change_golden(p, opts, &golden_bytes, &text, out, reasons);
        }
    }
    out.diff = Some(d);
    let carried = out.golden_update.is_some();
    write_pending(p, &pending, &text, trustworthy && !carried, changed, out)
}

/// Explains the added entries of `d` from the head bundle's kernel layer (read again, whole:
/// the run's evidence keeps only its documents); a bundle that cannot be explained says so in
/// the diff's notes.
fn explain_head(d: &mut CapabilityDiff, bundle: &Path, surface: &CapabilitySurface) {
    let explained = verify::verify_path(bundle, &Limits::default(), Keep::All)
        .map_err(|e| e.to_string())
        .and_then(|v| crate::explain::from_members(surface, &v.kept).map_err(|e| e.to_string()));
    match explained {
        Ok(x) => crate::diff::explain_changes(d, Some(&x), None),
        Err(e) => {
            d.notes.push(format!(
                "unexplained: the head bundle's entries could not be explained: {}",
                e.replace('\n', "; ")
            ));
            d.notes.sort();
        }
    }
}

/// The judging golden, parsed, with its bytes; `None` (with the reason) when it is missing or
/// invalid, which fails the proof.
fn read_golden(
    p: &Proof,
    trustworthy: bool,
    out: &mut ProofVerdict,
    reasons: &mut Vec<String>,
) -> Result<Option<(crate::diff::Golden, Vec<u8>)>, ProveError> {
    let bytes = match std::fs::read(&p.golden_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            reasons.push(if trustworthy {
                format!(
                    "golden-missing: {} does not exist; review the pending golden and run `assay-runner golden accept {}`",
                    p.golden, p.name
                )
            } else {
                format!(
                    "golden-missing: {} does not exist, and no pending golden was written because the run did not give clean, deterministic evidence of a command that succeeded",
                    p.golden
                )
            });
            out.verdict = out.verdict.max(Verdict::Fail);
            return Ok(None);
        }
        Err(e) => return Err(io_err(&p.name, &p.golden_path)(e)),
    };
    match crate::diff::parse_golden(&p.golden, &String::from_utf8_lossy(&bytes)) {
        Ok(g) => Ok(Some((g, bytes))),
        Err(e) => {
            reasons.push(format!("golden-invalid: {e}"));
            out.verdict = out.verdict.max(Verdict::Fail);
            Ok(None)
        }
    }
}

/// A changed surface on trustworthy evidence, judged by the base's golden: when the change
/// under test carries a golden that is exactly what it produced, the proof needs approval
/// (never passes by itself); when it carries another one, that is said, and it fails.
fn judge_change_golden(
    p: &Proof,
    opts: &Options,
    judge: &[u8],
    produced: &str,
    out: &mut ProofVerdict,
    reasons: &mut Vec<String>,
) {
    let Some(theirs) = opts.change_goldens.get(&p.name) else {
        return;
    };
    if theirs.as_slice() != produced.as_bytes() {
        reasons.push(format!(
            "golden-update-differs: this change edits {}, but not to the surface its proof produced; the base's golden judges it (run `assay-runner golden accept {}` on the change's own pending golden)",
            p.golden, p.name
        ));
        return;
    }
    reasons.push(format!(
        "golden-updated: the surface differs from the base's {} and equals the golden this change carries; it needs an approving review of the change (docs/github-action.md, \"Approving an intended change\")",
        p.golden
    ));
    out.verdict = Verdict::NeedsApproval;
    out.golden_update = Some(verdict::GoldenUpdate {
        base_sha256: sha256_text(judge),
        head_sha256: sha256_text(theirs),
        diff: similar::TextDiff::from_lines(
            String::from_utf8_lossy(judge).as_ref(),
            String::from_utf8_lossy(theirs).as_ref(),
        )
        .unified_diff()
        .context_radius(2)
        .header(
            &format!("base/{}", p.golden),
            &format!("change/{}", p.golden),
        )
        .to_string(),
    });
}

fn sha256_text(b: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// Writes the pending golden when the surface changed (or has no golden) on trustworthy
/// evidence; otherwise removes a stale one.
fn write_pending(
    p: &Proof,
    pending: &Path,
    text: &str,
    write: bool,
    changed: bool,
    out: &mut ProofVerdict,
) -> Result<(), ProveError> {
    if changed && write {
        if let Some(parent) = pending.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(&p.name, parent))?;
        }
        crate::fsutil::write_atomic(pending, text.as_bytes()).map_err(io_err(&p.name, pending))?;
        out.pending = Some(relative(pending));
        return Ok(());
    }
    match std::fs::remove_file(pending) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&p.name, pending)(e)),
    }
}

/// The overall verdict of a set of proofs: the worst one (`pass` for none).
pub fn set_verdict(run_id: &str, lane: Option<&str>, proofs: Vec<ProofVerdict>) -> ProofSetVerdict {
    ProofSetVerdict {
        schema: verdict::SCHEMA.into(),
        run_id: run_id.into(),
        lane: lane.map(str::to_string),
        verdict: proofs
            .iter()
            .map(|p| p.verdict)
            .max()
            .unwrap_or(Verdict::Pass),
        proofs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_order_is_pass_inconclusive_fail() {
        assert!(Verdict::Pass < Verdict::Inconclusive);
        assert!(Verdict::Inconclusive < Verdict::Fail);
        assert_eq!(set_verdict("all", None, Vec::new()).verdict, Verdict::Pass);
    }

    #[test]
    fn allowed_unobserved_channels_alone_keep_evidence_decidable() {
        let parse = |extra: &str| {
            crate::proofs::Proofs::parse(
                "p.yaml",
                format!("proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n{extra}")
                    .as_bytes(),
                Path::new("."),
            )
            .unwrap()
            .proofs
            .remove(0)
        };
        let mut b = crate::health::Builder::new("a", crate::pipeline::platform());
        b.unobserved_channels([("ptrace", 5), ("mount", 1)]);
        let h = b.finish();
        assert!(!clean_for(&parse(""), &h).0);
        assert!(!clean_for(&parse("    allow_unobserved: [ptrace]\n"), &h).0);
        let (clean, accepted) = clean_for(&parse("    allow_unobserved: [mount, ptrace]\n"), &h);
        assert!(clean);
        assert_eq!(accepted.as_deref(), Some("mount x1, ptrace x5"));
        // any other blind spot still makes it inconclusive
        let mut b = crate::health::Builder::new("a", crate::pipeline::platform());
        b.unobserved_channels([("ptrace", 5)]);
        b.fileless_execs(["/memfd:x (deleted)"]);
        assert!(!clean_for(&parse("    allow_unobserved: [ptrace]\n"), &b.finish()).0);
    }

    #[test]
    fn gated_health_ignores_only_the_kernel_layer_volume() {
        let build = |attempted: u64, noise: u64, note: bool| {
            let mut b = crate::health::Builder::new("a", crate::pipeline::platform());
            b.counters().events_attempted = attempted;
            b.counters().events_received = attempted;
            b.counters()
                .filtered_noise
                .insert("filesystem_paths".into(), noise);
            if note {
                b.unobserved_channels([("mount", 1)]);
            }
            b.finish()
        };
        let base = gated_health(&build(100, 3, false));
        assert_eq!(base, gated_health(&build(102, 5, false)));
        assert_ne!(base, gated_health(&build(100, 3, true)));
        let mut dropped = build(100, 3, false);
        dropped.ringbuf_drops = 1;
        assert_ne!(base, gated_health(&dropped));
    }

    #[test]
    fn pending_is_in_the_proofs_out_dir() {
        let p = crate::proofs::Proofs::parse(
            "p.yaml",
            b"proofs:\n  - name: demo\n    command: [x]\n    golden: goldens/demo.surface.json\n",
            Path::new("/repo"),
        )
        .unwrap()
        .proofs
        .remove(0);
        assert_eq!(
            pending_path(Path::new(".assay/proofs"), &p),
            PathBuf::from(".assay/proofs/demo/demo.surface.json.new")
        );
    }

    #[test]
    fn environment_is_fixed_and_proof_env_wins() {
        let p = crate::proofs::Proofs::parse(
            "p.yaml",
            b"proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    env: {LANG: C.UTF-8, X: '1'}\n",
            Path::new("."),
        )
        .unwrap();
        let env = environment(&p.proofs[0], Path::new("/w"));
        let keys: Vec<_> = env.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(keys, ["HOME", "LANG", "PATH", "SHELL", "TMPDIR", "TZ", "X"]);
        assert_eq!(env[1].1, "C.UTF-8");
        assert_eq!(env[0].1, "/w");
    }
}
