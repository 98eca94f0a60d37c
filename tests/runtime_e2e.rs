//! The MPC half end to end, through the binaries: the MLP fixture compiled by `secc compile`,
//! run by `secc run` on both transports and by a three-process deployment (`secc share`,
//! `secc keygen`, three `secc-party` TLS services serving several `secc client` requests, a
//! garbage connection, a client and a party with unknown keys), each compared with `secc
//! reference` and with the cost that `secc inspect --stats --json` predicts; and `secc run`'s
//! bad inputs.
//!
//! Every child process is waited for within a bound and killed past it, so a hang fails the
//! test instead of stalling it.

use crate::common::*;
use serde_json::Value;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Accuracy contract (brief §5): MPC output vs the plaintext interpreter of the same program.
const TOLERANCE: f64 = 1e-2;
/// Longest any one command of these tests may take (they take well under a second).
const BOUND: Duration = Duration::from_secs(120);

fn mlp_input() -> PathBuf {
    models().join("inputs/mlp.json")
}

/// `secc-party` as built by `cargo test --workspace` (next to the test executable's target
/// directory). Fails rather than skips: without it the deployment is not tested.
fn party_binary() -> PathBuf {
    secc_runtime::deploy::find_party_binary().unwrap_or_else(|| {
        panic!(
            "the secc-party binary is missing next to {} (or its parent); build it with \
             `cargo build --workspace` or run the tests with `cargo test --workspace`",
            std::env::current_exe().unwrap().display()
        )
    })
}

/// Waits for `child` until `BOUND` has passed, then kills it; returns its output.
fn wait_bounded(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + BOUND;
    // Drain the pipes while waiting so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn spawn(program: &Path, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

/// `secc ARGS` within the bound.
fn secc_bounded(args: &[&str]) -> Output {
    let child = spawn(Path::new(env!("CARGO_BIN_EXE_secc")), args);
    wait_bounded(child, &format!("secc {}", args.join(" ")))
}

fn json_of(out: &Output, what: &str) -> Value {
    assert!(out.status.success(), "{what}: {}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON object ({e})"))
}

/// Compiles the MLP fixture (batch 2, the input file's shape) into `dir`.
fn compile_mlp(dir: &Path) -> PathBuf {
    let program = dir.join("mlp.secc");
    let out = secc_bounded(&[
        "compile",
        models().join("mlp.onnx").to_str().unwrap(),
        "--batch",
        "2",
        "-o",
        program.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "compile: {}", stderr(&out));
    assert!(
        stderr(&out).contains("rounds"),
        "the cost report goes to stderr"
    );
    program
}

/// `(rounds, bytes_sent)` predicted by `secc inspect --stats --json`.
fn predicted_cost(program: &Path) -> (u64, Vec<u64>) {
    let stats = json_of(
        &secc_bounded(&["inspect", program.to_str().unwrap(), "--stats", "--json"]),
        "inspect --stats --json",
    );
    cost_of(&stats, "inspect --stats --json")
}

fn cost_of(json: &Value, what: &str) -> (u64, Vec<u64>) {
    let rounds = json["rounds"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no rounds in {json}"));
    let bytes: Vec<u64> = json["bytes_sent"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no bytes_sent in {json}"))
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    assert_eq!(bytes.len(), 3, "{what}: one count per party");
    (rounds, bytes)
}

fn reference_outputs(program: &Path) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    reference_outputs_for(program, &mlp_input())
}

fn reference_outputs_for(program: &Path, input: &Path) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let json = json_of(
        &secc_bounded(&[
            "reference",
            program.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ]),
        "reference",
    );
    outputs_of(&json)
}

/// Same names and shapes as the reference, and values within the tolerance; returns the
/// largest error.
fn assert_matches_reference(
    got: &[(String, Vec<usize>, Vec<f64>)],
    want: &[(String, Vec<usize>, Vec<f64>)],
    what: &str,
) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    let mut worst: f64 = 0.0;
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1), "{what}: output name/shape");
        let error = max_abs_diff(&g.2, &w.2);
        assert!(
            error <= TOLERANCE,
            "{what}: output {} differs from the reference by {error:e}",
            g.0
        );
        worst = worst.max(error);
    }
    // An all-zero output would match a zero reference trivially; the MLP's logits are not zero.
    assert!(
        want.iter().any(|w| w.2.iter().any(|x| x.abs() > 1e-3)),
        "{what}: the reference is degenerate"
    );
    worst
}

#[test]
fn mlp_runs_on_both_transports_matching_the_reference_and_the_predicted_cost() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile_mlp(dir.path());
    let (rounds, bytes) = predicted_cost(&program);
    assert!(
        rounds > 0 && bytes.iter().all(|&b| b > 0),
        "{rounds} {bytes:?}"
    );
    let reference = reference_outputs(&program);
    // Make sure tcp really uses processes: the binary it needs must exist.
    party_binary();
    for transport in ["inproc", "tcp"] {
        let npy = dir.path().join(format!("out-{transport}.npy"));
        let what = format!("secc run --transport {transport}");
        let run = json_of(
            &secc_bounded(&[
                "run",
                program.to_str().unwrap(),
                "--input",
                mlp_input().to_str().unwrap(),
                "--transport",
                transport,
                "--output",
                npy.to_str().unwrap(),
                "--json",
            ]),
            &what,
        );
        let got = outputs_of(&run);
        let worst = assert_matches_reference(&got, &reference, &what);
        // The error the CLI reports is the one against the same reference.
        let reported = run["max_abs_error"]["logits"]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no max_abs_error.logits in {run}"));
        assert!(
            (reported - worst).abs() < 1e-9,
            "{what}: {reported} vs {worst}"
        );
        // Measured counters equal the static prediction exactly.
        assert_eq!(cost_of(&run, &what), (rounds, bytes.clone()), "{what}");
        assert_eq!(
            cost_of(&run["predicted"], &what),
            (rounds, bytes.clone()),
            "{what}: predicted"
        );
        assert_eq!(run["transport"], transport);
        assert!(run["wall_s"].as_f64().is_some(), "{what}: wall_s");
        let written: ndarray::ArrayD<f64> = ndarray_npy::read_npy(&npy).unwrap();
        assert_eq!(written.shape(), got[0].1.as_slice(), "{what}: .npy shape");
        assert_eq!(
            written.iter().copied().collect::<Vec<_>>(),
            got[0].2,
            "{what}: .npy holds the printed output"
        );
    }
}

/// Three loopback addresses free a moment ago.
fn free_loopback_addrs() -> [String; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| listeners[i].local_addr().unwrap().to_string())
}

/// The MLP input scaled by `factor`, written into `dir`.
fn scaled_mlp_input(dir: &Path, factor: f64) -> PathBuf {
    let text = std::fs::read_to_string(mlp_input()).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    for row in json["x"].as_array_mut().unwrap() {
        for v in row.as_array_mut().unwrap() {
            *v = Value::from(v.as_f64().unwrap() * factor);
        }
    }
    let path = dir.join(format!("input-{factor}.json"));
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// Sends SIGTERM to a child (the way an operator or systemd stops a service).
fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn share_three_party_processes_and_client_give_the_reference_output() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile_mlp(dir.path());
    let (rounds, bytes) = predicted_cost(&program);
    let deploy_dir = dir.path().join("deploy");
    let out = secc_bounded(&[
        "share",
        program.to_str().unwrap(),
        "--out-dir",
        deploy_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "share: {}", stderr(&out));
    let party_program = deploy_dir.join("mlp.party.secc");
    let shares = [0, 1, 2].map(|i| deploy_dir.join(format!("mlp.p{i}.shares")));
    for file in shares.iter().chain([&party_program]) {
        assert!(file.is_file(), "share did not write {}", file.display());
    }
    // The parties' copy carries no weights: it cannot serve as the owner's file.
    let out = secc_bounded(&[
        "run",
        party_program.to_str().unwrap(),
        "--input",
        mlp_input().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("without weights"), "{}", stderr(&out));

    // Keys and the pinned parties.toml.
    let keys = dir.path().join("keys");
    let addrs = free_loopback_addrs();
    let mut keygen = vec!["keygen", "--out-dir", keys.to_str().unwrap()];
    for addr in &addrs {
        keygen.extend(["--addr", addr.as_str()]);
    }
    let out = secc_bounded(&keygen);
    assert!(out.status.success(), "keygen: {}", stderr(&out));
    let config = keys.join("parties.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    assert_eq!(toml.matches("cert_sha256 = ").count(), 4, "{toml}");
    // Short timeouts, so the failed requests below fail quickly.
    let toml = toml.replace("connect_timeout_s = 10\n", "connect_timeout_s = 3\n");
    std::fs::write(&config, toml).unwrap();
    let key = |role: &str| keys.join(format!("{role}.key"));

    let party = party_binary();
    let start_party = |i: usize, config: &Path, key: &Path, extra: &[&str]| {
        let mut args = vec![
            "--id".to_string(),
            i.to_string(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--key".into(),
            key.to_str().unwrap().into(),
            "--program".into(),
            party_program.to_str().unwrap().into(),
            "--shares".into(),
            shares[i].to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn(&party, &args)
    };
    let parties: Vec<Child> = (0..3)
        .map(|i| start_party(i, &config, &key(&format!("p{i}")), &[]))
        .collect();
    let client = |config: &Path, key: &Path, input: &Path| {
        secc_bounded(&[
            "client",
            party_program.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ])
    };
    let mut served = 0;
    let mut request = |factor: f64| {
        let input = scaled_mlp_input(dir.path(), factor);
        let run = json_of(&client(&config, &key("client"), &input), "secc client");
        let what = format!("secc client, request with input x {factor}");
        assert_matches_reference(
            &outputs_of(&run),
            &reference_outputs_for(&program, &input),
            &what,
        );
        assert_eq!(cost_of(&run, &what), (rounds, bytes.clone()));
        served += 1;
    };
    // Several requests in a row, each with fresh seeds and its own input.
    request(1.0);
    request(-0.5);

    // A garbage connection, left open during the next request, disturbs nothing.
    let mut garbage = std::net::TcpStream::connect(&addrs[1]).unwrap();
    use std::io::Write;
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    request(2.0);
    drop(garbage);

    // A stranger makes its own key for `role` and a parties.toml that pins it (with the real
    // certificates of the other roles): it trusts itself, but the services do not.
    let stranger = |role: &str, addrs: &[String; 3]| -> (PathBuf, PathBuf) {
        let home = dir.path().join(format!("stranger-{role}"));
        let out = secc_bounded(&[
            "keygen",
            "--role",
            role,
            "--out-dir",
            home.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "keygen --role {role}: {}",
            stderr(&out)
        );
        for other in ["p0", "p1", "p2", "client"]
            .into_iter()
            .filter(|r| *r != role)
        {
            let crt = format!("{other}.crt");
            std::fs::copy(keys.join(&crt), home.join(&crt)).unwrap();
        }
        let mut assemble = vec!["keygen", "--certs", home.to_str().unwrap(), "--out-dir"];
        assemble.push(home.to_str().unwrap());
        for addr in addrs {
            assemble.extend(["--addr", addr.as_str()]);
        }
        let out = secc_bounded(&assemble);
        assert!(out.status.success(), "keygen --certs: {}", stderr(&out));
        let config = home.join("parties.toml");
        let toml = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            toml.replace("connect_timeout_s = 10\n", "connect_timeout_s = 3\n"),
        )
        .unwrap();
        (config, home.join(format!("{role}.key")))
    };

    // A client key that the configuration does not pin is named before any connection.
    let (stranger_config, stranger_key) = stranger("client", &addrs);
    let out = client(&config, &stranger_key, &mlp_input());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not the one parties.toml pins for the client"),
        "{}",
        stderr(&out)
    );
    // A client whose key the parties did not pin is refused by them, and says so.
    let out = client(&stranger_config, &stranger_key, &mlp_input());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("party P0 at") && err.contains("refused this endpoint's certificate"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // A party with an unknown key: its own configuration pins it as P2 (at another address),
    // and a client that trusts that configuration sends it a request; P0 refuses it.
    let rogue_addrs = [
        addrs[0].clone(),
        addrs[1].clone(),
        free_loopback_addrs()[2].clone(),
    ];
    let (rogue_config, rogue_key) = stranger("p2", &rogue_addrs);
    let rogue = start_party(2, &rogue_config, &rogue_key, &["--requests", "1"]);
    let out = client(&rogue_config, &key("client"), &mlp_input());
    assert!(
        !out.status.success(),
        "a request through a rogue P2 succeeded"
    );
    let rogue = wait_bounded(rogue, "rogue secc-party P2");
    let rogue_err = stderr(&rogue);
    assert_eq!(rogue.status.code(), Some(1), "{rogue_err}");
    assert!(
        rogue_err.contains("party P0 at")
            && rogue_err.contains("refused this endpoint's certificate"),
        "{rogue_err}"
    );

    // The services go on.
    request(0.25);
    assert_eq!(served, 4);

    // SIGTERM: each service stops cleanly (exit 0) with one status line per request.
    for child in &parties {
        terminate(child);
    }
    let party_outputs: Vec<Output> = parties
        .into_iter()
        .enumerate()
        .map(|(i, child)| wait_bounded(child, &format!("secc-party P{i}")))
        .collect();
    for (i, out) in party_outputs.iter().enumerate() {
        let err = stderr(out);
        assert!(out.status.success(), "P{i}: {err}");
        assert!(!err.contains("panicked"), "P{i}: {err}");
        let done = err
            .lines()
            .filter(|l| l.contains("): done: ") && l.contains(&format!("{rounds} rounds")))
            .count();
        assert_eq!(done, 4, "P{i}: {err}");
        assert!(err.contains("stopped: 4 requests served"), "P{i}: {err}");
    }
    // Each refusal is named where it happened.
    let p0 = stderr(&party_outputs[0]);
    assert!(
        p0.lines()
            .filter(|l| l.contains("refused a connection from") && l.contains("is not pinned"))
            .count()
            >= 2,
        "P0 names the stranger client and the rogue party: {p0}"
    );
    let p1 = stderr(&party_outputs[1]);
    assert!(
        p1.contains("refused a connection from") && p1.contains("does not speak TLS"),
        "P1 names the garbage connection: {p1}"
    );
}

/// `secc run` on `program` with the MLP input and `--output`: must fail with exit status 1 and
/// every `needle` in its message, without a panic and without an output file.
fn expect_run_failure(program: &Path, input: &Path, needles: &[&str]) {
    let out_path = program.with_extension("npy");
    let out = secc_bounded(&[
        "run",
        program.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "'{needle}' not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out_path.exists(), "partial output {}", out_path.display());
}

#[test]
fn run_rejects_corrupt_and_foreign_version_program_files_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile_mlp(dir.path());
    let bytes = std::fs::read(&program).unwrap();

    let truncated = dir.path().join("truncated.secc");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    expect_run_failure(&truncated, &mlp_input(), &["truncated.secc", "truncated"]);

    // One flipped byte in the middle of the body: caught by a section hash or by prost.
    let flipped = dir.path().join("flipped.secc");
    let mut corrupt = bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x40;
    std::fs::write(&flipped, &corrupt).unwrap();
    expect_run_failure(&flipped, &mlp_input(), &["flipped.secc", "corrupt"]);

    // The format version is the u32 after the 8 magic bytes.
    let other_version = dir.path().join("v999.secc");
    let mut foreign = bytes.clone();
    foreign[8..12].copy_from_slice(&999u32.to_le_bytes());
    std::fs::write(&other_version, &foreign).unwrap();
    expect_run_failure(
        &other_version,
        &mlp_input(),
        &["v999.secc", "unsupported format version 999"],
    );

    let not_secc = dir.path().join("model.onnx.secc");
    std::fs::copy(models().join("mlp.onnx"), &not_secc).unwrap();
    expect_run_failure(&not_secc, &mlp_input(), &["model.onnx.secc", "not a secc"]);

    let missing = dir.path().join("absent.secc");
    expect_run_failure(&missing, &mlp_input(), &["absent.secc"]);
}

#[test]
fn run_names_a_missing_or_misshaped_input() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile_mlp(dir.path());
    let input = dir.path().join("wrong_name.json");
    std::fs::write(&input, r#"{"y": [[1.0, 2.0]]}"#).unwrap();
    expect_run_failure(
        &program,
        &input,
        &["wrong_name.json", "input 'x'", "missing"],
    );
    let input = dir.path().join("wrong_shape.json");
    std::fs::write(&input, r#"{"x": [[1.0, 2.0]]}"#).unwrap();
    expect_run_failure(
        &program,
        &input,
        &["wrong_shape.json", "input 'x'", "[1, 2]"],
    );
}
