//! What `secc inspect --bytecode` prints: the low-level program of a compiled file in a readable
//! form.
//!
//! Layout: a header with the program hash and the predicted cost, the client inputs, the model
//! owner's parameters, the public constants and the outputs, then one block per stage: its local
//! instructions, then its communication steps (which all travel in one round), each step with the
//! IR operator and ONNX node it serves. Every register is shown with its kind, shape and scale
//! where it is written (`r12: Rss[2,32]@16`), so a reader can follow shares through the program
//! without the register table.

use secc_ir::bytecode::Container;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr, LowProgram, Reg, StructOp};
use std::fmt::Write;

/// `r12`.
fn reg(r: Reg) -> String {
    format!("r{}", r.0)
}

/// `r12: Rss[2,32]@16` (the scale is omitted for public f64 registers).
fn typed(program: &LowProgram, r: Reg) -> String {
    let decl = &program.regs[r.0 as usize];
    let dims: Vec<String> = decl.shape.iter().map(|d| d.to_string()).collect();
    let scale = match decl.kind {
        secc_ir::lir::RegKind::Public => String::new(),
        _ => format!("@{}", decl.frac_bits),
    };
    format!("r{}: {:?}[{}]{scale}", r.0, decl.kind, dims.join(","))
}

fn regs(list: &[Reg]) -> String {
    list.iter().map(|&r| reg(r)).collect::<Vec<_>>().join(", ")
}

fn struct_op(op: &StructOp) -> String {
    match op {
        StructOp::Reshape { shape } => format!("reshape {shape:?}"),
        StructOp::Transpose { perm } => format!("transpose {perm:?}"),
        StructOp::Slice { axis, start, end } => format!("slice axis {axis}, {start}..{end}"),
        StructOp::Broadcast { shape } => format!("broadcast {shape:?}"),
        StructOp::Gather {
            axis,
            indices,
            indices_shape,
        } => {
            let shown = if indices.len() <= 8 {
                format!("{indices:?}")
            } else {
                format!("{} indices", indices.len())
            };
            format!("gather axis {axis}, {shown} as {indices_shape:?}")
        }
    }
}

/// The right-hand side of a local instruction.
fn local_rhs(program: &LowProgram, instr: &LocalInstr) -> String {
    use LocalInstr::*;
    match instr {
        LoadInput { input, .. } => {
            let name = program
                .inputs
                .get(*input as usize)
                .map_or("?", |i| i.name.as_str());
            format!("load_input {input} ({name})")
        }
        LoadParam { param, .. } => {
            let name = program
                .params
                .get(*param as usize)
                .map_or("?", |p| p.name.as_str());
            format!("load_param {param} ({name})")
        }
        LoadConst { index, .. } => format!("load_const c{index}"),
        PublicOp { op, args, .. } => {
            let attrs = secc_ir::print::attributes(op);
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!("[{attrs}]")
            };
            format!("public {}{attrs} {}", op.name(), regs(args))
        }
        Encode { src, frac_bits, .. } => format!("encode {} @{frac_bits}", reg(*src)),
        Add { a, b, .. } => format!("add {}, {}", reg(*a), reg(*b)),
        Sub { a, b, .. } => format!("sub {}, {}", reg(*a), reg(*b)),
        Neg { a, .. } => format!("neg {}", reg(*a)),
        MulPublic { a, b, .. } => format!("mul_public {}, {}", reg(*a), reg(*b)),
        MatMulPublic { a, b, .. } => format!("matmul_public {}, {}", reg(*a), reg(*b)),
        MulInt { a, k, .. } => format!("mul_int {}, {k}", reg(*a)),
        MulShares { a, b, .. } => format!("mul_shares {}, {}", reg(*a), reg(*b)),
        MatMulShares { a, b, .. } => format!("matmul_shares {}, {}", reg(*a), reg(*b)),
        Struct { src, op, .. } => format!("{} {}", struct_op(op), reg(*src)),
        Concat { srcs, axis, .. } => format!("concat axis {axis} {}", regs(srcs)),
        ReduceSum {
            src,
            axes,
            keep_dims,
            ..
        } => format!(
            "reduce_sum {axes:?}{} {}",
            if *keep_dims { ", keep" } else { "" },
            reg(*src)
        ),
        ComponentToBool { src, component, .. } => {
            format!("component_to_bool {}, component {component}", reg(*src))
        }
        BoolXor { a, b, .. } => format!("bool_xor {}, {}", reg(*a), reg(*b)),
        BoolXorPublic { a, word, .. } => format!("bool_xor_public {}, {word:#x}", reg(*a)),
        BoolAndLocal { a, b, .. } => format!("bool_and_local {}, {}", reg(*a), reg(*b)),
        BoolShl { a, bits, .. } => format!("bool_shl {}, {bits}", reg(*a)),
        BoolBit { a, bit, .. } => format!("bool_bit {}, {bit}", reg(*a)),
        BoolExtract { a, mask, .. } => format!("bool_extract {}, {mask:#x}", reg(*a)),
        BitComponentToArith { src, component, .. } => {
            format!(
                "bit_component_to_arith {}, component {component}",
                reg(*src)
            )
        }
        Rescale { src, .. } => format!("rescale {}", reg(*src)),
    }
}

fn comm_rhs(instr: &CommInstr) -> String {
    match instr {
        CommInstr::Reshare { src, .. } => format!("reshare {}", reg(*src)),
        CommInstr::ReshareBool { src, .. } => format!("reshare_bool {}", reg(*src)),
        CommInstr::ReshareBoolPacked { src, width, .. } => {
            format!("reshare_bool {}, packed {width} bits", reg(*src))
        }
        CommInstr::TruncOpen {
            src, shift, dealer, ..
        } => {
            format!("trunc_open {}, shift {shift}, dealer P{dealer}", reg(*src))
        }
        CommInstr::TruncFinish { src, dealer, .. } => {
            format!("trunc_finish {}, dealer P{dealer}", reg(*src))
        }
        CommInstr::FourierOpen {
            src,
            period_bits,
            coefficients,
            dealer,
            ..
        } => format!(
            "fourier_open {}, period 2^{period_bits}, {} terms, dealer P{dealer}",
            reg(*src),
            coefficients.len()
        ),
    }
}

/// Bytes each party sends for one step, as `P0/P1/P2`.
fn step_bytes(program: &LowProgram, step: &CommInstr) -> String {
    let sent: Vec<String> = (0..3)
        .map(|from| {
            let elements: u64 = (0..3)
                .filter(|&to| to != from)
                .map(|to| program.step_elements(step, from, to))
                .sum();
            (elements * secc_ir::lir::ELEMENT_BYTES).to_string()
        })
        .collect();
    sent.join("/")
}

/// The whole low-level program of `container` as text.
pub fn render(container: &Container) -> String {
    let program = &container.low;
    let cost = program.predicted_cost();
    let rounds_total = cost.rounds;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "low-level program \"{}\": frac_bits {}, {} registers, {} stages, hash {}",
        container.program.name,
        program.frac_bits,
        program.regs.len(),
        program.stages.len(),
        container.program_hash()
    );
    let _ = writeln!(
        s,
        "predicted: {rounds_total} rounds; bytes sent by P0/P1/P2: {}/{}/{}",
        cost.bytes_sent[0], cost.bytes_sent[1], cost.bytes_sent[2]
    );
    s.push_str("inputs (from the client):\n");
    for (i, input) in program.inputs.iter().enumerate() {
        let form = match &input.form {
            InputForm::Secret { frac_bits } => format!("secret-shared @{frac_bits}"),
            InputForm::Public => "public".to_string(),
            InputForm::OneHot { vocab } => format!("secret-shared one-hot over {vocab} ids"),
        };
        let _ = writeln!(s, "  in{i} {} {:?}: {form}", input.name, input.shape);
    }
    s.push_str("params (shared once by the model owner):\n");
    for (i, p) in program.params.iter().enumerate() {
        let _ = writeln!(s, "  p{i} {} {:?} @{}", p.name, p.shape, p.frac_bits);
    }
    if !program.consts.is_empty() {
        s.push_str("consts (public):\n");
        for (i, c) in program.consts.iter().enumerate() {
            let value = match c.uniform_value() {
                Some(v) if c.len() == 1 => format!("{v}"),
                Some(v) => format!("splat {v}"),
                None if c.len() <= 8 => format!("{:?}", c.data),
                None => format!("{} values", c.len()),
            };
            let _ = writeln!(s, "  c{i} {:?}: {value}", c.shape);
        }
    }
    s.push_str("outputs (reconstructed by the client only):\n");
    for o in &program.outputs {
        let _ = writeln!(s, "  {} = {}", o.name, typed(program, o.reg));
    }
    let mut round = 0;
    for (k, stage) in program.stages.iter().enumerate() {
        let _ = writeln!(s, "stage {k}:");
        for instr in &stage.local {
            let _ = writeln!(
                s,
                "  {} = {}",
                typed(program, instr.dst()),
                local_rhs(program, instr)
            );
        }
        if !stage.comm.is_empty() {
            round += 1;
            let _ = writeln!(
                s,
                "  -- round {round}: {} step(s), one message per peer",
                stage.comm.len()
            );
            for (j, step) in stage.comm.iter().enumerate() {
                let source = stage.comm_sources.get(j).map_or("", String::as_str);
                let _ = writeln!(
                    s,
                    "  {} = {}  # bytes P0/P1/P2 {}; {source}",
                    typed(program, step.dst()),
                    comm_rhs(step),
                    step_bytes(program, step)
                );
            }
        }
    }
    s
}
