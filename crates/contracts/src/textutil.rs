//! Small text checks shared by the configuration parsers (`lanes`, `proofs`, `policy`), so
//! their names and their errors for undecodable files stay the same.
//! Imports: nothing from this crate.

/// A proof or policy-rule name: 1 to 64 of `[a-z0-9_-]`, starting with a letter or digit.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && n.as_bytes()[0].is_ascii_alphanumeric()
}

/// The file as UTF-8, or the 1-based line of its first invalid byte.
pub fn utf8_or_line(text: &[u8]) -> Result<&str, u64> {
    std::str::from_utf8(text).map_err(|e| {
        1 + text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["demo", "a", "read-data", "r_1", "0x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "Demo", "a b", "a/b", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        assert_eq!(utf8_or_line(b"a\nb"), Ok("a\nb"));
        assert_eq!(utf8_or_line(b"a\nb\n\xff"), Err(3));
        assert_eq!(utf8_or_line(b"\xc3"), Err(1));
    }
}
