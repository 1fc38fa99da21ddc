//! A private Docker daemon for the tests of containers (`scripts/dockerd-private`, its own
//! containerd, the offline fixture images of `fixtures/containers/build-images`), and the
//! docker CLI they drive.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The docker CLI the tests drive: CLI 28 where the spike measured it, else the one on PATH.
pub fn docker_cli() -> Option<PathBuf> {
    let pinned = PathBuf::from("/usr/local/bin/docker");
    if pinned.exists() {
        return Some(pinned);
    }
    which("docker")
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// Fails (never skips) naming what this host lacks to run a daemon (scripts/setup installs it).
pub fn require_tools() {
    let mut missing = Vec::new();
    for tool in ["dockerd", "containerd", "runc", "busybox"] {
        if which(tool).is_none() {
            missing.push(format!("{tool} on PATH"));
        }
    }
    if docker_cli().is_none() {
        missing.push("a docker CLI".into());
    }
    assert!(
        missing.is_empty(),
        "this container test cannot run here: missing {} (scripts/setup installs docker.io and busybox-static)",
        missing.join(", ")
    );
}

/// A private daemon with the busybox fixture loaded; stopped on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
}

impl Daemon {
    /// Starts a daemon with `extra_args` and loads the fixture images named (`busybox`, `node`).
    pub fn start(extra_args: &str, images: &[&str]) -> Daemon {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("assay-dp")
            .tempdir_in("/tmp")
            .unwrap();
        let start = || {
            Command::new(repo().join("scripts/dockerd-private"))
                .arg("start")
                .arg(dir.path())
                .env("DOCKERD_PRIVATE_ARGS", extra_args)
                .output()
                .unwrap()
        };
        let mut out = start();
        if !out.status.success() {
            eprintln!(
                "dockerd-private start failed once, retrying:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out = start();
        }
        let d = Daemon {
            sock: dir.path().join("docker.sock"),
            dir,
        };
        assert!(
            out.status.success(),
            "scripts/dockerd-private start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let images = Command::new(repo().join("fixtures/containers/build-images"))
            .args(images)
            .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
            .env("PATH", cli_path())
            .output()
            .unwrap();
        assert!(
            images.status.success(),
            "fixtures/containers/build-images {images:?} failed:\n{}",
            String::from_utf8_lossy(&images.stderr)
        );
        d
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let out = Command::new(repo().join("scripts/dockerd-private"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
        if let Ok(o) = out
            && !o.status.success()
        {
            eprintln!(
                "dockerd-private stop: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// PATH with the chosen CLI's directory first (build-images calls `docker`).
pub fn cli_path() -> String {
    let cli = docker_cli().unwrap();
    format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
