//! Golden snapshots (in golden/) of the printed IR of every fixture after the frontend pipeline,
//! at sequence length 8 and batch 1. A change shows up as a snapshot diff that must be reviewed
//! (`cargo insta review`); under CI=true insta fails on any unreviewed change.

use crate::common::*;
use secc::frontend::ShapeRequest;
use secc::pipeline::{compile, CompileOptions, Mode, ModeOptions, Substitutions};
use std::collections::BTreeMap;

fn printed(model: &str) -> String {
    printed_in(model, Mode::Exact)
}

fn printed_in(model: &str, mode: Mode) -> String {
    printed_with(model, mode, Substitutions::default())
}

fn printed_with(model: &str, mode: Mode, substitutions: Substitutions) -> String {
    let options = CompileOptions {
        shapes: ShapeRequest {
            batch: 1,
            seq_len: 8,
            exact: BTreeMap::new(),
        },
        frac_bits: 16,
        public_inputs: vec![],
        emit_ir: None,
        weights: Default::default(),
        mode: ModeOptions {
            mode,
            calibration: vec![],
            substitutions,
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

/// Each MPC-friendly substitution on the BERT fixture, in secformer mode: `--gelu relu` (no
/// sec_gelu left, relu instead), `--layernorm affine` (reduce_mean / sub / mul / add, no
/// sec_layer_norm), `--softmax relu` (the public keep mask, relu, the masked zeros, the row
/// sum plus 2^-10, and the division become puma_reciprocal: the row sums' range is too wide for
/// a Goldschmidt division in fixed point).
#[test]
fn golden_substitutions_of_the_bert_fixture() {
    let none = Substitutions::default();
    for (name, substitutions) in [
        (
            "gelu_relu",
            Substitutions {
                gelu_relu: true,
                ..none
            },
        ),
        (
            "layernorm_affine",
            Substitutions {
                layer_norm_affine: true,
                ..none
            },
        ),
        (
            "softmax_relu",
            Substitutions {
                softmax_relu: true,
                ..none
            },
        ),
    ] {
        insta::with_settings!({
            snapshot_path => "../golden",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(
                format!("{name}__bert_opset17"),
                printed_with("bert_opset17", Mode::Secformer, substitutions)
            );
        });
    }
}

/// The BERT fixture after PUMA mode's passes: every secret softmax a puma_softmax (the
/// reciprocal's iterations from the static row-sum range [1, n]), every GeLU a puma_gelu, every
/// layer norm a puma_layer_norm (range reduction, no calibration) and the pooler's tanh sec_tanh.
#[test]
fn golden_puma_ir_of_the_bert_fixture() {
    insta::with_settings!({
        snapshot_path => "../golden",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("puma__bert_opset17", printed_in("bert_opset17", Mode::Puma));
    });
}
