//! The [`Proxy`]: probes the daemon, binds the per-run socket, accepts connections on a
//! thread of its own (each connection served by two more), and on [`Proxy::finish`] stops
//! accepting, shuts every live connection down, joins every thread and hands back the
//! [`Report`].
//! Imports `docker::{conn, binds, upstream, report}`.

use std::collections::HashMap;
use std::io::Write;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::socket::{self, sockopt::PeerCredentials};

use super::binds::DaemonSocket;
use super::conn::{self, Context};
use super::http::error_response;
use super::report::{DaemonInfo, Recorder, Report};
use super::upstream::Upstream;
use super::{ProxyConfig, ProxyError};

/// Most client connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 128;

/// A running per-run Docker API proxy.
pub struct Proxy {
    info: DaemonInfo,
    listen: PathBuf,
    listener: Arc<UnixListener>,
    ctx: Arc<Context>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

/// The live connections' sockets, to shut them down at the end.
#[derive(Default)]
struct Live {
    conns: Mutex<HashMap<u64, [UnixStream; 2]>>,
    next: AtomicU64,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, [UnixStream; 2]>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn shutdown_all(&self) {
        for [c, u] in self.lock().values() {
            let _ = c.shutdown(Shutdown::Both);
            let _ = u.shutdown(Shutdown::Both);
        }
    }
}

impl Proxy {
    /// Probes the daemon (`GET /info`), creates the socket (mode 0660, owned as asked), and
    /// starts serving.
    pub fn start(cfg: ProxyConfig) -> Result<Proxy, ProxyError> {
        cfg.validate()?;
        let upstream = Upstream::new(&cfg.upstream);
        let info = upstream.info().map_err(ProxyError::Probe)?;
        let listener = bind(&cfg)?;
        let ctx = Arc::new(Context {
            cgroup_parent: cfg.cgroup_parent.clone(),
            proxy_socket: cfg.listen.to_string_lossy().into_owned(),
            places: info.places(),
            root_dir: info.root_dir.clone(),
            logging_driver: info.logging_driver.clone(),
            upstream,
            socket: DaemonSocket::new(&cfg.upstream),
            rec: Recorder::default(),
        });
        let listener = Arc::new(listener);
        let live = Arc::new(Live::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (listener, ctx, live, stop) =
                (listener.clone(), ctx.clone(), live.clone(), stop.clone());
            std::thread::Builder::new()
                .name("docker-proxy-accept".into())
                .spawn(move || accept_loop(&listener, &ctx, &live, &stop))
                .map_err(ProxyError::Spawn)?
        };
        Ok(Proxy {
            info,
            listen: cfg.listen,
            listener,
            ctx,
            live,
            stop,
            accept: Some(accept),
        })
    }

    /// What the daemon's `/info` said at start.
    pub fn daemon(&self) -> &DaemonInfo {
        &self.info
    }

    /// The socket the proxy serves.
    pub fn socket(&self) -> &std::path::Path {
        &self.listen
    }

    /// Stops accepting, closes live connections, joins every thread, removes the socket, and
    /// returns what happened.
    pub fn finish(mut self) -> Report {
        self.shutdown();
        self.ctx.rec.report()
    }

    fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // wakes the blocked accept(2) (it fails with EINVAL once the socket is shut down)
        let _ = socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.listener.as_fd()),
            socket::Shutdown::Both,
        );
        let conns = accept.join().unwrap_or_default();
        self.live.shutdown_all();
        for c in conns {
            let _ = c.join();
        }
        let _ = std::fs::remove_file(&self.listen);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Creates the socket: refuses an existing path, then mode 0660 and the owner asked for.
fn bind(cfg: &ProxyConfig) -> Result<UnixListener, ProxyError> {
    if cfg.listen.symlink_metadata().is_ok() {
        return Err(ProxyError::Exists(cfg.listen.clone()));
    }
    let listener = UnixListener::bind(&cfg.listen).map_err(|source| ProxyError::Bind {
        path: cfg.listen.clone(),
        source,
    })?;
    let set = || -> std::io::Result<()> {
        std::fs::set_permissions(&cfg.listen, std::fs::Permissions::from_mode(0o660))?;
        if let Some((uid, gid)) = cfg.owner {
            std::os::unix::fs::chown(&cfg.listen, Some(uid), Some(gid))?;
        }
        Ok(())
    };
    set().map_err(|source| {
        let _ = std::fs::remove_file(&cfg.listen);
        ProxyError::Socket {
            path: cfg.listen.clone(),
            source,
        }
    })?;
    Ok(listener)
}

/// Accepts until stopped; returns the connection threads to join.
fn accept_loop(
    listener: &UnixListener,
    ctx: &Arc<Context>,
    live: &Arc<Live>,
    stop: &AtomicBool,
) -> Vec<JoinHandle<()>> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let client = match accepted {
            Ok((c, _)) => c,
            Err(_) => {
                // out of descriptors or memory: let the others finish, then go on
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        if let Some(t) = connection(client, ctx, live) {
            threads.push(t);
        }
    }
    threads
}

/// Starts serving one accepted client, or answers it with an error and drops it.
fn connection(client: UnixStream, ctx: &Arc<Context>, live: &Arc<Live>) -> Option<JoinHandle<()>> {
    let refuse = |mut c: &UnixStream, status: u16, why: &str| {
        let _ = c.write_all(&error_response(status, why, true));
    };
    if live.lock().len() >= MAX_CONNECTIONS {
        refuse(
            &client,
            503,
            "assay-runner docker proxy: too many connections",
        );
        return None;
    }
    let upstream = match ctx.upstream.connect() {
        Ok(u) => u,
        Err(e) => {
            refuse(&client, 502, &format!("assay-runner docker proxy: {e}"));
            return None;
        }
    };
    let peer = socket::getsockopt(&client, PeerCredentials)
        .ok()
        .and_then(|c| u32::try_from(c.pid()).ok());
    let id = live.next.fetch_add(1, Ordering::Relaxed);
    let clones = (client.try_clone(), upstream.try_clone());
    let (Ok(c2), Ok(u2)) = clones else {
        return None;
    };
    live.lock().insert(id, [c2, u2]);
    let (ctx, live2) = (ctx.clone(), live.clone());
    let spawned = std::thread::Builder::new()
        .name("docker-proxy-conn".into())
        .spawn(move || {
            conn::serve(&ctx, &client, &upstream, peer);
            live2.lock().remove(&id);
        });
    match spawned {
        Ok(t) => Some(t),
        Err(_) => {
            live.lock().remove(&id);
            None
        }
    }
}
