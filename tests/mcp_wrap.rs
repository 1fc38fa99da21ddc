//! `assay-runner mcp-wrap`, driven as a real process: a scripted client on its stdin/stdout and
//! a server of our own (`tests/mcp/fixture-server.mjs`, plain node, logs what it receives), plus
//! a transparency session with the official `@modelcontextprotocol/server-everything` driven by
//! the official SDK client (`tests/mcp/session-client.mjs`), direct vs wrapped.
//!
//! The fixture server needs only `node` (installed by `scripts/setup`). The transparency test
//! needs `tests/mcp/node_modules` (`npm ci --prefix tests/mcp`, also in `scripts/setup`): without
//! it the test fails, saying so — never a skip that reads as a pass.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_assay-runner");
const TIMEOUT: Duration = Duration::from_secs(20);

fn mcp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

fn fixture() -> String {
    mcp_dir()
        .join("fixture-server.mjs")
        .to_string_lossy()
        .into_owned()
}

const POLICY: &str = "default: deny
rules:
  - name: echo
    tool: echo
    decision: allow
  - name: fixture-tools
    tool: \"{fail,rpcerror,crash,noise,big,slow,ask}\"
    decision: allow
  - name: read-data
    tool: read_text_file
    decision: allow
    when:
      path: \"<work>/data/**\"
  - name: no-shell
    tool: \"shell*\"
    decision: deny
    reason: no shells in this fixture
";

struct Wrapped {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Vec<u8>>,
    dir: tempfile::TempDir,
}

impl Wrapped {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Wrapped {
        Wrapped::start_with(POLICY, extra, env)
    }

    fn start_with(policy: &str, extra: &[&str], env: &[(&str, &str)]) -> Wrapped {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("mcp-wrap")
            .arg("--policy")
            .arg(dir.path().join("policy.yaml"))
            .arg("--work-dir")
            .arg(dir.path())
            .args(extra)
            .env("MCP_FIXTURE_LOG", dir.path().join("server.log"))
            .env_remove("ASSAY_POLICY_LOG")
            .env_remove("ASSAY_RUN_ID")
            .env_remove("ASSAY_WORK_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !extra.contains(&"--decision-log") {
            cmd.arg("--decision-log")
                .arg(dir.path().join("decisions.ndjson"));
        }
        cmd.arg("--").arg("node").arg(fixture());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            loop {
                let mut l = Vec::new();
                match r.read_until(b'\n', &mut l) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if tx.send(l).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Wrapped {
            child,
            stdin,
            lines,
            dir,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    fn send(&mut self, v: Value) {
        let mut b = serde_json::to_vec(&v).unwrap();
        b.push(b'\n');
        self.send_raw(&b);
    }

    fn recv(&mut self) -> Value {
        let l = self
            .lines
            .recv_timeout(TIMEOUT)
            .expect("no message from mcp-wrap in time");
        serde_json::from_slice(&l)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&l)))
    }

    fn call(&mut self, id: Value, name: &str, args: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}}));
        self.recv()
    }

    fn log(&self) -> Vec<Value> {
        read_ndjson(&self.dir.path().join("decisions.ndjson"))
    }

    fn server_saw(&self) -> Vec<Value> {
        read_ndjson(&self.dir.path().join("server.log"))
    }

    /// Closes the client side and waits for the exit status (bounded).
    fn finish(mut self) -> (i32, String, Wrapped) {
        self.stdin.take();
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                panic!("mcp-wrap did not exit after the client closed stdin");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        use std::io::Read as _;
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code().unwrap_or(-1), err, self)
    }
}

fn read_ndjson(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", p.display())))
        .collect()
}

fn init(w: &mut Wrapped) {
    w.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}));
    assert_eq!(w.recv()["result"]["serverInfo"]["name"], "fixture");
}

fn text(resp: &Value) -> &str {
    resp["result"]["content"][0]["text"].as_str().unwrap_or("")
}

/// The record's canonical part (everything but `diag`).
fn canonical(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("diag");
    r
}

fn schema_valid(records: &[Value]) {
    let c = assay_runner::contracts::Contract::find("policy_event").unwrap();
    let schema: Value = serde_json::from_str(c.published).unwrap();
    let v = jsonschema::draft202012::new(&schema).unwrap();
    for (i, r) in records.iter().enumerate() {
        assert!(v.is_valid(r), "record {i} fails the schema: {r}");
        assert_eq!(r["seq"], i as u64, "seq must be gapless from 0");
    }
}

#[test]
fn allowed_calls_pass_and_denied_calls_never_reach_the_server() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    let r = w.call(json!(1), "echo", json!({"x": 1}));
    assert_eq!(text(&r), r#"{"x":1}"#);
    let r = w.call(json!("two"), "rm_rf", json!({"path": "/"}));
    assert_eq!(r["id"], "two");
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(
        text(&r).contains("default-deny: no rule matches tool rm_rf"),
        "{r}"
    );
    let r = w.call(json!(3), "shell_exec", json!({}));
    assert!(text(&r).contains("no shells in this fixture"), "{r}");
    let r = w.call(json!(4), "fail", json!({}));
    assert_eq!(r["result"]["isError"], true);
    let r = w.call(json!(5), "rpcerror", json!({}));
    assert_eq!(r["error"]["message"], "boom");
    let (code, _, w) = w.finish();
    assert_eq!(code, 0);

    let saw = w.server_saw();
    let calls: Vec<&str> = saw
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .map(|m| m["params"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        calls,
        ["echo", "fail", "rpcerror"],
        "the server saw {saw:?}"
    );

    let log = w.log();
    schema_valid(&log);
    let brief: Vec<(String, String, String, String)> = log
        .iter()
        .map(|r| {
            (
                r["tool"].as_str().unwrap().into(),
                r["decision"].as_str().unwrap().into(),
                r["rule"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("echo", "allow", "echo", "ok"),
        ("rm_rf", "deny", "default", "denied"),
        ("shell_exec", "deny", "no-shell", "denied"),
        ("fail", "allow", "fixture-tools", "tool_error"),
        ("rpcerror", "allow", "fixture-tools", "rpc_error"),
    ]
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()));
    assert_eq!(brief, want);
    let d = &log[0]["diag"];
    let (fwd, resp) = (
        d["forwarded_ns"].as_u64().unwrap(),
        d["responded_ns"].as_u64().unwrap(),
    );
    assert!(
        d["received_ns"].as_u64().unwrap() <= fwd && fwd <= resp,
        "{d}"
    );
    assert!(log[1]["diag"]["forwarded_ns"].is_null());
    assert_ne!(d["server_pid"], d["wrapper_pid"]);
    assert_eq!(log[0]["run_id"], "standalone");
}

#[test]
fn tool_call_id_comes_from_meta_else_from_the_jsonrpc_id() {
    let mut w = Wrapped::start(&[], &[("ASSAY_RUN_ID", "run-42")]);
    init(&mut w);
    w.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo",
        "arguments": {}, "_meta": {"assay.dev/tool_call_id": "call_abc"}}}),
    );
    w.recv();
    w.call(json!("s-1"), "echo", json!({}));
    w.send(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope",
        "_meta": {"assay.dev/tool_call_id": 17}}}),
    );
    w.recv();
    let (_, _, w) = w.finish();
    let log = w.log();
    schema_valid(&log);
    assert_eq!(log[0]["tool_call_id"], "call_abc");
    assert_eq!(log[0]["tool_call_id_source"], "meta");
    assert_eq!(log[1]["tool_call_id"], r#"jsonrpc:"s-1""#);
    assert_eq!(log[1]["tool_call_id_source"], "derived");
    assert_eq!(
        log[2]["tool_call_id"], "jsonrpc:3",
        "a non-string _meta id is not used"
    );
    assert_eq!(log[2]["tool_call_id_source"], "derived");
    assert!(log.iter().all(|r| r["run_id"] == "run-42"));
    // The server saw the _meta it was sent.
    assert_eq!(
        w.server_saw()[1]["params"]["_meta"]["assay.dev/tool_call_id"],
        "call_abc"
    );
}

#[test]
fn path_arguments_are_normalized_and_must_be_absolute_strings() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    let work = w.dir.path().to_string_lossy().into_owned();
    let cases = [
        (json!(format!("{work}/data/../../etc/passwd")), "default"),
        (json!("/etc/passwd"), "default"),
        (json!(format!("{work}/database")), "default"),
        (json!("data/x"), "read-data"),
        (json!([format!("{work}/data/x")]), "read-data"),
        (json!(null), "read-data"),
    ];
    for (i, (path, rule)) in cases.iter().enumerate() {
        let r = w.call(json!(i), "read_text_file", json!({ "path": path }));
        assert_eq!(r["result"]["isError"], true, "{path} must be denied: {r}");
        assert_eq!(w.log()[i]["rule"], *rule, "{path}");
    }
    let (_, _, w) = w.finish();
    assert!(
        !w.server_saw().iter().any(|m| m["method"] == "tools/call"),
        "a denied call reached the server"
    );
    // An allowed one reaches it (the fixture does not know the tool, which is fine).
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    let work = w.dir.path().to_string_lossy().into_owned();
    let r = w.call(
        json!(1),
        "read_text_file",
        json!({"path": format!("{work}/data/./a.txt")}),
    );
    assert_eq!(r["error"]["message"], "unknown tool");
    let (_, _, w) = w.finish();
    assert_eq!(w.log()[0]["decision"], "allow");
    assert_eq!(w.log()[0]["outcome"], "rpc_error");
}

#[test]
fn the_record_is_durable_before_the_client_sees_the_answer() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    for i in 0..20 {
        let name = if i % 2 == 0 { "echo" } else { "denied_tool" };
        w.call(json!(i), name, json!({"i": i}));
        let log = w.log();
        assert_eq!(log.len(), i + 1, "answer {i} arrived before its record");
        assert_eq!(log[i]["tool"], name);
    }
    w.finish();
}

#[test]
fn malformed_input_gets_json_rpc_errors_and_nothing_reaches_the_server() {
    let mut w = Wrapped::start(&["--max-message-bytes", "1000"], &[]);
    init(&mut w);
    w.send_raw(b"{not json\n");
    assert_eq!(w.recv()["error"]["code"], -32700);
    w.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\xff\"}}\n");
    assert_eq!(w.recv()["error"]["code"], -32700);
    let mut big = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"x":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 5000));
    big.extend(b"\"}}}\n");
    w.send_raw(&big);
    let r = w.recv();
    assert_eq!(r["error"]["code"], -32600);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-message-bytes"),
        "{r}"
    );
    // A tools/call without a name, and one sent as a notification.
    w.send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": {}}}));
    assert_eq!(w.recv()["error"]["code"], -32602);
    w.send(json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "echo"}}));
    // A batch hiding a tools/call: refused whole, one error per request.
    w.send(json!([
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo"}},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"}
    ]));
    let r = w.recv();
    let ids: Vec<&Value> = r.as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&json!(4), &json!(5)], "{r}");
    // Still alive and answering afterwards.
    assert_eq!(text(&w.call(json!(6), "echo", json!({}))), "{}");
    let (code, _, w) = w.finish();
    assert_eq!(code, 0);
    let saw = w.server_saw();
    assert_eq!(saw.len(), 2, "only initialize and the last echo: {saw:?}");
    let log = w.log();
    schema_valid(&log);
    let reasons: Vec<&str> = log
        .iter()
        .map(|r| r["reason"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "missing-tool-name",
            "tools-call-notification",
            "batched-call",
            "rule-allow"
        ]
    );
}

#[test]
fn ten_megabyte_messages_pass_both_ways_under_the_default_limit() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    let big = "y".repeat(10 << 20);
    let r = w.call(json!(1), "echo", json!({ "x": big }));
    assert_eq!(text(&r).len(), big.len() + 8);
    let r = w.call(json!(2), "big", json!({"bytes": 10 << 20}));
    assert_eq!(text(&r).len(), 10 << 20);
    let (code, _, w) = w.finish();
    assert_eq!(code, 0);
    assert_eq!(w.log().len(), 2);
}

#[test]
fn an_overlong_server_message_is_dropped_and_the_call_settles_when_the_server_exits() {
    let mut w = Wrapped::start(&["--max-message-bytes", "4096"], &[]);
    init(&mut w);
    w.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "big", "arguments": {"bytes": 10000}}}));
    assert_eq!(text(&w.call(json!(2), "echo", json!({}))), "{}");
    let (code, err, w) = w.finish();
    assert_eq!(code, 0);
    assert!(err.contains("dropped a server message of"), "{err}");
    let log = w.log();
    assert_eq!(log[1]["tool"], "big");
    assert_eq!(log[1]["outcome"], "server_exited");
}

#[test]
fn ids_are_tracked_per_direction_and_collisions_are_refused() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    // `ask`: the server sends the client a request with the same id as the pending call.
    w.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ask"}}));
    let req = w.recv();
    assert_eq!(req["method"], "sampling/createMessage");
    assert_eq!(req["id"], 7);
    // While call 7 is in flight, a second call with id 7 is refused without reaching the server.
    w.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo"}}));
    let dup = w.recv();
    assert_eq!(dup["error"]["code"], -32600, "{dup}");
    // The client answers the server's request 7; that is not the answer to call 7.
    w.send(
        json!({"jsonrpc": "2.0", "id": 7, "result": {"model": "m", "role": "assistant",
        "content": {"type": "text", "text": "hi"}}}),
    );
    let r = w.recv();
    assert!(text(&r).contains("\"model\":\"m\""), "{r}");
    // Any other request reusing an id in flight is refused too, in both orders.
    w.send(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 300}}}));
    w.send(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}));
    assert_eq!(w.recv()["error"]["code"], -32600);
    assert_eq!(text(&w.recv()), "slow");
    w.send(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}));
    assert!(w.recv()["result"]["tools"].is_array());
    let (_, _, w) = w.finish();
    let log = w.log();
    schema_valid(&log);
    assert_eq!(log[2]["outcome"], "ok", "call 8 settled by its own answer");
    assert_eq!(log[0]["rule"], "protocol");
    assert!(
        log[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("duplicate-id: ")
    );
    assert_eq!(
        (&log[1]["tool"], &log[1]["outcome"]),
        (&json!("ask"), &json!("ok"))
    );
    let saw = w.server_saw();
    let calls: Vec<(&Value, &Value)> = saw
        .iter()
        .filter(|m| m["method"] == "tools/call" || m["method"] == "tools/list")
        .map(|m| (&m["id"], &m["method"]))
        .collect();
    assert_eq!(
        calls,
        [
            (&json!(7), &json!("tools/call")),
            (&json!(8), &json!("tools/call")),
            (&json!(8), &json!("tools/list")),
        ],
        "duplicates must not reach the server"
    );
}

#[test]
fn server_noise_on_stdout_is_dropped_and_reported() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    let r = w.call(json!(1), "noise", json!({}));
    assert_eq!(
        text(&r),
        "after noise",
        "the noise line must not reach the client"
    );
    let (_, err, _) = w.finish();
    assert!(err.contains("not JSON-RPC: this is not JSON"), "{err}");
}

#[test]
fn a_server_crash_mid_call_answers_pending_calls_and_exits_with_its_status() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    w.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 60000}}}));
    w.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "crash"}}));
    let mut got = [w.recv(), w.recv()];
    got.sort_by_key(|r| r["id"].as_i64());
    for r in &got {
        assert_eq!(r["error"]["code"], -32001, "{r}");
    }
    let status = {
        let t = Instant::now();
        loop {
            if let Some(s) = w.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                t.elapsed() < TIMEOUT,
                "mcp-wrap did not exit with its server"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert_eq!(status.code(), Some(3));
    let log = w.log();
    schema_valid(&log);
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r["outcome"] == "server_exited"));
    assert!(log.iter().all(|r| r["diag"]["responded_ns"].is_null()));
}

#[test]
fn client_eof_settles_pending_calls_and_mirrors_the_exit_status() {
    let mut w = Wrapped::start(&[], &[("MCP_FIXTURE_EXIT", "7")]);
    init(&mut w);
    w.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 300}}}));
    let (code, _, w) = w.finish();
    // The fixture exits at stdin EOF with status 7, before the slow answer: the call is
    // settled as server_exited and the wrapper exits with the server's status.
    assert_eq!(code, 7);
    let log = w.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "server_exited");
}

#[test]
fn a_server_that_ignores_stdin_eof_is_terminated_after_the_grace() {
    let w = Wrapped::start(
        &["--shutdown-grace-ms", "300"],
        &[("MCP_FIXTURE_LINGER", "1")],
    );
    let t = Instant::now();
    let (code, err, _) = w.finish();
    assert_eq!(code, 128 + 15, "killed by SIGTERM: {err}");
    assert!(err.contains("did not exit within 300 ms"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_decision_log_that_cannot_be_written_stops_everything() {
    for (name, args) in [("denied", json!({})), ("echo", json!({"a": 1}))] {
        let mut w = Wrapped::start(&["--decision-log", "/dev/full"], &[]);
        init(&mut w);
        w.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": args}}));
        let (code, err, w) = w.finish();
        assert_eq!(code, 125, "{err}");
        assert!(
            err.contains("cannot write the decision log /dev/full"),
            "{err}"
        );
        let answers: Vec<Vec<u8>> = w.lines.try_iter().collect();
        assert!(
            answers.is_empty(),
            "{name}: an answer was forwarded without its record: {answers:?}"
        );
    }
}

#[test]
fn cancellation_settles_the_call() {
    let mut w = Wrapped::start(&[], &[]);
    init(&mut w);
    w.send(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 200}}}));
    w.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 9, "reason": "user"}}),
    );
    // The fixture ignores the cancellation and answers anyway; the answer passes through.
    assert_eq!(text(&w.recv()), "slow");
    let (_, _, w) = w.finish();
    let log = w.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "cancelled");
    assert!(
        w.server_saw()
            .iter()
            .any(|m| m["method"] == "notifications/cancelled"),
        "the cancellation is passed on"
    );
}

#[test]
fn the_canonical_part_is_identical_across_runs() {
    let session = |w: &mut Wrapped| {
        init(w);
        w.call(json!(1), "echo", json!({"a": 1}));
        w.call(json!(2), "nope", json!({}));
        w.call(json!(3), "fail", json!({}));
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut w = Wrapped::start(&[], &[]);
        session(&mut w);
        let (_, _, w) = w.finish();
        runs.push(w.log().iter().map(canonical).collect::<Vec<_>>());
    }
    assert_eq!(runs[0].len(), 3);
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn without_a_log_records_go_to_stderr_and_the_env_var_names_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let env_log = dir.path().join("env.ndjson");
    let policy = dir.path().join("p.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let run = |env: Option<&Path>| {
        let mut c = Command::new(BIN);
        c.args(["mcp-wrap", "--policy"])
            .arg(&policy)
            .args(["--", "node"])
            .arg(fixture())
            .env_remove("ASSAY_POLICY_LOG")
            .env_remove("MCP_FIXTURE_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = env {
            c.env("ASSAY_POLICY_LOG", p);
        }
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mcp-wrap: decision {\"schema\":\"assay.runner.policy_event.v2\""),
        "{err}"
    );
    let out = run(Some(&env_log));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("decision {"));
    run(Some(&env_log));
    let log = read_ndjson(&env_log);
    assert_eq!(log.len(), 2, "appended, not truncated");
}

#[test]
fn bad_policies_and_missing_servers_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        "default: deny\nrules:\n  - name: a\n    tool: x\n    decision: allow\n    colour: red\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["mcp-wrap", "--policy"])
        .arg(&policy)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:6:5: error[unknown-key]", policy.display())),
        "{err}"
    );
    std::fs::write(&policy, "default: deny\n").unwrap();
    let out = Command::new(BIN)
        .args(["mcp-wrap", "--policy"])
        .arg(&policy)
        .args(["--", "/nonexistent/server"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let out = Command::new(BIN)
        .args(["mcp-wrap", "--policy"])
        .arg(&policy)
        .args(["--decision-log", "/nonexistent/dir/log", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open the decision log"));
}

/// server-everything + the SDK client: the same client-visible results direct and wrapped.
#[test]
fn transparent_for_server_everything_and_the_sdk_client() {
    let dir = mcp_dir();
    let server = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        server.exists() && dir.join("node_modules/@modelcontextprotocol/sdk").exists(),
        "tests/mcp/node_modules is missing: run scripts/setup"
    );
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("p.yaml");
    std::fs::write(
        &policy,
        "default: deny\nrules:\n  - name: used\n    tool: \"{echo,get-sum,trigger-long-running-operation,trigger-sampling-request}\"\n    decision: allow\n",
    )
    .unwrap();
    let log = tmp.path().join("d.ndjson");
    let session = |wrapped: bool| {
        let mut c = Command::new("node");
        c.current_dir(&dir).arg("session-client.mjs").arg("--");
        if wrapped {
            c.arg(BIN)
                .args(["mcp-wrap", "--policy"])
                .arg(&policy)
                .arg("--decision-log")
                .arg(&log)
                .arg("--");
        }
        c.arg("node").arg(&server).arg("stdio");
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "session client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let direct = session(false);
    let wrapped = session(true);
    assert_eq!(
        direct, wrapped,
        "wrapped session differs from the direct one"
    );
    // The session really exercised what it claims.
    assert_eq!(
        direct["sum"]["content"][0]["text"],
        "The sum of 2 and 3 is 5."
    );
    assert_eq!(direct["progress"], json!([[1, 3], [2, 3]]));
    assert_eq!(direct["samplingRequests"].as_array().unwrap().len(), 1);
    assert_eq!(direct["cancelled"]["code"], -32001);
    assert_eq!(direct["unknownMethod"]["code"], -32601);
    assert!(direct["resources"]["count"].as_u64().unwrap() > 0);
    let records = read_ndjson(&log);
    schema_valid(&records);
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["tool"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("echo", "ok"),
            ("get-sum", "ok"),
            ("get-sum", "tool_error"),
            ("trigger-long-running-operation", "ok"),
            ("trigger-sampling-request", "ok"),
            ("trigger-long-running-operation", "cancelled"),
            ("echo", "ok"),
        ]
    );
}

fn slow(id: i64, ms: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": ms}}})
}

/// `(forwarded_ns, responded_ns)` of each record with a window, by JSON-RPC id.
fn windows(log: &[Value]) -> Vec<(String, u64, u64)> {
    let mut w: Vec<(String, u64, u64)> = log
        .iter()
        .filter_map(|r| {
            let d = &r["diag"];
            Some((
                d["jsonrpc_id"].as_str()?.to_string(),
                d["forwarded_ns"].as_u64()?,
                d["responded_ns"].as_u64()?,
            ))
        })
        .collect();
    w.sort_by_key(|x| x.1);
    w
}

/// Three calls sent at once: in a measured run the server gets them one at a time, each window
/// stands alone and the later ones carry how long they were held; a denial is answered at once.
#[test]
fn concurrent_calls_are_held_one_at_a_time_in_a_measured_run() {
    let mut w = Wrapped::start(&[], &[("ASSAY_RUN_ID", "r1")]);
    init(&mut w);
    for id in 1..=3 {
        w.send(slow(id, 150));
    }
    w.send(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope"}}));
    let first = w.recv();
    assert_eq!(
        first["id"], 4,
        "the denial is not held behind the calls: {first}"
    );
    let ids: Vec<Value> = (0..3).map(|_| w.recv()["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(2), json!(3)]);
    let (code, err, w) = w.finish();
    assert_eq!(code, 0, "{err}");
    let log = w.log();
    schema_valid(&log);
    let win = windows(&log);
    assert_eq!(
        win.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    for pair in win.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "call {} was forwarded before call {} was answered: {win:?}",
            pair[1].0,
            pair[0].0
        );
    }
    let held: Vec<(&Value, &Value)> = log
        .iter()
        .map(|r| (&r["diag"]["jsonrpc_id"], &r["diag"]["held_ns"]))
        .collect();
    for (id, h) in &held {
        match id.as_str() {
            Some("1") | Some("4") => assert!(h.is_null(), "{id} was not held: {held:?}"),
            _ => assert!(
                h.as_u64().is_some_and(|ns| ns >= 100_000_000),
                "{id} waited for at least one slow call: {held:?}"
            ),
        }
    }
}

/// `--calls concurrent`: the calls reach the server together and their windows overlap.
#[test]
fn calls_concurrent_forwards_as_the_client_sends() {
    let mut w = Wrapped::start(&["--calls", "concurrent"], &[("ASSAY_RUN_ID", "r1")]);
    init(&mut w);
    w.send(slow(1, 300));
    w.send(slow(2, 300));
    w.recv();
    w.recv();
    let (_, _, w) = w.finish();
    let log = w.log();
    let win = windows(&log);
    assert_eq!(win.len(), 2);
    assert!(win[1].1 < win[0].2, "the windows overlap: {win:?}");
    assert!(log.iter().all(|r| r["diag"]["held_ns"].is_null()));
}

/// A held call the client cancels never reaches the server; the one before it and the one after
/// it run in order.
#[test]
fn a_held_call_can_be_cancelled() {
    let mut w = Wrapped::start(&["--calls", "one-at-a-time"], &[]);
    init(&mut w);
    w.send(slow(1, 300));
    w.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"held": true}}}));
    w.send(slow(3, 10));
    w.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 3, "reason": "user"}}),
    );
    assert_eq!(w.recv()["id"], 1);
    assert_eq!(w.recv()["id"], 2, "the held echo follows the slow call");
    let (_, _, w) = w.finish();
    let log = w.log();
    schema_valid(&log);
    let outcome = |id: &str| {
        log.iter()
            .find(|r| r["diag"]["jsonrpc_id"] == id)
            .map(|r| (r["outcome"].clone(), r["diag"]["forwarded_ns"].clone()))
    };
    assert_eq!(outcome("3"), Some((json!("cancelled"), Value::Null)));
    assert_eq!(outcome("2").unwrap().0, json!("ok"));
    let saw = w.server_saw();
    assert!(
        !saw.iter()
            .any(|m| m["id"] == 3 && m["method"] == "tools/call"),
        "the cancelled held call never reached the server"
    );
}

/// While the server's request to the client is open, a call the client makes (perhaps to answer
/// it) is not held behind the call that asked: it would wait for a call that waits for it.
#[test]
fn a_call_made_while_the_server_asks_the_client_is_not_held() {
    let mut w = Wrapped::start(&["--calls", "one-at-a-time"], &[]);
    init(&mut w);
    w.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "ask"}}));
    let req = w.recv();
    assert_eq!(req["method"], "sampling/createMessage", "{req}");
    w.send(json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"nested": true}}}));
    assert_eq!(
        w.recv()["id"],
        8,
        "the nested call is answered while ask is open"
    );
    w.send(
        json!({"jsonrpc": "2.0", "id": 7, "result": {"model": "m", "role": "assistant",
        "content": {"type": "text", "text": "hi"}}}),
    );
    assert!(text(&w.recv()).contains("\"model\":\"m\""));
    // the server's request answered: holding applies again
    w.send(slow(9, 200));
    w.send(slow(10, 10));
    assert_eq!(w.recv()["id"], 9);
    assert_eq!(w.recv()["id"], 10);
    let (_, _, w) = w.finish();
    let log = w.log();
    schema_valid(&log);
    let held = |id: &str| {
        log.iter()
            .find(|r| r["diag"]["jsonrpc_id"] == id)
            .map(|r| r["diag"]["held_ns"].clone())
            .unwrap()
    };
    assert!(held("8").is_null(), "the nested call was not held");
    assert!(held("10").is_u64(), "call 10 was held behind call 9");
}

/// The client closes its stdin with calls held: they still reach the server and are answered.
#[test]
fn held_calls_are_forwarded_after_the_client_closes() {
    let mut w = Wrapped::start(&["--calls", "one-at-a-time"], &[]);
    init(&mut w);
    w.send(slow(1, 200));
    w.send(slow(2, 10));
    let (code, err, w) = w.finish();
    assert_eq!(code, 0, "{err}");
    let answers: Vec<Value> = w
        .lines
        .try_iter()
        .map(|l| serde_json::from_slice(&l).unwrap())
        .filter(|v: &Value| v["id"] == 1 || v["id"] == 2)
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    let log = w.log();
    assert!(log.iter().all(|r| r["outcome"] == "ok"), "{log:?}");
}

/// A client cannot make the wrapper hold calls without bound: past `MAX_HELD` (1024) waiting
/// calls the next is refused and recorded as `held-limit`; the held ones still run.
#[test]
fn held_calls_are_bounded() {
    let mut w = Wrapped::start(&["--calls", "one-at-a-time"], &[]);
    init(&mut w);
    w.send(slow(1, 1500));
    let mut batch = Vec::new();
    for id in 2..=1026 {
        let mut b = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id,
            "method": "tools/call", "params": {"name": "echo", "arguments": {}}}))
        .unwrap();
        b.push(b'\n');
        batch.extend(b);
    }
    w.send_raw(&batch);
    let refused = w.recv();
    assert_eq!(
        refused["id"], 1026,
        "the call past the bound is refused: {refused}"
    );
    assert_eq!(refused["error"]["code"], -32600);
    for _ in 0..1025 {
        w.recv();
    }
    let (_, _, w) = w.finish();
    let log = w.log();
    assert_eq!(log.len(), 1026);
    let limit: Vec<&Value> = log
        .iter()
        .filter(|r| r["reason"].as_str().unwrap().starts_with("held-limit: "))
        .collect();
    assert_eq!(limit.len(), 1, "{limit:?}");
    assert_eq!(limit[0]["diag"]["jsonrpc_id"], "1026");
}
