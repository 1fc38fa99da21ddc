//! Fuzz entry points of the Docker proxy's parsers (untrusted bytes from the measured
//! command), shared by `fuzz/fuzz_targets/docker_request.rs`, the proptests, and the seed
//! replay in `tests/fuzz_seeds.rs`.
//! Imports `docker::{http, route, rewrite}`.

use std::io::{self, Read};

use super::http::{Framing, HttpError, MAX_BODY, MAX_HEAD, MAX_HEADERS, Reader};
use super::rewrite::{CreateRewrite, SocketBind, rewrite_create};
use super::route::{self, Route};

/// A reader handing out at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.data.len().min(self.step).min(b.len());
        b[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads `data` as a client's keep-alive stream, `step` bytes per read: every request head
/// re-serializes to a head that parses back the same, routes without panicking, and its body
/// is framed within bounds (a create body also goes through the rewrite).
pub fn request_stream(data: &[u8], step: usize) {
    let mut r = Reader::new(Trickle {
        data,
        step: step.max(1),
    });
    loop {
        let head = match r.request_head() {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                assert!(matches!(e.status(), 400 | 413 | 431));
                return;
            }
        };
        let again = head.serialize(&head.target, head.framing);
        // `a:\n` becomes `a: \r\n`: two bytes more per header at most, plus the framing line
        assert!(again.len() <= MAX_HEAD + 2 * MAX_HEADERS + 64);
        if again.len() < MAX_HEAD {
            // the same head; its framing is written anew (canonical, last), so it is compared
            // as the framing, not as header text
            let reparsed = Reader::new(&again[..]).request_head().ok().flatten();
            let sorted = |h: &super::http::RequestHead| {
                let mut v: Vec<_> = h
                    .headers
                    .iter()
                    .filter(|(k, _)| {
                        !k.eq_ignore_ascii_case("content-length")
                            && !k.eq_ignore_ascii_case("transfer-encoding")
                    })
                    .cloned()
                    .collect();
                v.sort();
                (h.method.clone(), h.target.clone(), h.minor, h.framing, v)
            };
            assert_eq!(reparsed.as_ref().map(sorted), Some(sorted(&head)));
        }
        let route =
            route::parse_target(&head.target).map(|t| (route::classify(&head.method, &t.path), t));
        if let Ok((Route::Build, t)) = &route {
            let _ = route::rewrite_build_query(t.query.as_deref(), "/p");
        }
        if !body(
            &mut r,
            head.framing,
            matches!(route, Ok((Route::Create, _))),
        ) {
            return;
        }
    }
}

/// Frames one body; false when the stream cannot go on.
fn body<R: Read>(r: &mut Reader<R>, framing: Framing, create: bool) -> bool {
    let got = if create || matches!(framing, Framing::Length(n) if n < 4096) {
        r.collect_body(framing, MAX_BODY).map(|(_, b)| {
            assert!(b.len() <= MAX_BODY);
            if create {
                create_body(&b);
            }
        })
    } else {
        r.forward_request_body(framing, &mut io::sink())
    };
    match got {
        Ok(()) => true,
        Err(e) => {
            assert!(matches!(
                e,
                HttpError::UnexpectedEof
                    | HttpError::Chunk(_)
                    | HttpError::BodyTooLarge(_)
                    | HttpError::Read(_)
            ));
            false
        }
    }
}

/// Rewrites a create body: when accepted, the result has exactly one cgroup parent, ours.
pub fn create_body(data: &[u8]) {
    let socket = |p: &str| match p {
        "/run/docker.sock" => SocketBind::Daemon,
        "/run" => SocketBind::Exposes,
        _ => SocketBind::Other,
    };
    let rw = CreateRewrite {
        cgroup_parent: "/assay/fuzz",
        proxy_socket: "/p.sock",
        socket: &socket,
    };
    if let Ok(r) = rewrite_create(data, &rw) {
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("our own JSON parses");
        let o = v.as_object().expect("an object");
        let hc: Vec<_> = o
            .keys()
            .filter(|k| super::rewrite::fold(k) == "hostconfig")
            .collect();
        assert_eq!(hc, ["HostConfig"]);
        assert!(!o.keys().any(|k| super::rewrite::fold(k) == "cgroupparent"));
        let inner = o["HostConfig"]
            .as_object()
            .expect("HostConfig is an object");
        let cp: Vec<_> = inner
            .iter()
            .filter(|(k, _)| super::rewrite::fold(k) == "cgroupparent")
            .collect();
        assert_eq!(cp.len(), 1);
        assert_eq!(cp[0].1, "/assay/fuzz");
    }
}
