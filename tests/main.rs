//! End-to-end tests of the `secc` and `secc-party` binaries. One module per area.

mod accuracy;
mod bad_input;
mod bench;
mod common;
mod conformance;
mod declassify;
mod frontend;
mod golden;
mod puma_e2e;
mod real_exports;
mod runtime_e2e;
mod secformer_e2e;
mod substitutions_e2e;
mod text_input;
mod third_party;
mod view_check;
