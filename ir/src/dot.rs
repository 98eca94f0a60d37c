//! Graphviz export of a program through petgraph.

use crate::print::attributes;
use crate::program::Program;
use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

/// The program as a petgraph graph: node weights are printed labels, edges go from argument to use.
pub fn to_graph(program: &Program) -> DiGraph<String, usize> {
    let mut graph = DiGraph::new();
    let mut index: Vec<NodeIndex> = Vec::with_capacity(program.nodes.len());
    for (v, node) in program.nodes.iter() {
        let attrs = attributes(&node.op);
        let label = format!(
            "{v} {}{}\\n{}",
            node.op.name(),
            if attrs.is_empty() {
                String::new()
            } else {
                format!("[{attrs}]")
            },
            node.ty
        );
        let id = graph.add_node(label);
        for (pos, &a) in node.args.iter().enumerate() {
            graph.add_edge(index[a.index()], id, pos);
        }
        index.push(id);
    }
    for out in &program.outputs {
        let id = graph.add_node(format!("output {}", out.name));
        graph.add_edge(index[out.value.index()], id, 0);
    }
    graph
}

/// The program in the DOT language.
pub fn to_dot(program: &Program) -> String {
    let graph = to_graph(program);
    format!("{:?}", Dot::with_config(&graph, &[Config::EdgeNoLabel]))
}
