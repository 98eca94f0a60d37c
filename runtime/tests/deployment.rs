//! Three real `secc-party` processes on loopback (mutual TLS with keys from
//! `deploy::keys`), with the client in this process: runs that must match the plaintext result,
//! a service that serves several requests and survives strangers, and each bad input of a
//! deployment, which must end the failing process with a non-zero exit and a line naming the
//! file or peer, within bounded time.

use ndarray::ArrayD;
use secc_ir::bytecode::{self, Container};
use secc_runtime::deploy::{
    keys, run_client, run_local_processes, security, write_deployment, DeployConfig,
    DeploymentFiles, LocalProcessOptions,
};
use secc_runtime::net::tcp::{Security, TcpTransport};
use secc_runtime::net::CLIENT;
use secc_runtime::share_inputs;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PARTY_BIN: &str = env!("CARGO_BIN_EXE_secc-party");
/// Longest a failing party may take to exit: its timeouts (2 s) plus process overhead.
const EXIT_BOUND: Duration = Duration::from_secs(15);

const X: [f64; 6] = [1.0, 2.0, -3.0, 0.5, -0.25, 4.0];

/// y = x * w + x (`example_product_program`); `label` changes the program (and so its hash)
/// without changing what it computes.
fn container(label: &str) -> Container {
    secc_runtime::builder::example_product_program(label)
}

/// The owner's plaintext weights of `container`.
fn weights() -> Vec<f64> {
    container("a").weights.unwrap().tensors[0].data.clone()
}

fn inputs() -> HashMap<String, ArrayD<f64>> {
    HashMap::from([(
        "x".to_string(),
        ArrayD::from_shape_vec(vec![2, 3], X.to_vec()).unwrap(),
    )])
}

/// A scratch directory with a deployment of `container("a")`, keys for the four roles and a
/// pinned parties.toml on free ports.
struct Scene {
    dir: tempfile::TempDir,
    files: DeploymentFiles,
    config: DeployConfig,
    config_path: PathBuf,
}

/// Three loopback addresses free a moment ago (bound then released; the parties bind them again
/// right away).
fn free_addrs() -> [String; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| listeners[i].local_addr().unwrap().to_string())
}

impl Scene {
    fn new(name: &str, timeout_s: f64) -> Scene {
        let dir = tempfile::Builder::new()
            .prefix(&format!("secc-it-{name}-"))
            .tempdir()
            .unwrap();
        let files = DeploymentFiles::beside(&dir.path().join("model.secc"));
        write_deployment(&container("a"), &files).unwrap();
        keys::generate_deployment(dir.path(), free_addrs()).unwrap();
        let config_path = dir.path().join("parties.toml");
        let mut config = DeployConfig::load(&config_path).unwrap();
        config.connect_timeout = Duration::from_secs_f64(timeout_s);
        config.recv_timeout = Duration::from_secs_f64(timeout_s);
        std::fs::write(&config_path, config.to_toml()).unwrap();
        Scene {
            dir,
            files,
            config,
            config_path,
        }
    }

    fn key(&self, role: &str) -> PathBuf {
        self.dir.path().join(format!("{role}.key"))
    }

    fn client_security(&self) -> Security {
        security(CLIENT, &self.config, Some(&self.key("client")), false).unwrap()
    }

    /// `secc-party` serving one request.
    fn spawn(&self, id: usize, program: &Path, shares: &Path) -> Child {
        self.spawn_with(id, program, shares, &["--requests", "1"])
    }

    fn spawn_with(&self, id: usize, program: &Path, shares: &Path, extra: &[&str]) -> Child {
        Command::new(PARTY_BIN)
            .arg("--id")
            .arg(id.to_string())
            .arg("--config")
            .arg(&self.config_path)
            .arg("--key")
            .arg(self.key(&format!("p{id}")))
            .arg("--program")
            .arg(program)
            .arg("--shares")
            .arg(shares)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("secc-party starts")
    }

    fn spawn_party(&self, id: usize) -> Child {
        self.spawn(id, &self.files.program, &self.files.shares[id])
    }
}

/// Sends SIGTERM to a child (the way an operator or systemd stops a service).
fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit within `EXIT_BOUND`; returns (success, stderr).
fn finish(mut child: Child) -> (bool, String) {
    let deadline = Instant::now() + EXIT_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("secc-party did not exit within {EXIT_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.success(), stderr)
}

/// The lines of a party's stderr other than its start-up line.
fn without_listening(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.contains(": listening on "))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn expect_failure(child: Child, needles: &[&str]) -> String {
    let (ok, stderr) = finish(child);
    // Shown with --nocapture, to read the messages a user gets.
    eprint!("{stderr}");
    assert!(!ok, "secc-party succeeded: {stderr}");
    let stderr = without_listening(&stderr);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn three_party_processes_compute_with_the_client() {
    let scene = Scene::new("run", 20.0);
    let parties: Vec<Child> = (0..3).map(|id| scene.spawn_party(id)).collect();
    let program = bytecode::read_program(&scene.files.program).unwrap();
    let run = run_client(&scene.config, scene.client_security(), &program, &inputs()).unwrap();
    for child in parties {
        let (ok, stderr) = finish(child);
        assert!(ok, "{stderr}");
        assert!(stderr.contains("listening on 127.0.0.1:"), "{stderr}");
        assert!(
            stderr.contains("(mutual TLS, pinned certificates)"),
            "{stderr}"
        );
        assert!(stderr.contains("): done: 2 rounds"), "{stderr}");
    }
    let y = &run.outputs[0];
    assert_eq!(
        (y.name.as_str(), y.shape.as_slice()),
        ("y", &[2usize, 3][..])
    );
    for ((got, x), w) in y.data.iter().zip(X).zip(weights()) {
        assert!((got - (x * w + x)).abs() < 1e-3, "{got} vs {}", x * w + x);
    }
    let predicted = program.low.predicted_cost();
    for (party, counters) in run.parties.iter().enumerate() {
        assert_eq!(counters.rounds, predicted.rounds);
        assert_eq!(counters.bytes_sent, predicted.bytes_sent[party]);
    }
}

/// Rewrites the parties' program file, starts party 0 on it and expects it to fail at once.
fn bad_program_file(name: &str, damage: impl Fn(&mut Vec<u8>), needles: &[&str]) {
    let scene = Scene::new(name, 2.0);
    let mut bytes = std::fs::read(&scene.files.program).unwrap();
    damage(&mut bytes);
    std::fs::write(&scene.files.program, bytes).unwrap();
    let start = Instant::now();
    expect_failure(scene.spawn_party(0), needles);
    // File errors come before any network wait.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn truncated_bytecode_is_named() {
    bad_program_file(
        "truncated",
        |b| b.truncate(b.len() / 2),
        &["model.party.secc", "truncated"],
    );
}

#[test]
fn corrupt_bytecode_is_named() {
    bad_program_file(
        "corrupt",
        |b| {
            let middle = b.len() / 2;
            b[middle] ^= 0x5a;
        },
        &["model.party.secc", "corrupt"],
    );
}

#[test]
fn foreign_file_is_not_a_secc_program() {
    bad_program_file(
        "foreign",
        |b| *b = b"{\"not\": \"a program\"}".to_vec(),
        &["model.party.secc", "not a secc program file"],
    );
}

#[test]
fn version_mismatch_names_both_versions() {
    bad_program_file(
        "version",
        |b| b[8..12].copy_from_slice(&99u32.to_le_bytes()),
        &[
            "model.party.secc",
            "unsupported format version 99",
            &format!("reads version {}", bytecode::FORMAT_VERSION),
        ],
    );
}

#[test]
fn the_owner_copy_with_weights_is_refused() {
    let scene = Scene::new("weights", 2.0);
    let owner = scene.dir.path().join("model.secc");
    bytecode::write_program(&owner, &container("a")).unwrap();
    expect_failure(
        scene.spawn(0, &owner, &scene.files.shares[0]),
        &["model.secc", "plaintext weights"],
    );
}

#[test]
fn parties_holding_different_programs_fail_at_the_handshake() {
    let scene = Scene::new("hash", 3.0);
    let other = DeploymentFiles::beside(&scene.dir.path().join("other.secc"));
    write_deployment(&container("b"), &other).unwrap();
    let start = Instant::now();
    let p0 = scene.spawn_party(0);
    let p1 = scene.spawn(1, &other.program, &other.shares[1]);
    let p2 = scene.spawn_party(2);
    let program = bytecode::read_program(&scene.files.program).unwrap();
    // The client holds P0's program: P1 is named at the handshake, by the client ...
    let e = run_client(&scene.config, scene.client_security(), &program, &inputs())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("party P1 holds a different program: hash"),
        "{e}"
    );
    // ... and by P1, which refused the client and serves on.
    terminate(&p1);
    let (ok, p1_err) = finish(p1);
    assert!(ok, "{p1_err}");
    assert!(
        p1_err.contains("refused a connection from 127.0.0.1:")
            && p1_err.contains("the client holds a different program: hash"),
        "{p1_err}"
    );
    // P0 had admitted the request; it fails when the client hangs up.
    expect_failure(
        p0,
        &["request 1", "handshake with the client failed: it hung up"],
    );
    terminate(&p2);
    assert!(finish(p2).0);
    assert!(start.elapsed() < EXIT_BOUND);
}

#[test]
fn a_party_that_never_connects_is_named() {
    let scene = Scene::new("absent", 2.0);
    let start = Instant::now();
    let p0 = scene.spawn_party(0);
    let p1 = scene.spawn_party(1);
    // The client gives up, naming P2 and its address.
    let program = bytecode::read_program(&scene.files.program).unwrap();
    let e = run_client(&scene.config, scene.client_security(), &program, &inputs())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains(&format!(
            "could not connect to party P2 at {}",
            scene.config.party_addrs[2]
        )),
        "{e}"
    );
    // P0 and P1 fail the request: P2 never dialled, or the client hung up first.
    for p in [p0, p1] {
        let e = expect_failure(p, &["request 1"]);
        assert!(e.contains("party P2") || e.contains("hung up"), "{e}");
    }
    assert!(start.elapsed() < EXIT_BOUND);
}

#[test]
fn a_party_that_dies_mid_run_is_named() {
    let scene = Scene::new("dies", 3.0);
    let p0 = scene.spawn_party(0);
    let p1 = scene.spawn_party(1);
    let mut p2 = scene.spawn_party(2);
    // Connect, so that all three are past the handshake, but hold the inputs back.
    let program = bytecode::read_program(&scene.files.program).unwrap();
    let mut client = TcpTransport::connect_client(
        &scene.config.tcp(scene.client_security()),
        program.program_hash(),
    )
    .unwrap();
    // Let the parties agree on seeds and wait for the inputs, then kill P2.
    std::thread::sleep(Duration::from_millis(300));
    p2.kill().unwrap();
    p2.wait().unwrap();
    let start = Instant::now();
    // P0 and P1 start computing; their first round needs P2.
    let _ = share_inputs(&mut client, &program.low, &inputs());
    expect_failure(p0, &["party P2 disconnected"]);
    expect_failure(p1, &["party P2 disconnected"]);
    assert!(start.elapsed() < EXIT_BOUND);
}

#[test]
fn a_bad_config_is_named() {
    let scene = Scene::new("config", 2.0);
    std::fs::write(
        &scene.config_path,
        "[[party]]\nid = 0\naddr = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    expect_failure(
        scene.spawn_party(0),
        &["parties.toml", "no [[party]] entry for party 1, 2"],
    );
}

#[test]
fn a_party_service_serves_requests_in_a_row_and_survives_strangers() {
    let scene = Scene::new("service", 3.0);
    let program = bytecode::read_program(&scene.files.program).unwrap();
    let parties: Vec<Child> = (0..3)
        .map(|id| scene.spawn_with(id, &scene.files.program, &scene.files.shares[id], &[]))
        .collect();
    let check = |factor: f64| {
        let x: Vec<f64> = X.iter().map(|v| v * factor).collect();
        let inputs = HashMap::from([(
            "x".to_string(),
            ArrayD::from_shape_vec(vec![2, 3], x.clone()).unwrap(),
        )]);
        let run = run_client(&scene.config, scene.client_security(), &program, &inputs).unwrap();
        for ((got, x), w) in run.outputs[0].data.iter().zip(&x).zip(weights()) {
            assert!((got - (x * w + x)).abs() < 1e-3, "{got} vs {}", x * w + x);
        }
    };
    check(1.0);
    // Garbage and a silent connection to every party, held open across a request.
    let mut strays = Vec::new();
    for addr in &scene.config.party_addrs {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::Write;
        s.write_all(&[0xee; 64]).unwrap();
        strays.push(s);
        strays.push(std::net::TcpStream::connect(addr).unwrap());
    }
    check(-2.0);
    drop(strays);
    // A client with an unknown key is refused; the next request is served.
    let strangers = tempfile::tempdir().unwrap();
    keys::write_role(strangers.path(), CLIENT).unwrap();
    let stranger = security(
        CLIENT,
        &DeployConfig {
            pins: {
                let mut pins = scene.config.pins.clone().unwrap();
                pins.0[CLIENT] =
                    keys::certificate_fingerprint(&strangers.path().join("client.crt")).unwrap();
                Some(pins)
            },
            ..scene.config.clone()
        },
        Some(&strangers.path().join("client.key")),
        false,
    )
    .unwrap();
    let e = run_client(&scene.config, stranger, &program, &inputs())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("refused this endpoint's certificate"), "{e}");
    check(0.5);
    for child in &parties {
        terminate(child);
    }
    for (id, child) in parties.into_iter().enumerate() {
        let (ok, stderr) = finish(child);
        eprint!("{stderr}");
        assert!(ok, "P{id}: {stderr}");
        assert_eq!(
            stderr.matches("): done: 2 rounds").count(),
            3,
            "P{id}: {stderr}"
        );
        assert!(
            stderr.contains("stopped: 3 requests served, 0 failed"),
            "P{id}: {stderr}"
        );
        assert!(
            stderr.contains("refused a connection from"),
            "P{id}: {stderr}"
        );
        if id == 0 {
            assert!(stderr.contains("is not pinned in parties.toml"), "{stderr}");
        }
    }
}

#[test]
fn a_party_without_a_key_is_told_how_to_get_one() {
    let scene = Scene::new("nokey", 2.0);
    let child = Command::new(PARTY_BIN)
        .args(["--id", "0", "--config"])
        .arg(&scene.config_path)
        .arg("--program")
        .arg(&scene.files.program)
        .arg("--shares")
        .arg(&scene.files.shares[0])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (ok, stderr) = finish(child);
    assert!(!ok && stderr.contains("--key"), "{stderr}");
    // A key of another role is named.
    let wrong = Command::new(PARTY_BIN)
        .args(["--id", "1", "--config"])
        .arg(&scene.config_path)
        .arg("--key")
        .arg(scene.key("p2"))
        .arg("--program")
        .arg(&scene.files.program)
        .arg("--shares")
        .arg(&scene.files.shares[1])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    expect_failure(
        wrong,
        &[
            "p2.key",
            "not the one parties.toml pins for party P1",
            "it is the key of party P2",
        ],
    );
}

#[test]
fn a_local_run_starts_and_supervises_the_three_processes() {
    let options = LocalProcessOptions {
        party_binary: PathBuf::from(PARTY_BIN),
        timeout: Duration::from_secs(20),
        public_inputs: Default::default(),
    };
    let run = run_local_processes(&container("a"), &inputs(), &options).unwrap();
    for ((got, x), w) in run.outputs[0].data.iter().zip(X).zip(weights()) {
        assert!((got - (x * w + x)).abs() < 1e-3, "{got} vs {}", x * w + x);
    }
    assert_eq!(run.parties[1].rounds, 2);

    let missing = LocalProcessOptions {
        party_binary: PathBuf::from("/nonexistent/secc-party"),
        ..options
    };
    let e = run_local_processes(&container("a"), &inputs(), &missing)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("could not start /nonexistent/secc-party"), "{e}");
}
