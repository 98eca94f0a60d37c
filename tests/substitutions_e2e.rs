//! The MPC-friendly substitutions (`--gelu relu`, `--layernorm affine`, `--softmax relu`) in
//! secformer mode, end to end: the compiled program has the substituted operators, three
//! in-process parties stay within 1e-2 of `secc reference` on the same program (padded input
//! included, so the softmax mask is exercised), and the measured rounds and bytes equal the
//! prediction of `secc inspect --stats --json`.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

fn op_count(stats: &Value, op: &str) -> u64 {
    stats["ops"][op].as_u64().unwrap_or(0)
}

/// Compiles `model` with `flags`, runs it, and returns the program's statistics.
fn check(model: &str, input: &str, flags: &[&str], dir: &Path) -> Value {
    let input = models().join("inputs").join(input);
    let input = input.to_str().unwrap();
    let (program, log) = compile_fixture(model, flags, dir);
    // The summary names them: "mode: Secformer, --gelu relu, ...".
    let named: Vec<String> = flags.chunks(2).map(|pair| pair.join(" ")).collect();
    assert!(log.contains(&named.join(", ")), "{log}");
    let stats = secc_json(&["inspect", &program, "--stats", "--json"]);
    check_run_against_reference(&program, input, &stats, &format!("{model} {flags:?}"));
    stats
}

#[test]
fn gelu_relu_runs_with_relu_in_place_of_every_gelu() {
    let dir = tempfile::tempdir().unwrap();
    let stats = check(
        "bert_opset17",
        "bert_pad.json",
        &["--gelu", "relu"],
        dir.path(),
    );
    assert_eq!(op_count(&stats, "sec_gelu"), 0);
    assert_eq!(op_count(&stats, "relu"), 2, "one per layer");
}

#[test]
fn layernorm_affine_runs_without_the_inverse_square_root() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--layernorm", "affine"];
    let stats = check("bert_opset17", "bert_pad.json", &flags, dir.path());
    assert_eq!(op_count(&stats, "sec_layer_norm"), 0);
    assert_eq!(op_count(&stats, "reduce_mean"), 5, "one per layer norm");
}

/// ReLU-softmax row sums span orders of magnitude (a row can keep one small positive score),
/// too wide for Goldschmidt in fixed point: each division is range-reduced (`puma_reciprocal`,
/// see `passes::goldschmidt_div::goldschmidt_fits`).
#[test]
fn softmax_relu_runs_with_a_range_reduced_division_per_softmax() {
    let dir = tempfile::tempdir().unwrap();
    let stats = check(
        "bert_opset17",
        "bert_pad.json",
        &["--softmax", "relu"],
        dir.path(),
    );
    assert_eq!(op_count(&stats, "quad2_softmax"), 0);
    assert_eq!(
        op_count(&stats, "puma_reciprocal"),
        2,
        "one per attention layer"
    );
    assert_eq!(op_count(&stats, "goldschmidt_div"), 0);
    // The classifier too (its tanh pooler and logits after ReLU attention).
    check(
        "bert_cls_opset17",
        "bert_pad.json",
        &["--softmax", "relu"],
        dir.path(),
    );
}

#[test]
fn the_three_substitutions_compose() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--gelu",
        "relu",
        "--layernorm",
        "affine",
        "--softmax",
        "relu",
    ];
    let stats = check("minilm_tp_opset17", "minilm.json", &flags, dir.path());
    for gone in ["sec_gelu", "sec_layer_norm", "quad2_softmax"] {
        assert_eq!(op_count(&stats, gone), 0, "{gone}");
    }
}

#[test]
fn substitutions_on_a_compiled_program_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("m.secc");
    let model = models().join("bert_cls_opset17.onnx");
    let out = secc(&[
        "compile",
        model.to_str().unwrap(),
        "--seq-len",
        "8",
        "-o",
        program.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = models().join("inputs/bert_pad.json");
    let out = secc(&[
        "reference",
        program.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--gelu",
        "relu",
    ]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("m.secc") && message.contains("--gelu relu"),
        "{message}"
    );
    // With the ONNX model, reference applies them: the plaintext function of the substituted
    // model differs from the original's.
    let plain = secc_json(&[
        "reference",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    let relu = secc_json(&[
        "reference",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
        "--gelu",
        "relu",
    ]);
    assert!(max_abs_diff(&outputs_of(&plain)[0].2, &outputs_of(&relu)[0].2) > 1e-3);
}
