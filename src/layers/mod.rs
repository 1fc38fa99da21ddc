//! Layers: turn raw observations into per-layer records. `kernel` builds the canonical kernel
//! layer (stable process labels, normalized paths, stable order) from raw kernel events;
//! `names` parses the packet payloads it records names from (DNS answers, TLS ClientHellos).
//! Inside: `kernel` drives the projection; `project` holds the projector (per-process state,
//! one method per event kind); `render` reads raw values (paths, addresses, flags); `pending`
//! is pass 1's spill. Arrows run one way: kernel → project, pending → render.
//! Imports: `crate::kernel::event` (raw records), `crate::contracts`, `crate::pathbytes`.

pub mod containers;
pub mod kernel;
pub mod names;
mod pending;
mod project;
pub mod render;
