//! `secc bench`: a BERT encoder built in Rust ([`model`]) with random weights, compiled through
//! the same passes as an ONNX model, then the chosen mode, codegen, and a three-party run in
//! this process; measures compile time, MPC wall time, peak memory, rounds and bytes per party
//! (measured and predicted, in total and for the preprocessing and online phases apart, with
//! each phase's time), the per-layer cost breakdown, and the MPC output's error against
//! the plaintext interpreter of the same compiled program.
//!
//! Party 0 reports each finished stage ([`secc_runtime::ProgressFn`]); the benchmark keeps the
//! time of each, which gives a per-layer and per-op profile of the run (party 0's view: a stage's
//! time includes waiting for the slower peers), and optionally drives a progress display.

pub mod model;

use crate::codegen::{self, cost};
use crate::pipeline::{apply_mode, Mode, ModeOptions, Substitutions};
use model::BertShape;
use ndarray::{ArrayD, IxDyn};
use secc_ir::lir::{CommCost, LowProgram};
use secc_runtime::ProgressFn;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Called with the name of each phase of the benchmark as it starts.
pub type PhaseFn = dyn Fn(&str) + Send + Sync;

/// What to run.
#[derive(Clone)]
pub struct BenchOptions {
    pub shape: BertShape,
    /// Secformer or PUMA (calibrated on the benchmark input where the mode calibrates).
    pub mode: Mode,
    pub substitutions: Substitutions,
    pub frac_bits: u32,
    /// Seed of the weights and of the token ids.
    pub seed: u64,
    /// Called with the name of each phase as it starts.
    pub on_phase: Option<Arc<PhaseFn>>,
    /// Draw a progress bar over the MPC run's stages on stderr ([`crate::progress`]).
    pub show_progress: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            shape: BertShape::default(),
            mode: Mode::Secformer,
            substitutions: Substitutions::default(),
            frac_bits: 16,
            seed: 0,
            on_phase: None,
            show_progress: false,
        }
    }
}

/// Time and memory of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
    /// VmHWM (peak resident set of the process so far) at the end of the phase, bytes.
    pub peak_bytes_after: u64,
}

/// Time party 0 spent in the stages of one group (layer or op kind).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimeShare {
    pub stages: u64,
    pub seconds: f64,
}

/// Everything `secc bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub shape: BertShape,
    /// "secformer" or "puma", with the substitutions applied ("gelu=relu" and the like).
    pub mode: String,
    pub frac_bits: u32,
    pub params: usize,
    /// The mode's approximations (calibrated on the benchmark input where it calibrates) and
    /// warnings.
    pub approximations: Vec<String>,
    pub warnings: Vec<String>,
    pub phases: Vec<Phase>,
    /// Passes, mode passes and codegen (not building the model).
    pub compile_s: f64,
    /// The three-party run, from sharing the weights to the client's last output.
    pub wall_s: f64,
    /// Part of `wall_s` before the parties start: the model owner splitting the weights into
    /// three share sets (the run's wall time minus party 0's).
    pub owner_sharing_s: f64,
    /// From the start of the run to the end of the first stage (owner sharing, seed agreement,
    /// the preprocessing phase, input sharing, and the first stage: the embedding's one-hot
    /// product).
    pub first_stage_s: f64,
    /// VmHWM of the whole process at the end: the model, its weights, the shares of three
    /// parties and the plaintext reference all live in this one process.
    pub peak_bytes: u64,
    pub stages: usize,
    pub rounds: u64,
    pub bytes_sent: [u64; 3],
    pub predicted_rounds: u64,
    pub predicted_bytes_sent: [u64; 3],
    pub cost_matches: bool,
    /// The offline/online split (`secc_ir::preprocessing`): what runs before the client's
    /// input is read, and the online rest, measured and predicted.
    pub preprocessing: PhaseFigures,
    pub online: PhaseFigures,
    /// Local instructions run in the preprocessing phase (input-independent).
    pub preprocessing_local_instructions: usize,
    pub max_abs_error: f64,
    pub cost: cost::CostReport,
    /// Party 0's wall time per layer and per op kind (a stage counts for its first step).
    pub time_by_layer: BTreeMap<String, TimeShare>,
    pub time_by_op: BTreeMap<String, TimeShare>,
}

/// One phase of the run (preprocessing or online): the slowest party's time, rounds and bytes
/// per party, measured and predicted.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFigures {
    pub seconds: f64,
    pub rounds: u64,
    pub bytes_sent: [u64; 3],
    pub predicted_rounds: u64,
    pub predicted_bytes_sent: [u64; 3],
    pub cost_matches: bool,
}

impl PhaseFigures {
    fn new(seconds: f64, rounds: u64, bytes_sent: [u64; 3], predicted: CommCost) -> Self {
        PhaseFigures {
            seconds,
            rounds,
            bytes_sent,
            predicted_rounds: predicted.rounds,
            predicted_bytes_sent: predicted.bytes_sent,
            cost_matches: predicted.rounds == rounds && predicted.bytes_sent == bytes_sent,
        }
    }
}

/// VmHWM of this process in bytes (0 where /proc is not available).
pub fn peak_rss_bytes() -> u64 {
    proc_status_kb("VmHWM:") * 1024
}

fn proc_status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The benchmark's inputs: random token ids (seeded) and a full attention mask.
pub fn inputs(shape: &BertShape, seed: u64) -> HashMap<String, ArrayD<f64>> {
    let dims = IxDyn(&[shape.batch, shape.seq]);
    let n = shape.batch * shape.seq;
    let uniform = model::normal(n, 1.0, seed ^ 0x1d5);
    // Token ids from the normal samples' fractional digits: uniform enough for a benchmark.
    let ids: Vec<f64> = uniform
        .iter()
        .map(|u| ((u.abs() * 1e6) as usize % shape.vocab) as f64)
        .collect();
    let mut map = HashMap::new();
    map.insert(
        "input_ids".to_string(),
        ArrayD::from_shape_vec(dims.clone(), ids).expect("shape fits"),
    );
    map.insert("attention_mask".to_string(), ArrayD::from_elem(dims, 1.0));
    map
}

/// Stage index -> (layer, op kind) of its first communication step; local-only stages take the
/// label of the stage before them.
fn stage_labels(low: &LowProgram) -> Vec<(String, String)> {
    let mut last = ("other".to_string(), "local".to_string());
    low.stages
        .iter()
        .map(|stage| {
            if let Some(source) = stage.comm_sources.first() {
                let (op, origin) = source.split_once(" @ ").unwrap_or((source.as_str(), ""));
                last = (cost::layer_of(origin), op.to_string());
            }
            last.clone()
        })
        .collect()
}

struct Phases {
    list: Vec<Phase>,
    on_phase: Option<Arc<PhaseFn>>,
    started: Instant,
    current: Option<String>,
}

impl Phases {
    fn start(&mut self, name: &str) {
        self.finish();
        if let Some(f) = &self.on_phase {
            f(name);
        }
        self.current = Some(name.to_string());
        self.started = Instant::now();
    }

    fn finish(&mut self) {
        if let Some(name) = self.current.take() {
            self.list.push(Phase {
                name,
                seconds: self.started.elapsed().as_secs_f64(),
                peak_bytes_after: peak_rss_bytes(),
            });
        }
    }

    fn seconds(&self, names: &[&str]) -> f64 {
        self.list
            .iter()
            .filter(|p| names.contains(&p.name.as_str()))
            .map(|p| p.seconds)
            .sum()
    }
}

/// The benchmark's program as compiled for one mode, before it runs.
pub struct BenchProgram {
    pub program: secc_ir::Program,
    pub weights: secc_ir::Weights,
    pub low: LowProgram,
    /// The benchmark's input (token ids and attention mask).
    pub values: HashMap<String, ArrayD<f64>>,
    /// Number of parameter elements of the model.
    pub params: usize,
    pub approximations: Vec<String>,
    pub warnings: Vec<String>,
}

/// Builds and compiles the benchmark model exactly as [`run`] does, without running it: how
/// the same program goes through the deployment path (`netbench-program`).
pub fn compile(options: &BenchOptions) -> Result<BenchProgram, String> {
    let mut phases = Phases {
        list: Vec::new(),
        on_phase: options.on_phase.clone(),
        started: Instant::now(),
        current: None,
    };
    compile_phases(options, &mut phases)
}

fn compile_phases(options: &BenchOptions, phases: &mut Phases) -> Result<BenchProgram, String> {
    let shape = options.shape;
    phases.start("build");
    let (program, weights) = model::build(&shape, options.frac_bits, options.seed)?;
    let params = program.param_elements();
    let values = inputs(&shape, options.seed);

    phases.start("passes");
    let (program, weights) =
        crate::pipeline::run_passes(program, weights, None).map_err(|e| e.to_string())?;

    phases.start("mode");
    let calibration: crate::inputs::InputArrays =
        values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // Secformer mode calibrates on the benchmark input; PUMA mode has nothing to calibrate.
    let calibration = match options.mode {
        Mode::Secformer => vec![(PathBuf::from("<bench input>"), calibration)],
        Mode::Puma | Mode::Exact => Vec::new(),
    };
    let mode = ModeOptions {
        mode: options.mode,
        calibration,
        substitutions: options.substitutions,
    };
    let compiled = apply_mode(program, weights, &mode, None).map_err(|e| e.to_string())?;
    let approximations = compiled
        .approximations
        .iter()
        .map(|a| a.to_string())
        .collect();

    phases.start("codegen");
    let low = codegen::generate(&compiled.program).map_err(|e| format!("codegen: {e}"))?;
    Ok(BenchProgram {
        program: compiled.program,
        weights: compiled.weights,
        low,
        values,
        params,
        approximations,
        warnings: compiled.warnings,
    })
}

/// Builds, compiles, runs and checks the benchmark model.
pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let shape = options.shape;
    let mut phases = Phases {
        list: Vec::new(),
        on_phase: options.on_phase.clone(),
        started: Instant::now(),
        current: None,
    };
    let BenchProgram {
        program,
        weights,
        low,
        values,
        params,
        approximations,
        warnings,
    } = compile_phases(options, &mut phases)?;
    let cost_report = cost::report(&low);
    let predicted = low.predicted_cost();

    phases.start("mpc");
    let stage_times: Arc<Mutex<Vec<Instant>>> =
        Arc::new(Mutex::new(Vec::with_capacity(low.stages.len())));
    let run_start = Instant::now();
    let recorder = {
        let times = stage_times.clone();
        let display: Option<Arc<ProgressFn>> = options
            .show_progress
            .then(|| crate::progress::stage_bar(&low));
        move |done: usize, total: usize| {
            if let Ok(mut t) = times.lock() {
                t.push(Instant::now());
            }
            if let Some(display) = &display {
                display(done, total);
            }
        }
    };
    let local_options = secc_runtime::LocalOptions {
        timeout: std::time::Duration::from_secs(3600),
        progress: Some(Arc::new(recorder)),
        // The client's default allowance (the attention mask), checked against the program.
        public_inputs: secc_runtime::PublicInputPolicy::default()
            .resolve(&program, &low)
            .map_err(|e| format!("MPC run: {e}"))?
            .0,
    };
    let prologue =
        secc_runtime::run_prologue(&program, &values).map_err(|e| format!("MPC run: {e}"))?;
    let mut run =
        secc_runtime::run_local_with(&low, &weights.tensors, &prologue.sends, &local_options)
            .map_err(|e| format!("MPC run: {e}"))?;
    run.outputs = secc_runtime::merge_outputs(&program, run.outputs, &prologue)
        .map_err(|e| format!("MPC run: {e}"))?;

    phases.start("reference");
    let expected =
        secc_ir::interp::evaluate(&program, &weights, &values).map_err(|e| e.to_string())?;
    let mut max_abs_error = 0.0f64;
    for (name, want) in &expected {
        let got = run
            .outputs
            .iter()
            .find(|o| &o.name == name)
            .ok_or_else(|| format!("the MPC run has no output '{name}'"))?;
        if got.data.len() != want.len() {
            return Err(format!("output '{name}': size differs from the reference"));
        }
        for (a, b) in got.data.iter().zip(want.iter()) {
            max_abs_error = max_abs_error.max((a - b).abs());
        }
    }
    phases.finish();

    // Profile: time between consecutive stage completions, attributed to the stage's label.
    let labels = stage_labels(&low);
    let mut time_by_layer: BTreeMap<String, TimeShare> = BTreeMap::new();
    let mut time_by_op: BTreeMap<String, TimeShare> = BTreeMap::new();
    let times = stage_times.lock().map(|t| t.clone()).unwrap_or_default();
    let mut previous = run_start;
    for (t, (layer, op)) in times.iter().zip(&labels) {
        let dt = t.duration_since(previous).as_secs_f64();
        previous = *t;
        for (map, key) in [(&mut time_by_layer, layer), (&mut time_by_op, op)] {
            let e = map.entry(key.clone()).or_default();
            e.stages += 1;
            e.seconds += dt;
        }
    }

    let split = secc_ir::preprocessing::analyse(&low);
    let phase_costs = secc_ir::preprocessing::phase_costs(&low);
    let slowest = |f: &dyn Fn(&secc_runtime::PartyReport) -> std::time::Duration| {
        run.parties
            .iter()
            .map(f)
            .max()
            .unwrap_or_default()
            .as_secs_f64()
    };
    let pre_bytes = run.parties.map(|p| p.preprocessing_bytes_sent);
    let preprocessing = PhaseFigures::new(
        slowest(&|p| p.preprocessing_wall),
        run.parties[0].preprocessing_rounds,
        pre_bytes,
        phase_costs.preprocessing,
    );
    let online = PhaseFigures::new(
        slowest(&|p| p.online_wall),
        run.rounds,
        std::array::from_fn(|i| run.bytes_sent[i] - pre_bytes[i]),
        phase_costs.online,
    );
    let compile_s = phases.seconds(&["passes", "mode", "codegen"]);
    let first_stage_s = times
        .first()
        .map_or(0.0, |t| t.duration_since(run_start).as_secs_f64());
    let mode_label = std::iter::once(options.mode.name())
        .chain(options.substitutions.flags())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(BenchReport {
        shape,
        mode: mode_label,
        frac_bits: options.frac_bits,
        params,
        approximations,
        warnings,
        compile_s,
        wall_s: run.wall.as_secs_f64(),
        owner_sharing_s: (run.wall.as_secs_f64() - run.parties[0].wall.as_secs_f64()).max(0.0),
        first_stage_s,
        peak_bytes: peak_rss_bytes(),
        phases: phases.list,
        stages: low.stages.len(),
        rounds: run.rounds,
        bytes_sent: run.bytes_sent,
        predicted_rounds: predicted.rounds,
        predicted_bytes_sent: predicted.bytes_sent,
        cost_matches: predicted.rounds == run.rounds && predicted.bytes_sent == run.bytes_sent,
        preprocessing,
        online,
        preprocessing_local_instructions: split.preprocessing_locals(),
        max_abs_error,
        cost: cost_report,
        time_by_layer,
        time_by_op,
    })
}

/// The human summary.
pub fn render(r: &BenchReport) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let s = &r.shape;
    let mut out = format!(
        "secc bench: BERT L{} H{} A{} I{} vocab {} seq {} batch {} ({:.1} M parameters, {} \
         fraction bits), mode {}\n",
        s.layers,
        s.hidden,
        s.heads,
        s.intermediate,
        s.vocab,
        s.seq,
        s.batch,
        r.params as f64 / 1e6,
        r.frac_bits,
        r.mode
    );
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out.push_str("phases:");
    for p in &r.phases {
        out.push_str(&format!(
            " {} {:.2} s (peak {:.2} GB);",
            p.name,
            p.seconds,
            p.peak_bytes_after as f64 / 1e9
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "compile (passes + mode + codegen): {:.2} s\nMPC wall time: {:.2} s ({} stages; owner's \
         weight sharing {:.2} s; start to end of the first stage {:.2} s)\npeak memory (VmHWM, \
         whole process): {:.2} GB\n",
        r.compile_s,
        r.wall_s,
        r.stages,
        r.owner_sharing_s,
        r.first_stage_s,
        r.peak_bytes as f64 / 1e9
    ));
    out.push_str(&format!(
        "measured:  {} rounds; MB sent by P0/P1/P2: {:.3} / {:.3} / {:.3}\npredicted: {} rounds; \
         MB sent by P0/P1/P2: {:.3} / {:.3} / {:.3}  ({})\n",
        r.rounds,
        mb(r.bytes_sent[0]),
        mb(r.bytes_sent[1]),
        mb(r.bytes_sent[2]),
        r.predicted_rounds,
        mb(r.predicted_bytes_sent[0]),
        mb(r.predicted_bytes_sent[1]),
        mb(r.predicted_bytes_sent[2]),
        if r.cost_matches { "equal" } else { "DIFFERENT" }
    ));
    out.push_str(&format!(
        "offline/online split ({} input-independent local instructions run before the input; \
         slowest party's time):\n",
        r.preprocessing_local_instructions
    ));
    for (name, p) in [("preprocessing", &r.preprocessing), ("online", &r.online)] {
        out.push_str(&format!(
            "  {name:<13} {:>8.2} s {:>5} rounds; MB sent by P0/P1/P2: {:.3} / {:.3} / {:.3} \
             (predicted {} rounds, {:.3} / {:.3} / {:.3}: {})\n",
            p.seconds,
            p.rounds,
            mb(p.bytes_sent[0]),
            mb(p.bytes_sent[1]),
            mb(p.bytes_sent[2]),
            p.predicted_rounds,
            mb(p.predicted_bytes_sent[0]),
            mb(p.predicted_bytes_sent[1]),
            mb(p.predicted_bytes_sent[2]),
            if p.cost_matches { "equal" } else { "DIFFERENT" }
        ));
    }
    out.push_str(&format!(
        "max abs error vs plaintext interpreter: {:.3e}\n",
        r.max_abs_error
    ));
    for (title, costs, times, width) in [
        ("layer", &r.cost.by_layer, &r.time_by_layer, 12),
        ("op", &r.cost.by_op, &r.time_by_op, 16),
    ] {
        out.push_str(&format!(
            "by {title} (rounds, MB sent by P0, party-0 time):\n"
        ));
        for (name, g) in costs {
            let t = times.get(name).map_or(0.0, |t| t.seconds);
            out.push_str(&format!(
                "  {name:<width$} {:>5} rounds {:>10.3} MB {:>8.2} s\n",
                g.rounds,
                mb(g.bytes_sent[0]),
                t
            ));
        }
    }
    out
}
