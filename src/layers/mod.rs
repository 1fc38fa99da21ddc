//! Layers: turn raw observations into per-layer records. `kernel` builds the canonical kernel
//! layer (stable process labels, normalized paths, stable order) from raw kernel events;
//! `names` parses the packet payloads it records names from (DNS answers, TLS ClientHellos).
//! Imports: `crate::kernel::event` (raw records), `crate::contracts`, `crate::pathbytes`.

pub mod containers;
pub mod kernel;
pub mod names;
mod project;
