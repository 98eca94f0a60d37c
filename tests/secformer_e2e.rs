//! The BERT fixtures compiled in secformer mode (2Quad softmax, Fourier GeLU and tanh,
//! Goldschmidt layer norm) run across three in-process parties: the MPC outputs stay within
//! 1e-2 of `secc reference` on the same compiled program, padded inputs included, and the
//! measured rounds and bytes equal `secc inspect --stats --json` exactly.

use crate::common::*;
use std::path::Path;

fn check(model: &str, input: &str, dir: &Path) {
    let input = models().join("inputs").join(input);
    let input = input.to_str().unwrap();
    let (program, log) = compile_fixture(model, &[], dir);
    let program = program.as_str();
    // The cost report states the range each approximation is valid for.
    assert!(log.contains("valid in ["), "{log}");
    let stats = secc_json(&["inspect", program, "--stats", "--json"]);
    // Every iterative approximation states a non-empty valid range for its input.
    let approximations = stats["approximations"].as_array().expect("approximations");
    let ops: Vec<&str> = approximations
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"quad2_softmax") && ops.contains(&"sec_layer_norm"),
        "{ops:?}"
    );
    for a in approximations {
        let (lo, hi) = (
            a["valid"][0].as_f64().unwrap(),
            a["valid"][1].as_f64().unwrap(),
        );
        assert!(0.0 < lo && lo < hi, "{a}");
    }
    check_run_against_reference(program, input, &stats, model);
}

#[test]
fn bert_fixtures_run_in_secformer_mode_within_the_error_bound_at_the_predicted_cost() {
    let dir = tempfile::tempdir().unwrap();
    check("bert_opset14", "bert_pad.json", dir.path());
    check("bert_opset17", "bert_pad.json", dir.path());
    check("bert_cls_opset17", "bert_pad.json", dir.path());
    check("minilm_tp_opset17", "minilm.json", dir.path());
}

#[test]
fn a_batch_of_two_with_different_padding_runs_too() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("b.secc");
    let out = secc(&[
        "compile",
        models().join("bert_cls_opset14.onnx").to_str().unwrap(),
        "--seq-len",
        "8",
        "--batch",
        "2",
        "-o",
        program.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = models().join("inputs/bert_batch2.json");
    let run = secc_json(&[
        "run",
        program.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    let reference = secc_json(&[
        "reference",
        program.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    let (got, want) = (outputs_of(&run), outputs_of(&reference));
    assert_eq!(got[0].1, vec![2, 3]);
    assert!(max_abs_diff(&got[0].2, &want[0].2) <= 1e-2);
}
