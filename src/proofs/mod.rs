//! `proofs.yaml` (design §9): named proofs — the command, its mode, the seed files of its work
//! dir, its environment and its golden — and which lanes require which proofs.
//!
//! ```yaml
//! lanes_config: lanes/lanes.yaml      # optional: lane names below are checked against it
//! proofs:
//!   - name: demo
//!     mode: kernel                    # kernel | kernel-policy | sdk
//!     command: ["./demo.sh"]          # argv, run in the fresh work dir
//!     seed: [fixtures/kernel/demo.sh] # files or directories copied into the work dir
//!     golden: goldens/demo.surface.json
//!     timeout: 60                     # seconds (default 120)
//!     env: {LANG: C.UTF-8}            # added to the fixed environment (see docs/proofs.md)
//!     policy: fixtures/policy/policy.yaml  # modes kernel-policy and sdk: the policy of every mcp-wrap
//!     strict_kernel: true             # the determinism gate also compares the kernel layer
//!     allow_unobserved: [mount]       # channels whose use alone does not make it inconclusive
//!     surface:                        # surface rules added to the defaults (docs/proofs.md)
//!       collapse: ["<work>/dist"]     # tree roots shown as ROOT/**
//!       redact:                       # regex inside one name → placeholder (work dir, temp areas)
//!         - {pattern: "[0-9a-f]{8}$", placeholder: "<id>"}
//! lanes:
//!   kernel-only: [demo]
//! ```
//! Paths are relative to the directory of `proofs.yaml`. Every problem is reported at once as
//! `file:line:column: error[code]: message` (`crate::diag`). Imports: `lanes::config` (lane names),
//! `surface::normalize` (collapse and redaction rules), `kernel::event` (channel names).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// Largest proofs file accepted.
pub const MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    lanes_config: Option<Spanned<String>>,
    proofs: Vec<Spanned<RawProof>>,
    #[serde(default)]
    lanes: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProof {
    name: Spanned<String>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    command: Spanned<Vec<String>>,
    #[serde(default)]
    seed: Vec<Spanned<String>>,
    golden: Spanned<String>,
    #[serde(default)]
    timeout: Option<Spanned<u64>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
    #[serde(default)]
    strict_kernel: bool,
    #[serde(default)]
    allow_unobserved: Vec<Spanned<String>>,
    #[serde(default)]
    surface: Option<RawSurface>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurface {
    #[serde(default)]
    collapse: Vec<Spanned<String>>,
    #[serde(default)]
    redact: Vec<Spanned<RawRedaction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedaction {
    pattern: Spanned<String>,
    placeholder: Spanned<String>,
}

/// Which layers a proof observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofMode {
    /// Kernel observation only.
    Kernel,
    /// Kernel + MCP policy layer.
    KernelPolicy,
    /// Kernel + policy + SDK layers.
    Sdk,
}

/// One proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub name: String,
    pub mode: ProofMode,
    pub command: Vec<String>,
    /// Seed files/directories, resolved against the proofs file's directory.
    pub seed: Vec<PathBuf>,
    /// The golden path as written in the file (for messages and reports).
    pub golden: String,
    /// The golden path resolved against the proofs file's directory.
    pub golden_path: PathBuf,
    pub timeout_s: u64,
    pub env: BTreeMap<String, String>,
    /// The policy file of a `kernel-policy` proof, as written.
    pub policy: Option<String>,
    /// The policy path resolved against the proofs file's directory.
    pub policy_path: Option<PathBuf>,
    /// Whether the determinism gate compares the kernel layer too (it is then canonical).
    pub strict_kernel: bool,
    /// Unobserved channels (`mount`, `ptrace`, ...) whose use alone does not make the evidence
    /// inconclusive for this proof (health still reports them).
    pub allow_unobserved: Vec<String>,
    /// Collapse roots added to the default surface rules.
    pub collapse: Vec<String>,
    /// `(pattern, placeholder)` redactions, checked.
    pub redact: Vec<(String, String)>,
    /// Line of the proof in the file.
    pub line: u64,
}

impl Proof {
    /// The surface rules of this proof (the defaults plus its own; checked when parsed).
    pub fn surface_rules(
        &self,
    ) -> Result<crate::surface::normalize::Rules, crate::surface::normalize::RuleError> {
        use crate::surface::normalize::{Redaction, Rules};
        let red = self
            .redact
            .iter()
            .map(|(p, h)| Redaction::new(p, h))
            .collect::<Result<Vec<_>, _>>()?;
        Rules::with(&self.collapse, red)
    }
}

/// A validated proofs file.
#[derive(Debug, Clone)]
pub struct Proofs {
    pub source: String,
    pub proofs: Vec<Proof>,
    /// Lane → proof names, in file order.
    pub lanes: BTreeMap<String, Vec<String>>,
    /// The lanes file's lanes, cheapest first, when `lanes_config` is given.
    pub lane_order: Option<Vec<String>>,
}

/// A proofs file that cannot be used: every problem, each with its position and code (the
/// diagnostic type every configuration file shares).
pub type ProofsError = crate::diag::Diagnostics;

/// Every diagnostic code of a proofs file, stable (scripts may match on them).
pub const CODES: [&str; 14] = [
    "unreadable",
    "too-large",
    "yaml-syntax",
    "unknown-key",
    "missing-key",
    "invalid-name",
    "duplicate-proof",
    "invalid-mode",
    "invalid-value",
    "invalid-path",
    "policy-mismatch",
    "invalid-surface-rule",
    "unknown-channel",
    "unknown-lane-or-proof",
];

/// The keys a proofs file may have, where (every unknown one is reported at once, with the
/// keys valid at its place).
const SHAPE: crate::diag::Shape = {
    use crate::diag::Shape::{Any, List, Map, MapOf};
    Map(&[
        ("lanes_config", Any),
        (
            "proofs",
            List(&Map(&[
                ("name", Any),
                ("mode", Any),
                ("command", Any),
                ("seed", Any),
                ("golden", Any),
                ("timeout", Any),
                ("env", Any),
                ("policy", Any),
                ("strict_kernel", Any),
                ("allow_unobserved", Any),
                (
                    "surface",
                    Map(&[
                        ("collapse", Any),
                        (
                            "redact",
                            List(&Map(&[("pattern", Any), ("placeholder", Any)])),
                        ),
                    ]),
                ),
            ])),
        ),
        ("lanes", MapOf(&Any)),
    ])
};

fn pos<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

fn relative_inside(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == "..")
}

/// Collects a file's problems, each with its position and code.
struct Problems<'a> {
    source: &'a str,
    list: Vec<crate::diag::Diagnostic>,
}

impl Problems<'_> {
    fn push(&mut self, at: (u64, u64), code: &'static str, message: String) {
        debug_assert!(CODES.contains(&code), "{code}");
        self.list
            .push(crate::diag::Diagnostic::new(self.source, at, code, message));
    }
}

impl Proofs {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Proofs, ProofsError> {
        let name = path.display().to_string();
        let text = crate::fsutil::read_bounded(path, MAX_BYTES as u64).map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::Other => "too-large",
                _ => "unreadable",
            };
            ProofsError::one(crate::diag::Diagnostic::new(
                &name,
                (1, 1),
                code,
                format!("cannot read the proofs file: {e}"),
            ))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Proofs::parse(&name, &text, base)
    }

    /// Parses and validates; relative paths resolve against `base`. Every problem is
    /// reported at once.
    pub fn parse(source: &str, text: &[u8], base: &Path) -> Result<Proofs, ProofsError> {
        let raw = read_raw(source, text)?;
        let mut problems = Problems {
            source,
            list: Vec::new(),
        };
        let mut names = BTreeSet::new();
        let proofs: Vec<Proof> = raw
            .proofs
            .iter()
            .map(|p| proof(p, base, &mut names, &mut problems))
            .collect();
        shared_goldens(&proofs, &mut problems);
        let lane_order = lane_order(raw.lanes_config.as_ref(), base, &mut problems);
        let lanes = lanes(raw.lanes, lane_order.as_deref(), &names, &mut problems);
        crate::diag::Diagnostics::check(problems.list)?;
        Ok(Proofs {
            source: source.into(),
            proofs,
            lanes,
            lane_order,
        })
    }

    /// The proofs a lane requires (none when the lane lists none).
    pub fn for_lane(&self, lane: &str) -> Result<Vec<&Proof>, String> {
        if let Some(order) = &self.lane_order
            && !order.iter().any(|l| l == lane)
        {
            return Err(format!(
                "`{lane}` is not a lane (lanes: {})",
                order.join(", ")
            ));
        }
        Ok(self
            .lanes
            .get(lane)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| self.proofs.iter().find(|p| &p.name == n))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A proof by name.
    pub fn get(&self, name: &str) -> Option<&Proof> {
        self.proofs.iter().find(|p| p.name == name)
    }
}

/// The file as its raw form: size, UTF-8, every unknown key at once, then the typed parse.
fn read_raw(source: &str, text: &[u8]) -> Result<Raw, ProofsError> {
    let one = |at, code, message: String| {
        ProofsError::one(crate::diag::Diagnostic::new(source, at, code, message))
    };
    if text.len() > MAX_BYTES {
        return Err(one(
            (1, 1),
            "too-large",
            format!("larger than {MAX_BYTES} bytes"),
        ));
    }
    let text = crate::textutil::utf8_or_line(text)
        .map_err(|line| one((line, 1), "yaml-syntax", "not valid UTF-8".into()))?;
    crate::diag::Diagnostics::check(crate::diag::unknown_keys(source, text, &SHAPE))?;
    serde_saphyr::from_str(text).map_err(|e| {
        let mut d = crate::diag::from_yaml(source, &e);
        d.message.push_str(" (see docs/proofs.md)");
        ProofsError::one(d)
    })
}

/// One proof, checked; its problems go to `problems`.
fn proof(
    p: &Spanned<RawProof>,
    base: &Path,
    names: &mut BTreeSet<String>,
    problems: &mut Problems,
) -> Proof {
    let (line, _) = pos(p);
    let p = &p.value;
    let at = pos(&p.name);
    if !crate::textutil::valid_name(&p.name.value) {
        problems.push(at, "invalid-name", format!("proof name `{}` must be 1-64 of [a-z0-9_-], starting with a letter or digit (it names files)", p.name.value));
    }
    if !names.insert(p.name.value.clone()) {
        problems.push(
            at,
            "duplicate-proof",
            format!("proof `{}` is defined twice", p.name.value),
        );
    }
    let mode = mode(p, problems);
    check_paths(p, problems);
    check_policy(p, mode, problems);
    let (collapse, redact) = surface_rules(p.surface.as_ref(), problems);
    check_channels(&p.allow_unobserved, problems);
    let timeout_s = match &p.timeout {
        Some(t) if t.value == 0 || t.value > 24 * 3600 => {
            problems.push(
                pos(t),
                "invalid-value",
                "timeout must be 1..=86400 seconds".into(),
            );
            120
        }
        Some(t) => t.value,
        None => 120,
    };
    for k in p.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            problems.push(
                (line, 1),
                "invalid-value",
                format!("env key `{k}` is not a valid variable name"),
            );
        }
    }
    Proof {
        name: p.name.value.clone(),
        mode,
        command: p.command.value.clone(),
        seed: p.seed.iter().map(|s| base.join(&s.value)).collect(),
        golden: p.golden.value.clone(),
        golden_path: base.join(&p.golden.value),
        timeout_s,
        env: p.env.clone(),
        policy: p.policy.as_ref().map(|x| x.value.clone()),
        policy_path: p.policy.as_ref().map(|x| base.join(&x.value)),
        strict_kernel: p.strict_kernel,
        allow_unobserved: p.allow_unobserved.iter().map(|a| a.value.clone()).collect(),
        collapse,
        redact,
        line,
    }
}

fn mode(p: &RawProof, problems: &mut Problems) -> ProofMode {
    match p.mode.as_ref().map(|m| m.value.as_str()) {
        None | Some("kernel") => ProofMode::Kernel,
        Some("kernel-policy") => ProofMode::KernelPolicy,
        Some("sdk") => ProofMode::Sdk,
        Some(other) => {
            let at = pos(p.mode.as_ref().unwrap_or(&p.name));
            problems.push(
                at,
                "invalid-mode",
                format!("mode `{other}`: expected kernel, kernel-policy or sdk"),
            );
            ProofMode::Kernel
        }
    }
}

/// The command, the seeds and the golden.
fn check_paths(p: &RawProof, problems: &mut Problems) {
    if p.command.value.is_empty() {
        problems.push(
            pos(&p.command),
            "invalid-value",
            "command must name a program (a non-empty argv list)".into(),
        );
    }
    for s in &p.seed {
        if !relative_inside(&s.value) {
            problems.push(
                pos(s),
                "invalid-path",
                format!("seed `{}` must be a relative path without `..`", s.value),
            );
        }
    }
    if !relative_inside(&p.golden.value) || !p.golden.value.ends_with(".json") {
        problems.push(
            pos(&p.golden),
            "invalid-path",
            format!(
                "golden `{}` must be a relative `.json` path without `..`",
                p.golden.value
            ),
        );
    }
}

/// `policy:` exactly for the modes with a policy layer.
fn check_policy(p: &RawProof, mode: ProofMode, problems: &mut Problems) {
    let layered = matches!(mode, ProofMode::KernelPolicy | ProofMode::Sdk);
    match (&p.policy, layered) {
        (Some(pol), true) if !relative_inside(&pol.value) => {
            problems.push(
                pos(pol),
                "invalid-path",
                format!(
                    "policy `{}` must be a relative path without `..`",
                    pol.value
                ),
            );
        }
        (Some(_), true) | (None, false) => {}
        (None, true) => problems.push(
            pos(&p.name),
            "policy-mismatch",
            format!(
                "proof `{}` has a mode with a policy layer but no `policy:` file",
                p.name.value
            ),
        ),
        (Some(pol), false) => problems.push(
            pos(pol),
            "policy-mismatch",
            "`policy:` belongs to proofs of mode kernel-policy or sdk".into(),
        ),
    }
}

/// The proof's collapse roots and redactions, each checked.
fn surface_rules(
    sf: Option<&RawSurface>,
    problems: &mut Problems,
) -> (Vec<String>, Vec<(String, String)>) {
    use crate::surface::normalize::{Redaction, RuleError, Rules};
    let (mut collapse, mut redact) = (Vec::new(), Vec::new());
    let Some(sf) = sf else {
        return (collapse, redact);
    };
    for c in &sf.collapse {
        if let Err(e) = Rules::with(&[&c.value], Vec::new()) {
            problems.push(pos(c), "invalid-surface-rule", e.to_string());
        }
        collapse.push(c.value.clone());
    }
    for r in &sf.redact {
        let (pt, ph) = (&r.value.pattern, &r.value.placeholder);
        match Redaction::new(&pt.value, &ph.value) {
            Err(e @ RuleError::Placeholder(_)) => {
                problems.push(pos(ph), "invalid-surface-rule", e.to_string())
            }
            Err(e) => problems.push(pos(pt), "invalid-surface-rule", e.to_string()),
            Ok(_) => {}
        }
        redact.push((pt.value.clone(), ph.value.clone()));
    }
    (collapse, redact)
}

fn check_channels(allow: &[Spanned<String>], problems: &mut Problems) {
    use crate::kernel::event::BLIND_SLOTS;
    for a in allow {
        if !BLIND_SLOTS.contains(&a.value.as_str()) {
            problems.push(
                pos(a),
                "unknown-channel",
                format!(
                    "allow_unobserved: `{}` is not an unobserved channel (channels: {})",
                    a.value,
                    BLIND_SLOTS.join(", ")
                ),
            );
        }
    }
}

fn shared_goldens(proofs: &[Proof], problems: &mut Problems) {
    let mut goldens = BTreeMap::new();
    for p in proofs {
        if let Some(other) = goldens.insert(p.golden.clone(), p.name.clone()) {
            problems.push(
                (p.line, 1),
                "invalid-path",
                format!(
                    "proof `{}` shares golden `{}` with proof `{other}`",
                    p.name, p.golden
                ),
            );
        }
    }
}

/// The lanes of `lanes_config`, cheapest first, when it is given.
fn lane_order(
    lc: Option<&Spanned<String>>,
    base: &Path,
    problems: &mut Problems,
) -> Option<Vec<String>> {
    let lc = lc?;
    let read = std::fs::read(base.join(&lc.value))
        .map_err(|e| e.to_string())
        .and_then(|t| {
            crate::lanes::config::LanesConfig::parse(&lc.value, &t).map_err(|e| e.to_string())
        });
    match read {
        Ok(c) => Some(c.lanes),
        Err(e) => {
            problems.push(
                pos(lc),
                "unreadable",
                format!("lanes_config `{}`: {e}", lc.value),
            );
            None
        }
    }
}

/// Lane → the proofs it requires, every lane and proof name checked.
fn lanes(
    raw: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    order: Option<&[String]>,
    names: &BTreeSet<String>,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<String>> {
    let mut lanes = BTreeMap::new();
    for (lane, list) in raw {
        if let Some(order) = order
            && !order.contains(&lane)
        {
            problems.push(
                pos(&list),
                "unknown-lane-or-proof",
                format!(
                    "lane `{lane}` is not a lane of the lanes file (lanes: {})",
                    order.join(", ")
                ),
            );
        }
        let mut v = Vec::new();
        for n in list.value {
            if !names.contains(&n.value) {
                problems.push(
                    pos(&n),
                    "unknown-lane-or-proof",
                    format!("lane `{lane}` requires unknown proof `{}`", n.value),
                );
            }
            v.push(n.value);
        }
        lanes.insert(lane, v);
    }
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Proofs, ProofsError> {
        Proofs::parse("proofs.yaml", t.as_bytes(), Path::new("/repo"))
    }

    #[test]
    fn parses_a_full_file() {
        let p = parse(
            "proofs:\n  - name: demo\n    command: [./demo.sh, '9']\n    seed: [fixtures/a]\n    golden: goldens/demo.surface.json\n    env: {LANG: C}\nlanes:\n  kernel-only: [demo]\n",
        )
        .unwrap();
        assert_eq!(p.proofs[0].command, ["./demo.sh", "9"]);
        assert_eq!(p.proofs[0].seed, [PathBuf::from("/repo/fixtures/a")]);
        assert_eq!(
            p.proofs[0].golden_path,
            PathBuf::from("/repo/goldens/demo.surface.json")
        );
        assert_eq!(p.proofs[0].timeout_s, 120);
        assert_eq!(p.for_lane("kernel-only").unwrap().len(), 1);
        assert!(p.for_lane("sdk").unwrap().is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let e = parse(
            "proofs:\n  - name: Demo!\n    mode: fast\n    command: []\n    golden: /abs.json\n  - name: b\n    command: [x]\n    golden: ../g.json\nlanes:\n  sdk: [nope]\n",
        )
        .unwrap_err()
        .to_string();
        for want in [
            "proofs.yaml:2:",
            "proof name `Demo!`",
            "proofs.yaml:3:",
            "mode `fast`",
            "proofs.yaml:4:",
            "command must name",
            "proofs.yaml:5:",
            "golden `/abs.json`",
            "golden `../g.json`",
            "proofs.yaml:10:",
            "unknown proof `nope`",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    /// Every unknown key at once, each with the keys valid where it is (not the top level's
    /// for a typo inside a proof).
    #[test]
    fn unknown_keys_are_all_reported_with_the_keys_valid_there() {
        let e = parse(
            "proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    colour: red\n    surface:\n      colapse: []\nlane: {}\n",
        )
        .unwrap_err();
        let lines: Vec<String> = e.diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("proofs.yaml:5:5: error[unknown-key]: unknown key `colour`; expected one of: name, mode, command, seed, golden, timeout, env, policy, strict_kernel, allow_unobserved, surface"), "{}", lines[0]);
        assert!(lines[1].starts_with("proofs.yaml:7:7: error[unknown-key]: unknown key `colapse`; expected one of: collapse, redact"), "{}", lines[1]);
        assert!(lines[2].starts_with("proofs.yaml:8:1: error[unknown-key]: unknown key `lane`; expected one of: lanes_config, proofs, lanes"), "{}", lines[2]);
    }

    #[test]
    fn every_code_is_listed_once() {
        let mut seen = BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c), "{c}");
        }
    }

    #[test]
    fn surface_rules_and_gate_are_parsed_and_checked() {
        let p = parse(
            "proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    strict_kernel: true\n    allow_unobserved: [mount]\n    surface:\n      collapse: [\"<work>/dist\"]\n      redact:\n        - {pattern: \"[0-9]+\", placeholder: \"<n>\"}\n",
        )
        .unwrap();
        let a = &p.proofs[0];
        assert!(a.strict_kernel);
        assert_eq!(a.allow_unobserved, ["mount"]);
        assert_eq!(a.collapse, ["<work>/dist"]);
        assert_eq!(a.redact, [("[0-9]+".to_string(), "<n>".to_string())]);
        assert!(a.surface_rules().is_ok());
        let e = parse(
            "proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    allow_unobserved: [mountt]\n    surface:\n      collapse: [dist]\n      redact:\n        - {pattern: \"(\", placeholder: \"<n>\"}\n        - {pattern: \"x\", placeholder: \"<tmp>\"}\n",
        )
        .unwrap_err()
        .to_string();
        for want in [
            "proofs.yaml:5:24: error[unknown-channel]: allow_unobserved: `mountt`",
            "proofs.yaml:7:18: error[invalid-surface-rule]: collapse root `dist`",
            "proofs.yaml:9:21: error[invalid-surface-rule]: redaction pattern `(`: invalid regex: unclosed group\n",
            "proofs.yaml:10:39: error[invalid-surface-rule]: placeholder `<tmp>`",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
