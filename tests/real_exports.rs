//! Real exports as transformers and sentence-transformers make them (issue 8), on fresh
//! `torch.onnx.export`s committed by examples/models/make_fixtures.py:
//! - `bert_default_opset17`: BertModel exactly as initialised (LayerNorm scale 1, shift 0, zero
//!   biases, identical initializers folded into Identity nodes by the exporter): every learned
//!   initializer stays a secret parameter, `--public-weights` / `--public-weight` publish them,
//!   and it compiles and runs in both modes either way;
//! - `roberta_opset17`: position ids computed from the token ids (CumSum) in the client's
//!   prologue, sent as secret one-hot shares;
//! - `st_passthrough_opset17`: sentence-transformers' outputs, with `input_ids` and
//!   `attention_mask` passed through, come back in the model's shapes and integer type with no
//!   `--outputs` flag.
//!
//! `secc reference` of each against onnxruntime (within 1e-4) is checked for every committed
//! expected file by `frontend::committed_fixtures_match_onnxruntime_expected_outputs`.

use crate::common::*;
use serde_json::Value;

fn param_names(stats: &Value) -> Vec<String> {
    stats["params"]["tensors"]
        .as_array()
        .expect("params.tensors")
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn expected(name: &str) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let path = models().join(format!("expected/{name}.json"));
    outputs_of(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

#[test]
fn uniform_initializers_stay_secret_parameters_unless_published() {
    let dir = tempfile::tempdir().unwrap();
    let (program, _) = compile_fixture("bert_default_opset17", &["--mode", "puma"], dir.path());
    let stats = secc_json(&["inspect", &program, "--json"]);
    let params = param_names(&stats);
    // All ones and all zeros in the file: still the model owner's secrets.
    for name in [
        "m.embeddings.LayerNorm.weight",
        "m.embeddings.LayerNorm.bias",
    ] {
        assert!(params.iter().any(|p| p == name), "{name} not in {params:?}");
    }
    // Each of the file's 19 learned initializers is a parameter, none a public constant (the
    // zero bias serves both [1, 1, 64] and [1, 64] users, a second copy named `#2`).
    let mut bases: Vec<&str> = params
        .iter()
        .map(|p| p.split('#').next().unwrap())
        .collect();
    bases.dedup();
    bases.sort_unstable();
    bases.dedup();
    assert_eq!(bases.len(), 19, "{params:?}");

    let (public, _) = compile_fixture(
        "bert_default_opset17",
        &["--mode", "puma", "--public-weights"],
        dir.path(),
    );
    let stats = secc_json(&["inspect", &public, "--json"]);
    assert!(param_names(&stats).is_empty(), "{:?}", param_names(&stats));

    let (one, _) = compile_fixture(
        "bert_default_opset17",
        &[
            "--mode",
            "puma",
            "--public-weight",
            "m.embeddings.LayerNorm.weight",
        ],
        dir.path(),
    );
    let stats = secc_json(&["inspect", &one, "--json"]);
    let params = param_names(&stats);
    assert_eq!(params.len(), 19, "{params:?}");
    assert!(!params.iter().any(|p| p == "m.embeddings.LayerNorm.weight"));

    let model = models().join("bert_default_opset17.onnx");
    let out = secc(&[
        "compile",
        model.to_str().unwrap(),
        "--seq-len",
        "8",
        "--public-weight",
        "no.such.weight",
        "-o",
        dir.path().join("x.secc").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--public-weight no.such.weight"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn default_initialised_bert_runs_in_both_modes_with_secret_or_public_weights() {
    let dir = tempfile::tempdir().unwrap();
    let input = models().join("inputs/bert_pair.json");
    let input = input.to_str().unwrap();
    for flags in [
        &["--mode", "secformer"][..],
        &["--mode", "puma"][..],
        &["--mode", "puma", "--public-weights"][..],
        &["--mode", "secformer", "--public-weights"][..],
    ] {
        let (program, _) = compile_fixture("bert_default_opset17", flags, dir.path());
        let stats = secc_json(&["inspect", &program, "--json"]);
        check_run_against_reference(&program, input, &stats, &format!("{flags:?}"));
    }
}

#[test]
fn roberta_position_ids_are_computed_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let (program, _) = compile_fixture("roberta_opset17", &["--mode", "puma"], dir.path());
    let stats = secc_json(&["inspect", &program, "--json"]);
    let prologue = &stats["prologue"];
    assert_eq!(prologue["ops"]["cumsum"], 1, "{prologue}");
    let sends = prologue["sends"].as_array().unwrap();
    // The token ids, and the position ids and token type ids the client computes from them
    // (RoBERTa gathers its token type buffer by the position ids): secret, one-hot.
    let one_hot: Vec<&str> = sends
        .iter()
        .filter(|s| s["form"].as_str().unwrap().contains("one-hot"))
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(one_hot.len(), 3, "{sends:?}");
    assert!(one_hot.contains(&"input_ids"), "{sends:?}");
    // Nothing derived from the token ids travels in the clear.
    for s in sends {
        if s["form"] == "public" {
            assert!(
                !s["name"].as_str().unwrap().contains("embeddings"),
                "{s}: computed from the ids, sent in the clear"
            );
        }
    }
    let text = secc(&["inspect", &program]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("client prologue"));
    let path = models().join("inputs/roberta_pad.json");
    check_run_against_reference(&program, path.to_str().unwrap(), &stats, "roberta_pad");
    // Against onnxruntime: the MPC result of the real model within PUMA's error.
    let run = secc_json(&["run", &program, "--input", path.to_str().unwrap(), "--json"]);
    let got = outputs_of(&run);
    let want = expected("roberta_opset17__roberta_pad");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1));
        let error = max_abs_diff(&g.2, &w.2);
        assert!(error < 5e-2, "{}: MPC vs onnxruntime {error:e}", g.0);
    }
}

#[test]
fn pass_through_outputs_come_back_in_the_models_own_shape_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let input = models().join("inputs/minilm.json");
    let input = input.to_str().unwrap();
    let want = expected("st_passthrough_opset17__minilm");
    for mode in ["secformer", "puma"] {
        let (program, _) = compile_fixture("st_passthrough_opset17", &["--mode", mode], dir.path());
        let stats = secc_json(&["inspect", &program, "--json"]);
        let kept: Vec<&str> = stats["prologue"]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(kept, ["input_ids_out", "attention_mask_out"]);
        // No --outputs flag: every output, in the model's order and shapes.
        let run = secc_json(&["run", &program, "--input", input, "--json"]);
        let got = outputs_of(&run);
        let names: Vec<&str> = got.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "input_ids_out",
                "attention_mask_out",
                "token_embeddings",
                "sentence_embedding"
            ]
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((&g.0, &g.1), (&w.0, &w.1), "{mode}: name and shape");
        }
        // The pass-through outputs are the client's own integers, exactly.
        for k in 0..2 {
            assert_eq!(got[k].2, want[k].2, "{mode} {}", got[k].0);
            assert!(run["outputs"][k]["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x.is_i64() || x.is_u64()));
        }
        check_run_against_reference(&program, input, &stats, mode);
        // Against onnxruntime in puma mode (secformer approximates softmax by 2Quad, a
        // different function for a model not distilled for it).
        if mode == "puma" {
            for k in 2..4 {
                let error = max_abs_diff(&got[k].2, &want[k].2);
                assert!(error < 5e-2, "{}: MPC vs onnxruntime {error:e}", got[k].0);
            }
        }
    }
}
