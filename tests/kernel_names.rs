//! Endpoints by name, observed for real (a kernel test, `#[ignore]`d and run by `scripts/test`,
//! as in `tests/kernel.rs`).
//!
//! Everything runs in a private network namespace (only loopback, up) and a private mount
//! namespace whose `/etc/resolv.conf` names a loopback DNS responder, so nothing leaves the
//! machine and the host's resolver is untouched. A driver script, outside the measured session,
//! serves DNS and TCP, reads ClientHellos, and makes DNS and TLS traffic of its own all along
//! (the negative control); the measured command resolves a name and connects, and sends a
//! ClientHello to an address no DNS answer named.

mod support;
use support::require_kernel;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The driver: a DNS responder on 127.0.0.1:53 (A records for `*.assay.test` names it knows,
/// NXDOMAIN otherwise), TCP listeners that read what arrives, the measured run, and outside
/// DNS and TLS traffic until the run ends. Writes `driver.json` with what it saw.
const DRIVER: &str = r#"
import json, os, socket, ssl, struct, subprocess, sys, threading, time

runner, work, bundle, client = sys.argv[1:5]
ANSWERS = {"service.assay.test": "127.0.0.2", "outside.assay.test": "127.0.0.5"}
seen = {"questions": [], "hellos": 0}
stop = threading.Event()

def qname(m):
    labels, i = [], 12
    while m[i]:
        labels.append(m[i + 1:i + 1 + m[i]].decode()); i += 1 + m[i]
    return ".".join(labels).lower(), i + 5

def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 53)); s.settimeout(0.2)
    while not stop.is_set():
        try:
            m, peer = s.recvfrom(512)
        except socket.timeout:
            continue
        name, end = qname(m)
        qtype = struct.unpack(">H", m[end - 4:end - 2])[0]
        seen["questions"].append(name)
        addr = ANSWERS.get(name)
        if addr is None:
            s.sendto(m[:2] + b"\x81\x83" + m[4:6] + b"\0\0\0\0\0\0" + m[12:end], peer); continue
        ans = b""
        if qtype == 1:
            ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(addr)
        s.sendto(m[:2] + b"\x81\x80" + m[4:6] + struct.pack(">HHH", 1 if ans else 0, 0, 0) + m[12:end] + ans, peer)

def listener(host, port, hello):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(16); s.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        c.settimeout(2)
        try:
            d = c.recv(4096)
            if hello and d[:1] == b"\x16":
                seen["hellos"] += 1
        except OSError:
            pass
        c.close()

def tls_to(host, port, name):
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s = socket.create_connection((host, port), timeout=2)
    try:
        ctx.wrap_socket(s, server_hostname=name)
    except (OSError, ssl.SSLError):
        pass
    s.close()

outside = {"n": 0}
def outside_traffic():
    while not stop.is_set():
        try:
            socket.getaddrinfo("outside.assay.test", 80, socket.AF_INET, socket.SOCK_STREAM)
            tls_to("127.0.0.3", 8443, "outside-tls.assay.test")
            outside["n"] += 1
        except OSError:
            pass
        time.sleep(0.02)

threads = [threading.Thread(target=dns)]
threads += [threading.Thread(target=listener, args=a) for a in
            [("127.0.0.2", 8080, False), ("127.0.0.4", 8081, False), ("127.0.0.3", 8443, True)]]
for t in threads: t.start()
time.sleep(0.3)
tout = threading.Thread(target=outside_traffic); tout.start()
while outside["n"] < 3:
    time.sleep(0.05)
r = subprocess.run([runner, "run", "--run-id", "names", "--grace-ms", "0", "--work-dir", work,
                    "--out", bundle, "--", sys.executable, client], capture_output=True)
n_during = outside["n"]
while outside["n"] < n_during + 3:
    time.sleep(0.05)
stop.set()
for t in threads + [tout]: t.join()
json.dump({"code": r.returncode, "stderr": r.stderr.decode(errors="replace"),
           "questions": seen["questions"], "hellos": seen["hellos"], "outside": outside["n"]},
          open(os.path.join(os.path.dirname(bundle), "driver.json"), "w"))
"#;

/// The measured command: resolves a name through the system resolver and connects to it,
/// connects to an address no answer names, and sends a ClientHello naming `tls.assay.test` to
/// a third address; it runs long enough for the outside traffic to overlap it.
const CLIENT: &str = r#"
import socket, ssl, time
(fam, typ, proto, _, addr), = socket.getaddrinfo("service.assay.test", 8080, socket.AF_INET, socket.SOCK_STREAM)
assert addr == ("127.0.0.2", 8080), addr
socket.create_connection(addr).close()
socket.create_connection(("127.0.0.4", 8081)).close()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.3", 8443))
try:
    ctx.wrap_socket(s, server_hostname="tls.assay.test")
except (OSError, ssl.SSLError):
    pass
time.sleep(0.5)
"#;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn member(bundle: &Path, name: &str) -> Vec<u8> {
    let f = std::fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut b).unwrap();
            return b;
        }
    }
    panic!("{name} not in {}", bundle.display());
}

#[test]
#[ignore = "kernel test: needs root and BPF; scripts/test runs it (cargo test -- --include-ignored)"]
fn endpoints_are_named_only_by_answers_the_hosts_resolver_gave_the_run() {
    require_kernel();
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let bundle = t.path().join("names.tar.gz");
    let resolv = t.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    std::fs::write(t.path().join("driver.py"), DRIVER).unwrap();
    std::fs::write(t.path().join("client.py"), CLIENT).unwrap();
    let out = Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
        .arg("set -e; ip link set lo up; mount --bind \"$1\" /etc/resolv.conf; shift; exec \"$@\"")
        .arg("sh")
        .arg(&resolv)
        .arg(python())
        .arg(t.path().join("driver.py"))
        .arg(env!("CARGO_BIN_EXE_assay-runner"))
        .arg(&work)
        .arg(&bundle)
        .arg(t.path().join("client.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "driver: {out:?}");
    let d: Value =
        serde_json::from_slice(&std::fs::read(t.path().join("driver.json")).unwrap()).unwrap();
    assert_eq!(d["code"], 0, "{}", d["stderr"]);
    // The traffic really happened: the measured question, outside questions, and ClientHellos
    // from inside and outside the session.
    let questions = strings(&d["questions"]);
    assert!(questions.iter().any(|q| q == "service.assay.test"), "{d}");
    assert!(questions.iter().any(|q| q == "outside.assay.test"), "{d}");
    assert!(d["hellos"].as_u64().unwrap() >= 3, "{d}");

    let v = assay_runner::verify::verify_path(
        &bundle,
        &assay_runner::verify::Limits::default(),
        assay_runner::verify::Keep::Documents,
    )
    .unwrap();
    assert!(v.ok(), "{:#?}", v.report.problems);
    let health: Value =
        serde_json::from_slice(&member(&bundle, "observation-health.json")).unwrap();
    assert_eq!(health["kernel_layer"], "complete", "{health:#}");
    assert_eq!(health["cgroup_correlation"], "clean", "{health:#}");
    let c = &health["counters"];
    assert_eq!(c["events_attempted"], c["events_received"]);
    assert_eq!(c["drops_by_program"]["payload_dns"], 0);
    assert_eq!(c["drops_by_program"]["payload_tls"], 0);

    // The surface: the resolved destination by the name the host's resolver gave it (an
    // earned answer to the run's own query), the ClientHello's destination as its address (a
    // server name the client wrote names nothing), an address nothing named, the resolver.
    let surface: Value =
        serde_json::from_slice(&member(&bundle, "capability-surface.json")).unwrap();
    assert_eq!(
        strings(&surface["network_endpoints"]),
        [
            "tcp:127.0.0.3:8443",
            "tcp:127.0.0.4:8081",
            "tcp:service.assay.test:8080",
            "udp:127.0.0.1:53"
        ]
    );

    // The kernel layer keeps the addresses and records each observation, in no process.
    let layer = String::from_utf8(member(&bundle, "layers/kernel.ndjson")).unwrap();
    let lines: Vec<Value> = layer
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<String> = lines
        .iter()
        .filter(|e| e["kind"] == "dns_answer" || e["kind"] == "tls_client_hello")
        .map(|e| {
            assert_eq!(e["process"], "net", "{e}");
            format!(
                "{} {} {} {}",
                e["kind"].as_str().unwrap(),
                e["endpoint"].as_str().unwrap(),
                e["name"].as_str().unwrap(),
                e["addresses"]
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "dns_answer udp:127.0.0.1:53 service.assay.test [\"127.0.0.2\"]",
            "tls_client_hello tcp:127.0.0.3:8443 tls.assay.test null",
        ]
    );
    let connects: Vec<&str> = lines
        .iter()
        .filter(|e| e["kind"] == "net_connect")
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert!(connects.contains(&"tcp:127.0.0.2:8080"), "{connects:?}");
    assert!(connects.contains(&"tcp:127.0.0.3:8443"), "{connects:?}");

    // Negative control: the driver's own DNS and TLS traffic, all through the run, is nowhere.
    assert!(d["outside"].as_u64().unwrap() >= 6, "{d}");
    let all = format!("{layer}{surface}");
    for leak in ["outside", "127.0.0.5"] {
        assert!(!all.contains(leak), "`{leak}` leaked into the session");
    }
}
