//! Text input with `--tokenizer`: the client tokenizes sentences (examples/tokenizers/) into the
//! arrays an input file would hold. The fixtures' embedding tables have 1000 rows, so the
//! end-to-end runs use tiny_wordpiece.tokenizer.json (the MiniLM tokenizer with a 1000-token
//! vocabulary); the real MiniLM tokenizer is checked against Python's ids in `secc::text`'s
//! unit tests and here only for its clear refusal on a model whose vocabulary it does not match.

use crate::common::*;
use std::path::PathBuf;

fn tokenizers() -> PathBuf {
    repo().join("examples/tokenizers")
}

fn arg(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn reference_of_text_equals_reference_of_the_python_token_ids() {
    let dir = tempfile::tempdir().unwrap();
    let model = models().join("minilm_tp_opset17.onnx");
    let tiny = tokenizers().join("tiny_wordpiece.tokenizer.json");
    let text = tokenizers().join("sentences.txt");
    let from_text = secc_json(&[
        "reference",
        arg(&model),
        "--tokenizer",
        arg(&tiny),
        "--input",
        arg(&text),
        "--seq-len",
        "8",
        "--json",
    ]);
    // The ids Python's tokenizers gives for sentences.txt with the tiny tokenizer, padded to 8
    // (see `secc::text`'s tests for the command).
    let ids = dir.path().join("ids.json");
    std::fs::write(
        &ids,
        r#"{"input_ids": [[101, 132, 186, 184, 202, 199, 186, 102], [101, 246, 193, 193, 196, 326, 102, 0]],
            "attention_mask": [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0]]}"#,
    )
    .unwrap();
    let from_ids = secc_json(&["reference", arg(&model), "--input", arg(&ids), "--json"]);
    assert_eq!(from_text, from_ids);
    let names: Vec<_> = outputs_of(&from_text)
        .into_iter()
        .map(|o| (o.0, o.1))
        .collect();
    assert_eq!(names[1], ("sentence_embedding".to_string(), vec![2, 96]));
}

#[test]
fn run_and_reference_of_a_program_take_text() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("m.secc");
    let model = models().join("minilm_tp_opset17.onnx");
    let out = secc(&[
        "compile",
        arg(&model),
        "--seq-len",
        "8",
        "--batch",
        "2",
        "-o",
        arg(&program),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tiny = tokenizers().join("tiny_wordpiece.tokenizer.json");
    let list = dir.path().join("sentences.json");
    std::fs::write(&list, r#"["Secure computation is fun!", "Hello world"]"#).unwrap();
    let text = ["--tokenizer", arg(&tiny), "--input", arg(&list), "--json"];
    let run = secc_json(
        &[
            &["run", arg(&program), "--outputs", "sentence_embedding"],
            &text[..],
        ]
        .concat(),
    );
    let reference = secc_json(
        &[
            &[
                "reference",
                arg(&program),
                "--outputs",
                "sentence_embedding",
            ],
            &text[..],
        ]
        .concat(),
    );
    let (got, want) = (outputs_of(&run), outputs_of(&reference));
    assert_eq!(got[0].1, vec![2, 96]);
    assert!(max_abs_diff(&got[0].2, &want[0].2) <= 1e-2);
    assert_eq!(run["rounds"], run["predicted"]["rounds"]);
    assert_eq!(run["bytes_sent"], run["predicted"]["bytes_sent"]);
}

#[test]
fn bad_text_input_is_named_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = models().join("minilm_tp_opset17.onnx");
    let text = tokenizers().join("sentences.txt");
    let output = dir.path().join("out.npz");
    let three = dir.path().join("three.txt");
    std::fs::write(&three, "a\nb\nc\n").unwrap();
    let program = dir.path().join("m.secc");
    let out = secc(&[
        "compile",
        arg(&model),
        "--seq-len",
        "8",
        "-o",
        arg(&program),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let real = tokenizers().join("all-MiniLM-L6-v2.tokenizer.json");
    let tiny = tokenizers().join("tiny_wordpiece.tokenizer.json");
    let missing = dir.path().join("missing.json");
    let not_a_tokenizer = tokenizers().join("make_tiny_tokenizer.py");
    let arrays = models().join("inputs/minilm.json");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        // The real vocabulary (30522) does not fit the fixture's 1000-row table.
        (
            vec![
                "reference",
                arg(&model),
                "--seq-len",
                "8",
                "--tokenizer",
                arg(&real),
                "--input",
                arg(&text),
            ],
            vec!["all-MiniLM-L6-v2.tokenizer.json", "22334", "1000 rows"],
        ),
        (
            vec![
                "run",
                arg(&program),
                "--tokenizer",
                arg(&missing),
                "--input",
                arg(&text),
            ],
            vec!["missing.json"],
        ),
        (
            vec![
                "run",
                arg(&program),
                "--tokenizer",
                arg(&not_a_tokenizer),
                "--input",
                arg(&text),
            ],
            vec!["make_tiny_tokenizer.py", "tokenizer.json"],
        ),
        (
            vec![
                "run",
                arg(&program),
                "--tokenizer",
                arg(&tiny),
                "--input",
                arg(&arrays),
            ],
            vec!["minilm.json", "JSON object"],
        ),
        (
            vec![
                "run",
                arg(&program),
                "--tokenizer",
                arg(&tiny),
                "--input",
                arg(&three),
            ],
            vec!["three.txt", "3 sentences", "batch of 1"],
        ),
    ];
    for (args, needles) in cases {
        let args = [&args[..], &["--output", arg(&output)]].concat();
        let out = secc(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let message = stderr(&out);
        for needle in needles {
            assert!(message.contains(needle), "{args:?}: {message}");
        }
        assert!(!output.exists(), "{args:?} left {}", output.display());
    }
}
