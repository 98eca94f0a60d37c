//! Helpers shared by the test modules: paths, running the `secc` binary, comparing outputs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn models() -> PathBuf {
    repo().join("examples/models")
}

pub fn secc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secc"))
        .args(args)
        .output()
        .expect("the secc binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `(name, shape, data)` of each output of a `{"outputs": [...]}` object.
pub fn outputs_of(json: &Value) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    json["outputs"]
        .as_array()
        .expect("an outputs array")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
                o["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Runs `secc reference MODEL --input IN --json` and compares every output with the expected
/// `{"outputs": [...]}` file (same names, shapes, and data within `tolerance`).
pub fn check_reference_against(model: &Path, input: &Path, expected: &Path, tolerance: f64) {
    let out = secc(&[
        "reference",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}: {}",
        model.display(),
        stderr(&out)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
    let (got, want) = (outputs_of(&got), outputs_of(&want));
    assert_eq!(
        got.len(),
        want.len(),
        "{}: output count",
        expected.display()
    );
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.0, &g.1),
            (&w.0, &w.1),
            "{}: name/shape",
            expected.display()
        );
        let d = max_abs_diff(&g.2, &w.2);
        assert!(
            d <= tolerance,
            "{} output {}: max abs diff {d:e} > {tolerance:e}",
            expected.display(),
            g.0
        );
    }
}

/// Runs `secc` with `args`, expecting success and one JSON object on stdout.
pub fn secc_json(args: &[&str]) -> Value {
    let out = secc(args);
    assert!(
        out.status.success(),
        "secc {}: {}",
        args.join(" "),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// `(rounds, bytes_sent)` of a `run --json` or `inspect --stats --json` object.
pub fn cost_of_json(v: &Value) -> (u64, Vec<u64>) {
    let bytes = v["bytes_sent"]
        .as_array()
        .expect("bytes_sent")
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    (v["rounds"].as_u64().expect("rounds"), bytes)
}

/// Compiles the fixture `examples/models/{model}.onnx` at 8 tokens with the extra `flags` into
/// `dir`, asserting success; returns the program's path and the compile log (stderr).
pub fn compile_fixture(model: &str, flags: &[&str], dir: &Path) -> (String, String) {
    let tag: String = flags.concat().replace("--", "-");
    let program = dir.join(format!("{model}{tag}.secc"));
    let program = program.to_str().unwrap().to_string();
    let model_path = models().join(format!("{model}.onnx"));
    let mut args = vec!["compile", model_path.to_str().unwrap(), "--seq-len", "8"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["-o", &program]);
    let out = secc(&args);
    assert!(out.status.success(), "{model} {flags:?}: {}", stderr(&out));
    (program, stderr(&out))
}

/// Runs `program` across three in-process parties on `input` and checks it against `secc
/// reference` of the same program: the measured rounds and bytes equal the prediction of
/// `stats` (`inspect --stats --json`), the outputs have the same names and shapes, each within
/// 1e-2, and no reference output is degenerate (all near 0). `what` names the case.
pub fn check_run_against_reference(program: &str, input: &str, stats: &Value, what: &str) {
    let run = secc_json(&["run", program, "--input", input, "--json"]);
    let reference = secc_json(&["reference", program, "--input", input, "--json"]);
    assert_eq!(
        cost_of_json(&run),
        cost_of_json(stats),
        "{what}: measured vs predicted cost"
    );
    let (got, want) = (outputs_of(&run), outputs_of(&reference));
    assert_eq!(got.len(), want.len(), "{what}: outputs");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1), "{what}: output name and shape");
        let error = max_abs_diff(&g.2, &w.2);
        assert!(error <= 1e-2, "{what} {}: MPC differs by {error:e}", g.0);
        assert!(
            w.2.iter().any(|x| x.abs() > 1e-2),
            "{what} {}: degenerate reference",
            g.0
        );
    }
}
