//! A BERT encoder built directly as an IR program (no ONNX), with seeded random weights, in the
//! shape conventions of the ONNX frontend (2-D projections, `[batch, heads, seq, head_dim]`
//! attention, the public mask bias as the softmax's second argument) and with node origins that
//! look like the ONNX node paths of a `torch.onnx.export` of `BertModel`, so that the cost report
//! groups by layer (`/encoder/layer.3/attention/self/query/MatMul`).

use secc_ir::{Encoding, GeluKind, InputRole, Op, Program, Tensor, ValueId, Weights};

/// The encoder's shape. The defaults are BERT-base at 128 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BertShape {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub seq: usize,
    pub batch: usize,
}

impl Default for BertShape {
    fn default() -> Self {
        BertShape {
            layers: 12,
            hidden: 768,
            heads: 12,
            intermediate: 3072,
            vocab: 30522,
            seq: 128,
            batch: 1,
        }
    }
}

impl BertShape {
    /// Why the shape cannot be built, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("inter", self.intermediate),
            ("vocab", self.vocab),
            ("seq", self.seq),
            ("batch", self.batch),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("--{name} must be positive"));
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(format!(
                "--hidden {} is not a multiple of --heads {}",
                self.hidden, self.heads
            ));
        }
        Ok(())
    }

    /// Rows of the position table (BERT's 512, or the sequence length if longer).
    pub fn max_positions(&self) -> usize {
        self.seq.max(512)
    }
}

/// Standard deviation of BERT's initialiser for weight matrices and embeddings.
pub const INIT_STD: f64 = 0.02;

/// BERT's LayerNorm epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-12;

/// SplitMix64: a tiny seeded generator, plenty for random weights.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// `n` normal samples with standard deviation `std` (Box-Muller), from `seed`.
pub fn normal(n: usize, std: f64, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = (-2.0 * rng.unit().ln()).sqrt() * std;
        let t = std::f64::consts::TAU * rng.unit();
        out.push(r * t.cos());
        if out.len() < n {
            out.push(r * t.sin());
        }
    }
    out
}

/// Builds the program and its weights. Node ids of the program are what `builder` returns.
struct Builder {
    program: Program,
    weights: Vec<Tensor>,
    seed: u64,
}

impl Builder {
    fn param(&mut self, name: &str, shape: Vec<usize>, init: Init) -> ValueId {
        let n = shape.iter().product();
        let index = self.weights.len() as u64;
        let data = match init {
            Init::Normal => normal(n, INIT_STD, self.seed ^ index.wrapping_mul(0x2545_f491)),
            Init::Fill(v) => vec![v; n],
        };
        self.weights
            .push(Tensor::new(shape.clone(), Encoding::Fixed, data));
        self.program.add_param(name, shape)
    }

    fn push(&mut self, op: Op, args: Vec<ValueId>, origin: &str) -> ValueId {
        self.program
            .push(op, args, origin)
            .unwrap_or_else(|e| panic!("bench model: {origin}: {e}"))
    }

    fn constant(
        &mut self,
        shape: Vec<usize>,
        encoding: Encoding,
        data: Vec<f64>,
        origin: &str,
    ) -> ValueId {
        self.push(
            Op::Const {
                value: Tensor::new(shape, encoding, data),
            },
            vec![],
            origin,
        )
    }

    /// `x2d @ W + b` with W [in, out] and b [1, out], named like the exported Linear.
    fn linear(
        &mut self,
        x2d: ValueId,
        path: &str,
        name: &str,
        fan_in: usize,
        fan_out: usize,
    ) -> ValueId {
        let w = self.param(
            &format!("{name}.weight"),
            vec![fan_in, fan_out],
            Init::Normal,
        );
        let y = self.push(Op::MatMul, vec![x2d, w], &format!("{path}/MatMul"));
        let b = self.param(&format!("{name}.bias"), vec![1, fan_out], Init::Normal);
        self.push(Op::Add, vec![y, b], &format!("{path}/Add"))
    }

    fn layer_norm(&mut self, x: ValueId, path: &str, name: &str, hidden: usize) -> ValueId {
        let gamma = self.param(&format!("{name}.weight"), vec![hidden], Init::Fill(1.0));
        let beta = self.param(&format!("{name}.bias"), vec![hidden], Init::Fill(0.0));
        self.push(
            Op::LayerNorm {
                eps: LAYER_NORM_EPS,
            },
            vec![x, gamma, beta],
            &format!("{path}/LayerNormalization"),
        )
    }

    fn reshape(&mut self, x: ValueId, shape: Vec<usize>, origin: &str) -> ValueId {
        self.push(Op::Reshape { shape }, vec![x], origin)
    }

    fn transpose(&mut self, x: ValueId, perm: Vec<usize>, origin: &str) -> ValueId {
        self.push(Op::Transpose { perm }, vec![x], origin)
    }
}

#[derive(Clone, Copy)]
enum Init {
    Normal,
    Fill(f64),
}

/// The encoder with inputs `input_ids` (client, int [batch, seq]) and `attention_mask` (public,
/// int [batch, seq]) and output `last_hidden_state` [batch, seq, hidden]. Weights: normal with
/// std 0.02 (matrices, embeddings and biases), LayerNorm gamma 1 and beta 0; `seed` fixes them.
pub fn build(shape: &BertShape, frac_bits: u32, seed: u64) -> Result<(Program, Weights), String> {
    shape.check()?;
    let BertShape {
        layers,
        hidden,
        heads,
        intermediate,
        vocab,
        seq,
        batch,
    } = *shape;
    let head_dim = hidden / heads;
    let tokens = batch * seq;
    let mut b = Builder {
        program: Program::new(
            format!("bert_l{layers}_h{hidden}_a{heads}_i{intermediate}_s{seq}"),
            frac_bits,
        ),
        weights: Vec::new(),
        seed,
    };

    // --- embeddings ---
    let ids = b.program.add_input(
        "input_ids",
        InputRole::Client,
        vec![batch, seq],
        Encoding::Int,
    );
    let mask = b.program.add_input(
        "attention_mask",
        InputRole::ClientPublic,
        vec![batch, seq],
        Encoding::Int,
    );
    let word_table = b.param(
        "embeddings.word_embeddings.weight",
        vec![vocab, hidden],
        Init::Normal,
    );
    let words = b.push(
        Op::Embedding,
        vec![word_table, ids],
        "/embeddings/word_embeddings/Gather",
    );
    let pos_table = b.param(
        "embeddings.position_embeddings.weight",
        vec![shape.max_positions(), hidden],
        Init::Normal,
    );
    let pos_ids = b.constant(
        vec![seq],
        Encoding::Int,
        (0..seq).map(|i| i as f64).collect(),
        "/embeddings/position_embeddings/Gather",
    );
    let positions = b.push(
        Op::Gather { axis: 0 },
        vec![pos_table, pos_ids],
        "/embeddings/position_embeddings/Gather",
    );
    let type_table = b.param(
        "embeddings.token_type_embeddings.weight",
        vec![2, hidden],
        Init::Normal,
    );
    let type_ids = b.constant(
        vec![seq],
        Encoding::Int,
        vec![0.0; seq],
        "/embeddings/token_type_embeddings/Gather",
    );
    let types = b.push(
        Op::Gather { axis: 0 },
        vec![type_table, type_ids],
        "/embeddings/token_type_embeddings/Gather",
    );
    let sum = b.push(Op::Add, vec![words, types], "/embeddings/Add");
    let sum = b.push(Op::Add, vec![sum, positions], "/embeddings/Add_1");
    let mut x = b.layer_norm(sum, "/embeddings/LayerNorm", "embeddings.LayerNorm", hidden);

    // --- the public attention-mask bias: (1 - mask) * -10000 as [batch, 1, 1, seq] ---
    let mask_f = b.push(
        Op::Cast {
            to: Encoding::Fixed,
        },
        vec![mask],
        "/Cast",
    );
    let one = b.constant(vec![], Encoding::Fixed, vec![1.0], "/Sub");
    let inverted = b.push(Op::Sub, vec![one, mask_f], "/Sub");
    let big = b.constant(vec![], Encoding::Fixed, vec![-10000.0], "/Mul");
    let bias = b.push(Op::Mul, vec![inverted, big], "/Mul");
    let bias = b.reshape(bias, vec![batch, 1, 1, seq], "/Unsqueeze");

    let scale = 1.0 / (head_dim as f64).sqrt();
    for l in 0..layers {
        let p = format!("/encoder/layer.{l}");
        let n = format!("encoder.layer.{l}");
        // self-attention
        let x2d = b.reshape(
            x,
            vec![tokens, hidden],
            &format!("{p}/attention/self/query/MatMul"),
        );
        let heads_of = |b: &mut Builder, which: &str, perm: Vec<usize>, origin: &str| {
            let y = b.linear(
                x2d,
                &format!("{p}/attention/self/{which}"),
                &format!("{n}.attention.self.{which}"),
                hidden,
                hidden,
            );
            let y = b.reshape(
                y,
                vec![batch, seq, heads, head_dim],
                &format!("{p}/attention/self/Reshape_{which}"),
            );
            b.transpose(y, perm, origin)
        };
        let q = heads_of(
            &mut b,
            "query",
            vec![0, 2, 1, 3],
            &format!("{p}/attention/self/Transpose"),
        );
        let k = heads_of(
            &mut b,
            "key",
            vec![0, 2, 3, 1],
            &format!("{p}/attention/self/Transpose_1"),
        );
        let v = heads_of(
            &mut b,
            "value",
            vec![0, 2, 1, 3],
            &format!("{p}/attention/self/Transpose_2"),
        );
        let scores = b.push(
            Op::MatMul,
            vec![q, k],
            &format!("{p}/attention/self/MatMul"),
        );
        let c = b.constant(
            vec![1, 1, 1, 1],
            Encoding::Fixed,
            vec![scale],
            &format!("{p}/attention/self/Mul"),
        );
        let scores = b.push(Op::Mul, vec![scores, c], &format!("{p}/attention/self/Mul"));
        let probs = b.push(
            Op::Softmax { axis: 3 },
            vec![scores, bias],
            &format!("{p}/attention/self/Softmax"),
        );
        let context = b.push(
            Op::MatMul,
            vec![probs, v],
            &format!("{p}/attention/self/MatMul_1"),
        );
        let context = b.transpose(
            context,
            vec![0, 2, 1, 3],
            &format!("{p}/attention/self/Transpose_3"),
        );
        let context = b.reshape(
            context,
            vec![tokens, hidden],
            &format!("{p}/attention/self/Reshape_3"),
        );
        let attn = b.linear(
            context,
            &format!("{p}/attention/output/dense"),
            &format!("{n}.attention.output.dense"),
            hidden,
            hidden,
        );
        let attn = b.reshape(
            attn,
            vec![batch, seq, hidden],
            &format!("{p}/attention/output/dense/Reshape"),
        );
        let res = b.push(Op::Add, vec![attn, x], &format!("{p}/attention/output/Add"));
        let h = b.layer_norm(
            res,
            &format!("{p}/attention/output/LayerNorm"),
            &format!("{n}.attention.output.LayerNorm"),
            hidden,
        );
        // feed-forward
        let h2d = b.reshape(
            h,
            vec![tokens, hidden],
            &format!("{p}/intermediate/dense/MatMul"),
        );
        let up = b.linear(
            h2d,
            &format!("{p}/intermediate/dense"),
            &format!("{n}.intermediate.dense"),
            hidden,
            intermediate,
        );
        let act = b.push(
            Op::Gelu {
                kind: GeluKind::Erf,
            },
            vec![up],
            &format!("{p}/intermediate/intermediate_act_fn/Erf"),
        );
        let down = b.linear(
            act,
            &format!("{p}/output/dense"),
            &format!("{n}.output.dense"),
            intermediate,
            hidden,
        );
        let down = b.reshape(
            down,
            vec![batch, seq, hidden],
            &format!("{p}/output/dense/Reshape"),
        );
        let res = b.push(Op::Add, vec![down, h], &format!("{p}/output/Add"));
        x = b.layer_norm(
            res,
            &format!("{p}/output/LayerNorm"),
            &format!("{n}.output.LayerNorm"),
            hidden,
        );
    }
    b.program.add_output("last_hidden_state", x);
    Ok((b.program, Weights { tensors: b.weights }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiny_model_verifies_and_evaluates() {
        let shape = BertShape {
            layers: 2,
            hidden: 32,
            heads: 2,
            intermediate: 64,
            vocab: 100,
            seq: 8,
            batch: 1,
        };
        let (program, weights) = build(&shape, 16, 7).unwrap();
        secc_ir::verify::verify(&program).unwrap();
        // 3 embedding tables + LN, then per layer 4 linears (8), LN (2), 2 linears (4), LN (2).
        assert_eq!(program.params.len(), 5 + 2 * 16);
        let mut inputs = std::collections::HashMap::new();
        inputs.insert(
            "input_ids".to_string(),
            ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 8]), 3.0),
        );
        inputs.insert(
            "attention_mask".to_string(),
            ndarray::ArrayD::from_elem(ndarray::IxDyn(&[1, 8]), 1.0),
        );
        let out = secc_ir::interp::evaluate(&program, &weights, &inputs).unwrap();
        assert_eq!(out[0].1.shape(), &[1, 8, 32]);
        assert!(out[0].1.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn normal_samples_have_the_requested_spread() {
        let v = normal(100_000, 0.02, 1);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 1e-3 && (var.sqrt() - 0.02).abs() < 1e-3);
    }
}
