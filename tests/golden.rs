//! Golden snapshots (in golden/) of the printed IR of every fixture after the frontend pipeline,
//! at sequence length 8 and batch 1. A change shows up as a snapshot diff that must be reviewed
//! (`cargo insta review`); under CI=true insta fails on any unreviewed change.

use crate::common::*;
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions, Mode, ModeOptions};
use std::collections::BTreeMap;

fn printed(model: &str) -> String {
    printed_in(model, Mode::Exact)
}

fn printed_in(model: &str, mode: Mode) -> String {
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: 1,
            seq_len: 8,
            exact: BTreeMap::new(),
        },
        frac_bits: 16,
        emit_ir: None,
        mode: ModeOptions {
            mode,
            calibration: vec![],
        },
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

/// The BERT fixtures after secformer mode's passes: every softmax, GeLU, tanh and layer norm
/// replaced by its protocol node, with the deflation and iteration counts that calibration on
/// the synthetic samples chose.
#[test]
fn golden_secformer_ir_of_the_bert_fixtures() {
    for model in ["bert_opset14", "bert_opset17", "bert_cls_opset17"] {
        insta::with_settings!({
            snapshot_path => "../golden",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("secformer__{model}"), printed_in(model, Mode::Secformer));
        });
    }
}
