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

/// The real all-MiniLM-L6-v2 export (ending in mean pooling and Normalize: ReduceL2, Clip,
/// Div) compiled in PUMA mode without calibration and run across three in-process parties on
/// two real sentences: the measured cost equals `secc inspect --stats --json`, the MPC outputs
/// stay within 1e-2 of `secc reference` of the same program, and the sentence embeddings have
/// cosine similarity >= 0.999 to the fp32 model's (brief §5).
#[test]
#[ignore = "needs the 90 MB third-party exports: set SECC_THIRD_PARTY_DIR and pass --ignored"]
fn real_minilm_runs_in_puma_mode_close_to_the_fp32_model() {
    let dir = std::env::var_os("SECC_THIRD_PARTY_DIR")
        .map(PathBuf::from)
        .expect("SECC_THIRD_PARTY_DIR must name the directory of the third-party exports");
    let model = dir.join("all-MiniLM-L6-v2_opset17.onnx");
    assert!(model.exists(), "{} is missing", model.display());
    let input = repo().join("examples/third_party/inputs/minilm_real.json");
    let input = input.to_str().unwrap();
    let expected =
        repo().join("examples/third_party/expected/all-MiniLM-L6-v2_opset17__minilm_real.json");
    let out_dir = tempfile::tempdir().unwrap();
    let program = out_dir.path().join("minilm.secc");
    let program = program.to_str().unwrap();
    let out = secc(&[
        "compile",
        model.to_str().unwrap(),
        "--seq-len",
        "8",
        "--batch",
        "2",
        "--mode",
        "puma",
        "-o",
        program,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    for op in ["puma_sqrt @", "puma_reciprocal @", "puma_layer_norm @"] {
        assert!(log.contains(op), "no {op} in {log}");
    }
    let stats = secc_json(&["inspect", program, "--stats", "--json"]);
    let run = secc_json(&["run", program, "--input", input, "--json"]);
    let reference = secc_json(&["reference", program, "--input", input, "--json"]);
    assert_eq!(
        cost_of_json(&run),
        cost_of_json(&stats),
        "measured vs predicted"
    );
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    let (got, plain, want) = (outputs_of(&run), outputs_of(&reference), outputs_of(&want));
    for (g, p) in got.iter().zip(&plain) {
        let error = max_abs_diff(&g.2, &p.2);
        assert!(
            error <= 1e-2,
            "{}: MPC differs from the reference by {error:e}",
            g.0
        );
    }
    let (g, w) = (
        got.iter().find(|o| o.0 == "sentence_embedding").unwrap(),
        want.iter().find(|o| o.0 == "sentence_embedding").unwrap(),
    );
    let d = w.1[1];
    for (a, b) in g.2.chunks(d).zip(w.2.chunks(d)) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norms = a.iter().map(|x| x * x).sum::<f64>().sqrt()
            * b.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot / norms;
        eprintln!("sentence embedding cosine similarity to fp32: {cosine}");
        assert!(cosine >= 0.999, "cosine similarity {cosine}");
    }
}
