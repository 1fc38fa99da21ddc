//! `Transfer-Encoding: chunked`, read incrementally and bounded: one state machine that eats
//! whatever bytes arrived, says how many of them belong to the message, hands out the chunk
//! data it found, and says when the message ended. The proxy uses it to decode request bodies
//! (re-encoded canonically upstream, so the daemon frames exactly what the proxy framed) and to
//! find where a chunked response ends while forwarding it raw.
//! Imports nothing of the crate; chunk-size lines are parsed by `httparse::parse_chunk_size`.

use thiserror::Error;

/// Longest chunk-size or trailer line (with its CRLF); Go's reader allows 4096.
pub const MAX_LINE: usize = 4096;
/// Most trailer lines after the last chunk.
pub const MAX_TRAILERS: usize = 64;

/// Why a chunked stream is malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    #[error("chunk-size line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("invalid chunk-size line")]
    BadSize,
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    #[error("trailer fields are not accepted here")]
    Trailers,
    #[error("more than {MAX_TRAILERS} trailer lines")]
    TooManyTrailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line (bytes gathered in `line`).
    Size,
    /// Inside chunk data; this many bytes left.
    Data(u64),
    /// After chunk data: expecting `\r`.
    DataCr,
    /// After chunk data and `\r`: expecting `\n`.
    DataLf,
    /// After the last chunk: reading trailer lines until an empty one.
    Trailer,
    Done,
}

/// What one [`ChunkedDecoder::step`] found at the front of its input.
#[derive(Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// Bytes of the input that belong to the chunked message (always > 0 unless the input
    /// was empty or the message had already ended).
    pub consumed: usize,
    /// Chunk data inside the consumed bytes, if this step read data.
    pub data: Option<&'a [u8]>,
}

/// An incremental chunked decoder. Feed it input with [`step`](Self::step) until
/// [`is_done`](Self::is_done); it keeps at most one line ([`MAX_LINE`]) of its own.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailers: usize,
    allow_trailers: bool,
}

impl ChunkedDecoder {
    /// A decoder; `allow_trailers` false makes any trailer field an error (requests: the proxy
    /// re-encodes bodies and has no use for trailers; responses are passed through with theirs).
    pub fn new(allow_trailers: bool) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailers: 0,
            allow_trailers,
        }
    }

    /// Whether the terminating empty line after the last chunk has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `input`. Call again with the rest until the input is used up or
    /// the message is done.
    pub fn step<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkError> {
        if input.is_empty() || self.state == State::Done {
            return Ok(Step {
                consumed: 0,
                data: None,
            });
        }
        match self.state {
            State::Data(left) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                self.state = match left - n as u64 {
                    0 => State::DataCr,
                    rest => State::Data(rest),
                };
                Ok(Step {
                    consumed: n,
                    data: Some(&input[..n]),
                })
            }
            State::DataCr | State::DataLf => {
                let want = if self.state == State::DataCr {
                    b'\r'
                } else {
                    b'\n'
                };
                if input[0] != want {
                    return Err(ChunkError::MissingCrlf);
                }
                self.state = if want == b'\r' {
                    State::DataLf
                } else {
                    State::Size
                };
                Ok(Step {
                    consumed: 1,
                    data: None,
                })
            }
            State::Size | State::Trailer => self.line_step(input),
            State::Done => unreachable!("handled above"),
        }
    }

    /// Gathers a line; when it is complete, acts on it.
    fn line_step<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkError> {
        let (take, complete) = match memchr::memchr(b'\n', input) {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        if self.line.len() + take > MAX_LINE {
            return Err(ChunkError::LineTooLong);
        }
        self.line.extend_from_slice(&input[..take]);
        if complete {
            let line = std::mem::take(&mut self.line);
            match self.state {
                State::Size => self.size_line(&line)?,
                _ => self.trailer_line(&line)?,
            }
        }
        Ok(Step {
            consumed: take,
            data: None,
        })
    }

    fn size_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        // httparse takes an empty size as 0; HTTP (and Go) require at least one hex digit.
        if !line.first().is_some_and(u8::is_ascii_hexdigit) {
            return Err(ChunkError::BadSize);
        }
        match httparse::parse_chunk_size(line) {
            Ok(httparse::Status::Complete((n, size))) if n == line.len() => {
                self.state = if size == 0 {
                    State::Trailer
                } else {
                    State::Data(size)
                };
                Ok(())
            }
            _ => Err(ChunkError::BadSize),
        }
    }

    fn trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        if line == b"\r\n" {
            self.state = State::Done;
            return Ok(());
        }
        if !self.allow_trailers {
            return Err(ChunkError::Trailers);
        }
        if !line.ends_with(b"\r\n") || !line.contains(&b':') {
            return Err(ChunkError::BadSize);
        }
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ChunkError::TooManyTrailers);
        }
        Ok(())
    }
}

/// Decodes a whole chunked message held in memory: its data and the number of bytes it took.
/// `None` when the input ends before the message does.
pub fn decode_all(input: &[u8], max: usize) -> Result<Option<(Vec<u8>, usize)>, DecodeAllError> {
    let mut d = ChunkedDecoder::new(false);
    let mut out = Vec::new();
    let mut at = 0;
    while !d.is_done() {
        if at == input.len() {
            return Ok(None);
        }
        let s = d.step(&input[at..])?;
        at += s.consumed;
        if let Some(data) = s.data {
            if out.len() + data.len() > max {
                return Err(DecodeAllError::TooLarge(max));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(Some((out, at)))
}

/// [`decode_all`]'s errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeAllError {
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("decoded body larger than {0} bytes")]
    TooLarge(usize),
}

/// Appends `data` as one canonical chunk (nothing for empty data: an empty chunk would end
/// the message).
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// The canonical last chunk with no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8]) -> Result<Option<(Vec<u8>, usize)>, DecodeAllError> {
        decode_all(input, 1 << 20)
    }

    #[test]
    fn decodes_the_daemons_wait_response() {
        let body = b"1e\r\n{\"Error\":null,\"StatusCode\":0}\n\r\n0\r\n\r\nNEXT";
        let (data, n) = all(body).unwrap().unwrap();
        assert_eq!(data, b"{\"Error\":null,\"StatusCode\":0}\n");
        assert_eq!(&body[n..], b"NEXT");
    }

    #[test]
    fn extensions_and_upper_case_hex_are_accepted() {
        let (data, _) = all(b"A;name=v\r\n0123456789\r\n0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(data, b"0123456789");
    }

    #[test]
    fn incomplete_input_is_not_an_error() {
        for cut in [
            &b"5\r"[..],
            b"5\r\nab",
            b"5\r\nabcde\r",
            b"0\r\n",
            b"0\r\n\r",
        ] {
            assert_eq!(all(cut).unwrap(), None, "{cut:?}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let bad: &[(&[u8], ChunkError)] = &[
            (b"\r\n", ChunkError::BadSize),
            (b"zz\r\n", ChunkError::BadSize),
            (b"-1\r\n", ChunkError::BadSize),
            (b"5\n", ChunkError::BadSize),
            (b"11111111111111111\r\n", ChunkError::BadSize),
            (b"2\r\nabX", ChunkError::MissingCrlf),
            (b"2\r\nab\rX", ChunkError::MissingCrlf),
            (b"0\r\nX-T: 1\r\n\r\n", ChunkError::Trailers),
        ];
        for (input, want) in bad {
            assert_eq!(
                all(input),
                Err(DecodeAllError::Chunk(want.clone())),
                "{input:?}"
            );
        }
    }

    #[test]
    fn lines_are_bounded() {
        let mut long = b"1;".to_vec();
        long.resize(MAX_LINE + 10, b'x');
        assert_eq!(
            all(&long),
            Err(DecodeAllError::Chunk(ChunkError::LineTooLong))
        );
    }

    #[test]
    fn decoded_size_is_bounded() {
        let input = b"10\r\n0123456789abcdef\r\n0\r\n\r\n";
        assert_eq!(decode_all(input, 8), Err(DecodeAllError::TooLarge(8)));
    }

    #[test]
    fn trailers_when_allowed_are_counted_and_bounded() {
        let mut d = ChunkedDecoder::new(true);
        let mut input = b"0\r\n".to_vec();
        for _ in 0..MAX_TRAILERS {
            input.extend_from_slice(b"X-T: 1\r\n");
        }
        input.extend_from_slice(b"\r\n");
        let mut at = 0;
        while !d.is_done() {
            at += d.step(&input[at..]).unwrap().consumed;
        }
        assert_eq!(at, input.len());
        let mut d = ChunkedDecoder::new(true);
        let mut input = b"0\r\n".to_vec();
        for _ in 0..=MAX_TRAILERS {
            input.extend_from_slice(b"X-T: 1\r\n");
        }
        let mut at = 0;
        let err = loop {
            match d.step(&input[at..]) {
                Ok(s) => at += s.consumed,
                Err(e) => break e,
            }
        };
        assert_eq!(err, ChunkError::TooManyTrailers);
    }

    fn encode(pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            encode_chunk(&mut out, p);
        }
        out.extend_from_slice(LAST_CHUNK);
        out
    }

    proptest! {
        /// Whatever the split of the input into reads, the decoder returns the data that was
        /// encoded and stops exactly at the end of the message.
        #[test]
        fn round_trips_under_any_split(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
            splits in proptest::collection::vec(1usize..17, 1..64),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut input = encode(&pieces);
            let end = input.len();
            input.extend_from_slice(&tail);
            let mut d = ChunkedDecoder::new(false);
            let mut data = Vec::new();
            let mut at = 0;
            let mut reads = splits.iter().cycle();
            while !d.is_done() {
                let take = (*reads.next().unwrap()).min(input.len() - at);
                let read = &input[at..at + take];
                let mut off = 0;
                while off < read.len() && !d.is_done() {
                    let s = d.step(&read[off..]).unwrap();
                    prop_assert!(s.consumed > 0);
                    if let Some(x) = s.data { data.extend_from_slice(x); }
                    off += s.consumed;
                }
                at += off;
            }
            prop_assert_eq!(at, end);
            prop_assert_eq!(data, pieces.concat());
        }

        /// Arbitrary bytes never panic, never make the decoder hold more than one line, and
        /// every step makes progress.
        #[test]
        fn garbage_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut d = ChunkedDecoder::new(true);
            let mut at = 0;
            while at < input.len() && !d.is_done() {
                match d.step(&input[at..]) {
                    Ok(s) => { prop_assert!(s.consumed > 0); at += s.consumed; }
                    Err(_) => break,
                }
                prop_assert!(d.line.len() <= MAX_LINE);
            }
        }
    }
}
