//! What `secc inspect --stats` reports: op counts by kind, parameters, inputs and outputs with
//! their shapes, the client's prologue (what it computes and what it sends, [`prologue`]), the abstract cost summed over the program, and where each kind of op came from,
//! with the codegen's cost report (rounds, bytes sent per party, by operator and by layer). The
//! rounds and bytes here are exactly what a run measures.

use crate::codegen::cost::CostReport;
use secc_ir::lir::{InputForm, LowProgram};
use secc_ir::op::AbstractCost;
use secc_ir::prologue::Partition;
use secc_ir::{Program, ValueType};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

fn ty_json(ty: &ValueType) -> Value {
    json!({"shape": ty.shape, "visibility": ty.visibility.to_string(), "encoding": ty.encoding.to_string()})
}

/// Abstract cost summed over all nodes.
pub fn total_cost(program: &Program) -> AbstractCost {
    let mut total = AbstractCost::default();
    for (_, node) in program.nodes.iter() {
        let args: Vec<&ValueType> = node.args.iter().map(|&a| program.ty(a)).collect();
        let c = node.op.cost(&args, &node.ty);
        total.secret_products += c.secret_products;
        total.product_outputs += c.product_outputs;
        total.nonlinear_elements += c.nonlinear_elements;
    }
    total
}

fn op_counts(program: &Program) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for (_, node) in program.nodes.iter() {
        *counts.entry(node.op.name()).or_insert(0) += 1;
    }
    counts
}

/// The `--stats --json` object (brief §1): `rounds`, `bytes_sent` (per party), `by_op` and
/// `by_layer` from the cost report, then the IR's `ops`, `params`, `inputs`, `outputs`.
pub fn to_json(program: &Program, cost_report: &CostReport) -> Value {
    let cost = total_cost(program);
    let mut origins: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (_, node) in program.nodes.iter() {
        origins
            .entry(node.op.name())
            .or_default()
            .push(&node.origin);
    }
    json!({
        "rounds": cost_report.rounds,
        "bytes_sent": cost_report.bytes_sent,
        "by_op": cost_report.by_op,
        "by_layer": cost_report.by_layer,
        "program": program.name,
        "frac_bits": program.frac_bits,
        "nodes": program.nodes.len(),
        "ops": op_counts(program),
        "params": {
            "count": program.params.len(),
            "elements": program.param_elements(),
            "tensors": program.params.iter().map(|p| json!({"name": p.name, "shape": p.shape})).collect::<Vec<_>>(),
        },
        "inputs": program.inputs.iter().map(|i| {
            let mut v = ty_json(&i.ty);
            v["name"] = json!(i.name);
            v["role"] = json!(format!("{:?}", i.role));
            v
        }).collect::<Vec<_>>(),
        "outputs": program.outputs.iter().map(|o| {
            let mut v = ty_json(program.ty(o.value));
            v["name"] = json!(o.name);
            v
        }).collect::<Vec<_>>(),
        "cost": {
            "secret_products": cost.secret_products,
            "product_outputs": cost.product_outputs,
            "nonlinear_elements": cost.nonlinear_elements,
        },
        "origins": origins,
        "approximations": crate::passes::approximations::valid_ranges(program)
            .into_iter()
            .map(|r| json!({
                "node": r.node,
                "op": r.op,
                "quantity": r.quantity,
                "deflation": r.deflation,
                "iterations": r.iterations,
                "valid": [r.valid.0, r.valid.1],
            }))
            .collect::<Vec<_>>(),
    })
}

/// The human-readable summary (also printed by `secc compile` on stderr).
pub fn summary(program: &Program) -> String {
    let mut s = String::new();
    let cost = total_cost(program);
    let _ = writeln!(
        s,
        "program '{}': {} nodes, frac_bits {}",
        program.name,
        program.nodes.len(),
        program.frac_bits
    );
    for i in &program.inputs {
        let _ = writeln!(s, "  input  {:<24} {} ({:?})", i.name, i.ty, i.role);
    }
    for o in &program.outputs {
        let _ = writeln!(s, "  output {:<24} {}", o.name, program.ty(o.value));
    }
    let _ = writeln!(
        s,
        "  params: {} tensors, {} elements",
        program.params.len(),
        program.param_elements()
    );
    let counts: Vec<String> = op_counts(program)
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "  ops: {}", counts.join(", "));
    let _ = writeln!(
        s,
        "  abstract cost: {} secret products, {} product outputs, {} non-linear elements",
        cost.secret_products, cost.product_outputs, cost.nonlinear_elements
    );
    for r in crate::passes::approximations::valid_ranges(program) {
        let method = match r.deflation {
            Some(d) => format!("deflation {d}"),
            None => "range reduction by comparisons, no calibration".to_string(),
        };
        let _ = writeln!(
            s,
            "  valid range: {} @ {}: {} in [{:.4e}, {:.4e}] ({method}, {} iterations)",
            r.op, r.node, r.quantity, r.valid.0, r.valid.1, r.iterations
        );
    }
    s
}

/// How the client sends a low-level input.
fn form_text(form: &InputForm) -> String {
    match form {
        InputForm::Secret { frac_bits } => format!("secret-shared @{frac_bits}"),
        InputForm::Public => "public".to_string(),
        InputForm::OneHot { vocab } => format!("secret-shared one-hot over {vocab} ids"),
    }
}

/// The prologue's nodes counted by op kind, and the ONNX nodes they come from (first seen first).
fn computed_ops<'p>(
    program: &'p Program,
    computed: &[secc_ir::ValueId],
) -> (BTreeMap<&'static str, usize>, Vec<&'p str>) {
    let mut ops: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut origins: Vec<&str> = Vec::new();
    for &v in computed {
        let node = &program.nodes[v];
        *ops.entry(node.op.name()).or_insert(0) += 1;
        if !origins.contains(&node.origin.as_str()) {
            origins.push(&node.origin);
        }
    }
    (ops, origins)
}

/// The client's prologue as JSON: the ops it computes (count by kind; `origins`, the ONNX nodes
/// they come from, in program order), what it
/// sends (name, shape, form) and the outputs it keeps (computes itself).
pub fn prologue_json(program: &Program, low: &LowProgram) -> Value {
    let partition = Partition::of(program);
    let computed = partition.computed(program);
    let (ops, origins) = computed_ops(program, &computed);
    json!({
        "ops": ops,
        "origins": origins,
        "sends": low.inputs.iter().map(|i| json!({
            "name": i.name, "shape": i.shape, "form": form_text(&i.form),
        })).collect::<Vec<_>>(),
        "outputs": partition.client_outputs(program),
    })
}

/// The client's prologue for people: what the client computes in the clear on its own inputs,
/// what it sends the parties, and which outputs it computes itself.
pub fn prologue(program: &Program, low: &LowProgram) -> String {
    let partition = Partition::of(program);
    let computed = partition.computed(program);
    let mut s = String::new();
    if computed.is_empty() {
        s.push_str("client prologue: none (the client sends its inputs as they are)\n");
    } else {
        let (ops, origins) = computed_ops(program, &computed);
        let ops: Vec<String> = ops.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            s,
            "client prologue: the client computes {} nodes in the clear on its own inputs ({})",
            computed.len(),
            ops.join(", ")
        );
        let shown: Vec<&str> = origins.iter().take(12).copied().collect();
        let _ = writeln!(
            s,
            "  from ONNX nodes: {}{}",
            shown.join(", "),
            if origins.len() > shown.len() {
                format!(" and {} more", origins.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    s.push_str("  sends to the parties:\n");
    for input in &low.inputs {
        let _ = writeln!(
            s,
            "    {:<32} {:?}: {}",
            input.name,
            input.shape,
            form_text(&input.form)
        );
    }
    let own = partition.client_outputs(program);
    if !own.is_empty() {
        let _ = writeln!(
            s,
            "  outputs the client computes itself (never sent back): {}",
            own.join(", ")
        );
    }
    s
}
