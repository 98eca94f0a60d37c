//! The runtime's own defences against a hostile program or an over-eager one: the use-once rule
//! for three-way products (`engine::check_program` refuses a program that sends two
//! components of one product, directly or through local derivations), and the client's
//! declassification allowlist (an input goes in the clear only if the client allows it).

mod common;

use common::*;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr, LowProgram, Reg, RegKind, StructOp};
use secc_runtime::builder::ProgramBuilder;
use secc_runtime::engine::check_program;
use secc_runtime::net::inproc::mesh;
use secc_runtime::net::Transport;
use secc_runtime::{run_local, run_local_with, LocalOptions, PublicInputPolicy, RuntimeError};
use std::collections::HashMap;
use std::time::Duration;

fn secret(b: &mut ProgramBuilder, name: &str) -> Reg {
    b.input(name, &[4], InputForm::Secret { frac_bits: F })
}

fn product(b: &mut ProgramBuilder, x: Reg, y: Reg) -> Reg {
    let dst = b.reg(RegKind::Add3, &[4], 2 * F);
    b.local(LocalInstr::MulShares { dst, a: x, b: y })
}

fn reshare(b: &mut ProgramBuilder, src: Reg) -> Reg {
    let frac = b.frac(src);
    let shape = b.shape(src);
    let dst = b.reg(RegKind::Rss, &shape, frac);
    b.comm(CommInstr::Reshare { dst, src })
}

fn trunc_open(b: &mut ProgramBuilder, src: Reg) -> Reg {
    let frac = b.frac(src);
    let shape = b.shape(src);
    let dst = b.reg(RegKind::Pending, &shape, frac - F);
    b.comm(CommInstr::TruncOpen {
        dst,
        src,
        shift: F,
        dealer: 2,
    })
}

fn refused(program: &LowProgram) -> String {
    let err = check_program(program).expect_err("the program must be refused");
    assert!(matches!(err, RuntimeError::Program { .. }), "{err}");
    err.to_string()
}

#[test]
fn a_product_reshared_and_opened_for_truncation_is_refused_naming_both_steps() {
    let mut b = ProgramBuilder::new(F);
    let (x, y) = (secret(&mut b, "x"), secret(&mut b, "y"));
    let p = product(&mut b, x, y);
    reshare(&mut b, p);
    trunc_open(&mut b, p);
    let text = refused(&b.finish());
    assert!(
        text.contains("stage 0, communication instruction 1 (TruncOpen")
            && text.contains("local instruction 2 (MulShares")
            && text.contains("already fed stage 0, communication instruction 0 (Reshare")
            && text.contains("one communication step"),
        "{text}"
    );
}

#[test]
fn values_derived_locally_from_one_product_share_its_lineage() {
    // Each derivation of p, sent alongside p itself (or another derivation), is refused: a
    // rescale, a struct op, a product by a public value, a sum with another product, a
    // negation. The second step is in a later stage, which does not help.
    type Derive = fn(&mut ProgramBuilder, Reg, Reg) -> Reg;
    let derivations: [(&str, Derive); 5] = [
        ("rescale", |b, p, _| {
            let dst = b.reg(RegKind::Add3, &[4], 2 * F - 1);
            b.local(LocalInstr::Rescale { dst, src: p })
        }),
        ("reshape", |b, p, _| {
            let dst = b.reg(RegKind::Add3, &[2, 2], 2 * F);
            b.local(LocalInstr::Struct {
                dst,
                src: p,
                op: StructOp::Reshape { shape: vec![2, 2] },
            })
        }),
        ("public product", |b, p, _| {
            let k = b.ring_constant(tensor(&[4], vec![3.0; 4]), 0);
            let dst = b.reg(RegKind::Add3, &[4], 2 * F);
            b.local(LocalInstr::MulPublic { dst, a: p, b: k })
        }),
        ("sum with another product", |b, p, other| {
            let dst = b.reg(RegKind::Add3, &[4], 2 * F);
            b.local(LocalInstr::Add {
                dst,
                a: other,
                b: p,
            })
        }),
        ("negation", |b, p, _| {
            let dst = b.reg(RegKind::Add3, &[4], 2 * F);
            b.local(LocalInstr::Neg { dst, a: p })
        }),
    ];
    for (what, derive) in derivations {
        let mut b = ProgramBuilder::new(F);
        let (x, y) = (secret(&mut b, "x"), secret(&mut b, "y"));
        let p = product(&mut b, x, y);
        let other = product(&mut b, y, y);
        trunc_open(&mut b, p);
        b.close_stage();
        let derived = derive(&mut b, p, other);
        reshare(&mut b, derived);
        let text = refused(&b.finish());
        assert!(
            text.contains("stage 1, communication instruction 0 (Reshare")
                && text.contains("(MulShares { dst: Reg(2)"),
            "{what}: {text}"
        );
    }
}

#[test]
fn a_boolean_product_feeds_one_reshare_only() {
    let mut b = ProgramBuilder::new(F);
    let x = secret(&mut b, "x");
    let bits = b.reg(RegKind::BoolRss, &[4], 0);
    b.local(LocalInstr::ComponentToBool {
        dst: bits,
        src: x,
        component: 0,
    });
    let and = b.reg(RegKind::BoolAdd3, &[4], 0);
    b.local(LocalInstr::BoolAndLocal {
        dst: and,
        a: bits,
        b: bits,
    });
    let low = b.reg(RegKind::BoolAdd3, &[4], 0);
    b.local(LocalInstr::BoolExtract {
        dst: low,
        a: and,
        mask: 0xff,
    });
    let full = b.reg(RegKind::BoolRss, &[4], 0);
    b.comm(CommInstr::ReshareBool {
        dst: full,
        src: and,
    });
    let packed = b.reg(RegKind::BoolRss, &[4], 0);
    b.comm(CommInstr::ReshareBoolPacked {
        dst: packed,
        src: low,
        width: 8,
    });
    let text = refused(&b.finish());
    assert!(
        text.contains("ReshareBoolPacked") && text.contains("BoolAndLocal"),
        "{text}"
    );
}

#[test]
fn a_reshared_product_is_a_fresh_sharing_that_may_be_used_again() {
    // p is reshared once; its Rss result feeds two truncations and another product, and a
    // second product of the same operands is opened on its own: all accepted, and correct.
    let mut b = ProgramBuilder::new(F);
    let (x, y) = (secret(&mut b, "x"), secret(&mut b, "y"));
    let p = product(&mut b, x, y);
    let again = product(&mut b, x, y);
    let p_rss = reshare(&mut b, p);
    let pending = trunc_open(&mut b, again);
    b.close_stage();
    let t1 = b.reg(RegKind::Rss, &[4], F);
    b.comm(CommInstr::TruncFinish {
        dst: t1,
        src: pending,
        dealer: 2,
    });
    let pending2 = trunc_open(&mut b, p_rss);
    b.close_stage();
    let t2 = b.reg(RegKind::Rss, &[4], F);
    b.comm(CommInstr::TruncFinish {
        dst: t2,
        src: pending2,
        dealer: 2,
    });
    b.close_stage();
    let q = secc_runtime::protocols::compose::mul(&mut b, p_rss, y);
    b.output("t1", t1);
    b.output("t2", t2);
    b.output("q", q);
    let program = b.finish();
    check_program(&program).unwrap();
    let xs = vec![1.5, -2.0, 0.25, 3.0];
    let ys = vec![2.0, 0.5, -4.0, 1.0];
    let report = run_local(
        &program,
        &[],
        &HashMap::from([
            ("x".to_string(), array(&[4], xs.clone())),
            ("y".to_string(), array(&[4], ys.clone())),
        ]),
    )
    .unwrap();
    for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
        for name in ["t1", "t2"] {
            let got = output(&report, name)[i];
            assert!((got - x * y).abs() < 1e-3, "{name}[{i}] = {got}");
        }
    }
}

fn pixel_program() -> LowProgram {
    let mut b = ProgramBuilder::new(F);
    let m = b.input("attention_mask", &[4], InputForm::Public);
    let p = b.input("pixel_mask", &[4], InputForm::Public);
    let x = secret(&mut b, "x");
    let mr = b.reg(RegKind::Ring, &[4], F);
    b.local(LocalInstr::Encode {
        dst: mr,
        src: m,
        frac_bits: F,
    });
    let pr = b.reg(RegKind::Ring, &[4], F);
    b.local(LocalInstr::Encode {
        dst: pr,
        src: p,
        frac_bits: F,
    });
    let y = b.reg(RegKind::Rss, &[4], F);
    b.local(LocalInstr::Add {
        dst: y,
        a: x,
        b: mr,
    });
    let z = b.reg(RegKind::Rss, &[4], F);
    b.local(LocalInstr::Add {
        dst: z,
        a: y,
        b: pr,
    });
    b.output("z", z);
    b.finish()
}

fn pixel_inputs() -> HashMap<String, ndarray::ArrayD<f64>> {
    HashMap::from([
        ("attention_mask".to_string(), array(&[4], vec![1.0; 4])),
        (
            "pixel_mask".to_string(),
            array(&[4], vec![0.0, 1.0, 0.0, 1.0]),
        ),
        ("x".to_string(), array(&[4], vec![0.5; 4])),
    ])
}

#[test]
fn the_client_refuses_to_declassify_an_input_it_did_not_allow_before_sending_anything() {
    let program = pixel_program();
    let err = run_local(&program, &[], &pixel_inputs()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("input 'pixel_mask'")
            && text.contains("declares this input public")
            && text.contains("--allow-public-input pixel_mask"),
        "{text}"
    );
    // Over a mesh: the refusal comes before the first byte, so no party receives anything.
    let mut endpoints = mesh(Duration::from_millis(200));
    let mut client = endpoints.pop().unwrap();
    let policy = PublicInputPolicy::default();
    assert!(
        secc_runtime::share_inputs_with(&mut client, &program, &pixel_inputs(), &policy).is_err()
    );
    for (party, endpoint) in endpoints.iter_mut().enumerate() {
        assert!(
            endpoint.recv(3).is_err(),
            "P{party} received something from a refused client"
        );
    }
}

#[test]
fn an_allowed_public_input_is_sent_and_the_policy_lists_it() {
    let program = pixel_program();
    let policy = PublicInputPolicy::allowing(["pixel_mask"]);
    assert_eq!(
        policy.check(&program).unwrap(),
        vec!["attention_mask".to_string(), "pixel_mask".to_string()]
    );
    let options = LocalOptions {
        public_inputs: policy,
        ..Default::default()
    };
    let report = run_local_with(&program, &[], &pixel_inputs(), &options).unwrap();
    assert_eq!(output(&report, "z"), vec![1.5, 2.5, 1.5, 2.5].as_slice());
    // The default allows the attention mask alone.
    assert!(PublicInputPolicy::default().allows("attention_mask"));
    assert!(!PublicInputPolicy::default().allows("masked_lm_ids"));
}
