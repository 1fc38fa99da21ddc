//! Lossless text form of file paths, which on Linux are arbitrary bytes.
//!
//! Every artifact that names a path (lane decisions, kernel events, capability surfaces) uses
//! this one escaping so that a path survives a round trip through JSON exactly:
//!
//! * valid UTF-8 is kept as is (so `docs/naïve.md` stays readable),
//! * a backslash becomes `\\`,
//! * each byte that is not part of valid UTF-8 becomes `\xNN` (two lower-case hex digits),
//! * control bytes (`0x00..=0x1f`, `0x7f`) also become `\xNN`, so a path never breaks a line.
//!
//! [`unescape`] inverts [`escape`] for every input; the property tests below hold that line.
//! Imports: nothing from this crate.

use std::fmt::Write as _;

/// Escapes raw path bytes into the documented lossless text form.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Error returned by [`unescape`] for text that [`escape`] could not have produced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid escaped path at byte {offset}: expected `\\\\` or `\\xNN` after a backslash")]
pub struct UnescapeError {
    /// Byte offset of the offending backslash.
    pub offset: usize,
}

/// Inverts [`escape`].
pub fn unescape(text: &str) -> Result<Vec<u8>, UnescapeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = bytes.get(i + 2..i + 4).ok_or(UnescapeError { offset: i })?;
                let hex = std::str::from_utf8(hex).map_err(|_| UnescapeError { offset: i })?;
                let b = u8::from_str_radix(hex, 16).map_err(|_| UnescapeError { offset: i })?;
                out.push(b);
                i += 4;
            }
            _ => return Err(UnescapeError { offset: i }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(escape(b"src/main.rs"), "src/main.rs");
        assert_eq!(escape("docs/naïve ✓.md".as_bytes()), "docs/naïve ✓.md");
        assert_eq!(escape(b"a\\b"), "a\\\\b");
        assert_eq!(escape(b"bad\xff\xfe.txt"), "bad\\xff\\xfe.txt");
        assert_eq!(escape(b"line\nbreak"), "line\\x0abreak");
        assert_eq!(unescape("bad\\xff.txt").unwrap(), b"bad\xff.txt");
        assert_eq!(unescape("x\\q"), Err(UnescapeError { offset: 1 }));
        assert_eq!(unescape("x\\x4"), Err(UnescapeError { offset: 1 }));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = escape(&bytes);
            prop_assert!(!text.contains('\n'));
            prop_assert_eq!(unescape(&text).unwrap(), bytes);
        }

        #[test]
        fn utf8_without_specials_is_unchanged(s in "[^\\\\\\x00-\\x1f\\x7f]{0,32}") {
            prop_assert_eq!(escape(s.as_bytes()), s);
        }
    }
}
