//! assay-contracts: every `assay.runner.*.vN` wire contract, as serde types and nothing else
//! (no I/O, nothing Linux-only), plus the pure text rules every artifact and configuration file
//! shares: [`pathbytes`] (the lossless escaping of byte paths), [`diag`] (the one diagnostic of
//! every configuration file) and [`textutil`] (names, the first invalid UTF-8 byte).
//!
//! Architecture Invariant: `Serialize`/`Deserialize`/`JsonSchema` are derived only here; other
//! modules build these types and hand them to the edge. Set-valued fields are sorted by whoever
//! builds them (and `verify` checks it). The JSON Schemas in `schemas/` are generated from these
//! types by [`Contract::generate`] and committed; `tests/schemas.rs` fails when they drift and
//! validates real artifacts against them. Adding a field or a vocabulary value is a contract
//! change: bump the schema id, regenerate `schemas/` (`ASSAY_UPDATE_SCHEMAS=1 cargo test --test
//! schemas`), update `docs/contracts/` and the goldens.
//!
//! A new contract (correlation, policy, sdk, ...) slots in as a module plus one [`CONTRACTS`] row.
//! Depends on no other crate of the workspace.

pub mod attestation;
pub mod capability_diff;
pub mod correlation_report;
pub mod cross_runtime_diff;
pub mod diag;
pub mod doctor_report;
pub mod health;
pub mod kernel_event;
pub mod lane_decision;
pub mod manifest;
pub mod pathbytes;
pub mod policy_event;
pub mod run_event;
pub mod sdk_event;
pub mod surface;
pub mod textutil;
pub mod verdict;
pub mod verify_report;

pub use lane_decision::{FileLane, LaneDecision};

/// How a contract appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON document.
    Document,
    /// Newline-delimited JSON, one object per line.
    Ndjson,
}

/// One published contract.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// Short name (`capability_surface`), used by `assay-runner schema NAME` and in file names.
    pub name: &'static str,
    /// Schema id (`assay.runner.capability_surface.v3`).
    pub id: &'static str,
    /// The bundle members that hold it (empty when it never lives in bundles).
    pub members: &'static [&'static str],
    /// Document or NDJSON.
    pub shape: Shape,
    /// The published schema text (`schemas/<name>.<version>.schema.json`, see [`Contract::schema_file`]).
    pub published: &'static str,
    generate: fn() -> schemars::Schema,
}

macro_rules! contract {
    ($name:literal, $ver:literal, $module:ident :: $ty:ident, $member:expr, $shape:expr) => {
        Contract {
            name: $name,
            id: $module::SCHEMA,
            members: $member,
            shape: $shape,
            published: include_str!(concat!(
                "../../../schemas/",
                $name,
                ".",
                $ver,
                ".schema.json"
            )),
            generate: || {
                schemars::generate::SchemaSettings::draft2020_12()
                    .into_generator()
                    .into_root_schema_for::<$module::$ty>()
            },
        }
    };
}

/// Every contract, in pipeline order.
pub const CONTRACTS: &[Contract] = &[
    contract!(
        "lane_decision",
        "v0",
        lane_decision::LaneDecision,
        &[],
        Shape::Document
    ),
    contract!(
        "kernel_event",
        "v5",
        kernel_event::KernelEvent,
        &["layers/kernel.ndjson"],
        Shape::Ndjson
    ),
    contract!(
        "policy_event",
        "v2",
        policy_event::PolicyEvent,
        &["layers/policy.ndjson", "policy-diag.ndjson"],
        Shape::Ndjson
    ),
    contract!(
        "run_event",
        "v1",
        run_event::RunRecord,
        &["events.ndjson"],
        Shape::Ndjson
    ),
    contract!(
        "observation_health",
        "v4",
        health::ObservationHealth,
        &["observation-health.json"],
        Shape::Document
    ),
    contract!(
        "capability_surface",
        "v3",
        surface::CapabilitySurface,
        &["capability-surface.json"],
        Shape::Document
    ),
    contract!(
        "archive_manifest",
        "v0",
        manifest::ArchiveManifest,
        &["manifest.json"],
        Shape::Document
    ),
    contract!(
        "capability_diff",
        "v2",
        capability_diff::CapabilityDiff,
        &[],
        Shape::Document
    ),
    contract!(
        "verify_report",
        "v0",
        verify_report::VerifyReport,
        &[],
        Shape::Document
    ),
    contract!(
        "verdict",
        "v4",
        verdict::ProofSetVerdict,
        &[],
        Shape::Document
    ),
    contract!(
        "cross_runtime_diff",
        "v0",
        cross_runtime_diff::CrossRuntimeDiff,
        &[],
        Shape::Document
    ),
    contract!(
        "sdk_event",
        "v0",
        sdk_event::SdkEvent,
        &["layers/sdk.ndjson", "sdk-diag.ndjson"],
        Shape::Ndjson
    ),
    contract!(
        "correlation_report",
        "v1",
        correlation_report::CorrelationReport,
        &["correlation-report.json"],
        Shape::Document
    ),
    contract!(
        "attestation",
        "v0",
        attestation::Statement,
        &[],
        Shape::Document
    ),
    contract!(
        "doctor_report",
        "v0",
        doctor_report::DoctorReport,
        &[],
        Shape::Document
    ),
];

impl Contract {
    /// The contract with this short name or schema id.
    pub fn find(name: &str) -> Option<&'static Contract> {
        CONTRACTS.iter().find(|c| c.name == name || c.id == name)
    }

    /// The published schema's file name in `schemas/`: `<name>.<version>.schema.json`, the
    /// version being the id's last dot-separated part.
    pub fn schema_file(&self) -> String {
        let version = self.id.rsplit('.').next().unwrap_or("v0");
        format!("{}.{version}.schema.json", self.name)
    }

    /// The contract stored in this bundle member.
    pub fn for_member(path: &str) -> Option<&'static Contract> {
        CONTRACTS.iter().find(|c| c.members.contains(&path))
    }

    /// The schema generated from the Rust types: JSON Schema 2020-12 with `$id` and `title`.
    /// Its pretty-printed form plus a newline is what `schemas/` must hold.
    pub fn generate(&self) -> serde_json::Value {
        let mut v = (self.generate)().to_value();
        if let Some(o) = v.as_object_mut() {
            o.insert("$id".into(), format!("urn:{}", self.id).into());
            o.insert("title".into(), self.id.into());
        }
        v
    }

    /// The generated schema as the exact text of its published file.
    pub fn generate_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.generate()).unwrap_or_default();
        s.push('\n');
        s
    }
}
