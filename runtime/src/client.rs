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
//! Invariant: a party's input message carries two of the three components only; the client's
//! masks come from an OS-seeded generator the parties never see.

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

/// Secret-shares (or, for public inputs, sends) every input to the three parties; returns the
/// bytes sent.
pub fn share_inputs<T: Transport>(
    transport: &mut T,
    program: &LowProgram,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<u64, RuntimeError> {
    let mut rng = crate::prg::os_stream()?;
    let mut messages: [Vec<u64>; 3] = Default::default();
    for input in &program.inputs {
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
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(input_error(&input.name, format!("holds {bad}")));
        }
        let (plain, frac_bits) = match input.form {
            InputForm::Public => {
                for m in messages.iter_mut() {
                    m.extend(values.iter().map(|v| v.to_bits()));
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
        for (party, m) in messages.iter_mut().enumerate() {
            m.extend_from_slice(&components[party]);
            m.extend_from_slice(&components[(party + 1) % 3]);
        }
    }
    let mut sent = 0;
    for (party, words) in messages.iter().enumerate() {
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
