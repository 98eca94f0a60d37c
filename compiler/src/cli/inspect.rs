//! `secc inspect`: a compiled program's statistics and cost (the default), its IR, its
//! low-level program or a Graphviz graph.

use super::args::CliResult;
use secc::codegen::cost;
use secc::{artifact, bytecode_text, stats};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct InspectArgs {
    program: PathBuf,
    /// The IR program as text.
    #[arg(long, group = "view")]
    ir: bool,
    /// The low-level program: stages, local instructions and communication steps.
    #[arg(long, group = "view")]
    bytecode: bool,
    /// Statistics with the cost report: rounds, bytes per party, by op and by layer.
    #[arg(long, group = "view")]
    stats: bool,
    /// The IR as a Graphviz graph.
    #[arg(long, group = "view")]
    dot: bool,
    /// Print the statistics (or with --bytecode the low-level program) as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: InspectArgs) -> CliResult {
    // --stats is the default view: it only takes part in the "view" group.
    let InspectArgs {
        program: path,
        ir,
        bytecode,
        stats: _,
        dot,
        json,
    } = args;
    let container = artifact::load(&path).map_err(|e| e.to_string())?;
    let program = &container.program;
    if json && (ir || dot) {
        return Err("--json goes with --stats (the default) or --bytecode".into());
    }
    if ir {
        print!("{}", secc_ir::print::print_program(program));
    } else if dot {
        print!("{}", secc_ir::dot::to_dot(program));
    } else if bytecode && json {
        let low = serde_json::to_string(&container.low).map_err(|e| e.to_string())?;
        println!("{low}");
    } else if bytecode {
        print!("{}", bytecode_text::render(&container));
    } else if json {
        let mut object = stats::to_json(program, &cost::report(&container.low));
        object["prologue"] = stats::prologue_json(program, &container.low);
        println!("{object}");
    } else {
        print!("{}", stats::summary(program));
        print!("{}", stats::prologue(program, &container.low));
        print!("{}", cost::render(&cost::report(&container.low)));
    }
    Ok(())
}
