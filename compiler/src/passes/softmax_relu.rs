//! Substitution `--softmax relu`: `softmax[axis](x, bias)` becomes
//! `relu(x + b) / (sum_axis relu(x + b) + EPS)` on the entries the public bias keeps
//! (b > `MASKED_BIAS`), and 0 on masked entries, for models fine-tuned with this "2ReLU"
//! attention to be cheap in MPC (one comparison per score instead of exp and max).
//!
//! Emitted from existing IR ops, handling the mask as 2Quad does: `keep = bias > MASKED_BIAS`
//! and `finite = where(keep, bias, 0)` are public (every party computes them in the clear, once
//! per bias, shared by the layers), so the -3.4e38 of a masked entry never meets the fixed-point
//! shares; `relu(x + finite)` is the one comparison; `where(keep, ., 0)` is a local product by
//! the public 0/1 mask.
//!
//! The division by the row sum is a division by a secret, left as `div`: secformer mode
//! calibrates its divisor and turns it into `goldschmidt_div` (passes/calibrate.rs,
//! passes/goldschmidt_div.rs); another mode must lower secret division itself.
//!
//! The row sum is 0 when every kept score of a row is negative, so [`EPS`] (2^-10, exact in
//! fixed point from 10 fraction bits) is added to it: such a row comes out as zeros instead of
//! 0/0 (its numerator is exactly 0, so whatever the reciprocal of EPS comes to, the quotient is
//! 0; calibration therefore takes the divisor's range only where the numerator is not zero, and
//! these rows do not widen it). On other rows EPS shrinks the probabilities by the factor
//! s / (s + EPS), a relative error of at most EPS / s (below 1e-3 once the row sum s reaches 1).

use super::rewrite;
use crate::error::PassError;
use secc_ir::op::MASKED_BIAS;
use secc_ir::{CompareKind, Encoding, Op, Program, Tensor, ValueId};
use std::collections::HashMap;

pub const NAME: &str = "softmax-relu";

/// Added to every row sum before the division (see the module documentation).
pub const EPS: f64 = 1.0 / 1024.0;

pub fn run(program: &Program) -> Result<Program, PassError> {
    // Per bias (every layer shares the attention mask's): its public (zero, keep, finite).
    let mut masks: HashMap<ValueId, (ValueId, ValueId, ValueId)> = HashMap::new();
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let Op::Softmax { axis } = node.op else {
            return Ok(None);
        };
        let origin = node.origin.clone();
        let x = rb.mapped(node.args[0])?;
        let bias = node.args.get(1).map(|&b| rb.mapped(b)).transpose()?;
        let scalar = |value| Op::Const {
            value: Tensor::scalar(value, Encoding::Fixed),
        };
        let kept = match bias {
            Some(bias) => {
                let (zero, keep, finite) = match masks.get(&bias) {
                    Some(&mask) => mask,
                    None => {
                        let zero = rb.emit(scalar(0.0), vec![], &origin)?;
                        let floor = rb.emit(scalar(MASKED_BIAS), vec![], &origin)?;
                        let greater = Op::Compare {
                            kind: CompareKind::Greater,
                        };
                        let keep = rb.emit(greater, vec![bias, floor], &origin)?;
                        let finite = rb.emit(Op::Where, vec![keep, bias, zero], &origin)?;
                        *masks.entry(bias).or_insert((zero, keep, finite))
                    }
                };
                let shifted = rb.emit(Op::Add, vec![x, finite], &origin)?;
                let relu = rb.emit(Op::Relu, vec![shifted], &origin)?;
                // The zero branch at the full shape: codegen's select gates a public branch at
                // the branch's shape.
                let shape = rb.new.ty(relu).shape.clone();
                let zeros = rb.emit(Op::Broadcast { shape }, vec![zero], &origin)?;
                rb.emit(Op::Where, vec![keep, relu, zeros], &origin)?
            }
            None => rb.emit(Op::Relu, vec![x], &origin)?,
        };
        let sum = rb.emit(
            Op::ReduceSum {
                axes: vec![axis],
                keep_dims: true,
            },
            vec![kept],
            &origin,
        )?;
        let eps = rb.emit(scalar(EPS), vec![], &origin)?;
        let divisor = rb.emit(Op::Add, vec![sum, eps], &origin)?;
        rb.emit(Op::Div, vec![kept, divisor], &origin).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use secc_ir::interp::evaluate;
    use secc_ir::{InputRole, Weights};
    use std::collections::HashMap;

    fn program(with_bias: bool) -> Program {
        let mut p = Program::new("sm", 16);
        let x = p.add_input("x", InputRole::Client, vec![3, 4], Encoding::Fixed);
        let mut args = vec![x];
        if with_bias {
            args.push(p.add_input("bias", InputRole::ClientPublic, vec![1, 4], Encoding::Fixed));
        }
        let y = p.push(Op::Softmax { axis: 1 }, args, "/softmax").unwrap();
        p.add_output("p", y);
        run(&p).unwrap()
    }

    fn eval(p: &Program, x: Vec<f64>, bias: Option<Vec<f64>>) -> Vec<f64> {
        let mut inputs = HashMap::from([(
            "x".to_string(),
            ArrayD::from_shape_vec(IxDyn(&[3, 4]), x).unwrap(),
        )]);
        if let Some(b) = bias {
            inputs.insert(
                "bias".into(),
                ArrayD::from_shape_vec(IxDyn(&[1, 4]), b).unwrap(),
            );
        }
        let out = evaluate(p, &Weights::default(), &inputs).unwrap();
        out[0].1.iter().copied().collect()
    }

    #[test]
    fn relu_normalised_with_the_mask_respected_and_negative_rows_zero() {
        let p = program(true);
        secc_ir::verify::verify(&p).unwrap();
        assert!(p.nodes.iter().all(|(_, n)| n.op.name() != "softmax"));
        let x = vec![
            1.0, 3.0, -2.0, 100.0, // last entry masked
            -1.0, -2.0, -3.0, 5.0, // every kept entry negative
            0.5, 0.5, 1.0, 0.0,
        ];
        let got = eval(&p, x, Some(vec![0.0, 0.0, 0.0, -3.4028235e38]));
        let s = |sum: f64| 1.0 / (sum + EPS);
        let want = [
            s(4.0),
            3.0 * s(4.0),
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.5 * s(2.0),
            0.5 * s(2.0),
            s(2.0),
            0.0,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn without_a_bias_every_entry_counts() {
        let p = program(false);
        let got = eval(
            &p,
            vec![1.0, -1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
            None,
        );
        assert!((got[3] - 2.0 / (4.0 + EPS)).abs() < 1e-12);
        assert_eq!(&got[4..8], &[0.0; 4]);
        assert!((got[8] - 1.0 / (4.0 + EPS)).abs() < 1e-12);
    }
}
