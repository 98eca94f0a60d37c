//! Third-party exports of the real all-MiniLM-L6-v2 (90 MB each, not in the repository; see
//! examples/third_party/README.md). Opt-in: set `SECC_THIRD_PARTY_DIR` to the directory holding
//! `all-MiniLM-L6-v2_opset17.onnx` and `optimum_st/model.onnx`, e.g.
//!
//! ```text
//! SECC_THIRD_PARTY_DIR=/work/thirdparty cargo test -p secc --test e2e third_party -- --ignored
//! ```
//!
//! It is `#[ignore]`d by default (the files are not in the repository, so CI cannot run it) and
//! fails, rather than passing vacuously, when it is run without the variable.
//! The accuracy check on real models that CI does run is `tests/accuracy.rs` (docs/accuracy.md).

use crate::common::*;
use std::path::PathBuf;

#[test]
#[ignore = "needs the 90 MB third-party exports: set SECC_THIRD_PARTY_DIR and pass --ignored"]
fn real_minilm_exports_match_their_expected_outputs() {
    let dir = std::env::var_os("SECC_THIRD_PARTY_DIR")
        .map(PathBuf::from)
        .expect("SECC_THIRD_PARTY_DIR must name the directory of the third-party exports");
    let expected = repo().join("examples/third_party/expected");
    let inputs = [
        (
            models().join("inputs/minilm.json"),
            expected.join("all-MiniLM-L6-v2_opset17__minilm.json"),
        ),
        (
            repo().join("examples/third_party/inputs/minilm_real.json"),
            expected.join("all-MiniLM-L6-v2_opset17__minilm_real.json"),
        ),
    ];
    for model in [
        dir.join("all-MiniLM-L6-v2_opset17.onnx"),
        dir.join("optimum_st/model.onnx"),
    ] {
        assert!(model.exists(), "{} is missing", model.display());
        for (input, want) in &inputs {
            check_reference_against(&model, input, want, 1e-3);
        }
    }
}
