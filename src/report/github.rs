//! Where a report goes on GitHub: repository, head commit, API base and whether the token can
//! write, read from the Actions environment and the event payload. Pure functions over an
//! environment lookup and the payload bytes, so tests need no process environment.

use std::path::PathBuf;

use serde_json::Value;

/// Largest event payload read.
pub const MAX_EVENT_BYTES: u64 = 32 << 20;

/// What went wrong working out the GitHub context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A required variable is unset.
    #[error(
        "{0} is not set (it is set by GitHub Actions; outside Actions pass the matching option)"
    )]
    Missing(&'static str),
    /// `GITHUB_REPOSITORY` is not `owner/name`.
    #[error("repository `{0}` is not of the form owner/name")]
    BadRepository(String),
    /// The event payload could not be read.
    #[error("{path}: cannot read the event payload: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The event payload is not JSON.
    #[error("{path}:{line}:{column}: event payload is not JSON: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The payload has no head commit and none was given.
    #[error(
        "{0}: no `pull_request.head.sha` (and no `after`/`head_commit.id`) in the event payload; pass --head-sha"
    )]
    NoHeadSha(PathBuf),
}

/// Facts from the event payload that reporting needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The PR head commit (`pull_request.head.sha`), or for push-like events the pushed commit.
    pub head_sha: Option<String>,
    /// Whether the PR comes from another repository (or one since deleted): its token is
    /// read-only whatever the workflow's `permissions:` say.
    pub fork: bool,
    /// The PR number, when the event is about a PR.
    pub pull_request: Option<u64>,
    /// The PR's author (`pull_request.user.login`), who never approves their own change.
    pub author: Option<String>,
}

/// Reads what reporting needs from an event payload.
pub fn parse_event(path: &std::path::Path, bytes: &[u8]) -> Result<Event, ContextError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| ContextError::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let str_at = |ptr: &str| v.pointer(ptr).and_then(Value::as_str).map(str::to_string);
    // `workflow_run`: a trusted workflow reporting for a finished (possibly fork) run. It
    // runs with the base repository's token, so it is not read-only; the commit is the run's.
    if let Some(run) = v.get("workflow_run").filter(|r| r.is_object()) {
        return Ok(Event {
            head_sha: str_at("/workflow_run/head_sha"),
            fork: false,
            pull_request: run
                .pointer("/pull_requests/0/number")
                .and_then(Value::as_u64),
            author: None,
        });
    }
    if let Some(pr) = v.get("pull_request").filter(|p| p.is_object()) {
        let head_repo = pr.pointer("/head/repo/full_name").and_then(Value::as_str);
        let base_repo = pr.pointer("/base/repo/full_name").and_then(Value::as_str);
        // A deleted fork has `head.repo: null`; treat anything not provably the same
        // repository as a fork.
        let fork = match (head_repo, base_repo) {
            (Some(h), Some(b)) => !h.eq_ignore_ascii_case(b),
            _ => true,
        };
        return Ok(Event {
            head_sha: str_at("/pull_request/head/sha"),
            fork,
            pull_request: pr.get("number").and_then(Value::as_u64),
            author: str_at("/pull_request/user/login"),
        });
    }
    Ok(Event {
        head_sha: str_at("/after")
            .filter(|s| !s.chars().all(|c| c == '0'))
            .or_else(|| str_at("/head_commit/id")),
        fork: false,
        pull_request: None,
        author: None,
    })
}

/// The GitHub context of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// API base, e.g. `https://api.github.com` (GHES: `https://host/api/v3`).
    pub api_url: String,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// The commit the check run is attached to.
    pub head_sha: String,
    /// The token is known to be read-only (fork PR).
    pub read_only: bool,
    /// Link to this workflow run, where the full report artifact is.
    pub run_url: Option<String>,
    /// The PR number, when the event is about a PR.
    pub pull_request: Option<u64>,
    /// The PR's author.
    pub author: Option<String>,
}

/// Overrides from the command line (each wins over the environment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--api-url`.
    pub api_url: Option<String>,
    /// `--repo owner/name`.
    pub repository: Option<String>,
    /// `--head-sha`.
    pub head_sha: Option<String>,
    /// `--event PATH`.
    pub event: Option<PathBuf>,
}

/// Builds the context from the environment (`env` looks a variable up) and overrides.
/// The head commit comes from the event payload's `pull_request.head.sha` — never from
/// `GITHUB_SHA`, which on `pull_request` events is a merge commit no one reviews.
pub fn context(
    env: &dyn Fn(&str) -> Option<String>,
    o: &Overrides,
) -> Result<Context, ContextError> {
    let api_url = o
        .api_url
        .clone()
        .or_else(|| env("GITHUB_API_URL"))
        .unwrap_or_else(|| "https://api.github.com".into());
    let repository = o
        .repository
        .clone()
        .or_else(|| env("GITHUB_REPOSITORY"))
        .ok_or(ContextError::Missing("GITHUB_REPOSITORY"))?;
    let (owner, repo) = repository
        .split_once('/')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('/'))
        .ok_or_else(|| ContextError::BadRepository(repository.clone()))?;
    let event_path = o
        .event
        .clone()
        .or_else(|| env("GITHUB_EVENT_PATH").map(PathBuf::from));
    let event = match &event_path {
        Some(p) => {
            let bytes = crate::fsutil::read_bounded(p, MAX_EVENT_BYTES).map_err(|source| {
                ContextError::Io {
                    path: p.clone(),
                    source,
                }
            })?;
            parse_event(p, &bytes)?
        }
        None => Event::default(),
    };
    let head_sha = match (&o.head_sha, &event.head_sha, &event_path) {
        (Some(s), _, _) | (None, Some(s), _) => s.clone(),
        (None, None, Some(p)) => return Err(ContextError::NoHeadSha(p.clone())),
        (None, None, None) => return Err(ContextError::Missing("GITHUB_EVENT_PATH")),
    };
    let run_url = match (env("GITHUB_SERVER_URL"), env("GITHUB_RUN_ID")) {
        (Some(server), Some(id)) => Some(format!(
            "{}/{owner}/{repo}/actions/runs/{id}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    Ok(Context {
        api_url,
        owner: owner.into(),
        repo: repo.into(),
        head_sha,
        read_only: event.fork,
        run_url,
        pull_request: event.pull_request,
        author: event.author,
    })
}

/// `$GITHUB_OUTPUT` lines: `lane`, `verdict`, and `bundles` (one path per line, heredoc form
/// with a delimiter that no value contains).
pub fn outputs(lane: Option<&str>, verdict: &str, bundles: &[String]) -> String {
    let one = |s: &str| s.replace(['\n', '\r'], " ");
    let body = bundles
        .iter()
        .map(|b| one(b))
        .collect::<Vec<_>>()
        .join("\n");
    let mut delim = String::from("ASSAY_EOF");
    while body.contains(&delim) {
        delim.push('_');
    }
    format!(
        "lane={}\nverdict={verdict}\nbundles<<{delim}\n{body}\n{delim}\n",
        one(lane.unwrap_or(""))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn pr(head: &str, base: &str) -> String {
        format!(
            r#"{{"pull_request":{{"number":7,"head":{{"sha":"abc","repo":{head}}},"base":{{"sha":"def","repo":{{"full_name":"{base}"}}}}}}}}"#
        )
    }

    #[test]
    fn head_sha_and_fork_come_from_the_payload() {
        let p = Path::new("e.json");
        let same = parse_event(p, pr(r#"{"full_name":"o/r"}"#, "o/r").as_bytes()).unwrap();
        assert_eq!(
            same,
            Event {
                head_sha: Some("abc".into()),
                fork: false,
                pull_request: Some(7),
                author: None,
            }
        );
        let fork = parse_event(p, pr(r#"{"full_name":"x/r"}"#, "o/r").as_bytes()).unwrap();
        assert!(fork.fork);
        let deleted = parse_event(p, pr("null", "o/r").as_bytes()).unwrap();
        assert!(deleted.fork);
        let wr = parse_event(
            p,
            br#"{"workflow_run":{"head_sha":"fff","pull_requests":[{"number":9}]}}"#,
        )
        .unwrap();
        assert_eq!(
            (wr.head_sha.as_deref(), wr.fork, wr.pull_request),
            (Some("fff"), false, Some(9))
        );
        let push = parse_event(p, br#"{"after":"123","head_commit":{"id":"456"}}"#).unwrap();
        assert_eq!(push.head_sha.as_deref(), Some("123"));
        let e = parse_event(p, b"{\n x").unwrap_err().to_string();
        assert!(e.starts_with("e.json:2:"), "{e}");
    }

    #[test]
    fn context_never_uses_github_sha() {
        let t = tempfile::tempdir().unwrap();
        let ev = t.path().join("event.json");
        std::fs::write(&ev, pr(r#"{"full_name":"o/r"}"#, "o/r")).unwrap();
        let vars: HashMap<&str, String> = [
            ("GITHUB_REPOSITORY", "o/r".to_string()),
            ("GITHUB_EVENT_PATH", ev.display().to_string()),
            ("GITHUB_SHA", "merge-commit".into()),
            ("GITHUB_API_URL", "http://127.0.0.1:9/api/v3".into()),
            ("GITHUB_SERVER_URL", "https://github.example/".into()),
            ("GITHUB_RUN_ID", "42".into()),
        ]
        .into();
        let env = |k: &str| vars.get(k).cloned();
        let c = context(&env, &Overrides::default()).unwrap();
        assert_eq!(c.head_sha, "abc");
        assert_eq!(c.api_url, "http://127.0.0.1:9/api/v3");
        assert_eq!((c.owner.as_str(), c.repo.as_str()), ("o", "r"));
        assert_eq!(
            c.run_url.as_deref(),
            Some("https://github.example/o/r/actions/runs/42")
        );
        let o = Overrides {
            repository: Some("nope".into()),
            ..Overrides::default()
        };
        assert!(matches!(
            context(&env, &o),
            Err(ContextError::BadRepository(_))
        ));
        let none = |_: &str| None;
        assert!(matches!(
            context(&none, &Overrides::default()),
            Err(ContextError::Missing("GITHUB_REPOSITORY"))
        ));
    }

    #[test]
    fn outputs_use_a_delimiter_no_value_contains() {
        let o = outputs(
            Some("sdk"),
            "fail",
            &["a.tar.gz".into(), "ASSAY_EOF".into()],
        );
        assert_eq!(
            o,
            "lane=sdk\nverdict=fail\nbundles<<ASSAY_EOF_\na.tar.gz\nASSAY_EOF\nASSAY_EOF_\n"
        );
    }
}
