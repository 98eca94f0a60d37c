//! A whole deployment on this machine: three `secc-party` processes on loopback ports and the
//! client in this process (`secc run --transport tcp`).
//!
//! The deployment files (the parties' program file, one share file per party, fresh keys and
//! certificates for the four roles and the `parties.toml` pinning them) go into a private
//! scratch directory (`tempfile`: unpredictable name, mode 0700, removed afterwards); each
//! process receives only its own share file's and key's paths, and the links use mutual TLS
//! like a real deployment. Every process is waited for within a bound and killed past it, so a
//! run never leaves a process behind or hangs.

use super::keys::write_role;
use super::{
    run_client_with, tls_security, write_deployment, ClientRun, DeployConfig, DeployError,
    DeploymentFiles,
};
use crate::net::tls::{Fingerprint, Identity, Pins};
use crate::net::CLIENT;
use ndarray::ArrayD;
use secc_ir::bytecode::Container;
use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to run the local deployment.
#[derive(Debug, Clone)]
pub struct LocalProcessOptions {
    /// The `secc-party` executable (see [`find_party_binary`]).
    pub party_binary: PathBuf,
    /// Deadline for connecting and longest wait for one message, for parties and client.
    pub timeout: Duration,
    /// The inputs the client agrees to send in the clear.
    pub public_inputs: crate::client::PublicInputPolicy,
}

/// `secc-party` next to the running executable, or one directory up (where cargo puts binaries
/// relative to test executables in `deps/`).
pub fn find_party_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let name = format!("secc-party{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent()?;
    [dir.join(&name), dir.parent()?.join(&name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Shares the container's weights into a scratch deployment, starts three `secc-party`
/// processes on free loopback ports, runs the client with `inputs` and waits for the parties.
/// On failure the error carries the client's error and every failed party's own message.
pub fn run_local_processes(
    container: &Container,
    inputs: &HashMap<String, ArrayD<f64>>,
    options: &LocalProcessOptions,
) -> Result<ClientRun, DeployError> {
    let scratch = tempfile::Builder::new()
        .prefix("secc-local-")
        .tempdir()
        .map_err(|e| DeployError::Local(format!("cannot create a scratch directory: {e}")))?;
    let dir = scratch.path();
    let files = DeploymentFiles::beside(&dir.join("model.secc"));
    write_deployment(container, &files)?;
    // Ephemeral keys, one per role, pinned in this run's parties.toml.
    let mut identities: Vec<Identity> = Vec::with_capacity(4);
    for endpoint in 0..4 {
        identities.push(write_role(dir, endpoint)?.0);
    }
    let pins = Pins(std::array::from_fn(|e| {
        Fingerprint::of(&identities[e].cert)
    }));
    let mut config = DeployConfig::new(free_loopback_addrs()?);
    config.connect_timeout = options.timeout;
    config.recv_timeout = options.timeout;
    config.pins = Some(pins.clone());
    let config_path = dir.join("parties.toml");
    secc_ir::bytecode::write_atomically(&config_path, config.to_toml().as_bytes())?;
    let client_security = tls_security(CLIENT, identities.swap_remove(CLIENT), pins)
        .map_err(DeployError::Mismatch)?;
    let mut children = Vec::with_capacity(3);
    for party in 0..3 {
        let child = Command::new(&options.party_binary)
            .arg("--id")
            .arg(party.to_string())
            .arg("--config")
            .arg(&config_path)
            .arg("--program")
            .arg(&files.program)
            .arg("--shares")
            .arg(&files.shares[party])
            .arg("--key")
            .arg(dir.join(format!("p{party}.key")))
            .arg("--requests")
            .arg("1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                DeployError::Local(format!(
                    "could not start {}: {e}",
                    options.party_binary.display()
                ))
            })?;
        children.push(Guard(Some(child)));
    }
    let program = container.without_weights();
    let client = run_client_with(
        &config,
        client_security,
        &program,
        inputs,
        &options.public_inputs,
    );
    // The parties end on their own: done, or failed within their timeouts. A party whose client
    // never reached it would wait for one: after a failed client, the bound is short.
    let bound = if client.is_ok() {
        Instant::now() + options.timeout * 3 + Duration::from_secs(5)
    } else {
        Instant::now() + options.timeout.min(Duration::from_secs(10)) + Duration::from_secs(2)
    };
    let mut failures = Vec::new();
    for (party, guard) in children.iter_mut().enumerate() {
        if let Some(message) = guard.wait_until(bound) {
            failures.push(format!("P{party}: {message}"));
        }
    }
    match client {
        Ok(run) if failures.is_empty() => Ok(run),
        Ok(_) => Err(DeployError::Local(format!(
            "a party failed after the client finished: {}",
            failures.join("; ")
        ))),
        Err(e) if failures.is_empty() => Err(e),
        Err(e) => Err(DeployError::Local(format!(
            "{e}; the parties report: {}",
            failures.join("; ")
        ))),
    }
}

/// Three loopback addresses free a moment ago (bound to port 0, then released).
fn free_loopback_addrs() -> Result<[String; 3], DeployError> {
    let mut addrs: [String; 3] = Default::default();
    // All three are held at once so that they differ.
    let listeners = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DeployError::Local(format!("no free loopback port: {e}")))?;
    for (addr, l) in addrs.iter_mut().zip(&listeners) {
        *addr = l
            .local_addr()
            .map_err(|e| DeployError::Local(format!("no free loopback port: {e}")))?
            .to_string();
    }
    Ok(addrs)
}

/// A child process that is killed if still running when dropped.
struct Guard(Option<Child>);

impl Guard {
    /// Waits until `deadline` (killing the process past it); the process's error line if it
    /// failed.
    fn wait_until(&mut self, deadline: Instant) -> Option<String> {
        let mut child = self.0.take()?;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        // The party's error lines, without its start-up line.
        let stderr: String = stderr
            .lines()
            .filter(|l| !l.contains(": listening on "))
            .collect::<Vec<_>>()
            .join("\n");
        match status {
            Some(s) if s.success() => None,
            Some(s) => Some(if stderr.trim().is_empty() {
                format!("exited with {s}")
            } else {
                stderr.trim().to_string()
            }),
            None => Some("did not exit in time and was killed".into()),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
