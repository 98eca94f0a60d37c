//! Round structure of a low-level program: for each communication step, the earliest round it
//! could run in given its data dependencies (its level), and whether each round depends on the
//! round just before it. Rounds a scheduler could still merge with the same protocols are the
//! difference between the program's rounds and its critical path in rounds.
//!
//! A communication step's result counts as available after its stage's round (the LIR's rule);
//! local instructions are free, so a step's level is one more than the highest level among the
//! communication results its source depends on, through any chain of local instructions.

use secc_ir::lir::{CommInstr, LowProgram};
use std::collections::BTreeMap;

/// What [`analyse`] finds.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundStructure {
    /// Stages with at least one communication step (= rounds of the program).
    pub rounds: usize,
    /// The longest chain of dependent communication steps: the fewest rounds any schedule of
    /// these steps can take.
    pub critical_rounds: usize,
    /// Rounds (after the first) none of whose steps depends on the round just before it: each
    /// could be merged into that round as it stands.
    pub independent_of_previous: usize,
    /// For those rounds, the operators of the round before and of the round itself
    /// ("<op before> | <op>"), counted.
    pub independent_pairs: BTreeMap<String, usize>,
    /// Rounds per operator kind (the op names of the steps' sources, deduplicated per round).
    pub rounds_by_op: BTreeMap<String, usize>,
    /// Rounds per combination of step kinds ("Reshare", "TruncOpen+TruncFinish", ...).
    pub rounds_by_step: BTreeMap<String, usize>,
    /// Per round, the bytes each party sends in it (from the program's static cost).
    pub round_bytes: Vec<[u64; 3]>,
}

impl RoundStructure {
    /// Sum over rounds of the largest number of bytes one party sends in that round: the
    /// transfer time of a link model where each party's uplink carries `rate` bytes/s and the
    /// parties send in parallel, divided by the rate.
    pub fn max_party_bytes_per_round_sum(&self) -> u64 {
        self.round_bytes
            .iter()
            .map(|b| b.iter().copied().max().unwrap_or(0))
            .sum()
    }
}

/// The operator part of a step's source label ("SecGelu @ /encoder/..." -> "SecGelu").
fn op_of(source: &str) -> String {
    source
        .split(" @ ")
        .next()
        .unwrap_or(source)
        .trim()
        .to_string()
}

fn step_kind(c: &CommInstr) -> &'static str {
    match c {
        CommInstr::Reshare { .. } => "Reshare",
        CommInstr::ReshareBool { .. } => "ReshareBool",
        CommInstr::ReshareBoolPacked { .. } => "ReshareBoolPacked",
        CommInstr::TruncOpen { .. } => "TruncOpen",
        CommInstr::TruncFinish { .. } => "TruncFinish",
        CommInstr::FourierOpen { .. } => "FourierOpen",
    }
}

fn ops_of(sources: &[String]) -> String {
    let mut ops: Vec<String> = sources.iter().map(|s| op_of(s)).collect();
    ops.sort();
    ops.dedup();
    ops.join("+")
}

/// Computes the round structure of `low`.
pub fn analyse(low: &LowProgram) -> RoundStructure {
    let n = low.regs.len();
    // Per register: its level (rounds needed before it exists) and the index (1-based) of the
    // latest round whose results it depends on (0: none).
    let mut level = vec![0usize; n];
    let mut last_round = vec![0usize; n];
    let mut rounds = 0usize;
    let mut critical = 0usize;
    let mut independent = 0usize;
    let mut pairs: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    let mut previous_ops = String::new();
    let mut round_bytes = Vec::new();
    let mut by_step: BTreeMap<String, usize> = BTreeMap::new();
    let at = |v: &Vec<usize>, r: secc_ir::lir::Reg| v.get(r.0 as usize).copied().unwrap_or(0);
    for stage in &low.stages {
        for instr in &stage.local {
            let reads = instr.reads();
            let l = reads.iter().map(|&r| at(&level, r)).max().unwrap_or(0);
            let d = reads.iter().map(|&r| at(&last_round, r)).max().unwrap_or(0);
            if let Some(slot) = level.get_mut(instr.dst().0 as usize) {
                *slot = l;
            }
            if let Some(slot) = last_round.get_mut(instr.dst().0 as usize) {
                *slot = d;
            }
        }
        if stage.comm.is_empty() {
            continue;
        }
        rounds += 1;
        round_bytes.push(low.stage_cost(stage).bytes_sent);
        let mut kinds: Vec<&str> = stage.comm.iter().map(step_kind).collect();
        kinds.sort();
        kinds.dedup();
        *by_step.entry(kinds.join("+")).or_default() += 1;
        let ops = ops_of(&stage.comm_sources);
        for op in ops.split('+') {
            *by_op.entry(op.to_string()).or_default() += 1;
        }
        let depends_on_previous = stage
            .comm
            .iter()
            .any(|c| rounds > 1 && at(&last_round, c.src()) == rounds - 1);
        if rounds > 1 && !depends_on_previous {
            independent += 1;
            *pairs.entry(format!("{previous_ops} | {ops}")).or_default() += 1;
        }
        let mut results = Vec::new();
        for c in &stage.comm {
            let l = at(&level, c.src()) + 1;
            critical = critical.max(l);
            results.push((c.dst(), l));
        }
        for (dst, l) in results {
            if let Some(slot) = level.get_mut(dst.0 as usize) {
                *slot = l;
            }
            if let Some(slot) = last_round.get_mut(dst.0 as usize) {
                *slot = rounds;
            }
        }
        previous_ops = ops;
    }
    RoundStructure {
        rounds,
        critical_rounds: critical,
        independent_of_previous: independent,
        independent_pairs: pairs,
        rounds_by_op: by_op,
        rounds_by_step: by_step,
        round_bytes,
    }
}
