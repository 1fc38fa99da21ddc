//! The policy file of `mcp-wrap` (see `docs/policy.md`):
//!
//! ```yaml
//! default: deny                 # allow | deny, for a tools/call no rule matches
//! rules:                        # first match wins
//!   - name: read-data           # unique, [a-z0-9_-]
//!     tool: read_text_file      # glob over tool names
//!     decision: allow           # allow | deny
//!     when:                     # optional: every listed argument must be a string matching its glob
//!       path: "<work>/data/**"
//!     reason: text              # optional, shown to the client on deny
//! ```
//!
//! Two stages like `lanes::config`: serde-saphyr into `Raw*` structs that keep positions
//! (unknown and duplicate keys rejected), then validation that gathers every problem as
//! `file:line:column: error[code]: message`. Globs compile once, with `<work>` substituted.
//! Imports: `policy::path`, `contracts::policy_event` (vocabulary), `textutil`.

use std::collections::{BTreeMap, BTreeSet};

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::path::normalize_absolute;
use crate::contracts::policy_event::{Decision, RESERVED_RULES};

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Longest `reason` text accepted.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: Spanned<String>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    tool: Spanned<String>,
    decision: Spanned<String>,
    #[serde(default)]
    when: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    reason: Option<Spanned<String>>,
}

/// One problem in a policy file: the diagnostic every configuration file shares.
pub use crate::diag::Diagnostic;

/// Every diagnostic code, stable (scripts may match on them).
pub const CODES: [&str; 11] = [
    "unreadable",
    "too-large",
    "yaml-syntax",
    "unknown-key",
    "missing-key",
    "invalid-decision",
    "invalid-name",
    "duplicate-rule",
    "invalid-glob",
    "invalid-reason",
    "invalid-work-dir",
];

/// A policy file that cannot be used: every problem found, in file order.
pub type PolicyError = crate::diag::Diagnostics;

/// The keys a policy file may have, where (every unknown one is reported at once).
const SHAPE: crate::diag::Shape = {
    use crate::diag::Shape::{Any, List, Map};
    Map(&[
        ("default", Any),
        (
            "rules",
            List(&Map(&[
                ("name", Any),
                ("tool", Any),
                ("decision", Any),
                ("when", Any),
                ("reason", Any),
            ])),
        ),
    ])
};

/// How an argument constraint is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// The glob starts with `/` or `<work>`: the value must be an absolute path, normalized
    /// lexically before matching.
    Path,
    /// Any other glob: the string as it is.
    Text,
}

/// `when: {arg: glob}`, compiled.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub argument: String,
    /// The glob as written.
    pub glob: String,
    pub kind: ConstraintKind,
    matcher: GlobMatcher,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub tool_glob: String,
    pub decision: Decision,
    pub when: Vec<Constraint>,
    pub reason: Option<String>,
    pub line: u64,
    tool: GlobMatcher,
}

/// A validated policy, globs compiled.
#[derive(Debug, Clone)]
pub struct Policy {
    pub source: String,
    pub default: Decision,
    pub rules: Vec<Rule>,
    /// The work dir `<work>` stands for (absolute, normalized).
    pub work_dir: String,
}

/// The answer for one `tools/call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// Rule name, or `default`.
    pub rule: String,
    /// `code: prose`, one line.
    pub reason: String,
}

fn compile(text: &str) -> Result<GlobMatcher, String> {
    if text.is_empty() {
        return Err("empty glob".into());
    }
    GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

/// Untrusted text for a one-line reason: control characters escaped, at most 200 chars.
pub fn show(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= 200 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn pos<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

impl Policy {
    /// Reads and validates `path`; `<work>` stands for `work_dir`.
    pub fn load(path: &std::path::Path, work_dir: &str) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        let text = crate::fsutil::read_bounded(path, MAX_POLICY_BYTES as u64).map_err(|e| {
            PolicyError {
                diagnostics: vec![Diagnostic {
                    file: name.clone(),
                    line: 1,
                    column: 1,
                    code: if e.to_string().starts_with("larger than") {
                        "too-large"
                    } else {
                        "unreadable"
                    },
                    message: format!("cannot read the policy file: {e}"),
                }],
            }
        })?;
        Policy::parse(&name, &text, work_dir)
    }

    /// Parses and validates a policy. `source` names the file in messages; `work_dir` must be
    /// absolute. Every problem of the file is reported at once.
    pub fn parse(source: &str, text: &[u8], work_dir: &str) -> Result<Policy, PolicyError> {
        let Some(work_dir) = normalize_absolute(work_dir) else {
            return Err(one(
                source,
                1,
                "invalid-work-dir",
                format!("the work dir `{}` must be an absolute path", show(work_dir)),
            ));
        };
        let raw = read_raw(source, text)?;
        let mut diags = Vec::new();
        let mut push = |(line, column): (u64, u64), code, message: String| {
            diags.push(Diagnostic {
                file: source.into(),
                line,
                column,
                code,
                message,
            })
        };
        let default = decision(&raw.default, &mut push);
        let mut names = BTreeSet::new();
        let mut rules = Vec::new();
        for r in &raw.rules {
            if let Some(rule) = rule(r, &work_dir, &mut names, &mut push) {
                rules.push(rule);
            }
        }
        if !diags.is_empty() {
            diags.sort_by_key(|d| (d.line, d.column));
            return Err(PolicyError { diagnostics: diags });
        }
        Ok(Policy {
            source: source.into(),
            default,
            rules,
            work_dir,
        })
    }

    /// Decides a `tools/call` of `tool` with `arguments` (`params.arguments`, when present).
    /// First matching rule wins; a rule whose tool glob matches but whose constrained argument
    /// is missing, not a string, or (for path globs) not an absolute path denies the call
    /// outright, whatever the rule's decision: the policy cannot know what such a value means.
    pub fn decide(&self, tool: &str, arguments: Option<&serde_json::Value>) -> Verdict {
        'rules: for r in &self.rules {
            if !r.tool.is_match(tool) {
                continue;
            }
            for c in &r.when {
                let deny = |code: &str, what: String| Verdict {
                    decision: Decision::Deny,
                    rule: r.name.clone(),
                    reason: format!(
                        "{code}: rule {} constrains argument `{}` of {} to `{}`, {what}",
                        r.name,
                        show(&c.argument),
                        show(tool),
                        show(&c.glob)
                    ),
                };
                let value = match arguments.and_then(|a| a.as_object()) {
                    None => {
                        return deny("argument-missing", "and the call has no arguments".into());
                    }
                    Some(o) => match o.get(&c.argument) {
                        None => return deny("argument-missing", "and the call lacks it".into()),
                        Some(serde_json::Value::String(s)) => s,
                        Some(_) => {
                            return deny(
                                "argument-not-string",
                                "and the call's value is not a string".into(),
                            );
                        }
                    },
                };
                let ok = match c.kind {
                    ConstraintKind::Text => c.matcher.is_match(value.as_str()),
                    ConstraintKind::Path => match normalize_absolute(value) {
                        Some(n) => c.matcher.is_match(n.as_str()),
                        None => {
                            return deny(
                                "argument-not-absolute",
                                format!("and `{}` is not an absolute path", show(value)),
                            );
                        }
                    },
                };
                if !ok {
                    continue 'rules;
                }
            }
            let reason = match (r.decision, &r.reason) {
                (Decision::Deny, Some(text)) => format!("rule-deny: {text}"),
                (Decision::Deny, None) => {
                    format!("rule-deny: rule {} denies {}", r.name, show(tool))
                }
                (Decision::Allow, _) => {
                    format!("rule-allow: rule {} allows {}", r.name, show(tool))
                }
            };
            return Verdict {
                decision: r.decision,
                rule: r.name.clone(),
                reason,
            };
        }
        let code = match self.default {
            Decision::Allow => "default-allow",
            Decision::Deny => "default-deny",
        };
        Verdict {
            decision: self.default,
            rule: "default".into(),
            reason: format!("{code}: no rule matches tool {}", show(tool)),
        }
    }
}

/// A policy error of one diagnostic at line `line`, column 1.
fn one(source: &str, line: u64, code: &'static str, message: String) -> PolicyError {
    PolicyError {
        diagnostics: vec![Diagnostic {
            file: source.into(),
            line,
            column: 1,
            code,
            message,
        }],
    }
}

/// The file as YAML, within the size limit, valid UTF-8, with no unknown key (every unknown
/// key is reported at once).
fn read_raw(source: &str, text: &[u8]) -> Result<RawPolicy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(one(
            source,
            1,
            "too-large",
            format!(
                "file is {} bytes; the limit is {MAX_POLICY_BYTES}",
                text.len()
            ),
        ));
    }
    let text = crate::textutil::utf8_or_line(text).map_err(|line| {
        one(
            source,
            line,
            "yaml-syntax",
            "file is not valid UTF-8".into(),
        )
    })?;
    crate::diag::Diagnostics::check(crate::diag::unknown_keys(source, text, &SHAPE))?;
    serde_saphyr::from_str(text).map_err(|e| {
        let mut d = crate::diag::from_yaml(source, &e);
        if d.code == "yaml-syntax" {
            d.message.push_str(" (a policy has `default` and `rules`; a rule has name, tool, decision, when, reason)");
        }
        d.message.push_str("; see docs/policy.md");
        PolicyError::one(d)
    })
}

/// A diagnostic sink: position, code, message.
type Push<'a> = dyn FnMut((u64, u64), &'static str, String) + 'a;

/// `allow` or `deny`; anything else is a problem (and denies).
fn decision(s: &Spanned<String>, push: &mut Push) -> Decision {
    match s.value.as_str() {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        other => {
            push(
                pos(s),
                "invalid-decision",
                format!("decision `{}`: expected allow or deny", show(other)),
            );
            Decision::Deny
        }
    }
}

/// One rule validated: its name (valid, not reserved, not seen before in `names`), tool glob,
/// decision, argument constraints and reason. `None` when its tool glob does not compile; every
/// problem goes to `push`.
fn rule(
    r: &Spanned<RawRule>,
    work_dir: &str,
    names: &mut BTreeSet<String>,
    push: &mut Push,
) -> Option<Rule> {
    let (line, _) = pos(r);
    let r = &r.value;
    let name = &r.name.value;
    if !crate::textutil::valid_name(name) || RESERVED_RULES.contains(&name.as_str()) {
        push(
            pos(&r.name),
            "invalid-name",
            format!(
                "rule name `{}` must be 1-64 of [a-z0-9_-], starting with a letter or digit, and not `default` or `protocol`",
                show(name)
            ),
        );
    } else if !names.insert(name.clone()) {
        push(
            pos(&r.name),
            "duplicate-rule",
            format!("rule `{name}` is defined twice"),
        );
    }
    let tool = match compile(&r.tool.value) {
        Ok(m) => Some(m),
        Err(why) => {
            push(
                pos(&r.tool),
                "invalid-glob",
                format!("invalid tool glob `{}`: {why}", show(&r.tool.value)),
            );
            None
        }
    };
    let d = decision(&r.decision, push);
    let mut when = Vec::new();
    for (arg, g) in &r.when {
        match constraint(arg, &g.value, work_dir) {
            Ok(c) => when.push(c),
            Err(why) => push(
                pos(g),
                "invalid-glob",
                format!("`when.{}: {}`: {why}", show(arg), show(&g.value)),
            ),
        }
    }
    let reason = match &r.reason {
        Some(s)
            if s.value.trim().is_empty()
                || s.value.chars().any(char::is_control)
                || s.value.chars().count() > MAX_REASON_CHARS =>
        {
            push(
                pos(s),
                "invalid-reason",
                format!(
                    "reason must be one non-empty line of at most {MAX_REASON_CHARS} characters"
                ),
            );
            None
        }
        Some(s) => Some(s.value.trim().to_string()),
        None => None,
    };
    Some(Rule {
        name: name.clone(),
        tool_glob: r.tool.value.clone(),
        decision: d,
        when,
        reason,
        line,
        tool: tool?,
    })
}

fn constraint(argument: &str, glob: &str, work_dir: &str) -> Result<Constraint, String> {
    let (kind, text) = if glob == "<work>" || glob.starts_with("<work>/") {
        let base = if work_dir == "/" { "" } else { work_dir };
        let rest = &glob["<work>".len()..];
        let text = format!("{}{}", globset::escape(base), rest);
        (
            ConstraintKind::Path,
            if text.is_empty() { "/".into() } else { text },
        )
    } else if glob.contains("<work>") {
        return Err("`<work>` may only start a glob".into());
    } else if glob.starts_with('/') {
        (ConstraintKind::Path, glob.to_string())
    } else {
        (ConstraintKind::Text, glob.to_string())
    };
    if kind == ConstraintKind::Path
        && text[1..]
            .split('/')
            .any(|c| c == "." || c == ".." || (c.is_empty() && text.len() > 1))
    {
        return Err(
            "a path glob must be normalized (no `.`, `..` or empty components): values are normalized before matching, so it could never match".into(),
        );
    }
    Ok(Constraint {
        argument: argument.into(),
        glob: glob.into(),
        kind,
        matcher: compile(&text)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WORK: &str = "/srv/work";

    fn parse(t: &str) -> Result<Policy, PolicyError> {
        Policy::parse("policy.yaml", t.as_bytes(), WORK)
    }

    const EXAMPLE: &str = "default: deny\nrules:\n  - name: read-data\n    tool: read_text_file\n    decision: allow\n    when:\n      path: \"<work>/data/**\"\n  - name: no-shell\n    tool: \"run_*\"\n    decision: deny\n    reason: shells are not allowed here\n  - name: echo\n    tool: echo\n    decision: allow\n";

    #[test]
    fn first_match_wins_and_default_applies() {
        let p = parse(EXAMPLE).unwrap();
        let d = p.decide(
            "read_text_file",
            Some(&json!({"path": "/srv/work/data/a/b.txt"})),
        );
        assert_eq!(d.decision, Decision::Allow);
        assert_eq!(d.rule, "read-data");
        assert_eq!(d.reason, "rule-allow: rule read-data allows read_text_file");
        let d = p.decide("run_shell", None);
        assert_eq!((d.decision, d.rule.as_str()), (Decision::Deny, "no-shell"));
        assert_eq!(d.reason, "rule-deny: shells are not allowed here");
        let d = p.decide("other", Some(&json!({})));
        assert_eq!((d.decision, d.rule.as_str()), (Decision::Deny, "default"));
        assert_eq!(d.reason, "default-deny: no rule matches tool other");
        assert_eq!(p.decide("echo", None).decision, Decision::Allow);
    }

    #[test]
    fn path_constraints_are_normalized_before_matching() {
        let p = parse(EXAMPLE).unwrap();
        let d = |v: serde_json::Value| p.decide("read_text_file", Some(&json!({ "path": v })));
        assert_eq!(d(json!("/srv/work/data/x")).decision, Decision::Allow);
        assert_eq!(d(json!("/srv/work/data/./x//y")).decision, Decision::Allow);
        for bad in [
            "/srv/work/data/../../../etc/passwd",
            "/srv/work/data/../secret",
            "/srv/work/data",
            "/srv/work/database/x",
            "/srv/work/data/../data2/x",
        ] {
            let v = d(json!(bad));
            assert_eq!(v.decision, Decision::Deny, "{bad}");
            assert_eq!(v.rule, "default", "{bad}");
        }
        let v = d(json!("data/x"));
        assert_eq!((v.decision, v.rule.as_str()), (Decision::Deny, "read-data"));
        assert!(
            v.reason.starts_with("argument-not-absolute: "),
            "{}",
            v.reason
        );
        let v = d(json!(["/srv/work/data/x"]));
        assert!(
            v.reason.starts_with("argument-not-string: "),
            "{}",
            v.reason
        );
        let v = p.decide("read_text_file", Some(&json!({"file": "/srv/work/data/x"})));
        assert!(v.reason.starts_with("argument-missing: "), "{}", v.reason);
        let v = p.decide("read_text_file", None);
        assert!(v.reason.starts_with("argument-missing: "), "{}", v.reason);
        let v = p.decide("read_text_file", Some(&json!("/srv/work/data/x")));
        assert_eq!(v.decision, Decision::Deny);
    }

    #[test]
    fn a_missing_argument_denies_even_under_a_deny_rule_that_would_not_match() {
        let p = parse("default: allow\nrules:\n  - name: no-etc\n    tool: write\n    decision: deny\n    when: {path: \"/etc/**\"}\n").unwrap();
        assert_eq!(
            p.decide("write", Some(&json!({"path": "/tmp/x"}))).decision,
            Decision::Allow
        );
        assert_eq!(
            p.decide("write", Some(&json!({"path": "/tmp/../etc/x"})))
                .decision,
            Decision::Deny
        );
        assert_eq!(
            p.decide("write", Some(&json!({"path": ["/etc/x"]})))
                .decision,
            Decision::Deny
        );
        assert_eq!(p.decide("write", Some(&json!({}))).decision, Decision::Deny);
    }

    #[test]
    fn work_dir_is_escaped_and_text_globs_are_literal() {
        let p = Policy::parse(
            "p.yaml",
            b"default: deny\nrules:\n  - {name: a, tool: t, decision: allow, when: {path: \"<work>/**\", mode: \"r*\"}}\n",
            "/w[1]*",
        )
        .unwrap();
        assert_eq!(
            p.decide("t", Some(&json!({"path": "/w[1]*/x", "mode": "read"})))
                .decision,
            Decision::Allow
        );
        assert_eq!(
            p.decide("t", Some(&json!({"path": "/w1/x", "mode": "read"})))
                .decision,
            Decision::Deny
        );
        assert_eq!(
            p.decide("t", Some(&json!({"path": "/w[1]*/x", "mode": "write"})))
                .decision,
            Decision::Deny
        );
        assert_eq!(
            p.decide("t", Some(&json!({"path": "/w[1]*/x", "mode": "r/x"})))
                .decision,
            Decision::Deny
        );
    }

    #[test]
    fn every_problem_has_file_line_column_and_code() {
        let e = parse("default: maybe\nrules:\n  - name: Bad!\n    tool: \"[\"\n    decision: perhaps\n    when: {path: \"<work>/../x\", q: \"a<work>\"}\n    reason: \"\"\n  - name: ok\n    tool: x\n    decision: allow\n  - name: ok\n    tool: y\n    decision: deny\n  - name: default\n    tool: z\n    decision: deny\n")
            .unwrap_err()
            .to_string();
        for want in [
            "policy.yaml:1:10: error[invalid-decision]: decision `maybe`",
            "policy.yaml:3:11: error[invalid-name]",
            "policy.yaml:4:11: error[invalid-glob]",
            "policy.yaml:5:15: error[invalid-decision]",
            "policy.yaml:6:",
            "may only start a glob",
            "must be normalized",
            "error[invalid-reason]",
            "policy.yaml:11:11: error[duplicate-rule]: rule `ok` is defined twice",
            "policy.yaml:14:11: error[invalid-name]: rule name `default`",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    #[test]
    fn unknown_duplicate_and_missing_keys_are_errors() {
        let e = parse(
            "default: deny\nrules:\n  - name: a\n    tool: t\n    decision: allow\n    whenn: {}\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "policy.yaml:6:5: error[unknown-key]: unknown key `whenn`; expected one of: name, tool, decision, when, reason"
        );
        assert!(e.contains("whenn"), "{e}");
        let e = parse("rules: []\n").unwrap_err().to_string();
        assert!(
            e.contains("error[missing-key]") && e.contains("default"),
            "{e}"
        );
        let e = parse("default: deny\nrules:\n  - name: a\n    tool: t\n    decision: allow\n    when:\n      path: /a/**\n      path: /b/**\n").unwrap_err().to_string();
        assert!(e.starts_with("policy.yaml:8:"), "{e}");
        let e = parse("default: deny\ndefault: allow\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("policy.yaml:2:"), "{e}");
        let e = Policy::parse("p.yaml", b"default: deny\n\xff\n", WORK)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "p.yaml:2:1: error[yaml-syntax]: file is not valid UTF-8");
        let e = Policy::parse("p.yaml", b"default: deny\n", "rel")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid-work-dir"), "{e}");
    }

    #[test]
    fn codes_are_unique_and_kebab() {
        let set: BTreeSet<_> = CODES.iter().collect();
        assert_eq!(set.len(), CODES.len());
        assert!(
            CODES
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        );
    }

    #[test]
    fn hostile_tool_names_stay_on_one_line() {
        let p = parse("default: deny\n").unwrap();
        let v = p.decide("evil\nname\u{1b}[31m", None);
        assert!(
            !v.reason.contains('\n') && !v.reason.contains('\u{1b}'),
            "{}",
            v.reason
        );
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn structured_policies_never_panic_and_decide(
            default in "(allow|deny|maybe)",
            names in proptest::collection::vec("[a-z-]{0,5}", 0..4),
            tool in "[a-z*?\\[\\]{},/]{0,6}",
            glob in "(<work>)?[a-z*/.]{0,8}",
            value in "[a-z/.]{0,12}",
        ) {
            let mut t = format!("default: {default}\nrules:\n");
            for n in &names {
                t.push_str(&format!("  - name: \"{n}\"\n    tool: \"{tool}\"\n    decision: allow\n    when: {{p: \"{glob}\"}}\n"));
            }
            if let Ok(p) = parse(&t) {
                let v = p.decide(&value, Some(&json!({"p": value})));
                proptest::prop_assert!(v.reason.contains(": "));
                if let Some(n) = normalize_absolute(&value) && v.decision == Decision::Allow && v.rule != "default" && glob.starts_with("<work>/") {
                    proptest::prop_assert!(n.starts_with(WORK));
                }
            }
        }
    }
}
