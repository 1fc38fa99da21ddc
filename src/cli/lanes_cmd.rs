//! `assay-runner lanes ...`: load the config (work tree or git ref), run, render, exit code.

use std::io::Read as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::args::{ClassifyArgs, ConfigArgs, Format, LanesCommand};
use crate::exit::Exit;
use crate::lanes::{LanesConfig, changes, git, render, selftest};

pub fn run(cmd: LanesCommand) -> anyhow::Result<i32> {
    match cmd {
        LanesCommand::Classify(a) => classify(a),
        LanesCommand::SelfTest(a) => {
            let (config, _) = load(&a.config)?;
            let root = match a.root {
                Some(r) => r,
                None => git_toplevel(&a.config.repo).unwrap_or_else(|| a.config.repo.clone()),
            };
            let report = selftest::run(&config, &root)?;
            print!("{}", render::self_test(&config, &report));
            Ok(if report.passed() {
                Exit::Ok.code()
            } else {
                Exit::Failed.code()
            })
        }
        LanesCommand::Explain(a) => {
            let (config, _) = load(&a.config)?;
            for p in &a.paths {
                let bytes = p.as_bytes();
                print!(
                    "{}",
                    render::explanation(&config, bytes, &config.explain(bytes))
                );
            }
            Ok(Exit::Ok.code())
        }
    }
}

/// Loads and validates the lanes file; returns it with the name used in messages.
fn load(a: &ConfigArgs) -> anyhow::Result<(LanesConfig, String)> {
    load_at(a, a.config_from_ref.as_deref())
}

/// Loads the lanes file from git at `rev`, or from the work tree when `None`.
fn load_at(a: &ConfigArgs, rev: Option<&str>) -> anyhow::Result<(LanesConfig, String)> {
    let (name, bytes) = match rev {
        Some(rev) => {
            let name = format!("{}@{rev}", a.config.display());
            let bytes = git::show_file(&a.repo, rev, &a.config)
                .with_context(|| format!("cannot read {} at {rev}", a.config.display()))?;
            (name, bytes)
        }
        None => {
            let name = a.config.display().to_string();
            let bytes = std::fs::read(&a.config)
                .with_context(|| format!("cannot read lanes file {name}"))?;
            (name, bytes)
        }
    };
    let config = LanesConfig::parse(&name, &bytes)?;
    Ok((config, name))
}

fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(std::ffi::OsStr::from_bytes(out.stdout.trim_ascii())))
}

fn classify(a: ClassifyArgs) -> anyhow::Result<i32> {
    let event = a.event.as_ref().map(|ev| git::event_shas(ev)).transpose()?;
    let base = event
        .as_ref()
        .map(|(b, _)| b.as_str())
        .or(a.base.as_deref());
    let rev = if a.config_from_base {
        Some(base.context("--config-from-base needs --base or --event")?)
    } else {
        a.config.config_from_ref.as_deref()
    };
    let (config, name) = load_at(&a.config, rev)?;
    let changes = if let Some(f) = &a.files {
        let mut buf = Vec::new();
        if f.as_os_str() == "-" {
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read changed files from stdin")?;
        } else {
            buf = std::fs::read(f)
                .with_context(|| format!("cannot read changed files from {}", f.display()))?;
        }
        let label = if f.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            f.display().to_string()
        };
        changes::parse(&buf).with_context(|| format!("{label}: bad change list"))?
    } else if let Some((base, head)) = &event {
        git::changed_paths(&a.config.repo, base, head)?
    } else if let (Some(base), Some(head)) = (&a.base, &a.head) {
        git::changed_paths(&a.config.repo, base, head)?
    } else {
        bail!("give one of --files, --base/--head or --event");
    };
    let decision = config.classify(&changes);
    let contract = render::contract(&config, &name, &decision);
    // One buffered writer, row by row: at 100k files the output must not be built in memory.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match a.format {
        Format::Human => render::write_human(&mut out, &contract)?,
        Format::Json => render::write_json(&mut out, &contract)?,
        Format::Github => {
            render::write_human(&mut out, &contract)?;
            if let Some(out) = std::env::var_os("GITHUB_OUTPUT") {
                let files = serde_json::to_string(&contract.files)?;
                crate::fsutil::append(Path::new(&out), &render::github_outputs(&contract, &files))
                    .with_context(|| {
                        format!(
                            "cannot append to $GITHUB_OUTPUT ({})",
                            Path::new(&out).display()
                        )
                    })?;
            }
            if let Some(sum) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                crate::fsutil::append(Path::new(&sum), &render::step_summary(&contract, 50))
                    .with_context(|| {
                        format!(
                            "cannot append to $GITHUB_STEP_SUMMARY ({})",
                            Path::new(&sum).display()
                        )
                    })?;
            }
        }
    }
    std::io::Write::flush(&mut out)?;
    // The process ends right after this: freeing 100k rows one by one would cost a fifth of
    // the run, and the kernel reclaims the memory at once.
    std::mem::forget((contract, decision, changes, config));
    Ok(Exit::Ok.code())
}
