//! Which inputs go in the clear: the compiler declares public only `attention_mask` (and the
//! inputs named with `--public-input`), and the client sends in the clear only the inputs it
//! allows (`attention_mask`, and those named with `--allow-public-input`), says which, and
//! refuses before sending anything a program that declares public an input it did not allow.

use crate::common::*;
use secc_ir::lir::InputForm;
use std::path::Path;

fn public_inputs(program: &str) -> Vec<String> {
    let container = secc::artifact::load(Path::new(program)).unwrap();
    container
        .low
        .inputs
        .iter()
        .filter(|i| i.form == InputForm::Public)
        .map(|i| i.name.clone())
        .collect()
}

/// The MLP fixture (secret input `x`) compiled with `flags`.
fn mlp(flags: &[&str], dir: &Path) -> String {
    let program = dir.join(format!("mlp{}.secc", flags.len()));
    let program = program.to_str().unwrap().to_string();
    let model = models().join("mlp.onnx");
    let mut args = vec!["compile", model.to_str().unwrap(), "--batch", "2"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["-o", &program]);
    let out = secc(&args);
    assert!(out.status.success(), "compile: {}", stderr(&out));
    program
}

#[test]
fn only_the_attention_mask_is_public_unless_the_owner_names_another() {
    let dir = tempfile::tempdir().unwrap();
    let (bert, _) = compile_fixture("bert_cls_opset17", &[], dir.path());
    assert_eq!(public_inputs(&bert), vec!["attention_mask"]);
    assert!(public_inputs(&mlp(&[], dir.path())).is_empty());
    assert_eq!(
        public_inputs(&mlp(&["--public-input", "x"], dir.path())),
        vec!["x"]
    );
}

#[test]
fn the_client_sends_in_the_clear_only_what_it_allows_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let input = models().join("inputs/mlp.json");
    let input = input.to_str().unwrap();
    let secret = mlp(&[], dir.path());
    let ok = secc(&["run", &secret, "--input", input]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stderr(&ok).contains("client: every input is secret-shared"),
        "{}",
        stderr(&ok)
    );

    let declared = mlp(&["--public-input", "x"], dir.path());
    for transport in ["inproc", "tcp"] {
        let refused = secc(&["run", &declared, "--input", input, "--transport", transport]);
        assert_eq!(refused.status.code(), Some(1), "{transport}");
        let text = stderr(&refused);
        assert!(
            text.contains("input 'x'")
                && text.contains("--allow-public-input x")
                && !text.contains("panicked"),
            "{transport}: {text}"
        );
    }
    let allowed = secc(&[
        "run",
        &declared,
        "--input",
        input,
        "--allow-public-input",
        "x",
        "--json",
    ]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(
        stderr(&allowed).contains("client: sending in the clear: x"),
        "{}",
        stderr(&allowed)
    );
    let run: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    let error = run["max_abs_error"].as_object().unwrap();
    assert!(error.values().all(|e| e.as_f64().unwrap() <= 1e-2), "{run}");
}
