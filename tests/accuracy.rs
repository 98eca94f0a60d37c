//! Accuracy on real pretrained sentence-embedding models: the MPC sentence embeddings of each
//! export in `SECC_ACCURACY_DIR` (written by `examples/third_party/export_sentence_model.py`:
//! `<stem>.onnx` with `<stem>.expected.json`, the fp32 onnxruntime outputs for a set of padded
//! sentences) have cosine similarity at least 0.999 to the fp32 model in puma mode.
//!
//! ```text
//! SECC_ACCURACY_DIR=target/third_party cargo test -p secc --test e2e accuracy -- --ignored --nocapture
//! ```
//!
//! `.ci/run` makes the exports and runs this. It is `#[ignore]`d because the models are ~90 MB
//! and made by Python, and it fails, never passes vacuously, when the variable is unset or the
//! directory holds no export. Optional variables: `SECC_ACCURACY_MODES` (comma-separated, default
//! `puma`; the 0.999 bound is asserted for puma only, other modes are measured for comparison)
//! and `SECC_ACCURACY_ONLY` (run only the exports whose stem contains this string).
//!
//! For each export and mode it checks, then prints one line of figures (docs/accuracy.md):
//! - `secc reference` on the ONNX file reproduces the fp32 outputs (the frontend is faithful);
//! - `secc compile --mode M --seq-len S --batch B` and `secc run` (three in-process parties);
//!   the measured rounds and bytes equal the prediction;
//! - per sentence, the cosine between the MPC `sentence_embedding` and the fp32 one, and the
//!   same for `secc reference` of the compiled program (the approximations alone, no MPC).

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MIN_COSINE: f64 = 0.999;

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Per-row cosines between two `[rows, dim]` row-major matrices.
fn row_cosines(got: &[f64], want: &[f64], dim: usize) -> Vec<f64> {
    assert_eq!(got.len(), want.len(), "lengths differ");
    got.chunks(dim)
        .zip(want.chunks(dim))
        .map(|(g, w)| cosine(g, w))
        .collect()
}

/// The `data` of the output `name` of a `{"outputs": [...]}` object, checked against `shape`.
fn output(json: &Value, name: &str, shape: &[usize], what: &str) -> Vec<f64> {
    let (_, s, data) = outputs_of(json)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("{what}: no output {name}"));
    assert_eq!(s, shape, "{what}: shape of {name}");
    data
}

struct Export {
    stem: String,
    onnx: PathBuf,
    input: PathBuf,
    expected: PathBuf,
    json: Value,
}

/// Every `<stem>.expected.json` of `dir` (sorted), with the files it names, which must exist.
fn exports(dir: &Path) -> Vec<Export> {
    let only = std::env::var("SECC_ACCURACY_ONLY").unwrap_or_default();
    let mut found: Vec<Export> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("SECC_ACCURACY_DIR {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let stem = name.strip_suffix(".expected.json")?.to_string();
            stem.contains(&only).then_some((stem, p))
        })
        .map(|(stem, expected)| {
            let json: Value =
                serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
            let file = |key: &str| {
                let p =
                    dir.join(json[key].as_str().unwrap_or_else(|| {
                        panic!("{}: no \"{key}\" file name", expected.display())
                    }));
                assert!(p.exists(), "{} (named by {}) is missing", p.display(), stem);
                p
            };
            Export {
                onnx: file("onnx"),
                input: file("input"),
                stem,
                expected,
                json,
            }
        })
        .collect();
    found.sort_by(|a, b| a.stem.cmp(&b.stem));
    assert!(
        !found.is_empty(),
        "no <stem>.expected.json{} in {}: run examples/third_party/export_sentence_model.py",
        if only.is_empty() {
            String::new()
        } else {
            format!(" matching SECC_ACCURACY_ONLY={only}")
        },
        dir.display()
    );
    found
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "needs the exports of examples/third_party/export_sentence_model.py: set SECC_ACCURACY_DIR and pass --ignored"]
fn real_sentence_embeddings_match_fp32_in_mpc() {
    let dir = std::env::var_os("SECC_ACCURACY_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .expect("SECC_ACCURACY_DIR must name the directory of export_sentence_model.py's output");
    let modes = std::env::var("SECC_ACCURACY_MODES").unwrap_or_else(|_| "puma".into());
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    println!(
        "| export | mode | min cos | mean cos | plain min cos | max abs err | MPC - plain | rounds | MB sent per party | MPC s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for e in exports(&dir) {
        let seq = e.json["seq_len"].as_u64().expect("seq_len").to_string();
        let batch = e.json["batch"].as_u64().expect("batch") as usize;
        let onnx = e.onnx.to_str().unwrap();
        let input = e.input.to_str().unwrap();
        // The frontend reproduces the fp32 model (ONNX Runtime) on the same input.
        check_reference_against(&e.onnx, &e.input, &e.expected, 1e-3);
        let (_, shape, want) = outputs_of(&e.json)
            .into_iter()
            .find(|(n, _, _)| n == "sentence_embedding")
            .unwrap_or_else(|| panic!("{}: no sentence_embedding", e.expected.display()));
        assert_eq!(shape.len(), 2, "{}: [batch, dim]", e.expected.display());
        assert_eq!(shape[0], batch, "{}: batch", e.expected.display());
        let dim = shape[1];
        for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let what = format!("{} --mode {mode}", e.stem);
            let program = work.path().join(format!("{}.{mode}.secc", e.stem));
            let program = program.to_str().unwrap();
            let out = secc(&[
                "compile",
                onnx,
                "--seq-len",
                &seq,
                "--batch",
                &batch.to_string(),
                "--mode",
                mode,
                "-o",
                program,
            ]);
            if !out.status.success() {
                println!("| {} | {mode} | compile fails | | | | | | | |", e.stem);
                let log = stderr(&out);
                let error = log.lines().rfind(|l| l.starts_with("error"));
                failures.push(format!("{what}: {}", error.unwrap_or(log.trim())));
                continue;
            }
            let started = Instant::now();
            let run = secc_json(&["run", program, "--input", input, "--json"]);
            let elapsed = started.elapsed().as_secs_f64();
            let stats = secc_json(&["inspect", program, "--stats", "--json"]);
            assert_eq!(cost_of_json(&run), cost_of_json(&stats), "{what}: cost");
            let plain = secc_json(&["reference", program, "--input", input, "--json"]);
            // Every output (token embeddings too) within 1e-2 of the same program in plaintext.
            for ((name, _, g), (_, _, p)) in outputs_of(&run).iter().zip(&outputs_of(&plain)) {
                let error = max_abs_diff(g, p);
                if error > 1e-2 {
                    failures.push(format!(
                        "{what} {name}: MPC differs by {error:e} from plain"
                    ));
                }
            }
            let got = output(&run, "sentence_embedding", &[batch, dim], &what);
            let approx = output(&plain, "sentence_embedding", &[batch, dim], &what);
            let cos = row_cosines(&got, &want, dim);
            let cos_plain = row_cosines(&approx, &want, dim);
            let err = max_abs_diff(&got, &want);
            let mpc_err = max_abs_diff(&got, &approx);
            let (rounds, bytes) = cost_of_json(&run);
            let mb: Vec<String> = bytes
                .iter()
                .map(|b| format!("{:.1}", *b as f64 / 1e6))
                .collect();
            println!(
                "| {} | {mode} | {:.5} | {:.5} | {:.5} | {err:.1e} | {mpc_err:.1e} | {rounds} | {} | {:.1} |",
                e.stem,
                min(&cos),
                mean(&cos),
                min(&cos_plain),
                mb.join(" / "),
                run["wall_s"].as_f64().unwrap_or(elapsed),
            );
            println!(
                "    per-sentence cosine: {:?}",
                cos.iter().map(|c| format!("{c:.5}")).collect::<Vec<_>>()
            );
            if mode == "puma" && min(&cos) < MIN_COSINE {
                failures.push(format!(
                    "{what}: min cosine {:.5} < {MIN_COSINE} (per sentence {cos:.5?})",
                    min(&cos)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
