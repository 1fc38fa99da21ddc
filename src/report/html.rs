//! The offline HTML report of a verdict, written atomically: each proof's bundle read by
//! [`crate::html::evidence`] (verified as hostile input, its kernel layer aggregated within the
//! proof's share of the budget), then [`crate::html::render`]ed.

use std::path::Path;

use crate::contracts::verdict::ProofSetVerdict;
use crate::html::{Budget, ProofEvidence};

/// Writes the report of `v` to `out`; bundle paths are taken relative to the current
/// directory, as `prove` writes them.
pub fn write(v: &ProofSetVerdict, out: &Path) -> std::io::Result<()> {
    let budget = Budget::default();
    let share = budget.share(v.proofs.len());
    let ev: Vec<Option<ProofEvidence>> = v
        .proofs
        .iter()
        .map(|p| {
            p.bundle
                .as_deref()
                .and_then(|b| crate::html::evidence(Path::new(b), share))
        })
        .collect();
    let page = crate::html::render(v, &ev, budget);
    crate::fsutil::write_atomic(out, page.as_bytes())
}
