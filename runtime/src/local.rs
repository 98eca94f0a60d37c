//! A whole run on one machine: the model owner shares the weights, three party threads run the
//! program over in-process channels, and the client (the calling thread) shares the inputs and
//! reconstructs the outputs.
//!
//! Roles stay separate even here: each party thread receives only its own share set and its own
//! input message, and the plaintext outputs exist only in the client's thread.

use crate::client::{collect_outputs, share_inputs_with, OutputValue, PublicInputPolicy};
use crate::engine::{run_party_with_progress, PartyReport, ProgressFn};
use crate::error::RuntimeError;
use crate::net::inproc::mesh;
use crate::net::Transport;
use crate::owner::share_weights;
use ndarray::ArrayD;
use secc_ir::lir::LowProgram;
use secc_ir::Tensor;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run measured and produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outputs: Vec<OutputValue>,
    /// Rounds between the parties (stages with communication).
    pub rounds: u64,
    /// Payload bytes each party sent to the other parties during the program.
    pub bytes_sent: [u64; 3],
    /// Messages each party sent to the other parties during the program.
    pub messages_sent: [u64; 3],
    /// Bytes each party sent while agreeing on seeds (not part of the program's cost).
    pub setup_bytes_sent: [u64; 3],
    /// Bytes the client sent (input shares).
    pub client_bytes_sent: u64,
    /// Bytes the parties sent to the client (output components).
    pub client_bytes_received: u64,
    pub wall: Duration,
    pub parties: [PartyReport; 3],
}

/// Options of a local run.
#[derive(Clone)]
pub struct LocalOptions {
    /// How long any endpoint waits for a message before failing.
    pub timeout: Duration,
    /// Called by party 0 after each stage with (stages done, total stages), for progress
    /// displays; it sees stage counts only.
    pub progress: Option<Arc<ProgressFn>>,
    /// The inputs the client agrees to send in the clear.
    pub public_inputs: PublicInputPolicy,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            timeout: Duration::from_secs(120),
            progress: None,
            public_inputs: PublicInputPolicy::default(),
        }
    }
}

impl std::fmt::Debug for LocalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOptions")
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.is_some())
            .field("public_inputs", &self.public_inputs)
            .finish()
    }
}

/// Runs `program` with three in-process parties.
pub fn run_local(
    program: &LowProgram,
    weights: &[Tensor],
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<RunReport, RuntimeError> {
    run_local_with(program, weights, inputs, &LocalOptions::default())
}

pub fn run_local_with(
    program: &LowProgram,
    weights: &[Tensor],
    inputs: &HashMap<String, ArrayD<f64>>,
    options: &LocalOptions,
) -> Result<RunReport, RuntimeError> {
    let mut endpoints = mesh(options.timeout);
    let client = endpoints.pop().expect("the mesh has a client endpoint");
    let parties: [_; 3] = endpoints
        .try_into()
        .map_err(|_| RuntimeError::Internal("the mesh has three party endpoints".into()))?;
    run_with_transports_progress(
        program,
        weights,
        inputs,
        parties,
        client,
        options.progress.as_deref(),
        &options.public_inputs,
    )
}

/// Runs `program` over the given transports (element i of `parties` is party i's endpoint);
/// tests use this to wrap the links, e.g. to record what each party receives.
pub fn run_with_transports<T: Transport, C: Transport>(
    program: &LowProgram,
    weights: &[Tensor],
    inputs: &HashMap<String, ArrayD<f64>>,
    parties: [T; 3],
    client: C,
) -> Result<RunReport, RuntimeError> {
    let policy = PublicInputPolicy::default();
    run_with_transports_progress(program, weights, inputs, parties, client, None, &policy)
}

/// [`run_with_transports`] with party 0 calling `progress` after each stage, and the client
/// sending in the clear only the inputs `public_inputs` allows (a program that declares
/// another input public is refused before the parties start).
pub fn run_with_transports_progress<T: Transport, C: Transport>(
    program: &LowProgram,
    weights: &[Tensor],
    inputs: &HashMap<String, ArrayD<f64>>,
    parties: [T; 3],
    mut client: C,
    progress: Option<&ProgressFn>,
    public_inputs: &PublicInputPolicy,
) -> Result<RunReport, RuntimeError> {
    let start = Instant::now();
    public_inputs.check(program)?;
    let share_sets = share_weights(program, weights)?;
    // A test's audit context (see `audit`) follows the run into its party threads.
    let audit = crate::audit::current();
    let (party_results, client_result) = std::thread::scope(|scope| {
        let handles: Vec<_> = parties
            .into_iter()
            .zip(share_sets)
            .enumerate()
            .map(|(id, (mut transport, params))| {
                let progress = if id == 0 { progress } else { None };
                let audit = audit.clone();
                scope.spawn(move || {
                    crate::audit::install(audit);
                    run_party_with_progress(id, program, params, &mut transport, progress)
                })
            })
            .collect();
        let client_result = (|| {
            let sent = share_inputs_with(&mut client, program, inputs, public_inputs)?;
            let outputs = collect_outputs(&mut client, program)?;
            Ok::<_, RuntimeError>((sent, outputs))
        })();
        // A failed client drops its endpoint so that waiting parties see a disconnection.
        drop(client);
        let party_results: Vec<Result<PartyReport, RuntimeError>> = handles
            .into_iter()
            .enumerate()
            .map(|(id, h)| {
                h.join().unwrap_or_else(|_| {
                    Err(RuntimeError::Internal(format!(
                        "party P{id}'s thread panicked"
                    )))
                })
            })
            .collect();
        (party_results, client_result)
    });
    let mut party_errors = Vec::new();
    let mut reports = Vec::new();
    for result in party_results {
        match result {
            Ok(r) => reports.push(r),
            Err(e) => party_errors.push(e),
        }
    }
    // Report the root cause: a party's own failure before the disconnections it caused.
    if let Some(i) = party_errors.iter().position(|e| !e.is_network()) {
        return Err(party_errors.swap_remove(i));
    }
    let (client_sent, outputs) = match client_result {
        Err(e) if !e.is_network() || party_errors.is_empty() => return Err(e),
        Err(_) => return Err(party_errors.swap_remove(0)),
        Ok(v) => v,
    };
    if let Some(e) = party_errors.into_iter().next() {
        return Err(e);
    }
    let parties: [PartyReport; 3] = reports
        .try_into()
        .map_err(|_| RuntimeError::Internal("three party reports".into()))?;
    if parties.iter().any(|p| p.rounds != parties[0].rounds) {
        return Err(RuntimeError::Internal(format!(
            "the parties counted different rounds: {:?}",
            parties.map(|p| p.rounds)
        )));
    }
    Ok(RunReport {
        outputs,
        rounds: parties[0].rounds,
        bytes_sent: parties.map(|p| p.bytes_sent),
        messages_sent: parties.map(|p| p.messages_sent),
        setup_bytes_sent: parties.map(|p| p.setup_bytes_sent),
        client_bytes_sent: client_sent,
        client_bytes_received: parties.iter().map(|p| p.client_bytes_sent).sum(),
        wall: start.elapsed(),
        parties,
    })
}
