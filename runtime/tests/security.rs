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
//!
//! A chi-square on words and small sums cannot see a mask the receiver can recompute, nor a
//! mask one bit short, so two more checks run over the real runtime code:
//! - the structural view checker (`secc_runtime::audit::check`): the runtime records, where
//!   each mask is drawn and applied, which key or private seed pads every word a party
//!   receives; the checker asserts the receiver holds none of them, that no pad reaches one
//!   receiver twice, and that every pad is exactly its stream's full-width words;
//! - per-bit frequency tests: every bit of every word a party receives, and of every masked
//!   opening it computes, is a fair coin under both secrets.
//!
//! Both must fail on the two leaks of issue 9, injected into the real truncation code by the
//! audit's mutation switch (tests only): the dealer's mask drawn from the key it shares with
//! the first opener (which then decodes the secret exactly), and the mask cut to 63 bits (the
//! top bit of the opening then follows the secret's magnitude).

mod common;

use common::*;
use ndarray::ArrayD;
use secc_ir::lir::{CommInstr, InputForm, LowProgram, RegKind};
use secc_ir::Tensor;
use secc_runtime::audit::{self, Mutation};
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

/// What one party received, word by word, shared with its recording endpoint.
type View = Arc<Mutex<Vec<u64>>>;

/// A fresh in-process mesh whose three party endpoints record every word they receive.
fn recorded_mesh() -> ([Recorder; 3], Vec<View>, InprocTransport) {
    let mut endpoints = mesh(Duration::from_secs(20));
    let client = endpoints.pop().unwrap();
    let logs: Vec<View> = (0..3).map(|_| Arc::default()).collect();
    let parties: Vec<Recorder> = endpoints
        .into_iter()
        .zip(&logs)
        .map(|(inner, view)| Recorder {
            inner,
            view: view.clone(),
        })
        .collect();
    (parties.try_into().ok().unwrap(), logs, client)
}

/// Views of the three parties over `RUNS` honest runs: [party][run][position].
fn honest_views(program: &LowProgram, s: &Secrets) -> Vec<Vec<Vec<u64>>> {
    let mut views: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
    for _ in 0..RUNS {
        let (parties, logs, client) = recorded_mesh();
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

/// A run of `program` with an audit context installed (and `mutation` active): the outputs
/// and the records.
fn audited_run(
    program: &LowProgram,
    s: &Secrets,
    mutation: Option<Mutation>,
) -> (secc_runtime::RunReport, audit::Log) {
    let context = audit::Context::new(mutation);
    audit::install(Some(context.clone()));
    let report = secc_runtime::run_local(program, &s.weights, &s.inputs);
    audit::install(None);
    (report.expect("the run succeeds"), context.take())
}

#[test]
fn the_view_checker_finds_every_received_word_padded_by_a_key_the_receiver_lacks() {
    let (_, b) = secret_pair();
    for dealer in 0..3u8 {
        let (_, log) = audited_run(&program(dealer), &b, None);
        let summary = audit::check(&log).unwrap_or_else(|e| panic!("dealer P{dealer}: {e}"));
        eprintln!("dealer P{dealer}: {summary:?}");
        for party in 0..3 {
            assert!(summary.words[party] > 10, "P{party} received words");
        }
        // Both kinds of pads occur: dealer, pairwise and client streams, and product zero
        // sharings; nothing goes in the clear (every input is secret).
        assert_eq!(summary.clear_words, [0; 3]);
        assert!(summary.stream_words.iter().all(|&w| w > 0));
        assert!(summary.zero_share_words.iter().sum::<u64>() > 0);
    }
}

/// The outputs of an honest run and a mutated one agree (the leaks do not break correctness,
/// which is why output tests cannot catch them).
fn same_outputs(a: &secc_runtime::RunReport, b: &secc_runtime::RunReport) {
    for (x, y) in a.outputs.iter().zip(&b.outputs) {
        for (u, v) in x.data.iter().zip(&y.data) {
            assert!((u - v).abs() < 1e-3, "{}: {u} vs {v}", x.name);
        }
    }
}

#[test]
fn the_view_checker_fails_when_the_truncation_mask_comes_from_the_receivers_key() {
    let (_, b) = secret_pair();
    for dealer in 0..3u8 {
        let program = program(dealer);
        let (honest, _) = audited_run(&program, &b, None);
        let (mutated, log) = audited_run(&program, &b, Some(Mutation::TruncMaskFromOpenerKey));
        same_outputs(&honest, &mutated);
        let err = audit::check(&log).expect_err("a mask from the receiver's key must be caught");
        eprintln!("dealer P{dealer}: {err}");
        let opener = (usize::from(dealer) + 1) % 3;
        assert!(
            err.contains(&format!("P{opener} receiving from P{dealer}"))
                && err.contains("which the receiver holds"),
            "{err}"
        );
        // The leak is real: the opener subtracts the mask it can draw itself and reads the
        // secret input `wide` exactly from its opening.
        let key = log.seeds[opener].as_ref().unwrap().own_key;
        let wide = secc_ir::fixed::encode(-987654321.123, 2 * F);
        let decoded = log
            .openings
            .iter()
            .filter(|o| o.party == opener && o.width == 64)
            .any(|o| {
                let r = secc_runtime::prg::Stream::new(&key, o.instruction).words(o.words.len());
                o.words
                    .iter()
                    .zip(&r)
                    .any(|(c, r)| c.wrapping_sub(*r).wrapping_sub(1 << 62) == wide)
            });
        assert!(decoded, "P{opener} decodes the secret under the mutation");
    }
}

#[test]
fn the_view_checker_fails_when_the_truncation_mask_is_cut_to_63_bits() {
    let (_, b) = secret_pair();
    let program = program(2);
    let (honest, _) = audited_run(&program, &b, None);
    let (mutated, log) = audited_run(&program, &b, Some(Mutation::TruncMask63Bits));
    same_outputs(&honest, &mutated);
    let err = audit::check(&log).expect_err("a 63-bit mask must be caught");
    eprintln!("{err}");
    assert!(
        err.contains("cut, biased or drawn from another key"),
        "{err}"
    );
}

/// Per party, per run: every word received (seeds, input shares, protocol messages) followed
/// by every masked opening the party computes.
fn bit_views(program: &LowProgram, s: &Secrets, mutation: Option<Mutation>) -> Vec<Vec<Vec<u64>>> {
    let mut views: Vec<Vec<Vec<u64>>> = vec![Vec::new(); 3];
    for _ in 0..RUNS {
        let (parties, logs, client) = recorded_mesh();
        let context = audit::Context::new(mutation);
        audit::install(Some(context.clone()));
        let run = run_with_transports(program, &s.weights, &s.inputs, parties, client);
        audit::install(None);
        run.unwrap();
        let record = context.take();
        for (party, log) in logs.iter().enumerate() {
            let mut view = log.lock().unwrap().clone();
            for opening in record.openings.iter().filter(|o| o.party == party) {
                view.extend(&opening.words);
            }
            views[party].push(view);
        }
    }
    views
}

/// The first (party, position, bit) whose frequency of ones is not that of a fair coin under
/// one of the two secrets (more than 6 standard deviations from RUNS / 2). A bit that is zero
/// in every run under both secrets is not a coin but reveals nothing either (the high bits of
/// words reduced modulo 2^width, the tail of a packed message); it is skipped.
fn unfair_bit(a: &[Vec<Vec<u64>>], b: &[Vec<Vec<u64>>]) -> Option<String> {
    let limit = 6.0 * (RUNS as f64).sqrt() / 2.0;
    for party in 0..3 {
        let len = a[party][0].len();
        for position in 0..len {
            for bit in 0..64 {
                let ones = |views: &[Vec<u64>]| {
                    views
                        .iter()
                        .filter(|v| (v[position] >> bit) & 1 == 1)
                        .count()
                };
                let (ka, kb) = (ones(&a[party]), ones(&b[party]));
                if ka == 0 && kb == 0 {
                    continue;
                }
                for (secret, k) in [("A", ka), ("B", kb)] {
                    if (k as f64 - RUNS as f64 / 2.0).abs() > limit {
                        return Some(format!(
                            "P{party}, word {position}, bit {bit}: {k} ones in {RUNS} runs under \
                             secret {secret} ({ka} under A, {kb} under B)"
                        ));
                    }
                }
            }
        }
    }
    None
}

#[test]
fn every_bit_a_party_receives_or_opens_is_a_fair_coin() {
    let (a, b) = secret_pair();
    for dealer in [0u8, 2] {
        let program = program(dealer);
        let (va, vb) = (bit_views(&program, &a, None), bit_views(&program, &b, None));
        if let Some(bad) = unfair_bit(&va, &vb) {
            panic!("dealer P{dealer}: {bad}");
        }
    }
}

#[test]
fn the_bit_test_fails_when_the_truncation_mask_is_cut_to_63_bits() {
    let (a, b) = secret_pair();
    let program = program(2);
    let mutation = Some(Mutation::TruncMask63Bits);
    let (va, vb) = (
        bit_views(&program, &a, mutation),
        bit_views(&program, &b, mutation),
    );
    let bad = unfair_bit(&va, &vb).expect("a 63-bit mask must bias a bit");
    eprintln!("{bad}");
    assert!(bad.contains("bit 63"), "{bad}");
}
