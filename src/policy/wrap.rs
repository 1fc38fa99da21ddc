//! The `mcp-wrap` proxy: an MCP client on one side (its stdin/stdout here as `client_in` /
//! `client_out`), the stdio server it starts on the other. Two threads pump lines; the main
//! thread watches the server process.
//!
//! - Client → server: every line is classified. A `tools/call` is decided by the policy before
//!   anything is written to the server; an allowed call is forwarded re-serialized from the
//!   parsed value (so the server sees exactly what was decided), everything else byte for byte.
//! - Server → client: a response whose id is an in-flight `tools/call` settles that call: its
//!   record is written and fsynced, then the response is forwarded byte for byte.
//! - Ids are tracked per direction: only client requests are tracked, and only server responses
//!   settle them, so server→client requests (sampling, elicitation, ping) with the same ids pass.
//! - One call at a time ([`CallOrder::OneAtATime`], the default in a measured run): an allowed
//!   `tools/call` that arrives while another is in flight is held, and forwarded once the one
//!   before it is settled. Every call's window (forwarded → responded) then stands alone, so the
//!   kernel's effects bind to exactly one call whatever the model's parallelism; the time held is
//!   the record's `diag.held_ns`. Other messages are never held.
//! - Lines to the server go through an [`Outbox`] written by a thread of its own.
//!
//! Hostile input: see `docs/policy.md` ("What happens to odd input"). No lock is held across a
//! write to the server or the client, so a slow peer cannot deadlock the other direction.
//! Imports: `policy::{config, framing}`, `contracts::policy_event`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::{Policy, Verdict, show};
use super::framing::{Frame, Kind, LineReader, Message, classify, id_key, is_tools_call};
use super::outbox::Outbox;
use crate::contracts::policy_event::{
    Decision, IdSource, Outcome, PolicyDiag, PolicyEvent, SCHEMA,
};

/// `params._meta` key carrying the client's call id.
pub const META_KEY: &str = "assay.dev/tool_call_id";
/// Longest `_meta` call id taken as is; a longer one is ignored (the id is derived).
pub const MAX_META_ID_CHARS: usize = 256;
/// Default bound on one message, either direction.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 32 << 20;
/// Most non-`tools/call` client requests tracked in flight; past it, more are forwarded
/// untracked (their ids are then not checked for collisions).
pub const MAX_TRACKED: usize = 1 << 16;
/// Most allowed `tools/call`s held at once ([`CallOrder::OneAtATime`]); past it a call is
/// refused, so a client cannot make the wrapper hold without bound.
pub const MAX_HELD: usize = 1024;
/// Most bytes of held calls' messages; past it a call is refused (as for [`MAX_HELD`]).
pub const MAX_HELD_BYTES: usize = 64 << 20;
/// After SIGTERM, how long the server gets before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(2);
/// After the server exits, how long its stdout may stay open (held by a descendant).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// JSON-RPC error codes the wrapper answers with.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const INVALID_PARAMS: i64 = -32602;
    /// Server exited before answering (implementation-defined server error range).
    pub const SERVER_EXITED: i64 = -32001;
}

/// How allowed `tools/call`s reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOrder {
    /// A call waits until the one before it is settled: windows never overlap.
    OneAtATime,
    /// As the client sends them: concurrent calls' windows overlap, and correlation reports
    /// their effects as `overlapping-windows`, bound to neither.
    Concurrent,
}

/// What `mcp-wrap` runs.
pub struct WrapConfig {
    pub policy: Policy,
    /// The server command (program first).
    pub command: Vec<OsString>,
    /// Append one JSON line per record here (fsynced); `None`: records go to the note sink.
    pub decision_log: Option<PathBuf>,
    pub run_id: String,
    pub max_message_bytes: usize,
    /// After the client closes its stdin (and so the server's), how long the server may take
    /// to exit before SIGTERM.
    pub shutdown_grace: Duration,
    pub calls: CallOrder,
}

/// Where the proxy talks: the client's side of the pipe and a sink for stderr notes.
pub struct ClientIo {
    pub input: Box<dyn Read + Send>,
    pub output: Box<dyn Write + Send>,
    /// One line of diagnostics (the CLI prints it to stderr).
    pub note: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Why the proxy could not run or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    #[error("cannot start the server `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("cannot open the decision log {path}: {source}")]
    OpenLog { path: PathBuf, source: io::Error },
    #[error(
        "cannot write the decision log {path}: {source} (the server was stopped: no call goes unrecorded)"
    )]
    WriteLog { path: String, source: io::Error },
    #[error("no server command given")]
    NoCommand,
}

/// How the proxy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapEnd {
    /// The server's exit code, or 128+N when signal N killed it.
    pub exit_code: i32,
    /// Records written.
    pub records: u64,
}

/// CLOCK_MONOTONIC in ns: the clock of BPF's `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call; CLOCK_MONOTONIC
    // is always supported on Linux, and on failure `ts` stays zeroed.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A `tools/call` the server has and has not answered yet.
struct Pending {
    tool_call_id: String,
    source: IdSource,
    tool: String,
    verdict: Verdict,
    jsonrpc_id: Option<String>,
    received_ns: u64,
    forwarded_ns: Option<u64>,
    /// Set when the call was held: ns from its receipt to its forwarding.
    held_ns: Option<u64>,
    arguments_sha256: Option<String>,
}

/// An allowed call waiting for the one in flight: its key, its record, its bytes.
struct Held {
    key: String,
    call: Pending,
    bytes: Vec<u8>,
}

enum Sink {
    File { file: File, path: String },
    Note,
}

struct State {
    pending: HashMap<String, Pending>,
    /// Allowed calls not yet forwarded ([`CallOrder::OneAtATime`]), oldest first.
    held: VecDeque<Held>,
    /// Bytes of the held calls' messages.
    held_bytes: usize,
    /// Ids of the server's requests to the client not yet answered (at most [`MAX_TRACKED`]).
    server_asks: HashSet<String>,
    /// Ids of the client's other requests in flight (so no id is in flight twice, and a
    /// response settles only the request it answers); at most [`MAX_TRACKED`].
    others: HashSet<String>,
    sink: Sink,
    seq: u64,
    /// Set once a record could not be written: nothing more is forwarded.
    broken: Option<WrapError>,
}

impl State {
    /// Whether a client request with this id is in flight (forwarded or held).
    fn in_flight(&self, key: &str) -> bool {
        self.pending.contains_key(key)
            || self.others.contains(key)
            || self.held.iter().any(|h| h.key == key)
    }
}

struct Shared {
    state: Mutex<State>,
    client_out: Mutex<Box<dyn Write + Send>>,
    outbox: Outbox,
    calls: CallOrder,
    note: Arc<dyn Fn(&str) + Send + Sync>,
    run_id: String,
    wrapper_pid: u32,
    server_pid: u32,
}

enum Event {
    ClientClosed,
    ServerClosed,
    Broken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Writes the record of a settled call (write + fdatasync) before anything is forwarded.
    /// `Err(())` once the log is broken: the caller forwards nothing.
    fn record(
        &self,
        st: &mut State,
        p: Pending,
        outcome: Outcome,
        responded_ns: Option<u64>,
    ) -> Result<(), ()> {
        if st.broken.is_some() {
            return Err(());
        }
        let ev = PolicyEvent {
            schema: SCHEMA.into(),
            run_id: self.run_id.clone(),
            seq: st.seq,
            tool_call_id: p.tool_call_id,
            tool_call_id_source: p.source,
            tool: p.tool,
            decision: p.verdict.decision,
            rule: p.verdict.rule,
            reason: p.verdict.reason,
            outcome,
            diag: Some(PolicyDiag {
                jsonrpc_id: p.jsonrpc_id,
                wrapper_pid: self.wrapper_pid,
                server_pid: self.server_pid,
                received_ns: p.received_ns,
                forwarded_ns: p.forwarded_ns,
                held_ns: p.held_ns,
                responded_ns,
                recorded_unix_ms: unix_ms(),
                arguments_sha256: p.arguments_sha256,
            }),
        };
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        let written = match &mut st.sink {
            Sink::File { file, path } => file
                .write_all(&line)
                .and_then(|()| file.sync_data())
                .map_err(|source| WrapError::WriteLog {
                    path: path.clone(),
                    source,
                }),
            Sink::Note => {
                (self.note)(&format!(
                    "mcp-wrap: decision {}",
                    String::from_utf8_lossy(&line[..line.len() - 1])
                ));
                Ok(())
            }
        };
        match written {
            Ok(()) => {
                st.seq += 1;
                Ok(())
            }
            Err(e) => {
                (self.note)(&format!("mcp-wrap: {e}"));
                st.broken = Some(e);
                Err(())
            }
        }
    }

    /// The server asked the client something (a request of its own, id `id`).
    fn asked(&self, id: &Value) {
        let mut st = lock(&self.state);
        if st.server_asks.len() < MAX_TRACKED {
            st.server_asks.insert(id_key(id));
        }
    }

    /// The client answered the server's request `id`.
    fn answered(&self, id: &Value) {
        lock(&self.state).server_asks.remove(&id_key(id));
    }

    /// Forwards the oldest held call once no `tools/call` is in flight (state locked by the
    /// caller). Never waits: the server pump calls it.
    fn release_held(&self, st: &mut State) {
        if !st.pending.is_empty() || st.broken.is_some() {
            return;
        }
        let Some(h) = st.held.pop_front() else {
            return;
        };
        st.held_bytes = st.held_bytes.saturating_sub(h.bytes.len());
        let mut call = h.call;
        let now = monotonic_ns();
        call.forwarded_ns = Some(now);
        call.held_ns = Some(now.saturating_sub(call.received_ns));
        st.pending.insert(h.key, call);
        self.outbox.send_now(h.bytes);
    }

    /// One line to the client; errors (client gone) are ignored: records are already written.
    fn to_client(&self, line: &[u8]) {
        let mut out = lock(&self.client_out);
        let _ = out
            .write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
    }

    fn to_client_json(&self, v: &Value) {
        self.to_client(&serde_json::to_vec(v).unwrap_or_default());
    }
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn denial(id: &Value, reason: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "content": [{"type": "text", "text": format!("Denied by the mcp-wrap policy: {reason}")}],
        "isError": true
    }})
}

fn outcome_of(response: &Value) -> Outcome {
    if response.get("error").is_some() {
        Outcome::RpcError
    } else if let Some(r) = response.get("result") {
        if r.get("isError") == Some(&Value::Bool(true)) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        }
    } else {
        Outcome::InvalidResponse
    }
}

/// What the client thread does with a `tools/call`.
enum CallAction {
    /// Forward these bytes (re-serialized) to the server; the call is pending.
    Forward(Vec<u8>),
    /// Answer the client with this (the record is written).
    Answer(Value),
    /// Nothing to send now: a `tools/call` notification (dropped), a held call (forwarded
    /// later), or the log is broken.
    Nothing,
}

fn protocol(reason: String) -> Verdict {
    Verdict {
        decision: Decision::Deny,
        rule: "protocol".into(),
        reason,
    }
}

struct ClientSide {
    shared: Arc<Shared>,
    policy: Policy,
}

/// A call's tool call id: the client's `_meta` id when it sent a usable one, else one derived
/// from the JSON-RPC id.
fn tool_call_id(params: Option<&Value>, jsonrpc_id: Option<&str>) -> (String, IdSource) {
    match params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_KEY))
        .and_then(Value::as_str)
    {
        Some(s) if !s.is_empty() && s.chars().count() <= MAX_META_ID_CHARS => {
            (s.to_string(), IdSource::Meta)
        }
        _ => (
            format!("jsonrpc:{}", jsonrpc_id.unwrap_or("none")),
            IdSource::Derived,
        ),
    }
}

impl ClientSide {
    /// Whether an allowed call arriving now is held: one at a time, another call in flight or
    /// waiting, and no request of the server's to the client open (the client may be answering
    /// it by calling a tool of this server: holding that call would wait for a call that waits
    /// for it; it is forwarded, and correlation reports the overlap).
    fn holds(&self, st: &State) -> bool {
        self.shared.calls == CallOrder::OneAtATime
            && (!st.pending.is_empty() || !st.held.is_empty())
            && st.server_asks.is_empty()
    }

    /// Decides one `tools/call`; in a batch (`in_batch`) it is refused whatever the policy says.
    ///
    /// One function on purpose: the refusals, the policy's decision and the pending entry of a
    /// forwarded call are made under one lock of the state, so an id is never checked in one
    /// step and entered in another.
    #[allow(
        clippy::too_many_lines,
        reason = "every refusal, the decision and the pending or held entry under one lock"
    )]
    fn call(&self, v: &Value, id: Option<&Value>, in_batch: bool) -> CallAction {
        let received_ns = monotonic_ns();
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        let params = v.get("params");
        let jsonrpc_id = id.map(id_key);
        let (tool_call_id, source) = tool_call_id(params, jsonrpc_id.as_deref());
        let name = params.and_then(|p| p.get("name")).and_then(Value::as_str);
        let arguments = params.and_then(|p| p.get("arguments"));
        let arguments_sha256 = arguments.map(|a| {
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(serde_json::to_vec(a).unwrap_or_default()))
            )
        });
        let mut st = lock(&self.shared.state);
        let (verdict, answer) = match (id, name) {
            (None, _) => (
                protocol(
                    "tools-call-notification: a tools/call without an id cannot be answered; dropped"
                        .into(),
                ),
                None,
            ),
            (Some(id), _) if in_batch => {
                let msg = "mcp-wrap refuses JSON-RPC batches that contain tools/call; send each call on its own line";
                (
                    protocol(format!("batched-call: {msg}")),
                    Some(rpc_error(id, codes::INVALID_REQUEST, msg)),
                )
            }
            (Some(id), None) | (Some(id), Some("")) => {
                let msg = "tools/call needs params.name, a non-empty string (refused by mcp-wrap)";
                (
                    protocol(format!("missing-tool-name: {msg}")),
                    Some(rpc_error(id, codes::INVALID_PARAMS, msg)),
                )
            }
            (Some(id), Some(_)) if st.in_flight(&id_key(id)) => {
                let msg = format!(
                    "request id {} is already in flight (refused by mcp-wrap)",
                    show(&id_key(id))
                );
                (
                    protocol(format!("duplicate-id: {msg}")),
                    Some(rpc_error(id, codes::INVALID_REQUEST, &msg)),
                )
            }
            (Some(id), Some(_))
                if self.holds(&st)
                    && (st.held.len() >= MAX_HELD
                        || st.held_bytes + bytes.len() > MAX_HELD_BYTES) =>
            {
                let msg = format!(
                    "{} tools/call ({} bytes) are already waiting for this server; at most {MAX_HELD} calls and {MAX_HELD_BYTES} bytes wait (refused by mcp-wrap)",
                    st.held.len(),
                    st.held_bytes
                );
                (
                    protocol(format!("held-limit: {msg}")),
                    Some(rpc_error(id, codes::INVALID_REQUEST, &msg)),
                )
            }
            (Some(id), Some(tool)) => {
                let verdict = self.policy.decide(tool, arguments);
                match verdict.decision {
                    Decision::Deny => {
                        let answer = denial(id, &verdict.reason);
                        (verdict, Some(answer))
                    }
                    Decision::Allow => {
                        let mut call = Pending {
                            tool_call_id,
                            source,
                            tool: tool.into(),
                            verdict,
                            jsonrpc_id,
                            received_ns,
                            forwarded_ns: None,
                            held_ns: None,
                            arguments_sha256,
                        };
                        if self.holds(&st) {
                            let key = id_key(id);
                            st.held_bytes += bytes.len();
                            st.held.push_back(Held { key, call, bytes });
                            return CallAction::Nothing;
                        }
                        call.forwarded_ns = Some(monotonic_ns());
                        st.pending.insert(id_key(id), call);
                        return if st.broken.is_some() {
                            CallAction::Nothing
                        } else {
                            CallAction::Forward(bytes)
                        };
                    }
                }
            }
        };
        let p = Pending {
            tool_call_id,
            source,
            tool: name.unwrap_or("").into(),
            verdict,
            jsonrpc_id,
            received_ns,
            forwarded_ns: None,
            held_ns: None,
            arguments_sha256,
        };
        if self
            .shared
            .record(&mut st, p, Outcome::Denied, None)
            .is_err()
        {
            return CallAction::Nothing;
        }
        answer.map_or(CallAction::Nothing, CallAction::Answer)
    }

    /// `notifications/cancelled` for an in-flight call settles it as cancelled.
    fn cancelled(&self, v: &Value) {
        let Some(rid) = v.get("params").and_then(|p| p.get("requestId")) else {
            return;
        };
        let key = id_key(rid);
        let mut st = lock(&self.shared.state);
        st.others.remove(&key);
        if let Some(p) = st.pending.remove(&key) {
            let _ = self.shared.record(&mut st, p, Outcome::Cancelled, None);
            self.shared.release_held(&mut st);
        } else if let Some(i) = st.held.iter().position(|h| h.key == key)
            && let Some(h) = st.held.remove(i)
        {
            st.held_bytes = st.held_bytes.saturating_sub(h.bytes.len());
            let _ = self
                .shared
                .record(&mut st, h.call, Outcome::Cancelled, None);
        }
    }

    /// Tracks the id of a request that is not a `tools/call`; false when it is already in
    /// flight (then the request is refused).
    fn track(&self, key: String) -> bool {
        let mut st = lock(&self.shared.state);
        if st.in_flight(&key) {
            false
        } else {
            if st.others.len() < MAX_TRACKED {
                st.others.insert(key);
            }
            true
        }
    }

    /// Refuses a batch that holds a `tools/call`: an error for every request in it, a record
    /// for every `tools/call`; nothing of it reaches the server.
    fn refuse_batch(&self, items: &[(Value, Kind)]) {
        let mut answers = Vec::new();
        for (v, k) in items {
            match k {
                Kind::Request { id, .. } if is_tools_call(k) => {
                    if let CallAction::Answer(a) = self.call(v, Some(id), true) {
                        answers.push(a);
                    }
                }
                Kind::Notification { .. } if is_tools_call(k) => {
                    let _ = self.call(v, None, true);
                }
                Kind::Request { id, .. } => answers.push(rpc_error(
                    id,
                    codes::INVALID_REQUEST,
                    "mcp-wrap refuses JSON-RPC batches that contain tools/call; nothing in this batch was forwarded",
                )),
                _ => {}
            }
        }
        if !answers.is_empty() {
            self.shared.to_client_json(&Value::Array(answers));
        }
    }

    /// One line from the client: forwarded, answered with an error (not parseable JSON-RPC, a
    /// request id already in flight), or, for a `tools/call`, decided ([`ClientSide::call`]).
    fn dispatch(&self, line: &[u8], send: &mut dyn FnMut(&[u8], &Shared)) {
        match classify(line) {
            Message::Blank => {}
            Message::NotUtf8 => self.shared.to_client_json(&rpc_error(
                &Value::Null,
                codes::PARSE_ERROR,
                "parse error: message is not valid UTF-8 (not forwarded by mcp-wrap)",
            )),
            Message::Malformed(why) => self.shared.to_client_json(&rpc_error(
                &Value::Null,
                codes::PARSE_ERROR,
                &format!("parse error: {why} (not forwarded by mcp-wrap)"),
            )),
            Message::TooManyValues => self.shared.to_client_json(&rpc_error(
                &Value::Null,
                codes::INVALID_REQUEST,
                &format!(
                    "message holds more than {} JSON values (not forwarded by mcp-wrap)",
                    super::framing::MAX_JSON_VALUES
                ),
            )),
            Message::NotRpc => send(line, &self.shared),
            Message::Single(v, k) if is_tools_call(&k) => {
                let id = match &k {
                    Kind::Request { id, .. } => Some(id),
                    _ => None,
                };
                match self.call(&v, id, false) {
                    CallAction::Forward(bytes) => send(&bytes, &self.shared),
                    CallAction::Answer(a) => self.shared.to_client_json(&a),
                    CallAction::Nothing => {}
                }
            }
            Message::Single(v, Kind::Notification { method })
                if method == "notifications/cancelled" =>
            {
                self.cancelled(&v);
                send(line, &self.shared);
            }
            Message::Single(_, Kind::Request { id, .. }) => {
                if self.track(id_key(&id)) {
                    send(line, &self.shared);
                } else {
                    self.shared.to_client_json(&rpc_error(
                        &id,
                        codes::INVALID_REQUEST,
                        &format!(
                            "request id {} is already in flight (refused by mcp-wrap)",
                            show(&id_key(&id))
                        ),
                    ));
                }
            }
            Message::Single(_, Kind::Response { id }) => {
                self.shared.answered(&id);
                send(line, &self.shared);
            }
            Message::Single(..) => send(line, &self.shared),
            Message::Batch(items) => {
                if !items.iter().any(|(_, k)| is_tools_call(k)) {
                    for (_, k) in &items {
                        if let Kind::Response { id } = k {
                            self.shared.answered(id);
                        }
                    }
                    send(line, &self.shared);
                    return;
                }
                self.refuse_batch(&items);
            }
        }
    }

    /// The client-to-server pump: reads the client's messages, forwards what passes, answers
    /// what is refused, until the client closes or the decision log breaks.
    ///
    /// Calls held when the client closes still go to the server, and its stdin stays open
    /// until they are answered, as if they had been forwarded before the close: the server
    /// sees what it would have seen without holding. The shutdown grace counts from the close
    /// all the same, so a server that never answers is stopped as before.
    fn run(self, input: Box<dyn Read + Send>, max: usize, events: mpsc::Sender<Event>) {
        self.pump(input, max, &events);
        let _ = events.send(Event::ClientClosed);
        let mut waiting = !lock(&self.shared.state).held.is_empty();
        while waiting {
            std::thread::sleep(Duration::from_millis(10));
            let st = lock(&self.shared.state);
            waiting = (!st.held.is_empty() || !st.pending.is_empty()) && st.broken.is_none();
        }
        self.shared.outbox.close();
    }

    fn pump(&self, input: Box<dyn Read + Send>, max: usize, events: &mpsc::Sender<Event>) {
        let mut reader = LineReader::new(BufReader::with_capacity(1 << 16, input), max);
        let mut send = |bytes: &[u8], shared: &Shared| shared.outbox.send(bytes.to_vec());
        loop {
            if lock(&self.shared.state).broken.is_some() {
                let _ = events.send(Event::Broken);
                return;
            }
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    (self.shared.note)(&format!("mcp-wrap: reading from the client: {e}"));
                    break;
                }
            };
            let line = match frame {
                Frame::TooLong { bytes } => {
                    let msg = format!(
                        "message of {bytes} bytes exceeds the limit of {max} bytes (--max-message-bytes); not forwarded"
                    );
                    (self.shared.note)(&format!("mcp-wrap: client {msg}"));
                    self.shared.to_client_json(&rpc_error(
                        &Value::Null,
                        codes::INVALID_REQUEST,
                        &msg,
                    ));
                    continue;
                }
                Frame::Line(l) => l,
            };
            self.dispatch(&line, &mut send);
        }
    }
}

fn server_side(
    shared: Arc<Shared>,
    output: std::process::ChildStdout,
    max: usize,
    events: mpsc::Sender<Event>,
) {
    let mut reader = LineReader::new(BufReader::with_capacity(1 << 16, output), max);
    let mut dropped = 0u64;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                (shared.note)(&format!("mcp-wrap: reading from the server: {e}"));
                break;
            }
        };
        let line = match frame {
            Frame::TooLong { bytes } => {
                (shared.note)(&format!(
                    "mcp-wrap: dropped a server message of {bytes} bytes (limit {max}, --max-message-bytes)"
                ));
                continue;
            }
            Frame::Line(l) => l,
        };
        let responded_ns = monotonic_ns();
        let settle = |v: &Value, id: &Value| -> Result<(), ()> {
            let mut st = lock(&shared.state);
            match st.pending.remove(&id_key(id)) {
                Some(p) => {
                    let recorded = shared.record(&mut st, p, outcome_of(v), Some(responded_ns));
                    shared.release_held(&mut st);
                    recorded
                }
                None => {
                    st.others.remove(&id_key(id));
                    Ok(())
                }
            }
        };
        let ok = match classify(&line) {
            Message::Blank => continue,
            Message::TooManyValues => {
                (shared.note)(&format!(
                    "mcp-wrap: dropped a server message holding more than {} JSON values",
                    super::framing::MAX_JSON_VALUES
                ));
                continue;
            }
            Message::NotUtf8 | Message::Malformed(_) | Message::NotRpc => {
                dropped += 1;
                if dropped <= 20 {
                    let preview: String =
                        String::from_utf8_lossy(&line).chars().take(120).collect();
                    (shared.note)(&format!(
                        "mcp-wrap: dropped a server stdout line that is not JSON-RPC: {}",
                        show(&preview)
                    ));
                }
                continue;
            }
            Message::Single(v, Kind::Response { id }) => settle(&v, &id),
            Message::Single(_, Kind::Request { id, .. }) => {
                shared.asked(&id);
                Ok(())
            }
            Message::Single(..) => Ok(()),
            Message::Batch(items) => items.iter().try_for_each(|(v, k)| match k {
                Kind::Response { id } => settle(v, id),
                Kind::Request { id, .. } => {
                    shared.asked(id);
                    Ok(())
                }
                _ => Ok(()),
            }),
        };
        if ok.is_err() {
            let _ = events.send(Event::Broken);
            return;
        }
        shared.to_client(&line);
    }
    let _ = events.send(Event::ServerClosed);
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Opens the decision log for appending (records go to the note sink without one).
fn open_sink(decision_log: Option<&std::path::Path>) -> Result<Sink, WrapError> {
    Ok(match decision_log {
        Some(path) => Sink::File {
            file: std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| WrapError::OpenLog {
                    path: path.to_path_buf(),
                    source,
                })?,
            path: path.display().to_string(),
        },
        None => Sink::Note,
    })
}

/// Starts the server with piped stdin and stdout (its stderr is the wrapper's).
fn spawn_server(
    program: &std::ffi::OsString,
    args: &[std::ffi::OsString],
) -> Result<(Child, ChildStdin, std::process::ChildStdout), WrapError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| WrapError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    let (Some(server_in), Some(server_out)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(WrapError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source: io::Error::other("no pipes to the server"),
        });
    };
    Ok((child, server_in, server_out))
}

/// Waits for the server to exit while the pumps run: a closed client stdin gives it
/// `shutdown_grace` before SIGTERM, a broken decision log SIGTERMs it at once, and SIGKILL
/// follows [`KILL_AFTER`] later. Then lets its last output through (at most
/// [`DRAIN_AFTER_EXIT`]) before the caller settles what it left unanswered.
fn supervise(
    child: &mut Child,
    rx: &mpsc::Receiver<Event>,
    shared: &Shared,
    shutdown_grace: Duration,
) -> std::process::ExitStatus {
    let mut client_closed_at: Option<Instant> = None;
    let mut term_at: Option<Instant> = None;
    let mut killed = false;
    let mut server_closed = false;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(Event::ClientClosed) => client_closed_at = Some(Instant::now()),
            Ok(Event::ServerClosed) => {
                server_closed = true;
                settle_all(shared);
            }
            Ok(Event::Broken) => {
                if term_at.is_none() {
                    signal(child, nix::sys::signal::Signal::SIGTERM);
                    term_at = Some(Instant::now());
                }
            }
            Err(_) => {}
        }
        if let Some(t) = client_closed_at
            && term_at.is_none()
            && t.elapsed() >= shutdown_grace
        {
            (shared.note)(&format!(
                "mcp-wrap: the server did not exit within {} ms of its stdin closing; sending SIGTERM",
                shutdown_grace.as_millis()
            ));
            signal(child, nix::sys::signal::Signal::SIGTERM);
            term_at = Some(Instant::now());
        }
        if let Some(t) = term_at
            && !killed
            && t.elapsed() >= KILL_AFTER
        {
            signal(child, nix::sys::signal::Signal::SIGKILL);
            killed = true;
        }
    };
    // Let the server's last output through before settling what it left unanswered.
    let deadline = Instant::now() + DRAIN_AFTER_EXIT;
    while !server_closed && lock(&shared.state).broken.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Event::ServerClosed) => server_closed = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    status
}

/// Runs the proxy until the server exits; returns its exit status.
pub fn run(cfg: WrapConfig, io: ClientIo) -> Result<WrapEnd, WrapError> {
    let Some((program, args)) = cfg.command.split_first() else {
        return Err(WrapError::NoCommand);
    };
    let sink = open_sink(cfg.decision_log.as_deref())?;
    let (mut child, server_in, server_out) = spawn_server(program, args)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            pending: HashMap::new(),
            held: VecDeque::new(),
            held_bytes: 0,
            server_asks: HashSet::new(),
            others: HashSet::new(),
            sink,
            seq: 0,
            broken: None,
        }),
        client_out: Mutex::new(io.output),
        outbox: Outbox::default(),
        calls: cfg.calls,
        note: io.note,
        run_id: cfg.run_id,
        wrapper_pid: std::process::id(),
        server_pid: child.id(),
    });
    let (tx, rx) = mpsc::channel();
    let client = ClientSide {
        shared: shared.clone(),
        policy: cfg.policy,
    };
    let max = cfg.max_message_bytes;
    let client_tx = tx.clone();
    let input = io.input;
    std::thread::Builder::new()
        .name("mcp-wrap-client".into())
        .spawn(move || client.run(input, max, client_tx))
        .map_err(|source| WrapError::Spawn {
            program: "client thread".into(),
            source,
        })?;
    let writer_shared = shared.clone();
    std::thread::Builder::new()
        .name("mcp-wrap-writer".into())
        .spawn(move || {
            let note = writer_shared.note.clone();
            writer_shared.outbox.write_to(server_in, &*note);
        })
        .map_err(|source| WrapError::Spawn {
            program: "writer thread".into(),
            source,
        })?;
    let server_shared = shared.clone();
    let server_tx = tx;
    std::thread::Builder::new()
        .name("mcp-wrap-server".into())
        .spawn(move || server_side(server_shared, server_out, max, server_tx))
        .map_err(|source| WrapError::Spawn {
            program: "server thread".into(),
            source,
        })?;

    let status = supervise(&mut child, &rx, &shared, cfg.shutdown_grace);
    settle_all(&shared);
    let records = lock(&shared.state).seq;
    if let Some(e) = lock(&shared.state).broken.take() {
        return Err(e);
    }
    use std::os::unix::process::ExitStatusExt;
    let exit_code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(125);
    Ok(WrapEnd { exit_code, records })
}

/// Every call still in flight: recorded as `server_exited`, answered with a JSON-RPC error.
fn settle_all(shared: &Shared) {
    let mut answers = Vec::new();
    {
        let mut st = lock(&shared.state);
        let mut left: Vec<(String, Pending)> = st.pending.drain().collect();
        left.extend(st.held.drain(..).map(|h| (h.key, h.call)));
        st.held_bytes = 0;
        left.sort_by_key(|(_, p)| p.received_ns);
        for (key, p) in left {
            if shared
                .record(&mut st, p, Outcome::ServerExited, None)
                .is_err()
            {
                return;
            }
            let id: Value = serde_json::from_str(&key).unwrap_or(Value::Null);
            answers.push(rpc_error(
                &id,
                codes::SERVER_EXITED,
                "the MCP server exited before answering this call (mcp-wrap)",
            ));
        }
    }
    for a in &answers {
        shared.to_client_json(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_response() {
        assert_eq!(outcome_of(&json!({"id": 1, "result": {}})), Outcome::Ok);
        assert_eq!(
            outcome_of(&json!({"id": 1, "result": {"isError": false}})),
            Outcome::Ok
        );
        assert_eq!(
            outcome_of(&json!({"id": 1, "result": {"isError": true}})),
            Outcome::ToolError
        );
        assert_eq!(
            outcome_of(&json!({"id": 1, "result": {"isError": "true"}})),
            Outcome::Ok
        );
        assert_eq!(
            outcome_of(&json!({"id": 1, "error": {"code": 1}})),
            Outcome::RpcError
        );
        assert_eq!(outcome_of(&json!({"id": 1})), Outcome::InvalidResponse);
    }

    #[test]
    fn a_denial_is_a_tool_error_result_carrying_the_reason() {
        let d = denial(&json!("a"), "default-deny: no rule matches tool x");
        assert_eq!(d["id"], "a");
        assert!(d.get("error").is_none());
        assert_eq!(d["result"]["isError"], true);
        assert_eq!(
            d["result"]["content"][0]["text"],
            "Denied by the mcp-wrap policy: default-deny: no rule matches tool x"
        );
    }

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_ns();
        std::thread::sleep(Duration::from_millis(2));
        let b = monotonic_ns();
        assert!(a > 0 && b >= a + 1_000_000, "{a} {b}");
    }
}
