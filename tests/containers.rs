//! Containers are part of the run: `assay-runner run` against a real private Docker daemon
//! (`scripts/dockerd-private`, offline fixture images), the measured command driving the real
//! docker CLI. What a container reads, writes, connects to and executes is in the surface,
//! shown as the host's paths where a mount leads there (`container:IMAGE:/path` where none
//! does); an MCP server run with `docker run -i` has per-call effects; going around the
//! runner's Docker API proxy, or work the proxy cannot place, is never a clean health.
//!
//! Kernel tests: `#[ignore]`d in a plain `cargo test`, run by `scripts/test`; run without
//! root, BPF or the daemon's tools, they fail naming what is missing.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod support;

use support::docker::{Daemon, cli_path, docker_cli};

/// A private daemon with both fixture images, or a failure naming what is missing.
fn daemon() -> Daemon {
    support::require_kernel();
    support::require_files(&[
        "fixtures/policy/dist/server.mjs",
        "fixtures/policy/dist/client.mjs",
    ]);
    Daemon::start("", &["busybox", "node"])
}

/// A bundle's members (verified first).
fn members(bundle: &Path) -> BTreeMap<String, Vec<u8>> {
    let v = assay_runner::verify::verify_path(
        bundle,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap();
    assert!(v.ok(), "{}: {:#?}", bundle.display(), v.report.problems);
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut buf).unwrap();
        out.insert(name, buf);
    }
    out
}

struct Run {
    out: Output,
    health: Value,
    surface: Value,
    correlation: Option<Value>,
}

/// `assay-runner run` of `script` (sh) in `work`, the runner told of the daemon by
/// `DOCKER_HOST` as a user's CI step would be, with `extra` options and environment.
fn run(d: &Daemon, work: &Path, extra: &[&str], env: &[(&str, String)], script: &str) -> Run {
    std::fs::write(work.join("step.sh"), script).unwrap();
    let bundle = work.with_extension("tar.gz");
    let mut c = Command::new(env!("CARGO_BIN_EXE_assay-runner"));
    c.env("HOME", work)
        .env("SHELL", "/bin/sh")
        .env("PATH", cli_path())
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", work.with_extension("docker-config"))
        .env_remove("DOCKER_CONTEXT")
        .args(["run", "--run-id", "t", "--work-dir"])
        .arg(work)
        .arg("--out")
        .arg(&bundle)
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(["--", "sh", "step.sh"]).output().unwrap();
    eprintln!(
        "runner: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let m = members(&bundle);
    Run {
        health: serde_json::from_slice(&m["observation-health.json"]).unwrap(),
        surface: serde_json::from_slice(&m["capability-surface.json"]).unwrap(),
        correlation: m
            .get("correlation-report.json")
            .map(|b| serde_json::from_slice(b).unwrap()),
        out,
    }
}

/// The docker CLI run outside any session, against the daemon `d`.
fn outside(d: &Daemon, work: &Path, args: &[&str]) -> Output {
    Command::new(docker_cli().unwrap())
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", work.with_extension("docker-config"))
        .args(args)
        .output()
        .unwrap()
}

/// `work/ctx`: a build context whose one `RUN` step reads a file of its base image and writes
/// into the image.
fn build_context(work: &Path) {
    std::fs::create_dir(work.join("ctx")).unwrap();
    std::fs::write(
        work.join("ctx/Dockerfile"),
        "FROM assay-busybox:1\nRUN cat /etc/img-secret > /built.txt\n",
    )
    .unwrap();
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn notes(r: &Run) -> Vec<String> {
    strings(&r.health["notes"])
}

fn work_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::Builder::new()
        .prefix("assay-containers")
        .tempdir_in("/tmp")
        .unwrap();
    let w = t.path().join("work");
    std::fs::create_dir(&w).unwrap();
    (t, w)
}

/// The run succeeded, its health is a blind spot, and a note is the one `want` names.
fn assert_flagged(r: &Run, want: impl Fn(&str) -> bool) {
    assert!(r.out.status.success(), "{:?}", r.out);
    assert_eq!(
        r.health["kernel_layer"], "partial_blind_spot",
        "{:#}",
        r.health
    );
    let n = notes(r);
    assert!(n.iter().any(|x| want(x)), "{n:#?}");
}

/// [`assert_flagged`] with a note starting with each of `prefixes`.
fn assert_flagged_all(r: &Run, prefixes: &[&str]) {
    assert_flagged(r, |_| true);
    let n = notes(r);
    for want in prefixes {
        assert!(n.iter().any(|x| x.starts_with(want)), "{want}: {n:#?}");
    }
}

fn assert_clean(r: &Run) {
    assert_eq!(r.health["kernel_layer"], "complete", "{:#}", r.health);
    assert_eq!(r.health["cgroup_correlation"], "clean", "{:#}", r.health);
    assert_eq!(notes(r), Vec::<String>::new(), "{:#}", r.health);
}

/// The step: a container reads a file of its image, writes into the bind-mounted work
/// dir and connects to the host; every effect is in the surface, by the host's path where a
/// mount leads there, and nothing of the runtime's setup of the container is.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_container_steps_reads_writes_and_connects_are_the_runs() {
    let d = daemon();
    let (_t, work) = work_dir();
    let listener = TcpListener::bind("127.0.0.77:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // answer and close, so the container's nc ends
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let script = format!(
        "docker run --rm --network host -v \"$PWD:/data\" assay-busybox:1 sh -c \
         'cat /etc/img-secret > /data/out.txt; echo hi | nc 127.0.0.77 {port}'\n"
    );
    let r = run(&d, &work, &[], &[], &script);
    assert!(r.out.status.success());
    assert!(
        std::fs::read_to_string(work.join("out.txt"))
            .unwrap()
            .starts_with("assay image secret")
    );
    assert_clean(&r);
    let s = &r.surface;
    assert_eq!(strings(&s["filesystem_writes"]), ["<work>/out.txt"]);
    let paths = strings(&s["filesystem_paths"]);
    for p in [
        "<work>/out.txt",
        "container:assay-busybox:1:/etc/img-secret",
    ] {
        assert!(paths.contains(&p.to_string()), "{p} missing: {paths:#?}");
    }
    // nothing of runc's setup (the image's mounts, the exec fifo, /proc writes) is the run's
    for p in &paths {
        assert!(
            !p.contains("overlay2") && !p.contains("exec.fifo") && !p.contains("oom_score_adj"),
            "the runtime's setup in the surface: {p}"
        );
    }
    assert_eq!(
        strings(&s["network_endpoints"]),
        [format!("tcp:127.0.0.77:{port}"), "unix:<docker-api>".into()]
    );
    let execs = strings(&s["process_execs"]);
    assert!(
        execs.contains(&"container:assay-busybox:1:/bin/busybox".to_string()),
        "{execs:#?}"
    );
}

/// An MCP server shipped as an image, started the common way through `mcp-wrap`: each allowed
/// call's effects are the container's, attributed to the call.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn an_mcp_server_in_docker_run_i_has_per_call_effects() {
    let d = daemon();
    let (_t, work) = work_dir();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        repo.join("fixtures/policy/dist/client.mjs"),
        work.join("client.mjs"),
    )
    .unwrap();
    std::fs::create_dir(work.join("data")).unwrap();
    std::fs::copy(
        repo.join("fixtures/policy/seed/data/input.txt"),
        work.join("data/input.txt"),
    )
    .unwrap();
    let w = work.display().to_string();
    let server = serde_json::json!([
        "docker",
        "run",
        "-i",
        "--rm",
        "--network",
        "host",
        "-v",
        format!("{w}:{w}"),
        "-w",
        w,
        "assay-node-mcp:1",
        "node",
        "/srv/server.mjs"
    ]);
    let policy = repo.join("fixtures/policy/policy.yaml");
    let r = run(
        &d,
        &work,
        &[
            "--mode",
            "kernel-policy",
            "--policy",
            policy.to_str().unwrap(),
        ],
        &[("POLICY_FIXTURE_SERVER", server.to_string())],
        "exec node client.mjs\n",
    );
    assert!(r.out.status.success());
    assert_clean(&r);
    assert_eq!(r.health["policy_layer"], "complete");
    let c = r.correlation.expect("a correlation report");
    assert_eq!(c["status"], "clean", "{c:#}");
    let calls: BTreeMap<String, Value> = c["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["tool_call_id"].as_str().unwrap().to_string(), x.clone()))
        .collect();
    let effects = |id: &str, field: &str| strings(&calls[id]["effects"][field]);
    assert_eq!(
        effects("call-1-read-input", "filesystem_paths"),
        ["<work>/data/input.txt"]
    );
    assert_eq!(
        effects("call-3-write-report", "filesystem_writes"),
        ["<work>/out", "<work>/out/report.txt"]
    );
    assert_eq!(
        effects("call-4-probe-port", "network_endpoints"),
        ["tcp:127.0.0.1:9"]
    );
    assert_eq!(
        effects("call-5-run-echo", "process_execs"),
        ["container:assay-node-mcp:1:/bin/busybox"]
    );
    for denied in ["call-2-read-system", "call-6-run-rm", "call-7-delete-tree"] {
        for f in [
            "filesystem_paths",
            "filesystem_writes",
            "network_endpoints",
            "process_execs",
        ] {
            assert_eq!(effects(denied, f), Vec::<String>::new(), "{denied} {f}");
        }
    }
}

/// A step that talks to the daemon's own socket (here through a link of its own) has a
/// container the proxy never saw: the health says so, never clean.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn going_around_the_proxy_is_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let script = format!(
        "ln -s {} ./d.sock && docker -H \"unix://$PWD/d.sock\" run --rm assay-busybox:1 cat /etc/img-secret\n",
        d.sock.display()
    );
    let r = run(&d, &work, &[], &[], &script);
    assert_flagged(&r, |x| {
        x.starts_with("daemon-bypass: ") && x.contains(&d.sock.display().to_string())
    });
    // the container's read was not seen: it ran outside the session
    let paths = strings(&r.surface["filesystem_paths"]);
    assert!(
        !paths.iter().any(|p| p.contains("img-secret")),
        "{paths:#?}"
    );
}

/// A daemon's socket that no list names (here the private daemon's containerd, at a path of its
/// own) is recognised by the program holding it: a step connecting there is never clean.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_daemon_socket_at_an_unlisted_path_is_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let csock = d.dir.path().join("containerd/containerd.sock");
    assert!(csock.exists(), "{}", csock.display());
    let script = format!(
        "python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' '{}'\n",
        csock.display()
    );
    let r = run(&d, &work, &[], &[], &script);
    let want = format!(
        "{}, a socket of containerd (containerd, pid ",
        csock.display()
    );
    assert_flagged(&r, |x| {
        x.starts_with("daemon-bypass: ") && x.contains(&want)
    });
}

/// A legacy `docker build` whose `RUN` step reads a file of its base image and writes into the
/// image: the step's container is placed under the session, so its read and its write are the
/// run's (in the form that names the image), and nothing of the builder's own setup is.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_docker_build_run_step_is_observed() {
    let d = daemon();
    let (_t, work) = work_dir();
    build_context(&work);
    let r = run(
        &d,
        &work,
        &[],
        &[("DOCKER_BUILDKIT", "0".into())],
        "docker build -q -t assay-built:t ctx > id.txt\n",
    );
    assert!(r.out.status.success());
    assert_clean(&r);
    // -q answered as the daemon answers it: the image id alone (the proxy asked for progress)
    let id = std::fs::read_to_string(work.join("id.txt")).unwrap();
    assert!(
        id.len() == 72 && id.starts_with("sha256:") && id.ends_with('\n'),
        "{id:?}"
    );
    let paths = strings(&r.surface["filesystem_paths"]);
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("container:") && p.ends_with(":/etc/img-secret")),
        "the RUN step's read: {paths:#?}"
    );
    let writes = strings(&r.surface["filesystem_writes"]);
    assert!(
        writes
            .iter()
            .any(|p| p.starts_with("container:") && p.ends_with(":/built.txt")),
        "the RUN step's write: {writes:#?}"
    );
    for p in paths.iter().chain(&writes) {
        assert!(
            !p.contains("overlay2")
                && !p.contains("exec.fifo")
                && !p.starts_with("/etc/img")
                && !p.starts_with("/built"),
            "the builder's setup, or a build path shown as the host's, in the surface: {p}"
        );
    }
}

/// A cgroup the run makes itself is never taken for a container by its name: in a run that
/// built (so a container id's name would be a build step's), a step that makes its own cgroup
/// below the session named like a container id and moves into it still has the host's paths.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_cgroup_the_run_names_like_a_container_is_not_one() {
    let d = daemon();
    let (_t, work) = work_dir();
    build_context(&work);
    let id = "a".repeat(64);
    let script = format!(
        "docker build -q -t assay-built:t ctx\n\
         base=/sys/fs/cgroup/unified; [ -d \"$base\" ] || base=/sys/fs/cgroup\n\
         cg=$(sed -n 's/^0:://p' /proc/self/cgroup)\n\
         mkdir \"$base$cg/{id}\"\n\
         echo $$ > \"$base$cg/{id}/cgroup.procs\"\n\
         sed -n 's/^0:://p' /proc/self/cgroup > where.txt\n\
         cat /etc/hostname > host-read.txt\n"
    );
    let r = run(&d, &work, &[], &[("DOCKER_BUILDKIT", "0".into())], &script);
    assert!(r.out.status.success());
    let moved = std::fs::read_to_string(work.join("where.txt")).unwrap();
    assert!(moved.trim_end().ends_with(&id), "the step moved: {moved}");
    let paths = strings(&r.surface["filesystem_paths"]);
    assert!(paths.contains(&"/etc/hostname".to_string()), "{paths:#?}");
    assert!(
        !paths.iter().any(|p| p.ends_with(":/etc/hostname")),
        "a host read shown as a container's: {paths:#?}"
    );
    let writes = strings(&r.surface["filesystem_writes"]);
    assert!(
        writes.contains(&"<work>/host-read.txt".to_string()),
        "{writes:#?}"
    );
}

/// The negative control: a container started outside the session, busy reading its image's
/// secret and the host's work dir the whole time, never appears in a run beside it (and does
/// not make the run's health unclean: nothing of it is the run's).
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_container_outside_the_session_never_appears() {
    let d = daemon();
    let (_t, work) = work_dir();
    std::fs::write(work.join("data.txt"), "mine\n").unwrap();
    let name = format!("busy-outside-{}", std::process::id());
    let mount = format!("{}:/data", work.display());
    let started = outside(
        &d,
        &work,
        &[
            "run",
            "-d",
            "--rm",
            "--name",
            &name,
            "-v",
            &mount,
            "assay-busybox:1",
            "sh",
            "-c",
            "while true; do cat /etc/img-secret /data/data.txt > /dev/null; echo x > /data/busy.txt; done",
        ],
    );
    assert!(started.status.success(), "{started:?}");
    let busy = work.join("busy.txt");
    let t = std::time::Instant::now();
    while !busy.exists() {
        assert!(
            t.elapsed().as_secs() < 20,
            "the outside container never got busy"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = run(&d, &work, &[], &[], "cat data.txt > copy.txt\nsleep 1\n");
    let stop = outside(&d, &work, &["rm", "-f", &name]);
    assert!(stop.status.success(), "{stop:?}");
    assert!(r.out.status.success());
    assert_clean(&r);
    let s = &r.surface;
    assert_eq!(strings(&s["filesystem_writes"]), ["<work>/copy.txt"]);
    let all: Vec<String> = ["filesystem_paths", "process_execs", "network_endpoints"]
        .iter()
        .flat_map(|f| strings(&s[*f]))
        .collect();
    for p in &all {
        assert!(
            !p.contains("img-secret") && !p.contains("busy.txt") && !p.starts_with("container:"),
            "the outside container's work in the run's surface: {p}\n{all:#?}"
        );
    }
}

/// Work the proxy lets through but cannot place (here an exec in a container the run did not
/// create) is flagged, and the health is not clean.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn unplaced_container_work_is_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let started = outside(
        &d,
        &work,
        &[
            "run",
            "-d",
            "--name",
            "before-the-run",
            "assay-busybox:1",
            "sleep",
            "300",
        ],
    );
    assert!(started.status.success(), "{started:?}");
    let r = run(
        &d,
        &work,
        &[],
        &[],
        "docker exec before-the-run cat /etc/img-secret\n",
    );
    assert_flagged(&r, |x| {
        x.starts_with("container-unplaced: foreign-container: ")
    });
}

/// A pull is the daemon's network work for the run: not in the surface, so never clean, even
/// when it fails (the daemon tried the registry's address all the same).
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_pull_is_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let r = run(
        &d,
        &work,
        &[],
        &[],
        "docker pull 127.0.0.1:1/nothing:1 || true\n",
    );
    assert_flagged(&r, |x| {
        x.starts_with("container-unplaced: pull: 127.0.0.1:1/nothing:1 (")
    });
    let ok = run(
        &d,
        &work,
        &[],
        &[],
        "docker image inspect assay-busybox:1 >/dev/null\n",
    );
    assert_clean(&ok);
}

/// A minimal HTTP server on the loopback, outside the session: answers every request with
/// `body` and counts the requests it got.
fn http_server(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = hits.clone();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hits)
}

/// The daemon's own network work for the run is never clean: a legacy build's `ADD` of a URL
/// (the daemon fetches it, here from a server outside the session that counts the fetch), a
/// push, a registry login, a network log driver, a volume whose driver mounts what it is told.
/// A build that only reads its context and base image stays clean
/// (`a_docker_build_run_step_is_observed`).
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn the_daemons_own_network_work_is_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let (port, hits) = http_server("fetched by the daemon\n");
    std::fs::create_dir(work.join("ctx")).unwrap();
    std::fs::write(
        work.join("ctx/Dockerfile"),
        format!("FROM assay-busybox:1\nADD http://127.0.0.1:{port}/p?leak=1 /p\n"),
    )
    .unwrap();
    let r = run(
        &d,
        &work,
        &[],
        &[("DOCKER_BUILDKIT", "0".into())],
        "docker build -q -t assay-fetched:t ctx\n",
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_flagged(&r, |x| {
        x.starts_with("container-unplaced: daemon-network: build: the daemon pulled or downloaded")
    });
    let r = run(
        &d,
        &work,
        &[],
        &[],
        "docker tag assay-busybox:1 127.0.0.1:1/assay-pushed:1\n\
         docker push 127.0.0.1:1/assay-pushed:1 || true\n\
         echo pw | docker login -u u --password-stdin 127.0.0.1:1 || true\n\
         docker run --rm --log-driver syslog --log-opt syslog-address=udp://127.0.0.1:5514 assay-busybox:1 true\n\
         docker volume create --opt type=tmpfs --opt device=tmpfs assay-opt-vol\n\
         docker run --rm -v assay-opt-vol:/d assay-busybox:1 true\n",
    );
    assert_flagged_all(
        &r,
        &[
            "container-unplaced: daemon-network: push: POST /v1.41/images/127.0.0.1:1/assay-pushed/push",
            "container-unplaced: daemon-network: registry login: POST /v1.41/auth",
            "container-unplaced: daemon-network: create with log driver syslog: ",
            "container-unplaced: daemon-network: container ",
        ],
    );
    let n = notes(&r);
    assert!(
        n.iter()
            .any(|x| x.contains("volume assay-opt-vol (driver options)")),
        "{n:#?}"
    );
    let _ = outside(
        &d,
        &work,
        &["rmi", "127.0.0.1:1/assay-pushed:1", "assay-fetched:t"],
    );
    let _ = outside(&d, &work, &["volume", "rm", "assay-opt-vol"]);
}

/// What the daemon does with the host's files for the run, and containers that reach past
/// their image and mounts, are never clean: `docker cp` out (the daemon reads through the
/// container's binds itself), a bind source that does not exist (the daemon creates it), a
/// privileged container or exec (its paths would be named as its image's; flagged at create,
/// whether or not this host lets it start).
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn the_daemons_own_file_work_and_host_reach_are_never_clean() {
    let d = daemon();
    let (_t, work) = work_dir();
    let r = run(
        &d,
        &work,
        &[],
        &[],
        "docker create --name assay-cp-src -v /etc:/h assay-busybox:1 true\n\
         docker cp assay-cp-src:/h/hostname - > hostname.tar\n\
         docker rm assay-cp-src\n\
         docker run --rm -v \"$PWD/made-by-the-daemon:/m\" assay-busybox:1 true\n\
         docker run --rm --privileged assay-busybox:1 true || true\n\
         mkdir again && docker create --name assay-restarted -v \"$PWD/again:/a\" assay-busybox:1 true\n\
         docker start assay-restarted && rmdir again && docker restart assay-restarted\n\
         docker rm -f assay-restarted\n\
         docker create --name assay-capped --cap-add dac_read_search assay-busybox:1 true && docker rm assay-capped\n\
         docker run -d --name assay-exec-target assay-busybox:1 sleep 30\n\
         docker exec --privileged assay-exec-target true || true\n\
         docker rm -f assay-exec-target\n",
    );
    assert!(
        std::fs::metadata(work.join("hostname.tar")).unwrap().len() > 0,
        "docker cp read the host's file"
    );
    assert!(
        work.join("made-by-the-daemon").is_dir(),
        "the daemon made it"
    );
    assert_flagged_all(
        &r,
        &[
            "container-unplaced: daemon-file-work: archive read: GET /v1.41/containers/assay-cp-src/archive",
            "container-unplaced: daemon-file-work: start of container ",
            "container-unplaced: host-reach: create with privileged: ",
            "container-unplaced: host-reach: privileged exec in container assay-exec-target",
            "container-unplaced: host-reach: create with cap CAP_DAC_READ_SEARCH: ",
            "container-unplaced: daemon-file-work: restart of container ",
        ],
    );
    let n = notes(&r);
    for made in ["made-by-the-daemon", "again"] {
        assert!(
            n.iter().any(|x| x.contains(&format!(
                "/{made} does not exist, and the daemon creates it"
            ))),
            "{made}: {n:#?}"
        );
    }
    assert!(
        work.join("again").is_dir(),
        "the daemon made it again at the restart"
    );
}

/// Without a daemon nothing changes: no proxy, no `DOCKER_HOST`, a clean run as before.
#[test]
#[ignore = "kernel test: needs root, BPF and docker; scripts/test runs it (cargo test -- --include-ignored)"]
fn a_run_without_a_daemon_gets_no_proxy() {
    support::require_kernel();
    let (_t, work) = work_dir();
    std::fs::write(work.join("step.sh"), "echo \"[$DOCKER_HOST]\" > seen.txt\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_assay-runner"))
        .env("HOME", &work)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["run", "--run-id", "t", "--work-dir"])
        .arg(&work)
        .args(["--", "sh", "step.sh"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("seen.txt")).unwrap(),
        "[unix:///nonexistent/docker.sock]\n"
    );
}
