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
    let program = dir.path().join(format!("{name}.secc"));
    let program = program.to_str().unwrap();
    let model = models().join(format!("{name}.onnx"));
    let input = models().join("inputs/bert_pad.json");
    let input = input.to_str().unwrap();
    let out = secc(&[
        "compile",
        model.to_str().unwrap(),
        "--seq-len",
        "8",
        "--mode",
        "puma",
        "-o",
        program,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The softmax reciprocal's static range [1, n] and the layer norms' octaves, uncalibrated.
    let log = stderr(&out);
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
    let run = secc_json(&["run", program, "--input", input, "--json"]);
    let reference = secc_json(&["reference", program, "--input", input, "--json"]);
    assert_eq!(
        cost_of_json(&run),
        cost_of_json(&stats),
        "measured vs predicted cost"
    );
    let (got, want) = (outputs_of(&run), outputs_of(&reference));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1), "output name and shape");
        let error = max_abs_diff(&g.2, &w.2);
        assert!(error <= 1e-2, "{name} {}: MPC differs by {error:e}", g.0);
        assert!(
            w.2.iter().any(|x| x.abs() > 1e-2),
            "{}: degenerate reference",
            g.0
        );
    }
}
