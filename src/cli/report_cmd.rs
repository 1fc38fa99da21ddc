//! `report`: merge verdict files and publish them on the selected channels.

use std::time::Duration;

use anyhow::Context as _;

use super::args::ReportArgs;
use crate::contracts::verdict::Verdict;
use crate::exit::Exit;
use crate::report::check_run::{self, CheckRunError, Client, Request, Retry};
use crate::report::{self, commands, github, markdown};

/// Why no check run was written although one was asked for.
enum NoCheckRun {
    /// The token cannot write (fork PR, no token, 403): fall back, exit per verdict.
    ReadOnly(String),
    /// Anything else: fall back, then exit 2.
    Failed(anyhow::Error),
}

/// The verdict of a lane whose proofs file requires no proof.
fn no_proofs_required(
    proofs: &std::path::Path,
    lane: &str,
) -> anyhow::Result<crate::contracts::verdict::ProofSetVerdict> {
    let p = crate::proofs::Proofs::load(proofs)?;
    let required = p
        .for_lane(lane)
        .map_err(|e| anyhow::anyhow!("--lane {lane}: {e}"))?;
    if !required.is_empty() {
        anyhow::bail!(
            "lane `{lane}` requires proofs ({}) in {}, but no verdict file was given; \
             run `assay-runner prove --lane {lane}` and pass its verdict.json",
            required
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            proofs.display()
        );
    }
    Ok(crate::prove::set_verdict(
        &format!("lane:{lane}"),
        Some(lane),
        Vec::new(),
    ))
}

/// `report`: the merged verdict ([`verdicts`]), its Markdown, then each selected channel: the
/// check run ([`publish_check_run`]), then the step summary, annotations and outputs
/// ([`local_channels`]), which also carry the verdict when the check run could not.
pub fn report(a: ReportArgs) -> anyhow::Result<i32> {
    let env = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
    let (v, approval_note) = verdicts(&a, &env)?;
    let annotations = report::annotations(&v, &a.path_prefix);
    let mut full = markdown::report(&v, &a.name, a.inconclusive_conclusion);
    if let Some(why) = &approval_note {
        full = format!(
            "> **Approvals could not be read** ({}): proofs that need approval stay red.\n\n{full}",
            why.replace('\n', " ")
        );
    }
    if let Some(p) = &a.verdict_out {
        let mut b = serde_json::to_vec_pretty(&v)?;
        b.push(b'\n');
        crate::fsutil::write_atomic(p, &b)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &a.html {
        report::html::write(&v, p).with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(p) = &a.markdown_out {
        crate::fsutil::write_atomic(p, full.as_bytes())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    let overrides = github::Overrides {
        api_url: a.api_url.clone(),
        repository: a.repo.clone(),
        head_sha: a.head_sha.clone(),
        event: a.event.clone(),
    };
    let run_url = github::context(&env, &overrides)
        .ok()
        .and_then(|c| c.run_url);
    let full_at = match (&run_url, &a.markdown_out) {
        (Some(u), _) => format!("in the `assay-report` artifact of [this workflow run]({u})"),
        (None, Some(p)) => format!("`{}`", p.display()),
        (None, None) => "printed by `assay-runner report` without options".into(),
    };

    let (fallback, failure) = match a.check_run {
        true => publish_check_run(&a, &env, &overrides, &v, &annotations, &full, &full_at)?,
        false => (None, None),
    };
    let stdout = local_channels(&a, &env, &v, &annotations, &full, &full_at, fallback)?;
    print!("{stdout}");
    if let Some(e) = failure
        && a.require_check_run
    {
        eprintln!("assay-runner: error (--require-check-run): {e:#}");
        return Ok(Exit::Error.code());
    }
    Ok(report::exit_code(v.verdict, a.inconclusive_conclusion))
}

/// The merged verdict of the verdict files (or of a lane that needs no proof), with the
/// approvals applied when proofs need one; the second value says why approvals could not be
/// read (then those proofs stay red).
fn verdicts(
    a: &ReportArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(crate::contracts::verdict::ProofSetVerdict, Option<String>)> {
    let mut v = match (&a.proofs, &a.lane) {
        (Some(p), Some(lane)) if a.verdicts.is_empty() => no_proofs_required(p, lane)?,
        _ => report::load(&a.verdicts)?,
    };
    if v.lane.is_none() {
        v.lane = a.lane.clone();
    }
    let mut approval_note = None;
    if a.approval == super::args::Approvers::Write
        && v.proofs.iter().any(|p| p.verdict == Verdict::NeedsApproval)
    {
        match approvals(a, env, &v) {
            Ok(list) => report::apply_approvals(&mut v, &list),
            Err(e) => {
                eprintln!("assay-runner: warning: the approvals could not be read: {e:#}");
                approval_note = Some(format!("{e:#}"));
            }
        }
    }
    Ok((v, approval_note))
}

/// Posts the check run and says so in the log. Returns why the other channels must carry the
/// verdict instead (a read-only token or a failure), and the failure itself, which
/// `--require-check-run` turns into exit 2.
fn publish_check_run(
    a: &ReportArgs,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &github::Overrides,
    v: &crate::contracts::verdict::ProofSetVerdict,
    annotations: &[report::Annotation],
    full: &str,
    full_at: &str,
) -> anyhow::Result<(Option<String>, Option<anyhow::Error>)> {
    match check_run(a, env, overrides, v, annotations, full, full_at)? {
        Ok(p) => {
            eprintln!(
                "assay-runner: check run `{}` {} ({} requests, {} annotations): {}",
                a.name,
                p.id,
                p.requests,
                annotations.len(),
                p.html_url.as_deref().unwrap_or("(no html_url)")
            );
            Ok((None, None))
        }
        Err(NoCheckRun::ReadOnly(why)) => {
            eprintln!(
                "assay-runner: no check run: {why}; falling back to the step summary, annotations and exit code"
            );
            Ok((Some(why), None))
        }
        Err(NoCheckRun::Failed(e)) => {
            // The verdict, not the transport, decides the exit code; a missing check run is
            // a warning in the log and the summary (`--require-check-run` makes it exit 2).
            eprintln!("assay-runner: warning: the check run could not be written: {e:#}");
            if in_actions_env(env) {
                println!(
                    "::warning title=assay-runner::the check run could not be written; the verdict is in the step summary and this job's exit code"
                );
            }
            Ok((
                Some("the check run could not be written (see the job log)".into()),
                Some(e),
            ))
        }
    }
}

/// The annotations, the step summary and the outputs (each when selected, the first two also
/// as the fallback of a check run that was not written): appended to the GitHub files, or
/// returned for stdout (guarded against workflow commands in Actions). The full report goes to
/// stdout when no channel was selected.
fn local_channels(
    a: &ReportArgs,
    env: &dyn Fn(&str) -> Option<String>,
    v: &crate::contracts::verdict::ProofSetVerdict,
    annotations: &[report::Annotation],
    full: &str,
    full_at: &str,
    fallback: Option<String>,
) -> anyhow::Result<String> {
    let in_actions = in_actions_env(env);
    let mut stdout = String::new();
    if a.annotations || fallback.is_some() {
        stdout.push_str(&commands::annotation_lines(annotations));
    }
    let mut printed_report = false;
    if a.step_summary || fallback.is_some() {
        let mut text = String::new();
        if let Some(why) = &fallback {
            text.push_str(&format!(
                "> **No check run was written** ({}): the verdict below is also this job's exit code.\n\n",
                why.replace('\n', " ")
            ));
        }
        text.push_str(full);
        let text = markdown::truncate(
            &text,
            markdown::STEP_SUMMARY_BYTES,
            markdown::bytes,
            full_at,
        );
        match env("GITHUB_STEP_SUMMARY") {
            Some(p) => crate::fsutil::append(p.as_ref(), &text)
                .with_context(|| format!("cannot append to $GITHUB_STEP_SUMMARY ({p})"))?,
            None => {
                stdout.push_str(&guard(&text, in_actions)?);
                printed_report = true;
            }
        }
    }
    if a.outputs {
        let lines = github::outputs(
            v.lane.as_deref(),
            report::verdict_word(v.verdict),
            &report::bundles(v),
        );
        match env("GITHUB_OUTPUT") {
            Some(p) => crate::fsutil::append(p.as_ref(), &lines)
                .with_context(|| format!("cannot append to $GITHUB_OUTPUT ({p})"))?,
            None => stdout.push_str(&guard(&lines, in_actions)?),
        }
    }
    let any_channel = a.check_run || a.step_summary || a.annotations || a.outputs;
    if !any_channel && !printed_report {
        stdout.push_str(&guard(full, in_actions)?);
    }
    Ok(stdout)
}

fn in_actions_env(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// The approvals that count for the proofs needing one (report/approval.rs): read on the base
/// repository's terms with the job's token — reviews of the PR, then each candidate's
/// permission.
fn approvals(
    a: &ReportArgs,
    env: &dyn Fn(&str) -> Option<String>,
    v: &crate::contracts::verdict::ProofSetVerdict,
) -> anyhow::Result<Vec<(String, report::approval::Approval)>> {
    let overrides = github::Overrides {
        api_url: a.api_url.clone(),
        repository: a.repo.clone(),
        head_sha: a.head_sha.clone(),
        event: a.event.clone(),
    };
    let ctx = github::context(env, &overrides)?;
    let pr = ctx
        .pull_request
        .context("the event names no pull request, so there is no review to approve with")?;
    let token = env(&a.token_env).with_context(|| format!("no token in ${}", a.token_env))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let approved = rt.block_on(async {
        let c = Client::new(
            &ctx.api_url,
            &ctx.owner,
            &ctx.repo,
            &token,
            Retry {
                attempts: a.attempts.max(1),
                base: Duration::from_millis(a.retry_base_ms),
                ..Retry::default()
            },
            Duration::from_secs(a.timeout_secs.max(1)),
        )?;
        let reviews = c.reviews(pr).await?;
        for cand in report::approval::candidates(&reviews, &ctx.head_sha, ctx.author.as_deref()) {
            if report::approval::may_approve(&c.permission(&cand.login).await?) {
                return Ok::<_, CheckRunError>(Some(cand));
            }
        }
        Ok(None)
    })?;
    Ok(match approved {
        Some(ap) => v
            .proofs
            .iter()
            .filter(|p| p.verdict == Verdict::NeedsApproval)
            .map(|p| (p.name.clone(), ap.clone()))
            .collect(),
        None => Vec::new(),
    })
}

/// Text from the change under test, fenced from the runner's command parser in Actions.
fn guard(text: &str, in_actions: bool) -> anyhow::Result<String> {
    if !in_actions {
        return Ok(text.to_string());
    }
    let token = commands::stop_token().context("cannot read /dev/urandom")?;
    Ok(commands::guarded(text, &token))
}

/// Posts the check run. The outer error is a usage error (no repository, bad payload); the
/// inner one says whether to fall back quietly or fail after the fallback.
#[allow(clippy::too_many_arguments)]
fn check_run(
    a: &ReportArgs,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &github::Overrides,
    v: &crate::contracts::verdict::ProofSetVerdict,
    annotations: &[report::Annotation],
    full: &str,
    full_at: &str,
) -> anyhow::Result<Result<check_run::Posted, NoCheckRun>> {
    let ctx = github::context(env, overrides)?;
    if ctx.read_only {
        return Ok(Err(NoCheckRun::ReadOnly(
            "the pull request comes from a fork, so its token is read-only".into(),
        )));
    }
    let Some(token) = env(&a.token_env) else {
        return Ok(Err(NoCheckRun::ReadOnly(format!(
            "no token in ${} (give the job `permissions: checks: write` and pass the token)",
            a.token_env
        ))));
    };
    let summary = markdown::truncate(
        full,
        markdown::CHECK_RUN_SUMMARY_CHARS,
        markdown::chars,
        full_at,
    );
    let title = report::clip(&markdown::title(v), 1000);
    let req = Request {
        name: &a.name,
        head_sha: &ctx.head_sha,
        title: &title,
        summary: &summary,
        annotations,
        conclusion: report::conclusion(v.verdict, a.inconclusive_conclusion),
        details_url: ctx.run_url.as_deref(),
        external_id: &v.run_id,
    };
    let retry = Retry {
        attempts: a.attempts.max(1),
        base: Duration::from_millis(a.retry_base_ms),
        ..Retry::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let posted = rt.block_on(async {
        let c = Client::new(
            &ctx.api_url,
            &ctx.owner,
            &ctx.repo,
            &token,
            retry,
            Duration::from_secs(a.timeout_secs.max(1)),
        )?;
        c.post(&req).await
    });
    Ok(match posted {
        Ok(p) => Ok(p),
        Err(e @ CheckRunError::Forbidden { .. }) => Err(NoCheckRun::ReadOnly(e.to_string())),
        Err(e) => Err(NoCheckRun::Failed(e.into())),
    })
}
