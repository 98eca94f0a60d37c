//! The runtime's own defences against a hostile program: the use-once rule for three-way
//! products (`engine::check_program` refuses a program that sends two components of one
//! product, directly or through local derivations).

mod common;

use common::*;
use secc_ir::lir::{CommInstr, InputForm, LocalInstr, LowProgram, Reg, RegKind, StructOp};
use secc_runtime::builder::ProgramBuilder;
use secc_runtime::engine::check_program;
use secc_runtime::{run_local, RuntimeError};
use std::collections::HashMap;

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
