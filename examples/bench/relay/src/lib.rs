//! Tools for running secc deployments over emulated links (docs/benchmarks.md, "Real links"):
//! [`relay`] adds a one-way delay to TCP streams between network namespaces (the kernel here
//! has no `netem`), [`bulk`] measures what a path carries.

pub mod bulk;
pub mod relay;
