//! The per-party interpreter of a [`LowProgram`].
//!
//! Owns one party's execution: seed agreement with its two peers, the preprocessing phase
//! (before the client's input is read: the input-independent local instructions and one round
//! carrying every dealer step's seed-only words, as `secc_ir::preprocessing` splits the
//! program), receiving its input shares from the client, the online phase (every stage: the
//! remaining local instructions, then one message per peer holding the online payloads of all
//! the stage's communication steps in step order), and sending its output components to the
//! client.
//!
//! Invariants:
//! - The engine holds only this party's shares (see [`Share`]) and what it received; nothing
//!   in it takes another party's share or a plaintext secret.
//! - Every register is written once, with the kind and shape its declaration gives; every read
//!   finds a written register. Violations are program errors naming the stage and instruction.
//! - Message sizes are those of `LowProgram::step_elements`, split into the seed-only part
//!   (sent in the preprocessing round) and the online part, on both the sending and the
//!   receiving side, so the counters equal `LowProgram::predicted_cost` exactly, and each
//!   phase's counters equal `secc_ir::preprocessing::phase_costs`. Seed agreement and client
//!   traffic are counted separately.
//! - Every PRG draw of instruction k comes from stream k whichever phase makes it, so running
//!   the preprocessing first changes no word a party draws.
//! - Registers are freed after their last reader's stage, so memory follows the live set.
//! - Each three-way product feeds at most one communication step ([`product_lineage`], checked
//!   before the run): the masks of an `Add3` value's components sum to zero, so a second step
//!   could hand one party two of them.

use crate::client::parse_input_message;
use crate::error::RuntimeError;
use crate::net::{endpoint_name, NetError, Transport, CLIENT};
use crate::owner::PartyParams;
use crate::prg::{os_seed, PartySeeds, Seed};
use crate::protocols::{self, boolean, fourier, mul, reshare, trunc, Outgoing};
use crate::ring::{self, RingTensor};
use crate::share::Share;
use secc_ir::fixed;
use secc_ir::lir::{CommInstr, LocalInstr, LowProgram, Reg, RegKind};
use secc_ir::preprocessing::{self, online_elements, seed_only_elements, Split};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one party measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartyReport {
    pub party: usize,
    /// Stages with at least one communication step (the online rounds).
    pub rounds: u64,
    /// Payload bytes sent to the other parties for the program's steps, both phases.
    pub bytes_sent: u64,
    /// The preprocessing round (1, or 0 when the program has no seed-only words).
    pub preprocessing_rounds: u64,
    /// Part of `bytes_sent` sent in the preprocessing round.
    pub preprocessing_bytes_sent: u64,
    /// Time of the preprocessing phase (after seed agreement, before the input is read).
    pub preprocessing_wall: Duration,
    /// Time from reading the client's input to sending the outputs.
    pub online_wall: Duration,
    /// Messages sent to the other parties during the stages.
    pub messages_sent: u64,
    /// Bytes sent to the other parties while agreeing on seeds.
    pub setup_bytes_sent: u64,
    /// Bytes sent to the client (output components).
    pub client_bytes_sent: u64,
    pub wall: Duration,
}

/// Runs party `party`'s part of `program` over `transport`: seed agreement, inputs from the
/// client, every stage, outputs to the client.
pub fn run_party<T: Transport>(
    party: usize,
    program: &LowProgram,
    params: &PartyParams,
    transport: &mut T,
) -> Result<PartyReport, RuntimeError> {
    run_party_with_progress(party, program, params.clone(), transport, None)
}

/// Called after each stage with (stages done, total stages); for progress displays only.
pub type ProgressFn = dyn Fn(usize, usize) + Send + Sync;

/// [`run_party`] calling `progress` after every stage (it sees only stage counts, no data).
/// It takes the share set by value: the engine keeps the parameters without copying them, and
/// hands each one to its last loader without a copy (BERT-base's shares are gigabytes).
pub fn run_party_with_progress<T: Transport>(
    party: usize,
    program: &LowProgram,
    params: PartyParams,
    transport: &mut T,
    progress: Option<&ProgressFn>,
) -> Result<PartyReport, RuntimeError> {
    let start = Instant::now();
    if party > 2 || transport.id() != party {
        return Err(RuntimeError::Internal(format!(
            "party {party} started on the transport of endpoint {}",
            transport.id()
        )));
    }
    check_program(program)?;
    check_params(program, party, &params)?;
    let mut report = PartyReport {
        party,
        ..Default::default()
    };
    let seeds = agree_seeds(party, transport, &mut report)?;
    let split = preprocessing::analyse(program);
    let preprocessing_start = Instant::now();
    let mut engine = Engine::new(party, program, seeds, params)?;
    engine.preprocess(&split, transport, &mut report)?;
    report.preprocessing_wall = preprocessing_start.elapsed();
    let online_start = Instant::now();
    let input_bytes = transport.recv(CLIENT).map_err(|e| net(party, e))?;
    let input_words = ring::bytes_to_words(&input_bytes).ok_or_else(|| {
        net(
            party,
            NetError::Size {
                peer: endpoint_name(CLIENT),
                got: input_bytes.len(),
                expected: input_bytes.len().next_multiple_of(8),
            },
        )
    })?;
    engine.inputs = parse_input_message(program, party, &input_words)?;
    let mut instruction = 0u64;
    for (index, stage) in program.stages.iter().enumerate() {
        let skip = &split.preprocessing_local[index];
        engine.run_stage(index, instruction, skip, transport, &mut report)?;
        instruction += (stage.local.len() + stage.comm.len()) as u64;
        engine.free_after(index);
        if let Some(progress) = progress {
            progress(index + 1, program.stages.len());
        }
    }
    let outputs = engine.output_message(instruction)?;
    let bytes = ring::words_to_bytes(&outputs);
    report.client_bytes_sent = bytes.len() as u64;
    transport.send(CLIENT, bytes).map_err(|e| net(party, e))?;
    report.online_wall = online_start.elapsed();
    report.wall = start.elapsed();
    Ok(report)
}

fn net(party: usize, source: NetError) -> RuntimeError {
    RuntimeError::Net { party, source }
}

/// One message of exactly `expected` ring elements from `peer`.
fn receive_words<T: Transport>(
    transport: &mut T,
    me: usize,
    peer: usize,
    expected: usize,
) -> Result<Vec<u64>, RuntimeError> {
    let bytes = transport.recv(peer).map_err(|e| net(me, e))?;
    let size_error = || {
        net(
            me,
            NetError::Size {
                peer: endpoint_name(peer),
                got: bytes.len(),
                expected: expected * 8,
            },
        )
    };
    let words = ring::bytes_to_words(&bytes).ok_or_else(size_error)?;
    if words.len() != expected {
        return Err(size_error());
    }
    Ok(words)
}

/// Party i draws key k_(i+1) and sends it to P(i+1), the only other holder; it receives k_i
/// from P(i-1). The third party never sees either key.
fn agree_seeds<T: Transport>(
    party: usize,
    transport: &mut T,
    report: &mut PartyReport,
) -> Result<PartySeeds, RuntimeError> {
    let next_key = os_seed()?;
    let private = os_seed()?;
    let next = protocols::next(party);
    let prev = protocols::prev(party);
    transport
        .send(next, next_key.to_vec())
        .map_err(|e| net(party, e))?;
    report.setup_bytes_sent += next_key.len() as u64;
    let received = transport.recv(prev).map_err(|e| net(party, e))?;
    let own_key: Seed = received.as_slice().try_into().map_err(|_| {
        net(
            party,
            NetError::Size {
                peer: endpoint_name(prev),
                got: received.len(),
                expected: 32,
            },
        )
    })?;
    let seeds = PartySeeds {
        party,
        own_key,
        next_key,
        private,
    };
    crate::audit::record_seeds(&seeds);
    Ok(seeds)
}

/// Index checks over the whole program, so that execution can index without panicking, the
/// dealers of dealer steps (each names a party, and a `TruncFinish` names the dealer of the
/// step that wrote its Pending source, whose two other parties hold the halves), and the
/// use-once rule for three-way products ([`product_lineage`]).
pub fn check_program(program: &LowProgram) -> Result<(), RuntimeError> {
    let regs = program.regs.len();
    let reg_ok = |r: &Reg| (r.0 as usize) < regs;
    // Dealer of each Pending register, by the step that wrote it.
    let mut dealt_by: std::collections::HashMap<Reg, u8> = std::collections::HashMap::new();
    for (s, stage) in program.stages.iter().enumerate() {
        for (j, instr) in stage.local.iter().enumerate() {
            let at = || location(program, s, false, j);
            let mut read = instr.reads();
            read.push(instr.dst());
            if let Some(bad) = read.iter().find(|r| !reg_ok(r)) {
                return Err(RuntimeError::program(
                    at(),
                    format!("register r{} does not exist", bad.0),
                ));
            }
            let index_error = match instr {
                LocalInstr::LoadInput { input, .. } if *input as usize >= program.inputs.len() => {
                    Some(format!("input {input} does not exist"))
                }
                LocalInstr::LoadParam { param, .. } if *param as usize >= program.params.len() => {
                    Some(format!("parameter {param} does not exist"))
                }
                LocalInstr::LoadConst { index, .. } if *index as usize >= program.consts.len() => {
                    Some(format!("constant {index} does not exist"))
                }
                _ => None,
            };
            if let Some(message) = index_error {
                return Err(RuntimeError::program(at(), message));
            }
        }
        for (j, step) in stage.comm.iter().enumerate() {
            if !reg_ok(&step.dst()) || !reg_ok(&step.src()) {
                return Err(RuntimeError::program(
                    location(program, s, true, j),
                    "a register does not exist",
                ));
            }
            if let Some(dealer) = step.dealer() {
                let at = || location(program, s, true, j);
                if dealer > 2 {
                    return Err(RuntimeError::program(
                        at(),
                        format!("dealer P{dealer} does not exist (parties are 0, 1, 2)"),
                    ));
                }
                match step {
                    CommInstr::TruncFinish { src, .. } => {
                        if let Some(&opened) = dealt_by.get(src) {
                            if opened != dealer {
                                return Err(RuntimeError::program(
                                    at(),
                                    format!(
                                        "dealer P{dealer}, but its source r{} was dealt by \
                                         P{opened}",
                                        src.0
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {
                        dealt_by.insert(step.dst(), dealer);
                    }
                }
            }
            if let CommInstr::ReshareBoolPacked { width, .. } = step {
                if !(1..=64).contains(width) {
                    return Err(RuntimeError::program(
                        location(program, s, true, j),
                        format!("a packed reshare of {width}-bit words (1 to 64 allowed)"),
                    ));
                }
            }
        }
    }
    product_lineage(program)?;
    for output in &program.outputs {
        if !reg_ok(&output.reg) {
            return Err(RuntimeError::program(
                "outputs",
                format!("'{}' reads missing register r{}", output.name, output.reg.0),
            ));
        }
    }
    for (index, constant) in program.consts.iter().enumerate() {
        if constant.data.len() != constant.shape.iter().product::<usize>() {
            return Err(RuntimeError::program(
                "constants",
                format!(
                    "constant {index} has {} values for shape {:?}",
                    constant.data.len(),
                    constant.shape
                ),
            ));
        }
    }
    Ok(())
}

/// The use-once rule for three-way products, and the lineage it follows.
///
/// The components of an `Add3` (or `BoolAdd3`) value are masked by a zero sharing: party i's
/// z_i carries F(k_i) - F(k_(i+1)) of the product instruction's stream, and the three masks sum
/// to zero. One communication step hands each receiver one foreign component, padded by the
/// key it lacks; a second step that sends another component of the same value (or of anything
/// computed locally from it: rescale, struct ops, public products, sums with other values)
/// can hand the same receiver a second component padded by the same key with the opposite
/// sign, and their sum is unmasked (a reshare plus a truncation opening of one product lets
/// the receiver rebuild the product exactly). So every product's zero sharing may feed at most
/// one communication step. A step's result is a fresh sharing (a reshared `Rss`, a pending
/// half re-padded by the dealer), so lineage stops there.
///
/// Returns, for each register, the global numbers (the instruction counter the PRG streams
/// use) of the product instructions whose zero sharings mask it; empty for registers that are
/// not `Add3`/`BoolAdd3`. Expects the register indices to be checked already.
pub fn product_lineage(program: &LowProgram) -> Result<Vec<Vec<u64>>, RuntimeError> {
    let additive = |r: Reg| {
        matches!(
            program.regs.get(r.0 as usize).map(|d| d.kind),
            Some(RegKind::Add3 | RegKind::BoolAdd3)
        )
    };
    let mut lineage: Vec<Vec<u64>> = vec![Vec::new(); program.regs.len()];
    // Where each product instruction is, and the first step that sent its zero sharing.
    let mut origin_at: std::collections::HashMap<u64, (usize, usize)> = Default::default();
    let mut sent_at: std::collections::HashMap<u64, (usize, usize)> = Default::default();
    let mut instruction = 0u64;
    for (s, stage) in program.stages.iter().enumerate() {
        for (j, instr) in stage.local.iter().enumerate() {
            let dst = instr.dst();
            if additive(dst) {
                let mut origins: Vec<u64> = instr
                    .reads()
                    .into_iter()
                    .filter(|&r| additive(r))
                    .flat_map(|r| lineage[r.0 as usize].iter().copied())
                    .collect();
                if matches!(
                    instr,
                    LocalInstr::MulShares { .. }
                        | LocalInstr::MatMulShares { .. }
                        | LocalInstr::BoolAndLocal { .. }
                ) {
                    origins.push(instruction);
                    origin_at.insert(instruction, (s, j));
                }
                origins.sort_unstable();
                origins.dedup();
                lineage[dst.0 as usize] = origins;
            }
            instruction += 1;
        }
        for (j, step) in stage.comm.iter().enumerate() {
            let src = step.src();
            if additive(src) {
                for &origin in &lineage[src.0 as usize] {
                    if let Some(&(s0, j0)) = sent_at.get(&origin) {
                        let (ps, pj) = origin_at[&origin];
                        return Err(RuntimeError::program(
                            location(program, s, true, j),
                            format!(
                                "r{} derives from the three-way product at {}, which already \
                                 fed {}: the masks of a product's components sum to zero, so \
                                 one product may feed one communication step only (a second \
                                 would hand a party two of its components)",
                                src.0,
                                location(program, ps, false, pj),
                                location(program, s0, true, j0),
                            ),
                        ));
                    }
                    sent_at.insert(origin, (s, j));
                }
            }
            instruction += 1;
        }
    }
    Ok(lineage)
}

fn check_params(
    program: &LowProgram,
    party: usize,
    params: &PartyParams,
) -> Result<(), RuntimeError> {
    if params.party != party {
        return Err(RuntimeError::Weights(format!(
            "party P{party} was given the share set of party P{}",
            params.party
        )));
    }
    if params.params.len() != program.params.len() {
        return Err(RuntimeError::Weights(format!(
            "the share set holds {} parameters, the program declares {}",
            params.params.len(),
            program.params.len()
        )));
    }
    for (decl, share) in program.params.iter().zip(&params.params) {
        let n: usize = decl.shape.iter().product();
        if share.shape != decl.shape || share.first.len() != n || share.second.len() != n {
            return Err(RuntimeError::Weights(format!(
                "the share of parameter '{}' has shape {:?}, the program expects {:?}",
                decl.name, share.shape, decl.shape
            )));
        }
    }
    Ok(())
}

/// "stage 3, communication instruction 2 (TruncOpen { .. }) serving MatMul @ /l0/fc".
fn location(program: &LowProgram, stage: usize, comm: bool, index: usize) -> String {
    let s = &program.stages[stage];
    let text = if comm {
        format!("{:?}", s.comm[index])
    } else {
        format!("{:?}", s.local[index])
    };
    let short: String = text.chars().take(120).collect();
    let kind = if comm { "communication" } else { "local" };
    let mut at = format!("stage {stage}, {kind} instruction {index} ({short})");
    if let Some(source) = s.comm_sources.get(index).filter(|_| comm) {
        at.push_str(&format!(" serving {source}"));
    }
    at
}

/// Per-step state between building the stage's messages and finishing the step.
enum StepState {
    Reshare { own: RingTensor, boolean: bool },
    ReshareBoolPacked { own: RingTensor, width: u32 },
    TruncOpen(Option<trunc::OpenState>),
    TruncFinish(trunc::FinishState),
    Fourier(Option<fourier::FourierState>),
}

struct Engine<'p> {
    party: usize,
    program: &'p LowProgram,
    seeds: PartySeeds,
    regs: Vec<Option<Share>>,
    inputs: Vec<Share>,
    /// Each parameter until its last `LoadParam` takes it.
    params: Vec<Option<Share>>,
    /// `LoadParam` instructions of each parameter not yet executed.
    loads_left: Vec<usize>,
    /// Registers to drop after each stage (their last reader ran).
    frees: Vec<Vec<Reg>>,
    /// The product lineage of every register, only while a test audits the run
    /// ([`crate::audit`]); `None` in every normal run.
    lineage: Option<Vec<Vec<u64>>>,
    /// The seed-only words received in the preprocessing round, by sender.
    preprocessed: [Vec<u64>; 3],
    /// Where each step's seed-only words start in `preprocessed`, by sender (by instruction).
    preprocessed_at: HashMap<u64, [usize; 3]>,
}

impl<'p> Engine<'p> {
    fn new(
        party: usize,
        program: &'p LowProgram,
        seeds: PartySeeds,
        params: PartyParams,
    ) -> Result<Self, RuntimeError> {
        let internal = |e: String| RuntimeError::Internal(e);
        let params = params
            .params
            .into_iter()
            .map(|p| {
                Ok(Some(Share::Rss {
                    first: ring::from_vec(&p.shape, p.first).map_err(internal)?,
                    second: ring::from_vec(&p.shape, p.second).map_err(internal)?,
                }))
            })
            .collect::<Result<Vec<_>, RuntimeError>>()?;
        let mut loads_left = vec![0usize; params.len()];
        for stage in &program.stages {
            for instr in &stage.local {
                if let LocalInstr::LoadParam { param, .. } = instr {
                    if let Some(n) = loads_left.get_mut(*param as usize) {
                        *n += 1;
                    }
                }
            }
        }
        Ok(Engine {
            party,
            program,
            seeds,
            regs: vec![None; program.regs.len()],
            inputs: Vec::new(),
            params,
            loads_left,
            frees: liveness(program),
            lineage: if crate::audit::enabled() {
                Some(product_lineage(program)?)
            } else {
                None
            },
            preprocessed: Default::default(),
            preprocessed_at: HashMap::new(),
        })
    }

    /// The preprocessing phase: the input-independent local instructions, then one round in
    /// which every dealer sends the seed-only words of all its steps (program order) and every
    /// receiver keeps them for the online phase. Reads no input and no parameter.
    fn preprocess<T: Transport>(
        &mut self,
        split: &Split,
        transport: &mut T,
        report: &mut PartyReport,
    ) -> Result<(), RuntimeError> {
        let program = self.program;
        let me = self.party;
        let mut messages: Outgoing = Default::default();
        let mut parts: [Vec<(u64, usize, usize)>; 3] = Default::default();
        let mut expected = [0usize; 3];
        let mut instruction = 0u64;
        for (s, stage) in program.stages.iter().enumerate() {
            for (j, instr) in stage.local.iter().enumerate() {
                if split.preprocessing_local[s][j] {
                    self.run_local(instr, s, j, instruction + j as u64)?;
                }
            }
            let comm_base = instruction + stage.local.len() as u64;
            for (j, step) in stage.comm.iter().enumerate() {
                let k = comm_base + j as u64;
                let at = || location(program, s, true, j);
                let out = self
                    .seed_only_start(step, k)
                    .map_err(|m| RuntimeError::program(at(), m))?;
                for (peer, payload) in out.into_iter().enumerate() {
                    let contract = if peer == me {
                        0
                    } else {
                        seed_only_elements(program, step, me, peer) as usize
                    };
                    if payload.len() != contract {
                        return Err(RuntimeError::Internal(format!(
                            "{}: built {} seed-only elements for P{peer}, the contract says \
                             {contract}",
                            at(),
                            payload.len()
                        )));
                    }
                    if self.lineage.is_some() && !payload.is_empty() {
                        parts[peer].push((k, messages[peer].len(), payload.len()));
                    }
                    messages[peer].extend(payload);
                }
                let mut at_peer = [0usize; 3];
                let mut any = false;
                for peer in (0..3).filter(|&p| p != me) {
                    let n = seed_only_elements(program, step, peer, me) as usize;
                    at_peer[peer] = expected[peer];
                    expected[peer] += n;
                    any |= n > 0;
                }
                if any {
                    self.preprocessed_at.insert(k, at_peer);
                }
            }
            instruction += (stage.local.len() + stage.comm.len()) as u64;
        }
        report.preprocessing_rounds = preprocessing::phase_costs(program).preprocessing.rounds;
        for (peer, words) in messages.iter().enumerate() {
            if peer != me && !words.is_empty() {
                if self.lineage.is_some() {
                    crate::audit::record_message(crate::audit::Message {
                        from: me,
                        to: peer,
                        stage: crate::audit::PREPROCESSING,
                        parts: std::mem::take(&mut parts[peer]),
                        words: words.clone(),
                    });
                }
                let bytes = ring::words_to_bytes(words);
                report.bytes_sent += bytes.len() as u64;
                report.preprocessing_bytes_sent += bytes.len() as u64;
                report.messages_sent += 1;
                transport.send(peer, bytes).map_err(|e| net(me, e))?;
            }
        }
        for peer in (0..3).filter(|&p| p != me && expected[p] > 0) {
            self.preprocessed[peer] = receive_words(transport, me, peer, expected[peer])?;
        }
        Ok(())
    }

    /// This party's seed-only words of one step (see `secc_ir::preprocessing`).
    fn seed_only_start(&self, step: &CommInstr, instruction: u64) -> Result<Outgoing, String> {
        let me = self.party;
        let n = || self.program.elements(step.src()) as usize;
        match step {
            CommInstr::TruncOpen { shift, dealer, .. } => {
                trunc::dealer_corrections(me, &self.seeds, instruction, n(), *shift, *dealer)
            }
            CommInstr::FourierOpen {
                dst,
                src,
                period_bits,
                coefficients,
                dealer,
            } => {
                let frac = self.frac(*src);
                let dealer_frac = self.fourier_dealer_frac(*src, *dst)?;
                fourier::dealer_shares(
                    me,
                    &self.seeds,
                    instruction,
                    n(),
                    *period_bits,
                    coefficients.len(),
                    frac,
                    dealer_frac,
                    *dealer,
                )
            }
            CommInstr::Reshare { .. }
            | CommInstr::ReshareBool { .. }
            | CommInstr::ReshareBoolPacked { .. }
            | CommInstr::TruncFinish { .. } => Ok(Default::default()),
        }
    }

    /// The precision of a Fourier dealer's sines and cosines: the destination's fraction bits
    /// beyond the source's.
    fn fourier_dealer_frac(&self, src: Reg, dst: Reg) -> Result<u32, String> {
        let frac = self.frac(src);
        self.frac(dst)
            .checked_sub(frac)
            .filter(|&g| g > 0)
            .ok_or_else(|| {
                format!(
                    "FourierOpen of scale {frac} into scale {}: the result needs more fraction \
                     bits than the source",
                    self.frac(dst)
                )
            })
    }

    fn free_after(&mut self, stage: usize) {
        for reg in &self.frees[stage] {
            self.regs[reg.0 as usize] = None;
        }
    }

    fn get(&self, reg: Reg, at: &dyn Fn() -> String) -> Result<&Share, RuntimeError> {
        self.regs[reg.0 as usize].as_ref().ok_or_else(|| {
            RuntimeError::program(
                at(),
                format!("register r{} is read before it is written", reg.0),
            )
        })
    }

    fn frac(&self, reg: Reg) -> u32 {
        self.program.regs[reg.0 as usize].frac_bits
    }

    fn set(&mut self, reg: Reg, share: Share, at: &dyn Fn() -> String) -> Result<(), RuntimeError> {
        let decl = &self.program.regs[reg.0 as usize];
        if share.kind() != decl.kind {
            return Err(RuntimeError::program(
                at(),
                format!(
                    "the result is {:?} but r{} is declared {:?}",
                    share.kind(),
                    reg.0,
                    decl.kind
                ),
            ));
        }
        if share.shape() != decl.shape.as_slice() {
            return Err(RuntimeError::program(
                at(),
                format!(
                    "the result has shape {:?} but r{} is declared {:?}",
                    share.shape(),
                    reg.0,
                    decl.shape
                ),
            ));
        }
        let slot = &mut self.regs[reg.0 as usize];
        if slot.is_some() {
            return Err(RuntimeError::program(
                at(),
                format!("register r{} is written twice", reg.0),
            ));
        }
        *slot = Some(share);
        Ok(())
    }

    fn run_stage<T: Transport>(
        &mut self,
        stage_index: usize,
        first_instruction: u64,
        preprocessed: &[bool],
        transport: &mut T,
        report: &mut PartyReport,
    ) -> Result<(), RuntimeError> {
        let program = self.program;
        let stage = &program.stages[stage_index];
        for (j, instr) in stage.local.iter().enumerate() {
            if preprocessed.get(j).copied().unwrap_or(false) {
                continue;
            }
            self.run_local(instr, stage_index, j, first_instruction + j as u64)?;
        }
        if stage.comm.is_empty() {
            return Ok(());
        }
        report.rounds += 1;
        let me = self.party;
        let comm_base = first_instruction + stage.local.len() as u64;
        let mut messages: Outgoing = Default::default();
        let mut states = Vec::with_capacity(stage.comm.len());
        // (instruction, start, len) of each step's payload per peer, for the audit (tests).
        let mut parts: [Vec<(u64, usize, usize)>; 3] = Default::default();
        for (j, step) in stage.comm.iter().enumerate() {
            let at = || location(program, stage_index, true, j);
            let (out, state) = self
                .start_step(step, comm_base + j as u64)
                .map_err(|m| RuntimeError::program(at(), m))?;
            if let Some(lineage) = &self.lineage {
                audit_components(me, step, comm_base + j as u64, &out, lineage, program);
                for (peer, payload) in out.iter().enumerate() {
                    if !payload.is_empty() {
                        let start = messages[peer].len();
                        parts[peer].push((comm_base + j as u64, start, payload.len()));
                    }
                }
            }
            for (peer, payload) in out.into_iter().enumerate() {
                let expected = if peer == me {
                    0
                } else {
                    online_elements(program, step, me, peer) as usize
                };
                if payload.len() != expected {
                    return Err(RuntimeError::Internal(format!(
                        "{}: built {} elements for P{peer}, the contract says {expected}",
                        at(),
                        payload.len()
                    )));
                }
                messages[peer].extend(payload);
            }
            states.push(state);
        }
        for (peer, words) in messages.iter().enumerate() {
            if peer != me && !words.is_empty() {
                if self.lineage.is_some() {
                    crate::audit::record_message(crate::audit::Message {
                        from: me,
                        to: peer,
                        stage: stage_index,
                        parts: std::mem::take(&mut parts[peer]),
                        words: words.clone(),
                    });
                }
                let bytes = ring::words_to_bytes(words);
                report.bytes_sent += bytes.len() as u64;
                report.messages_sent += 1;
                transport.send(peer, bytes).map_err(|e| net(me, e))?;
            }
        }
        let mut received: [Vec<u64>; 3] = Default::default();
        for peer in (0..3).filter(|&p| p != me) {
            let expected: u64 = stage
                .comm
                .iter()
                .map(|step| online_elements(program, step, peer, me))
                .sum();
            if expected != 0 {
                received[peer] = receive_words(transport, me, peer, expected as usize)?;
            }
        }
        let mut offsets = [0usize; 3];
        let mut results = Vec::with_capacity(stage.comm.len());
        for (j, (step, state)) in stage.comm.iter().zip(states).enumerate() {
            let at = || location(program, stage_index, true, j);
            let k = comm_base + j as u64;
            // A step's payload is its seed-only words (preprocessing round) then its online ones.
            let mut online: [&[u64]; 3] = [&[], &[], &[]];
            let mut ahead: [&[u64]; 3] = [&[], &[], &[]];
            for peer in (0..3).filter(|&p| p != me) {
                let n = online_elements(program, step, peer, me) as usize;
                online[peer] = &received[peer][offsets[peer]..offsets[peer] + n];
                offsets[peer] += n;
                let pre = seed_only_elements(program, step, peer, me) as usize;
                if pre > 0 {
                    let start = self.preprocessed_at.get(&k).map_or(0, |at| at[peer]);
                    ahead[peer] =
                        self.preprocessed[peer]
                            .get(start..start + pre)
                            .ok_or_else(|| {
                                RuntimeError::Internal(format!("{}: seed-only words missing", at()))
                            })?;
                }
            }
            let joined: [Vec<u64>; 3] = std::array::from_fn(|peer| {
                if ahead[peer].is_empty() || online[peer].is_empty() {
                    Vec::new()
                } else {
                    [ahead[peer], online[peer]].concat()
                }
            });
            let slices: [&[u64]; 3] = std::array::from_fn(|peer| {
                if !joined[peer].is_empty() {
                    &joined[peer][..]
                } else if !ahead[peer].is_empty() {
                    ahead[peer]
                } else {
                    online[peer]
                }
            });
            let share = self
                .finish_step(step, k, state, slices)
                .map_err(|m| RuntimeError::program(at(), m))?;
            results.push((step.dst(), share, j));
        }
        for (dst, share, j) in results {
            self.set(dst, share, &|| location(program, stage_index, true, j))?;
        }
        Ok(())
    }

    fn start_step(
        &self,
        step: &CommInstr,
        instruction: u64,
    ) -> Result<(Outgoing, StepState), String> {
        let me = self.party;
        let at = || String::new();
        let src = step.src();
        let source = self.get(src, &at).map_err(|e| e.to_string())?;
        match step {
            CommInstr::Reshare { .. } | CommInstr::ReshareBool { .. } => {
                let boolean = matches!(step, CommInstr::ReshareBool { .. });
                let own = match (source, boolean) {
                    (Share::Add3(z), false) | (Share::BoolAdd3(z), true) => z.clone(),
                    (other, _) => {
                        return Err(format!("cannot reshare a {:?} register", other.kind()))
                    }
                };
                Ok((
                    reshare::reshare_start(me, &own),
                    StepState::Reshare { own, boolean },
                ))
            }
            CommInstr::ReshareBoolPacked { width, .. } => {
                let Share::BoolAdd3(z) = source else {
                    return Err(format!("cannot reshare a {:?} register", source.kind()));
                };
                let (own, out) = reshare::reshare_packed_start(me, z, *width);
                Ok((out, StepState::ReshareBoolPacked { own, width: *width }))
            }
            CommInstr::TruncOpen {
                dst, shift, dealer, ..
            } => {
                let expected_frac = self.frac(src).checked_sub(*shift);
                if expected_frac != Some(self.frac(*dst)) {
                    return Err(format!(
                        "truncating scale {} by {shift} bits cannot give scale {}",
                        self.frac(src),
                        self.frac(*dst)
                    ));
                }
                let (out, state) =
                    trunc::open_start(me, &self.seeds, instruction, source, *shift, *dealer)?;
                Ok((out, StepState::TruncOpen(state)))
            }
            CommInstr::TruncFinish { dst, dealer, .. } => {
                if self.frac(src) != self.frac(*dst) {
                    return Err("TruncFinish must keep the scale".into());
                }
                let (out, state) =
                    trunc::finish_start(me, &self.seeds, instruction, source, *dealer)?;
                Ok((out, StepState::TruncFinish(state)))
            }
            CommInstr::FourierOpen {
                dst,
                period_bits,
                coefficients,
                dealer,
                ..
            } => {
                let frac = self.frac(src);
                self.fourier_dealer_frac(src, *dst)?;
                let (out, state) = fourier::open_start(
                    me,
                    &self.seeds,
                    instruction,
                    source,
                    *period_bits,
                    coefficients.len(),
                    frac,
                    *dealer,
                )?;
                Ok((out, StepState::Fourier(state)))
            }
        }
    }

    fn finish_step(
        &self,
        step: &CommInstr,
        instruction: u64,
        state: StepState,
        incoming: protocols::Incoming<'_>,
    ) -> Result<Share, String> {
        let me = self.party;
        match state {
            StepState::Reshare { own, boolean } => {
                let (first, second) = reshare::reshare_finish(own, incoming[protocols::next(me)])?;
                Ok(if boolean {
                    Share::BoolRss { first, second }
                } else {
                    Share::Rss { first, second }
                })
            }
            StepState::ReshareBoolPacked { own, width } => {
                let (first, second) =
                    reshare::reshare_packed_finish(own, incoming[protocols::next(me)], width)?;
                Ok(Share::BoolRss { first, second })
            }
            StepState::TruncOpen(state) => {
                let CommInstr::TruncOpen { dst, dealer, .. } = step else {
                    return Err("internal: TruncOpen state for another step".into());
                };
                let shape = &self.program.regs[dst.0 as usize].shape;
                trunc::open_finish(
                    me,
                    &self.seeds,
                    instruction,
                    state,
                    incoming,
                    shape,
                    *dealer,
                )
            }
            StepState::TruncFinish(state) => {
                let CommInstr::TruncFinish { dealer, .. } = step else {
                    return Err("internal: TruncFinish state for another step".into());
                };
                let (first, second) = trunc::finish_finish(state, incoming, *dealer)?;
                Ok(Share::Rss { first, second })
            }
            StepState::Fourier(state) => {
                let CommInstr::FourierOpen {
                    src,
                    period_bits,
                    coefficients,
                    dealer,
                    ..
                } = step
                else {
                    return Err("internal: Fourier state for another step".into());
                };
                let shape = &self.program.regs[step.dst().0 as usize].shape;
                fourier::open_finish(
                    me,
                    instruction,
                    state,
                    incoming,
                    *period_bits,
                    coefficients,
                    self.frac(*src),
                    shape,
                    *dealer,
                )
            }
        }
    }

    /// Adds a public ring tensor into component 0 (held by P0 as its first and by P2 as its
    /// second component), broadcasting the other components to the result's shape.
    fn add_public_to_component0(
        &self,
        first: &RingTensor,
        second: &RingTensor,
        public: &RingTensor,
        combine: fn(&RingTensor, &RingTensor) -> Result<RingTensor, String>,
    ) -> Result<Share, String> {
        let shape =
            secc_ir::types::broadcast_shapes(first.shape(), public.shape()).ok_or_else(|| {
                format!(
                    "shapes {:?} and {:?} do not broadcast",
                    first.shape(),
                    public.shape()
                )
            })?;
        let spread = |t: &RingTensor| {
            ring::apply_struct(
                t,
                &secc_ir::lir::StructOp::Broadcast {
                    shape: shape.clone(),
                },
            )
        };
        let (first, second) = match self.party {
            0 => (combine(first, public)?, spread(second)?),
            2 => (spread(first)?, combine(second, public)?),
            _ => (spread(first)?, spread(second)?),
        };
        Ok(Share::Rss { first, second })
    }

    fn linear(&self, a: &Share, b: &Share, subtract: bool) -> Result<Share, String> {
        let op: fn(&RingTensor, &RingTensor) -> Result<RingTensor, String> =
            if subtract { ring::sub } else { ring::add };
        Ok(match (a, b) {
            (
                Share::Rss {
                    first: a0,
                    second: a1,
                },
                Share::Rss {
                    first: b0,
                    second: b1,
                },
            ) => Share::Rss {
                first: op(a0, b0)?,
                second: op(a1, b1)?,
            },
            (Share::Add3(x), Share::Add3(y)) => Share::Add3(op(x, y)?),
            (Share::Ring(x), Share::Ring(y)) => Share::Ring(op(x, y)?),
            (Share::Rss { first, second }, Share::Ring(r)) => {
                self.add_public_to_component0(first, second, r, op)?
            }
            (Share::Ring(r), Share::Rss { first, second }) => {
                if subtract {
                    // r - x: negate every component, then add r into component 0.
                    let (n0, n1) = (ring::neg(first), ring::neg(second));
                    self.add_public_to_component0(&n0, &n1, r, ring::add)?
                } else {
                    self.add_public_to_component0(first, second, r, ring::add)?
                }
            }
            (x, y) => {
                return Err(format!(
                    "{} of {:?} and {:?} registers",
                    if subtract { "Sub" } else { "Add" },
                    x.kind(),
                    y.kind()
                ))
            }
        })
    }

    /// Share (Rss or Add3) times public ring value, in either order, element-wise or matmul.
    fn times_public(&self, a: &Share, b: &Share, matrix: bool) -> Result<Share, String> {
        let product = |x: &RingTensor, y: &RingTensor| {
            if matrix {
                ring::matmul(x, y)
            } else {
                ring::mul(x, y)
            }
        };
        Ok(match (a, b) {
            (Share::Ring(x), Share::Ring(y)) => Share::Ring(product(x, y)?),
            (Share::Rss { first, second }, Share::Ring(r)) => Share::Rss {
                first: product(first, r)?,
                second: product(second, r)?,
            },
            (Share::Ring(r), Share::Rss { first, second }) => Share::Rss {
                first: product(r, first)?,
                second: product(r, second)?,
            },
            (Share::Add3(z), Share::Ring(r)) => Share::Add3(product(z, r)?),
            (Share::Ring(r), Share::Add3(z)) => Share::Add3(product(r, z)?),
            (x, y) => {
                return Err(format!(
                    "product by a public value of {:?} and {:?} registers",
                    x.kind(),
                    y.kind()
                ))
            }
        })
    }

    /// Executes local instruction `j` of stage `stage` (instruction number `instruction`, which
    /// keys its PRG stream) and writes its destination register.
    fn run_local(
        &mut self,
        instr: &LocalInstr,
        stage: usize,
        j: usize,
        instruction: u64,
    ) -> Result<(), RuntimeError> {
        let program = self.program;
        let at = || location(program, stage, false, j);
        let share = self
            .exec_local(instr, instruction, &at)
            .map_err(|e| match e {
                LocalError::Program(message) => RuntimeError::program(at(), message),
                LocalError::Runtime(e) => e,
            })?;
        self.set(instr.dst(), share, &at)
    }

    fn exec_local(
        &mut self,
        instr: &LocalInstr,
        instruction: u64,
        at: &dyn Fn() -> String,
    ) -> Result<Share, LocalError> {
        use LocalInstr::*;
        let me = self.party;
        let get = |r: Reg| self.get(r, at).map_err(LocalError::Runtime);
        let frac_sum = |dst: Reg, a: Reg, b: Reg| -> Result<(), LocalError> {
            if self.frac(dst) != self.frac(a) + self.frac(b) {
                return Err(LocalError::Program(format!(
                    "a product of scales {} and {} has scale {}, not {}",
                    self.frac(a),
                    self.frac(b),
                    self.frac(a) + self.frac(b),
                    self.frac(dst)
                )));
            }
            Ok(())
        };
        let rss = |r: Reg| -> Result<(&RingTensor, &RingTensor), LocalError> {
            match get(r)? {
                Share::Rss { first, second } => Ok((first, second)),
                other => Err(LocalError::Program(format!(
                    "r{} is {:?}, expected Rss",
                    r.0,
                    other.kind()
                ))),
            }
        };
        let bool_rss = |r: Reg| -> Result<(&RingTensor, &RingTensor), LocalError> {
            match get(r)? {
                Share::BoolRss { first, second } => Ok((first, second)),
                other => Err(LocalError::Program(format!(
                    "r{} is {:?}, expected BoolRss",
                    r.0,
                    other.kind()
                ))),
            }
        };
        let component = |c: u8| -> Result<usize, LocalError> {
            if c < 3 {
                Ok(c as usize)
            } else {
                Err(LocalError::Program(format!("component {c} does not exist")))
            }
        };
        let share = match instr {
            LoadInput { input, .. } => self.inputs[*input as usize].clone(),
            LoadParam { param, .. } => {
                let index = *param as usize;
                self.loads_left[index] = self.loads_left[index].saturating_sub(1);
                let slot = &mut self.params[index];
                let share = if self.loads_left[index] == 0 {
                    slot.take()
                } else {
                    slot.clone()
                };
                share.ok_or_else(|| {
                    LocalError::Runtime(RuntimeError::Internal(format!(
                        "parameter {index} was loaded more often than the program says"
                    )))
                })?
            }
            LoadConst { dst, index } => {
                let c = &self.program.consts[*index as usize];
                match self.program.regs[dst.0 as usize].kind {
                    RegKind::Ring => {
                        let frac = self.frac(*dst);
                        Share::Ring(ring::from_vec(
                            &c.shape,
                            c.data.iter().map(|&v| fixed::encode(v, frac)).collect(),
                        )?)
                    }
                    _ => Share::Public(ring::from_vec(&c.shape, c.data.clone())?),
                }
            }
            PublicOp { op, args, .. } => {
                let values = args
                    .iter()
                    .map(|&r| match get(r)? {
                        Share::Public(v) => Ok(v),
                        other => Err(LocalError::Program(format!(
                            "PublicOp argument r{} is {:?}",
                            r.0,
                            other.kind()
                        ))),
                    })
                    .collect::<Result<Vec<_>, LocalError>>()?;
                Share::Public(secc_ir::interp::eval_op(op, &values)?)
            }
            Encode { src, frac_bits, .. } => match get(*src)? {
                Share::Public(v) => {
                    let encoded = v.iter().map(|&x| fixed::encode(x, *frac_bits)).collect();
                    Share::Ring(ring::from_vec(v.shape(), encoded)?)
                }
                other => {
                    return Err(LocalError::Program(format!(
                        "Encode of a {:?} register",
                        other.kind()
                    )))
                }
            },
            Add { dst, a, b } | Sub { dst, a, b } => {
                let (fa, fb, fd) = (self.frac(*a), self.frac(*b), self.frac(*dst));
                if fa != fb || fa != fd {
                    return Err(LocalError::Program(format!(
                        "operand scales {fa} and {fb}, result scale {fd}: all must agree"
                    )));
                }
                self.linear(get(*a)?, get(*b)?, matches!(instr, Sub { .. }))?
            }
            Neg { a, .. } => get(*a)?.map_components(
                |t| Ok(ring::neg(t)),
                |_| Err("Neg of a Public register".into()),
            )?,
            MulInt { a, k, .. } => {
                let k = *k as u64;
                match get(*a)? {
                    s @ (Share::Rss { .. } | Share::Add3(_) | Share::Ring(_)) => {
                        s.map_components(|t| Ok(ring::scale(t, k)), |_| unreachable_public())?
                    }
                    other => {
                        return Err(LocalError::Program(format!(
                            "MulInt of a {:?} register",
                            other.kind()
                        )))
                    }
                }
            }
            MulPublic { dst, a, b } | MatMulPublic { dst, a, b } => {
                frac_sum(*dst, *a, *b)?;
                self.times_public(get(*a)?, get(*b)?, matches!(instr, MatMulPublic { .. }))?
            }
            MulShares { dst, a, b } | MatMulShares { dst, a, b } => {
                frac_sum(*dst, *a, *b)?;
                let (x, y) = (rss(*a)?, rss(*b)?);
                Share::Add3(if matches!(instr, MulShares { .. }) {
                    mul::mul_shares_local(&self.seeds, instruction, x, y)?
                } else {
                    mul::matmul_shares_local(&self.seeds, instruction, x, y)?
                })
            }
            Struct { src, op, .. } => get(*src)?
                .map_components(|t| ring::apply_struct(t, op), |v| ring::apply_struct(v, op))?,
            Concat { srcs, axis, .. } => self.concat(srcs, *axis, at)?,
            ReduceSum {
                src,
                axes,
                keep_dims,
                ..
            } => match get(*src)? {
                Share::Public(v) => {
                    let op = secc_ir::Op::ReduceSum {
                        axes: axes.clone(),
                        keep_dims: *keep_dims,
                    };
                    Share::Public(secc_ir::interp::eval_op(&op, &[v])?)
                }
                s @ (Share::Rss { .. } | Share::Add3(_) | Share::Ring(_)) => s.map_components(
                    |t| ring::reduce_sum(t, axes, *keep_dims),
                    |_| unreachable_public(),
                )?,
                other => {
                    return Err(LocalError::Program(format!(
                        "ReduceSum of a {:?} register",
                        other.kind()
                    )))
                }
            },
            ComponentToBool {
                src, component: c, ..
            } => {
                let c = component(*c)?;
                let (first, second) = rss(*src)?;
                let (first, second) = boolean::component_to_bool(me, first, second, c);
                Share::BoolRss { first, second }
            }
            Rescale { src, .. } => match get(*src)? {
                s @ (Share::Rss { .. }
                | Share::Add3(_)
                | Share::Ring(_)
                | Share::Pending { .. }) => s.clone(),
                other => {
                    return Err(LocalError::Program(format!(
                        "Rescale of a {:?} register",
                        other.kind()
                    )))
                }
            },
            BitComponentToArith {
                src, component: c, ..
            } => {
                let c = component(*c)?;
                let (first, second) = bool_rss(*src)?;
                let (first, second) = boolean::bit_component_to_arith(me, first, second, c);
                Share::Rss { first, second }
            }
            BoolXor { a, b, .. } => match (get(*a)?, get(*b)?) {
                (
                    Share::BoolRss {
                        first: a0,
                        second: a1,
                    },
                    Share::BoolRss {
                        first: b0,
                        second: b1,
                    },
                ) => Share::BoolRss {
                    first: ring::xor(a0, b0)?,
                    second: ring::xor(a1, b1)?,
                },
                (Share::BoolAdd3(x), Share::BoolAdd3(y)) => Share::BoolAdd3(ring::xor(x, y)?),
                (x, y) => {
                    return Err(LocalError::Program(format!(
                        "BoolXor of {:?} and {:?} registers",
                        x.kind(),
                        y.kind()
                    )))
                }
            },
            BoolXorPublic { a, word, .. } => {
                let word = *word;
                let flip = |t: &RingTensor| ring::map(t, move |w| w ^ word);
                match get(*a)? {
                    Share::BoolRss { first, second } => Share::BoolRss {
                        first: if me == 0 { flip(first) } else { first.clone() },
                        second: if me == 2 {
                            flip(second)
                        } else {
                            second.clone()
                        },
                    },
                    Share::BoolAdd3(z) => {
                        Share::BoolAdd3(if me == 0 { flip(z) } else { z.clone() })
                    }
                    other => {
                        return Err(LocalError::Program(format!(
                            "BoolXorPublic of a {:?} register",
                            other.kind()
                        )))
                    }
                }
            }
            BoolAndLocal { a, b, .. } => Share::BoolAdd3(boolean::and_local(
                &self.seeds,
                instruction,
                bool_rss(*a)?,
                bool_rss(*b)?,
            )?),
            BoolExtract { a, mask, .. } => match get(*a)? {
                s @ (Share::BoolRss { .. } | Share::BoolAdd3(_)) => {
                    s.map_components(|t| Ok(boolean::extract(t, *mask)), |_| unreachable_public())?
                }
                other => {
                    return Err(LocalError::Program(format!(
                        "bit extract of a {:?} register",
                        other.kind()
                    )))
                }
            },
            BoolShl { a, bits, .. } | BoolBit { a, bit: bits, .. } => {
                let shift = matches!(instr, BoolShl { .. });
                if !shift && *bits >= 64 {
                    return Err(LocalError::Program(format!("bit {bits} of a 64-bit word")));
                }
                let bits = *bits;
                let f = move |t: &RingTensor| {
                    Ok(if shift {
                        boolean::shl(t, bits)
                    } else {
                        boolean::bit(t, bits)
                    })
                };
                match get(*a)? {
                    s @ (Share::BoolRss { .. } | Share::BoolAdd3(_)) => {
                        s.map_components(f, |_| unreachable_public())?
                    }
                    other => {
                        return Err(LocalError::Program(format!(
                            "shift or bit of a {:?} register",
                            other.kind()
                        )))
                    }
                }
            }
        };
        Ok(share)
    }

    fn concat(
        &self,
        srcs: &[Reg],
        axis: usize,
        at: &dyn Fn() -> String,
    ) -> Result<Share, LocalError> {
        let shares = srcs
            .iter()
            .map(|&r| self.get(r, at).map_err(LocalError::Runtime))
            .collect::<Result<Vec<_>, _>>()?;
        let first = shares
            .first()
            .ok_or_else(|| LocalError::Program("Concat of nothing".into()))?;
        let kind = first.kind();
        if let Some(other) = shares.iter().find(|s| s.kind() != kind) {
            return Err(LocalError::Program(format!(
                "Concat of {kind:?} and {:?} registers",
                other.kind()
            )));
        }
        let pick = |which: usize| -> Vec<&RingTensor> {
            shares
                .iter()
                .filter_map(|s| match (s, which) {
                    (Share::Ring(t) | Share::Add3(t) | Share::BoolAdd3(t), _) => Some(t),
                    (Share::Rss { first, .. } | Share::BoolRss { first, .. }, 0) => Some(first),
                    (Share::Rss { second, .. } | Share::BoolRss { second, .. }, _) => Some(second),
                    _ => None,
                })
                .collect()
        };
        Ok(match first {
            Share::Public(_) => {
                let parts: Vec<_> = shares
                    .iter()
                    .filter_map(|s| match s {
                        Share::Public(v) => Some(v),
                        _ => None,
                    })
                    .collect();
                Share::Public(ring::concat(&parts, axis)?)
            }
            Share::Ring(_) => Share::Ring(ring::concat(&pick(0), axis)?),
            Share::Add3(_) => Share::Add3(ring::concat(&pick(0), axis)?),
            Share::BoolAdd3(_) => Share::BoolAdd3(ring::concat(&pick(0), axis)?),
            Share::Rss { .. } => Share::Rss {
                first: ring::concat(&pick(0), axis)?,
                second: ring::concat(&pick(1), axis)?,
            },
            Share::BoolRss { .. } => Share::BoolRss {
                first: ring::concat(&pick(0), axis)?,
                second: ring::concat(&pick(1), axis)?,
            },
            Share::Pending { .. } => {
                return Err(LocalError::Program(
                    "Concat of pending truncation halves".into(),
                ))
            }
        })
    }

    /// This party's output message: per output, its first component re-randomised by a zero
    /// sharing on streams past the program's last instruction.
    fn output_message(&self, first_stream: u64) -> Result<Vec<u64>, RuntimeError> {
        let me = self.party;
        let mut words = Vec::new();
        for (index, output) in self.program.outputs.iter().enumerate() {
            let at = || format!("output '{}'", output.name);
            let share = self.get(output.reg, &at)?;
            let stream = first_stream + index as u64;
            let shape = share.shape().to_vec();
            let bad = |m: String| RuntimeError::program(at(), m);
            let part: RingTensor = match share {
                Share::Public(v) => {
                    let bits = v
                        .iter()
                        .map(|x| if me == 0 { x.to_bits() } else { 0 })
                        .collect();
                    ring::from_vec(&shape, bits).map_err(bad)?
                }
                Share::Rss { first: t, .. } | Share::Add3(t) => {
                    ring::add(t, &self.seeds.zero_share(stream, &shape)).map_err(bad)?
                }
                Share::Ring(t) => {
                    let mine = if me == 0 {
                        t.clone()
                    } else {
                        ring::zeros(&shape)
                    };
                    ring::add(&mine, &self.seeds.zero_share(stream, &shape)).map_err(bad)?
                }
                Share::BoolRss { first: t, .. } | Share::BoolAdd3(t) => {
                    ring::xor(t, &self.seeds.zero_share_bool(stream, &shape)).map_err(bad)?
                }
                Share::Pending { .. } => {
                    return Err(bad("a pending truncation half cannot be an output".into()))
                }
            };
            words.extend(ring::row_major(&part));
        }
        Ok(words)
    }
}

/// Audit records (tests only) for the steps that send a component of an additive value: a
/// reshare (to the predecessor) and the openers' swap in a truncation of an `Add3` source.
/// Their pad is the zero sharing of the source's product lineage, which no protocol function
/// sees, so the engine records it; dealer masks are recorded where they are drawn.
fn audit_components(
    me: usize,
    step: &CommInstr,
    instruction: u64,
    out: &Outgoing,
    lineage: &[Vec<u64>],
    program: &LowProgram,
) {
    let src = step.src();
    if !matches!(program.kind(src), RegKind::Add3 | RegKind::BoolAdd3) {
        return;
    }
    let to = match step {
        CommInstr::Reshare { .. }
        | CommInstr::ReshareBool { .. }
        | CommInstr::ReshareBoolPacked { .. } => protocols::prev(me),
        CommInstr::TruncOpen { dealer, .. } => {
            let role = secc_ir::lir::dealer_role(me, *dealer);
            if role == 2 {
                // The dealer's masked component is recorded by `trunc::open_start`.
                return;
            }
            secc_ir::lir::role_party(1 - role, *dealer)
        }
        CommInstr::TruncFinish { .. } | CommInstr::FourierOpen { .. } => return,
    };
    let width = match step {
        CommInstr::ReshareBoolPacked { width, .. } => *width,
        _ => 64,
    };
    crate::audit::record_segment(crate::audit::Segment {
        from: me,
        to,
        instruction,
        start: 0,
        len: out[to].len(),
        width,
        pad: crate::audit::Pad::ZeroShare {
            sender: me,
            streams: lineage[src.0 as usize].clone(),
        },
    });
}

fn unreachable_public() -> Result<ndarray::ArrayD<f64>, String> {
    Err("not defined on Public registers".into())
}

/// A local instruction's failure: a message to be located, or an already complete error.
enum LocalError {
    Program(String),
    Runtime(RuntimeError),
}

impl From<String> for LocalError {
    fn from(message: String) -> Self {
        LocalError::Program(message)
    }
}

/// For each stage, the registers whose last reader is in that stage (outputs are never freed).
fn liveness(program: &LowProgram) -> Vec<Vec<Reg>> {
    let mut last: Vec<Option<usize>> = vec![None; program.regs.len()];
    // A register nobody reads is dropped right after the stage that writes it.
    for (s, stage) in program.stages.iter().enumerate() {
        let written = stage
            .local
            .iter()
            .map(LocalInstr::dst)
            .chain(stage.comm.iter().map(CommInstr::dst));
        for r in written {
            last[r.0 as usize] = Some(s);
        }
    }
    for (s, stage) in program.stages.iter().enumerate() {
        for instr in &stage.local {
            for r in instr.reads() {
                last[r.0 as usize] = Some(s);
            }
        }
        for step in &stage.comm {
            last[step.src().0 as usize] = Some(s);
        }
    }
    for output in &program.outputs {
        last[output.reg.0 as usize] = None;
    }
    let mut frees = vec![Vec::new(); program.stages.len()];
    for (r, stage) in last.iter().enumerate() {
        if let Some(s) = stage {
            frees[*s].push(Reg(r as u32));
        }
    }
    frees
}
