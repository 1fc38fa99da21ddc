//! `prove` and `golden accept`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::args::{GoldenAcceptArgs, ProveArgs, ReportFormat};
use crate::contracts::verdict::Verdict;
use crate::exit::Exit;
use crate::proofs::{Proof, Proofs};
use crate::prove::{self, Options};

fn load(path: &Path) -> anyhow::Result<Proofs> {
    Ok(Proofs::load(path)?)
}

/// Writes the proofs file and its goldens as they are at `rev` over the work tree. Returns the
/// goldens the change under test carries where they differ from the judge's (read before they
/// are overwritten), by proof name: a proof whose surface changed to exactly its own golden
/// needs approval rather than failing outright.
fn restore_judge(
    proofs_file: &Path,
    rev: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let dir = match proofs_file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = Path::new(proofs_file.file_name().context("--proofs names no file")?);
    let bytes = crate::lanes::git::show_file(dir, rev, name).with_context(|| {
        format!(
            "--judge-from-ref {rev}: cannot read {} there",
            proofs_file.display()
        )
    })?;
    crate::fsutil::write_atomic(proofs_file, &bytes)
        .with_context(|| format!("cannot write {}", proofs_file.display()))?;
    let proofs = load(proofs_file)?;
    let mut theirs = std::collections::BTreeMap::new();
    // Goldens and policies judge the PR: both come from the base.
    for p in &proofs.proofs {
        let judged = std::iter::once((&p.golden, &p.golden_path))
            .chain(p.policy.as_ref().zip(p.policy_path.as_ref()));
        let change_golden = crate::fsutil::read_bounded(&p.golden_path, 64 << 20).ok();
        for (rel, path) in judged {
            match crate::lanes::git::show_file(dir, rev, Path::new(rel)) {
                Ok(b) if rel == &p.golden => {
                    if let Some(c) = change_golden.as_ref().filter(|c| **c != b) {
                        theirs.insert(p.name.clone(), c.clone());
                    }
                    crate::fsutil::write_atomic(path, &b)
                        .with_context(|| format!("cannot write {}", path.display()))?
                }
                Ok(b) => crate::fsutil::write_atomic(path, &b)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                Err(_) => match std::fs::remove_file(path) {
                    Ok(()) => eprintln!(
                        "assay-runner: {rel} does not exist at {rev}: removed the PR's copy"
                    ),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => bail!("cannot remove {}: {e}", path.display()),
                },
            }
        }
    }
    eprintln!(
        "assay-runner: judge restored from {rev}: {} and {} proof(s)' goldens and policies{}",
        proofs_file.display(),
        proofs.proofs.len(),
        match theirs.len() {
            0 => String::new(),
            n => format!(
                "; this change updates {n} golden(s): a proof that produces exactly its own needs approval"
            ),
        }
    );
    Ok(theirs)
}

/// `assay-runner prove`.
pub fn prove(a: ProveArgs) -> anyhow::Result<i32> {
    let change_goldens = match &a.judge_from_ref {
        Some(rev) => restore_judge(&a.proofs, rev)?,
        None => Default::default(),
    };
    let proofs = load(&a.proofs)?;
    let (run_id, lane, selected) = select(&a, &proofs)?;
    if a.list {
        list(&a, &selected)?;
        return Ok(Exit::Ok.code());
    }
    for p in &selected {
        prove::preflight(p).map_err(|e| anyhow::anyhow!("{}:{}: {e}", proofs.source, p.line))?;
    }
    if !selected.is_empty() && !nix::unistd::geteuid().is_root() {
        bail!("prove observes with eBPF and needs root (run `assay-runner doctor`)");
    }
    crate::kernel::session::install_interrupt_handlers();
    let mut opts = Options::new(a.runs, a.out_dir.clone());
    opts.change_goldens = change_goldens;
    let mut results = Vec::new();
    for p in &selected {
        let o = prove::prove_one(p, &opts, &mut |s| eprintln!("prove: {s}"))?;
        show_command_output(p, &a.out_dir, o.verdict.runs);
        if let Some(d) = &o.determinism_diff {
            eprintln!("prove: {}: canonical members differ between runs:", p.name);
            super::print_untrusted(d);
        }
        results.push(o.verdict);
    }
    let set = prove::set_verdict(&run_id, lane.as_deref(), results);
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let verdict_path = a.out_dir.join("verdict.json");
    let mut json = serde_json::to_vec_pretty(&set)?;
    json.push(b'\n');
    crate::fsutil::write_atomic(&verdict_path, &json)
        .with_context(|| format!("cannot write {}", verdict_path.display()))?;
    let html_path = a.out_dir.join("report.html");
    crate::report::html::write(&set, &html_path)
        .with_context(|| format!("cannot write {}", html_path.display()))?;
    match a.format {
        ReportFormat::Json => {
            std::io::stdout().write_all(&json)?;
        }
        ReportFormat::Human => super::print_untrusted(&human(&set, &verdict_path)),
    }
    Ok(match set.verdict {
        Verdict::Pass => Exit::Ok.code(),
        Verdict::Fail | Verdict::NeedsApproval => Exit::Failed.code(),
        Verdict::Inconclusive => Exit::Inconclusive.code(),
    })
}

/// The proofs `--all`, `--lane` or `--proof` select, with the run id and lane of their verdict.
fn select<'p>(
    a: &ProveArgs,
    proofs: &'p crate::proofs::Proofs,
) -> anyhow::Result<(String, Option<String>, Vec<&'p Proof>)> {
    Ok(if a.all {
        ("all".into(), None, proofs.proofs.iter().collect())
    } else if let Some(l) = &a.lane {
        let sel = proofs
            .for_lane(l)
            .map_err(|e| anyhow::anyhow!("--lane {l}: {e}"))?;
        (format!("lane:{l}"), Some(l.clone()), sel)
    } else if !a.proof.is_empty() {
        let mut sel = Vec::new();
        for n in &a.proof {
            match proofs.get(n) {
                Some(p) => sel.push(p),
                None => bail!(
                    "--proof {n}: no such proof in {} (proofs: {})",
                    a.proofs.display(),
                    proofs
                        .proofs
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        (format!("proof:{}", a.proof.join(",")), None, sel)
    } else {
        bail!("choose what to prove: --proof NAME, --lane LANE or --all");
    })
}

/// `--list`: the selected proofs' names (JSON: with their goldens).
fn list(a: &ProveArgs, selected: &[&Proof]) -> anyhow::Result<()> {
    match a.format {
        ReportFormat::Json => {
            let v: Vec<serde_json::Value> = selected
                .iter()
                .map(|p| serde_json::json!({"name": p.name, "golden": p.golden}))
                .collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        ReportFormat::Human => {
            for p in selected {
                println!("{}", p.name);
            }
        }
    }
    Ok(())
}

/// The last bytes of each run's command output shown in the log (the whole output stays in
/// the proof's out dir).
const OUTPUT_TAIL: u64 = 16 << 10;

/// Prints what the proof's command wrote, run by run, from the files that kept it: fenced (in
/// CI) and printed only after the run, so nothing the command printed reaches the log as
/// itself.
fn show_command_output(p: &Proof, out_dir: &Path, runs: u32) {
    use std::io::{Read as _, Seek as _, SeekFrom};
    for i in 1..=runs {
        let log = prove::run_log(&out_dir.join(&p.name), i);
        let Ok(mut f) = std::fs::File::open(&log) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            continue;
        }
        let skip = len.saturating_sub(OUTPUT_TAIL);
        let mut text = Vec::new();
        if f.seek(SeekFrom::Start(skip)).is_err() || f.read_to_end(&mut text).is_err() {
            continue;
        }
        eprintln!(
            "prove: {}: run {i}: the command's output{} (all of it: {})",
            p.name,
            if skip > 0 {
                format!(", last {} of {len} bytes", len - skip)
            } else {
                String::new()
            },
            log.display()
        );
        super::print_untrusted(&String::from_utf8_lossy(&text));
    }
}

/// The human summary of a verdict (it names surface entries and paths the change under test
/// chose: printed through [`super::print_untrusted`]).
fn human(set: &crate::contracts::verdict::ProofSetVerdict, verdict_path: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in &set.proofs {
        let _ = writeln!(
            out,
            "{:<13} {} ({} run(s){})",
            crate::report::verdict_word(p.verdict),
            p.name,
            p.runs,
            if p.deterministic {
                ", deterministic"
            } else {
                ", NOT deterministic"
            }
        );
        for r in &p.reasons {
            let _ = writeln!(out, "    {r}");
        }
        if let Some(d) = &p.diff
            && d.changed
        {
            for line in crate::diff::human(d).lines().skip(1) {
                let _ = writeln!(out, "    {line}");
            }
        }
        if let Some(pending) = &p.pending {
            let _ = writeln!(
                out,
                "    pending golden: {pending} (review it, then `assay-runner golden accept {}`)",
                p.name
            );
        }
    }
    let _ = writeln!(
        out,
        "verdict: {} ({} proof(s)); summary: {}",
        crate::report::verdict_word(set.verdict),
        set.proofs.len(),
        verdict_path.display()
    );
    out
}

/// Golden-like files in the directories that hold referenced goldens that no proof
/// references — and pending goldens (`*.new`) left in the source tree, where `prove` no longer
/// writes them.
fn stale(proofs: &Proofs) -> anyhow::Result<Vec<PathBuf>> {
    let referenced: BTreeSet<PathBuf> = proofs
        .proofs
        .iter()
        .map(|p| p.golden_path.clone())
        .collect();
    let dirs: BTreeSet<PathBuf> = referenced
        .iter()
        .filter_map(|g| g.parent().map(Path::to_path_buf))
        .collect();
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let path = e?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let golden_like =
                name.ends_with(".surface.json") || name.ends_with(".surface.json.new");
            if golden_like && !referenced.contains(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Why a proof has no pending golden, from the last `verdict.json` in `out_dir`.
fn why_none(out_dir: &Path, p: &Proof) -> String {
    let v = crate::report::load(&[out_dir.join("verdict.json")]);
    let Some(pv) = v
        .ok()
        .and_then(|v| v.proofs.into_iter().find(|x| x.name == p.name))
    else {
        return format!(
            "no pending golden for `{}` in {}: run `assay-runner prove --proof {} --out-dir {}` first",
            p.name,
            out_dir.display(),
            p.name,
            out_dir.display()
        );
    };
    match pv.verdict {
        Verdict::Pass => format!("`{}` passed: its surface equals its golden", p.name),
        _ if pv.golden_update.is_some() => format!(
            "`{}` needs approval: the change already carries the golden it produced",
            p.name
        ),
        v => format!(
            "no pending golden for `{}`: its last run was {} and a pending golden comes only from clean, deterministic evidence of a command that succeeded ({})",
            p.name,
            crate::report::verdict_word(v),
            pv.reasons.join("; ")
        ),
    }
}

/// `assay-runner golden accept [NAME...] [--check]`.
pub fn accept(a: GoldenAcceptArgs) -> anyhow::Result<i32> {
    let proofs = load(&a.proofs)?;
    let mut chosen: Vec<&Proof> = Vec::new();
    for n in &a.names {
        match proofs.get(n) {
            Some(p) => chosen.push(p),
            None => bail!("no proof named `{n}` in {}", a.proofs.display()),
        }
    }
    let named = !a.names.is_empty();
    if !named {
        chosen = proofs.proofs.iter().collect();
    }
    let pending: Vec<&Proof> = chosen
        .iter()
        .copied()
        .filter(|p| prove::pending_path(&a.out_dir, p).exists())
        .collect();
    if a.check {
        let stale = stale(&proofs)?;
        for p in &pending {
            let at = prove::pending_path(&a.out_dir, p);
            println!("pending {} (proof {})", at.display(), p.name);
        }
        for s in &stale {
            println!("stale   {} (no proof references it)", s.display());
        }
        if pending.is_empty() && stale.is_empty() {
            println!("no pending or stale goldens");
            return Ok(Exit::Ok.code());
        }
        return Ok(Exit::Failed.code());
    }
    if named {
        let missing: Vec<String> = chosen
            .iter()
            .filter(|p| !pending.contains(p))
            .map(|p| why_none(&a.out_dir, p))
            .collect();
        if !missing.is_empty() {
            for m in &missing {
                eprintln!("assay-runner: {m}");
            }
            return Ok(Exit::Failed.code());
        }
    }
    if pending.is_empty() {
        println!("no pending goldens in {}", a.out_dir.display());
        return Ok(Exit::Ok.code());
    }
    for p in pending {
        let from = prove::pending_path(&a.out_dir, p);
        let text = crate::fsutil::read_bounded(&from, 64 << 20)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8", from.display()))?;
        crate::diff::parse_golden(&from.display().to_string(), &text)?;
        if let Some(dir) = p.golden_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        crate::fsutil::write_atomic(&p.golden_path, text.as_bytes())
            .with_context(|| format!("cannot write {}", p.golden_path.display()))?;
        std::fs::remove_file(&from).with_context(|| format!("cannot remove {}", from.display()))?;
        println!("accepted {} (proof {})", p.golden, p.name);
    }
    Ok(Exit::Ok.code())
}
