//! `prove` and `golden accept`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::args::{GoldenAcceptArgs, ProveArgs, ReportFormat};
use crate::contracts::verdict::Verdict;
use crate::exit;
use crate::proofs::{Proof, Proofs};
use crate::prove::{self, Options};

fn load(path: &Path) -> anyhow::Result<Proofs> {
    Ok(Proofs::load(path)?)
}

/// Writes the proofs file and its goldens as they are at `rev` over the work tree.
fn restore_judge(proofs_file: &Path, rev: &str) -> anyhow::Result<()> {
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
    // Goldens and policies judge the PR: both come from the base.
    for p in &proofs.proofs {
        let judged = std::iter::once((&p.golden, &p.golden_path))
            .chain(p.policy.as_ref().zip(p.policy_path.as_ref()));
        for (rel, path) in judged {
            match crate::lanes::git::show_file(dir, rev, Path::new(rel)) {
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
        "assay-runner: judge restored from {rev}: {} and {} proof(s)' goldens and policies",
        proofs_file.display(),
        proofs.proofs.len()
    );
    Ok(())
}

/// `assay-runner prove`.
pub fn prove(a: ProveArgs) -> anyhow::Result<i32> {
    if let Some(rev) = &a.judge_from_ref {
        restore_judge(&a.proofs, rev)?;
    }
    let proofs = load(&a.proofs)?;
    let (run_id, lane, selected): (String, Option<String>, Vec<&Proof>) = if a.all {
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
    };
    if a.list {
        match a.format {
            ReportFormat::Json => {
                let v: Vec<serde_json::Value> = selected
                    .iter()
                    .map(|p| serde_json::json!({"name": p.name, "golden": p.golden}))
                    .collect();
                println!("{}", serde_json::to_string(&v)?);
            }
            ReportFormat::Human => {
                for p in &selected {
                    println!("{}", p.name);
                }
            }
        }
        return Ok(exit::OK);
    }
    for p in &selected {
        prove::preflight(p)?;
    }
    if !selected.is_empty() && !nix::unistd::geteuid().is_root() {
        bail!("prove observes with eBPF and needs root (run `assay-runner doctor`)");
    }
    crate::kernel::session::install_interrupt_handlers();
    let opts = Options::new(a.runs, a.out_dir.clone());
    let mut results = Vec::new();
    for p in &selected {
        let o = prove::prove_one(p, &opts, &mut |s| eprintln!("prove: {s}"))?;
        if let Some(d) = &o.determinism_diff {
            eprintln!(
                "prove: {}: canonical members differ between runs:\n{d}",
                p.name
            );
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
    match a.format {
        ReportFormat::Json => {
            std::io::stdout().write_all(&json)?;
        }
        ReportFormat::Human => {
            for p in &set.proofs {
                println!(
                    "{:<13} {} ({} run(s){})",
                    format!("{:?}", p.verdict).to_lowercase(),
                    p.name,
                    p.runs,
                    if p.deterministic {
                        ", deterministic"
                    } else {
                        ", NOT deterministic"
                    }
                );
                for r in &p.reasons {
                    println!("    {r}");
                }
                if let Some(d) = &p.diff
                    && d.changed
                {
                    for line in crate::diff::human(d).lines().skip(1) {
                        println!("    {line}");
                    }
                }
                if let Some(pending) = &p.pending {
                    println!(
                        "    pending golden: {pending} (review, then `assay-runner golden accept {}`)",
                        p.name
                    );
                }
            }
            println!(
                "verdict: {} ({} proof(s)); summary: {}",
                format!("{:?}", set.verdict).to_lowercase(),
                set.proofs.len(),
                verdict_path.display()
            );
        }
    }
    Ok(match set.verdict {
        Verdict::Pass => exit::OK,
        Verdict::Fail => exit::FAILED,
        Verdict::Inconclusive => exit::INCONCLUSIVE,
    })
}

/// Golden files in the directories that hold referenced goldens, not referenced by any proof.
fn stale(proofs: &Proofs) -> anyhow::Result<Vec<PathBuf>> {
    let referenced: BTreeSet<PathBuf> = proofs
        .proofs
        .iter()
        .map(|p| p.golden_path.clone())
        .collect();
    let pendings: BTreeSet<PathBuf> = referenced.iter().map(|g| prove::pending_path(g)).collect();
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
            if golden_like && !referenced.contains(&path) && !pendings.contains(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
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
    if a.names.is_empty() {
        chosen = proofs.proofs.iter().collect();
    }
    let pending: Vec<&Proof> = chosen
        .iter()
        .copied()
        .filter(|p| prove::pending_path(&p.golden_path).exists())
        .collect();
    if a.check {
        let stale = stale(&proofs)?;
        for p in &pending {
            println!("pending {}.new (proof {})", p.golden, p.name);
        }
        for s in &stale {
            println!("stale   {} (no proof references it)", s.display());
        }
        if pending.is_empty() && stale.is_empty() {
            println!("no pending or stale goldens");
            return Ok(exit::OK);
        }
        return Ok(exit::FAILED);
    }
    if pending.is_empty() {
        println!("no pending goldens");
        return Ok(exit::OK);
    }
    for p in pending {
        let from = prove::pending_path(&p.golden_path);
        let text = crate::fsutil::read_bounded(&from, 64 << 20)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8", from.display()))?;
        crate::diff::parse_golden(&format!("{}.new", p.golden), &text)?;
        crate::fsutil::write_atomic(&p.golden_path, text.as_bytes())
            .with_context(|| format!("cannot write {}", p.golden_path.display()))?;
        std::fs::remove_file(&from).with_context(|| format!("cannot remove {}", from.display()))?;
        println!("accepted {} (proof {})", p.golden, p.name);
    }
    Ok(exit::OK)
}
