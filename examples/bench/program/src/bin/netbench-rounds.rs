//! `netbench-rounds FILE.secc`: the round structure of a compiled program (see
//! `secc_netbench::rounds`): its rounds, its critical path in rounds, and the rounds that do
//! not depend on the round before them, by operator.

use secc_netbench::rounds;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: netbench-rounds FILE.secc");
        return ExitCode::from(2);
    };
    let path = PathBuf::from(path);
    let container = match secc::artifact::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netbench-rounds: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = rounds::analyse(&container.low);
    println!("{}: {} rounds", path.display(), r.rounds);
    println!(
        "critical path: {} rounds (a schedule of the same steps needs at least this many)",
        r.critical_rounds
    );
    println!(
        "rounds independent of the round before them: {}",
        r.independent_of_previous
    );
    for (pair, count) in &r.independent_pairs {
        println!("  {count:5}  {pair}");
    }
    println!("rounds by operator (a round with steps of several operators counts for each):");
    let mut by_op: Vec<_> = r.rounds_by_op.iter().collect();
    by_op.sort_by(|a, b| b.1.cmp(a.1));
    for (op, count) in by_op {
        println!("  {count:5}  {op}");
    }
    ExitCode::SUCCESS
}
