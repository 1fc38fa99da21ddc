//! `assay.runner.attestation.v0` — what `assay-runner attest` signs: an in-toto Statement v1
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>) whose subjects are
//! the bundles a verdict was judged from (and the verdict file itself), with the verdict as its
//! predicate; carried in a DSSE envelope ([`Envelope`],
//! <https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>).
//!
//! The predicate says what a reviewer needs without the files: the overall verdict, the lane,
//! each proof's verdict, runs, determinism, health summary, the golden it was judged against
//! and its bundle with the digest of the bundle's `manifest.json` (which lists every member's
//! digest). Subjects are sorted by name; proofs by name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::verdict::{HealthSummary, Verdict};

/// Schema id (the predicate's `schema`).
pub const SCHEMA: &str = "assay.runner.attestation.v0";
/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// This project's predicate type.
pub const PREDICATE_TYPE: &str = "https://github.com/assay/runner-action/attestation/verdict/v0";
/// The DSSE payload type of an in-toto Statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An in-toto digest set; this project writes and accepts SHA-256 only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestSet {
    /// Lowercase hex.
    #[schemars(extend("pattern" = "^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// An in-toto Statement v1 with this project's predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    #[schemars(extend("const" = STATEMENT_TYPE))]
    pub type_: String,
    /// What the statement is about: each bundle (its path as the verdict names it) and the
    /// verdict file, sorted by name.
    #[schemars(length(min = 1))]
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    #[schemars(extend("const" = PREDICATE_TYPE))]
    pub predicate_type: String,
    /// The verdict.
    pub predicate: VerdictPredicate,
}

/// One subject: a file by name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The file's path, relative to where `prove` ran (as the verdict names it).
    pub name: String,
    /// `{"sha256": "<64 hex>"}`.
    pub digest: DigestSet,
}

/// The predicate: a verdict as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictPredicate {
    /// Always [`SCHEMA`].
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The verdict's run id.
    pub run_id: String,
    /// The lane the proofs were chosen for, when one was.
    pub lane: Option<String>,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The verdict file (`verdict.json`) by name and digest: also a subject.
    pub verdict_file: Subject,
    /// Each proof, sorted by name.
    pub proofs: Vec<AttestedProof>,
}

/// One proof as judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestedProof {
    /// The proof's name.
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why, when not `pass` (`code: prose`).
    pub reasons: Vec<String>,
    /// How many runs were made.
    pub runs: u32,
    /// Whether the canonical members of all runs were byte-identical.
    pub deterministic: bool,
    /// Health of the first run.
    pub health: Option<HealthSummary>,
    /// The golden it was judged against: its path and the digest of the content used (a base
    /// revision's when judged from one), absent when there was none.
    pub golden: Option<Subject>,
    /// Its first run's bundle (also a subject).
    pub bundle: Option<AttestedBundle>,
}

/// A bundle and the digest of its `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestedBundle {
    /// The bundle's path, as the subject names it.
    pub name: String,
    /// The bundle file's digest.
    pub digest: DigestSet,
    /// The digest of its `manifest.json` member (which lists every member's digest).
    pub manifest: DigestSet,
}

/// A DSSE envelope (not an `assay.runner` contract: the DSSE standard's JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 (standard, padded) of the serialized payload.
    pub payload: String,
    /// [`PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// At least one signature.
    pub signatures: Vec<Signature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Lowercase hex SHA-256 of the signer's public key (DER SubjectPublicKeyInfo).
    pub keyid: String,
    /// Base64 (standard, padded) of the signature over the DSSE PAE: Ed25519's 64 bytes, or
    /// ECDSA P-256 with SHA-256 as ASN.1 DER.
    pub sig: String,
}
