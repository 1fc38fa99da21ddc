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
//! `file:line:column: error: message`. Imports: `lanes::config` (lane names),
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

/// A proofs file that cannot be used: every problem, each with its position.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| format!("{}:{}:{}: error: {}", .source_name, p.0, p.1, p.2)).collect::<Vec<_>>().join("\n"))]
pub struct ProofsError {
    pub source_name: String,
    /// `(line, column, message)`.
    pub problems: Vec<(u64, u64, String)>,
}

fn pos<T>(s: &Spanned<T>) -> (u64, u64) {
    (s.referenced.line(), s.referenced.column())
}

fn relative_inside(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == "..")
}

impl Proofs {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Proofs, ProofsError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| ProofsError {
            source_name: name.clone(),
            problems: vec![(1, 1, format!("cannot read: {e}"))],
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Proofs::parse(&name, &text, base)
    }

    /// Parses and validates; relative paths resolve against `base`.
    pub fn parse(source: &str, text: &[u8], base: &Path) -> Result<Proofs, ProofsError> {
        let fail = |line, col, msg: String| ProofsError {
            source_name: source.into(),
            problems: vec![(line, col, msg)],
        };
        if text.len() > MAX_BYTES {
            return Err(fail(1, 1, format!("larger than {MAX_BYTES} bytes")));
        }
        let text = std::str::from_utf8(text).map_err(|_| fail(1, 1, "not valid UTF-8".into()))?;
        let raw: Raw = serde_saphyr::from_str(text).map_err(|e| {
            let (l, c) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let msg = crate::lanes::config::strip_location_prefix(&e.without_snippet().to_string());
            fail(
                l,
                c,
                format!("{msg} (expected keys: lanes_config, proofs, lanes; see docs/proofs.md)"),
            )
        })?;
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        let mut proofs = Vec::new();
        for p in raw.proofs {
            let (line, _) = pos(&p);
            let p = p.value;
            let (nl, nc) = pos(&p.name);
            if !crate::textutil::valid_name(&p.name.value) {
                problems.push((nl, nc, format!("proof name `{}` must be 1-64 of [a-z0-9_-], starting with a letter or digit (it names files)", p.name.value)));
            }
            if !names.insert(p.name.value.clone()) {
                problems.push((nl, nc, format!("proof `{}` is defined twice", p.name.value)));
            }
            let mode = match p.mode.as_ref().map(|m| m.value.as_str()) {
                None | Some("kernel") => ProofMode::Kernel,
                Some("kernel-policy") => ProofMode::KernelPolicy,
                Some("sdk") => ProofMode::Sdk,
                Some(other) => {
                    let (l, c) = pos(p.mode.as_ref().unwrap_or(&p.name));
                    problems.push((
                        l,
                        c,
                        format!("mode `{other}`: expected kernel, kernel-policy or sdk"),
                    ));
                    ProofMode::Kernel
                }
            };
            if p.command.value.is_empty() {
                let (l, c) = pos(&p.command);
                problems.push((
                    l,
                    c,
                    "command must name a program (a non-empty argv list)".into(),
                ));
            }
            for s in &p.seed {
                if !relative_inside(&s.value) {
                    let (l, c) = pos(s);
                    problems.push((
                        l,
                        c,
                        format!("seed `{}` must be a relative path without `..`", s.value),
                    ));
                }
            }
            let (gl, gc) = pos(&p.golden);
            if !relative_inside(&p.golden.value) || !p.golden.value.ends_with(".json") {
                problems.push((
                    gl,
                    gc,
                    format!(
                        "golden `{}` must be a relative `.json` path without `..`",
                        p.golden.value
                    ),
                ));
            }
            let timeout_s = match &p.timeout {
                Some(t) if t.value == 0 || t.value > 24 * 3600 => {
                    let (l, c) = pos(t);
                    problems.push((l, c, "timeout must be 1..=86400 seconds".into()));
                    120
                }
                Some(t) => t.value,
                None => 120,
            };
            let layered = matches!(mode, ProofMode::KernelPolicy | ProofMode::Sdk);
            match (&p.policy, layered) {
                (Some(pol), true) if !relative_inside(&pol.value) => {
                    let (l, c) = pos(pol);
                    problems.push((
                        l,
                        c,
                        format!(
                            "policy `{}` must be a relative path without `..`",
                            pol.value
                        ),
                    ));
                }
                (Some(_), true) | (None, false) => {}
                (None, true) => problems.push((
                    nl,
                    nc,
                    format!(
                        "proof `{}` has a mode with a policy layer but no `policy:` file",
                        p.name.value
                    ),
                )),
                (Some(pol), false) => {
                    let (l, c) = pos(pol);
                    problems.push((
                        l,
                        c,
                        "`policy:` belongs to proofs of mode kernel-policy or sdk".into(),
                    ));
                }
            }
            for k in p.env.keys() {
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    problems.push((
                        line,
                        1,
                        format!("env key `{k}` is not a valid variable name"),
                    ));
                }
            }
            let mut collapse = Vec::new();
            let mut redact = Vec::new();
            if let Some(sf) = &p.surface {
                for c in &sf.collapse {
                    if let Err(e) = crate::surface::normalize::Rules::with(&[&c.value], Vec::new())
                    {
                        let (l, col) = pos(c);
                        problems.push((l, col, e.to_string()));
                    }
                    collapse.push(c.value.clone());
                }
                for r in &sf.redact {
                    let (pt, ph) = (&r.value.pattern, &r.value.placeholder);
                    match crate::surface::normalize::Redaction::new(&pt.value, &ph.value) {
                        Err(e @ crate::surface::normalize::RuleError::Placeholder(_)) => {
                            let (l, col) = pos(ph);
                            problems.push((l, col, e.to_string()));
                        }
                        Err(e) => {
                            let (l, col) = pos(pt);
                            problems.push((l, col, e.to_string()));
                        }
                        Ok(_) => {}
                    }
                    redact.push((pt.value.clone(), ph.value.clone()));
                }
            }
            for a in &p.allow_unobserved {
                if !crate::kernel::event::BLIND_SLOTS.contains(&a.value.as_str()) {
                    let (l, col) = pos(a);
                    problems.push((
                        l,
                        col,
                        format!(
                            "allow_unobserved: `{}` is not an unobserved channel (channels: {})",
                            a.value,
                            crate::kernel::event::BLIND_SLOTS.join(", ")
                        ),
                    ));
                }
            }
            proofs.push(Proof {
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
            });
        }
        let mut goldens = BTreeMap::new();
        for p in &proofs {
            if let Some(other) = goldens.insert(p.golden.clone(), p.name.clone()) {
                problems.push((
                    p.line,
                    1,
                    format!(
                        "proof `{}` shares golden `{}` with proof `{other}`",
                        p.name, p.golden
                    ),
                ));
            }
        }
        let lane_order = match &raw.lanes_config {
            None => None,
            Some(lc) => {
                let path = base.join(&lc.value);
                match std::fs::read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        crate::lanes::config::LanesConfig::parse(&lc.value, &t)
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(c) => Some(c.lanes),
                    Err(e) => {
                        let (l, c) = pos(lc);
                        problems.push((l, c, format!("lanes_config `{}`: {e}", lc.value)));
                        None
                    }
                }
            }
        };
        let mut lanes = BTreeMap::new();
        for (lane, list) in raw.lanes {
            let (ll, lc) = pos(&list);
            if let Some(order) = &lane_order
                && !order.contains(&lane)
            {
                problems.push((
                    ll,
                    lc,
                    format!(
                        "lane `{lane}` is not a lane of the lanes file (lanes: {})",
                        order.join(", ")
                    ),
                ));
            }
            let mut v = Vec::new();
            for n in list.value {
                if !names.contains(&n.value) {
                    let (l, c) = pos(&n);
                    problems.push((
                        l,
                        c,
                        format!("lane `{lane}` requires unknown proof `{}`", n.value),
                    ));
                }
                v.push(n.value);
            }
            lanes.insert(lane, v);
        }
        if problems.is_empty() {
            Ok(Proofs {
                source: source.into(),
                proofs,
                lanes,
                lane_order,
            })
        } else {
            problems.sort();
            Err(ProofsError {
                source_name: source.into(),
                problems,
            })
        }
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

    #[test]
    fn unknown_keys_name_the_line() {
        let e =
            parse("proofs:\n  - name: a\n    command: [x]\n    golden: g.json\n    colour: red\n")
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("proofs.yaml:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
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
            "proofs.yaml:5:24: error: allow_unobserved: `mountt`",
            "proofs.yaml:7:18: error: collapse root `dist`",
            "proofs.yaml:9:21: error: redaction pattern `(`: invalid regex: unclosed group\n",
            "proofs.yaml:10:39: error: placeholder `<tmp>`",
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
