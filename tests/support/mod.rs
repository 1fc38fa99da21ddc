//! Shared helpers for integration tests: the GitHub REST simulator (`tests/github-sim/`), and
//! the root check of the tests that load real eBPF.
#![allow(dead_code)]

pub mod docker;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// A running simulator, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Simulator {
    /// Starts the simulator; a test that needs it fails (never skips) when it is not installed.
    pub fn start(test: &str) -> Option<Simulator> {
        Self::start_serving(test, None)
    }

    /// Starts the simulator, also serving release assets from `releases` (`TAG/ASSET` under
    /// it) at `URL/_assay/releases/download/TAG/ASSET`.
    pub fn start_serving(test: &str, releases: Option<&Path>) -> Option<Simulator> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/github-sim");
        assert!(
            dir.join("node_modules/@simulacrum/github-api-simulator")
                .exists(),
            "{test}: the GitHub simulator is not installed (run scripts/setup)"
        );
        let mut node = Command::new("node");
        if let Some(r) = releases {
            node.env("ASSAY_SIM_RELEASES", r);
        }
        let mut child = node
            .arg(dir.join("server.mjs"))
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("simulator did not start: {line:?}"))
            .to_string();
        Some(Simulator { child, url })
    }

    /// One HTTP/1.1 request; returns status and body.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let addr = self.url.strip_prefix("http://").unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp[9..12].parse().unwrap();
        let (_, body) = resp.split_once("\r\n\r\n").unwrap();
        // Chunked bodies: take the JSON between the first chunk-size line and the terminator.
        let body = match body.split_once("\r\n") {
            Some((size, rest)) if u64::from_str_radix(size.trim(), 16).is_ok() => {
                rest.rsplit_once("\r\n0\r\n").map_or(rest, |(b, _)| b)
            }
            _ => body,
        };
        (status, body.trim().to_string())
    }

    /// Every API request the simulator received.
    pub fn calls(&self) -> Vec<Value> {
        let (status, body) = self.request("GET", "/_assay/calls", None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every test that loads real eBPF is `#[ignore]`d with the reason "kernel test" — cargo
/// counts it as ignored, never as passed, in a plain `cargo test` — and `scripts/test` runs it
/// with `--include-ignored`. Once it runs it must observe: this fails it, naming what is
/// missing, on a host that cannot (not root, no kernel BTF, no cgroup2).
pub fn require_kernel() {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push(format!("root (running as uid {})", nix::unistd::geteuid()));
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        missing.push("kernel BTF (/sys/kernel/btf/vmlinux)".to_string());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if !mounts.lines().any(|l| l.contains(" - cgroup2 ")) {
        missing.push("a cgroup2 mount".to_string());
    }
    assert!(
        missing.is_empty(),
        "this kernel test cannot observe on this host: missing {} (run it as root on a host `assay-runner doctor` passes)",
        missing.join(", ")
    );
}

/// Files a test needs that `scripts/setup` builds (bundled fixtures, npm installs): missing
/// ones fail the test, naming them, instead of skipping it.
pub fn require_files(files: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing: Vec<&&str> = files.iter().filter(|f| !root.join(f).exists()).collect();
    assert!(missing.is_empty(), "missing {missing:?}: run scripts/setup");
}

/// The binary under test, run in `dir` with `args`.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}
