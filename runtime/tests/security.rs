//! The security property itself: everything a single party receives (its seed from a peer, its
//! input message from the client, every protocol message) has the same distribution whatever
//! the secrets are.
//!
//! Method: run one program many times with fresh seeds under two different secrets (A: zeros,
//! B: large random-looking values), record each party's received words, and compare the two
//! samples with a two-sample chi-square test on every single position, every sum and
//! difference of two or three positions, and every XOR of two or three positions (each value
//! hashed into 16 bins by a multiplication with an odd constant, a bijection of Z_2^64, so
//! uniform stays uniform while distinct constants land in different bins). A leak such as a
//! party learning the third component of a replicated share shows up as a combination that is
//! constant and different under A and B (chi-square ~ 2 x runs); a secure protocol shows only
//! noise (chi-square ~ 15 for 15 degrees of freedom).
//!
//! The test also shows the check has teeth: a deliberately leaky variant, kept here in the
//! test, in which each party sends its second input component to its predecessor (a "reshare"
//! without the zero sharing) must be flagged.

mod common;

use common::*;
use ndarray::ArrayD;
use secc_ir::lir::{CommInstr, InputForm, LowProgram, RegKind};
use secc_ir::Tensor;
use secc_runtime::builder::ProgramBuilder;
use secc_runtime::net::inproc::{mesh, InprocTransport};
use secc_runtime::net::{NetError, Transport};
use secc_runtime::protocols::compose;
use secc_runtime::ring::bytes_to_words;
use secc_runtime::run_with_transports;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RUNS: usize = 300;
const BINS: usize = 16;
/// Chi-square with 15 degrees of freedom exceeds 80 with probability about 1e-10 per test; a
/// leak gives about 2 x RUNS = 600.
const THRESHOLD: f64 = 80.0;

/// A transport that records every word its endpoint receives, in order.
struct Recorder {
    inner: InprocTransport,
    view: Arc<Mutex<Vec<u64>>>,
}

impl Transport for Recorder {
    fn id(&self) -> usize {
        self.inner.id()
    }
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        self.inner.send(to, msg)
    }
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        let msg = self.inner.recv(from)?;
        let words = bytes_to_words(&msg).expect("whole words");
        self.view.lock().unwrap().extend(words);
        Ok(msg)
    }
}

/// Products with both truncation sources, a Fourier opening, a comparison (MSB + B2A), a
/// bounded comparison with bit-packed ANDs (`ReshareBoolPacked`, `BoolExtract`) and ReLU on two
/// secret inputs and one secret weight; every truncation and the Fourier opening dealt by
/// `dealer`.
fn program(dealer: u8) -> LowProgram {
    let mut b = ProgramBuilder::new(F);
    b.dealer = dealer;
    let x = b.input("x", &[2], InputForm::Secret { frac_bits: F });
    let w = b.param("w", &[2], F);
    let p = compose::mul(&mut b, x, w);
    let wide = b.input("wide", &[1], InputForm::Secret { frac_bits: 2 * F });
    let t = compose::truncate(&mut b, wide, F);
    let r = compose::relu(&mut b, x);
    let sign = compose::msb_bounded(&mut b, x, F + 16);
    let negative = compose::bit_to_arith(&mut b, sign);
    let pending = b.reg(RegKind::Pending, &[2], 2 * F);
    b.comm(CommInstr::FourierOpen {
        dst: pending,
        src: x,
        period_bits: 4,
        coefficients: vec![1.25, -0.5],
        dealer,
    });
    b.close_stage();
    let series = b.reg(RegKind::Rss, &[2], 2 * F);
    b.comm(CommInstr::TruncFinish {
        dst: series,
        src: pending,
        dealer,
    });
    b.close_stage();
    b.output("series", series);
    b.output("p", p);
    b.output("t", t);
    b.output("r", r);
    b.output("negative", negative);
    b.finish()
}

struct Secrets {
    inputs: HashMap<String, ArrayD<f64>>,
    weights: Vec<Tensor>,
}

fn secrets(x: [f64; 2], wide: f64, w: [f64; 2]) -> Secrets {
    let inputs = [
        ("x", array(&[2], x.to_vec())),
        ("wide", array(&[1], vec![wide])),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    Secrets {
        inputs,
        weights: vec![tensor(&[2], w.to_vec())],
    }
}

/// Views of the three parties over `RUNS` honest runs: [party][run][position].
fn honest_views(program: &LowProgram, s: &Secrets) -> Vec<Vec<Vec<u64>>> {
    let mut views: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
    for _ in 0..RUNS {
        let mut endpoints = mesh(Duration::from_secs(20));
        let client = endpoints.pop().unwrap();
        let logs: Vec<Arc<Mutex<Vec<u64>>>> = (0..3).map(|_| Arc::default()).collect();
        let parties: Vec<Recorder> = endpoints
            .into_iter()
            .zip(&logs)
            .map(|(inner, view)| Recorder {
                inner,
                view: view.clone(),
            })
            .collect();
        let parties: [Recorder; 3] = parties.try_into().ok().unwrap();
        run_with_transports(program, &s.weights, &s.inputs, parties, client).unwrap();
        for (party, log) in logs.iter().enumerate() {
            views[party].push(log.lock().unwrap().clone());
        }
    }
    views
}

/// Views under the leaky variant: honest input sharing by the real client, then each party
/// sends its second component of input x to its predecessor.
fn leaky_views(program: &LowProgram, s: &Secrets) -> Vec<Vec<Vec<u64>>> {
    let mut views: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
    for _ in 0..RUNS {
        let mut endpoints = mesh(Duration::from_secs(20));
        let mut client = endpoints.pop().unwrap();
        secc_runtime::share_inputs(&mut client, program, &s.inputs).unwrap();
        let mut recorders: Vec<Recorder> = endpoints
            .into_iter()
            .map(|inner| Recorder {
                inner,
                view: Arc::default(),
            })
            .collect();
        for (party, r) in recorders.iter_mut().enumerate() {
            let words = bytes_to_words(&r.recv(3).unwrap()).unwrap();
            // Input x comes first: components x_i (2 words) then x_(i+1) (2 words).
            let second = secc_runtime::ring::words_to_bytes(&words[2..4]);
            r.send((party + 2) % 3, second).unwrap();
        }
        for (party, r) in recorders.iter_mut().enumerate() {
            r.recv((party + 1) % 3).unwrap();
            views[party].push(r.view.lock().unwrap().clone());
        }
    }
    views
}

fn bin(v: u64) -> usize {
    (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize
}

fn chi_square(a: &[u64], b: &[u64]) -> f64 {
    let (mut ca, mut cb) = ([0f64; BINS], [0f64; BINS]);
    for (&x, &y) in a.iter().zip(b) {
        ca[bin(x)] += 1.0;
        cb[bin(y)] += 1.0;
    }
    ca.iter()
        .zip(&cb)
        .filter(|(x, y)| *x + *y > 0.0)
        .map(|(x, y)| (x - y) * (x - y) / (x + y))
        .sum()
}

/// The most distinguishing combination of positions, with its chi-square.
fn worst_combination(a: &[Vec<u64>], b: &[Vec<u64>]) -> (String, f64) {
    let len = a[0].len();
    assert!(
        a.iter().chain(b).all(|v| v.len() == len),
        "views have one length"
    );
    // Position-major columns.
    let col = |views: &[Vec<u64>], p: usize| views.iter().map(|v| v[p]).collect::<Vec<u64>>();
    let ca: Vec<Vec<u64>> = (0..len).map(|p| col(a, p)).collect();
    let cb: Vec<Vec<u64>> = (0..len).map(|p| col(b, p)).collect();
    let mut worst = (String::new(), 0.0);
    let mut consider = |name: &dyn Fn() -> String, f: &dyn Fn(&[Vec<u64>], usize) -> u64| {
        let xa: Vec<u64> = (0..RUNS).map(|r| f(&ca, r)).collect();
        let xb: Vec<u64> = (0..RUNS).map(|r| f(&cb, r)).collect();
        let chi = chi_square(&xa, &xb);
        if chi > worst.1 {
            worst = (name(), chi);
        }
    };
    for i in 0..len {
        consider(&|| format!("v{i}"), &|c, r| c[i][r]);
        for j in i + 1..len {
            consider(&|| format!("v{i} + v{j}"), &|c, r| {
                c[i][r].wrapping_add(c[j][r])
            });
            consider(&|| format!("v{i} - v{j}"), &|c, r| {
                c[i][r].wrapping_sub(c[j][r])
            });
            consider(&|| format!("v{i} ^ v{j}"), &|c, r| c[i][r] ^ c[j][r]);
            for k in j + 1..len {
                for (sj, sk) in [
                    (1u64, 1u64),
                    (1, u64::MAX),
                    (u64::MAX, 1),
                    (u64::MAX, u64::MAX),
                ] {
                    let sign = |s: u64| if s == 1 { '+' } else { '-' };
                    consider(
                        &|| format!("v{i} {} v{j} {} v{k}", sign(sj), sign(sk)),
                        &|c, r| {
                            c[i][r]
                                .wrapping_add(sj.wrapping_mul(c[j][r]))
                                .wrapping_add(sk.wrapping_mul(c[k][r]))
                        },
                    );
                }
                consider(&|| format!("v{i} ^ v{j} ^ v{k}"), &|c, r| {
                    c[i][r] ^ c[j][r] ^ c[k][r]
                });
            }
        }
    }
    worst
}

fn secret_pair() -> (Secrets, Secrets) {
    (
        secrets([0.0, 0.0], 0.0, [0.0, 0.0]),
        secrets([12345.678, -23456.789], -987654321.123, [-1.2345, 3333.3]),
    )
}

/// For each dealer of the truncations and the Fourier opening: the dealer's view and the two
/// openers' views (which include the dealer's corrections) are independent of the secrets.
#[test]
fn no_party_view_depends_on_the_secrets() {
    let (a, b) = secret_pair();
    for dealer in 0..3u8 {
        let program = program(dealer);
        let (va, vb) = (honest_views(&program, &a), honest_views(&program, &b));
        for party in 0..3 {
            let (combo, chi) = worst_combination(&va[party], &vb[party]);
            eprintln!(
                "dealer P{dealer}, P{party}: {} words received, worst {combo}: {chi:.1}",
                va[party][0].len()
            );
            assert!(
                chi < THRESHOLD,
                "with dealer P{dealer}, party P{party}'s view distinguishes the secrets: \
                 {combo} has chi-square {chi}"
            );
            assert!(va[party][0].len() > 10, "P{party} received something");
        }
    }
}

#[test]
fn the_check_flags_a_leaky_protocol() {
    let program = program(2);
    let (a, b) = secret_pair();
    let (va, vb) = (leaky_views(&program, &a), leaky_views(&program, &b));
    for party in 0..3 {
        let (combo, chi) = worst_combination(&va[party], &vb[party]);
        eprintln!("leaky P{party}: worst {combo}: {chi:.1}");
        assert!(
            chi > 2.0 * THRESHOLD,
            "the leak to P{party} went unnoticed (worst: {combo}, chi-square {chi})"
        );
    }
}
