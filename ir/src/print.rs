//! The text form of a program, used by `--emit-ir`, `secc inspect --ir` and the golden snapshots.
//!
//! One line per node: `%id = name[attributes] args : type  # origin`. Operator names are those of
//! [`Op::name`]; large constants are summarised rather than printed in full.

use crate::op::Op;
use crate::program::Program;
use std::fmt::Write;

/// Attributes of an operator in the printed form (empty when it has none).
pub fn attributes(op: &Op) -> String {
    match op {
        Op::Input { index } | Op::Param { index } => format!("{index}"),
        Op::Const { value } => match value.uniform_value() {
            Some(v) if value.len() == 1 => format!("{v}"),
            Some(v) => format!("splat {v}"),
            None if value.len() <= 8 => format!("{:?}", value.data),
            None => format!("{} values", value.len()),
        },
        Op::Pow { exponent } => format!("{exponent}"),
        Op::Gelu { kind } => format!("{kind:?}").to_lowercase(),
        Op::Clip { min, max } => format!("{min:?}, {max:?}"),
        Op::Cast { to } => format!("{to}"),
        Op::Compare { kind } => format!("{kind:?}").to_lowercase(),
        Op::Reshape { shape } | Op::Broadcast { shape } => format!("{shape:?}"),
        Op::Transpose { perm } => format!("{perm:?}"),
        Op::Slice { axis, start, end } => format!("axis {axis}, {start}..{end}"),
        Op::Concat { axis }
        | Op::Gather { axis }
        | Op::GatherElements { axis }
        | Op::Softmax { axis } => format!("axis {axis}"),
        Op::ReduceSum { axes, keep_dims }
        | Op::ReduceMean { axes, keep_dims }
        | Op::ReduceMax { axes, keep_dims } => {
            format!("{axes:?}{}", if *keep_dims { ", keep" } else { "" })
        }
        Op::CumSum {
            axis,
            exclusive,
            reverse,
        } => format!(
            "axis {axis}{}{}",
            if *exclusive { ", exclusive" } else { "" },
            if *reverse { ", reverse" } else { "" }
        ),
        Op::LayerNorm { eps } => format!("eps {eps:e}"),
        Op::Quad2Softmax {
            axis,
            shift,
            deflation,
            iterations,
        } => format!("axis {axis}, shift {shift}, deflation {deflation}, {iterations} iterations"),
        Op::SecLayerNorm {
            eps,
            deflation,
            iterations,
        } => format!("eps {eps:e}, deflation {deflation}, {iterations} iterations"),
        Op::GoldschmidtDiv {
            deflation,
            iterations,
        } => format!("deflation {deflation}, {iterations} iterations"),
        Op::PumaSoftmax {
            axis,
            iterations,
            exp_squarings,
        } => format!("axis {axis}, {iterations} iterations, exp squarings {exp_squarings}"),
        Op::PumaLayerNorm {
            eps,
            iterations,
            octaves,
        } => format!(
            "eps {eps:e}, {iterations} iterations, octaves {}..={}",
            octaves.lo, octaves.hi
        ),
        Op::PumaRsqrt {
            iterations,
            octaves,
        }
        | Op::PumaSqrt {
            iterations,
            octaves,
        }
        | Op::PumaReciprocal {
            iterations,
            octaves,
        } => format!(
            "{iterations} iterations, octaves {}..={}",
            octaves.lo, octaves.hi
        ),
        Op::SecGelu | Op::SecTanh | Op::PumaGelu | Op::PumaTanh => String::new(),
        Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::Neg
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Exp
        | Op::Erf
        | Op::Tanh
        | Op::Relu
        | Op::Where
        | Op::Embedding
        | Op::MatMul => String::new(),
    }
}

/// Prints the whole program.
pub fn print_program(program: &Program) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "program \"{}\" frac_bits={}",
        program.name, program.frac_bits
    );
    for (v, node) in program.nodes.iter() {
        let attrs = attributes(&node.op);
        let _ = write!(s, "{v} = {}", node.op.name());
        if !attrs.is_empty() {
            let _ = write!(s, "[{attrs}]");
        }
        for (i, a) in node.args.iter().enumerate() {
            let _ = write!(s, "{}{a}", if i == 0 { " " } else { ", " });
        }
        let _ = writeln!(s, " : {}  # {}", node.ty, node.origin);
    }
    for out in &program.outputs {
        let _ = writeln!(s, "output \"{}\" = {}", out.name, out.value);
    }
    s
}
