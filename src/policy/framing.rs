//! Newline-delimited JSON-RPC framing for `mcp-wrap`: a line reader with a hard bound on the
//! bytes held per line, and the classification of one line into what the proxy needs to know.
//! Input on both sides is untrusted; nothing here panics or allocates more than the bound.
//! Imports: nothing from this crate.

use std::io::{self, BufRead};

use serde_json::Value;

/// One frame read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line without its `\n` (a last line without `\n` at end of stream counts too).
    Line(Vec<u8>),
    /// A line longer than the bound: its bytes were discarded, up to and including its `\n`.
    TooLong {
        /// How many bytes the line had (without `\n`).
        bytes: u64,
    },
}

/// Reads lines of at most `max` bytes from a buffered reader.
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    /// The next frame, `None` at end of stream.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut line = Vec::new();
        let mut dropped: u64 = 0;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(match (dropped, line.is_empty()) {
                    (0, true) => None,
                    (0, false) => Some(Frame::Line(line)),
                    (n, _) => Some(Frame::TooLong { bytes: n }),
                });
            }
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if dropped == 0 && line.len() + take <= self.max {
                line.extend_from_slice(&buf[..take]);
            } else {
                dropped += (line.len() + take) as u64;
                line = Vec::new();
            }
            self.inner.consume(take + usize::from(done));
            if done {
                return Ok(Some(if dropped > 0 {
                    Frame::TooLong { bytes: dropped }
                } else {
                    Frame::Line(line)
                }));
            }
        }
    }
}

/// What a JSON-RPC object is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `method` (a string) and `id`.
    Request { id: Value, method: String },
    /// `method` (a string) and no `id`.
    Notification { method: String },
    /// No `method`, an `id`, and `result` or `error` (or neither: an invalid response).
    Response { id: Value },
    /// Any other object.
    Other,
}

/// What one line is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Empty or only whitespace.
    Blank,
    /// Not UTF-8.
    NotUtf8,
    /// Not JSON (the parser's message).
    Malformed(String),
    /// JSON, but neither an object nor an array.
    NotRpc,
    /// More than [`MAX_JSON_VALUES`] values (not parsed: memory would grow far past the line).
    TooManyValues,
    /// One JSON-RPC object.
    Single(Value, Kind),
    /// A JSON-RPC batch (array); elements that are not objects are `Kind::Other`.
    Batch(Vec<(Value, Kind)>),
}

/// Most JSON values (scalars, arrays, objects) one message may hold. Parsing costs ~32 bytes
/// per value, so without this bound a line of `[0,0,0,...]` would take ~16x its size in memory.
pub const MAX_JSON_VALUES: usize = 1 << 20;

/// Whether `line` holds more than `max` JSON values, counted without parsing: one per `[`, `{`
/// and `,` outside strings (within one per container of what a parser would build).
pub fn too_many_values(line: &[u8], max: usize) -> bool {
    let mut n = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for &b in line {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' | b',' => {
                n += 1;
                if n > max {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// The method `mcp-wrap` decides.
pub const TOOLS_CALL: &str = "tools/call";

/// Classifies an object.
pub fn kind(v: &Value) -> Kind {
    let Some(o) = v.as_object() else {
        return Kind::Other;
    };
    match (o.get("method"), o.get("id")) {
        (Some(Value::String(m)), Some(id)) => Kind::Request {
            id: id.clone(),
            method: m.clone(),
        },
        (Some(Value::String(m)), None) => Kind::Notification { method: m.clone() },
        (None, Some(id)) => Kind::Response { id: id.clone() },
        _ => Kind::Other,
    }
}

/// Classifies one line.
pub fn classify(line: &[u8]) -> Message {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Message::Blank;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Message::NotUtf8;
    };
    if too_many_values(line, MAX_JSON_VALUES) {
        return Message::TooManyValues;
    }
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Message::Malformed(e.to_string()),
    };
    match v {
        Value::Array(items) => Message::Batch(
            items
                .into_iter()
                .map(|i| {
                    let k = kind(&i);
                    (i, k)
                })
                .collect(),
        ),
        v @ Value::Object(_) => {
            let k = kind(&v);
            Message::Single(v, k)
        }
        _ => Message::NotRpc,
    }
}

/// Whether a kind is a `tools/call` (request or notification).
pub fn is_tools_call(k: &Kind) -> bool {
    matches!(k, Kind::Request { method, .. } | Kind::Notification { method } if method == TOOLS_CALL)
}

/// The compact JSON text of an id: the key under which a request is tracked.
pub fn id_key(id: &Value) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn frames(input: &[u8], max: usize, cap: usize) -> Vec<Frame> {
        let r = io::BufReader::with_capacity(cap, input);
        let mut lr = LineReader::new(r, max);
        let mut out = Vec::new();
        while let Some(f) = lr.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn lines_and_overlong_lines() {
        let f = frames(b"ab\n\ncdefgh\nxyz", 4, 3);
        assert_eq!(
            f,
            [
                Frame::Line(b"ab".to_vec()),
                Frame::Line(vec![]),
                Frame::TooLong { bytes: 6 },
                Frame::Line(b"xyz".to_vec()),
            ]
        );
        assert_eq!(frames(b"abcdef", 4, 2), [Frame::TooLong { bytes: 6 }]);
        assert_eq!(frames(b"abcd\n", 4, 2), [Frame::Line(b"abcd".to_vec())]);
        assert!(frames(b"", 4, 2).is_empty());
    }

    #[test]
    fn classification() {
        assert_eq!(classify(b"  \r"), Message::Blank);
        assert_eq!(classify(b"\xff{}"), Message::NotUtf8);
        assert!(matches!(classify(b"{\"a\""), Message::Malformed(_)));
        assert_eq!(classify(b"42"), Message::NotRpc);
        let m = classify(br#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{}}"#);
        let Message::Single(_, k) = m else { panic!() };
        assert!(is_tools_call(&k));
        assert_eq!(
            k,
            Kind::Request {
                id: json!("x"),
                method: "tools/call".into()
            }
        );
        let Message::Single(_, k) = classify(br#"{"method":"tools/call"}"#) else {
            panic!()
        };
        assert!(is_tools_call(&k));
        let Message::Single(_, k) = classify(br#"{"id":1,"result":{}}"#) else {
            panic!()
        };
        assert_eq!(k, Kind::Response { id: json!(1) });
        let Message::Single(_, k) = classify(br#"{"method":5,"id":1}"#) else {
            panic!()
        };
        assert_eq!(k, Kind::Other);
        let Message::Batch(b) = classify(br#"[{"id":1,"method":"tools/call"},3]"#) else {
            panic!()
        };
        assert!(is_tools_call(&b[0].1));
        assert_eq!(b[1].1, Kind::Other);
        assert_eq!(id_key(&json!("a\"b")), r#""a\"b""#);
    }

    #[test]
    fn value_bombs_are_not_parsed() {
        let mut bomb = b"[".to_vec();
        for _ in 0..MAX_JSON_VALUES + 1 {
            bomb.extend_from_slice(b"0,");
        }
        bomb.extend_from_slice(b"0]");
        assert_eq!(classify(&bomb), Message::TooManyValues);
        // Commas and brackets inside strings are text, not values.
        let s = format!("{{\"x\":\"{}\\\"\"}}", ",[{".repeat(MAX_JSON_VALUES));
        assert!(matches!(classify(s.as_bytes()), Message::Single(..)));
        assert!(!too_many_values(b"[1,2,3]", 4));
        assert!(too_many_values(b"[1,2,3]", 2));
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        // What the server is sent is re-serialized from this value, so it cannot see another.
        let Message::Single(v, _) =
            classify(br#"{"method":"tools/call","id":1,"params":{"name":"a","name":"b"}}"#)
        else {
            panic!()
        };
        assert_eq!(v["params"]["name"], "b");
    }

    proptest! {
        #[test]
        fn reader_reassembles_or_bounds_every_line(
            lines in proptest::collection::vec(proptest::collection::vec(0u8..255, 0..40), 0..8),
            max in 0usize..30, cap in 1usize..17,
        ) {
            let mut input = Vec::new();
            for l in &lines {
                let l: Vec<u8> = l.iter().map(|&b| if b == b'\n' { b'x' } else { b }).collect();
                input.extend_from_slice(&l);
                input.push(b'\n');
            }
            let f = frames(&input, max, cap);
            prop_assert_eq!(f.len(), lines.len());
            for (frame, l) in f.iter().zip(&lines) {
                match frame {
                    Frame::Line(b) => { prop_assert!(b.len() <= max); prop_assert_eq!(b.len(), l.len()); }
                    Frame::TooLong { bytes } => { prop_assert!(l.len() > max); prop_assert_eq!(*bytes as usize, l.len()); }
                }
            }
        }

        #[test]
        fn classify_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify(&b);
        }
    }
}
