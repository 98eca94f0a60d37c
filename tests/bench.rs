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
    let report = tiny_json(&[]);
    assert_eq!(report["mode"], "secformer");
    assert!(
        report["cost"]["by_op"].get("quad2_softmax").is_some(),
        "{report}"
    );
}

/// `--mode puma` with a substitution: PUMA's protocols (and the substituted ReLU) are what runs.
#[test]
fn bench_runs_puma_mode_and_substitutions() {
    let report = tiny_json(&["--mode", "puma", "--gelu", "relu"]);
    assert_eq!(report["mode"], "puma --gelu relu");
    let by_op = report["cost"]["by_op"].as_object().unwrap();
    assert!(by_op.contains_key("puma_softmax"), "{by_op:?}");
    assert!(by_op.contains_key("relu"), "{by_op:?}");
    assert!(!by_op.contains_key("puma_gelu"), "{by_op:?}");
    // Nothing is calibrated in PUMA mode, so no calibration samples are passed (or warned of).
    assert_eq!(
        report["warnings"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
}

#[test]
fn bench_refuses_exact_mode() {
    let mut args = TINY.to_vec();
    args.extend(["--mode", "exact"]);
    let out = secc(&args);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--mode exact"), "{}", stderr(&out));
}

/// Runs the tiny benchmark with `extra` flags and checks what holds in every mode: the measured
/// cost is the prediction, the error is within the contract, the cost report has every layer,
/// and --json prints nothing else.
fn tiny_json(extra: &[&str]) -> Value {
    let mut args = TINY.to_vec();
    args.extend(extra);
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
    // The offline/online split: each phase's counters are its prediction, the preprocessing
    // is one round carrying the dealers' seed-only words, the online phase has every stage's
    // round, and the two phases add up to the total.
    let (pre, online) = (&report["preprocessing"], &report["online"]);
    for phase in [pre, online] {
        assert_eq!(phase["rounds"], phase["predicted_rounds"], "{report}");
        assert_eq!(
            phase["bytes_sent"], phase["predicted_bytes_sent"],
            "{report}"
        );
        assert_eq!(phase["cost_matches"], true);
    }
    assert_eq!(pre["rounds"], 1);
    assert_eq!(online["rounds"], report["rounds"]);
    for party in 0..3 {
        let (p, o) = (
            pre["bytes_sent"][party].as_u64().unwrap(),
            online["bytes_sent"][party].as_u64().unwrap(),
        );
        assert!(p > 0 && o > 0, "{report}");
        assert_eq!(p + o, report["bytes_sent"][party].as_u64().unwrap());
    }
    let error = report["max_abs_error"].as_f64().unwrap();
    assert!(error < 1e-2, "max abs error {error}");
    // The cost report groups by layer: the embeddings and both encoder layers.
    let layers = report["cost"]["by_layer"].as_object().unwrap();
    for layer in ["embeddings", "layer.0", "layer.1"] {
        assert!(layers.contains_key(layer), "{layers:?}");
    }
    // --json prints nothing but the object, and no progress display on stderr.
    assert!(!stderr(&out).contains("stages"), "{}", stderr(&out));
    report
}

#[test]
fn bench_prints_a_human_summary() {
    let out = secc(TINY);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(equal)"), "{text}");
    assert!(text.contains("layer.1"), "{text}");
    assert!(text.contains("preprocessing"), "{text}");
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
