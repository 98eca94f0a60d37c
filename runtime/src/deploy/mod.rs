//! Deployments: one `secc-party` process per machine, a client elsewhere, talking over mutual
//! TLS with pinned certificates.
//!
//! Owns the deployment's files and sessions:
//! - [`config`]: `parties.toml` (addresses, pinned certificates, timeouts).
//! - [`keys`]: keys and certificates of the four roles (`secc keygen`).
//! - The model owner's step, [`write_deployment`]: from the owner's program file (with weights)
//!   it writes the parties' program file (the same program, no weights) and one share file per
//!   party. Each party's machine receives the program file and its own share file only.
//! - [`load_party_files`]: a party's program and share file, checked to belong together.
//! - [`service`]: what `secc-party` does (serve requests one at a time until stopped);
//!   [`run_deployed_party`] serves one; [`run_client`]: what `secc client` does.
//! - [`processes`]: a whole deployment on this machine (`secc run --transport tcp`).
//!
//! Invariants: a party never loads a program file that carries plaintext weights, nor a share
//! file made for another party or another program (the program hash says which); files are
//! written atomically (temporary file, then rename) and a failed multi-file write removes what
//! it had written; every wait is bounded by the configuration's timeouts; every frame is checked
//! against the largest message the program sends on its link ([`frame_limits`]) before any
//! allocation. After the output
//! components, each party sends the client its counters ([`PartyCounters`]: public numbers
//! fixed by the program), so the client can report rounds and bytes of the whole run.

pub mod config;
pub mod keys;
pub mod processes;
pub mod service;

pub use config::DeployConfig;
pub use processes::{find_party_binary, run_local_processes, LocalProcessOptions};

use crate::client::loaded_shape;
use crate::client::{
    collect_outputs, merge_outputs, run_prologue, share_inputs_with, OutputValue, PublicInputPolicy,
};
use crate::engine::PartyReport;
use crate::error::RuntimeError;
use crate::net::tcp::{Security, TcpTransport};
use crate::net::tls::{Identity, TlsSetup};
use crate::net::{endpoint_name, NetError, Transport, CLIENT};
use crate::owner::{share_weights, ParamShare, PartyParams};
use ndarray::ArrayD;
use secc_ir::bytecode::{self, Container, FileError, PartyShares, ProgramHash};
use secc_ir::lir::{InputForm, LowProgram};
use secc_ir::preprocessing::{online_elements, seed_only_elements};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for the last queued messages to leave when a session ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a deployment step failed; every variant names the file or the peer at fault.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    File(#[from] FileError),
    /// Files that do not belong together (wrong party, other program, weights present).
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Net(#[from] NetError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Starting or supervising the processes of a run on this machine failed, or one of them
    /// did; the message carries the parties' own error lines.
    #[error("{0}")]
    Local(String),
}

/// Where the model owner's files go, conventionally beside the owner's `model.secc`:
/// `model.party.secc` and `model.p0.shares`, `model.p1.shares`, `model.p2.shares`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentFiles {
    /// The program without weights, for all three parties and the client.
    pub program: PathBuf,
    /// Party i's share file, for party i only.
    pub shares: [PathBuf; 3],
}

impl DeploymentFiles {
    /// The conventional names beside the owner's program file.
    pub fn beside(owner_program: &Path) -> Self {
        let stem = owner_program
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let at = |name: String| owner_program.with_file_name(name);
        DeploymentFiles {
            program: at(format!("{stem}.party.secc")),
            shares: [0, 1, 2].map(|i| at(format!("{stem}.p{i}.shares"))),
        }
    }
}

/// The model owner's step (`secc share`): splits the container's weights into three share sets
/// and writes the parties' program file and the three share files. The weights never leave this
/// process except as shares; each share file alone is uniformly random.
pub fn write_deployment(container: &Container, files: &DeploymentFiles) -> Result<(), DeployError> {
    let weights = container.weights.as_ref().ok_or_else(|| {
        DeployError::Mismatch(
            "the program file carries no weights to share (give the model owner's copy, \
             as written by `secc compile`)"
                .into(),
        )
    })?;
    let sets = share_weights(&container.low, &weights.tensors)?;
    let hash = container.program_hash();
    let mut written: Vec<&Path> = Vec::new();
    let result = (|| {
        bytecode::write_program(&files.program, &container.without_weights())?;
        written.push(&files.program);
        for (set, path) in sets.iter().zip(&files.shares) {
            bytecode::write_shares(path, &to_share_file(container, hash, set))?;
            written.push(path);
        }
        Ok(())
    })();
    if result.is_err() {
        // A deployment with some files missing is unusable; leave none behind.
        for path in written {
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

fn to_share_file(container: &Container, hash: ProgramHash, set: &PartyParams) -> PartyShares {
    PartyShares {
        program_hash: hash,
        party: set.party as u8,
        params: container
            .low
            .params
            .iter()
            .zip(&set.params)
            .map(|(decl, share)| bytecode::ParamShare {
                name: decl.name.clone(),
                shape: share.shape.clone(),
                components: [share.first.clone(), share.second.clone()],
            })
            .collect(),
    }
}

/// A party's program and its shares of the parameters.
pub struct PartyFiles {
    pub program: Container,
    pub params: PartyParams,
}

/// Loads party `party`'s files and checks that they belong together: the program carries no
/// weights, the share file is this party's and was made for this program, and it holds one
/// share of the declared shape for every parameter.
pub fn load_party_files(
    party: usize,
    program_path: &Path,
    shares_path: &Path,
) -> Result<PartyFiles, DeployError> {
    let program = bytecode::read_program(program_path)?;
    if program.weights.is_some() {
        return Err(DeployError::Mismatch(format!(
            "{}: this is the model owner's copy with plaintext weights; a party must never hold \
             them. Run `secc share` on it and give each party the program file without weights \
             and its own share file",
            program_path.display()
        )));
    }
    let shares = bytecode::read_shares(shares_path)?;
    let (program_name, shares_name) = (program_path.display(), shares_path.display());
    if usize::from(shares.party) != party {
        return Err(DeployError::Mismatch(format!(
            "{shares_name} holds the shares of party P{}, not of P{party}",
            shares.party
        )));
    }
    let hash = program.program_hash();
    if shares.program_hash != hash {
        return Err(DeployError::Mismatch(format!(
            "{shares_name} was made for another program (hash {}...) than {program_name} \
             (hash {}...)",
            shares.program_hash.short(),
            hash.short()
        )));
    }
    let declared = &program.low.params;
    if shares.params.len() != declared.len() {
        return Err(DeployError::Mismatch(format!(
            "{shares_name} holds {} parameters, {program_name} declares {}",
            shares.params.len(),
            declared.len()
        )));
    }
    let mut params = Vec::with_capacity(declared.len());
    for (decl, share) in declared.iter().zip(shares.params) {
        if decl.name != share.name || decl.shape != share.shape {
            return Err(DeployError::Mismatch(format!(
                "{shares_name}: parameter {:?} {:?} where {program_name} declares {:?} {:?}",
                share.name, share.shape, decl.name, decl.shape
            )));
        }
        let [first, second] = share.components;
        params.push(ParamShare {
            shape: share.shape,
            first,
            second,
        });
    }
    Ok(PartyFiles {
        program,
        params: PartyParams { party, params },
    })
}

/// A party's counters as sent to the client after the outputs (all public: fixed by the
/// program, or wall time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartyCounters {
    pub rounds: u64,
    /// Bytes sent to the other parties during the stages.
    pub bytes_sent: u64,
    pub messages_sent: u64,
    /// Bytes sent to the other parties while agreeing on seeds.
    pub setup_bytes_sent: u64,
    /// Bytes sent to the client (output components).
    pub client_bytes_sent: u64,
    pub wall: Duration,
}

impl PartyCounters {
    fn from_report(report: &PartyReport) -> Self {
        PartyCounters {
            rounds: report.rounds,
            bytes_sent: report.bytes_sent,
            messages_sent: report.messages_sent,
            setup_bytes_sent: report.setup_bytes_sent,
            client_bytes_sent: report.client_bytes_sent,
            wall: report.wall,
        }
    }

    fn to_bytes(self) -> Vec<u8> {
        let micros = u64::try_from(self.wall.as_micros()).unwrap_or(u64::MAX);
        [
            self.rounds,
            self.bytes_sent,
            self.messages_sent,
            self.setup_bytes_sent,
            self.client_bytes_sent,
            micros,
        ]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect()
    }

    fn from_bytes(bytes: &[u8], party: usize) -> Result<Self, NetError> {
        let words: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        match words[..] {
            [rounds, bytes_sent, messages_sent, setup_bytes_sent, client_bytes_sent, micros]
                if bytes.len() == 48 =>
            {
                Ok(PartyCounters {
                    rounds,
                    bytes_sent,
                    messages_sent,
                    setup_bytes_sent,
                    client_bytes_sent,
                    wall: Duration::from_micros(micros),
                })
            }
            _ => Err(NetError::Size {
                peer: endpoint_name(party),
                got: bytes.len(),
                expected: 48,
            }),
        }
    }
}

/// How endpoint `me` protects its links: TLS with the key at `key` and the pins of `config`,
/// or, only when `insecure_plaintext` is set, plain TCP. Errors name the key file or say what
/// is missing.
pub fn security(
    me: usize,
    config: &DeployConfig,
    key: Option<&Path>,
    insecure_plaintext: bool,
) -> Result<Security, DeployError> {
    if insecure_plaintext {
        return Ok(Security::InsecurePlaintext);
    }
    let key = key.ok_or_else(|| {
        DeployError::Mismatch(format!(
            "{} needs its key (--key {}.key, from `secc keygen`); plain TCP is only for \
             loopback experiments (--insecure-plaintext-tcp)",
            endpoint_name(me),
            keys::role_name(me)
        ))
    })?;
    let pins = config.pins.clone().ok_or_else(|| {
        DeployError::Mismatch(
            "parties.toml pins no certificates (cert_sha256): write it with `secc keygen`, or \
             use --insecure-plaintext-tcp for loopback experiments"
                .into(),
        )
    })?;
    let identity = Identity::load(key).map_err(DeployError::Mismatch)?;
    tls_security(me, identity, pins.clone())
        .map_err(|e| DeployError::Mismatch(format!("{}: {e}", key.display())))
}

/// TLS for endpoint `me` with an identity in memory (checked against its pin).
pub fn tls_security(
    me: usize,
    identity: Identity,
    pins: crate::net::tls::Pins,
) -> Result<Security, String> {
    Ok(Security::Tls(Arc::new(TlsSetup::new(me, identity, pins)?)))
}

/// The largest frame endpoint `me` accepts from each endpoint: the largest message `program`
/// sends on that link (seed keys, the preprocessing round's message, a stage's messages, the client's input message, the output
/// message, the counters). A peer announcing more is cut off before anything is allocated.
pub fn frame_limits(program: &LowProgram, me: usize) -> [u64; 4] {
    let mut limits = [0u64; 4];
    if me == CLIENT {
        // A missing register is the program check's to report; it contributes nothing here.
        let outputs: u64 = program
            .outputs
            .iter()
            .filter_map(|o| program.regs.get(o.reg.0 as usize))
            .map(|r| r.shape.iter().product::<usize>() as u64)
            .sum();
        for limit in limits.iter_mut().take(3) {
            *limit = (outputs * 8).max(COUNTERS_BYTES);
        }
        return limits;
    }
    for (peer, limit) in limits.iter_mut().enumerate().take(3) {
        if peer == me {
            continue;
        }
        let steps = || program.stages.iter().flat_map(|stage| &stage.comm);
        // The preprocessing round's message: every step's seed-only words.
        let preprocessing: u64 = steps()
            .map(|step| seed_only_elements(program, step, peer, me))
            .sum();
        let largest = program
            .stages
            .iter()
            .map(|stage| {
                stage
                    .comm
                    .iter()
                    .map(|step| online_elements(program, step, peer, me))
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
            .max(preprocessing);
        // The first message on the link also carries the request id (service::RequestBound).
        *limit = (largest * 8).max(SEED_BYTES) + service::REQUEST_TAG_BYTES;
    }
    let input_words: u64 = program
        .inputs
        .iter()
        .map(|input| {
            let n = loaded_shape(input).iter().product::<usize>() as u64;
            match input.form {
                InputForm::Public => n,
                _ => 2 * n,
            }
        })
        .sum();
    limits[CLIENT] = input_words * 8;
    limits
}

/// A pairwise seed key.
const SEED_BYTES: u64 = 32;
/// A party's counters message.
const COUNTERS_BYTES: u64 = 48;

/// Serves one request as party `party` (a service with `--requests 1`; see [`service`]):
/// loads and checks its files, binds its address, admits one client, connects to its peers,
/// runs the program, sends its counters to the client and flushes.
pub fn run_deployed_party(
    party: usize,
    config: &DeployConfig,
    security: Security,
    program_path: &Path,
    shares_path: &Path,
) -> Result<PartyReport, DeployError> {
    let files = load_party_files(party, program_path, shares_path)?;
    let options = service::ServiceOptions {
        requests: Some(1),
        ..Default::default()
    };
    let summary = service::serve(party, config, security, &files, &options, &mut |_| {})?;
    match (summary.last, summary.last_error) {
        (Some(report), _) => Ok(report),
        (None, error) => {
            Err(DeployError::Local(error.unwrap_or_else(|| {
                "the service stopped before any request".into()
            })))
        }
    }
}

/// What the client of a deployment gets back.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRun {
    /// The reconstructed outputs, in program order.
    pub outputs: Vec<OutputValue>,
    /// Each party's counters (index = party).
    pub parties: [PartyCounters; 3],
    /// Bytes the client sent (its input shares).
    pub client_bytes_sent: u64,
    pub wall: Duration,
}

/// The client of a deployment (`secc client`): connects to the three parties of `config`,
/// secret-shares `inputs` (by input name, each of the program's declared shape), and alone
/// reconstructs the outputs. `program` is the parties' program file (weights, if present, are
/// ignored and never sent).
///
/// ```no_run
/// use secc_runtime::deploy::{run_client, security, DeployConfig};
/// use secc_runtime::net::CLIENT;
/// use std::collections::HashMap;
/// use std::path::Path;
///
/// let config = DeployConfig::load(Path::new("parties.toml"))?;
/// let tls = security(CLIENT, &config, Some(Path::new("client.key")), false)?;
/// let program = secc_ir::bytecode::read_program(Path::new("model.party.secc"))?;
/// let x = ndarray::ArrayD::from_shape_vec(vec![1, 4], vec![0.5, -1.0, 2.0, 0.0])?;
/// let run = run_client(&config, tls, &program, &HashMap::from([("x".to_string(), x)]))?;
/// for out in &run.outputs {
///     println!("{} {:?}: {:?}", out.name, out.shape, out.data);
/// }
/// println!("rounds {}, P0 sent {} bytes", run.parties[0].rounds, run.parties[0].bytes_sent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_client(
    config: &DeployConfig,
    security: Security,
    program: &Container,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<ClientRun, DeployError> {
    run_client_with(
        config,
        security,
        program,
        inputs,
        &PublicInputPolicy::default(),
    )
}

/// [`run_client`] sending in the clear only the inputs `public_inputs` allows; a program that
/// declares another input public is refused before connecting.
pub fn run_client_with(
    config: &DeployConfig,
    security: Security,
    program: &Container,
    inputs: &HashMap<String, ArrayD<f64>>,
    public_inputs: &PublicInputPolicy,
) -> Result<ClientRun, DeployError> {
    let start = Instant::now();
    crate::engine::check_program(&program.low)?;
    let (public_inputs, _) = public_inputs.resolve(&program.program, &program.low)?;
    // The prologue first: a bad input fails here, before any connection.
    let prologue = run_prologue(&program.program, inputs)?;
    let mut tcp = config.tcp(security);
    tcp.max_frame = frame_limits(&program.low, CLIENT);
    let mut transport = TcpTransport::connect_client(&tcp, program.program_hash())?;
    let client_bytes_sent = share_inputs_with(
        &mut transport,
        &program.low,
        &prologue.sends,
        &public_inputs,
    )?;
    let outputs = collect_outputs(&mut transport, &program.low)?;
    let outputs = merge_outputs(&program.program, outputs, &prologue)?;
    let mut parties = [PartyCounters::default(); 3];
    for (party, counters) in parties.iter_mut().enumerate() {
        let bytes = transport.recv(party)?;
        *counters = PartyCounters::from_bytes(&bytes, party)?;
    }
    transport.finish(FLUSH_TIMEOUT)?;
    Ok(ClientRun {
        outputs,
        parties,
        client_bytes_sent,
        wall: start.elapsed(),
    })
}

#[cfg(test)]
mod tests;
