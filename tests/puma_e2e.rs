//! The BERT fixture compiled in PUMA mode (comparison-tree softmax with (1 + x/32)^32, the
//! four-segment GeLU; layer norm and tanh by the secformer protocols for now) runs across three
//! in-process parties: the MPC outputs stay within 1e-2 of `secc reference` on the same compiled
//! program with a padded input, and the measured rounds and bytes equal
//! `secc inspect --stats --json` exactly.

use crate::common::*;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = secc(args);
    assert!(
        out.status.success(),
        "secc {}: {}",
        args.join(" "),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn cost(v: &Value) -> (u64, Vec<u64>) {
    let bytes = v["bytes_sent"]
        .as_array()
        .expect("bytes_sent")
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    (v["rounds"].as_u64().expect("rounds"), bytes)
}

#[test]
fn bert_runs_in_puma_mode_within_the_error_bound_at_the_predicted_cost() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("bert_opset17.secc");
    let program = program.to_str().unwrap();
    let model = models().join("bert_opset17.onnx");
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
    // The softmax reciprocal's static range [1, n] and the layer norms' calibrated ones.
    let log = stderr(&out);
    assert!(log.contains("puma_softmax @"), "{log}");
    assert!(log.contains("valid in ["), "{log}");
    let stats = json(&["inspect", program, "--stats", "--json"]);
    let by_op = stats["by_op"].as_object().expect("by_op");
    for op in ["puma_softmax", "puma_gelu"] {
        assert!(by_op.contains_key(op), "no {op} in {by_op:?}");
    }
    assert!(!by_op.contains_key("quad2_softmax") && !by_op.contains_key("sec_gelu"));
    let run = json(&["run", program, "--input", input, "--json"]);
    let reference = json(&["reference", program, "--input", input, "--json"]);
    assert_eq!(cost(&run), cost(&stats), "measured vs predicted cost");
    let (got, want) = (outputs_of(&run), outputs_of(&reference));
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1), "output name and shape");
        let error = max_abs_diff(&g.2, &w.2);
        assert!(error <= 1e-2, "{}: MPC differs by {error:e}", g.0);
        assert!(
            w.2.iter().any(|x| x.abs() > 1e-2),
            "{}: degenerate reference",
            g.0
        );
    }
}
