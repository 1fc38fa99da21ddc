//! GitHub workflow commands (`::error file=…,line=…::message`) for when no check run can be
//! written: correct escaping, GitHub's per-step cap, and `::stop-commands::` around text that
//! came from the change under test so it can never issue commands itself.

use std::fmt::Write as _;

use super::{Annotation, Level};

/// At most this many `::error`/`::warning` commands are printed per step (GitHub shows at
/// most 10 of each kind per step; the rest are summarised in one plain line).
pub const MAX_COMMANDS: usize = 10;

/// Escapes a command's message: `%`, CR and LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command property value: as [`escape_data`], plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation as a workflow command line (without the newline).
pub fn command(a: &Annotation) -> String {
    let kind = match a.level {
        Level::Failure => "error",
        Level::Warning => "warning",
    };
    format!(
        "::{kind} file={},line={},title={}::{}",
        escape_property(&a.path),
        a.line,
        escape_property(&a.title),
        escape_data(&a.message)
    )
}

/// The workflow-command lines for `annotations`: failures first, at most [`MAX_COMMANDS`],
/// then one plain line saying how many were left out and where to find them.
pub fn annotation_lines(annotations: &[Annotation]) -> String {
    let mut sorted: Vec<&Annotation> = annotations.iter().collect();
    sorted.sort_by_key(|a| a.level);
    let mut out = String::new();
    for a in sorted.iter().take(MAX_COMMANDS) {
        let _ = writeln!(out, "{}", command(a));
    }
    if sorted.len() > MAX_COMMANDS {
        let _ = writeln!(
            out,
            "{} more annotation(s) not shown here (GitHub shows at most {MAX_COMMANDS} per step); \
             see the step summary.",
            sorted.len() - MAX_COMMANDS
        );
    }
    out
}

/// Wraps untrusted text so the runner does not interpret workflow commands inside it.
/// `token` must be unpredictable to whoever wrote the text (see [`stop_token`]).
pub fn guarded(text: &str, token: &str) -> String {
    let mut out = format!("::stop-commands::{token}\n{text}");
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "::{token}::");
    out
}

/// A fresh 128-bit token from the kernel's random source.
pub fn stop_token() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(format!("assay-{}", hex::encode(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ann(level: Level, path: &str, title: &str, message: &str) -> Annotation {
        Annotation {
            path: path.into(),
            line: 7,
            level,
            title: title.into(),
            message: message.into(),
        }
    }

    #[test]
    fn escaping_follows_githubs_rules() {
        let a = ann(
            Level::Failure,
            "gold,en:s/a.json",
            "t: 100%, ok",
            "50%\r\nnext ::error::x",
        );
        assert_eq!(
            command(&a),
            "::error file=gold%2Cen%3As/a.json,line=7,title=t%3A 100%25%2C ok::50%25%0D%0Anext ::error::x"
        );
        assert!(command(&ann(Level::Warning, "p", "t", "m")).starts_with("::warning "));
    }

    #[test]
    fn at_most_ten_commands_failures_first() {
        let mut v: Vec<Annotation> = (0..8)
            .map(|i| ann(Level::Warning, "w", &format!("w{i}"), "m"))
            .collect();
        v.extend((0..8).map(|i| ann(Level::Failure, "f", &format!("f{i}"), "m")));
        let out = annotation_lines(&v);
        let cmds: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(cmds.len(), 10);
        assert!(cmds[..8].iter().all(|l| l.starts_with("::error ")));
        assert!(out.contains("6 more annotation(s) not shown"));
    }

    #[test]
    fn guarded_text_is_fenced_by_the_token() {
        let g = guarded("::error::pwned\n", "tok");
        assert_eq!(g, "::stop-commands::tok\n::error::pwned\n::tok::\n");
        let t = stop_token().unwrap();
        assert_eq!(t.len(), "assay-".len() + 32);
        assert_ne!(t, stop_token().unwrap());
    }

    proptest! {
        /// Whatever a message or property holds, the command stays one line and its
        /// properties cannot gain a separator.
        #[test]
        fn escaped_commands_stay_one_line(path in ".*", title in ".*", msg in ".*") {
            let c = command(&ann(Level::Failure, &path, &title, &msg));
            prop_assert!(!c.contains('\n') && !c.contains('\r'));
            let (props, _) = c["::error ".len()..].split_once("::").unwrap();
            prop_assert_eq!(props.matches(',').count(), 2);
            prop_assert_eq!(props.matches(':').count(), 0);
        }
    }
}
