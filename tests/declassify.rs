//! Which inputs go in the clear: the compiler declares public only `attention_mask` (and the
//! inputs named with `--public-input`), and the client sends in the clear only the inputs it
//! allows (`attention_mask`, and those named with `--allow-public-input`), says which, and
//! refuses before sending anything a program that declares public an input it did not allow.

use crate::common::*;
use secc_ir::lir::InputForm;
use std::path::Path;

fn public_inputs(program: &str) -> Vec<String> {
    let container = secc::artifact::load(Path::new(program)).unwrap();
    let declared: Vec<String> = container
        .program
        .inputs
        .iter()
        .filter(|i| i.role == secc_ir::InputRole::ClientPublic)
        .map(|i| i.name.clone())
        .collect();
    // What the client would send in the clear, traced back through its prologue to the inputs
    // it is computed from, allowing everything declared: the same inputs, and only they.
    let (_, cleared) = secc_runtime::PublicInputPolicy::allowing(declared.clone())
        .resolve(&container.program, &container.low)
        .unwrap();
    let sent_public = container
        .low
        .inputs
        .iter()
        .any(|i| i.form == InputForm::Public);
    assert_eq!(sent_public, !cleared.is_empty());
    assert!(cleared.iter().all(|c| declared.contains(c)), "{cleared:?}");
    declared
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

/// The client does not take the program's word: a low-level input that a tampered program
/// declares public is traced back through the prologue to the client inputs it is computed
/// from, and refused (naming that input) unless the client allows it; a public input that is
/// none of the prologue's sends is refused as inconsistent.
#[test]
fn a_program_that_declares_a_secret_derived_send_public_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (bert, _) = compile_fixture("bert_cls_opset17", &[], dir.path());
    let container = secc::artifact::load(Path::new(&bert)).unwrap();
    let policy = secc_runtime::PublicInputPolicy::default();
    let (_, cleared) = policy.resolve(&container.program, &container.low).unwrap();
    assert_eq!(cleared, vec!["attention_mask"]);

    let mut tampered = container.low.clone();
    let ids = tampered
        .inputs
        .iter_mut()
        .find(|i| i.name == "input_ids")
        .expect("the token ids are sent");
    ids.form = InputForm::Public;
    let refused = policy
        .resolve(&container.program, &tampered)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("input_ids"), "{refused}");
    assert!(
        refused.contains("--allow-public-input input_ids"),
        "{refused}"
    );

    let mut renamed = container.low.clone();
    let public = renamed
        .inputs
        .iter_mut()
        .find(|i| i.form == InputForm::Public)
        .expect("the mask bias is public");
    public.name = "not_a_send".into();
    let refused = policy
        .resolve(&container.program, &renamed)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("not_a_send") && refused.contains("inconsistent"),
        "{refused}"
    );
}
