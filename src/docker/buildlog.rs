//! What a legacy build's answer says the daemon did itself: the JSON message stream of
//! `POST /build`, read as it is forwarded, never held.
//!
//! The legacy builder pulls base images and downloads `ADD` URLs itself, over the daemon's
//! network: no session process makes those connections. Measured on dockerd 20.10, each shows
//! in the answer: a pull or a download reports progress (`{"status":…}`), and one that fails
//! ends the build with an error (`{"errorDetail":{"message":…}}`, the failed URL or registry
//! in its text). A `RUN` step that exits non-zero ends it with `{"errorDetail":{"code":N,…}}`.
//!
//! Each message is one line (the daemon's JSON encoder escapes newlines in strings), and its
//! first key says what it is (the encoder writes fields in declaration order, empty ones
//! left out). What a `RUN` step prints is inside a `stream` string, escaped: it can neither
//! start a line nor forge a key. So a line is judged by its first bytes alone, however long
//! it is (an error can carry a server's whole answer).
//! Imports nothing of the crate.

/// What a build's answer showed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildLog {
    /// A progress message: the daemon pulled or downloaded something.
    pub fetched: bool,
    /// An error other than a `RUN` step's exit: it may have been a failed pull or download.
    pub failed: bool,
    /// Any error, a `RUN` step's exit included: the build did not succeed.
    pub errored: bool,
    /// The first bytes of the current line (at most [`PREFIX`]).
    line: [u8; PREFIX],
    len: usize,
    /// The current line is past its prefix (judged already).
    judged: bool,
}

/// Bytes of a line that decide what it is.
const PREFIX: usize = 24;

impl BuildLog {
    /// Reads the next decoded bytes of the answer.
    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' {
                self.end_line();
                continue;
            }
            if self.judged || (self.len == 0 && b.is_ascii_whitespace()) {
                continue;
            }
            self.line[self.len] = b;
            self.len += 1;
            if self.len == PREFIX {
                self.judge();
            }
        }
    }

    /// The answer ended (a last line without a newline is judged too).
    pub fn finish(&mut self) {
        self.end_line();
    }

    fn end_line(&mut self) {
        if !self.judged && self.len > 0 {
            self.judge();
        }
        self.len = 0;
        self.judged = false;
    }

    fn judge(&mut self) {
        self.judged = true;
        let line = &self.line[..self.len];
        if line.starts_with(b"{\"status\":") || line.starts_with(b"{\"progressDetail\":") {
            self.fetched = true;
        } else if line.starts_with(b"{\"errorDetail\":{\"code\":") {
            // a RUN step's exit status: the daemon's work ended there, it fetched nothing
            self.errored = true;
        } else if line.starts_with(b"{\"errorDetail\":") || line.starts_with(b"{\"error\":") {
            self.failed = true;
            self.errored = true;
        }
    }
}

/// What a quiet (`q=1`) build answers when it succeeds, from the whole answer of the same
/// build without `q`: the image id of its last `aux` message, as the daemon writes it
/// (`{"stream":"sha256:…\n"}`). `None` when no `aux` message has an id (an API below 1.30).
pub fn quiet_answer(verbose: &[u8]) -> Option<Vec<u8>> {
    let id = verbose
        .rsplit(|&b| b == b'\n')
        .filter(|l| {
            let l = l.trim_ascii_start();
            // a squashed build's id comes as {"id":"moby.image.id","aux":…}
            l.starts_with(b"{\"aux\":") || l.starts_with(b"{\"id\":\"moby.image.id\",\"aux\":")
        })
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l.trim_ascii()).ok())
        .find_map(|v| v["aux"]["ID"].as_str().map(str::to_string))?;
    let mut out = serde_json::to_vec(&serde_json::json!({ "stream": format!("{id}\n") })).ok()?;
    out.extend_from_slice(b"\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(fetched, failed)` after reading `chunks`.
    fn read(chunks: &[&[u8]]) -> (bool, bool) {
        let mut l = BuildLog::default();
        for c in chunks {
            l.feed(c);
        }
        l.finish();
        (l.fetched, l.failed)
    }

    #[test]
    fn progress_is_a_fetch_an_error_a_failure_a_run_exit_neither() {
        // the three answers measured on dockerd 20.10 (shortened)
        let add = b"{\"stream\":\"Step 2/3 : ADD http://127.0.0.1:8765/s.txt /x\"}\r\n{\"stream\":\"\\n\"}\r\n{\"status\":\"Downloading\",\"progressDetail\":{\"current\":7,\"total\":7}}\r\n{\"aux\":{\"ID\":\"sha256:a5\"}}\r\n";
        assert_eq!(read(&[add]), (true, false));
        let refused = b"{\"stream\":\"Step 1/2 : FROM 127.0.0.1:5999/nothing:1\"}\r\n{\"errorDetail\":{\"message\":\"Get \\\"http://127.0.0.1:5999/v2/\\\": connection refused\"},\"error\":\"x\"}\r\n";
        assert_eq!(read(&[refused]), (false, true));
        let run = b"{\"stream\":\" ---\\u003e Running in 6a\\n\"}\r\n{\"errorDetail\":{\"code\":1,\"message\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"},\"error\":\"The command\"}\r\n";
        assert_eq!(read(&[run]), (false, false));
    }

    #[test]
    fn a_quiet_answer_is_the_last_image_id() {
        let verbose = b"{\"stream\":\"Step 1/1 : FROM b\"}\r\n{\"aux\":{\"ID\":\"sha256:aa\"}}\r\n{\"stream\":\"{\\\"aux\\\":{\\\"ID\\\":\\\"sha256:forged\\\"}}\"}\r\n{\"stream\":\"Successfully built aa\\n\"}\r\n";
        assert_eq!(
            quiet_answer(verbose).unwrap(),
            b"{\"stream\":\"sha256:aa\\n\"}\r\n"
        );
        assert_eq!(
            quiet_answer(b"{\"stream\":\"Successfully built aa\\n\"}\r\n"),
            None
        );
    }

    #[test]
    fn what_a_run_step_prints_cannot_start_a_message() {
        // a RUN step printing a status line: escaped inside the stream string
        let forged =
            br#"{"stream":"\n{\"status\":\"Downloading\"}\n{\"errorDetail\":{\"code\":1}}"}"#;
        assert_eq!(read(&[forged]), (false, false));
    }

    #[test]
    fn lines_are_judged_across_chunks_and_however_long() {
        let mut l = BuildLog::default();
        for b in b"{\"stream\":\"a\"}\r\n  {\"errorD".iter() {
            l.feed(&[*b]);
        }
        l.feed(b"etail\":{\"message\":\"");
        l.feed(&vec![b'x'; 1 << 20]);
        l.feed(b"\"}}");
        l.finish();
        assert!(l.failed && !l.fetched);
        // a last line without its newline
        assert_eq!(
            read(&[b"{\"status\":\"Pulling from library/x\"}"]),
            (true, false)
        );
        // a short line is judged at its end
        assert_eq!(read(&[b"{\"error\":\"\"}\n"]), (false, true));
    }

    proptest::proptest! {
        /// However the daemon's answer is cut into reads, the judgement is the same.
        #[test]
        fn chunking_never_changes_the_judgement(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"{\"status\":\"Downloading\"}".to_vec()),
                    proptest::strategy::Just(b"{\"errorDetail\":{\"code\":1}}".to_vec()),
                    proptest::strategy::Just(b"{\"errorDetail\":{\"message\":\"m\"}}".to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                ],
                0..8,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..12),
        ) {
            let all: Vec<u8> = lines.join(&b"\r\n"[..]);
            let whole = read(&[&all]);
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c.min(all.len())).collect();
            at.sort();
            let mut pieces = Vec::new();
            let mut from = 0;
            for c in at {
                pieces.push(&all[from..c]);
                from = c;
            }
            pieces.push(&all[from..]);
            proptest::prop_assert_eq!(read(&pieces), whole);
        }
    }
}
