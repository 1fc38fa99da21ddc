//! Layers: turn raw observations into per-layer records. `kernel` builds the canonical kernel
//! layer (stable process labels, normalized paths, stable order) from raw kernel events.
//! Imports: `crate::kernel::event` (raw records), `crate::contracts`, `crate::pathbytes`.

pub mod kernel;
#[cfg(test)]
mod kernel_reference;
