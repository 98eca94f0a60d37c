//! The frontend end to end: every fixture compiles, `secc reference` matches onnxruntime's
//! expected outputs and tract's own f32 run, and the recognised structure is what the passes
//! promise (one layer_norm per LayerNorm, fused GeLU, the mask bias inside the softmax).

use crate::common::*;
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions, Mode, ModeOptions};
use secc_ir::{Op, Program, Weights};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tract_onnx::prelude::*;

const FIXTURES: &[&str] = &[
    "bert_opset14",
    "bert_opset17",
    "bert_cls_opset14",
    "bert_cls_opset17",
    "minilm_tp_opset17",
    "minilm_optimum_opset17",
    "mlp",
];

#[test]
fn committed_fixtures_match_onnxruntime_expected_outputs() {
    let mut checked = 0;
    for entry in std::fs::read_dir(models().join("expected")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (model, input) = stem.split_once("__").unwrap();
        check_reference_against(
            &models().join(format!("{model}.onnx")),
            &models().join(format!("inputs/{input}.json")),
            &path,
            1e-4,
        );
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} expected files");
}

fn compile_at(model: &Path, inputs: &BTreeMap<String, ndarray::ArrayD<f64>>) -> (Program, Weights) {
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: 1,
            seq_len: 8,
            exact: inputs
                .iter()
                .map(|(k, v)| (k.clone(), v.shape().to_vec()))
                .collect(),
        },
        frac_bits: 16,
        public_inputs: vec![],
        emit_ir: None,
        weights: Default::default(),
        // Agreement with tract is about the original arithmetic, before any approximation.
        mode: ModeOptions {
            mode: Mode::Exact,
            calibration: vec![],
            substitutions: Default::default(),
        },
    };
    compile(model, &options).unwrap_or_else(|e| panic!("{}: {e}", model.display()))
}

/// tract's f32 run of the original model, independent of secc's loader. Inputs are taken by
/// name in the model's own input order.
fn tract_run(
    model: &Path,
    inputs: &HashMap<String, (ndarray::ArrayD<f64>, DatumType)>,
) -> Vec<Vec<f64>> {
    let mut m = tract_onnx::onnx()
        .with_ignore_value_info(true)
        .model_for_path(model)
        .unwrap();
    let mut values = TVec::new();
    let outlets = m.input_outlets().unwrap().to_vec();
    for (i, outlet) in outlets.iter().enumerate() {
        let name = m.node(outlet.node).name.clone();
        let (array, dt) = &inputs[&name];
        m.set_input_fact(i, InferenceFact::dt_shape(*dt, array.shape()))
            .unwrap();
        let data: Vec<f32> = array.iter().map(|&x| x as f32).collect();
        let t = Tensor::from_shape(array.shape(), &data).unwrap();
        values.push(t.cast_to_dt(*dt).unwrap().into_owned().into_tvalue());
    }
    let runnable = m.into_optimized().unwrap().into_runnable().unwrap();
    runnable
        .run(values)
        .unwrap()
        .iter()
        .map(|t| {
            let f = t.cast_to::<f64>().unwrap();
            f.to_plain_array_view::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect()
        })
        .collect()
}

#[test]
fn reference_agrees_with_tract_on_every_fixture_with_padding_masks() {
    let inputs_dir = models().join("inputs");
    let cases: &[(&str, &[&str])] = &[
        ("bert_opset14", &["bert_pad", "bert_batch2", "bert_pair"]),
        ("bert_opset17", &["bert_pad", "bert_batch2", "bert_pair"]),
        ("bert_cls_opset14", &["bert_pad", "bert_batch2"]),
        ("bert_cls_opset17", &["bert_pad", "bert_batch2"]),
        ("minilm_tp_opset17", &["bert_pad", "bert_batch2", "minilm"]),
        (
            "minilm_optimum_opset17",
            &["bert_pad", "bert_batch2", "minilm"],
        ),
        ("mlp", &["mlp"]),
    ];
    for (model_name, inputs) in cases {
        let model = models().join(format!("{model_name}.onnx"));
        for input in *inputs {
            let given = secc::inputs::read(&inputs_dir.join(format!("{input}.json"))).unwrap();
            let (program, weights) = compile_at(&model, &given);
            let complete = secc::inputs::complete(&program, &given, Path::new(input)).unwrap();
            let ours = secc::reference::run(&program, &weights, &complete, None).unwrap();
            // The model's own input order, with the element types tract expects.
            let tract_inputs: HashMap<_, _> = program
                .inputs
                .iter()
                .map(|d| {
                    let dt = if d.ty.encoding == secc_ir::Encoding::Fixed {
                        f32::datum_type()
                    } else {
                        i64::datum_type()
                    };
                    (d.name.clone(), (complete[&d.name].clone(), dt))
                })
                .collect();
            let theirs = tract_run(&model, &tract_inputs);
            assert_eq!(ours.len(), theirs.len());
            for (o, t) in ours.iter().zip(&theirs) {
                let d = max_abs_diff(&o.array.iter().copied().collect::<Vec<_>>(), t);
                assert!(d <= 1e-4, "{model_name}/{input} {}: {d:e}", o.name);
            }
        }
    }
}

/// Compiles with the `secc` binary (secformer mode by default); the program file must be written.
fn compile_cli(model: &Path, out_path: &Path, extra: &[&str]) {
    let mut args = vec![
        "compile",
        model.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = secc(&args);
    assert!(
        out.status.success(),
        "{}: {}",
        model.display(),
        stderr(&out)
    );
    assert!(out_path.is_file(), "{}: no output file", model.display());
}

#[test]
fn every_fixture_compiles_and_inspect_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let out_path = dir.path().join(format!("{name}.secc"));
        let model = models().join(format!("{name}.onnx"));
        compile_cli(&model, &out_path, &["--seq-len", "16"]);
        let out = secc(&["inspect", out_path.to_str().unwrap(), "--stats", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["ops", "params", "inputs", "outputs", "by_op", "by_layer"] {
            assert!(stats.get(key).is_some(), "{name}: no '{key}' in {stats}");
        }
        assert!(stats["rounds"].as_u64().unwrap() > 0, "{name}: {stats}");
        assert_eq!(stats["bytes_sent"].as_array().unwrap().len(), 3);
        assert!(stats["params"]["elements"].as_u64().unwrap() > 1000);
        if *name != "mlp" {
            assert_eq!(stats["inputs"][0]["shape"], serde_json::json!([1, 16]));
        }
        let ir = secc(&["inspect", out_path.to_str().unwrap(), "--ir"]);
        assert!(String::from_utf8_lossy(&ir.stdout).starts_with("program"));
    }
}

fn count(program: &Program, pred: impl Fn(&Op, usize) -> bool) -> usize {
    program
        .nodes
        .iter()
        .filter(|(_, n)| pred(&n.op, n.args.len()))
        .count()
}

#[test]
fn bert_structure_is_recognised_and_the_mask_is_public() {
    for (name, layers) in [
        ("bert_opset14", 2),
        ("bert_opset17", 2),
        ("minilm_tp_opset17", 3),
        ("minilm_optimum_opset17", 3),
    ] {
        let (p, _) = compile_at(&models().join(format!("{name}.onnx")), &BTreeMap::new());
        assert_eq!(
            count(&p, |op, _| matches!(op, Op::LayerNorm { .. })),
            2 * layers + 1,
            "{name}"
        );
        assert_eq!(
            count(&p, |op, _| matches!(op, Op::Gelu { .. })),
            layers,
            "{name}"
        );
        assert_eq!(
            count(&p, |op, n| matches!(op, Op::Softmax { .. }) && n == 2),
            layers,
            "{name}"
        );
        assert_eq!(
            count(&p, |op, _| matches!(op, Op::Erf | Op::Sqrt)),
            0,
            "{name}"
        );
        let mask = p
            .inputs
            .iter()
            .find(|i| i.name == "attention_mask")
            .unwrap();
        assert!(!mask.ty.is_secret(), "{name}: the mask is public");
        assert!(p
            .inputs
            .iter()
            .filter(|i| i.name != "attention_mask")
            .all(|i| i.ty.is_secret()));
        assert_eq!(count(&p, |op, _| matches!(op, Op::Embedding)), 2, "{name}");
        // Every softmax bias is public; no secret value meets the -3.4e38 elsewhere.
        secc::passes::fixed_point_guard::run(&p).unwrap();
    }
}

#[test]
fn parameters_are_named_after_onnx_initializers() {
    let (p, w) = compile_at(&models().join("bert_opset17.onnx"), &BTreeMap::new());
    let names: Vec<&str> = p.params.iter().map(|d| d.name.as_str()).collect();
    assert!(
        names.contains(&"m.embeddings.word_embeddings.weight"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.contains("LayerNorm")), "{names:?}");
    assert_eq!(w.tensors.len(), p.params.len());
}

#[test]
fn integer_pass_through_output_keeps_the_mask() {
    let input = models().join("inputs/bert_batch2.json");
    let out = secc(&[
        "reference",
        models().join("minilm_tp_opset17.onnx").to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
        "--outputs",
        "attention_mask_out",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let outs = outputs_of(&json);
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].1, vec![2, 8]);
    let mask: Vec<f64> = [[1, 1, 1, 1, 1, 1, 0, 0], [1; 8]]
        .concat()
        .iter()
        .map(|&x| x as f64)
        .collect();
    assert_eq!(outs[0].2, mask);
    assert!(
        json["outputs"][0]["data"][0].is_i64(),
        "integers stay integers"
    );
}

#[test]
fn reference_writes_npy_and_npz() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("out.npz");
    let out = secc(&[
        "reference",
        models().join("minilm_tp_opset17.onnx").to_str().unwrap(),
        "--input",
        models().join("inputs/minilm.json").to_str().unwrap(),
        "--output",
        npz.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = ndarray_npy::NpzReader::new(std::fs::File::open(&npz).unwrap()).unwrap();
    let names = reader.names().unwrap();
    assert_eq!(names.len(), 3, "{names:?}");
    let npy = dir.path().join("logits.npy");
    let out = secc(&[
        "reference",
        models().join("mlp.onnx").to_str().unwrap(),
        "--input",
        models().join("inputs/mlp.json").to_str().unwrap(),
        "--output",
        npy.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let a: ndarray::ArrayD<f64> = ndarray_npy::read_npy(&npy).unwrap();
    assert_eq!(a.shape(), &[2, 4]);
}

#[test]
fn emit_ir_writes_one_dump_per_stage() {
    let dir = tempfile::tempdir().unwrap();
    compile_cli(
        &models().join("bert_opset14.onnx"),
        &dir.path().join("b.secc"),
        &[
            "--seq-len",
            "8",
            "--emit-ir",
            dir.path().join("ir").to_str().unwrap(),
        ],
    );
    let stages = secc::pipeline::STAGES
        .iter()
        .chain(secc::pipeline::SECFORMER_STAGES);
    for (i, stage) in stages.enumerate() {
        let stem = dir.path().join("ir").join(format!("{i:02}-{stage}"));
        let text = std::fs::read_to_string(stem.with_extension("ir")).unwrap();
        let ron = std::fs::read_to_string(stem.with_extension("ron")).unwrap();
        let back = secc_ir::dump::from_ron(&ron).unwrap();
        assert_eq!(secc_ir::print::print_program(&back), text, "{stage}");
    }
    let first = std::fs::read_to_string(dir.path().join("ir/00-frontend.ir")).unwrap();
    let last = std::fs::read_to_string(dir.path().join("ir/06-dce.ir")).unwrap();
    assert!(!first.contains("layer_norm") && last.contains("layer_norm"));
}

#[test]
fn artifact_round_trips_and_rejects_foreign_files() {
    let (program, weights) = compile_at(&models().join("mlp.onnx"), &BTreeMap::new());
    let low = secc::codegen::generate(&program).unwrap();
    let container = secc_ir::bytecode::Container {
        program,
        low,
        weights: Some(weights),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.secc");
    secc::artifact::save(&path, &container).unwrap();
    assert_eq!(secc::artifact::load(&path).unwrap(), container);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert!(secc::artifact::load(&path)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
    std::fs::write(&path, b"hello").unwrap();
    assert!(secc::artifact::load(&path)
        .unwrap_err()
        .to_string()
        .contains("not a secc program"));
}

#[test]
fn fixed_point_guard_rejects_a_huge_constant_meeting_a_secret() {
    use secc_ir::{Encoding, InputRole, Tensor};
    let mut p = Program::new("guard", 16);
    let x = p.add_input("x", InputRole::Client, vec![4], Encoding::Fixed);
    let c = p
        .push(
            Op::Const {
                value: Tensor::scalar(-3.4e38, Encoding::Fixed),
            },
            vec![],
            "big",
        )
        .unwrap();
    let y = p.push(Op::Add, vec![x, c], "the_add_node").unwrap();
    p.add_output("y", y);
    let err = secc::passes::fixed_point_guard::run(&p)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the_add_node") && err.contains("2^30"),
        "{err}"
    );
}
