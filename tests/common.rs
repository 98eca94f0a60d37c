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
