//! The Docker API proxy against a real private daemon (`scripts/dockerd-private`, its own
//! containerd, offline fixture images), driven by the real docker CLI with
//! `DOCKER_HOST=unix://<proxy socket>` and by raw requests for what the CLI never sends.
//! Each test starts its own daemon in a temporary directory and its own session cgroup, and
//! removes both (the v1 directories runc creates included) when it ends.
//!
//! These need root, dockerd, containerd, runc, a docker CLI and a static busybox: they are
//! kernel tests, `#[ignore]`d in a plain `cargo test` and run by `scripts/test`; run without
//! what they need, they fail naming it.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use assay_runner::docker::http::Reader;
use assay_runner::docker::{Build, FlagCode, Proxy, ProxyConfig, Report};
use serde_json::{Value, json};

mod support;

use support::docker::{Daemon, docker_cli};

const BUSYBOX: &str = "assay-busybox:1";

/// Fails (never skips) naming whatever this host lacks.
fn require_docker() {
    support::require_kernel();
    support::docker::require_tools();
}

/// `(mount point, root)` of the cgroup2 mount, from /proc/self/mountinfo.
fn cgroup2_mount() -> Option<(PathBuf, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if !post.starts_with("cgroup2 ") {
            return None;
        }
        let f: Vec<&str> = pre.split(' ').collect();
        Some((PathBuf::from(f.get(4)?), f.get(3)?.to_string()))
    })
}

/// A session cgroup made by the test, removed (with the v1 directories runc makes for
/// containers under it) on drop.
struct SessionCgroup {
    unified: PathBuf,
    name: String,
    /// The absolute cgroup path given to the proxy.
    path: String,
}

impl SessionCgroup {
    fn new() -> SessionCgroup {
        static N: AtomicUsize = AtomicUsize::new(0);
        let (mount, root) = cgroup2_mount().expect("a cgroup2 mount");
        let name = format!(
            "assay-dproxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let unified = mount.join(&name);
        std::fs::create_dir(&unified).unwrap();
        let path = format!("{}/{name}", root.trim_end_matches('/'));
        SessionCgroup {
            unified,
            name,
            path,
        }
    }

    /// Every directory of this session in every hierarchy.
    fn roots(&self) -> Vec<PathBuf> {
        let mut v = vec![self.unified.clone()];
        for e in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path().join(&self.name);
            if p != self.unified && p.is_dir() {
                v.push(p);
            }
        }
        v
    }
}

impl Drop for SessionCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.unified.join("cgroup.kill"), "1");
        for root in self.roots() {
            for _ in 0..50 {
                if rmdir_depth_first(&root) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if root.exists() {
                eprintln!("cgroup {} is still busy", root.display());
            }
        }
    }
}

/// Removes a cgroup directory tree, children first; true when it is gone.
fn rmdir_depth_first(dir: &Path) -> bool {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_depth_first(&e.path());
            }
        }
    }
    std::fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// A daemon, a session cgroup and a proxy between them.
struct Setup {
    proxy: Proxy,
    sock: PathBuf,
    cg: SessionCgroup,
    config: tempfile::TempDir,
    // dropped last: the daemon stops before the cgroup is removed
    daemon: Daemon,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_daemon(Daemon::start("", &["busybox"]))
    }

    fn with_daemon(daemon: Daemon) -> Setup {
        let cg = SessionCgroup::new();
        let sock = daemon.dir.path().join("proxy.sock");
        let proxy = Proxy::start(ProxyConfig {
            listen: sock.clone(),
            upstream: daemon.sock.clone(),
            cgroup_parent: cg.path.clone(),
            owner: None,
        })
        .expect("the proxy starts");
        Setup {
            proxy,
            sock,
            cg,
            config: tempfile::tempdir().unwrap(),
            daemon,
        }
    }

    /// The docker CLI talking to the proxy.
    fn docker(&self) -> Command {
        self.docker_at(&self.sock)
    }

    /// The docker CLI talking to the daemon directly.
    fn docker_direct(&self) -> Command {
        self.docker_at(&self.daemon.sock)
    }

    fn docker_at(&self, sock: &Path) -> Command {
        let mut c = Command::new(docker_cli().unwrap());
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    /// `GET /containers/{id}/json` straight from the daemon.
    fn inspect(&self, id: &str) -> Value {
        let (status, body) = request(
            &self.daemon.sock,
            "GET",
            &format!("/containers/{id}/json"),
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn finish(self) -> (Report, SessionCgroupAndDaemon) {
        let report = self.proxy.finish();
        (
            report,
            SessionCgroupAndDaemon {
                _daemon: self.daemon,
                _cg: self.cg,
            },
        )
    }
}

/// What is left to drop after the proxy finished (the daemon first, then the cgroup).
struct SessionCgroupAndDaemon {
    _daemon: Daemon,
    _cg: SessionCgroup,
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    eprintln!(
        "{:?} -> {}\nstdout: {}\nstderr: {}",
        c.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(c: &mut Command) -> String {
    let out = run(c);
    assert!(
        out.status.success(),
        "{:?} failed",
        c.get_args().collect::<Vec<_>>()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One raw HTTP/1.1 request (JSON body) on a fresh connection: status and body.
fn request(sock: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let body = body.unwrap_or("");
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw_request(sock, raw.as_bytes())
}

/// Sends raw bytes, reads one response: status and (decoded) body.
fn raw_request(sock: &Path, raw: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(raw).unwrap();
    let mut r = Reader::new(&s);
    let head = r.response_head().unwrap().expect("a response");
    let (_, body) = r.collect_body(head.framing, 1 << 24).unwrap();
    (head.status, String::from_utf8_lossy(&body).into_owned())
}

/// The `0::` line of a /proc/PID/cgroup text.
fn unified_line(cgroup: &str) -> &str {
    cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .unwrap_or_else(|| panic!("no 0:: line in {cgroup:?}"))
}

fn codes(r: &Report) -> Vec<FlagCode> {
    r.flagged.iter().map(|f| f.code).collect()
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn run_rm_with_a_bind_runs_under_the_session_cgroup() {
    require_docker();
    let s = Setup::new();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "host-file\n").unwrap();
    let child = s
        .docker()
        .args(["run", "--rm", "-v"])
        .arg(format!("{}:/data", data.path().display()))
        .args([
            BUSYBOX,
            "sh",
            "-c",
            "cat /data/in.txt; echo out > /data/out.txt; cat /proc/self/cgroup",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("host-file\n"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(data.path().join("out.txt")).unwrap(),
        "out\n"
    );
    let (report, _rest) = s.finish();
    assert_eq!(report.placed.len(), 1, "{report:?}");
    let p = &report.placed[0];
    // the container's own view: its cgroup is <session>/<id>, in v2 and in every v1 hierarchy
    assert_eq!(unified_line(&stdout), format!("0::{}", p.cgroup_leaf));
    assert_eq!(p.cgroup_leaf, format!("{}/{}", _rest._cg.path, p.id));
    let v1 = stdout
        .lines()
        .filter(|l| !l.starts_with("0::") && l.contains(':'));
    assert!(
        v1.clone().count() > 0 && v1.clone().all(|l| l.ends_with(&p.cgroup_leaf)),
        "{stdout}"
    );
    assert_eq!(p.image, BUSYBOX);
    assert!(p.image_id.starts_with("sha256:"), "{p:?}");
    assert_eq!(p.creator_pid, Some(cli_pid));
    let data_mount = p
        .mounts
        .iter()
        .find(|m| m.destination == "/data")
        .expect("the bind");
    assert_eq!((data_mount.kind.as_str(), data_mount.rw), ("bind", true));
    assert_eq!(Path::new(&data_mount.source), data.path());
    for f in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        let m = p.mounts.iter().find(|m| m.destination == f).expect(f);
        assert!(m.source.contains(&p.id), "{m:?}");
    }
    assert!(report.flagged.is_empty(), "{report:?}");
    assert!(report.requests >= 5, "{report:?}");
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn run_i_gets_its_stdin_eof_its_output_and_its_exit_code() {
    require_docker();
    let s = Setup::new();
    let mut child = s
        .docker()
        .args([
            "run",
            "-i",
            "--rm",
            BUSYBOX,
            "sh",
            "-c",
            "cat; echo err >&2; exit 3",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a\nb\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err"));
    assert_eq!(out.status.code(), Some(3));
    let (report, _rest) = s.finish();
    assert_eq!(report.placed.len(), 1);
    assert!(report.flagged.is_empty(), "{report:?}");
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn exec_works_and_is_flagged_only_in_foreign_containers() {
    require_docker();
    let s = Setup::new();
    ok(s.docker_direct()
        .args(["run", "-d", "--name", "foreign", BUSYBOX, "sleep", "60"]));
    ok(s.docker()
        .args(["run", "-d", "--name", "own", BUSYBOX, "sleep", "60"]));
    let own = ok(s
        .docker()
        .args(["exec", "own", "sh", "-c", "echo hi; cat /proc/self/cgroup"]));
    assert!(own.starts_with("hi\n"), "{own}");
    let theirs = ok(s.docker().args([
        "exec",
        "foreign",
        "sh",
        "-c",
        "echo hi; cat /proc/self/cgroup",
    ]));
    assert!(theirs.starts_with("hi\n"), "{theirs}");
    // exec joins the container's cgroup: ours under the session, theirs elsewhere
    let own_id = s.inspect("own")["Id"].as_str().unwrap().to_string();
    let foreign_id = s.inspect("foreign")["Id"].as_str().unwrap().to_string();
    assert_eq!(unified_line(&own), format!("0::{}/{own_id}", s.cg.path));
    assert!(!unified_line(&theirs).contains(&s.cg.name), "{theirs}");
    // a sleep started by the proxy is in the session's unified tree while it runs
    let pid = s.inspect("own")["State"]["Pid"].as_u64().unwrap();
    let procs = std::fs::read_to_string(s.cg.unified.join(&own_id).join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    ok(s.docker().args(["kill", "own"]));
    let (report, _rest) = s.finish();
    let foreign: Vec<_> = report
        .flagged
        .iter()
        .filter(|f| f.code == FlagCode::ForeignContainer)
        .collect();
    assert_eq!(foreign.len(), 1, "{report:?}");
    assert!(foreign[0].detail.contains(&foreign_id), "{foreign:?}");
    assert!(
        foreign[0].detail.starts_with("exec in container foreign"),
        "{foreign:?}"
    );
    assert_eq!(codes(&report), [FlagCode::ForeignContainer]);
    assert_eq!(report.placed.len(), 1);
    assert_eq!(report.placed[0].name.as_deref(), Some("own"));
}

/// Creates through the proxy with a raw body; the container's id.
fn create_raw(s: &Setup, path: &str, body: &Value) -> String {
    let (status, answer) = request(&s.sock, "POST", path, Some(&body.to_string()));
    assert_eq!(status, 201, "{body}: {answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    v["Id"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn escape_attempts_still_land_under_the_session() {
    require_docker();
    let s = Setup::new();
    let cmd = json!(["sh", "-c", "cat /proc/self/cgroup"]);
    let variants = [
        json!({"hostconfig": {"CGROUPPARENT": "/evil"}}),
        json!({"CgroupParent": "/evil"}),
        json!({"CgroupParent": "/evil", "HostConfig": null}),
        json!({"HoſtConfig": {"CgroupParent": "/evil"}}),
        json!({"HostConfig": {"RestartPolicy": {"Name": "always"}, "Binds": [format!("{}:/var/run/docker.sock", s.daemon.sock.display())]}}),
    ];
    let mut ids = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let mut body = v.clone();
        body["Image"] = json!(BUSYBOX);
        body["Cmd"] = cmd.clone();
        let path = if i == 0 {
            "/v1.41/containers/%63reate"
        } else {
            "/containers/create"
        };
        ids.push(create_raw(&s, path, &body));
    }
    for id in &ids {
        let hc = &s.inspect(id)["HostConfig"];
        assert_eq!(hc["CgroupParent"], s.cg.path.as_str(), "{id}");
        assert_eq!(hc["RestartPolicy"]["Name"], "no", "{id}");
    }
    let binds = &s.inspect(&ids[4])["HostConfig"]["Binds"];
    assert_eq!(
        binds,
        &json!([format!("{}:/var/run/docker.sock", s.sock.display())])
    );
    // a chunked create body is rewritten too
    let body =
        json!({"Image": BUSYBOX, "Cmd": cmd, "hostconfig": {"cgroupparent": "/evil"}}).to_string();
    let chunked = format!(
        "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        &body[..5],
        body.len() - 5,
        &body[5..]
    );
    let (status, answer) = raw_request(&s.sock, chunked.as_bytes());
    assert_eq!(status, 201, "{answer}");
    let id: Value = serde_json::from_str(&answer).unwrap();
    ids.push(id["Id"].as_str().unwrap().to_string());
    assert_eq!(
        s.inspect(&ids[5])["HostConfig"]["CgroupParent"],
        s.cg.path.as_str()
    );
    // at run time: the first one runs under the session
    let out = ok(s.docker().args(["start", "-a", &ids[0]]));
    assert_eq!(unified_line(&out), format!("0::{}/{}", s.cg.path, ids[0]));
    refusals(&s, &ids[1]);
    let (report, _rest) = s.finish();
    let placed: Vec<_> = report.placed.iter().map(|p| p.id.clone()).collect();
    assert_eq!(placed, ids);
    assert_eq!(
        codes(&report),
        [FlagCode::Refused, FlagCode::Refused, FlagCode::Refused]
    );
}

/// What the proxy refuses: duplicates (400), a start with a body or an old version (403), a
/// form body on a build (400), an update to a restarting policy (403).
fn refusals(s: &Setup, id: &str) {
    let dup =
        r#"{"Image":"assay-busybox:1","HostConfig":{"CgroupParent":"/a","CgroupParent":"/b"}}"#;
    assert_eq!(
        request(&s.sock, "POST", "/containers/create", Some(dup)).0,
        400
    );
    let (status, body) = request(
        &s.sock,
        "POST",
        &format!("/v1.41/containers/{id}/start"),
        Some(r#"{"CgroupParent":"/escape"}"#),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(
        &s.sock,
        "POST",
        &format!("/v1.23/containers/{id}/start"),
        None,
    );
    assert_eq!(status, 403, "{body}");
    let form = "POST /build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\ncgroupparent=%2Fevil";
    assert_eq!(raw_request(&s.sock, form.as_bytes()).0, 400);
    let (status, body) = request(
        &s.sock,
        "POST",
        &format!("/containers/{id}/update"),
        Some(r#"{"RestartPolicy":{"Name":"always"}}"#),
    );
    assert_eq!(status, 403, "{body}");
    // none of them happened
    assert_eq!(s.inspect(id)["State"]["Status"], "created");
    assert_eq!(s.inspect(id)["HostConfig"]["RestartPolicy"]["Name"], "no");
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn legacy_build_runs_its_steps_under_the_session() {
    require_docker();
    let s = Setup::new();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {BUSYBOX}\nRUN cat /proc/self/cgroup > /etc/build-cgroup\n"),
    )
    .unwrap();
    ok(s.docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", "assay-built:1"])
        .arg(ctx.path()));
    let out = ok(s
        .docker()
        .args(["run", "--rm", "assay-built:1", "cat", "/etc/build-cgroup"]));
    let line = unified_line(&out);
    assert!(line.starts_with(&format!("0::{}/", s.cg.path)), "{out}");
    let (report, _rest) = s.finish();
    assert_eq!(
        report.builds,
        [Build {
            tags: vec!["assay-built:1".into()]
        }]
    );
    assert!(report.flagged.is_empty(), "{report:?}");
    assert_eq!(report.placed.len(), 1);
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn the_report_lists_exactly_what_happened() {
    require_docker();
    let s = Setup::new();
    ok(s.docker()
        .args(["run", "--rm", "--name", "r1", BUSYBOX, "true"]));
    ok(s.docker().args(["create", "--name", "r2", BUSYBOX, "true"]));
    let file = tempfile::NamedTempFile::new().unwrap();
    ok(s.docker().arg("cp").arg(file.path()).arg("r2:/tmp/f"));
    let tar = tempfile::tempdir().unwrap();
    ok(s.docker()
        .args(["export", "-o"])
        .arg(tar.path().join("r2.tar"))
        .arg("r2"));
    let pull = run(s.docker().args(["pull", "127.0.0.1:1/nothing:1"]));
    assert!(!pull.status.success());
    let (status, _) = request(&s.sock, "POST", "/v1.41/services/create", Some("{}"));
    assert!(status >= 400);
    let (status, _) = request(&s.sock, "POST", "/plugins/nothing/enable", None);
    assert!(status >= 400);
    ok(s.docker().args(["inspect", "r2"]));
    let events = s
        .docker()
        .args(["events"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // finish ends a long-lived stream and returns promptly
    let t = Instant::now();
    let (report, _rest) = s.finish();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    wait_or_kill(events, Duration::from_secs(10));
    let names: Vec<_> = report.placed.iter().map(|p| p.name.as_deref()).collect();
    assert_eq!(names, [Some("r1"), Some("r2")]);
    assert_eq!(
        codes(&report),
        [
            FlagCode::DaemonFileWork,
            FlagCode::DaemonFileWork,
            FlagCode::DaemonFileWork,
            FlagCode::Swarm,
            FlagCode::Plugin
        ],
        "{report:?}"
    );
    // docker cp into a container stats the destination first (HEAD archive)
    assert!(report.flagged[0].detail.starts_with("archive read: HEAD "));
    assert!(report.flagged[1].detail.starts_with("archive upload: PUT "));
    assert!(report.flagged[2].detail.starts_with("export: GET "));
    assert_eq!(report.pulls, ["127.0.0.1:1/nothing:1"]);
    assert!(report.builds.is_empty());
    assert!(report.requests >= 10, "{report:?}");
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_systemd_driver_daemon_gets_creates_unmodified_and_flagged() {
    require_docker();
    let daemon = Daemon::start(
        "--exec-opt native.cgroupdriver=systemd --cgroup-parent assay-dproxy.slice",
        &["busybox"],
    );
    let s = Setup::with_daemon(daemon);
    assert_eq!(s.proxy.daemon().cgroup_driver, "systemd");
    let out = ok(s
        .docker()
        .args(["create", "--cgroup-parent", "mine.slice", BUSYBOX, "true"]));
    let id = out.trim().to_string();
    assert_eq!(s.inspect(&id)["HostConfig"]["CgroupParent"], "mine.slice");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM {BUSYBOX}\n")).unwrap();
    ok(s.docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", "x:1"])
        .arg(ctx.path()));
    let (report, _rest) = s.finish();
    assert!(report.placed.is_empty());
    assert_eq!(
        codes(&report),
        [FlagCode::UnsupportedDriver, FlagCode::UnsupportedDriver]
    );
    assert!(report.flagged[0].detail.contains(&id));
    assert!(report.builds.is_empty());
}

/// Waits for a child to end on its own; kills it and fails when it does not.
fn wait_or_kill(mut child: std::process::Child, within: Duration) {
    let t = Instant::now();
    while t.elapsed() < within {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the child did not end within {within:?}");
}

/// Median of some durations.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `GET /_ping` `n` times: a new connection each time (as the CLI does for most calls) and on
/// one keep-alive connection.
fn pings(sock: &Path, n: usize) -> (Duration, Duration) {
    let req = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
    let mut fresh = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = raw_request(sock, req);
        fresh.push(t.elapsed());
        assert_eq!(status, 200);
    }
    let s = UnixStream::connect(sock).unwrap();
    let mut r = Reader::new(&s);
    let mut kept = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        (&s).write_all(req).unwrap();
        let head = r.response_head().unwrap().unwrap();
        r.collect_body(head.framing, 1024).unwrap();
        kept.push(t.elapsed());
    }
    (median(fresh), median(kept))
}

#[test]
#[ignore = "kernel test: needs root and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn every_request_through_the_proxy_is_answered_and_counted() {
    require_docker();
    let s = Setup::new();
    let n = 50;
    // new connections and keep-alive ones (its cost is measured by scripts/bench-overhead)
    pings(&s.sock, n);
    let (report, _rest) = s.finish();
    assert_eq!(report.requests, (2 * n) as u64);
}
