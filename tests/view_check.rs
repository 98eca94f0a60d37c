//! The structural view checker (`secc_runtime::audit::check`) over the programs codegen emits
//! for the BERT fixtures, in secformer and in PUMA mode: every word each party receives in a
//! real model run (the client's input message and every protocol message) is padded by a key
//! or seed the receiver lacks, or is the attention mask the client allowed in the clear, no pad reaches one
//! receiver twice (nor one product's zero sharing), and every pad is its stream's full-width
//! output. The two leaks of issue 9, injected into the real truncation code by the audit's
//! mutation switch, make the same runs fail the check while their outputs stay correct.

use crate::common::*;
use secc_runtime::audit::{self, Mutation};
use std::collections::HashMap;
use std::path::Path;

struct Compiled {
    low: secc_ir::lir::LowProgram,
    weights: Vec<secc_ir::Tensor>,
    inputs: HashMap<String, ndarray::ArrayD<f64>>,
    policy: secc_runtime::PublicInputPolicy,
}

/// `secc compile MODEL --seq-len 8 FLAGS`, loaded back, with the completed inputs of `input`.
fn compiled(model: &str, flags: &[&str], input: &str, dir: &Path) -> Compiled {
    let (path, _) = compile_fixture(model, flags, dir);
    let container = secc::artifact::load(Path::new(&path)).unwrap();
    let input_path = models().join("inputs").join(input);
    let given = secc::inputs::read(&input_path).unwrap();
    let inputs = secc::inputs::complete(&container.program, &given, &input_path).unwrap();
    // The client's side: its prologue's sends and its default allowance, resolved against the
    // program (the attention-mask bias goes in the clear).
    let sends = secc_runtime::run_prologue(&container.program, &inputs)
        .unwrap()
        .sends;
    let (policy, _) = secc_runtime::PublicInputPolicy::default()
        .resolve(&container.program, &container.low)
        .unwrap();
    Compiled {
        weights: container.weights.clone().expect("the owner's file").tensors,
        low: container.low,
        inputs: sends,
        policy,
    }
}

fn audited(c: &Compiled, mutation: Option<Mutation>) -> (secc_runtime::RunReport, audit::Log) {
    let context = audit::Context::new(mutation);
    audit::install(Some(context.clone()));
    let options = secc_runtime::LocalOptions {
        public_inputs: c.policy.clone(),
        ..Default::default()
    };
    let report = secc_runtime::run_local_with(&c.low, &c.weights, &c.inputs, &options);
    audit::install(None);
    (report.expect("the run succeeds"), context.take())
}

#[test]
fn every_word_of_the_bert_fixture_runs_is_padded_by_a_key_its_receiver_lacks() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["bert_opset17", "bert_cls_opset14"] {
        for mode in ["secformer", "puma"] {
            let c = compiled(model, &["--mode", mode], "bert_pad.json", dir.path());
            let clear: usize = c
                .low
                .inputs
                .iter()
                .filter(|i| i.form == secc_ir::lir::InputForm::Public)
                .map(|i| i.shape.iter().product::<usize>())
                .sum();
            assert_eq!(clear, 64, "{model} {mode}");
            let (run, log) = audited(&c, None);
            let summary =
                audit::check(&log).unwrap_or_else(|e| panic!("{model} in {mode} mode:\n{e}"));
            assert_phases_match_the_static_split(&c.low, &run, &log, &format!("{model} {mode}"));
            eprintln!("{model} {mode}: {summary:?}");
            for party in 0..3 {
                assert!(summary.words[party] > 1000, "{model} {mode}: P{party}");
                assert!(summary.stream_words[party] > 0 && summary.zero_share_words[party] > 0);
                // In the clear exactly the public sends, which `resolve` traced back to the
                // attention mask alone (the prologue sends its additive bias, [1, 1, 8, 8]).
                assert_eq!(
                    summary.clear_words[party], clear as u64,
                    "{model} {mode}: P{party}"
                );
            }
        }
    }
}

#[test]
fn the_checker_fails_on_a_bert_run_with_either_leaky_truncation_mask() {
    let dir = tempfile::tempdir().unwrap();
    let c = compiled(
        "bert_cls_opset14",
        &["--mode", "puma"],
        "bert_pad.json",
        dir.path(),
    );
    let (honest, _) = audited(&c, None);
    for (mutation, expected) in [
        (Mutation::TruncMaskFromOpenerKey, "which the receiver holds"),
        (
            Mutation::TruncMask63Bits,
            "cut, biased or drawn from another key",
        ),
    ] {
        let (mutated, log) = audited(&c, Some(mutation));
        let got = &mutated.outputs[0].data;
        assert!(
            max_abs_diff(got, &honest.outputs[0].data) < 1e-2,
            "{mutation:?} keeps the outputs"
        );
        let err = audit::check(&log).expect_err("the leak must be caught");
        assert!(err.contains(expected), "{mutation:?}: {err}");
    }
}

/// The preprocessing-first run: each party's counters of each phase equal the static split
/// (`secc_ir::preprocessing::phase_costs`), the preprocessing is one round in which every
/// party deals (the dealers rotate), and its messages are in the audited log (so the check
/// above covered their words too).
fn assert_phases_match_the_static_split(
    low: &secc_ir::lir::LowProgram,
    run: &secc_runtime::RunReport,
    log: &audit::Log,
    what: &str,
) {
    let costs = secc_ir::preprocessing::phase_costs(low);
    assert_eq!(costs.preprocessing.rounds, 1, "{what}");
    assert_eq!(costs.online.rounds, low.predicted_cost().rounds, "{what}");
    for (party, p) in run.parties.iter().enumerate() {
        assert!(
            costs.preprocessing.bytes_sent[party] > 0,
            "{what}: P{party}"
        );
        assert_eq!(p.preprocessing_rounds, 1, "{what}: P{party}");
        assert_eq!(
            p.preprocessing_bytes_sent, costs.preprocessing.bytes_sent[party],
            "{what}: P{party}"
        );
        assert_eq!(p.rounds, costs.online.rounds, "{what}: P{party}");
        assert_eq!(
            p.bytes_sent - p.preprocessing_bytes_sent,
            costs.online.bytes_sent[party],
            "{what}: P{party}"
        );
    }
    let preprocessing_words: u64 = log
        .messages
        .iter()
        .filter(|m| m.stage == audit::PREPROCESSING)
        .map(|m| m.words.len() as u64)
        .sum();
    let static_words: u64 = costs.preprocessing.bytes_sent.iter().sum::<u64>() / 8;
    assert_eq!(preprocessing_words, static_words, "{what}");
}
