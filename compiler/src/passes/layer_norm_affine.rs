//! Substitution `--layernorm affine`: `layer_norm[eps](x, gamma, beta)` becomes
//! `(x - mean(x)) * gamma + beta` over the last axis, the centring and the affine transform
//! without the division by the standard deviation, for models fine-tuned that way to be cheap in
//! MPC (no inverse square root: the mean is local, the product by gamma one round). Built from
//! existing IR ops (`reduce_mean`, `sub`, `mul`, `add`), each keeping the layer norm's ONNX
//! origin, so the cost report charges them to it. `eps` no longer matters. This changes the
//! model's function: use it only on a model trained or fine-tuned without the normalisation.

use super::rewrite;
use crate::error::PassError;
use secc_ir::{Op, Program};

pub const NAME: &str = "layer-norm-affine";

pub fn run(program: &Program) -> Result<Program, PassError> {
    rewrite(program, NAME, |rb, v| {
        let node = &rb.old.nodes[v];
        let Op::LayerNorm { .. } = node.op else {
            return Ok(None);
        };
        let origin = node.origin.clone();
        let rank = rb.old.ty(node.args[0]).rank();
        let last = rb.old.ty(node.args[0]).shape[rank - 1];
        let [x, gamma, beta] = [0, 1, 2].map(|i| rb.mapped(node.args[i]));
        let (x, mut gamma, mut beta) = (x?, gamma?, beta?);
        // The op table accepts gamma and beta of any shape with `last` elements; as factors of
        // a broadcasting product they must be laid along the last axis.
        for p in [&mut gamma, &mut beta] {
            let shape = &rb.new.ty(*p).shape;
            let along_last = shape.len() <= rank
                && shape
                    .split_last()
                    .is_some_and(|(&d, rest)| d == last && rest.iter().all(|&r| r == 1));
            if !along_last {
                *p = rb.emit(Op::Reshape { shape: vec![last] }, vec![*p], &origin)?;
            }
        }
        let mean = rb.emit(
            Op::ReduceMean {
                axes: vec![rank - 1],
                keep_dims: true,
            },
            vec![x],
            &origin,
        )?;
        let centred = rb.emit(Op::Sub, vec![x, mean], &origin)?;
        let scaled = rb.emit(Op::Mul, vec![centred, gamma], &origin)?;
        rb.emit(Op::Add, vec![scaled, beta], &origin).map(Some)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use secc_ir::interp::evaluate;
    use secc_ir::{Encoding, InputRole, Tensor, Weights};
    use std::collections::HashMap;

    #[test]
    fn layer_norm_becomes_centring_and_affine() {
        let mut p = Program::new("ln", 16);
        let x = p.add_input("x", InputRole::Client, vec![2, 3], Encoding::Fixed);
        let g = p.add_param("gamma", vec![3]);
        let b = p.add_param("beta", vec![3, 1]);
        let y = p
            .push(Op::LayerNorm { eps: 1e-12 }, vec![x, g, b], "/ln")
            .unwrap();
        p.add_output("y", y);
        let q = run(&p).unwrap();
        secc_ir::verify::verify(&q).unwrap();
        let ops: Vec<_> = q.nodes.iter().map(|(_, n)| n.op.name()).collect();
        // gamma [3] is laid along the last axis already; beta [3, 1] is not.
        assert_eq!(
            ops,
            [
                "input",
                "param",
                "param",
                "reshape",
                "reduce_mean",
                "sub",
                "mul",
                "add"
            ]
        );
        let weights = Weights {
            tensors: vec![
                Tensor::new(vec![3], Encoding::Fixed, vec![1.0, 2.0, -1.0]),
                Tensor::new(vec![3, 1], Encoding::Fixed, vec![0.5, 0.0, 0.25]),
            ],
        };
        let input =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.0, 6.0, -3.0, 0.0, 0.0]).unwrap();
        let inputs = HashMap::from([("x".to_string(), input)]);
        let out = evaluate(&q, &weights, &inputs).unwrap();
        // Row means 3 and -1: centred rows [-2, -1, 3] and [-2, 1, 1].
        let want = [-1.5, -2.0, -2.75, -1.5, 2.0, -0.75];
        let got: Vec<f64> = out[0].1.iter().copied().collect();
        assert_eq!(got, want);
    }
}
