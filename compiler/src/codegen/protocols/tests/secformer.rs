//! Each SecFormer protocol run across three in-process parties against the plaintext
//! interpreter of the same IR node (which computes exactly the approximation), on random inputs
//! over the protocol's stated range, with the measured cost equal to the prediction.

use super::{array, mpc_vs_plaintext, unary, Lcg};
use secc_ir::approx;
use secc_ir::{Encoding, InputRole, Op, Program, Tensor};

#[test]
fn sec_gelu_matches_its_definition_over_all_segments() {
    let mut rng = Lcg(1);
    let mut xs = vec![0.0, -3.5, 3.5, -3.6, 3.6, 7.99, -7.99, 50.0, -50.0, 1e-4];
    xs.extend(rng.vec(300, -8.0, 8.0));
    let n = xs.len();
    let err = mpc_vs_plaintext(&unary(Op::SecGelu, n), vec![], vec![("x", array(&[n], xs))]);
    assert!(err[0] < 2e-3, "max error {}", err[0]);
}

#[test]
fn sec_tanh_matches_its_definition_over_all_segments() {
    let mut rng = Lcg(2);
    let mut xs = vec![0.0, -4.0, 4.0, -4.1, 4.1, 30.0, -30.0];
    xs.extend(rng.vec(300, -8.0, 8.0));
    let n = xs.len();
    let err = mpc_vs_plaintext(&unary(Op::SecTanh, n), vec![], vec![("x", array(&[n], xs))]);
    assert!(err[0] < 2e-3, "max error {}", err[0]);
}

#[test]
fn quad2_softmax_with_a_padding_mask_matches_its_definition() {
    let (rows, cols) = (6, 8);
    // Kept entries give (x + 5)^2 in [1, 81]; six kept per row: sums in [6, 486].
    let deflation = 512.0;
    let iterations = approx::reciprocal_iterations(6.0 / 512.0, 486.0 / 512.0, 1e-5).unwrap();
    let mut p = Program::new("softmax", 16);
    let x = p.add_input("x", InputRole::Client, vec![rows, cols], Encoding::Fixed);
    let mask = p.add_input(
        "attention_mask",
        InputRole::ClientPublic,
        vec![1, cols],
        Encoding::Fixed,
    );
    let y = p
        .push(
            Op::Quad2Softmax {
                axis: 1,
                shift: 5.0,
                deflation,
                iterations,
            },
            vec![x, mask],
            "softmax",
        )
        .unwrap();
    p.add_output("p", y);
    let mut rng = Lcg(3);
    let xs = rng.vec(rows * cols, -4.0, 4.0);
    let mut bias = vec![0.0; cols];
    bias[cols - 1] = -3.4e38;
    bias[cols - 2] = -10000.0;
    let err = mpc_vs_plaintext(
        &p,
        vec![],
        vec![
            ("x", array(&[rows, cols], xs)),
            ("attention_mask", array(&[1, cols], bias)),
        ],
    );
    assert!(err[0] < 2e-3, "max error {}", err[0]);
}

#[test]
fn sec_layer_norm_matches_its_definition() {
    let (rows, d) = (5, 24);
    // Row variances of 3 U(-1, 1) lie in about [1, 5]; deflation 512 / d = 21.3 puts
    // (var + eps) / D in about [0.05, 0.25]; d D must be a power of two.
    let deflation = 512.0 / d as f64;
    let iterations = approx::rsqrt_iterations(0.03, 0.5, 1e-5).unwrap();
    let mut p = Program::new("ln", 16);
    let x = p.add_input("x", InputRole::Client, vec![rows, d], Encoding::Fixed);
    let gamma = p.add_param("gamma", vec![d]);
    let beta = p.add_param("beta", vec![d]);
    let y = p
        .push(
            Op::SecLayerNorm {
                eps: 1e-12,
                deflation,
                iterations,
            },
            vec![x, gamma, beta],
            "ln",
        )
        .unwrap();
    p.add_output("y", y);
    let mut rng = Lcg(4);
    let xs: Vec<f64> = (0..rows * d)
        .map(|i| 3.0 * rng.uniform(-1.0, 1.0) + (i / d) as f64 * 10.0)
        .collect();
    let weights = vec![
        Tensor::new(vec![d], Encoding::Fixed, rng.vec(d, 0.5, 1.5)),
        Tensor::new(vec![d], Encoding::Fixed, rng.vec(d, -0.5, 0.5)),
    ];
    let err = mpc_vs_plaintext(&p, weights, vec![("x", array(&[rows, d], xs))]);
    assert!(err[0] < 5e-3, "max error {}", err[0]);
}

#[test]
fn goldschmidt_division_matches_its_definition() {
    let n = 64;
    let deflation = 16.0;
    let iterations = approx::reciprocal_iterations(0.5 / 16.0, 10.0 / 16.0, 1e-5).unwrap();
    let mut p = Program::new("div", 16);
    let a = p.add_input("a", InputRole::Client, vec![n], Encoding::Fixed);
    let b = p.add_input("b", InputRole::Client, vec![n], Encoding::Fixed);
    let q = p
        .push(
            Op::GoldschmidtDiv {
                deflation,
                iterations,
            },
            vec![a, b],
            "div",
        )
        .unwrap();
    p.add_output("q", q);
    let mut rng = Lcg(5);
    let err = mpc_vs_plaintext(
        &p,
        vec![],
        vec![
            ("a", array(&[n], rng.vec(n, -5.0, 5.0))),
            ("b", array(&[n], rng.vec(n, 0.5, 10.0))),
        ],
    );
    assert!(err[0] < 5e-3, "max error {}", err[0]);
}
