//! The git plumbing lanes needs: changed files between two revisions (via their merge base, as
//! `base...head`), the config blob at a revision, and PR SHAs from an event payload.
//!
//! Shallow clones (CI's default) are handled: a missing merge base triggers `git fetch --deepen`
//! in growing steps, then `--unshallow`; if history is still missing, the error says exactly which
//! commits are absent and how to fetch them.
//! Imports: `crate::changes`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::changes::{self, ChangedPath};

/// Errors from git or from the event payload.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// git exited non-zero.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// git's stderr, trimmed.
        stderr: String,
    },
    /// A revision is not in this clone.
    #[error(
        "commit `{rev}` is not in this clone; fetch it (e.g. `{fetch}`) or check out with full history (actions/checkout with fetch-depth: 0)"
    )]
    MissingRevision {
        /// The revision.
        rev: String,
        /// A fetch command that brings it.
        fetch: String,
    },
    /// No merge base even after deepening.
    #[error("no merge base between `{base}` and `{head}`: {why}")]
    NoMergeBase {
        /// Base revision.
        base: String,
        /// Head revision.
        head: String,
        /// What is missing and how to fix it.
        why: String,
    },
    /// git printed a change list we cannot parse.
    #[error("cannot parse `git diff` output: {0}")]
    Parse(#[from] changes::ChangesError),
    /// Event payload problems.
    #[error("{path}: {why}")]
    Event {
        /// The payload file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Runs git in `dir`.
fn git<I, S>(dir: &Path, args: I) -> Result<Output, GitError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(GitError::Spawn)
}

fn git_ok(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = git(dir, args)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn has_commit(dir: &Path, rev: &str) -> Result<bool, GitError> {
    let spec = format!("{rev}^{{commit}}");
    Ok(git(
        dir,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
    )?
    .status
    .success())
}

fn is_shallow(dir: &Path) -> Result<bool, GitError> {
    Ok(git_ok(dir, &["rev-parse", "--is-shallow-repository"])?.trim_ascii() == b"true")
}

fn remote(dir: &Path) -> Option<String> {
    let out = git(dir, ["remote"]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let names: Vec<&str> = text.lines().collect();
    if names.contains(&"origin") {
        Some("origin".into())
    } else {
        names.first().map(|s| s.to_string())
    }
}

fn ensure_commit(dir: &Path, rev: &str) -> Result<(), GitError> {
    if has_commit(dir, rev)? {
        return Ok(());
    }
    if let Some(remote) = remote(dir) {
        let _ = git(dir, ["fetch", "--no-tags", "--quiet", &remote, rev]);
        if has_commit(dir, rev)? {
            return Ok(());
        }
    }
    Err(GitError::MissingRevision {
        rev: rev.to_string(),
        fetch: fetch_hint(rev),
    })
}

/// The `git fetch` that brings `rev`: a remote-tracking name `REMOTE/BRANCH` is fetched as the
/// branch from its remote (`git fetch origin main`, which updates `origin/main`), anything else
/// (a SHA, a tag, a branch) from `origin` as it is.
pub fn fetch_hint(rev: &str) -> String {
    let rev = rev.strip_prefix("refs/remotes/").unwrap_or(rev);
    match rev.split_once('/') {
        Some((remote, branch))
            if !remote.is_empty()
                && !branch.is_empty()
                && !remote.starts_with("refs")
                && remote
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            format!("git fetch {remote} {branch}")
        }
        _ => format!("git fetch origin {rev}"),
    }
}

fn merge_base(dir: &Path, base: &str, head: &str) -> Result<Option<String>, GitError> {
    let out = git(dir, ["merge-base", "--end-of-options", base, head])?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Finds the merge base of `base` and `head`, deepening a shallow clone as needed.
pub fn merge_base_deepening(dir: &Path, base: &str, head: &str) -> Result<String, GitError> {
    ensure_commit(dir, base)?;
    ensure_commit(dir, head)?;
    if let Some(mb) = merge_base(dir, base, head)? {
        return Ok(mb);
    }
    if !is_shallow(dir)? {
        return Err(GitError::NoMergeBase {
            base: base.into(),
            head: head.into(),
            why: "the two commits share no history (unrelated branches)".into(),
        });
    }
    let Some(remote) = remote(dir) else {
        return Err(GitError::NoMergeBase {
            base: base.into(),
            head: head.into(),
            why: "the clone is shallow and has no remote to deepen from; clone with full history"
                .into(),
        });
    };
    for step in ["--deepen=50", "--deepen=500", "--unshallow"] {
        let _ = git(
            dir,
            ["fetch", "--no-tags", "--quiet", step, &remote, base, head],
        );
        if let Some(mb) = merge_base(dir, base, head)? {
            return Ok(mb);
        }
        if !is_shallow(dir)? {
            break;
        }
    }
    Err(GitError::NoMergeBase {
        base: base.into(),
        head: head.into(),
        why: format!(
            "the clone is shallow and fetching more history from `{remote}` did not reach a common ancestor; \
             the history between the two commits is missing (use `fetch-depth: 0` with actions/checkout, \
             or `git fetch --unshallow {remote}`)"
        ),
    })
}

/// Changed paths between the merge base of `base` and `head`, and `head` (`git diff base...head`).
pub fn changed_paths(dir: &Path, base: &str, head: &str) -> Result<Vec<ChangedPath>, GitError> {
    let mb = merge_base_deepening(dir, base, head)?;
    let out = git_ok(
        dir,
        &[
            "-c",
            "core.quotePath=false",
            "diff",
            "--name-status",
            "-z",
            "-M",
            "--no-color",
            "--no-ext-diff",
            &mb,
            head,
            "--",
        ],
    )?;
    if out.is_empty() {
        return Ok(Vec::new());
    }
    Ok(changes::parse(&out)?)
}

/// Reads `path` (relative to the current directory, as `git show REV:./PATH`) at `rev`.
pub fn show_file(dir: &Path, rev: &str, path: &Path) -> Result<Vec<u8>, GitError> {
    ensure_commit(dir, rev)?;
    let rel = path.to_string_lossy();
    let spec = if path.is_absolute() {
        let top = git_ok(dir, &["rev-parse", "--show-toplevel"])?;
        let top = PathBuf::from(String::from_utf8_lossy(top.trim_ascii()).into_owned());
        let inner = path.strip_prefix(&top).map_err(|_| GitError::Failed {
            args: format!("show {rev}:{rel}"),
            stderr: format!("{rel} is outside the repository {}", top.display()),
        })?;
        format!("{rev}:{}", inner.to_string_lossy())
    } else {
        format!("{rev}:./{}", rel.trim_start_matches("./"))
    };
    git_ok(dir, &["show", &spec])
}

/// Base and head SHAs of a `pull_request` (or `pull_request_target`) event payload.
pub fn event_shas(path: &Path) -> Result<(String, String), GitError> {
    let ev = |why: String| GitError::Event {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read(path).map_err(|e| ev(format!("cannot read event payload: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        ev(format!(
            "line {} column {}: not valid JSON: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let sha = |side: &str| -> Result<String, GitError> {
        let s = v
            .pointer(&format!("/pull_request/{side}/sha"))
            .and_then(|s| s.as_str())
            .ok_or_else(|| {
                ev(format!(
                    "no `pull_request.{side}.sha` string; expected a pull_request event payload"
                ))
            })?;
        if s.len() < 7 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ev(format!(
                "`pull_request.{side}.sha` is `{s}`, expected a hex commit SHA"
            )));
        }
        Ok(s.to_string())
    };
    Ok((sha("base")?, sha("head")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetch_hint_names_a_refspec_that_exists() {
        assert_eq!(fetch_hint("origin/main"), "git fetch origin main");
        assert_eq!(
            fetch_hint("refs/remotes/up/release/1"),
            "git fetch up release/1"
        );
        assert_eq!(fetch_hint("0123abcd"), "git fetch origin 0123abcd");
        assert_eq!(fetch_hint("v1.2.3"), "git fetch origin v1.2.3");
    }
}
