//! The static cost report: rounds and bytes per party, in total and grouped by IR operator kind
//! and by layer. It is computed from the scheduled low-level program with the same per-step
//! byte counts the runtime's counters measure ([`secc_ir::lir::LowProgram::step_elements`]).

use secc_ir::lir::{CommCost, LowProgram, ELEMENT_BYTES};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Rounds a group takes part in and the bytes each party sends for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupCost {
    /// Rounds in which this group has at least one step (groups may share a round).
    pub rounds: u64,
    pub bytes_sent: [u64; 3],
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostReport {
    pub rounds: u64,
    pub bytes_sent: [u64; 3],
    pub by_op: BTreeMap<String, GroupCost>,
    pub by_layer: BTreeMap<String, GroupCost>,
}

/// The layer an ONNX node name belongs to: the `layer.N` / `layers.N` component of the path
/// when there is one, else its first path component (`embeddings`, `pooler`, ...).
pub fn layer_of(origin: &str) -> String {
    let parts: Vec<&str> = origin.split(['/', '.']).filter(|p| !p.is_empty()).collect();
    for w in parts.windows(2) {
        if (w[0] == "layer" || w[0] == "layers") && w[1].chars().all(|c| c.is_ascii_digit()) {
            return format!("layer.{}", w[1]);
        }
    }
    // Otherwise the first component that is not an exporter's wrapper module.
    const WRAPPERS: &[&str] = &["m", "model", "module", "bert", "roberta", "transformer"];
    parts
        .iter()
        .find(|p| !WRAPPERS.contains(p))
        .or(parts.first())
        .map_or("other", |p| p)
        .to_string()
}

pub fn report(program: &LowProgram) -> CostReport {
    let total: CommCost = program.predicted_cost();
    let mut by_op: BTreeMap<String, (BTreeSet<usize>, [u64; 3])> = BTreeMap::new();
    let mut by_layer: BTreeMap<String, (BTreeSet<usize>, [u64; 3])> = BTreeMap::new();
    for (k, stage) in program.stages.iter().enumerate() {
        for (step, source) in stage.comm.iter().zip(&stage.comm_sources) {
            let (op, origin) = source.split_once(" @ ").unwrap_or((source.as_str(), ""));
            let mut bytes = [0u64; 3];
            for (from, sent) in bytes.iter_mut().enumerate() {
                for to in (0..3).filter(|&t| t != from) {
                    *sent += ELEMENT_BYTES * program.step_elements(step, from, to);
                }
            }
            for (map, key) in [
                (&mut by_op, op.to_string()),
                (&mut by_layer, layer_of(origin)),
            ] {
                let entry = map.entry(key).or_default();
                entry.0.insert(k);
                for (total, b) in entry.1.iter_mut().zip(bytes) {
                    *total += b;
                }
            }
        }
    }
    let finish = |m: BTreeMap<String, (BTreeSet<usize>, [u64; 3])>| {
        m.into_iter()
            .map(|(k, (rounds, bytes_sent))| {
                (
                    k,
                    GroupCost {
                        rounds: rounds.len() as u64,
                        bytes_sent,
                    },
                )
            })
            .collect()
    };
    CostReport {
        rounds: total.rounds,
        bytes_sent: total.bytes_sent,
        by_op: finish(by_op),
        by_layer: finish(by_layer),
    }
}

/// The report as text for stderr.
pub fn render(report: &CostReport) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let mut s = format!(
        "cost: {} rounds; MB sent by P0/P1/P2: {:.3} / {:.3} / {:.3}\n",
        report.rounds,
        mb(report.bytes_sent[0]),
        mb(report.bytes_sent[1]),
        mb(report.bytes_sent[2])
    );
    for (title, map) in [("by op", &report.by_op), ("by layer", &report.by_layer)] {
        s.push_str(&format!("  {title}:\n"));
        for (name, g) in map {
            s.push_str(&format!(
                "    {name:<16} {:>5} rounds  {:>10.3} / {:.3} / {:.3} MB\n",
                g.rounds,
                mb(g.bytes_sent[0]),
                mb(g.bytes_sent[1]),
                mb(g.bytes_sent[2])
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::layer_of;

    #[test]
    fn layers_come_from_onnx_paths() {
        assert_eq!(
            layer_of("/encoder/layer.3/attention/self/query/MatMul"),
            "layer.3"
        );
        assert_eq!(layer_of("/bert/encoder/layers.11/Add"), "layer.11");
        assert_eq!(layer_of("/embeddings/Add_1"), "embeddings");
        assert_eq!(layer_of("/m/bert/pooler/dense/Gemm"), "pooler");
        assert_eq!(layer_of("/0/Gemm"), "0");
        assert_eq!(layer_of(""), "other");
    }
}
