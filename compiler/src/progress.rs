//! The progress display of long runs (`secc run`, `secc bench`): one bar on stderr over the
//! program's stages, labelled with the layer the current stage serves. It is shown only when
//! stderr is a terminal and the command does not print JSON, so scripts and logs see nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secc_ir::lir::LowProgram;
use secc_runtime::ProgressFn;
use std::io::IsTerminal;
use std::sync::Arc;

/// Whether a progress display should be shown.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// The layer each stage serves (from its first communication step's ONNX node; a stage without
/// communication keeps the label of the stage before it).
pub fn stage_layers(low: &LowProgram) -> Vec<String> {
    let mut last = String::from("start");
    low.stages
        .iter()
        .map(|stage| {
            if let Some(source) = stage.comm_sources.first() {
                let origin = source.split_once(" @ ").map_or("", |(_, o)| o);
                last = crate::codegen::cost::layer_of(origin);
            }
            last.clone()
        })
        .collect()
}

/// A stage callback drawing a bar on stderr (cleared when the last stage is done).
pub fn stage_bar(low: &LowProgram) -> Arc<ProgressFn> {
    let layers = stage_layers(low);
    let bar =
        ProgressBar::with_draw_target(Some(low.stages.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} MPC [{elapsed_precise}] {wide_bar} {pos}/{len} stages  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Arc::new(move |done: usize, total: usize| {
        if let Some(layer) = layers.get(done.saturating_sub(1)) {
            if bar.message() != *layer {
                bar.set_message(layer.clone());
            }
        }
        bar.set_position(done as u64);
        if done >= total {
            bar.finish_and_clear();
        }
    })
}

/// A line on stderr for a phase of a long command, when the display is wanted.
pub fn phase_printer() -> Arc<crate::bench::PhaseFn> {
    Arc::new(|phase: &str| eprintln!("bench: {phase} ..."))
}
