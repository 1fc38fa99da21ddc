//! Offline verification of an evidence bundle that is treated as hostile input (design §8).
//!
//! One streaming pass, never touching the disk: the compressed bytes are hashed as they are
//! read, gzip is inflated with a hard cap on decompressed bytes, tar entries are read in raw
//! mode (no PAX/GNU processing, nothing extracted) with a cap on their number, and every
//! member is hashed, schema-validated (the published schemas of `assay_contracts`) and
//! checked for internal consistency while it streams past. Only the small JSON documents are
//! kept in memory; NDJSON layers are validated line by line.
//!
//! Every problem is collected (up to [`MAX_PROBLEMS`]) with the member it concerns and a stable
//! code; a bundle is valid only when there is none. Imports: `contracts`, `surface`, `bundle`,
//! `pathbytes`.

mod checks;
mod replay;
mod stream;

use std::collections::BTreeMap;
use std::io::Read;

use assay_contracts::manifest::MemberClass;
use assay_contracts::verify_report::{self, MemberRead, Problem, VerifyReport};

pub use replay::{ReplayError, replay_kernel};
pub use stream::{CANONICAL_GZIP_HEADER, kernel_line_fast};

/// At most this many problems are listed; the last one says how many more were found.
pub const MAX_PROBLEMS: usize = 100;
/// The member name used for problems of the gzip/tar framing.
pub const ARCHIVE: &str = "<archive>";

/// Resource bounds for reading an untrusted bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest total decompressed size.
    pub max_decompressed: u64,
    /// Most tar entries.
    pub max_members: usize,
    /// Largest JSON document member (kept in memory).
    pub max_document: u64,
    /// Longest NDJSON line.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_decompressed: 4 << 30,
            max_members: 64,
            max_document: 64 << 20,
            max_line: 1 << 20,
        }
    }
}

/// The class every known member must have in the manifest. `None` for unknown members and for
/// the kernel layer, whose class depends on the proof: canonical when its determinism gate
/// compares it (`strict_kernel`), diagnostic otherwise (docs/proofs.md, "Determinism gate").
pub fn expected_class(path: &str) -> Option<MemberClass> {
    match path {
        "observation-health.json" | "capability-surface.json" => Some(MemberClass::Canonical),
        "layers/policy.ndjson" | "layers/sdk.ndjson" | "correlation-report.json" => {
            Some(MemberClass::Canonical)
        }
        "events.ndjson" | "policy-diag.ndjson" | "sdk-diag.ndjson" => Some(MemberClass::Diagnostic),
        _ => None,
    }
}

/// Members every bundle of this version holds, besides `manifest.json`.
pub const REQUIRED_MEMBERS: [&str; 4] = [
    "capability-surface.json",
    "events.ndjson",
    "layers/kernel.ndjson",
    "observation-health.json",
];

/// What a verification found, plus the members kept for the caller.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The report (`assay.runner.verify_report.v0`).
    pub report: VerifyReport,
    /// Member bytes kept (all JSON documents; NDJSON members only when asked).
    pub kept: BTreeMap<String, Vec<u8>>,
}

impl Verified {
    /// True when the bundle has no problem.
    pub fn ok(&self) -> bool {
        self.report.valid
    }
}

/// Whether to keep NDJSON members' bytes (for determinism comparison) besides documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep only the JSON documents.
    Documents,
    /// Keep every member's bytes.
    All,
}

/// Problems gathered so far, capped.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) list: Vec<Problem>,
    pub(crate) more: usize,
}

impl Problems {
    pub(crate) fn push(&mut self, member: &str, code: &'static str, message: impl Into<String>) {
        debug_assert!(verify_report::PROBLEM_CODES.contains(&code), "{code}");
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(Problem {
                member: member.into(),
                code: code.into(),
                message: message.into(),
            });
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn finish(mut self) -> Vec<Problem> {
        if self.more > 0
            && let Some(last) = self.list.last_mut()
        {
            last.message
                .push_str(&format!(" (and {} more problem(s) not listed)", self.more));
        }
        self.list
    }
}

/// Verifies a bundle read from `r`; `name` is how the report names it.
pub fn verify_reader<R: Read>(name: &str, r: R, limits: &Limits, keep: Keep) -> Verified {
    let mut problems = Problems::default();
    let read = stream::read(r, limits, keep, &mut problems);
    checks::check(&read, &mut problems);
    let members: Vec<MemberRead> = read
        .members
        .iter()
        .map(|m| MemberRead {
            path: m.path.clone(),
            bytes: m.bytes,
            sha256: m.sha256.clone(),
            class: read
                .manifest
                .as_ref()
                .and_then(|mf| mf.members.iter().find(|x| x.path == m.path))
                .map(|x| x.class),
        })
        .collect();
    let problems = problems.finish();
    Verified {
        report: VerifyReport {
            schema: verify_report::SCHEMA.into(),
            run_id: read.manifest.as_ref().map(|m| m.run_id.clone()),
            bundle: name.into(),
            valid: problems.is_empty(),
            bundle_sha256: read.archive_sha256.clone(),
            compressed_bytes: read.compressed_bytes,
            decompressed_bytes: read.decompressed_bytes,
            members,
            problems,
        },
        kept: read.kept,
    }
}

/// Errors that prevent verification from starting (not problems of the bundle).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot open bundle {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Verifies the bundle file at `path`.
pub fn verify_path(
    path: &std::path::Path,
    limits: &Limits,
    keep: Keep,
) -> Result<Verified, VerifyError> {
    let f = std::fs::File::open(path).map_err(|source| VerifyError::Open {
        path: path.display().to_string(),
        source,
    })?;
    Ok(verify_reader(&path.display().to_string(), f, limits, keep))
}

/// The documents of a bundle that verified, parsed.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The verification (valid).
    pub verified: Verified,
    /// `capability-surface.json`.
    pub surface: assay_contracts::surface::CapabilitySurface,
    /// `observation-health.json`.
    pub health: assay_contracts::health::ObservationHealth,
}

/// Why a bundle's evidence cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Open(#[from] VerifyError),
    #[error("{bundle} does not verify:\n{}", .problems.iter().map(|p| format!("  {}: {}: {}", p.member, p.code, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        bundle: String,
        problems: Vec<Problem>,
    },
}

/// Verifies the bundle at `path` and returns its surface and health.
pub fn evidence(
    path: &std::path::Path,
    limits: &Limits,
    keep: Keep,
) -> Result<Evidence, EvidenceError> {
    let verified = verify_path(path, limits, keep)?;
    let invalid = |v: &Verified| EvidenceError::Invalid {
        bundle: path.display().to_string(),
        problems: v.report.problems.clone(),
    };
    if !verified.ok() {
        return Err(invalid(&verified));
    }
    let doc = |m: &str| verified.kept.get(m).map(Vec::as_slice).unwrap_or_default();
    match (
        serde_json::from_slice(doc("capability-surface.json")),
        serde_json::from_slice(doc("observation-health.json")),
    ) {
        (Ok(surface), Ok(health)) => Ok(Evidence {
            surface,
            health,
            verified,
        }),
        _ => Err(invalid(&verified)),
    }
}
