//! Change lists: the paths a PR touched, parsed from what users and git hand us.
//!
//! Accepted input (bytes, never split on whitespace):
//! * one path per line (`git diff --name-only`), with git's C-quoting (`"a\303\251.md"`) undone;
//! * `git diff --name-status` lines: `M<TAB>path`, `D<TAB>path`, `R100<TAB>old<TAB>new`,
//!   `C75<TAB>src<TAB>dst`;
//! * the NUL-separated forms of both (`-z`), detected by the presence of a NUL byte.
//!
//! A rename yields two entries (old and new path) so both count; a copy counts its destination.
//! Imports: nothing from this crate.

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Listed without a status (plain path list).
    Listed,
    /// `A`
    Added,
    /// `M`
    Modified,
    /// `D`
    Deleted,
    /// `T`
    TypeChanged,
    /// Old side of `R`.
    RenamedFrom,
    /// New side of `R`.
    RenamedTo,
    /// New side of `C`.
    CopiedTo,
    /// `U`, `X`, `B` or other statuses git may print.
    Other,
}

impl ChangeKind {
    /// Stable lower-case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Listed => "listed",
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::TypeChanged => "type_changed",
            ChangeKind::RenamedFrom => "renamed_from",
            ChangeKind::RenamedTo => "renamed_to",
            ChangeKind::CopiedTo => "copied_to",
            ChangeKind::Other => "other",
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedPath {
    /// Repo-relative path, raw bytes.
    pub path: Vec<u8>,
    /// How it changed.
    pub change: ChangeKind,
}

/// A malformed change list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangesError {
    /// A `--name-status` record with too few paths.
    #[error(
        "line {line}: status `{status}` needs {needed} path(s) separated by TAB (e.g. `R100\\told\\tnew`)"
    )]
    MissingPath {
        /// 1-based line (or record) number.
        line: usize,
        /// The status field.
        status: String,
        /// Paths the status requires.
        needed: usize,
    },
    /// A quoted path that does not end or has a bad escape.
    #[error("line {line}: malformed quoted path: {why}")]
    BadQuote {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        why: &'static str,
    },
}

fn status_of(field: &[u8]) -> Option<(u8, usize)> {
    let (&first, rest) = field.split_first()?;
    if !b"ACDMRTUXB".contains(&first) || !rest.iter().all(u8::is_ascii_digit) || rest.len() > 3 {
        return None;
    }
    let paths = if first == b'R' || first == b'C' { 2 } else { 1 };
    Some((first, paths))
}

fn push_status(out: &mut Vec<ChangedPath>, status: u8, paths: Vec<Vec<u8>>) {
    let mut it = paths.into_iter();
    match status {
        b'R' => {
            out.push(ChangedPath {
                path: it.next().unwrap_or_default(),
                change: ChangeKind::RenamedFrom,
            });
            out.push(ChangedPath {
                path: it.next().unwrap_or_default(),
                change: ChangeKind::RenamedTo,
            });
        }
        b'C' => {
            let _source = it.next();
            out.push(ChangedPath {
                path: it.next().unwrap_or_default(),
                change: ChangeKind::CopiedTo,
            });
        }
        s => {
            let change = match s {
                b'A' => ChangeKind::Added,
                b'M' => ChangeKind::Modified,
                b'D' => ChangeKind::Deleted,
                b'T' => ChangeKind::TypeChanged,
                _ => ChangeKind::Other,
            };
            out.push(ChangedPath {
                path: it.next().unwrap_or_default(),
                change,
            });
        }
    }
}

/// Parses a change list in any accepted form. Empty lines are ignored.
pub fn parse(input: &[u8]) -> Result<Vec<ChangedPath>, ChangesError> {
    if input.contains(&0) {
        return Ok(parse_nul(input));
    }
    let mut out = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        match status_of(fields[0]) {
            Some((status, needed)) if fields.len() > 1 => {
                if fields.len() - 1 < needed {
                    return Err(ChangesError::MissingPath {
                        line: line_no,
                        status: String::from_utf8_lossy(fields[0]).into_owned(),
                        needed,
                    });
                }
                let paths = fields[1..=needed]
                    .iter()
                    .map(|f| unquote(f, line_no))
                    .collect::<Result<Vec<_>, _>>()?;
                push_status(&mut out, status, paths);
            }
            _ => out.push(ChangedPath {
                path: unquote(line, line_no)?,
                change: ChangeKind::Listed,
            }),
        }
    }
    Ok(out)
}

/// `-z` output: `--name-only -z` is `path\0path\0`; `--name-status -z` is
/// `M\0path\0R100\0old\0new\0`. It is name-status when the records parse as such throughout.
fn parse_nul(input: &[u8]) -> Vec<ChangedPath> {
    let tokens: Vec<&[u8]> = input.split(|&b| b == 0).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut as_status = true;
    while i < tokens.len() {
        match status_of(tokens[i]) {
            Some((status, needed)) if i + needed < tokens.len() => {
                push_status(
                    &mut out,
                    status,
                    tokens[i + 1..=i + needed]
                        .iter()
                        .map(|t| t.to_vec())
                        .collect(),
                );
                i += needed + 1;
            }
            _ => {
                as_status = false;
                break;
            }
        }
    }
    if as_status {
        return out;
    }
    tokens
        .into_iter()
        .map(|t| ChangedPath {
            path: t.to_vec(),
            change: ChangeKind::Listed,
        })
        .collect()
}

/// Undoes git's C-style quoting (`core.quotePath`); unquoted input is returned as is.
fn unquote(field: &[u8], line: usize) -> Result<Vec<u8>, ChangesError> {
    let Some(inner) = field.strip_prefix(b"\"") else {
        return Ok(field.to_vec());
    };
    let inner = inner.strip_suffix(b"\"").ok_or(ChangesError::BadQuote {
        line,
        why: "no closing quote",
    })?;
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let e = *inner.get(i + 1).ok_or(ChangesError::BadQuote {
            line,
            why: "dangling backslash",
        })?;
        let simple = match e {
            b'a' => Some(7),
            b'b' => Some(8),
            b't' => Some(b'\t'),
            b'n' => Some(b'\n'),
            b'v' => Some(11),
            b'f' => Some(12),
            b'r' => Some(b'\r'),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        if let Some(v) = simple {
            out.push(v);
            i += 2;
            continue;
        }
        let oct = inner.get(i + 1..i + 4).ok_or(ChangesError::BadQuote {
            line,
            why: "short octal escape",
        })?;
        if !oct.iter().all(|d| (b'0'..=b'7').contains(d)) {
            return Err(ChangesError::BadQuote {
                line,
                why: "unknown escape",
            });
        }
        let v = oct
            .iter()
            .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
        out.push(u8::try_from(v).map_err(|_| ChangesError::BadQuote {
            line,
            why: "octal escape above \\377",
        })?);
        i += 4;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paths(v: &[ChangedPath]) -> Vec<(String, &'static str)> {
        v.iter()
            .map(|c| {
                (
                    String::from_utf8_lossy(&c.path).into_owned(),
                    c.change.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn plain_lines_keep_spaces_and_dashes() {
        let v = parse(b"a b.txt\n-leading.md\n\n  indented\n").unwrap();
        assert_eq!(
            paths(&v),
            [
                ("a b.txt".into(), "listed"),
                ("-leading.md".into(), "listed"),
                ("  indented".into(), "listed")
            ]
        );
    }

    #[test]
    fn name_status_with_rename_and_copy() {
        let v =
            parse(b"M\tsrc/a.rs\nR100\told name.rs\tnew name.rs\nC75\tx\ty\nD\tgone\n").unwrap();
        assert_eq!(
            paths(&v),
            [
                ("src/a.rs".into(), "modified"),
                ("old name.rs".into(), "renamed_from"),
                ("new name.rs".into(), "renamed_to"),
                ("y".into(), "copied_to"),
                ("gone".into(), "deleted"),
            ]
        );
    }

    #[test]
    fn quoted_paths_are_unquoted() {
        let v = parse(b"\"caf\\303\\251 \\\"x\\\".md\"\nM\t\"tab\\there\"\n").unwrap();
        assert_eq!(v[0].path, "café \"x\".md".as_bytes());
        assert_eq!(v[1].path, b"tab\there");
        assert_eq!(
            parse(b"\"open\n"),
            Err(ChangesError::BadQuote {
                line: 1,
                why: "no closing quote"
            })
        );
    }

    #[test]
    fn rename_without_new_path_is_an_error_with_line() {
        assert_eq!(
            parse(b"M\ta\nR100\told\n"),
            Err(ChangesError::MissingPath {
                line: 2,
                status: "R100".into(),
                needed: 2
            })
        );
    }

    #[test]
    fn nul_separated_forms() {
        let v = parse(b"M\0a\nb\0R090\0o\0n\0").unwrap();
        assert_eq!(
            paths(&v),
            [
                ("a\nb".into(), "modified"),
                ("o".into(), "renamed_from"),
                ("n".into(), "renamed_to")
            ]
        );
        let v = parse(b"x y\0\xff\xfe\0").unwrap();
        assert_eq!(v[1].path, b"\xff\xfe");
        assert_eq!(v[1].change, ChangeKind::Listed);
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&input);
        }

        #[test]
        fn plain_list_round_trips(list in proptest::collection::vec("[^\n\t\"\r\0]{1,20}", 0..10)) {
            let text = list.join("\n");
            let v = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(v.iter().map(|c| c.path.clone()).collect::<Vec<_>>(), list.iter().map(|p| p.as_bytes().to_vec()).collect::<Vec<_>>());
        }
    }
}
