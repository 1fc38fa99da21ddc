//! `mcp-wrap`: resolve the work dir, the decision log and the run id from flags and the
//! environment, load the policy, run the proxy on this process's stdin/stdout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::args::{CallsArg, McpWrapArgs};
use crate::exit::Exit;
use crate::policy::Policy;
use crate::policy::wrap::{self, CallOrder, ClientIo, WrapConfig, WrapError};

fn absolute(p: &Path) -> anyhow::Result<String> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(p)
    };
    p.to_str()
        .map(str::to_string)
        .with_context(|| format!("work dir {} is not valid UTF-8", p.display()))
}

pub fn run(a: McpWrapArgs) -> anyhow::Result<i32> {
    let work = match (&a.work_dir, std::env::var_os("ASSAY_WORK_DIR")) {
        (Some(w), _) => w.clone(),
        (None, Some(w)) if !w.is_empty() => PathBuf::from(w),
        _ => PathBuf::from("."),
    };
    let work = absolute(&work)?;
    let Some(policy_path) = a.policy.clone().or_else(|| {
        std::env::var_os("ASSAY_POLICY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }) else {
        eprintln!("assay-runner: mcp-wrap: no policy: pass --policy FILE (or set $ASSAY_POLICY)");
        return Ok(Exit::Error.code());
    };
    let policy = match Policy::load(&policy_path, &work) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Exit::Error.code());
        }
    };
    let decision_log = a.decision_log.clone().or_else(|| {
        std::env::var_os("ASSAY_POLICY_LOG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let measured = std::env::var("ASSAY_RUN_ID").ok().filter(|v| !v.is_empty());
    let calls = match (a.calls, std::env::var("ASSAY_MCP_CALLS").ok().as_deref()) {
        (Some(CallsArg::OneAtATime), _) | (None, Some("one-at-a-time")) => CallOrder::OneAtATime,
        (Some(CallsArg::Concurrent), _) | (None, Some("concurrent")) => CallOrder::Concurrent,
        (None, None | Some("")) if measured.is_some() => CallOrder::OneAtATime,
        (None, None | Some("")) => CallOrder::Concurrent,
        (None, Some(other)) => {
            anyhow::bail!("ASSAY_MCP_CALLS is {other:?}; expected `one-at-a-time` or `concurrent`")
        }
    };
    let run_id = measured.unwrap_or_else(|| "standalone".into());
    if a.max_message_bytes == 0 {
        anyhow::bail!("--max-message-bytes must be at least 1");
    }
    let cfg = WrapConfig {
        policy,
        command: a.command,
        decision_log,
        run_id,
        max_message_bytes: a.max_message_bytes,
        shutdown_grace: Duration::from_millis(a.shutdown_grace_ms),
        calls,
    };
    let io = ClientIo {
        input: Box::new(std::io::stdin()),
        output: Box::new(std::io::stdout()),
        note: Arc::new(|s: &str| eprintln!("{s}")),
    };
    match wrap::run(cfg, io) {
        Ok(end) => Ok(end.exit_code),
        Err(WrapError::Spawn { program, source }) => {
            eprintln!("assay-runner: mcp-wrap: cannot start the server `{program}`: {source}");
            Ok(match source.kind() {
                std::io::ErrorKind::NotFound => Exit::NotFound.code(),
                std::io::ErrorKind::PermissionDenied => Exit::CannotExec.code(),
                _ => Exit::RunnerError.code(),
            })
        }
        Err(e @ WrapError::WriteLog { .. }) => {
            eprintln!("assay-runner: mcp-wrap: {e}");
            Ok(Exit::RunnerError.code())
        }
        Err(e) => Err(e.into()),
    }
}
