//! Lowering tests on hand-built IR programs: the stage structure and the exact predicted cost,
//! derived by hand from the protocol definitions in `protocols` and `ir::lir`.

// Protocol tests lower whole programs between the parties, the client's prologue included.
use crate::codegen::generate_in_mpc as generate;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr};
use secc_ir::{Encoding, InputRole, Op, Program, Tensor};

fn dense(relu: bool) -> Program {
    let mut p = Program::new("dense", 16);
    let x = p.add_input("x", InputRole::Client, vec![2, 3], Encoding::Fixed);
    let w = p.add_param("w", vec![3, 4]);
    let b = p.add_param("b", vec![4]);
    let xw = p.push(Op::MatMul, vec![x, w], "/0/Gemm").unwrap();
    let mut y = p.push(Op::Add, vec![xw, b], "/0/Gemm").unwrap();
    if relu {
        y = p.push(Op::Relu, vec![y], "/1/Relu").unwrap();
    }
    p.add_output("y", y);
    p
}

#[test]
fn secret_matmul_truncates_in_two_rounds_with_exact_bytes() {
    let low = generate(&dense(false)).unwrap();
    let cost = low.predicted_cost();
    // 8 outputs: TruncOpen (P0<->P1 swap 8 each, P2 sends 8 + 24), TruncFinish (8 each way).
    assert_eq!(cost.rounds, 2);
    assert_eq!(cost.bytes_sent, [8 * 16, 8 * 16, 8 * 32]);
    assert_eq!(low.inputs[0].form, InputForm::Secret { frac_bits: 16 });
}

#[test]
fn relu_adds_eleven_rounds_in_sequence() {
    let low = generate(&dense(true)).unwrap();
    // matmul 2 + msb 8 + bit injection 2 + select 1.
    assert_eq!(low.predicted_cost().rounds, 13);
    let kinds: Vec<&'static str> = low
        .stages
        .iter()
        .flat_map(|s| s.comm.iter())
        .map(|c| match c {
            CommInstr::Reshare { .. } => "reshare",
            CommInstr::ReshareBool { .. } => "and",
            CommInstr::TruncOpen { .. } => "open",
            CommInstr::TruncFinish { .. } => "finish",
            CommInstr::FourierOpen { .. } => "fourier",
            #[allow(unreachable_patterns)]
            _ => "other",
        })
        .collect();
    // 1 carry-save AND, 1 generate AND, 5 levels with two ANDs and a last level with one.
    assert_eq!(
        kinds.iter().filter(|k| **k == "and").count(),
        1 + 1 + 5 * 2 + 1
    );
    assert_eq!(kinds.iter().filter(|k| **k == "open").count(), 1);
}

#[test]
fn independent_products_share_rounds() {
    // Three projections of the same input, as Q/K/V: still two rounds in all.
    let mut p = Program::new("qkv", 16);
    let x = p.add_input("x", InputRole::Client, vec![4, 8], Encoding::Fixed);
    for name in ["q", "k", "v"] {
        let w = p.add_param(name, vec![8, 8]);
        let y = p.push(Op::MatMul, vec![x, w], name).unwrap();
        p.add_output(name, y);
    }
    let low = generate(&p).unwrap();
    assert_eq!(low.predicted_cost().rounds, 2);
    assert_eq!(low.stages[0].comm.len(), 3);
}

fn scalar(p: &mut Program, value: f64, name: &str) -> secc_ir::ValueId {
    p.push(
        Op::Const {
            value: Tensor::scalar(value, Encoding::Fixed),
        },
        vec![],
        name,
    )
    .unwrap()
}

#[test]
fn integer_and_power_of_two_constants_multiply_without_truncation() {
    let mut p = Program::new("scale", 16);
    let x = p.add_input("x", InputRole::Client, vec![5], Encoding::Fixed);
    let three = scalar(&mut p, 3.0, "c");
    let eighth = scalar(&mut p, 0.125, "e");
    let tenth = scalar(&mut p, 0.1, "t");
    let y = p.push(Op::Mul, vec![x, three], "m3").unwrap();
    let z = p.push(Op::Mul, vec![y, eighth], "m8").unwrap();
    let w = p.push(Op::Mul, vec![z, tenth], "m10").unwrap();
    p.add_output("w", w);
    let low = generate(&p).unwrap();
    // Only the multiplication by 0.1 needs a truncation (two rounds); 3 is exact and 1/8 is
    // the same share read three bits finer.
    assert_eq!(low.predicted_cost().rounds, 2);
    let sources: Vec<&String> = low
        .stages
        .iter()
        .flat_map(|s| s.comm_sources.iter())
        .collect();
    assert!(sources.iter().all(|s| s.ends_with("@ m10")), "{sources:?}");
    // The result is back at the program's scale.
    assert_eq!(low.outputs[0].frac_bits, 16);
}

#[test]
fn token_ids_become_one_hot_inputs_and_embeddings_need_one_reshare() {
    let mut p = Program::new("embed", 16);
    let ids = p.add_input("input_ids", InputRole::Client, vec![1, 6], Encoding::Int);
    let table = p.add_param("word_embeddings", vec![50, 8]);
    let e = p
        .push(Op::Embedding, vec![table, ids], "/embeddings/Gather")
        .unwrap();
    p.add_output("e", e);
    let low = generate(&p).unwrap();
    assert_eq!(low.inputs[0].form, InputForm::OneHot { vocab: 50 });
    let cost = low.predicted_cost();
    assert_eq!(cost.rounds, 1);
    assert_eq!(cost.bytes_sent, [6 * 8 * 8; 3]);
    let loads_one_hot = low.stages[0].local.iter().any(|i| {
        matches!(i, LocalInstr::LoadInput { dst, .. } if low.regs[dst.0 as usize].shape == vec![1, 6, 50])
    });
    assert!(loads_one_hot);
}

#[test]
fn secret_division_is_refused_naming_the_node() {
    let mut p = Program::new("div", 16);
    let x = p.add_input("x", InputRole::Client, vec![2], Encoding::Fixed);
    let y = p.add_param("y", vec![2]);
    let d = p.push(Op::Div, vec![x, y], "/layer/Div_7").unwrap();
    p.add_output("d", d);
    let err = generate(&p).unwrap_err().to_string();
    assert!(err.contains("/layer/Div_7") && err.contains("div"), "{err}");
}

#[test]
fn every_register_is_written_before_it_is_read() {
    let low = generate(&dense(true)).unwrap();
    let mut written = vec![false; low.regs.len()];
    for stage in &low.stages {
        for local in &stage.local {
            for r in local.reads() {
                assert!(
                    written[r.0 as usize],
                    "{local:?} reads {r:?} before it is written"
                );
            }
            assert!(!std::mem::replace(
                &mut written[local.dst().0 as usize],
                true
            ));
        }
        for step in &stage.comm {
            assert!(written[step.src().0 as usize]);
        }
        for step in &stage.comm {
            assert!(!std::mem::replace(
                &mut written[step.dst().0 as usize],
                true
            ));
        }
    }
    for out in &low.outputs {
        assert!(written[out.reg.0 as usize]);
    }
}

#[test]
fn where_with_a_scalar_public_branch_lowers_and_runs() {
    let mut p = Program::new("where", 16);
    let x = p.add_input("x", InputRole::Client, vec![2, 3], Encoding::Fixed);
    let mask = p.add_input(
        "attention_mask",
        InputRole::ClientPublic,
        vec![1, 3],
        Encoding::Bool,
    );
    let zero = scalar(&mut p, 0.25, "zero");
    let y = p.push(Op::Where, vec![mask, x, zero], "where").unwrap();
    p.add_output("y", y);
    let low = generate(&p).unwrap();
    let inputs: std::collections::HashMap<String, ndarray::ArrayD<f64>> = [
        (
            "x".to_string(),
            ndarray::ArrayD::from_shape_vec(vec![2, 3], vec![1.0, -2.0, 3.5, 0.5, 7.0, -1.0])
                .unwrap(),
        ),
        (
            "attention_mask".to_string(),
            ndarray::ArrayD::from_shape_vec(vec![1, 3], vec![1.0, 0.0, 1.0]).unwrap(),
        ),
    ]
    .into();
    let report = secc_runtime::run_local(&low, &[], &inputs).unwrap();
    assert_eq!(
        report.outputs[0].data,
        vec![1.0, 0.25, 3.5, 0.5, 0.25, -1.0]
    );
}

#[test]
fn what_reads_no_parameter_is_the_clients_prologue() {
    // y = where(mask, x, 0.25) reads only the client's inputs: the client computes it and the
    // parties have nothing to do; z = y * w reads a parameter, so y is sent (secret: it derives
    // from the secret x) and z is the parties'.
    let mut p = Program::new("prologue", 16);
    let x = p.add_input("x", InputRole::Client, vec![1, 3], Encoding::Fixed);
    let mask = p.add_input("mask", InputRole::ClientPublic, vec![1, 3], Encoding::Bool);
    let quarter = scalar(&mut p, 0.25, "quarter");
    let y = p.push(Op::Where, vec![mask, x, quarter], "where").unwrap();
    let w = p.add_param("w", vec![1, 3]);
    let z = p.push(Op::Mul, vec![y, w], "mul").unwrap();
    p.add_output("y", y);
    p.add_output("z", z);
    let low = crate::codegen::generate(&p).unwrap();
    assert_eq!(low.inputs.len(), 1);
    assert_eq!(low.inputs[0].name, "where");
    assert_eq!(low.inputs[0].form, InputForm::Secret { frac_bits: 16 });
    let names: Vec<&str> = low.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["z"]);

    let inputs: std::collections::HashMap<String, ndarray::ArrayD<f64>> = [
        (
            "x".to_string(),
            ndarray::ArrayD::from_shape_vec(vec![1, 3], vec![1.0, -2.0, 3.5]).unwrap(),
        ),
        (
            "mask".to_string(),
            ndarray::ArrayD::from_shape_vec(vec![1, 3], vec![1.0, 0.0, 1.0]).unwrap(),
        ),
    ]
    .into();
    let prologue = secc_runtime::run_prologue(&p, &inputs).unwrap();
    let weights = [Tensor::new(
        vec![1, 3],
        Encoding::Fixed,
        vec![2.0, 4.0, -1.0],
    )];
    let report = secc_runtime::run_local(&low, &weights, &prologue.sends).unwrap();
    let outputs = secc_runtime::merge_outputs(&p, report.outputs, &prologue).unwrap();
    assert_eq!(outputs[0].name, "y");
    assert_eq!(outputs[0].data, vec![1.0, 0.25, 3.5]);
    // A secret product: its truncation may be off by one unit in the last place.
    for (got, want) in outputs[1].data.iter().zip([2.0, 1.0, -3.5]) {
        assert!((got - want).abs() <= 2.0 / 65536.0, "{got} vs {want}");
    }
}
