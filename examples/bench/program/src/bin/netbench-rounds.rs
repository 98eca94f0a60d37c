//! `netbench-rounds FILE.secc [RATE_MBIT DELAY_MS]...`: the round structure of a compiled
//! program (see `secc_netbench::rounds`): its rounds, its critical path in rounds, and the
//! rounds that do not depend on the round before them, by operator; for each link setting
//! given, the network-bound time of a run: rounds x one-way delay, plus per round the largest
//! message volume one party sends divided by the rate.

use secc_netbench::rounds;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((path, settings)) = args.split_first() else {
        eprintln!("usage: netbench-rounds FILE.secc [RATE_MBIT DELAY_MS]...");
        return ExitCode::from(2);
    };
    let mut links = Vec::new();
    for pair in settings.chunks(2) {
        let parsed = match pair {
            [rate, delay] => rate.parse::<f64>().ok().zip(delay.parse::<f64>().ok()),
            _ => None,
        };
        match parsed {
            Some(link) => links.push(link),
            None => {
                eprintln!("netbench-rounds: error: link settings come as RATE_MBIT DELAY_MS pairs");
                return ExitCode::from(2);
            }
        }
    }
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
    println!("rounds by kind of communication step:");
    let mut by_step: Vec<_> = r.rounds_by_step.iter().collect();
    by_step.sort_by(|a, b| b.1.cmp(a.1));
    for (kind, count) in by_step {
        println!("  {count:5}  {kind}");
    }
    let per_round_max = r.max_party_bytes_per_round_sum();
    let total: [u64; 3] = r.round_bytes.iter().fold([0; 3], |mut t, b| {
        for i in 0..3 {
            t[i] += b[i];
        }
        t
    });
    println!(
        "bytes sent per party {total:?}; sum over rounds of the largest party's bytes: {per_round_max}"
    );
    for (rate_mbit, delay_ms) in links {
        let latency = r.rounds as f64 * delay_ms / 1e3;
        let transfer = per_round_max as f64 * 8.0 / (rate_mbit * 1e6);
        println!(
            "link {rate_mbit} Mbit/s, {delay_ms} ms one way: latency x rounds {latency:.2} s, \
             transfer {transfer:.2} s, network-bound time {:.2} s",
            latency + transfer
        );
    }
    ExitCode::SUCCESS
}
