//! One client connection, paired with one upstream connection, pumped by two threads.
//!
//! - Requests (client → daemon, the calling thread): every request head on the keep-alive
//!   connection is parsed, routed and decided ([`decide`]): forwarded (re-serialized, bodies
//!   re-framed), rewritten (create, legacy build), or answered by the proxy itself (refusals,
//!   malformed requests; those end the connection). Each forwarded request queues what its
//!   response needs, in order, for the other thread.
//! - Responses (daemon → client, a second thread): each response is forwarded as it arrives,
//!   chunk by chunk, never buffered, except a create's `201` (small), held until the container
//!   is inspected and recorded, so a `--rm` container is on record before it can start.
//! - Hijacks (attach, exec start, BuildKit sessions): when the daemon answers `101`, or a 2xx
//!   with neither length nor chunking, both directions go raw, bytes already read included.
//!   End of stream one way is forwarded as `shutdown(SHUT_WR)` the other way; the connection
//!   closes when both directions ended.
//!
//! Imports `docker::{http, route, rewrite, binds, upstream, report}`.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender};

use super::binds::DaemonSocket;
use super::buildlog::{BuildLog, quiet_answer};
use super::http::{Framing, HttpError, MAX_BODY, Reader, RequestHead, error_response};
use super::report::{FlagCode, Recorder};
use super::rewrite::{self, CreateRewrite, rewrite_create, update_restarts};
use super::route::{self, Route, Target};
use super::upstream::{Upstream, placement};

/// Largest create response held to be recorded.
const MAX_CREATE_ANSWER: usize = 1 << 20;

/// What every connection shares.
pub struct Context {
    /// Absolute cgroup path for containers.
    pub cgroup_parent: String,
    /// The proxy's own socket path (bound instead of the daemon's).
    pub proxy_socket: String,
    /// Whether the daemon's cgroup driver lets the proxy place containers.
    pub places: bool,
    /// The daemon's `DockerRootDir`.
    pub root_dir: String,
    /// The daemon's default log driver (`LoggingDriver`).
    pub logging_driver: String,
    pub upstream: Upstream,
    pub socket: DaemonSocket,
    pub rec: Recorder,
}

/// What the response thread does with the next response.
enum Pending {
    /// A forwarded request: read and forward its response.
    Forwarded { head_only: bool, expect: Expect },
    /// An answer of the proxy's own; `close` ends the connection after it.
    Own { bytes: Vec<u8>, close: bool },
}

enum Expect {
    Plain,
    /// A create: record the container from a `201`.
    Create {
        image: String,
    },
    /// A hijack: tell the request thread whether the connection went raw.
    Hijack(Sender<bool>),
    /// A placed legacy build: flag what its answer shows the daemon fetched itself; `quiet`:
    /// answer as the client's `q=1` would have (the daemon was asked without it).
    Build {
        what: String,
        quiet: bool,
    },
}

/// What the request loop does after one request.
enum Next {
    Continue,
    /// Wait for the response thread to say whether the connection went raw.
    Hijack(Receiver<bool>),
    Stop,
}

/// Serves one client connection until both directions have ended.
pub fn serve(ctx: &Context, client: &UnixStream, upstream: &UnixStream, peer: Option<u32>) {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let responses = s.spawn(|| responses(ctx, client, upstream, rx, peer));
        requests(ctx, client, upstream, tx);
        let _ = responses.join();
    });
}

/// The request side. Ends with the upstream write side shut down.
fn requests(ctx: &Context, client: &UnixStream, upstream: &UnixStream, tx: Sender<Pending>) {
    let mut reader = Reader::new(client);
    loop {
        let head = match reader.request_head() {
            Ok(Some(h)) => h,
            Ok(None) | Err(HttpError::Read(_)) => break,
            Err(e) => {
                let _ = tx.send(own(e.status(), &e.to_string()));
                break;
            }
        };
        ctx.rec.request();
        match decide(ctx, &head, &mut reader, upstream, &tx) {
            Next::Continue => {}
            Next::Stop => break,
            Next::Hijack(raw) => match raw.recv() {
                Ok(false) => {}
                Ok(true) => {
                    let early = reader.take_buffered();
                    if write_raw(upstream, &early) {
                        pipe(client, upstream);
                    }
                    return;
                }
                Err(_) => break,
            },
        }
    }
    let _ = upstream.shutdown(Shutdown::Write);
}

/// An answer of the proxy's own that ends the connection.
fn own(status: u16, message: &str) -> Pending {
    Pending::Own {
        bytes: error_response(status, message, true),
        close: true,
    }
}

/// Refuses a request: flagged, answered 403, connection closed.
fn refuse(ctx: &Context, tx: &Sender<Pending>, what: &str, why: &str) -> Next {
    ctx.rec.flag(FlagCode::Refused, format!("{what}: {why}"));
    let _ = tx.send(own(
        403,
        &format!("assay-runner docker proxy: {what} refused: {why}"),
    ));
    Next::Stop
}

/// Routes one request and acts on it.
fn decide(
    ctx: &Context,
    head: &RequestHead,
    reader: &mut Reader<&UnixStream>,
    upstream: &UnixStream,
    tx: &Sender<Pending>,
) -> Next {
    let target = match route::parse_target(&head.target) {
        Ok(t) => t,
        Err(e) => {
            let _ = tx.send(own(400, &e.to_string()));
            return Next::Stop;
        }
    };
    let route = route::classify(&head.method, &target.path);
    let mut fwd = Forward {
        head,
        target: head.target.clone(),
        reader,
        upstream,
        tx,
    };
    if let Some((op, name)) = route.container()
        && let Some(id) = foreign(ctx, op, name)
    {
        if matches!(op, "start" | "restart") {
            missing_bind_sources(ctx, op, &id);
        }
        if let Some(pinned) = route::pin_container(&target, name, &id) {
            fwd.target = pinned;
        }
    }
    match &route {
        Route::Create if ctx.places => create(ctx, fwd),
        Route::Create => fwd.send(Expect::Create {
            image: String::new(),
        }),
        Route::Start(name) => start(ctx, fwd, &target, name),
        Route::Update(name) => update(ctx, fwd, name),
        Route::InContainer { op: "exec", name } => exec_create(ctx, fwd, name),
        Route::Build | Route::ImagesCreate => query_route(ctx, fwd, &target, &route),
        Route::Refuse(why) => refuse(
            ctx,
            fwd.tx,
            &format!("{} {}", head.method, head.target),
            why,
        ),
        _ => {
            note(ctx, &route, head);
            if route.hijacks() {
                let (raw_tx, raw_rx) = mpsc::channel();
                match fwd.send(Expect::Hijack(raw_tx)) {
                    Next::Continue => Next::Hijack(raw_rx),
                    other => other,
                }
            } else {
                fwd.send(Expect::Plain)
            }
        }
    }
}

/// Records what a passed-through request means for the run.
fn note(ctx: &Context, route: &Route, head: &RequestHead) {
    let what = || format!("{} {}", head.method, head.target);
    match route {
        Route::BuildKitSession => ctx.rec.flag(FlagCode::BuildKit, what()),
        Route::Swarm => ctx.rec.flag(FlagCode::Swarm, what()),
        Route::Plugin => ctx.rec.flag(FlagCode::Plugin, what()),
        Route::DaemonFileWork(op) => ctx
            .rec
            .flag(FlagCode::DaemonFileWork, format!("{op}: {}", what())),
        Route::DaemonNetwork(op) => ctx
            .rec
            .flag(FlagCode::DaemonNetwork, format!("{op}: {}", what())),
        _ => {}
    }
}

/// Flags work in a container this run did not create.
/// Returns the container's full id when it was resolved, so the request can name it (see
/// [`route::pin_container`]).
fn foreign(ctx: &Context, op: &str, name: &str) -> Option<String> {
    if ctx.rec.is_ours(name) {
        return Some(name.to_string());
    }
    match ctx.upstream.inspect(name) {
        Ok(Some(v)) => {
            let id = v["Id"].as_str().unwrap_or("");
            if !ctx.rec.is_ours(id) {
                ctx.rec.flag(
                    FlagCode::ForeignContainer,
                    format!("{op} in container {name} ({id}), not created in this run"),
                );
            }
            Some(id.to_string()).filter(|id| !id.is_empty())
        }
        Ok(None) => None, // no such container: the daemon answers 404 itself
        Err(e) => {
            ctx.rec.flag(
                FlagCode::ForeignContainer,
                format!("{op} in container {name}, which could not be resolved: {e}"),
            );
            None
        }
    }
}

/// Flags the bind sources of a container about to start (or restart) that do not exist: the
/// daemon creates them (directories, owned by root) on the host itself. `id` is the container's
/// full id, as the request is forwarded.
fn missing_bind_sources(ctx: &Context, op: &str, id: &str) {
    let Ok(Some(v)) = ctx.upstream.inspect(id) else {
        return; // no such container (404 from the daemon), or already flagged by `foreign`
    };
    for m in v["Mounts"].as_array().into_iter().flatten() {
        let Some(src) = m["Source"].as_str().filter(|_| m["Type"] == "bind") else {
            continue;
        };
        if std::fs::symlink_metadata(src).is_err() {
            ctx.rec.flag(
                FlagCode::DaemonFileWork,
                format!("{op} of container {id}: bind source {src} does not exist, and the daemon creates it"),
            );
        }
    }
}

/// A request on its way upstream.
struct Forward<'a, 'r> {
    head: &'a RequestHead,
    /// The target to send (rewritten for builds).
    target: String,
    reader: &'a mut Reader<&'r UnixStream>,
    upstream: &'a UnixStream,
    tx: &'a Sender<Pending>,
}

impl Forward<'_, '_> {
    /// Queues the response's handling, then sends the head and streams the body.
    fn send(self, expect: Expect) -> Next {
        let pending = Pending::Forwarded {
            head_only: self.head.method == "HEAD",
            expect,
        };
        if self.tx.send(pending).is_err() {
            return Next::Stop;
        }
        let framing = self.head.framing;
        let head = self.head.serialize(&self.target, framing);
        let mut up = self.upstream;
        let sent = up
            .write_all(&head)
            .map_err(HttpError::Write)
            .and_then(|()| self.reader.forward_request_body(framing, &mut up));
        match sent {
            Ok(()) => Next::Continue,
            Err(_) => {
                // the response thread sees the end of the upstream stream and answers 502
                let _ = self.upstream.shutdown(Shutdown::Both);
                Next::Stop
            }
        }
    }

    /// Sends the head with a replacement body held in memory.
    fn send_body(self, body: &[u8], expect: Expect) -> Next {
        let pending = Pending::Forwarded {
            head_only: false,
            expect,
        };
        if self.tx.send(pending).is_err() {
            return Next::Stop;
        }
        let mut msg = self
            .head
            .serialize(&self.target, Framing::Length(body.len() as u64));
        msg.extend_from_slice(body);
        if write_raw(self.upstream, &msg) {
            return Next::Continue;
        }
        let _ = self.upstream.shutdown(Shutdown::Both);
        Next::Stop
    }

    /// Reads the whole request body (bounded); on failure answers and stops.
    fn body(&mut self) -> Result<Vec<u8>, Next> {
        match self.reader.collect_body(self.head.framing, MAX_BODY) {
            Ok((_, body)) => Ok(body),
            Err(e) => {
                let _ = self.tx.send(own(e.status(), &e.to_string()));
                Err(Next::Stop)
            }
        }
    }
}

/// `POST /containers/create` with a daemon the proxy can place on: rewritten.
fn create(ctx: &Context, mut fwd: Forward<'_, '_>) -> Next {
    let body = match fwd.body() {
        Ok(b) => b,
        Err(next) => return next,
    };
    let classify = |p: &str| ctx.socket.classify(p);
    let rw = CreateRewrite {
        cgroup_parent: &ctx.cgroup_parent,
        proxy_socket: &ctx.proxy_socket,
        socket: &classify,
    };
    match rewrite_create(&body, &rw) {
        Ok(r) => {
            for src in &r.exposed {
                ctx.rec.flag(
                    FlagCode::SocketExposed,
                    format!("create binds {src}, which holds the daemon socket"),
                );
            }
            if !r.reach.is_empty() {
                ctx.rec.flag(
                    FlagCode::HostReach,
                    format!(
                        "create with {}: what the container reaches past its image and mounts is named as its image's files",
                        r.reach.join(", ")
                    ),
                );
            }
            if r.log_default && !rewrite::keeps_output_local(&ctx.logging_driver) {
                ctx.rec.flag(
                    FlagCode::DaemonNetwork,
                    format!(
                        "create with the daemon's default log driver {}: the daemon sends the container's output where it is told",
                        ctx.logging_driver
                    ),
                );
            }
            for driver in &r.log_drivers {
                ctx.rec.flag(
                    FlagCode::DaemonNetwork,
                    format!(
                        "create with log driver {driver}: the daemon sends the container's output where it is told"
                    ),
                );
            }
            fwd.send_body(&r.body, Expect::Create { image: r.image })
        }
        Err(e) => {
            let _ = fwd
                .tx
                .send(own(400, &format!("assay-runner docker proxy: {e}")));
            Next::Stop
        }
    }
}

/// `POST /containers/{name}/exec`: a privileged exec gets every capability in the container
/// (it can mount, read devices): flagged like a privileged container (`host-reach`).
fn exec_create(ctx: &Context, mut fwd: Forward<'_, '_>, name: &str) -> Next {
    let body = match fwd.body() {
        Ok(b) => b,
        Err(next) => return next,
    };
    match crate::docker::rewrite::exec_privileged(&body) {
        Ok(false) => {}
        Ok(true) => ctx.rec.flag(
            FlagCode::HostReach,
            format!("privileged exec in container {name}: what it reaches past the container's image and mounts is named as its image's files"),
        ),
        Err(e) => {
            let _ = fwd
                .tx
                .send(own(400, &format!("assay-runner docker proxy: {e}")));
            return Next::Stop;
        }
    }
    fwd.send_body(&body, Expect::Plain)
}

/// `POST /containers/{name}/start`: an old API version or a body could set the cgroup
/// parent (API < 1.24 takes a HostConfig here), so both are refused.
fn start(ctx: &Context, fwd: Forward<'_, '_>, target: &Target, name: &str) -> Next {
    let what = format!("start of container {name}");
    if !matches!(fwd.head.framing, Framing::Empty | Framing::Length(0)) {
        return refuse(
            ctx,
            fwd.tx,
            &what,
            "a start with a body can set the cgroup parent",
        );
    }
    if let Some(v) = &target.version
        && route::version_below(v, "1.24")
    {
        return refuse(
            ctx,
            fwd.tx,
            &what,
            &format!("API version {v} (below 1.24) takes a HostConfig on start"),
        );
    }
    fwd.send(Expect::Plain)
}

/// `POST /containers/{name}/update`: a restart policy that restarts is refused (the container
/// would outlive the run and recreate its cgroup).
fn update(ctx: &Context, mut fwd: Forward<'_, '_>, name: &str) -> Next {
    let body = match fwd.body() {
        Ok(b) => b,
        Err(next) => return next,
    };
    let what = format!("update of container {name}");
    match update_restarts(&body) {
        Ok(None) => fwd.send_body(&body, Expect::Plain),
        Ok(Some(p)) => refuse(ctx, fwd.tx, &what, &format!("restart policy {p:?}")),
        Err(e) => {
            let _ = fwd
                .tx
                .send(own(400, &format!("assay-runner docker proxy: {e}")));
            Next::Stop
        }
    }
}

/// `POST /build` and `POST /images/create`, whose meaning is in the query. A form body would
/// be read by the daemon as query values (Go's `FormValue`), so form bodies are refused here.
fn query_route(ctx: &Context, mut fwd: Forward<'_, '_>, target: &Target, route: &Route) -> Next {
    let form = matches!(
        fwd.head.media_type().as_deref(),
        Some("application/x-www-form-urlencoded" | "multipart/form-data")
    );
    if form || fwd.head.count("content-type") > 1 {
        let _ = fwd.tx.send(own(
            400,
            "assay-runner docker proxy: form bodies are not accepted here",
        ));
        return Next::Stop;
    }
    let query = target.query.as_deref();
    let what = format!("{} {}", fwd.head.method, fwd.head.target);
    let mut expect = Expect::Plain;
    let result = match route {
        Route::Build => build(ctx, query, &what).map(|q| {
            if let Some(q) = q {
                let path = fwd.head.target.split('?').next().unwrap_or("");
                fwd.target = format!("{path}?{}", q.query);
                if !q.buildkit {
                    expect = Expect::Build {
                        what: what.clone(),
                        quiet: q.quiet,
                    };
                }
            }
        }),
        _ => images_create(ctx, query, &what),
    };
    match result {
        Ok(()) => fwd.send(expect),
        Err(e) => {
            let _ = fwd.tx.send(own(400, &e.to_string()));
            Next::Stop
        }
    }
}

/// A build's record, and its new query when the proxy places it.
fn build(
    ctx: &Context,
    query: Option<&str>,
    what: &str,
) -> Result<Option<route::BuildQuery>, route::RouteError> {
    let q = route::rewrite_build_query(query, &ctx.cgroup_parent)?;
    if !ctx.places {
        ctx.rec.flag(
            FlagCode::UnsupportedDriver,
            format!("build not placed: {what}"),
        );
        return Ok(None);
    }
    if q.buildkit {
        ctx.rec.flag(FlagCode::BuildKit, what.to_string());
    } else {
        ctx.rec.build(q.tags.clone());
    }
    if q.remote.is_some() {
        ctx.rec.flag(
            FlagCode::DaemonNetwork,
            format!("build: the daemon fetches its remote context: {what}"),
        );
    }
    if q.pull {
        ctx.rec.flag(
            FlagCode::DaemonNetwork,
            format!("build: the daemon pulls its base images: {what}"),
        );
    }
    Ok(Some(q))
}

/// A pull's reference, or an import's flag.
fn images_create(ctx: &Context, query: Option<&str>, what: &str) -> Result<(), route::RouteError> {
    let pairs = route::query_pairs(query)?;
    if let Some(image) = route::first(&pairs, "fromImage").filter(|i| !i.is_empty()) {
        let reference = match route::first(&pairs, "tag").unwrap_or("") {
            "" => image.to_string(),
            t if t.contains(':') => format!("{image}@{t}"),
            t => format!("{image}:{t}"),
        };
        ctx.rec.pull(reference);
    } else if route::first(&pairs, "fromSrc").is_some() {
        ctx.rec
            .flag(FlagCode::DaemonFileWork, format!("image import: {what}"));
    }
    Ok(())
}

/// The response side. Ends with the client write side shut down.
fn responses(
    ctx: &Context,
    client: &UnixStream,
    upstream: &UnixStream,
    rx: Receiver<Pending>,
    peer: Option<u32>,
) {
    let mut reader = Reader::new(upstream);
    let mut out = client;
    for pending in rx {
        let more = match pending {
            Pending::Own { bytes, close } => out.write_all(&bytes).is_ok() && !close,
            Pending::Forwarded { head_only, expect } => {
                match response(ctx, &mut reader, client, head_only, expect, peer) {
                    Ok(Done::Next) => true,
                    Ok(Done::Raw) => {
                        pipe(upstream, client);
                        return;
                    }
                    Ok(Done::End) => false,
                    Err(_) => {
                        // client gone or daemon broken: end both directions now
                        let _ = upstream.shutdown(Shutdown::Both);
                        let _ = client.shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
        };
        if !more {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
    let _ = upstream.shutdown(Shutdown::Both);
}

/// How a response ended.
enum Done {
    /// Ready for the next one.
    Next,
    /// The connection is hijacked: raw from now on.
    Raw,
    /// The connection ends (close-delimited body, or no answer).
    End,
}

/// Forwards one response.
fn response(
    ctx: &Context,
    reader: &mut Reader<&UnixStream>,
    client: &UnixStream,
    head_only: bool,
    expect: Expect,
    peer: Option<u32>,
) -> Result<Done, HttpError> {
    let mut out = client;
    let head = loop {
        match reader.response_head() {
            Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => {
                out.write_all(&h.raw).map_err(HttpError::Write)?;
            }
            Ok(Some(h)) => break h,
            Ok(None) | Err(_) => {
                let msg = error_response(
                    502,
                    "assay-runner docker proxy: the daemon did not answer",
                    true,
                );
                out.write_all(&msg).map_err(HttpError::Write)?;
                return Ok(Done::End);
            }
        }
    };
    let success = (200..300).contains(&head.status);
    let raw = head.status == 101 || (success && head.framing == Framing::Close);
    if let Expect::Hijack(decided) = &expect {
        let _ = decided.send(raw);
        if raw {
            let mut msg = head.raw;
            msg.extend_from_slice(&reader.take_buffered());
            out.write_all(&msg).map_err(HttpError::Write)?;
            return Ok(Done::Raw);
        }
    }
    if head.status == 101 {
        // an upgrade the proxy did not expect: nothing more on this connection
        return Ok(Done::End);
    }
    let framing = if head_only || matches!(head.status, 204 | 304) {
        Framing::Empty
    } else {
        head.framing
    };
    match expect {
        Expect::Create { image } if head.status == 201 => {
            let (raw_body, body) = reader.collect_body(framing, MAX_CREATE_ANSWER)?;
            record_create(ctx, &body, &image, peer);
            let mut msg = head.raw;
            msg.extend_from_slice(&raw_body);
            out.write_all(&msg).map_err(HttpError::Write)?;
        }
        Expect::Build { what, quiet } => {
            out.write_all(&head.raw).map_err(HttpError::Write)?;
            if quiet && framing == Framing::Chunked && success {
                quiet_build_answer(ctx, reader, &mut out, &what)?;
            } else {
                build_answer(ctx, reader, framing, &mut out, &what)?;
            }
        }
        _ => {
            out.write_all(&head.raw).map_err(HttpError::Write)?;
            reader.forward_response_body(framing, &mut out)?;
        }
    }
    Ok(if framing == Framing::Close {
        Done::End
    } else {
        Done::Next
    })
}

/// Forwards a legacy build's answer, flagging the network work it shows the daemon did
/// (`docker::buildlog`); an answer cut short is flagged too, since its end is not known.
fn build_answer(
    ctx: &Context,
    reader: &mut Reader<&UnixStream>,
    framing: Framing,
    out: &mut &UnixStream,
    what: &str,
) -> Result<(), HttpError> {
    let mut log = BuildLog::default();
    let result = reader.forward_response_body_watched(framing, out, |d| log.feed(d));
    log.finish();
    flag_build(ctx, &log, result.is_err(), what);
    result
}

/// Largest quiet build answer held to be answered as `q=1` would; past it the rest is
/// forwarded as the daemon reports it (the client sees the progress it did not ask for).
const MAX_QUIET_ANSWER: usize = 16 << 20;

/// A quiet legacy build's answer (chunked): the daemon, asked without `q`, reports its
/// progress, read here and held; the client gets what the daemon answers a `q=1` build: the
/// image id when it succeeded, everything with the error when it failed
/// (`api/server/router/build`, dockerd 20.10).
fn quiet_build_answer(
    ctx: &Context,
    reader: &mut Reader<&UnixStream>,
    out: &mut &UnixStream,
    what: &str,
) -> Result<(), HttpError> {
    let mut log = BuildLog::default();
    let (mut held, mut spilled, mut failed_write) = (Vec::new(), false, None);
    let mut send = |d: &[u8], out: &mut &UnixStream| {
        if let Err(e) = write_chunk(out, d) {
            failed_write.get_or_insert(e);
        }
    };
    let result =
        reader.forward_response_body_watched(Framing::Chunked, &mut std::io::sink(), |d| {
            log.feed(d);
            if spilled {
                send(d, out);
                return;
            }
            held.extend_from_slice(d);
            if held.len() > MAX_QUIET_ANSWER {
                spilled = true;
                send(&std::mem::take(&mut held), out);
            }
        });
    log.finish();
    flag_build(ctx, &log, result.is_err(), what);
    result?;
    if !spilled {
        let answer = match log.errored {
            true => None,
            false => quiet_answer(&held),
        };
        send(answer.as_deref().unwrap_or(&held), out);
    }
    if let Some(e) = failed_write {
        return Err(HttpError::Write(e));
    }
    out.write_all(b"0\r\n\r\n").map_err(HttpError::Write)
}

/// Writes `d` as one chunk (nothing for an empty `d`: that would end the body).
fn write_chunk(out: &mut &UnixStream, d: &[u8]) -> std::io::Result<()> {
    if d.is_empty() {
        return Ok(());
    }
    out.write_all(format!("{:x}\r\n", d.len()).as_bytes())?;
    out.write_all(d)?;
    out.write_all(b"\r\n")
}

/// Flags the network work a build's answer showed the daemon did, and an answer cut short.
fn flag_build(ctx: &Context, log: &BuildLog, cut: bool, what: &str) {
    if log.fetched {
        ctx.rec.flag(
            FlagCode::DaemonNetwork,
            format!(
                "build: the daemon pulled or downloaded (a base image, an ADD of a URL): {what}"
            ),
        );
    }
    if log.failed || cut {
        ctx.rec.flag(
            FlagCode::DaemonNetwork,
            format!("build: ended in the daemon's error or was cut short (a failed pull or download reaches the network too): {what}"),
        );
    }
}

/// Records a container the daemon just created: placed (inspected now, before the client
/// hears of it), or flagged when the proxy cannot place or inspect it.
fn record_create(ctx: &Context, body: &[u8], image: &str, peer: Option<u32>) {
    let id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_string));
    let Some(id) = id else {
        ctx.rec
            .flag(FlagCode::Unrecorded, "create answered 201 without an Id");
        return;
    };
    ctx.rec.created(&id);
    if !ctx.places {
        ctx.rec.flag(
            FlagCode::UnsupportedDriver,
            format!(
                "container {id} created unmodified (the daemon's cgroup driver is not cgroupfs)"
            ),
        );
        return;
    }
    let placed = ctx
        .upstream
        .inspect(&id)
        .and_then(|v| v.ok_or(super::upstream::UpstreamError::NoAnswer))
        .and_then(|v| {
            volumes(ctx, &v, &id);
            let dir = files_dir(ctx, &v, &id);
            placement(&v, image, peer, &ctx.cgroup_parent, dir.as_deref())
        });
    match placed {
        Ok(p) => ctx.rec.placed(p),
        Err(e) => ctx.rec.flag(
            FlagCode::Unrecorded,
            format!("container {id}: inspect failed: {e}"),
        ),
    }
}

/// Flags a new container's volumes whose driver mounts what it is told to, not a directory
/// of the daemon's own: a driver other than `local`, or `local` with options (`type=nfs`,
/// `o=bind,device=/etc`). Their files are not where the container's mounts say.
fn volumes(ctx: &Context, inspect: &serde_json::Value, id: &str) {
    let Some(mounts) = inspect["Mounts"].as_array() else {
        return;
    };
    for m in mounts.iter().filter(|m| m["Type"] == "volume") {
        let name = m["Name"].as_str().unwrap_or("");
        let driver = m["Driver"].as_str().unwrap_or("");
        let why = if driver != "local" {
            Some(format!("driver {driver:?}"))
        } else {
            match ctx.upstream.volume(name) {
                Ok(v) => match &v["Options"] {
                    serde_json::Value::Null => None,
                    serde_json::Value::Object(o) if o.is_empty() => None,
                    _ => Some("driver options".to_string()),
                },
                Err(e) => Some(format!("inspect failed: {e}")),
            }
        };
        if let Some(why) = why {
            ctx.rec.flag(
                FlagCode::DaemonNetwork,
                format!("container {id}: volume {name} ({why}): the daemon mounts what it is told"),
            );
        }
    }
}

/// The directory of the `hosts`, `resolv.conf` and `hostname` files a new container will
/// get: its own, or that of the container whose network it joins (`container:<name>`).
fn files_dir(ctx: &Context, inspect: &serde_json::Value, id: &str) -> Option<String> {
    let owner = match inspect["HostConfig"]["NetworkMode"].as_str() {
        Some(m) if m.starts_with("container:") => {
            let other = ctx.upstream.inspect(&m["container:".len()..]).ok()??;
            other["Id"].as_str()?.to_string()
        }
        _ => id.to_string(),
    };
    Some(format!(
        "{}/containers/{owner}",
        ctx.root_dir.trim_end_matches('/')
    ))
}

/// Writes all of `b`; false when the peer is gone.
fn write_raw(mut to: &UnixStream, b: &[u8]) -> bool {
    to.write_all(b).is_ok()
}

/// Copies raw bytes until end of stream (or an error), then shuts the write side of `to`.
fn pipe(from: &UnixStream, to: &UnixStream) {
    let mut buf = vec![0u8; 64 << 10];
    let (mut from, mut to_w) = (from, to);
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to_w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
