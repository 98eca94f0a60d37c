//! The BERT fixtures (LayerNormalization at opset 17, decomposed at opset 14, and the classifier
//! with its pooler) compiled in PUMA mode (comparison-tree softmax with (1 + x/64)^64, the
//! four-segment GeLU, the piecewise-polynomial tanh, the range-reduced layer norm without
//! calibration) run across three in-process parties: the MPC outputs stay within 1e-2 of
//! `secc reference` on the same compiled program with a padded input, and the measured rounds
//! and bytes equal `secc inspect --stats --json` exactly.

use crate::common::*;

#[test]
fn bert_runs_in_puma_mode_within_the_error_bound_at_the_predicted_cost() {
    for name in ["bert_opset17", "bert_opset14"] {
        check_puma_run(name, &["puma_softmax", "puma_gelu", "puma_layer_norm"]);
    }
}

/// The classifier's pooler tanh becomes `puma_tanh`.
#[test]
fn bert_classifier_runs_in_puma_mode_with_puma_tanh() {
    check_puma_run(
        "bert_cls_opset17",
        &["puma_softmax", "puma_gelu", "puma_layer_norm", "puma_tanh"],
    );
}

fn check_puma_run(name: &str, expected_ops: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let input = models().join("inputs/bert_pad.json");
    let input = input.to_str().unwrap();
    let (program, log) = compile_fixture(name, &["--mode", "puma"], dir.path());
    let program = program.as_str();
    // The softmax reciprocal's static range [1, n] and the layer norms' octaves, uncalibrated.
    assert!(log.contains("puma_softmax @"), "{log}");
    assert!(log.contains("valid in ["), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("puma_layer_norm @") && l.contains("no calibration")),
        "{log}"
    );
    assert!(!log.contains("calibrated range exceeds"), "{log}");
    let stats = secc_json(&["inspect", program, "--stats", "--json"]);
    let by_op = stats["by_op"].as_object().expect("by_op");
    for &op in expected_ops {
        assert!(by_op.contains_key(op), "{name}: no {op} in {by_op:?}");
    }
    for op in [
        "quad2_softmax",
        "sec_gelu",
        "sec_tanh",
        "sec_layer_norm",
        "goldschmidt_div",
    ] {
        assert!(!by_op.contains_key(op), "{name}: {op} in puma mode");
    }
    let ranges = stats["approximations"].as_array().expect("approximations");
    assert!(ranges
        .iter()
        .any(|r| r["op"] == "puma_layer_norm" && r["deflation"].is_null()));
    check_run_against_reference(program, input, &stats, name);
}
