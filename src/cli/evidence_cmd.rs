//! `verify`, `diff` and `schema`: commands that work from bundles and contracts alone (offline).

use std::io::Write as _;

use anyhow::Context as _;

use super::args::{
    AttestArgs, DiffArgs, DiffFormat, EffectsExplainArgs, ReportFormat, SchemaArgs, VerifyArgs,
};
use crate::contracts::capability_diff::{self, CapabilityDiff, DiffStatus, Side, SideKind};
use crate::contracts::{CONTRACTS, Contract};
use crate::diff;
use crate::exit::Exit;
use crate::verify::{self, Keep, Limits};

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Reads a file of at most 64 MiB (keys, envelopes, verdicts).
fn read_small(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    crate::fsutil::read_bounded(path, 64 << 20).with_context(|| format!("{}", path.display()))
}

/// `assay-runner attest`: the statement of a verdict and its bundles; signed into a DSSE
/// envelope with `--key`.
pub fn attest(a: AttestArgs) -> anyhow::Result<i32> {
    use crate::attest;
    // the verdict's subject name, like its bundles', is relative to --root
    let canon =
        |p: &std::path::Path| std::fs::canonicalize(p).with_context(|| format!("{}", p.display()));
    let name = canon(&a.verdict)?
        .strip_prefix(canon(&a.root)?)
        .map(|p| p.display().to_string())
        .map_err(|_| {
            anyhow::anyhow!(
                "{} is not under --root {} (the statement names files relative to it)",
                a.verdict.display(),
                a.root.display()
            )
        })?;
    let bytes = read_small(&a.verdict)?;
    let st = attest::statement(&name, &bytes, &a.root, &Limits::default())?;
    if let Some(p) = &a.statement_out {
        crate::fsutil::write_atomic(p, &attest::payload(&st))
            .with_context(|| format!("{}", p.display()))?;
    }
    if let Some(p) = &a.predicate_out {
        let mut b = serde_json::to_vec_pretty(&st.predicate)?;
        b.push(b'\n');
        crate::fsutil::write_atomic(p, &b).with_context(|| format!("{}", p.display()))?;
    }
    if let Some(p) = &a.checksums_out {
        let lines: String = st
            .subject
            .iter()
            .map(|s| format!("{}  {}\n", s.digest.sha256, s.name))
            .collect();
        crate::fsutil::write_atomic(p, lines.as_bytes())
            .with_context(|| format!("{}", p.display()))?;
    }
    if let (Some(key), Some(out)) = (&a.key, &a.out) {
        let pem = String::from_utf8_lossy(&read_small(key)?).into_owned();
        let key = attest::keys::SigningKey::from_pem(&key.display().to_string(), &pem)?;
        let env = attest::seal(&st, &key)?;
        let mut b = serde_json::to_vec_pretty(&env)?;
        b.push(b'\n');
        crate::fsutil::write_atomic(out, &b).with_context(|| format!("{}", out.display()))?;
        eprintln!(
            "attest: {} signed ({} subject(s), key {} {}): {}",
            name,
            st.subject.len(),
            key.verifying_key().kind(),
            env.signatures[0].keyid,
            out.display()
        );
    }
    Ok(Exit::Ok.code())
}

/// `assay-runner explain BUNDLE [ENTRY...]`: each entry's first kernel witness, the programs
/// from its process up to the command, and the tool calls that hold it.
pub fn explain(a: EffectsExplainArgs) -> anyhow::Result<i32> {
    let v = verify::verify_path(&a.bundle, &Limits::default(), Keep::All)?;
    if !v.ok() {
        anyhow::bail!(
            "{} does not verify (run `assay-runner verify {}`)",
            a.bundle.display(),
            a.bundle.display()
        );
    }
    let doc = |m: &str| v.kept.get(m).map(Vec::as_slice).unwrap_or_default();
    let surface: crate::contracts::surface::CapabilitySurface =
        serde_json::from_slice(doc("capability-surface.json"))?;
    let kernel: Vec<crate::contracts::kernel_event::KernelEvent> = doc("layers/kernel.ndjson")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    let correlation = match v.kept.get("correlation-report.json") {
        Some(b) => Some(serde_json::from_slice(b)?),
        None => None,
    };
    let all = crate::explain::explain(&surface, &kernel, correlation.as_ref());
    let mut missing = 0;
    for want in &a.entries {
        if !all.iter().any(|x| &x.entry == want) {
            eprintln!(
                "assay-runner: `{want}` is not an entry of {}'s surface",
                a.bundle.display()
            );
            missing += 1;
        }
    }
    let mut out = std::io::stdout().lock();
    for x in all
        .iter()
        .filter(|x| a.entries.is_empty() || a.entries.contains(&x.entry))
    {
        writeln!(out, "{}  {}\n    {}", x.category, x.entry, x.line())?;
    }
    Ok(if missing > 0 {
        Exit::Failed.code()
    } else {
        Exit::Ok.code()
    })
}

/// `assay-runner verify --attestation ENVELOPE --key PUB`.
fn verify_attestation(
    a: &VerifyArgs,
    env_path: &std::path::Path,
    limits: &Limits,
) -> anyhow::Result<i32> {
    use crate::attest;
    let key_path = a.key.as_deref().context("--attestation needs --key")?;
    let pem = String::from_utf8_lossy(&read_small(key_path)?).into_owned();
    let key = attest::keys::VerifyingKey::from_pem(&key_path.display().to_string(), &pem)?;
    let name = env_path.display().to_string();
    let env = attest::parse_envelope(&name, &read_small(env_path)?)?;
    let checked = match attest::check(&name, &env, &key, &a.root, limits) {
        Ok(c) => c,
        Err(e @ (attest::AttestError::Signature(..) | attest::AttestError::Statement { .. })) => {
            println!("{e}");
            eprintln!("assay-runner: {name} is not a valid attestation");
            return Ok(Exit::Failed.code());
        }
        Err(e) => return Err(e.into()),
    };
    for (subject, why) in &checked.subject_problems {
        println!("{name}: subject {subject}: {why}");
    }
    if !checked.ok() {
        eprintln!(
            "assay-runner: {name}: {} subject(s) do not match the files",
            checked.subject_problems.len()
        );
        return Ok(Exit::Failed.code());
    }
    let p = &checked.statement.predicate;
    println!(
        "{name}: valid (signed by {} {}; verdict {} of run {}, {} proof(s), {} subject(s) match)",
        key.kind(),
        checked.keyid,
        serde_json::to_value(p.verdict)?.as_str().unwrap_or("?"),
        p.run_id,
        p.proofs.len(),
        checked.statement.subject.len()
    );
    Ok(Exit::Ok.code())
}

/// `assay-runner verify BUNDLE`.
pub fn verify(a: VerifyArgs) -> anyhow::Result<i32> {
    let limits = Limits {
        max_decompressed: a.max_bytes,
        max_members: a.max_members,
        ..Limits::default()
    };
    if let Some(env) = &a.attestation {
        return verify_attestation(&a, env, &limits);
    }
    let bundle = a
        .bundle
        .as_deref()
        .context("a bundle or --attestation is required")?;
    let v = verify::verify_path(bundle, &limits, Keep::Documents)?;
    let r = &v.report;
    match a.format {
        ReportFormat::Json => print_json(r)?,
        ReportFormat::Human => {
            if r.valid {
                println!(
                    "{}: valid (run {}, {} members, {} bytes decompressed, {})",
                    r.bundle,
                    r.run_id.as_deref().unwrap_or("?"),
                    r.members.len(),
                    r.decompressed_bytes,
                    r.bundle_sha256.as_deref().unwrap_or("?")
                );
            } else {
                for p in &r.problems {
                    println!("{}: {}: {}: {}", r.bundle, p.member, p.code, p.message);
                }
                eprintln!(
                    "assay-runner: {} is not a valid bundle ({} problem(s))",
                    r.bundle,
                    r.problems.len()
                );
            }
        }
    }
    Ok(if r.valid {
        Exit::Ok.code()
    } else {
        Exit::Failed.code()
    })
}

fn failed_diff(base: Side, head: Side, note: String) -> CapabilityDiff {
    CapabilityDiff {
        schema: capability_diff::SCHEMA.into(),
        run_id: head.run_id.clone(),
        status: DiffStatus::Failed,
        changed: false,
        base,
        head,
        categories: Vec::new(),
        golden_lines: Vec::new(),
        explanations: Vec::new(),
        notes: vec![note],
    }
}

/// A side of a diff as named on the command line, before its evidence is read.
fn side(kind: SideKind, path: &std::path::Path) -> Side {
    Side {
        kind,
        source: path.display().to_string(),
        run_id: String::new(),
        health_clean: false,
    }
}

/// `assay-runner diff (--golden FILE | --base BUNDLE) HEAD_BUNDLE`.
pub fn diff(a: DiffArgs) -> anyhow::Result<i32> {
    let limits = Limits::default();
    let head_side = side(SideKind::Bundle, &a.head);
    let base = base(&a, &limits, &head_side)?;
    let head = match verify::evidence(&a.head, &limits, Keep::All) {
        Ok(ev) => ev,
        Err(e) => {
            if a.format == DiffFormat::Json {
                print_json(&failed_diff(
                    base.side,
                    head_side,
                    "head-invalid: the head bundle does not verify".into(),
                ))?;
            }
            return Err(e.into());
        }
    };
    let head_side = Side {
        run_id: head.surface.run_id.clone(),
        health_clean: diff::health_clean(&head.health),
        ..head_side
    };
    let explained = crate::explain::from_members(&head.surface, &head.verified.kept)
        .with_context(|| format!("cannot explain {}", a.head.display()))?;
    let mut d = diff::diff(
        base.side,
        &base.surface,
        head_side,
        &head.surface,
        base.golden.as_ref(),
    );
    diff::explain_changes(&mut d, Some(&explained), base.explained.as_deref());
    match a.format {
        DiffFormat::Json => print_json(&d)?,
        DiffFormat::Human => print!("{}", diff::human(&d)),
        DiffFormat::Markdown => print!("{}", diff::markdown(&d)),
    }
    Ok(if d.changed {
        Exit::Failed.code()
    } else {
        Exit::Ok.code()
    })
}

/// The base side of a diff, read.
struct Base {
    side: Side,
    surface: crate::contracts::surface::CapabilitySurface,
    golden: Option<diff::Golden>,
    /// Its entries explained (a bundle; a golden holds no witnesses).
    explained: Option<Vec<crate::explain::Explanation>>,
}

/// The base of a diff: the golden (`--golden`, parsed in canonical form) or the base bundle,
/// verified as hostile input (with `--format json`, a bundle that does not verify is also
/// reported as a failed diff against `head_side`).
fn base(a: &DiffArgs, limits: &Limits, head_side: &Side) -> anyhow::Result<Base> {
    if let Some(g) = &a.golden {
        let text = crate::fsutil::read_bounded(g, 64 << 20)
            .with_context(|| format!("cannot read golden {}", g.display()))?;
        let text = String::from_utf8(text)
            .map_err(|_| anyhow::anyhow!("{}:1:1: golden is not UTF-8", g.display()))?;
        let golden = diff::parse_golden(&g.display().to_string(), &text)?;
        let s = Side {
            run_id: golden.surface.run_id.clone(),
            health_clean: true,
            ..side(SideKind::Golden, g)
        };
        return Ok(Base {
            side: s,
            surface: golden.surface.clone(),
            golden: Some(golden),
            explained: None,
        });
    }
    let b = a.base.as_deref().unwrap_or(std::path::Path::new("-"));
    match verify::evidence(b, limits, Keep::All) {
        Ok(ev) => Ok(Base {
            side: Side {
                run_id: ev.surface.run_id.clone(),
                health_clean: diff::health_clean(&ev.health),
                ..side(SideKind::Bundle, b)
            },
            explained: Some(
                crate::explain::from_members(&ev.surface, &ev.verified.kept)
                    .with_context(|| format!("cannot explain {}", b.display()))?,
            ),
            surface: ev.surface,
            golden: None,
        }),
        Err(e) => {
            if a.format == DiffFormat::Json {
                print_json(&failed_diff(
                    side(SideKind::Bundle, b),
                    head_side.clone(),
                    "base-invalid: the base bundle does not verify".into(),
                ))?;
            }
            Err(e.into())
        }
    }
}

/// `assay-runner cross-diff BASE HEAD`.
pub fn cross_diff(a: super::args::CrossDiffArgs) -> anyhow::Result<i32> {
    use crate::contracts::cross_runtime_diff::CrossStatus;
    let d = crate::crossdiff::cross_diff(&a.base, &a.head)?;
    match a.format {
        DiffFormat::Json => print_json(&d)?,
        DiffFormat::Human => print!("{}", crate::crossdiff::human(&d)),
        DiffFormat::Markdown => print!("{}", crate::crossdiff::markdown(&d)),
    }
    Ok(match d.status {
        CrossStatus::Same => Exit::Ok.code(),
        CrossStatus::Different => Exit::Failed.code(),
        CrossStatus::Inconclusive => Exit::Inconclusive.code(),
    })
}

/// `assay-runner schema [NAME]`.
pub fn schema(a: SchemaArgs) -> anyhow::Result<i32> {
    match a.name {
        None => {
            for c in CONTRACTS {
                println!(
                    "{:<20} {:<40} {}",
                    c.name,
                    c.id,
                    if c.members.is_empty() {
                        "(command output)".to_string()
                    } else {
                        c.members.join(", ")
                    }
                );
            }
            Ok(Exit::Ok.code())
        }
        Some(n) => match Contract::find(&n) {
            Some(c) => {
                print!("{}", c.published);
                Ok(Exit::Ok.code())
            }
            None => {
                let names: Vec<&str> = CONTRACTS.iter().map(|c| c.name).collect();
                anyhow::bail!(
                    "unknown contract `{n}`; expected one of: {}",
                    names.join(", ")
                )
            }
        },
    }
}
