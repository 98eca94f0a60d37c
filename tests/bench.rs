//! `secc bench` at a tiny shape: it runs, the measured cost equals the prediction, and the MPC
//! output is within the accuracy contract of the plaintext interpreter. No timing assertions.

use crate::common::{secc, stderr};
use serde_json::Value;

const TINY: &[&str] = &[
    "bench", "--layers", "2", "--hidden", "32", "--heads", "2", "--inter", "64", "--vocab", "100",
    "--seq", "8",
];

#[test]
fn bench_runs_a_tiny_bert_with_exact_cost_and_small_error() {
    let mut args = TINY.to_vec();
    args.push("--json");
    let out = secc(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["rounds"], report["predicted_rounds"], "{report}");
    assert_eq!(
        report["bytes_sent"], report["predicted_bytes_sent"],
        "{report}"
    );
    assert_eq!(report["cost_matches"], true);
    assert!(report["rounds"].as_u64().unwrap() > 0);
    let error = report["max_abs_error"].as_f64().unwrap();
    assert!(error < 1e-2, "max abs error {error}");
    // The cost report groups by layer: the embeddings and both encoder layers.
    let layers = report["cost"]["by_layer"].as_object().unwrap();
    for layer in ["embeddings", "layer.0", "layer.1"] {
        assert!(layers.contains_key(layer), "{layers:?}");
    }
    // --json prints nothing but the object, and no progress display on stderr.
    assert!(!stderr(&out).contains("stages"), "{}", stderr(&out));
}

#[test]
fn bench_prints_a_human_summary() {
    let out = secc(TINY);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(equal)"), "{text}");
    assert!(text.contains("layer.1"), "{text}");
}

#[test]
fn bench_rejects_a_shape_it_cannot_build() {
    let out = secc(&["bench", "--hidden", "30", "--heads", "4"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a multiple of --heads"),
        "{}",
        stderr(&out)
    );
}
