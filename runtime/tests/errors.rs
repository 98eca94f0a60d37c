//! Bad programs, bad inputs and failing peers give clear errors (naming the instruction, input
//! or peer) within bounded time, and never panic or hang.

mod common;

use common::*;
use secc_ir::lir::{InputForm, LocalInstr, RegKind};
use secc_runtime::builder::ProgramBuilder;
use secc_runtime::net::inproc::{mesh, InprocTransport};
use secc_runtime::net::{NetError, Transport};
use secc_runtime::protocols::compose;
use secc_runtime::{run_local, run_local_with, run_with_transports, LocalOptions, RuntimeError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn inputs(pairs: &[(&str, ndarray::ArrayD<f64>)]) -> HashMap<String, ndarray::ArrayD<f64>> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

fn product_program() -> secc_ir::lir::LowProgram {
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[4], InputForm::Secret { frac_bits: F });
    let y = b.input("y", &[4], InputForm::Secret { frac_bits: F });
    let p = compose::mul(&mut b, x, y);
    let q = compose::mul(&mut b, p, y);
    b.output("q", q);
    b.finish()
}

fn xy() -> HashMap<String, ndarray::ArrayD<f64>> {
    inputs(&[
        ("x", array(&[4], vec![1.0; 4])),
        ("y", array(&[4], vec![2.0; 4])),
    ])
}

#[test]
fn a_kind_mismatch_names_the_stage_and_instruction() {
    let mut b = ProgramBuilder::new(F);
    let m = b.input("attention_mask", &[4], InputForm::Public);
    let x = b.input("x", &[4], InputForm::Secret { frac_bits: F });
    let dst = b.reg(RegKind::Add3, &[4], F);
    b.local(LocalInstr::MulShares { dst, a: m, b: x });
    let program = b.finish();
    let err = run_local(
        &program,
        &[],
        &inputs(&[
            ("attention_mask", array(&[4], vec![0.0; 4])),
            ("x", array(&[4], vec![0.0; 4])),
        ]),
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::Program { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("stage 0") && text.contains("MulShares") && text.contains("expected Rss"),
        "{text}"
    );
}

#[test]
fn reading_an_unwritten_register_and_scale_mismatches_are_program_errors() {
    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[4], InputForm::Secret { frac_bits: F });
    let ghost = b.reg(RegKind::Rss, &[4], F);
    let dst = b.reg(RegKind::Rss, &[4], F);
    b.local(LocalInstr::Add {
        dst,
        a: x,
        b: ghost,
    });
    let program = b.finish();
    let err = run_local(&program, &[], &inputs(&[("x", array(&[4], vec![0.0; 4]))])).unwrap_err();
    assert!(
        err.to_string().contains("read before it is written"),
        "{err}"
    );

    let mut b = ProgramBuilder::new(F);
    let x = b.input("x", &[4], InputForm::Secret { frac_bits: F });
    let wrong = b.reg(RegKind::Add3, &[4], F);
    b.local(LocalInstr::MulShares {
        dst: wrong,
        a: x,
        b: x,
    });
    let program = b.finish();
    let err = run_local(&program, &[], &inputs(&[("x", array(&[4], vec![0.0; 4]))])).unwrap_err();
    assert!(err.to_string().contains("scale"), "{err}");
}

#[test]
fn missing_misshaped_and_out_of_range_inputs_name_the_input() {
    let program = product_program();
    let err = run_local(&program, &[], &inputs(&[("x", array(&[4], vec![0.0; 4]))])).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Input { name, .. } if name == "y"),
        "{err}"
    );
    let mut bad = xy();
    bad.insert("y".into(), array(&[2, 2], vec![0.0; 4]));
    let err = run_local(&program, &[], &bad).unwrap_err();
    assert!(
        err.to_string().contains("'y'") && err.to_string().contains("[2, 2]"),
        "{err}"
    );
    let mut huge = xy();
    huge.insert("x".into(), array(&[4], vec![1e300, 0.0, 0.0, 0.0]));
    let err = run_local(&program, &[], &huge).unwrap_err();
    assert!(err.to_string().contains("fixed-point range"), "{err}");
}

#[test]
fn weights_that_do_not_fit_are_refused() {
    let mut b = ProgramBuilder::new(F);
    let w = b.param("w", &[2], F);
    b.output("w", w);
    let program = b.finish();
    let err = run_local(&program, &[], &HashMap::new()).unwrap_err();
    assert!(matches!(err, RuntimeError::Weights(_)), "{err}");
    let err = run_local(&program, &[tensor(&[3], vec![0.0; 3])], &HashMap::new()).unwrap_err();
    assert!(err.to_string().contains("'w'"), "{err}");
}

/// A party endpoint that stops after `budget` receives, as if the process died.
struct Dies {
    inner: Option<InprocTransport>,
    id: usize,
    budget: usize,
}

impl Transport for Dies {
    fn id(&self) -> usize {
        self.id
    }
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        match &mut self.inner {
            Some(t) => t.send(to, msg),
            None => Err(NetError::Disconnected {
                peer: format!("party P{to}"),
            }),
        }
    }
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        if self.budget == 0 {
            // Dropping the endpoint closes every link, like a dead process's sockets.
            self.inner = None;
            return Err(NetError::Disconnected {
                peer: "itself (simulated death)".into(),
            });
        }
        self.budget -= 1;
        self.inner.as_mut().expect("alive").recv(from)
    }
}

#[test]
fn a_party_that_dies_mid_run_is_reported_promptly() {
    let program = product_program();
    let mut endpoints = mesh(Duration::from_secs(30));
    let client = endpoints.pop().unwrap();
    let p2 = endpoints.pop().unwrap();
    let p1 = endpoints.pop().unwrap();
    let p0 = endpoints.pop().unwrap();
    let wrap = |t: InprocTransport, id: usize, budget: usize| Dies {
        inner: Some(t),
        id,
        budget,
    };
    let started = Instant::now();
    // P1 dies after its seed and input messages and one protocol message.
    let err = run_with_transports(
        &program,
        &[],
        &xy(),
        [
            wrap(p0, 0, usize::MAX),
            wrap(p1, 1, 3),
            wrap(p2, 2, usize::MAX),
        ],
        client,
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.is_network(), "{err}");
}

#[test]
fn a_silent_peer_times_out_naming_it() {
    let program = product_program();
    let options = LocalOptions {
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    // Nobody runs P2: its endpoint exists (so links stay open) but never sends anything.
    let mut endpoints = mesh(options.timeout);
    let mut client = endpoints.pop().unwrap();
    let _silent_p2 = endpoints.pop().unwrap();
    let mut p0 = endpoints.remove(0);
    secc_runtime::share_inputs(&mut client, &program, &xy()).unwrap();
    let sets = secc_runtime::share_weights(&program, &[]).unwrap();
    let started = Instant::now();
    let err = secc_runtime::run_party(0, &program, &sets[0], &mut p0).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(
        text.contains("party P2") && text.contains("did not answer"),
        "{text}"
    );
    // And the whole local run with a short timeout still succeeds when everyone answers.
    run_local_with(&program, &[], &xy(), &options).unwrap();
}

#[test]
fn a_wrongly_sized_input_message_names_the_client() {
    let program = product_program();
    let mut endpoints = mesh(Duration::from_secs(5));
    let mut client = endpoints.pop().unwrap();
    let mut p2 = endpoints.pop().unwrap();
    let mut p1 = endpoints.pop().unwrap();
    // P1 must hand P2 its seed before P2 reads the client's message.
    p1.send(2, vec![0; 32]).unwrap();
    client.send(2, vec![1, 2, 3]).unwrap();
    let sets = secc_runtime::share_weights(&program, &[]).unwrap();
    let err = secc_runtime::run_party(2, &program, &sets[2], &mut p2).unwrap_err();
    assert!(err.to_string().contains("the client"), "{err}");
    drop(p1);
}

#[test]
fn a_dealer_that_is_no_party_or_differs_from_its_opening_is_a_program_error() {
    use secc_ir::lir::CommInstr;
    let set_dealers = |open: u8, finish: u8| {
        let mut program = product_program();
        for step in program.stages.iter_mut().flat_map(|s| s.comm.iter_mut()) {
            match step {
                CommInstr::TruncOpen { dealer, .. } => *dealer = open,
                CommInstr::TruncFinish { dealer, .. } => *dealer = finish,
                _ => {}
            }
        }
        program
    };
    let err = run_local(&set_dealers(3, 3), &[], &xy()).unwrap_err();
    assert!(matches!(err, RuntimeError::Program { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("TruncOpen") && text.contains("dealer P3 does not exist"),
        "{text}"
    );
    let err = run_local(&set_dealers(0, 1), &[], &xy()).unwrap_err();
    assert!(matches!(err, RuntimeError::Program { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("TruncFinish") && text.contains("dealer P1, but its source"),
        "{text}"
    );
    assert!(text.contains("dealt by P0"), "{text}");
    // Consistent dealers other than P2 run.
    for d in 0..3 {
        let report = run_local(&set_dealers(d, d), &[], &xy()).unwrap();
        assert_close(output(&report, "q"), &[4.0; 4], 3.0 / 65536.0, "x y y");
    }
}
