//! One diagnostic type for every configuration file a person writes (lanes, proofs, policy):
//! `file:line:column: error[code]: message`, with stable kebab-case codes, every problem of a
//! file reported together. Also the key check all three run first: every unknown key in the
//! whole file, each with the keys valid at that place (serde stops at the first one).
//! Imports: nothing from this crate.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the caller named it.
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// Stable kebab-case code (scripts may match on it; never renamed or reused).
    pub code: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Diagnostic {
    pub fn new(
        file: &str,
        (line, column): (u64, u64),
        code: &'static str,
        message: String,
    ) -> Self {
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            code,
            message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error[{}]: {}",
            self.file, self.line, self.column, self.code, self.message
        )
    }
}

/// A file that cannot be used: every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// At least one.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    /// One problem.
    pub fn one(d: Diagnostic) -> Diagnostics {
        Diagnostics {
            diagnostics: vec![d],
        }
    }

    /// The problems sorted by position (stable), or `Ok` when there are none.
    pub fn check(mut diagnostics: Vec<Diagnostic>) -> Result<(), Diagnostics> {
        if diagnostics.is_empty() {
            return Ok(());
        }
        diagnostics.sort_by_key(|d| (d.line, d.column));
        Err(Diagnostics { diagnostics })
    }
}

/// A serde-saphyr error as a diagnostic: `unknown-key`, `missing-key` or `yaml-syntax`, at the
/// error's position, without the library's own position prefix.
pub fn from_yaml(file: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let pos = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let message = strip_location_prefix(&e.without_snippet().to_string());
    let code = if message.contains("unknown field") {
        "unknown-key"
    } else if message.contains("missing field") {
        "missing-key"
    } else {
        "yaml-syntax"
    };
    Diagnostic::new(file, pos, code, message)
}

/// serde-saphyr renders "error: line L column C: message" (sometimes "... at line L column
/// C"); diagnostics print their own position first, so both are cut.
pub fn strip_location_prefix(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("error: ").unwrap_or(s);
    let s = match s
        .strip_prefix("line ")
        .and_then(|r| r.find(": ").map(|i| &r[i + 2..]))
    {
        Some(rest) => rest,
        None => s,
    };
    let s = s.lines().next().unwrap_or("");
    if let Some(i) = s.rfind(" at line ")
        && s[i + 9..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b",column ".contains(&b))
    {
        return s[..i].to_string();
    }
    s.to_string()
}

/// The keys a place in a file may have.
#[derive(Debug)]
pub enum Shape {
    /// Anything (a scalar, or a value checked later).
    Any,
    /// A mapping with exactly these keys, each with the shape of its value.
    Map(&'static [(&'static str, Shape)]),
    /// A mapping whose keys are free (names), each value of this shape.
    MapOf(&'static Shape),
    /// A list, each item of this shape.
    List(&'static Shape),
}

/// Every key of `text` that `shape` does not allow, each with the keys valid at its place
/// (code `unknown-key`). Text that is not YAML gives nothing here: the full parse reports it.
pub fn unknown_keys(file: &str, text: &str, shape: &Shape) -> Vec<Diagnostic> {
    let Ok(tree) = serde_saphyr::from_str::<Node>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(file, &tree, shape, &mut out);
    out
}

fn walk(file: &str, node: &Node, shape: &Shape, out: &mut Vec<Diagnostic>) {
    match (node, shape) {
        (Node::Map(entries), Shape::Map(keys)) => {
            for (k, v) in entries {
                match keys.iter().find(|(name, _)| *name == k.value) {
                    Some((_, s)) => walk(file, v, s, out),
                    None => {
                        let valid: Vec<&str> = keys.iter().map(|(n, _)| *n).collect();
                        out.push(Diagnostic::new(
                            file,
                            (k.referenced.line(), k.referenced.column()),
                            "unknown-key",
                            format!(
                                "unknown key `{}`; expected one of: {}",
                                k.value,
                                valid.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        (Node::Map(entries), Shape::MapOf(s)) => {
            for (_, v) in entries {
                walk(file, v, s, out);
            }
        }
        (Node::List(items), Shape::List(s)) => {
            for i in items {
                walk(file, i, s, out);
            }
        }
        _ => {}
    }
}

/// The shape of a YAML document with the position of every mapping key.
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<String>, Node)>),
    List(Vec<Node>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = m.next_key::<Spanned<KeyText>>()? {
            let v = m.next_value::<Node>()?;
            let key = Spanned::new(k.value.0, k.referenced, k.defined);
            entries.push((key, v));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(i) = s.next_element::<Node>()? {
            items.push(i);
        }
        Ok(Node::List(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// A mapping key of any scalar kind, as text (`1:` and `true:` are keys too).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<KeyText, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".into()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: Shape = Shape::Map(&[("name", Shape::Any), ("tags", Shape::List(&Shape::Any))]);
    const FILE: Shape = Shape::Map(&[
        ("items", Shape::List(&ITEM)),
        ("by_name", Shape::MapOf(&ITEM)),
    ]);

    #[test]
    fn every_unknown_key_is_reported_with_the_keys_valid_there() {
        let text = "itemz: []\nitems:\n  - name: a\n    tagz: [x]\n  - nme: b\nby_name:\n  k:\n    nam: c\n";
        let d: Vec<String> = unknown_keys("f.yaml", text, &FILE)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            d,
            [
                "f.yaml:1:1: error[unknown-key]: unknown key `itemz`; expected one of: items, by_name",
                "f.yaml:4:5: error[unknown-key]: unknown key `tagz`; expected one of: name, tags",
                "f.yaml:5:5: error[unknown-key]: unknown key `nme`; expected one of: name, tags",
                "f.yaml:8:5: error[unknown-key]: unknown key `nam`; expected one of: name, tags",
            ]
        );
    }

    #[test]
    fn valid_and_unparseable_text_give_no_key_problem() {
        assert!(unknown_keys("f", "items:\n  - name: a\n    tags: [1, 2]\n", &FILE).is_empty());
        assert!(unknown_keys("f", "items: [", &FILE).is_empty());
        assert!(unknown_keys("f", "", &FILE).is_empty());
    }

    #[test]
    fn diagnostics_sort_by_position_and_print_one_per_line() {
        let e = Diagnostics::check(vec![
            Diagnostic::new("f", (3, 1), "b", "two".into()),
            Diagnostic::new("f", (1, 2), "a", "one".into()),
        ])
        .unwrap_err();
        assert_eq!(e.to_string(), "f:1:2: error[a]: one\nf:3:1: error[b]: two");
    }
}
