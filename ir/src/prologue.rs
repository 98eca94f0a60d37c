//! The client's prologue: the part of a program the client computes in the clear, on its own
//! inputs, before it shares anything.
//!
//! Rule ([`Partition::of`]): a node is the client's when it is a program input, or when it is
//! neither a parameter nor a constant, every argument is the client's or a public constant, and
//! at least one argument is the client's. Such a value depends on nothing but the client's own
//! inputs and public constants, so the client may compute it itself: the one-hot of token ids,
//! the extended attention mask, RoBERTa's position ids (a cumulative sum over the non-padding
//! tokens), an input returned as an output. Everything else runs between the parties.
//!
//! What crosses the boundary ([`Partition::sends`]): each client value read by a party-side
//! node, in arena order. These are the inputs of the low-level program; a send keeps the
//! visibility its IR type gives it, so a value derived from a secret input is secret-shared and
//! one derived only from public inputs (the attention mask) is sent in the clear, exactly as
//! the inputs it comes from would be. A program output that is the client's is never sent back
//! by the parties: the client has it already.
//!
//! Invariants: the partition is a function of the program alone, so codegen (which makes the
//! sends the low-level inputs) and the client (which evaluates them, [`evaluate`]) agree on
//! names and order without exchanging anything; the client's nodes form a prefix-closed set
//! (every argument of a client node is a client node or a constant).

use crate::interp::{eval_op, InterpError};
use crate::op::Op;
use crate::program::{Program, ValueId};
use ndarray::{ArrayD, IxDyn};
use std::collections::{HashMap, HashSet};

/// One value the client sends to the parties.
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    /// The low-level input's name: the program input's own name, or for a computed value the
    /// ONNX node it comes from (made unique with `#k`).
    pub name: String,
    pub value: ValueId,
}

/// The split of a program between the client's prologue and the parties.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Per node, in arena order: computed by the client.
    pub client: Vec<bool>,
    /// The client values the parties read, in arena order.
    pub sends: Vec<Send>,
}

impl Partition {
    /// The partition of `program` by the rule of the module documentation.
    pub fn of(program: &Program) -> Self {
        let mut client = vec![false; program.nodes.len()];
        for (v, node) in program.nodes.iter() {
            client[v.index()] = match node.op {
                Op::Input { .. } => true,
                Op::Param { .. } | Op::Const { .. } => false,
                _ => {
                    let is_const = |a: &ValueId| matches!(program.nodes[*a].op, Op::Const { .. });
                    node.args.iter().any(|a| client[a.index()])
                        && node.args.iter().all(|a| client[a.index()] || is_const(a))
                }
            };
        }
        let mut read_by_parties = vec![false; program.nodes.len()];
        for (v, node) in program.nodes.iter() {
            if !client[v.index()] {
                for a in &node.args {
                    read_by_parties[a.index()] = true;
                }
            }
        }
        let mut taken: HashSet<String> = program.inputs.iter().map(|d| d.name.clone()).collect();
        let mut sends = Vec::new();
        for (v, node) in program.nodes.iter() {
            if !(client[v.index()] && read_by_parties[v.index()]) {
                continue;
            }
            let name = match node.op {
                Op::Input { index } => program.inputs[index].name.clone(),
                _ => {
                    let mut name = node.origin.clone();
                    let mut k = 2;
                    while !taken.insert(name.clone()) {
                        name = format!("{}#{k}", node.origin);
                        k += 1;
                    }
                    name
                }
            };
            sends.push(Send { name, value: v });
        }
        Partition { client, sends }
    }

    /// The degenerate split with no prologue: the client computes nothing and sends its inputs
    /// as they are (in declaration order); every other node runs between the parties. The
    /// protocol tests lower whole input-only programs in MPC with it; a client of such a program
    /// shares its raw inputs.
    pub fn inputs_only(program: &Program) -> Self {
        let mut client = vec![false; program.nodes.len()];
        let mut sends = Vec::new();
        for (v, node) in program.nodes.iter() {
            if let Op::Input { index } = node.op {
                client[v.index()] = true;
                sends.push((
                    index,
                    Send {
                        name: program.inputs[index].name.clone(),
                        value: v,
                    },
                ));
            }
        }
        sends.sort_by_key(|(index, _)| *index);
        Partition {
            client,
            sends: sends.into_iter().map(|(_, s)| s).collect(),
        }
    }

    pub fn is_client(&self, v: ValueId) -> bool {
        self.client[v.index()]
    }

    /// The nodes the client computes beyond reading its inputs.
    pub fn computed(&self, program: &Program) -> Vec<ValueId> {
        program
            .nodes
            .iter()
            .filter(|(v, n)| self.client[v.index()] && !matches!(n.op, Op::Input { .. }))
            .map(|(v, _)| v)
            .collect()
    }

    /// The names of the program outputs the client computes itself.
    pub fn client_outputs<'p>(&self, program: &'p Program) -> Vec<&'p str> {
        program
            .outputs
            .iter()
            .filter(|o| self.client[o.value.index()])
            .map(|o| o.name.as_str())
            .collect()
    }
}

/// What the client's prologue produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientValues {
    /// The values to send, by send name.
    pub sends: HashMap<String, ArrayD<f64>>,
    /// The program outputs the client computed itself, by output name.
    pub outputs: HashMap<String, ArrayD<f64>>,
}

/// Evaluates the client's nodes of `program` (the plaintext interpreter's arithmetic) on the
/// client's inputs, by input name.
pub fn evaluate(
    program: &Program,
    partition: &Partition,
    inputs: &HashMap<String, ArrayD<f64>>,
) -> Result<ClientValues, InterpError> {
    let mut values: Vec<Option<ArrayD<f64>>> = vec![None; program.nodes.len()];
    let node_error = |v: ValueId, message: String| InterpError::Node {
        node: v.to_string(),
        origin: program.nodes[v].origin.clone(),
        message,
    };
    // Only the constants the client's nodes read (public weights may be large).
    let mut read_by_client = vec![false; program.nodes.len()];
    for (v, node) in program.nodes.iter() {
        if partition.is_client(v) {
            for a in &node.args {
                read_by_client[a.index()] = true;
            }
        }
    }
    for (v, node) in program.nodes.iter() {
        let constant_for_client = matches!(node.op, Op::Const { .. }) && read_by_client[v.index()];
        if !(partition.is_client(v) || constant_for_client) {
            continue;
        }
        let out = match &node.op {
            Op::Input { index } => {
                let decl = &program.inputs[*index];
                match inputs.get(&decl.name) {
                    Some(x) if x.shape() == decl.ty.shape.as_slice() => x.clone(),
                    Some(x) => {
                        return Err(InterpError::InputShape {
                            name: decl.name.clone(),
                            got: x.shape().to_vec(),
                            expected: decl.ty.shape.clone(),
                        })
                    }
                    None => {
                        return Err(InterpError::MissingInput {
                            name: decl.name.clone(),
                        })
                    }
                }
            }
            Op::Const { value } => ArrayD::from_shape_vec(IxDyn(&value.shape), value.data.clone())
                .map_err(|e| node_error(v, e.to_string()))?,
            op => {
                let args: Vec<&ArrayD<f64>> = node
                    .args
                    .iter()
                    .map(|a| {
                        values[a.index()].as_ref().ok_or_else(|| {
                            node_error(v, format!("argument {a} is not the client's"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                eval_op(op, &args).map_err(|m| node_error(v, m))?
            }
        };
        if out.shape() != node.ty.shape.as_slice() {
            return Err(node_error(
                v,
                format!(
                    "evaluated shape {:?} differs from the type {:?}",
                    out.shape(),
                    node.ty.shape
                ),
            ));
        }
        values[v.index()] = Some(out);
    }
    let take = |v: ValueId| {
        values[v.index()]
            .clone()
            .expect("a client value is evaluated")
    };
    Ok(ClientValues {
        sends: partition
            .sends
            .iter()
            .map(|s| (s.name.clone(), take(s.value)))
            .collect(),
        outputs: program
            .outputs
            .iter()
            .filter(|o| partition.is_client(o.value))
            .map(|o| (o.name.clone(), take(o.value)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::InputRole;
    use crate::tensor::Tensor;
    use crate::types::Encoding;

    /// RoBERTa's position ids: cumsum(ids != 1) * (ids != 1) + 1, then a lookup in a table.
    fn roberta_like() -> Program {
        let mut p = Program::new("positions", 16);
        let ids = p.add_input("input_ids", InputRole::Client, vec![1, 5], Encoding::Int);
        let pad = p
            .push(
                Op::Const {
                    value: Tensor::scalar(1.0, Encoding::Int),
                },
                vec![],
                "pad",
            )
            .unwrap();
        let is_pad = p
            .push(
                Op::Compare {
                    kind: crate::op::CompareKind::Equal,
                },
                vec![ids, pad],
                "Equal",
            )
            .unwrap();
        let one = p
            .push(
                Op::Const {
                    value: Tensor::scalar(1.0, Encoding::Bool),
                },
                vec![],
                "one",
            )
            .unwrap();
        let keep = p.push(Op::Sub, vec![one, is_pad], "Not").unwrap();
        let keep = p
            .push(Op::Cast { to: Encoding::Int }, vec![keep], "Cast")
            .unwrap();
        let running = p
            .push(
                Op::CumSum {
                    axis: 1,
                    exclusive: false,
                    reverse: false,
                },
                vec![keep],
                "CumSum",
            )
            .unwrap();
        let kept = p.push(Op::Mul, vec![running, keep], "Mul").unwrap();
        let positions = p.push(Op::Add, vec![kept, pad], "Add").unwrap();
        let table = p.add_param("position_embeddings", vec![8, 2]);
        let e = p
            .push(Op::Embedding, vec![table, positions], "Gather")
            .unwrap();
        p.add_output("embeddings", e);
        p.add_output("ids", ids);
        p
    }

    #[test]
    fn the_client_computes_what_reads_no_parameter_and_sends_its_frontier() {
        let p = roberta_like();
        let partition = Partition::of(&p);
        let names: Vec<&str> = partition.sends.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Add"]);
        assert_eq!(partition.client_outputs(&p), ["ids"]);
        // Inputs, Equal, Not, Cast, CumSum, Mul, Add: the client's; constants and the
        // parameter and the embedding are not.
        assert_eq!(partition.computed(&p).len(), 6);
        let ids = ArrayD::from_shape_vec(IxDyn(&[1, 5]), vec![0.0, 7.0, 9.0, 1.0, 1.0]).unwrap();
        let values = evaluate(
            &p,
            &partition,
            &HashMap::from([("input_ids".into(), ids.clone())]),
        )
        .unwrap();
        assert_eq!(
            values.sends["Add"].iter().copied().collect::<Vec<_>>(),
            [2.0, 3.0, 4.0, 1.0, 1.0]
        );
        assert_eq!(values.outputs["ids"], ids);
        let missing = evaluate(&p, &partition, &HashMap::new()).unwrap_err();
        assert_eq!(
            missing,
            InterpError::MissingInput {
                name: "input_ids".into()
            }
        );
    }

    #[test]
    fn without_a_prologue_the_inputs_are_sent_as_they_are() {
        let p = roberta_like();
        let partition = Partition::inputs_only(&p);
        let names: Vec<&str> = partition.sends.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["input_ids"]);
        assert!(partition.computed(&p).is_empty());
    }

    #[test]
    fn gather_elements_and_exclusive_reverse_cumsum_follow_onnx() {
        let data =
            ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let idx = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![2.0, 0.0, -1.0, 1.0]).unwrap();
        let got = eval_op(&Op::GatherElements { axis: 1 }, &[&data, &idx]).unwrap();
        assert_eq!(
            got.iter().copied().collect::<Vec<_>>(),
            [3.0, 1.0, 6.0, 5.0]
        );
        let op = Op::CumSum {
            axis: 1,
            exclusive: true,
            reverse: true,
        };
        let got = eval_op(&op, &[&data]).unwrap();
        assert_eq!(
            got.iter().copied().collect::<Vec<_>>(),
            [5.0, 3.0, 0.0, 11.0, 6.0, 0.0]
        );
        let bad = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![3.0, 0.0, 0.0, 0.0]).unwrap();
        assert!(eval_op(&Op::GatherElements { axis: 1 }, &[&data, &bad]).is_err());
    }
}
