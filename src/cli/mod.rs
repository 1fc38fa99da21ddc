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

use crate::exit;

/// Entry point: parses `std::env::args` and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::ERROR,
            };
        }
    };
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("assay-runner: error: {e:#}");
            exit::ERROR
        }
    }
}

fn dispatch(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Lanes(l) => lanes_cmd::run(l),
        Command::Run(a) => run_cmd::run(a),
        Command::Prove(a) => prove_cmd::prove(a),
        Command::Verify(a) => evidence_cmd::verify(a),
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
