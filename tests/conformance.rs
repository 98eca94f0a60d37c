//! Regression tests for the frontend fixes the conformance matrix (examples/conformance/,
//! docs/frontend.md) found, on committed exports made by `examples/conformance/make_fixtures.py`:
//! DeBERTa-v2 exported by dynamo (opset 18) has `GatherElements` by constant relative-position
//! indices and masks its attention scores with `Where(mask, -3.4e38, scores)` before `Softmax`.
//! `tests/frontend.rs` checks `secc reference` against onnxruntime on the same fixture.

use crate::common::*;

/// Compiles `examples/models/{model}.onnx` at batch 2, 12 tokens in `mode`, returning the
/// program's path.
fn compile(model: &str, mode: &str, dir: &std::path::Path) -> String {
    let program = dir.join(format!("{model}.{mode}.secc"));
    let program = program.to_str().unwrap().to_string();
    let path = models().join(format!("{model}.onnx"));
    let out = secc(&[
        "compile",
        path.to_str().unwrap(),
        "--seq-len",
        "12",
        "--batch",
        "2",
        "--mode",
        mode,
        "-o",
        &program,
    ]);
    assert!(out.status.success(), "{model} {mode}: {}", stderr(&out));
    program
}

#[test]
fn deberta_v2_dynamo_export_runs_in_puma_mode_and_compiles_in_secformer_mode() {
    let dir = tempfile::tempdir().unwrap();
    let model = "deberta_v2_dynamo18";
    let input = models().join("inputs/deberta.json");
    let input = input.to_str().unwrap();
    let program = compile(model, "puma", dir.path());
    // The masked fill became the softmax's public bias: no `where` on a secret is left.
    let ir = secc(&["inspect", &program, "--ir"]);
    let ir = String::from_utf8_lossy(&ir.stdout);
    assert!(
        ir.lines()
            .filter(|l| l.contains("puma_softmax"))
            .all(|l| l.matches('%').count() >= 3),
        "softmax without its bias:\n{ir}"
    );
    assert!(
        !ir.lines()
            .any(|l| l.contains("= where") && l.contains(": secret")),
        "a secret where is left:\n{ir}"
    );
    let stats = secc_json(&["inspect", &program, "--stats", "--json"]);
    check_run_against_reference(&program, input, &stats, model);
    // And the MPC outputs are close to onnxruntime's fp32 outputs (the matrix's bound).
    let run = secc_json(&["run", &program, "--input", input, "--json"]);
    let expected = models().join(format!("expected/{model}__deberta.json"));
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
    for (g, w) in outputs_of(&run).iter().zip(outputs_of(&want)) {
        assert_eq!(g.1, w.1, "shape of {}", g.0);
        let error = max_abs_diff(&g.2, &w.2);
        assert!(
            error <= 5e-2,
            "{model} {}: MPC vs onnxruntime {error:e}",
            g.0
        );
    }
    compile(model, "secformer", dir.path());
}
