//! The interface of the one pass over the canonical kernel layer: the layers project raw
//! records into canonical events and hand each, with its raw [`Origin`], to every
//! [`KernelSink`] (the layer writer, the surface `Deriver`, correlation's witnesses).
//! Imports: `assay_contracts::kernel_event`.

use assay_contracts::kernel_event::KernelEvent;

/// Where a canonical event came from: the process (its run-unique `key`, see the layers'
/// `ProcessInfo`, and raw pid) and the kernel timestamp (`bpf_ktime_get_ns`, CLOCK_MONOTONIC)
/// of the raw record it was projected from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub key: u32,
    pub pid: u32,
    pub ns: u64,
}

/// A consumer of the canonical kernel layer. The projection calls every sink once per event,
/// in canonical order (`seq` 0, 1, ...), with the event's raw origin.
pub trait KernelSink {
    fn event(&mut self, ev: &KernelEvent, origin: &Origin);
}
