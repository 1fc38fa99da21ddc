//! The command line: clap definitions, dispatch, and the mapping of outcomes to exit codes.
//!
//! Thin by design: parse arguments, call the library, render, pick an exit code. This is the
//! only module that prints to stdout/stderr or uses `anyhow`.

mod args;
mod demo;
mod evidence_cmd;
mod lanes_cmd;
mod mcp_wrap_cmd;
mod prove_cmd;
mod report_cmd;
mod run_cmd;

use clap::Parser;

pub use args::{Cli, Command};

use crate::exit::Exit;

/// Whether this process runs as a GitHub Actions step: its stdout and stderr are the job log,
/// where a line `::command::` is a workflow command.
fn in_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Prints text that holds what the change under test wrote or named (a measured command's
/// output, surface entries, diffs) to stdout. In GitHub Actions it is fenced by
/// `::stop-commands::` with a token made now — after every process of the measured run is gone,
/// so nothing it ran can know the token and end the fence — and nothing inside it can speak for
/// the runner (forge annotations, notices, masks or outputs).
fn print_untrusted(text: &str) {
    write_untrusted(&mut std::io::stdout().lock(), text);
}

/// [`print_untrusted`] to stderr.
fn eprint_untrusted(text: &str) {
    write_untrusted(&mut std::io::stderr().lock(), text);
}

fn write_untrusted(out: &mut dyn std::io::Write, text: &str) {
    if text.is_empty() {
        return;
    }
    let fenced = match in_actions() {
        true => match crate::report::commands::stop_token() {
            Ok(t) => crate::report::commands::guarded(text, &t),
            // no token, no text: a log that could carry commands is not printed at all
            Err(e) => format!("(output withheld: no random token for ::stop-commands:: ({e}))\n"),
        },
        false => text.to_string(),
    };
    let _ = out.write_all(fenced.as_bytes());
    let _ = out.flush();
}

/// Entry point: parses `std::env::args` and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok.code()
                }
                _ => Exit::Error.code(),
            };
        }
    };
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assay-runner: error: {e:#}");
            Exit::Error.code()
        }
    }
}

fn dispatch(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Lanes(l) => lanes_cmd::run(l),
        Command::Run(a) => run_cmd::run(a),
        Command::Prove(a) => prove_cmd::prove(a),
        Command::Verify(a) => evidence_cmd::verify(a),
        Command::Attest(a) => evidence_cmd::attest(a),
        Command::Explain(a) => evidence_cmd::explain(a),
        Command::Diff(a) => evidence_cmd::diff(a),
        Command::Golden(args::GoldenCommand::Accept(a)) => prove_cmd::accept(a),
        Command::CrossDiff(a) => evidence_cmd::cross_diff(a),
        Command::McpWrap(a) => mcp_wrap_cmd::run(a),
        Command::Report(a) => report_cmd::report(a),
        Command::Schema(a) => evidence_cmd::schema(a),
        Command::Doctor(a) => run_cmd::doctor(a),
        Command::Demo(a) => demo::run(a),
    }
}
