//! Shared helpers for integration tests: the GitHub REST simulator (`tests/github-sim/`), and
//! the root check of the tests that load real eBPF.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A running simulator, killed on drop.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Simulator {
    /// Starts the simulator, or returns `None` (after saying why) when it is not installed.
    pub fn start(test: &str) -> Option<Simulator> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/github-sim");
        let required = std::env::var("ASSAY_REQUIRE_GITHUB_SIM").as_deref() == Ok("1");
        if !dir
            .join("node_modules/@simulacrum/github-api-simulator")
            .exists()
        {
            assert!(
                !required,
                "{test}: the GitHub simulator is not installed (run scripts/setup)"
            );
            eprintln!("{test}: skipped: GitHub simulator not installed (run scripts/setup)");
            return None;
        }
        let mut child = Command::new("node")
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

/// Whether a test that loads real eBPF can run: as root. Otherwise it is skipped (saying so),
/// unless `ASSAY_REQUIRE_KERNEL=1`, where not being root fails it.
pub fn kernel_ok(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("ASSAY_REQUIRE_KERNEL").as_deref() != Ok("1"),
            "{test}: ASSAY_REQUIRE_KERNEL=1 but not running as root"
        );
        eprintln!("SKIPPED {test}: kernel tests need root (run scripts/test as root)");
        return false;
    }
    true
}
