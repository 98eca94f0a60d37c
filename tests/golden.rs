//! Golden snapshots (in golden/) of the printed IR of every fixture after the frontend pipeline,
//! at sequence length 8 and batch 1. A change shows up as a snapshot diff that must be reviewed
//! (`cargo insta review`); under CI=true insta fails on any unreviewed change.

use crate::common::*;
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions};
use std::collections::BTreeMap;

fn printed(model: &str) -> String {
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: 1,
            seq_len: 8,
            exact: BTreeMap::new(),
        },
        frac_bits: 16,
        emit_ir: None,
    };
    let (program, _) = compile(&models().join(format!("{model}.onnx")), &options).unwrap();
    secc_ir::print::print_program(&program)
}

#[test]
fn golden_ir_of_every_fixture() {
    for model in [
        "bert_opset14",
        "bert_opset17",
        "bert_cls_opset14",
        "bert_cls_opset17",
        "minilm_tp_opset17",
        "minilm_optimum_opset17",
        "mlp",
    ] {
        insta::with_settings!({
            snapshot_path => "../golden",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("ir__{model}"), printed(model));
        });
    }
}
