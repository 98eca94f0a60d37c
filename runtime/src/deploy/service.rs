//! A party service: `secc-party` loads its program and shares once, then serves client
//! requests one after the other until it is stopped or has served `--requests N`.
//!
//! Requests are served one at a time. While a party serves a request, another client that dials
//! it is answered "busy" at once (one byte after the hellos); `secc client` then hangs up every
//! link of its attempt and tries again, with a fresh request id after a short pause, until its
//! connect deadline, and only then fails naming the busy party. A request is identified by the
//! id its client drew; a party admits the client's id, then connects to its peers for that id
//! only, so the three parties always serve the same request, and every request agrees on fresh
//! pairwise seeds over its own authenticated connections.
//!
//! Invariants: one failed request (client gone, peer timeout, refused connection) is reported
//! as one status line and never ends the service; a connection that fails its handshake is
//! reported and dropped without touching the request in progress; the stop flag (SIGTERM,
//! Ctrl-C) is honoured between requests, so a request in progress finishes (or fails within its
//! timeouts) and the service exits cleanly.

use super::{frame_limits, DeployConfig, DeployError, PartyCounters, PartyFiles, CLIENT};
use crate::engine::{check_program, run_party, PartyReport};
use crate::net::tcp::{bind_party, request_name, PartyEndpoint, Security};
use crate::net::Transport;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the last queued messages to leave when a request ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a service runs.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// Exit after this many requests (served or failed); `None` serves until stopped.
    pub requests: Option<u64>,
    /// Set (by a signal handler) to stop after the current request.
    pub stop: Arc<AtomicBool>,
}

/// What a service did.
#[derive(Debug, Clone, Default)]
pub struct ServiceSummary {
    pub served: u64,
    pub failed: u64,
    /// The report of the last request that succeeded.
    pub last: Option<PartyReport>,
    /// The error of the last request that failed.
    pub last_error: Option<String>,
}

/// Serves requests as party `party` (see the module documentation). `log` receives one line
/// when listening, one status line per request (rounds, bytes, time, or the error) and one per
/// refused connection.
pub fn serve(
    party: usize,
    config: &DeployConfig,
    security: Security,
    files: &PartyFiles,
    options: &ServiceOptions,
    log: &mut dyn FnMut(&str),
) -> Result<ServiceSummary, DeployError> {
    if party > 2 {
        return Err(DeployError::Mismatch(format!(
            "party id {party} is not 0, 1 or 2"
        )));
    }
    // Before listening: a program that fails the engine's checks is named at once (and the
    // frame limits below index its registers).
    check_program(&files.program.low)?;
    let secure = matches!(security, Security::Tls(_));
    let mut tcp = config.tcp(security);
    tcp.max_frame = frame_limits(&files.program.low, party);
    let listener = bind_party(party, &tcp)?;
    let mut endpoint = PartyEndpoint::start(party, listener, &tcp, files.program.program_hash())?;
    log(&format!(
        "listening on {} ({})",
        config.party_addrs[party],
        if secure {
            "mutual TLS, pinned certificates"
        } else {
            "PLAIN TCP, NOT ENCRYPTED"
        }
    ));
    let mut summary = ServiceSummary::default();
    let mut index = 0u64;
    while options.requests.is_none_or(|n| index < n) {
        let Some(client) = endpoint.next_request(None, &options.stop, log) else {
            break;
        };
        index += 1;
        let name = format!("request {index} ({})", request_name(&client.request));
        let result = endpoint
            .establish(client, log)
            .map_err(DeployError::from)
            .and_then(|mut transport| {
                let report = run_party(party, &files.program.low, &files.params, &mut transport)?;
                transport.send(CLIENT, PartyCounters::from_report(&report).to_bytes())?;
                transport.finish(FLUSH_TIMEOUT)?;
                Ok(report)
            });
        endpoint.idle();
        match result {
            Ok(report) => {
                summary.served += 1;
                log(&format!("{name}: {}", status(&report)));
                summary.last = Some(report);
            }
            Err(e) => {
                summary.failed += 1;
                log(&format!("{name}: failed: {e}"));
                summary.last_error = Some(e.to_string());
            }
        }
    }
    Ok(summary)
}

/// One request's status line.
pub fn status(report: &PartyReport) -> String {
    format!(
        "done: {} rounds, {} bytes sent to the parties in {} messages (+{} for seeds, {} to the \
         client), {:.3} s",
        report.rounds,
        report.bytes_sent,
        report.messages_sent,
        report.setup_bytes_sent,
        report.client_bytes_sent,
        report.wall.as_secs_f64()
    )
}
