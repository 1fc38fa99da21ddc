//! Kernel observation: the session cgroup, the eBPF programs (`bpf/observe.bpf.c`), the
//! ring-buffer reader and the run lifecycle. Produces raw events and exact counters; knows
//! nothing about layers, surfaces or bundles.
//! Imports: `assay_contracts` (`doctor`'s output, health note codes) only; the runner maps a
//! run's end to its exit code. Linux-only.

pub mod bpf;
pub mod btf;
pub mod cgroup;
pub mod doctor;
pub mod event;
pub mod privtmp;
pub mod session;
pub mod spawn;
pub mod spill;
