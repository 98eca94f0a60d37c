//! The client: shares its inputs with the parties and alone reconstructs the outputs.
//!
//! Owns the two client messages' formats (all ring elements little-endian):
//! - client -> party i, one message with every input in program order: a secret or one-hot
//!   input as its components x_i then x_(i+1) (row-major, n elements each); a public input as
//!   its n f64 values (bit patterns).
//! - party i -> client, one message with every output in program order, n elements each: the
//!   party's first component re-randomised by an output zero sharing (so the three messages are
//!   uniform given the output), or for a public output P0's f64 bit patterns and zeros from
//!   the others.
//!
//! Before sharing, the client runs its prologue ([`run_prologue`]): the part of the IR program
//! that depends only on its own inputs (`secc_ir::prologue`), evaluated in the clear with the
//! IR interpreter. What it sends are the prologue's results (the low-level program's inputs),
//! and the program outputs the prologue computes (an input returned as an output) never travel:
//! [`merge_outputs`] puts them back among the reconstructed ones, in program order.
//!
//! Invariants: a party's input message carries two of the three components only; the client's
//! masks come from an OS-seeded generator the parties never see; a value goes in the clear
//! only if the program declares it public and the client's [`PublicInputPolicy`] allows every
//! client input it is computed from (checked against the IR program before the first byte is
//! sent, see [`PublicInputPolicy::resolve`]).

use crate::error::RuntimeError;
use crate::net::{endpoint_name, NetError, Transport, CLIENT};
use crate::ring;
use crate::share::Share;
use ndarray::ArrayD;
use secc_ir::fixed;
use secc_ir::lir::{InputForm, LowInput, LowProgram, RegKind};
use secc_ir::prologue::{ClientValues, Partition};
use secc_ir::Program;
use std::collections::HashMap;

/// One reconstructed output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputValue {
    pub name: String,
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f64>,
}

/// Shape of the register an input loads into (one-hot adds the vocabulary axis).
pub fn loaded_shape(input: &LowInput) -> Vec<usize> {
    let mut shape = input.shape.clone();
    if let InputForm::OneHot { vocab } = input.form {
        shape.push(vocab);
    }
    shape
}

fn input_error(name: &str, message: String) -> RuntimeError {
    RuntimeError::Input {
        name: name.to_string(),
        message,
    }
}

fn net(source: NetError) -> RuntimeError {
    RuntimeError::Net {
        party: CLIENT,
        source,
    }
}

/// The inputs a client agrees to send in the clear (declassify).
///
/// The program (written by the model owner, whom the client need not trust) declares which
/// inputs are public; the client decides. By default it allows only the attention mask
/// ([`DEFAULT_PUBLIC_INPUTS`]); `--allow-public-input NAME` adds others. A program that declares
/// public any other input is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputPolicy {
    allowed: std::collections::BTreeSet<String>,
}

/// The inputs a client sends in the clear unless told otherwise.
pub const DEFAULT_PUBLIC_INPUTS: &[&str] = &["attention_mask"];

impl Default for PublicInputPolicy {
    fn default() -> Self {
        Self::allowing(std::iter::empty::<String>())
    }
}

impl PublicInputPolicy {
    /// The default allowance plus `extra` input names.
    pub fn allowing<S: Into<String>>(extra: impl IntoIterator<Item = S>) -> Self {
        let mut allowed: std::collections::BTreeSet<String> = DEFAULT_PUBLIC_INPUTS
            .iter()
            .map(|s| s.to_string())
            .collect();
        allowed.extend(extra.into_iter().map(Into::into));
        PublicInputPolicy { allowed }
    }

    pub fn allows(&self, name: &str) -> bool {
        self.allowed.contains(name)
    }

    /// The inputs `program` declares public, in program order, if the client allows every one
    /// of them; otherwise an error naming the first it does not allow.
    pub fn check(&self, program: &LowProgram) -> Result<Vec<String>, RuntimeError> {
        let public: Vec<String> = program
            .inputs
            .iter()
            .filter(|i| i.form == InputForm::Public)
            .map(|i| i.name.clone())
            .collect();
        if let Some(refused) = public.iter().find(|name| !self.allows(name)) {
            return Err(input_error(
                refused,
                format!(
                    "the program declares this input public (sent in the clear to every \
                     party), and the client does not allow it; it allows {}. Pass \
                     --allow-public-input {refused} to send it in the clear, or use a program \
                     that keeps it secret",
                    self.allowed
                        .iter()
                        .map(|s| format!("'{s}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(public)
    }

    /// Checks `low` against its IR `program` and returns the policy that `share_inputs_with`
    /// applies to the low-level inputs, which are the client prologue's sends
    /// ([`Partition::sends`]), named after the ONNX nodes that compute them.
    ///
    /// A send that `low` declares public goes in the clear only if it is one of the prologue's
    /// sends and every client input it is computed from is allowed: the extended attention mask
    /// computed from `attention_mask` passes; a value computed from `input_ids` is refused
    /// (naming the input) even when the program calls it public. A program whose public sends
    /// are not its prologue's is refused too. Returns the resolved policy and the names of the
    /// client inputs that go in the clear, directly or through such a send.
    pub fn resolve(
        &self,
        program: &Program,
        low: &LowProgram,
    ) -> Result<(PublicInputPolicy, Vec<String>), RuntimeError> {
        let partition = Partition::of(program);
        let mut resolved = self.clone();
        let mut cleared = std::collections::BTreeSet::new();
        for input in low.inputs.iter().filter(|i| i.form == InputForm::Public) {
            let send = partition
                .sends
                .iter()
                .find(|s| s.name == input.name)
                .ok_or_else(|| {
                    input_error(
                        &input.name,
                        "the low-level program declares this value public, but the IR program's \
                         client prologue sends no value of that name: the program file is \
                         inconsistent; refusing to send anything"
                            .into(),
                    )
                })?;
            for source in client_inputs_of(program, send.value) {
                if !self.allows(&source) {
                    return Err(input_error(
                        &source,
                        format!(
                            "the program sends '{}' in the clear, which is computed from this \
                             input, and the client does not allow it; pass \
                             --allow-public-input {source} to send it, or use a program that \
                             keeps it secret",
                            input.name
                        ),
                    ));
                }
                cleared.insert(source);
            }
            resolved.allowed.insert(input.name.clone());
        }
        Ok((resolved, cleared.into_iter().collect()))
    }
}

/// The names of the program inputs that `value` is computed from.
fn client_inputs_of(program: &Program, value: secc_ir::ValueId) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![value];
    let mut names = Vec::new();
    while let Some(v) = stack.pop() {
        if !seen.insert(v) {
            continue;
        }
        let node = &program.nodes[v];
        if let secc_ir::Op::Input { index } = node.op {
            if let Some(decl) = program.inputs.get(index) {
                names.push(decl.name.clone());
            }
        }
        stack.extend(node.args.iter().copied());
    }
    names.sort();
    names
}

/// Secret-shares (or, for public inputs, sends) every input to the three parties, with the
/// default [`PublicInputPolicy`]; returns the bytes sent.
pub fn share_inputs<T: Transport>(
    transport: &mut T,
    program: &LowProgram,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<u64, RuntimeError> {
    share_inputs_with(transport, program, inputs, &PublicInputPolicy::default())
}

/// [`share_inputs`] under `policy`: a program that declares public an input the policy does
/// not allow is refused before anything is sent.
pub fn share_inputs_with<T: Transport>(
    transport: &mut T,
    program: &LowProgram,
    inputs: &HashMap<String, ArrayD<f64>>,
    policy: &PublicInputPolicy,
) -> Result<u64, RuntimeError> {
    policy.check(program)?;
    let seed = crate::prg::os_seed()?;
    let mut rng = crate::prg::Stream::new(&seed, 0);
    let mut messages: [Vec<u64>; 3] = Default::default();
    // For the audit (tests only): words drawn from the mask stream, and each party's parts.
    let auditing = crate::audit::enabled();
    let mut drawn = 0;
    let mut parts: [Vec<(u64, usize, usize)>; 3] = Default::default();
    for (index, input) in program.inputs.iter().enumerate() {
        let value = inputs
            .get(&input.name)
            .ok_or_else(|| input_error(&input.name, "missing".into()))?;
        if value.shape() != input.shape.as_slice() {
            return Err(input_error(
                &input.name,
                format!(
                    "shape {:?}, the program expects {:?}",
                    value.shape(),
                    input.shape
                ),
            ));
        }
        let values = ring::row_major(value);
        // A public value travels as f64 and may be infinite (an additive attention mask of
        // -inf, computed by the client's prologue); a secret one is encoded in the ring.
        let public = input.form == InputForm::Public;
        if let Some(bad) = values
            .iter()
            .find(|v| v.is_nan() || (!public && v.is_infinite()))
        {
            return Err(input_error(&input.name, format!("holds {bad}")));
        }
        let (plain, frac_bits) = match input.form {
            InputForm::Public => {
                for (party, m) in messages.iter_mut().enumerate() {
                    parts[party].push((index as u64, m.len(), values.len()));
                    m.extend(values.iter().map(|v| v.to_bits()));
                }
                if auditing {
                    crate::audit::client_clear_input(index as u64, values.len());
                }
                continue;
            }
            InputForm::Secret { frac_bits } => {
                let limit = fixed::max_abs(frac_bits);
                if let Some(bad) = values.iter().find(|v| v.abs() >= limit) {
                    return Err(input_error(
                        &input.name,
                        format!("{bad} is outside the fixed-point range (|x| < {limit})"),
                    ));
                }
                (values, frac_bits)
            }
            InputForm::OneHot { vocab } => (one_hot(&input.name, &values, vocab)?, 0),
        };
        let components = crate::owner::split(&mut rng, &plain, frac_bits);
        if auditing {
            crate::audit::client_input(&seed, index as u64, drawn, &components);
        }
        drawn += 2 * plain.len();
        for (party, m) in messages.iter_mut().enumerate() {
            parts[party].push((index as u64, m.len(), 2 * plain.len()));
            m.extend_from_slice(&components[party]);
            m.extend_from_slice(&components[(party + 1) % 3]);
        }
    }
    let mut sent = 0;
    for (party, words) in messages.iter().enumerate() {
        if auditing {
            crate::audit::record_message(crate::audit::Message {
                from: crate::net::CLIENT,
                to: party,
                stage: 0,
                parts: std::mem::take(&mut parts[party]),
                words: words.clone(),
            });
        }
        let bytes = ring::words_to_bytes(words);
        sent += bytes.len() as u64;
        transport.send(party, bytes).map_err(net)?;
    }
    Ok(sent)
}

/// The client's prologue of `program` on its inputs (by name): the values to send, by the
/// low-level program's input names, and the outputs the client computes itself.
pub fn run_prologue(
    program: &Program,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<ClientValues, RuntimeError> {
    let partition = Partition::of(program);
    secc_ir::prologue::evaluate(program, &partition, inputs).map_err(|e| {
        use secc_ir::interp::InterpError;
        match e {
            InterpError::MissingInput { name } => input_error(&name, "missing".into()),
            InterpError::InputShape {
                name,
                got,
                expected,
            } => input_error(
                &name,
                format!("shape {got:?}, the program expects {expected:?}"),
            ),
            other => input_error("(client prologue)", other.to_string()),
        }
    })
}

/// The program's outputs in program order: the reconstructed ones from the parties, and those
/// the client's prologue computed.
pub fn merge_outputs(
    program: &Program,
    reconstructed: Vec<OutputValue>,
    own: &ClientValues,
) -> Result<Vec<OutputValue>, RuntimeError> {
    let mut by_name: HashMap<String, OutputValue> = reconstructed
        .into_iter()
        .map(|o| (o.name.clone(), o))
        .collect();
    program
        .outputs
        .iter()
        .map(|decl| {
            if let Some(value) = own.outputs.get(&decl.name) {
                return Ok(OutputValue {
                    name: decl.name.clone(),
                    shape: value.shape().to_vec(),
                    data: ring::row_major(value),
                });
            }
            by_name.remove(&decl.name).ok_or_else(|| {
                RuntimeError::program(
                    "outputs",
                    format!("no party returned output '{}'", decl.name),
                )
            })
        })
        .collect()
}

/// One-hot rows of length `vocab` for integer ids.
fn one_hot(name: &str, ids: &[f64], vocab: usize) -> Result<Vec<f64>, RuntimeError> {
    let mut out = vec![0.0; ids.len() * vocab];
    for (row, &id) in ids.iter().enumerate() {
        if id.fract() != 0.0 || id < 0.0 || id >= vocab as f64 {
            return Err(input_error(
                name,
                format!("id {id} is not an integer in 0..{vocab}"),
            ));
        }
        out[row * vocab + id as usize] = 1.0;
    }
    Ok(out)
}

/// Party side: this party's input shares from the client's message, one per program input.
pub(crate) fn parse_input_message(
    program: &LowProgram,
    party: usize,
    words: &[u64],
) -> Result<Vec<Share>, RuntimeError> {
    let expected: usize = program
        .inputs
        .iter()
        .map(|input| {
            let n: usize = loaded_shape(input).iter().product();
            match input.form {
                InputForm::Public => n,
                _ => 2 * n,
            }
        })
        .sum();
    if words.len() != expected {
        return Err(RuntimeError::Net {
            party,
            source: NetError::Size {
                peer: endpoint_name(CLIENT),
                got: words.len() * 8,
                expected: expected * 8,
            },
        });
    }
    let mut rest = words;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head.to_vec()
    };
    let internal = |e: String| RuntimeError::Internal(e);
    program
        .inputs
        .iter()
        .map(|input| {
            let shape = loaded_shape(input);
            let n: usize = shape.iter().product();
            Ok(match input.form {
                InputForm::Public => {
                    let values = take(n).into_iter().map(f64::from_bits).collect();
                    Share::Public(ring::from_vec(&shape, values).map_err(internal)?)
                }
                _ => Share::Rss {
                    first: ring::from_vec(&shape, take(n)).map_err(internal)?,
                    second: ring::from_vec(&shape, take(n)).map_err(internal)?,
                },
            })
        })
        .collect()
}

/// Receives every party's output message and reconstructs the outputs.
pub fn collect_outputs<T: Transport>(
    transport: &mut T,
    program: &LowProgram,
) -> Result<Vec<OutputValue>, RuntimeError> {
    let expected: usize = program
        .outputs
        .iter()
        .map(|o| program.elements(o.reg) as usize)
        .sum();
    let mut messages = Vec::with_capacity(3);
    for party in 0..3 {
        let bytes = transport.recv(party).map_err(net)?;
        let size_error = || {
            net(NetError::Size {
                peer: endpoint_name(party),
                got: bytes.len(),
                expected: expected * 8,
            })
        };
        let words = ring::bytes_to_words(&bytes).ok_or_else(size_error)?;
        if words.len() != expected {
            return Err(size_error());
        }
        messages.push(words);
    }
    let mut offset = 0;
    let mut outputs = Vec::with_capacity(program.outputs.len());
    for output in &program.outputs {
        let decl = program.regs.get(output.reg.0 as usize).ok_or_else(|| {
            RuntimeError::program(
                "outputs",
                format!("'{}' reads a missing register", output.name),
            )
        })?;
        let n = program.elements(output.reg) as usize;
        let part = |party: usize| &messages[party][offset..offset + n];
        let data: Vec<f64> = match decl.kind {
            RegKind::Public => part(0).iter().map(|&w| f64::from_bits(w)).collect(),
            RegKind::BoolRss | RegKind::BoolAdd3 => (0..n)
                .map(|j| fixed::decode(part(0)[j] ^ part(1)[j] ^ part(2)[j], output.frac_bits))
                .collect(),
            _ => (0..n)
                .map(|j| {
                    let sum = part(0)[j].wrapping_add(part(1)[j]).wrapping_add(part(2)[j]);
                    fixed::decode(sum, output.frac_bits)
                })
                .collect(),
        };
        offset += n;
        outputs.push(OutputValue {
            name: output.name.clone(),
            shape: decl.shape.clone(),
            data,
        });
    }
    Ok(outputs)
}
