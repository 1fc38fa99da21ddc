//! HTTP/1.1 framing on one side of a connection, bounded: request and response heads parsed
//! by `httparse` (at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers), bodies framed by
//! `Content-Length` or `Transfer-Encoding: chunked`, forwarded as they arrive or collected up
//! to a bound. Requests are framed strictly (one length header at most, never both, only
//! `chunked`), and their heads and chunked bodies are re-serialized canonically, so the daemon
//! frames exactly the requests the proxy inspected.
//! Imports `docker::chunked`.

use std::io::{self, Read, Write};

use thiserror::Error;

use super::chunked::{ChunkError, ChunkedDecoder, LAST_CHUNK, encode_chunk};

/// Longest request or response head.
pub const MAX_HEAD: usize = 256 << 10;
/// Most header fields in a head.
pub const MAX_HEADERS: usize = 100;
/// Largest request body the proxy holds in memory to rewrite (create, update).
pub const MAX_BODY: usize = 16 << 20;
/// Bytes read from a socket at a time.
const READ_SIZE: usize = 64 << 10;

/// What is wrong with a request or response, or its connection.
#[derive(Debug, Error)]
pub enum HttpError {
    #[error("request head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed HTTP head: {0}")]
    Malformed(httparse::Error),
    #[error("bad message framing: {0}")]
    Framing(&'static str),
    #[error("bad chunked body: {0}")]
    Chunk(#[from] ChunkError),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("connection closed inside a message")]
    UnexpectedEof,
    #[error("reading the connection: {0}")]
    Read(#[source] io::Error),
    #[error("writing the connection: {0}")]
    Write(#[source] io::Error),
}

impl HttpError {
    /// The status to answer a client with for this error.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge(_) => 413,
            _ => 400,
        }
    }
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (`/v1.41/containers/create?name=x`).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Header fields in order, as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
}

impl RequestHead {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// How many times a header appears.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The media type of `Content-Type`, lowercased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        let v = String::from_utf8_lossy(self.header("content-type")?).to_ascii_lowercase();
        Some(v.split(';').next().unwrap_or("").trim().to_string())
    }

    /// The head re-serialized with `target` and `framing` (its own framing headers replaced).
    pub fn serialize(&self, target: &str, framing: Framing) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(
            format!("{} {} HTTP/1.{}\r\n", self.method, target, self.minor).as_bytes(),
        );
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("content-length")
                || n.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        match framing {
            Framing::Length(n) => {
                out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::Empty | Framing::Close => {}
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// A parsed response head, with its bytes as received (forwarded unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub raw: Vec<u8>,
    /// The framing its headers give (the caller knows when a status or method means no body).
    pub framing: Framing,
}

/// Request framing: strict, because the proxy and the daemon must agree on where each request
/// ends.
fn request_framing(headers: &[httparse::Header<'_>]) -> Result<Framing, HttpError> {
    let te: Vec<&[u8]> = values(headers, "transfer-encoding");
    let cl: Vec<&[u8]> = values(headers, "content-length");
    match (te.as_slice(), cl.as_slice()) {
        ([], []) => Ok(Framing::Empty),
        ([], [v]) => parse_length(v).map(Framing::Length),
        ([v], []) if trim(v).eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
        ([_], []) => Err(HttpError::Framing("transfer-encoding other than chunked")),
        (_, []) => Err(HttpError::Framing("more than one transfer-encoding")),
        ([], _) => Err(HttpError::Framing("more than one content-length")),
        _ => Err(HttpError::Framing(
            "both content-length and transfer-encoding",
        )),
    }
}

/// Response framing: lenient (the daemon is the peer); anything unclear reads until close.
fn response_framing(headers: &[httparse::Header<'_>]) -> Framing {
    let te = values(headers, "transfer-encoding");
    if let Some(last) = te.last() {
        let chunked = trim(last)
            .rsplit(|&b| b == b',')
            .next()
            .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
        return if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        };
    }
    match values(headers, "content-length").as_slice() {
        [v] => parse_length(v).map_or(Framing::Close, Framing::Length),
        _ => Framing::Close,
    }
}

fn values<'a>(headers: &[httparse::Header<'a>], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
        .collect()
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn parse_length(v: &[u8]) -> Result<u64, HttpError> {
    let v = trim(v);
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::Framing("invalid content-length"));
    }
    // 18 digits always fit a u64
    Ok(std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// A buffered reader over one side of a connection.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    /// How far `buf` has been searched for a newline since the last head parse attempt.
    scanned: usize,
}

/// Either kind of head, from [`Reader::head`].
enum Parsed<T> {
    Done(T, usize),
    Partial,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            buf: Vec::new(),
            scanned: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The bytes read but not consumed yet (and forgets them).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.scanned = 0;
        std::mem::take(&mut self.buf)
    }

    /// Reads more into the buffer; false at end of stream.
    fn fill(&mut self, limit: usize) -> Result<bool, HttpError> {
        let old = self.buf.len();
        self.buf.resize(old + limit.clamp(1, READ_SIZE), 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(HttpError::Read(e));
                }
            }
        };
        self.buf.truncate(old + n);
        Ok(n > 0)
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.scanned = 0;
    }

    /// Reads one head with `parse`; `None` on a clean end of stream before any byte of it.
    fn head<T>(
        &mut self,
        parse: impl Fn(&[u8]) -> Result<Parsed<T>, HttpError>,
    ) -> Result<Option<T>, HttpError> {
        loop {
            // parse only when a new line arrived: bounds the work per head to about
            // MAX_HEADERS parses, whatever the size of the reads
            if memchr::memchr(b'\n', &self.buf[self.scanned..]).is_some() {
                self.scanned = self.buf.len();
                if let Parsed::Done(head, len) = parse(&self.buf)? {
                    self.consume(len);
                    return Ok(Some(head));
                }
            }
            self.scanned = self.buf.len();
            if self.buf.len() >= MAX_HEAD {
                return Err(HttpError::HeadTooLarge);
            }
            if !self.fill(MAX_HEAD - self.buf.len())? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(HttpError::UnexpectedEof)
                };
            }
        }
    }

    /// Reads the next request head; `None` when the client closed between requests.
    pub fn request_head(&mut self) -> Result<Option<RequestHead>, HttpError> {
        self.head(parse_request)
    }

    /// Reads the next response head; `None` when the peer closed before sending one.
    pub fn response_head(&mut self) -> Result<Option<ResponseHead>, HttpError> {
        self.head(parse_response)
    }

    /// Passes a request body to `out`: a length-delimited body as is, a chunked one
    /// re-encoded canonically.
    pub fn forward_request_body(
        &mut self,
        framing: Framing,
        out: &mut impl Write,
    ) -> Result<(), HttpError> {
        match framing {
            Framing::Empty | Framing::Close => Ok(()),
            Framing::Length(n) => self.pieces(n, |b| write_all(out, b)),
            Framing::Chunked => {
                self.chunked(false, |piece| match piece {
                    Piece::Data(d) => {
                        let mut c = Vec::with_capacity(d.len() + 12);
                        encode_chunk(&mut c, d);
                        write_all(out, &c)
                    }
                    Piece::Raw(_) => Ok(()),
                })?;
                write_all(out, LAST_CHUNK)
            }
        }
    }

    /// Passes a response body to `out` as received, stopping exactly at its end.
    pub fn forward_response_body(
        &mut self,
        framing: Framing,
        out: &mut impl Write,
    ) -> Result<(), HttpError> {
        self.forward_response_body_watched(framing, out, |_| {})
    }

    /// [`Reader::forward_response_body`], showing `watch` the decoded body as it passes.
    pub fn forward_response_body_watched(
        &mut self,
        framing: Framing,
        out: &mut impl Write,
        mut watch: impl FnMut(&[u8]),
    ) -> Result<(), HttpError> {
        let mut both = |b: &[u8]| {
            watch(b);
            write_all(out, b)
        };
        match framing {
            Framing::Empty => Ok(()),
            Framing::Length(n) => self.pieces(n, both),
            Framing::Chunked => self.chunked(true, |piece| match piece {
                Piece::Raw(r) => write_all(out, r),
                Piece::Data(d) => {
                    watch(d);
                    Ok(())
                }
            }),
            Framing::Close => self.pieces(u64::MAX, &mut both),
        }
    }

    /// Reads a whole body (at most `max` decoded bytes): `(raw bytes as received, decoded)`.
    pub fn collect_body(
        &mut self,
        framing: Framing,
        max: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
        let mut raw = Vec::new();
        let mut data = Vec::new();
        let push = |v: &mut Vec<u8>, b: &[u8]| {
            if v.len() + b.len() > max {
                return Err(HttpError::BodyTooLarge(max));
            }
            v.extend_from_slice(b);
            Ok(())
        };
        match framing {
            Framing::Empty => {}
            Framing::Length(n) if n > max as u64 => return Err(HttpError::BodyTooLarge(max)),
            Framing::Length(n) => self.pieces(n, |b| push(&mut data, b))?,
            Framing::Close => self.pieces(u64::MAX, |b| push(&mut data, b))?,
            Framing::Chunked => {
                // raw is at most a few bytes per chunk more than the data; bound it too
                self.chunked(true, |piece| match piece {
                    Piece::Raw(r) => push(&mut raw, r).map_err(|_| HttpError::BodyTooLarge(max)),
                    Piece::Data(d) => push(&mut data, d),
                })?;
                return Ok((raw, data));
            }
        }
        Ok((data.clone(), data))
    }

    /// Hands `n` bytes (or everything until end of stream when `n` is `u64::MAX`) to `f`.
    fn pieces(
        &mut self,
        mut n: u64,
        mut f: impl FnMut(&[u8]) -> Result<(), HttpError>,
    ) -> Result<(), HttpError> {
        let until_eof = n == u64::MAX;
        while n > 0 {
            if self.buf.is_empty() && !self.fill(usize::try_from(n).unwrap_or(usize::MAX))? {
                return if until_eof {
                    Ok(())
                } else {
                    Err(HttpError::UnexpectedEof)
                };
            }
            let take = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            f(&self.buf[..take])?;
            self.consume(take);
            if !until_eof {
                n -= take as u64;
            }
        }
        Ok(())
    }

    /// Runs a chunked body through a decoder, handing `f` the raw bytes of each step and the
    /// data inside them.
    fn chunked(
        &mut self,
        trailers: bool,
        mut f: impl FnMut(Piece<'_>) -> Result<(), HttpError>,
    ) -> Result<(), HttpError> {
        let mut d = ChunkedDecoder::new(trailers);
        while !d.is_done() {
            if self.buf.is_empty() && !self.fill(READ_SIZE)? {
                return Err(HttpError::UnexpectedEof);
            }
            let mut at = 0;
            while at < self.buf.len() && !d.is_done() {
                let s = d.step(&self.buf[at..])?;
                if let Some(data) = s.data {
                    f(Piece::Data(data))?;
                }
                at += s.consumed;
            }
            f(Piece::Raw(&self.buf[..at]))?;
            self.consume(at);
        }
        Ok(())
    }
}

enum Piece<'a> {
    /// Bytes of the message as received.
    Raw(&'a [u8]),
    /// Decoded chunk data.
    Data(&'a [u8]),
}

fn write_all(out: &mut impl Write, b: &[u8]) -> Result<(), HttpError> {
    out.write_all(b).map_err(HttpError::Write)
}

fn parse_request(buf: &[u8]) -> Result<Parsed<RequestHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let framing = request_framing(req.headers)?;
            let head = RequestHead {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                minor: req.version.unwrap_or(1),
                headers: req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_vec()))
                    .collect(),
                framing,
            };
            Ok(Parsed::Done(head, len))
        }
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooManyHeaders),
        Err(e) => Err(HttpError::Malformed(e)),
    }
}

fn parse_response(buf: &[u8]) -> Result<Parsed<ResponseHead>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Ok(Parsed::Done(
            ResponseHead {
                status: resp.code.unwrap_or(0),
                raw: buf[..len].to_vec(),
                framing: response_framing(resp.headers),
            },
            len,
        )),
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooManyHeaders),
        Err(e) => Err(HttpError::Malformed(e)),
    }
}

/// A complete JSON error response the proxy answers with itself, in the daemon's shape
/// (`{"message":"…"}`).
pub fn error_response(status: u16, message: &str, close: bool) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = serde_json::json!({ "message": message }).to_string() + "\n";
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that returns at most `n` bytes per read.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(b.len());
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    const CREATE: &[u8] = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}";

    #[test]
    fn reads_keep_alive_requests_whatever_the_reads() {
        let mut input = b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        input.extend_from_slice(CREATE);
        input.extend_from_slice(
            b"POST /build HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        for step in [1, 2, 7, 1000] {
            let mut r = Reader::new(Trickle(&input, step));
            let h = r.request_head().unwrap().unwrap();
            assert_eq!((h.method.as_str(), h.framing), ("HEAD", Framing::Empty));
            let h = r.request_head().unwrap().unwrap();
            assert_eq!(h.target, "/v1.41/containers/create");
            assert_eq!(h.media_type().as_deref(), Some("application/json"));
            let (_, body) = r.collect_body(h.framing, MAX_BODY).unwrap();
            assert_eq!(body, b"{}");
            let h = r.request_head().unwrap().unwrap();
            assert_eq!(h.framing, Framing::Chunked);
            let mut out = Vec::new();
            r.forward_request_body(h.framing, &mut out).unwrap();
            // re-chunked as the data arrived: same data, same end
            let (data, n) = crate::docker::chunked::decode_all(&out, 100)
                .unwrap()
                .unwrap();
            assert_eq!((data.as_slice(), n), (&b"abc"[..], out.len()));
            assert!(r.request_head().unwrap().is_none());
        }
    }

    #[test]
    fn chunked_request_bodies_are_re_encoded_canonically() {
        let input = b"POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3;ext=1\r\nabc\r\n00002\r\nde\r\n0\r\n\r\n";
        let mut r = Reader::new(&input[..]);
        let h = r.request_head().unwrap().unwrap();
        let mut out = Vec::new();
        r.forward_request_body(h.framing, &mut out).unwrap();
        assert_eq!(out, b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        let head = h.serialize("/y", Framing::Chunked);
        assert_eq!(
            head,
            b"POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for head in [
            &b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"[..],
            b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
        ] {
            let err = Reader::new(head).request_head().unwrap_err();
            assert!(matches!(err, HttpError::Framing(_)), "{head:?}: {err}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn heads_are_bounded() {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let err = Reader::new(&many[..]).request_head().unwrap_err();
        assert!(matches!(err, HttpError::TooManyHeaders));
        assert_eq!(err.status(), 431);
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(MAX_HEAD + 100, b'a');
        let mut r = Reader::new(&big[..]);
        assert!(matches!(r.request_head(), Err(HttpError::HeadTooLarge)));
        assert!(r.buf.len() <= MAX_HEAD + READ_SIZE);
    }

    #[test]
    fn bodies_to_rewrite_are_bounded() {
        let head = b"POST /containers/create HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n";
        let mut r = Reader::new(&head[..]);
        let h = r.request_head().unwrap().unwrap();
        assert!(matches!(
            r.collect_body(h.framing, MAX_BODY),
            Err(HttpError::BodyTooLarge(_))
        ));
        let mut chunked = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..10 {
            chunked.extend_from_slice(b"4\r\nabcd\r\n");
        }
        let mut r = Reader::new(&chunked[..]);
        let h = r.request_head().unwrap().unwrap();
        assert!(matches!(
            r.collect_body(h.framing, 16),
            Err(HttpError::BodyTooLarge(16))
        ));
    }

    #[test]
    fn truncated_messages_are_errors_and_clean_ends_are_not() {
        assert!(Reader::new(&b""[..]).request_head().unwrap().is_none());
        assert!(matches!(
            Reader::new(&b"GET / HT"[..]).request_head(),
            Err(HttpError::UnexpectedEof)
        ));
        let mut r = Reader::new(&CREATE[..CREATE.len() - 1]);
        let h = r.request_head().unwrap().unwrap();
        assert!(matches!(
            r.collect_body(h.framing, MAX_BODY),
            Err(HttpError::UnexpectedEof)
        ));
    }

    #[test]
    fn responses_are_forwarded_exactly_to_their_end() {
        let wait = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1e\r\n{\"Error\":null,\"StatusCode\":0}\n\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        for step in [1, 3, 1000] {
            let mut r = Reader::new(Trickle(wait, step));
            let h = r.response_head().unwrap().unwrap();
            assert_eq!((h.status, h.framing), (200, Framing::Chunked));
            let mut out = h.raw.clone();
            r.forward_response_body(h.framing, &mut out).unwrap();
            let first = wait.len() - b"HTTP/1.1 204 No Content\r\n\r\n".len();
            assert_eq!(out, &wait[..first]);
            let h = r.response_head().unwrap().unwrap();
            assert_eq!(h.status, 204);
        }
        let attach = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x02a\n";
        let mut r = Reader::new(&attach[..]);
        let h = r.response_head().unwrap().unwrap();
        assert_eq!(h.framing, Framing::Close);
        assert_eq!(r.take_buffered(), b"\x01\x00\x00\x00\x00\x00\x00\x02a\n");
    }

    #[test]
    fn collected_chunked_responses_keep_their_raw_bytes() {
        let body = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        let mut r = Reader::new(&body[..]);
        let h = r.response_head().unwrap().unwrap();
        let (raw, data) = r.collect_body(h.framing, 1024).unwrap();
        assert_eq!(data, b"{\"a\":1}");
        assert_eq!([h.raw, raw].concat(), body);
    }

    #[test]
    fn error_responses_are_well_formed() {
        let r = error_response(403, "no \"start\" body", true);
        let mut reader = Reader::new(&r[..]);
        let h = reader.response_head().unwrap().unwrap();
        assert_eq!(h.status, 403);
        let (_, body) = reader.collect_body(h.framing, 1024).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "no \"start\" body");
    }

    proptest! {
        /// Arbitrary client bytes: never a panic, never more buffered than one head plus one
        /// read, bodies bounded.
        #[test]
        fn arbitrary_requests_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600), step in 1usize..50) {
            crate::docker::fuzzing::request_stream(&input, step);
        }

        /// Arbitrary header values survive re-serialization: the daemon sees what was parsed.
        #[test]
        fn serialized_heads_parse_back_the_same(
            name in "[A-Za-z][A-Za-z0-9-]{0,12}",
            value in "[ -~]{0,30}",
            len in 0u64..1000,
        ) {
            prop_assume!(!name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("transfer-encoding"));
            let raw = format!("POST /a HTTP/1.1\r\n{name}: {value}\r\nContent-Length: {len}\r\n\r\n");
            let h = Reader::new(raw.as_bytes()).request_head().unwrap().unwrap();
            let again = h.serialize(&h.target, h.framing);
            let h2 = Reader::new(&again[..]).request_head().unwrap().unwrap();
            prop_assert_eq!(h2, h);
        }
    }
}
