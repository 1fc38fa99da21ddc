//! Attestations of verdicts: the in-toto Statement a verdict and its bundles make
//! ([`statement`]), signed into a DSSE envelope ([`dsse`]) with a local key ([`keys`]), and the
//! check of an envelope against a public key and the files it names ([`check`]).
//!
//! Every bundle is verified (the hostile-input verifier of [`crate::verify`]) before it is
//! attested or accepted; digests are of the bytes on disk. Imports: `assay_contracts::attestation`,
//! `::verdict`, [`crate::verify`].

pub mod dsse;
pub mod keys;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use assay_contracts::attestation::{
    AttestedBundle, AttestedProof, DigestSet, Envelope, PAYLOAD_TYPE, PREDICATE_TYPE, SCHEMA,
    STATEMENT_TYPE, Statement, Subject, VerdictPredicate,
};
use assay_contracts::verdict::{HealthSummary, ProofSetVerdict, ProofVerdict, Verdict};

use crate::verify::{Keep, Limits};

/// Why a statement cannot be made or an attestation does not hold.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not an assay.runner.verdict.v4 document: {message}")]
    Verdict {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0} does not verify, and is not attested:\n{1}")]
    BundleInvalid(String, String),
    #[error("{0}: {1}")]
    Envelope(String, String),
    #[error("{0}: the signature does not hold: {1}")]
    Signature(String, dsse::OpenError),
    #[error(
        "{path}: the signed statement is not an assay.runner.attestation.v0 statement: {message}"
    )]
    Statement { path: String, message: String },
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(
        "`{0}` is not a path under the root the verdict's paths are relative to (no absolute paths, `.` or `..`): it could never be checked"
    )]
    Name(String),
    #[error(
        "the verdict names {bundle} as proof {proof}'s bundle, but that bundle is of run `{run_id}`: a proof's runs carry its name"
    )]
    NotThisProofs {
        proof: String,
        bundle: String,
        run_id: String,
    },
    #[error(
        "the verdict says proof {proof} passed, but its bundle {bundle} does not: {why}; a pass is attested only when the bundle shows it"
    )]
    NotAPass {
        proof: String,
        bundle: String,
        why: String,
    },
    #[error(
        "the verdict says proof {proof}'s health is {claimed}, but its bundle {bundle} says {found}: the verdict is not this bundle's"
    )]
    Health {
        proof: String,
        bundle: String,
        claimed: String,
        found: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AttestError + '_ {
    move |source| AttestError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// SHA-256 of bytes as a digest set.
pub fn digest(bytes: &[u8]) -> DigestSet {
    DigestSet {
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// SHA-256 of a file, streamed.
pub fn file_digest(path: &Path) -> Result<DigestSet, AttestError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(DigestSet {
        sha256: hex::encode(h.finalize()),
    })
}

/// Whether a subject name is relative to the root and stays under it (no `.` or `..`).
pub fn name_inside(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty()
        && !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// What attesting a proof needs of its bundle besides the subject.
struct BundleFacts {
    health: Option<HealthSummary>,
    /// The observation was complete and clean.
    clean: bool,
    /// Clean but for unobserved channels (a proof's `allow_unobserved` may accept them).
    clean_but_unobserved: bool,
    /// `sha256:<hex>` of its `capability-surface.json` (a golden is that member's bytes).
    surface_sha256: Option<String>,
    /// Its surface's run id: the name of the proof that made it.
    run_id: Option<String>,
}

/// A bundle verified and digested (its file's digest, as verify read it, and its
/// `manifest.json`'s), with what the verdict's claims are checked against.
fn attested_bundle(
    name: &str,
    root: &Path,
    limits: &Limits,
) -> Result<(AttestedBundle, BundleFacts), AttestError> {
    if !name_inside(name) {
        return Err(AttestError::Name(name.to_string()));
    }
    let path = root.join(name);
    let v = crate::verify::verify_path(&path, limits, Keep::Documents)
        .map_err(|e| AttestError::BundleInvalid(name.to_string(), e.to_string()))?;
    if !v.ok() {
        let problems: Vec<String> = v
            .report
            .problems
            .iter()
            .map(|p| format!("  {}: {}: {}", p.member, p.code, p.message))
            .collect();
        return Err(AttestError::BundleInvalid(
            name.to_string(),
            problems.join("\n"),
        ));
    }
    let manifest = v
        .kept
        .get("manifest.json")
        .map(Vec::as_slice)
        .unwrap_or_default();
    let observed = v
        .kept
        .get("observation-health.json")
        .and_then(|b| serde_json::from_slice::<assay_contracts::health::ObservationHealth>(b).ok());
    let run_id = v
        .kept
        .get("capability-surface.json")
        .and_then(|b| serde_json::from_slice::<assay_contracts::surface::CapabilitySurface>(b).ok())
        .map(|s| s.run_id);
    let facts = BundleFacts {
        run_id,
        clean: observed.as_ref().is_some_and(|h| h.is_clean()),
        clean_but_unobserved: observed
            .as_ref()
            .is_some_and(|h| h.is_clean_but_unobserved_channels()),
        health: observed.map(|h| HealthSummary {
            kernel_layer: h.kernel_layer,
            cgroup_correlation: h.cgroup_correlation,
            ringbuf_drops: h.ringbuf_drops,
        }),
        surface_sha256: v
            .report
            .members
            .iter()
            .find(|m| m.path == "capability-surface.json")
            .map(|m| m.sha256.clone()),
    };
    // The subject is the archive verify read, hashed as it read it: never a second read that
    // could meet another file.
    let sha256 = v
        .report
        .bundle_sha256
        .as_deref()
        .and_then(|s| s.strip_prefix("sha256:"))
        .ok_or_else(|| AttestError::BundleInvalid(name.to_string(), "not read to its end".into()))?
        .to_string();
    Ok((
        AttestedBundle {
            name: name.to_string(),
            digest: DigestSet { sha256 },
            manifest: digest(manifest),
        },
        facts,
    ))
}

/// A `pass` is attested only when the bundle shows one: a clean observation, and a surface
/// whose bytes are the golden's the verdict names (a golden is the surface member's bytes;
/// for an approved change, the golden the change carries).
fn check_pass(p: &ProofVerdict, bundle: &str, facts: &BundleFacts) -> Result<(), AttestError> {
    // prove says when it accepted unobserved channels; only then may they be there
    let allowed = p
        .reasons
        .iter()
        .any(|r| r.starts_with("unobserved-allowed:"));
    let why = if !(facts.clean || (allowed && facts.clean_but_unobserved)) {
        "its observation was not clean".to_string()
    } else {
        // an approved change is judged by the golden it carries, which its surface is
        let golden = match &p.golden_update {
            Some(u) => Some(&u.head_sha256),
            None => p.golden_sha256.as_ref(),
        };
        match (golden, &facts.surface_sha256) {
            (None, _) => "the verdict names no golden digest".to_string(),
            (Some(g), Some(s)) if g == s => return Ok(()),
            (Some(g), s) => format!(
                "its surface ({}) is not the golden {} ({g})",
                s.as_deref().unwrap_or("absent"),
                p.golden
            ),
        }
    };
    Err(AttestError::NotAPass {
        proof: p.name.clone(),
        bundle: bundle.to_string(),
        why,
    })
}

fn attested_proof(
    p: &ProofVerdict,
    root: &Path,
    limits: &Limits,
) -> Result<AttestedProof, AttestError> {
    let bundle = match p.bundle.as_deref() {
        None if p.verdict == Verdict::Pass => {
            return Err(AttestError::NotAPass {
                proof: p.name.clone(),
                bundle: "(none)".into(),
                why: "the verdict names no bundle".into(),
            });
        }
        None => None,
        Some(b) => {
            let (bundle, facts) = attested_bundle(b, root, limits)?;
            if facts.run_id.as_deref() != Some(p.name.as_str()) {
                return Err(AttestError::NotThisProofs {
                    proof: p.name.clone(),
                    bundle: b.to_string(),
                    run_id: facts.run_id.unwrap_or_default(),
                });
            }
            let health = facts.health.clone();
            if p.verdict == Verdict::Pass {
                check_pass(p, b, &facts)?;
            }
            if p.health.is_some() && health != p.health {
                let show = |h: &Option<HealthSummary>| format!("{h:?}");
                return Err(AttestError::Health {
                    proof: p.name.clone(),
                    bundle: b.to_string(),
                    claimed: show(&p.health),
                    found: show(&health),
                });
            }
            Some(bundle)
        }
    };
    let golden = p
        .golden_sha256
        .as_deref()
        .and_then(|s| s.strip_prefix("sha256:"))
        .map(|hex| Subject {
            name: p.golden.clone(),
            digest: DigestSet {
                sha256: hex.to_string(),
            },
        });
    Ok(AttestedProof {
        name: p.name.clone(),
        verdict: p.verdict,
        reasons: p.reasons.clone(),
        runs: p.runs,
        deterministic: p.deterministic,
        health: p.health.clone(),
        golden,
        bundle,
    })
}

/// Parses a verdict file's bytes; errors name the file, line and column.
pub fn parse_verdict(name: &str, bytes: &[u8]) -> Result<ProofSetVerdict, AttestError> {
    let v: ProofSetVerdict = serde_json::from_slice(bytes).map_err(|e| AttestError::Verdict {
        path: name.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if v.schema != assay_contracts::verdict::SCHEMA {
        return Err(AttestError::Verdict {
            path: name.to_string(),
            line: 1,
            column: 1,
            message: format!("schema is {:?}", v.schema),
        });
    }
    Ok(v)
}

/// The statement of the verdict file `verdict_name` (its bytes given) and its bundles, which
/// the verdict names relative to `root` (where `prove` ran). Every bundle must verify.
pub fn statement(
    verdict_name: &str,
    verdict_bytes: &[u8],
    root: &Path,
    limits: &Limits,
) -> Result<Statement, AttestError> {
    if !name_inside(verdict_name) {
        return Err(AttestError::Name(verdict_name.to_string()));
    }
    let v = parse_verdict(verdict_name, verdict_bytes)?;
    let mut proofs = v
        .proofs
        .iter()
        .map(|p| attested_proof(p, root, limits))
        .collect::<Result<Vec<_>, _>>()?;
    proofs.sort_by(|a, b| a.name.cmp(&b.name));
    let verdict_file = Subject {
        name: verdict_name.to_string(),
        digest: digest(verdict_bytes),
    };
    let mut subject: Vec<Subject> = proofs
        .iter()
        .filter_map(|p| p.bundle.as_ref())
        .map(|b| Subject {
            name: b.name.clone(),
            digest: b.digest.clone(),
        })
        .chain([verdict_file.clone()])
        .collect();
    subject.sort_by(|a, b| a.name.cmp(&b.name));
    subject.dedup();
    Ok(Statement {
        type_: STATEMENT_TYPE.into(),
        subject,
        predicate_type: PREDICATE_TYPE.into(),
        predicate: VerdictPredicate {
            schema: SCHEMA.into(),
            run_id: v.run_id,
            lane: v.lane,
            verdict: v.verdict,
            verdict_file,
            proofs,
        },
    })
}

/// The statement's payload bytes: pretty JSON with a final newline (deterministic: the same
/// verdict and bundles give the same bytes).
pub fn payload(s: &Statement) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(s).expect("a statement serializes");
    b.push(b'\n');
    b
}

/// Signs a statement into a DSSE envelope.
pub fn seal(s: &Statement, key: &keys::SigningKey) -> Result<Envelope, AttestError> {
    Ok(dsse::seal(PAYLOAD_TYPE, &payload(s), key)?)
}

/// What checking an attestation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The signed statement.
    pub statement: Statement,
    /// The key id that signed it.
    pub keyid: String,
    /// Subjects whose file is missing or differs: `(name, why)`.
    pub subject_problems: Vec<(String, String)>,
}

impl Checked {
    /// True when every subject is present and has its digest.
    pub fn ok(&self) -> bool {
        self.subject_problems.is_empty()
    }
}

/// Parses an envelope file's bytes.
pub fn parse_envelope(name: &str, bytes: &[u8]) -> Result<Envelope, AttestError> {
    serde_json::from_slice(bytes).map_err(|e| {
        AttestError::Envelope(
            name.to_string(),
            format!(
                "line {} column {}: not a DSSE envelope ({{payload, payloadType, signatures: [{{keyid, sig}}]}}): {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Checks an envelope: a signature by `key` over the payload, a statement of this project's
/// predicate (schema-valid, parsed only from the signed payload), and each subject against the
/// file of that name under `root` (bundles must also verify, and their `manifest.json` must
/// have the predicate's digest).
pub fn check(
    name: &str,
    env: &Envelope,
    key: &keys::VerifyingKey,
    root: &Path,
    limits: &Limits,
) -> Result<Checked, AttestError> {
    let payload = dsse::open(env, PAYLOAD_TYPE, key)
        .map_err(|e| AttestError::Signature(name.to_string(), e))?;
    let statement = parse_statement(name, &payload)?;
    let mut subject_problems = Vec::new();
    let mut named: Vec<(&str, &DigestSet)> = statement
        .predicate
        .proofs
        .iter()
        .filter_map(|p| p.bundle.as_ref())
        .map(|b| (b.name.as_str(), &b.digest))
        .chain([(
            statement.predicate.verdict_file.name.as_str(),
            &statement.predicate.verdict_file.digest,
        )])
        .collect();
    named.sort();
    named.dedup();
    let subjects: Vec<(&str, &DigestSet)> = statement
        .subject
        .iter()
        .map(|s| (s.name.as_str(), &s.digest))
        .collect();
    if subjects != named {
        subject_problems.push((
            "<statement>".to_string(),
            "the subjects are not exactly the verdict file and the bundles the predicate names (by name and digest)".to_string(),
        ));
    }
    for s in &statement.subject {
        if let Some(why) = subject_problem(s, &statement, root, limits) {
            subject_problems.push((s.name.clone(), why));
        }
    }
    Ok(Checked {
        keyid: key.keyid()?,
        statement,
        subject_problems,
    })
}

/// A statement from signed payload bytes, valid against the published schema.
pub fn parse_statement(name: &str, payload: &[u8]) -> Result<Statement, AttestError> {
    let bad = |message: String| AttestError::Statement {
        path: name.to_string(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
    let contract = assay_contracts::Contract::find("attestation").expect("registered");
    let schema: serde_json::Value =
        serde_json::from_str(contract.published).expect("published schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("published schema compiles");
    if let Some(e) = validator.iter_errors(&value).next() {
        let at = e.instance_path.to_string();
        return Err(bad(format!(
            "at `{}`: {e}",
            if at.is_empty() { "/" } else { &at }
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Why a subject does not hold, if it does not.
fn subject_problem(s: &Subject, st: &Statement, root: &Path, limits: &Limits) -> Option<String> {
    if !name_inside(&s.name) {
        return Some(
            "names a file outside the directory the verdict's paths are relative to".into(),
        );
    }
    let path: PathBuf = root.join(&s.name);
    let found = match file_digest(&path) {
        Ok(d) => d,
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    if found != s.digest {
        return Some(format!(
            "sha256 is {}, the statement says {}",
            found.sha256, s.digest.sha256
        ));
    }
    let bundle = st
        .predicate
        .proofs
        .iter()
        .filter_map(|p| p.bundle.as_ref())
        .find(|b| b.name == s.name)?;
    match attested_bundle(&s.name, root, limits) {
        Ok((b, _)) if b.manifest == bundle.manifest => None,
        Ok((b, _)) => Some(format!(
            "manifest.json sha256 is {}, the statement says {}",
            b.manifest.sha256, bundle.manifest.sha256
        )),
        Err(e) => Some(e.to_string()),
    }
}
