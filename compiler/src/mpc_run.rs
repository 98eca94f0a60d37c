//! The client's view of an MPC run, shared by `secc run` (three parties on this machine) and
//! `secc client` (a deployment): the reconstructed outputs with the run's counters, their error
//! against the plaintext reference of the same compiled program, and the JSON contract of brief
//! §1 (`{"outputs": [...], "rounds", "bytes_sent", "wall_s", ...}`).
//!
//! Invariant: nothing here sees a share. The outputs arrive already reconstructed by the
//! runtime's client; the reference is computed from the owner's plaintext program file, which
//! only the caller of `secc run` (owner and client on one machine) holds.

use crate::reference::NamedOutput;
use ndarray::{ArrayD, IxDyn};
use secc_ir::{Encoding, Program};
use secc_runtime::OutputValue;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the client measured and reconstructed, from either transport.
#[derive(Debug, Clone)]
pub struct Measured {
    pub outputs: Vec<OutputValue>,
    /// Rounds between the parties (every party counts the same).
    pub rounds: u64,
    /// Bytes each party sent to the other parties during the program (seed agreement and
    /// client traffic not included: they are not part of the program's cost).
    pub bytes_sent: [u64; 3],
    /// From the client's start of the run to the last output.
    pub wall: Duration,
}

impl Measured {
    pub fn from_local(report: &secc_runtime::RunReport) -> Self {
        Measured {
            outputs: report.outputs.clone(),
            rounds: report.rounds,
            bytes_sent: report.bytes_sent,
            wall: report.wall,
        }
    }

    /// From a deployment's client run; the parties must agree on the round count.
    pub fn from_client(run: &secc_runtime::deploy::ClientRun) -> Result<Self, String> {
        let rounds = run.parties.map(|p| p.rounds);
        if rounds.iter().any(|&r| r != rounds[0]) {
            return Err(format!(
                "the parties report different round counts {rounds:?}"
            ));
        }
        Ok(Measured {
            outputs: run.outputs.clone(),
            rounds: rounds[0],
            bytes_sent: run.parties.map(|p| p.bytes_sent),
            wall: run.wall,
        })
    }
}

/// Checks that every name in `select` is an output of `program`.
pub fn check_selection(program: &Program, select: Option<&[String]>) -> Result<(), String> {
    for name in select.unwrap_or_default() {
        if !program.outputs.iter().any(|o| &o.name == name) {
            let known: Vec<&str> = program.outputs.iter().map(|o| o.name.as_str()).collect();
            return Err(format!("no output named '{name}' (outputs: {known:?})"));
        }
    }
    Ok(())
}

/// The reconstructed outputs as named arrays (integer outputs keep their integer type), in
/// program order, restricted to `select` when given.
pub fn named_outputs(
    program: &Program,
    outputs: &[OutputValue],
    select: Option<&[String]>,
) -> Result<Vec<NamedOutput>, String> {
    outputs
        .iter()
        .filter(|o| select.is_none_or(|s| s.contains(&o.name)))
        .map(|o| {
            let integer = program
                .outputs
                .iter()
                .find(|d| d.name == o.name)
                .is_some_and(|d| program.ty(d.value).encoding != Encoding::Fixed);
            let array = ArrayD::from_shape_vec(IxDyn(&o.shape), o.data.clone()).map_err(|e| {
                format!(
                    "output '{}': {} values for shape {:?}: {e}",
                    o.name,
                    o.data.len(),
                    o.shape
                )
            })?;
            Ok(NamedOutput {
                name: o.name.clone(),
                array,
                integer,
            })
        })
        .collect()
}

/// Max abs difference of each output from the reference output of the same name.
pub fn max_abs_errors(
    got: &[NamedOutput],
    reference: &[NamedOutput],
) -> Result<BTreeMap<String, f64>, String> {
    got.iter()
        .map(|o| {
            let want = reference
                .iter()
                .find(|r| r.name == o.name)
                .ok_or_else(|| format!("the reference has no output '{}'", o.name))?;
            if want.array.shape() != o.array.shape() {
                return Err(format!(
                    "output '{}' has shape {:?}, the reference {:?}",
                    o.name,
                    o.array.shape(),
                    want.array.shape()
                ));
            }
            let error = o
                .array
                .iter()
                .zip(want.array.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            Ok((o.name.clone(), error))
        })
        .collect()
}

/// The `--json` object: the reference's `{"outputs": [...]}` plus the run's counters, and when
/// given, the error against the reference and the predicted cost.
pub fn to_json(
    outputs: &[NamedOutput],
    measured: &Measured,
    errors: Option<&BTreeMap<String, f64>>,
    predicted: Option<&secc_ir::lir::CommCost>,
    transport: &str,
) -> Value {
    let mut object: Map<String, Value> = match crate::reference::to_json(outputs) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    object.insert("rounds".into(), json!(measured.rounds));
    object.insert("bytes_sent".into(), json!(measured.bytes_sent));
    object.insert("wall_s".into(), json!(measured.wall.as_secs_f64()));
    object.insert("transport".into(), json!(transport));
    if let Some(errors) = errors {
        object.insert("max_abs_error".into(), json!(errors));
    }
    if let Some(cost) = predicted {
        object.insert(
            "predicted".into(),
            json!({"rounds": cost.rounds, "bytes_sent": cost.bytes_sent}),
        );
    }
    Value::Object(object)
}

/// One line per output: name, shape and the first values.
pub fn render_outputs(outputs: &[NamedOutput]) -> String {
    let mut s = String::new();
    for o in outputs {
        let head: Vec<String> = o.array.iter().take(8).map(|x| format!("{x:.6}")).collect();
        s.push_str(&format!(
            "{} {:?}: [{}{}]\n",
            o.name,
            o.array.shape(),
            head.join(", "),
            if o.array.len() > 8 { ", ..." } else { "" }
        ));
    }
    s
}
