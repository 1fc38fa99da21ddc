//! Parsing and validation of a lanes file (`lanes/lanes.yaml`, design §4).
//!
//! Two stages, like cargo-deny's config: serde-saphyr deserializes into `Raw*` structs that keep
//! every value's line and column, then [`LanesConfig::parse`] validates the whole file, gathering
//! *every* problem (unknown lane, duplicate rule, bad glob or regex, ...) before failing, each with
//! `file:line:column` and a stable code. The result holds compiled matchers, built once.
//! Imports: `crate::{diag, matcher}`, `assay_contracts::textutil`.

use std::collections::HashMap;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::Regex;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::diag::{Code, ConfigError, Diagnostic};
use super::matcher::GlobIndex;

/// The keys a lanes file may have, where (every unknown one is reported at once).
const SHAPE: assay_contracts::diag::Shape = {
    use assay_contracts::diag::Shape::{Any, List, Map};
    Map(&[
        ("lanes", Any),
        ("default", Any),
        (
            "rules",
            List(&Map(&[
                ("name", Any),
                ("lane", Any),
                ("paths", Any),
                ("except", Any),
            ])),
        ),
        (
            "cases",
            List(&Map(&[("name", Any), ("files", Any), ("expect", Any)])),
        ),
        (
            "forbid",
            List(&Map(&[
                ("name", Any),
                ("paths", Any),
                ("except", Any),
                ("pattern", Any),
                ("message", Any),
            ])),
        ),
    ])
};

/// Largest lanes file we accept; a bigger one is almost certainly not a lanes file.
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    lanes: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    default: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    cases: Vec<Spanned<RawCase>>,
    #[serde(default)]
    forbid: Vec<Spanned<RawForbid>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    lane: Spanned<String>,
    paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    except: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Spanned<String>,
    files: Vec<Spanned<String>>,
    expect: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForbid {
    name: Spanned<String>,
    paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    except: Vec<Spanned<String>>,
    pattern: Spanned<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A position in the lanes file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, 1-based.
    pub line: u64,
    /// Column, 1-based.
    pub column: u64,
}

impl<T> From<&Spanned<T>> for Pos {
    fn from(s: &Spanned<T>) -> Self {
        Pos {
            line: s.referenced.line(),
            column: s.referenced.column(),
        }
    }
}

/// One glob as written in the file, with where it was written.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The glob text.
    pub glob: String,
    /// Where it stands in the file.
    pub pos: Pos,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// Index into [`LanesConfig::lanes`].
    pub lane: usize,
    /// Globs that select a file.
    pub paths: Vec<Pattern>,
    /// Globs that exclude a selected file.
    pub except: Vec<Pattern>,
    /// Where the rule starts.
    pub pos: Pos,
}

/// A validated self-test case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case name.
    pub name: String,
    /// Files of the simulated PR.
    pub files: Vec<String>,
    /// Expected PR lane (index into lanes).
    pub expect: usize,
    /// Where the case starts.
    pub pos: Pos,
}

/// A validated absence check.
#[derive(Debug, Clone)]
pub struct Forbid {
    /// Unique name.
    pub name: String,
    /// Files the check reads.
    pub paths: Vec<Pattern>,
    /// Files it skips.
    pub except: Vec<Pattern>,
    /// The forbidden regex.
    pub pattern: Regex,
    /// Optional explanation printed with a hit.
    pub message: Option<String>,
    /// Where the check starts.
    pub pos: Pos,
    pub(crate) select: GlobSet,
    pub(crate) exclude: GlobSet,
}

impl Forbid {
    /// Whether the check reads this repo-relative path.
    pub fn applies_to(&self, path: &[u8]) -> bool {
        let c = candidate(path);
        self.select.is_match_candidate(&c) && !self.exclude.is_match_candidate(&c)
    }
}

/// Which part of a rule a compiled glob came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobRole {
    Paths,
    Except,
}

/// Owner of one glob in the combined [`GlobIndex`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct GlobOwner {
    pub rule: usize,
    pub role: GlobRole,
    pub index: usize,
}

/// A validated lanes file with its matchers compiled once.
#[derive(Debug, Clone)]
pub struct LanesConfig {
    /// Name of the file it came from (for messages).
    pub source: String,
    /// Lane names, cheapest first.
    pub lanes: Vec<String>,
    /// Lane of a file that no rule matches.
    pub default: usize,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// Self-test cases.
    pub cases: Vec<Case>,
    /// Absence checks.
    pub forbid: Vec<Forbid>,
    /// Every glob of every rule (`paths` then `except`, rule by rule), matched once per path.
    pub(crate) index: GlobIndex,
    /// Owner of each glob of `index`.
    pub(crate) owners: Vec<GlobOwner>,
    /// Distinct glob id → the rules that list it under `paths`, ascending.
    pub(crate) path_rules: Vec<Vec<u32>>,
    /// Rule → the distinct glob ids of its `except` globs.
    pub(crate) except_ids: Vec<Vec<u32>>,
}

pub(crate) fn candidate(path: &[u8]) -> globset::Candidate<'_> {
    use std::os::unix::ffi::OsStrExt;
    globset::Candidate::new(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
}

/// Compiles one glob with design §4's semantics: `*`/`?` never cross `/`, `**` spans
/// directories, case-sensitive, `{a,b}` and `[..]` supported, anchored at the repo root.
pub fn compile_glob(text: &str) -> Result<Glob, String> {
    if text.is_empty() {
        return Err("empty glob".into());
    }
    if text.starts_with('/') || text.starts_with("./") {
        return Err(format!(
            "globs are relative to the repository root; write `{}`",
            text.trim_start_matches("./").trim_start_matches('/')
        ));
    }
    GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(false)
        .build()
        .map_err(|e| e.kind().to_string())
}

impl LanesConfig {
    /// Parses and validates a lanes file. `source` names the file in messages.
    pub fn parse(source: &str, text: &[u8]) -> Result<LanesConfig, ConfigError> {
        let err = |pos: Pos, code: Code, message: String| {
            ConfigError::one(Diagnostic::new(
                source,
                (pos.line, pos.column),
                code.as_str(),
                message,
            ))
        };
        if text.len() > MAX_CONFIG_BYTES {
            return Err(err(
                Pos { line: 1, column: 1 },
                Code::TooLarge,
                format!(
                    "file is {} bytes; the limit is {MAX_CONFIG_BYTES}",
                    text.len()
                ),
            ));
        }
        let text = assay_contracts::textutil::utf8_or_line(text).map_err(|line| {
            err(
                Pos { line, column: 1 },
                Code::YamlSyntax,
                "file is not valid UTF-8".into(),
            )
        })?;
        assay_contracts::diag::Diagnostics::check(assay_contracts::diag::unknown_keys(
            source, text, &SHAPE,
        ))?;
        let raw: RawConfig = serde_saphyr::from_str(text)
            .map_err(|e| ConfigError::one(assay_contracts::diag::from_yaml(source, &e)))?;
        Validator {
            source,
            diags: Vec::new(),
        }
        .validate(raw)
    }
}

struct Validator<'a> {
    source: &'a str,
    diags: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn push(&mut self, pos: Pos, code: Code, message: String) {
        self.diags.push(Diagnostic::new(
            self.source,
            (pos.line, pos.column),
            code.as_str(),
            message,
        ));
    }

    fn lane(
        &mut self,
        index: &HashMap<String, usize>,
        name: &Spanned<String>,
        lanes: &[String],
    ) -> usize {
        match index.get(&name.value) {
            Some(&i) => i,
            None => {
                self.push(
                    name.into(),
                    Code::UnknownLane,
                    format!(
                        "unknown lane `{}`; expected one of: {}",
                        name.value,
                        lanes.join(", ")
                    ),
                );
                0
            }
        }
    }

    fn globs(&mut self, list: &[Spanned<String>], what: &str) -> (Vec<Pattern>, Vec<Glob>) {
        let mut pats = Vec::new();
        let mut globs = Vec::new();
        for g in list {
            match compile_glob(&g.value) {
                Ok(glob) => {
                    pats.push(Pattern {
                        glob: g.value.clone(),
                        pos: g.into(),
                    });
                    globs.push(glob);
                }
                Err(why) => self.push(
                    g.into(),
                    Code::InvalidGlob,
                    format!("invalid glob `{}` in {what}: {why}", g.value),
                ),
            }
        }
        (pats, globs)
    }

    fn set(&mut self, globs: &[Glob], pos: Pos) -> GlobSet {
        let mut b = GlobSetBuilder::new();
        for g in globs {
            b.add(g.clone());
        }
        b.build().unwrap_or_else(|e| {
            self.push(pos, Code::InvalidGlob, format!("cannot compile globs: {e}"));
            GlobSet::empty()
        })
    }

    /// Checks the whole file, gathering every problem; the config when there is none.
    fn validate(mut self, raw: RawConfig) -> Result<LanesConfig, ConfigError> {
        let lanes_pos: Pos = (&raw.lanes).into();
        let (lanes, index) = self.lanes(&raw.lanes);
        let default = match &raw.default {
            Some(d) => self.lane(&index, d, &lanes),
            None => 0,
        };
        let (rules, all_globs, owners) = self.rules(&raw.rules, &index, &lanes);
        let globs = GlobIndex::new(&all_globs).unwrap_or_else(|e| {
            self.push(lanes_pos, Code::InvalidGlob, e.to_string());
            GlobIndex::empty()
        });
        let (path_rules, except_ids) = glob_owners(&globs, &owners, rules.len());
        let cases = self.cases(&raw.cases, &index, &lanes);
        let forbid = self.forbids(&raw.forbid);
        if !self.diags.is_empty() {
            self.diags.sort_by_key(|d| (d.line, d.column));
            return Err(ConfigError {
                diagnostics: self.diags,
            });
        }
        Ok(LanesConfig {
            source: self.source.to_string(),
            lanes,
            default,
            rules,
            cases,
            forbid,
            index: globs,
            owners,
            path_rules,
            except_ids,
        })
    }

    /// The lane names in file order, and each name's index.
    fn lanes(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
    ) -> (Vec<String>, HashMap<String, usize>) {
        if raw.value.is_empty() {
            self.push(
                raw.into(),
                Code::EmptyLanes,
                "`lanes` must list at least one lane".into(),
            );
        }
        let mut index = HashMap::new();
        let mut lanes = Vec::new();
        for l in &raw.value {
            if l.value.trim().is_empty() {
                self.push(
                    l.into(),
                    Code::EmptyName,
                    "a lane name must not be empty".into(),
                );
            }
            if index.insert(l.value.clone(), lanes.len()).is_some() {
                self.push(
                    l.into(),
                    Code::DuplicateLane,
                    format!("lane `{}` is listed twice", l.value),
                );
            }
            lanes.push(l.value.clone());
        }
        (lanes, index)
    }

    /// The rules in file order, with every glob they list (`paths` then `except`, rule by rule)
    /// and the owner of each.
    fn rules(
        &mut self,
        raw: &[Spanned<RawRule>],
        index: &HashMap<String, usize>,
        lanes: &[String],
    ) -> (Vec<Rule>, Vec<Glob>, Vec<GlobOwner>) {
        let mut rule_names: HashMap<String, Pos> = HashMap::new();
        let mut rules = Vec::new();
        let mut all_globs = Vec::new();
        let mut owners = Vec::new();
        for r in raw {
            let pos: Pos = r.into();
            let r = &r.value;
            self.unique_name(&mut rule_names, &r.name, "rule");
            let lane = self.lane(index, &r.lane, lanes);
            if r.paths.value.is_empty() {
                self.push(
                    (&r.paths).into(),
                    Code::EmptyPaths,
                    format!("rule `{}` has no paths", r.name.value),
                );
            }
            let (paths, pg) = self.globs(&r.paths.value, "paths");
            let (except, eg) = self.globs(&r.except, "except");
            let rule = rules.len();
            for (role, list) in [(GlobRole::Paths, pg), (GlobRole::Except, eg)] {
                for (i, g) in list.into_iter().enumerate() {
                    owners.push(GlobOwner {
                        rule,
                        role,
                        index: i,
                    });
                    all_globs.push(g);
                }
            }
            rules.push(Rule {
                name: r.name.value.clone(),
                lane,
                paths,
                except,
                pos,
            });
        }
        (rules, all_globs, owners)
    }

    /// The self-test cases in file order.
    fn cases(
        &mut self,
        raw: &[Spanned<RawCase>],
        index: &HashMap<String, usize>,
        lanes: &[String],
    ) -> Vec<Case> {
        let mut case_names = HashMap::new();
        let mut cases = Vec::new();
        for c in raw {
            let pos: Pos = c.into();
            let c = &c.value;
            self.unique_name(&mut case_names, &c.name, "case");
            let expect = self.lane(index, &c.expect, lanes);
            cases.push(Case {
                name: c.name.value.clone(),
                files: c.files.iter().map(|f| f.value.clone()).collect(),
                expect,
                pos,
            });
        }
        cases
    }

    /// The forbid checks in file order, leaving out those whose regex does not compile.
    fn forbids(&mut self, raw: &[Spanned<RawForbid>]) -> Vec<Forbid> {
        let mut forbid_names = HashMap::new();
        let mut forbid = Vec::new();
        for f in raw {
            let pos: Pos = f.into();
            let f = &f.value;
            self.unique_name(&mut forbid_names, &f.name, "forbid check");
            if f.paths.value.is_empty() {
                self.push(
                    (&f.paths).into(),
                    Code::EmptyPaths,
                    format!("forbid check `{}` has no paths", f.name.value),
                );
            }
            let (paths, pg) = self.globs(&f.paths.value, "paths");
            let (except, eg) = self.globs(&f.except, "except");
            let select = self.set(&pg, pos);
            let exclude = self.set(&eg, pos);
            let Some(pattern) = self.regex(&f.pattern) else {
                continue;
            };
            forbid.push(Forbid {
                name: f.name.value.clone(),
                paths,
                except,
                pattern,
                message: f.message.clone(),
                pos,
                select,
                exclude,
            });
        }
        forbid
    }

    /// Compiles a forbid check's `pattern`; `None` (reported) when it is not a valid regex.
    fn regex(&mut self, pattern: &Spanned<String>) -> Option<Regex> {
        match Regex::new(&pattern.value) {
            Ok(re) => Some(re),
            Err(e) => {
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                self.push(
                    pattern.into(),
                    Code::InvalidRegex,
                    format!("invalid regex `{}`: {why}", pattern.value),
                );
                None
            }
        }
    }

    fn unique_name(&mut self, seen: &mut HashMap<String, Pos>, name: &Spanned<String>, what: &str) {
        if name.value.trim().is_empty() {
            self.push(
                name.into(),
                Code::EmptyName,
                format!("a {what} name must not be empty"),
            );
        }
        let pos: Pos = name.into();
        if let Some(first) = seen.insert(name.value.clone(), pos) {
            let code = if what == "rule" {
                Code::DuplicateRule
            } else {
                Code::DuplicateName
            };
            self.push(
                pos,
                code,
                format!(
                    "duplicate {what} name `{}` (first defined at line {})",
                    name.value, first.line
                ),
            );
            seen.insert(name.value.clone(), first);
        }
    }
}

/// For each distinct glob of `globs`, the rules that list it under `paths`; for each of the
/// `rules` rules, the distinct ids of its `except` globs. Both ascending, without duplicates.
fn glob_owners(
    globs: &GlobIndex,
    owners: &[GlobOwner],
    rules: usize,
) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let mut path_rules = vec![Vec::new(); globs.distinct()];
    let mut except_ids = vec![Vec::new(); rules];
    for (g, o) in owners.iter().enumerate().take(globs.len()) {
        let id = globs.distinct_of(g);
        match o.role {
            GlobRole::Paths => path_rules[id as usize].push(o.rule as u32),
            GlobRole::Except => except_ids[o.rule].push(id),
        }
    }
    for v in path_rules.iter_mut().chain(except_ids.iter_mut()) {
        v.sort_unstable();
        v.dedup();
    }
    (path_rules, except_ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LanesConfig, ConfigError> {
        LanesConfig::parse("lanes.yaml", text.as_bytes())
    }

    fn one_error(text: &str) -> String {
        let e = parse(text).unwrap_err();
        assert_eq!(e.diagnostics.len(), 1, "{e}");
        e.to_string()
    }

    #[test]
    fn minimal_config_defaults_to_first_lane() {
        let c = parse("lanes: [none, all]\n").unwrap();
        assert_eq!(c.lanes, ["none", "all"]);
        assert_eq!(c.default, 0);
        assert!(c.rules.is_empty());
    }

    #[test]
    fn errors_name_file_line_column_and_code() {
        assert_eq!(
            one_error("lanes: [a]\nrules:\n  - name: x\n    lane: b\n    paths: ['x/**']\n"),
            "lanes.yaml:4:11: error[unknown-lane]: unknown lane `b`; expected one of: a"
        );
        let unknown =
            one_error("lanes: [a]\nrules:\n  - name: x\n    lane: a\n    pathz: ['x/**']\n");
        assert!(
            unknown.starts_with("lanes.yaml:5:5: error[unknown-key]: unknown key `pathz`; expected one of: name, lane, paths, except"),
            "{unknown}"
        );
        assert!(one_error("lanes: []\n").starts_with("lanes.yaml:1:8: error[empty-lanes]"));
        assert!(
            one_error("lanes: [a, b\nrules: 3\n").starts_with("lanes.yaml:2:6: error[yaml-syntax]")
        );
        let dup = one_error(
            "lanes: [a]\nrules:\n  - {name: x, lane: a, paths: [a]}\n  - {name: x, lane: a, paths: [b]}\n",
        );
        assert!(dup.starts_with("lanes.yaml:4:12: error[duplicate-rule]: duplicate rule name `x` (first defined at line 3)"), "{dup}");
        let glob =
            one_error("lanes: [a]\nrules:\n  - name: x\n    lane: a\n    paths: ['src/{a']\n");
        assert!(
            glob.starts_with("lanes.yaml:5:13: error[invalid-glob]: invalid glob `src/{a`"),
            "{glob}"
        );
        let re =
            one_error("lanes: [a]\nforbid:\n  - name: f\n    paths: ['**']\n    pattern: 'a('\n");
        assert!(
            re.starts_with("lanes.yaml:5:14: error[invalid-regex]: invalid regex `a(`"),
            "{re}"
        );
        assert!(one_error("lanes: [a, a]\n").starts_with("lanes.yaml:1:12: error[duplicate-lane]"));
        assert!(
            one_error("lanes: [a]\ndefault: z\n")
                .starts_with("lanes.yaml:2:10: error[unknown-lane]")
        );
        assert!(
            one_error("lanes: [a]\nrules:\n  - {name: x, lane: a, paths: ['/abs/**']}\n")
                .contains("write `abs/**`")
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let e = parse(
            "lanes: [a]\nrules:\n  - {name: x, lane: q, paths: ['[']}\n  - {name: x, lane: a, paths: [b]}\n",
        )
        .unwrap_err();
        let codes: Vec<_> = e.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["unknown-lane", "invalid-glob", "duplicate-rule"]);
    }

    #[test]
    fn non_utf8_and_oversize_are_errors_not_panics() {
        let e = LanesConfig::parse("l.yaml", b"lanes: [a]\n\xff\n").unwrap_err();
        assert_eq!(e.diagnostics[0].line, 2);
        let big = vec![b' '; MAX_CONFIG_BYTES + 1];
        assert_eq!(
            LanesConfig::parse("l.yaml", &big).unwrap_err().diagnostics[0].code,
            Code::TooLarge.as_str()
        );
    }
}
