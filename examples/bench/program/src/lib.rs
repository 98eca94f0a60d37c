//! Benchmark programs for deployment runs over emulated links (docs/benchmarks.md, "Real
//! links"): the `netbench-program` binary writes the BERT-base program `secc bench` runs as a
//! `.secc` file for `secc share` / `secc-party` / `secc client`, and [`rounds`] (the
//! `netbench-rounds` binary) reports a program's round structure: what a scheduler could still
//! merge.

pub mod rounds;
