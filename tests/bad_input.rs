//! Bad input (brief §7): each case exits non-zero with a message naming the node, input or file,
//! and leaves no output file. The small ONNX files are written by the test itself with tract's
//! protobuf types, so no Python is needed.

use crate::common::*;
use std::path::Path;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::{dimension::Value as Dim, Dimension};

fn value_info(name: &str, dims: Option<Vec<Dim>>) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1, // FLOAT
                shape: dims.map(|dims| pb::TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|d| Dimension {
                            value: Some(d),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A one-node model `y = op_type(x)` with node name `node_name`.
fn one_node_model(path: &Path, op_type: &str, node_name: &str, dims: Option<Vec<Dim>>) {
    let graph = pb::GraphProto {
        name: "tiny".into(),
        node: vec![pb::NodeProto {
            name: node_name.into(),
            op_type: op_type.into(),
            input: vec!["x".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        input: vec![value_info("x", dims)],
        output: vec![value_info("y", None)],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    };
    std::fs::write(path, prost::Message::encode_to_vec(&model)).unwrap();
}

/// Runs `secc compile MODEL -o OUT extra..`, expects failure mentioning every `needle`, and no OUT.
fn expect_compile_failure(model: &Path, extra: &[&str], needles: &[&str]) {
    let out_path = model.with_extension("secc");
    let mut args = vec![
        "compile",
        model.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = secc(&args);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "compile of {} succeeded",
        model.display()
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "'{needle}' not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out_path.exists(), "a partial output was left");
    let leftovers: Vec<_> = std::fs::read_dir(model.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| {
            !n.to_string_lossy().ends_with(".onnx") && !n.to_string_lossy().ends_with(".txt")
        })
        .collect();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
}

#[test]
fn unsupported_op_names_node_op_type_and_supported_ops() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("sin.onnx");
    one_node_model(
        &model,
        "Sin",
        "my_sine_node",
        Some(vec![Dim::DimValue(1), Dim::DimValue(4)]),
    );
    expect_compile_failure(
        &model,
        &[],
        &[
            "my_sine_node",
            "Sin",
            "supported ops:",
            "LayerNormalization",
            "MatMul",
        ],
    );
}

#[test]
fn op_unknown_to_tract_is_reported_as_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("foo.onnx");
    one_node_model(
        &model,
        "NoSuchOp",
        "weird_node",
        Some(vec![Dim::DimValue(1), Dim::DimValue(4)]),
    );
    expect_compile_failure(&model, &[], &["weird_node", "NoSuchOp", "supported ops:"]);
}

#[test]
fn a_file_that_is_not_onnx_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("notes.onnx");
    std::fs::write(&model, "this is a text file, not a protobuf\n").unwrap();
    expect_compile_failure(&model, &[], &["notes.onnx", "is not an ONNX model"]);
    let missing = dir.path().join("absent.onnx");
    expect_compile_failure(&missing, &[], &["absent.onnx"]);
}

#[test]
fn an_input_without_a_shape_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("noshape.onnx");
    one_node_model(&model, "Relu", "relu", None);
    expect_compile_failure(&model, &[], &["input 'x'", "declares no shape"]);
}

#[test]
fn a_non_concrete_inner_dimension_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("symbolic.onnx");
    let dims = vec![
        Dim::DimParam("batch".into()),
        Dim::DimParam("seq".into()),
        Dim::DimParam("width".into()),
    ];
    one_node_model(&model, "Relu", "relu", Some(dims));
    expect_compile_failure(&model, &[], &["input 'x'", "dimension 2", "not concrete"]);
}

#[test]
fn seq_len_beyond_the_position_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bert.onnx");
    std::fs::copy(models().join("bert_opset17.onnx"), &model).unwrap();
    expect_compile_failure(
        &model,
        &["--seq-len", "65"],
        &["--seq-len 65", "position_embeddings", "64 positions"],
    );
    // The largest length the table allows compiles.
    let out = secc(&[
        "compile",
        model.to_str().unwrap(),
        "--seq-len",
        "64",
        "-o",
        dir.path().join("ok.bin").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn reference_with_a_misshaped_or_incomplete_input_file_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"input_ids": [[1, 2, 3]]}"#).unwrap();
    let out_path = dir.path().join("out.npy");
    let out = secc(&[
        "reference",
        models().join("bert_cls_opset17.onnx").to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("attention_mask"), "{}", stderr(&out));
    assert!(!out_path.exists());
}
