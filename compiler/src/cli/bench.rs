//! `secc bench`: a BERT encoder with random weights built in Rust, compiled in the chosen mode
//! and run by three parties in this process; prints timings, peak memory, rounds and bytes per
//! party (measured and predicted), the per-layer breakdown and the error against the plaintext
//! interpreter (the work is `secc::bench`'s).

use super::args::{CliResult, Mode, SubstitutionArgs};
use secc::bench::{self, model::BertShape};
use secc::progress;

#[derive(clap::Args)]
pub(super) struct BenchArgs {
    /// Protocol family for the non-linear layers (`exact` has no MPC protocol).
    #[arg(long, value_enum, default_value = "secformer")]
    mode: Mode,
    #[command(flatten)]
    substitutions: SubstitutionArgs,
    #[arg(long, default_value_t = 12)]
    layers: usize,
    #[arg(long, default_value_t = 768)]
    hidden: usize,
    #[arg(long, default_value_t = 12)]
    heads: usize,
    /// Width of the feed-forward layer.
    #[arg(long, default_value_t = 3072)]
    inter: usize,
    #[arg(long, default_value_t = 30522)]
    vocab: usize,
    #[arg(long, default_value_t = 128)]
    seq: usize,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 16)]
    frac_bits: u32,
    /// Seed of the weights and token ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object on stdout (and no progress display).
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: BenchArgs) -> CliResult {
    let BenchArgs {
        mode,
        substitutions,
        layers,
        hidden,
        heads,
        inter,
        vocab,
        seq,
        batch,
        frac_bits,
        seed,
        json,
    } = args;
    let shape = BertShape {
        layers,
        hidden,
        heads,
        intermediate: inter,
        vocab,
        seq,
        batch,
    };
    let (mode, substitutions) = (mode.pipeline(), substitutions.pipeline());
    shape.check()?;
    if mode == secc::pipeline::Mode::Exact {
        return Err(
            "secc bench: --mode exact has no MPC protocol for the non-linear layers; use \
             secformer or puma"
                .into(),
        );
    }
    let show = progress::wanted(json);
    let options = bench::BenchOptions {
        shape,
        mode,
        substitutions,
        frac_bits,
        seed,
        on_phase: show.then(progress::phase_printer),
        show_progress: show,
    };
    let report = bench::run(&options)?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", bench::render(&report));
    }
    if !report.cost_matches {
        eprintln!(
            "warning: measured cost ({} rounds, bytes {:?}) differs from the prediction ({} \
             rounds, bytes {:?})",
            report.rounds, report.bytes_sent, report.predicted_rounds, report.predicted_bytes_sent
        );
    }
    Ok(())
}
