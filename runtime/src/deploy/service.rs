//! A party service: `secc-party` loads its program and shares once, then serves client
//! requests one after the other until it is stopped or has served `--requests N`.
//!
//! Requests are served one at a time. While a party serves a request, another client that dials
//! it is answered "busy" at once (one byte after the hellos); `secc client` then hangs up every
//! link of its attempt and tries again, with a fresh request id after a short pause, until its
//! connect deadline, and only then fails naming the busy party. A request is identified by the
//! id its client drew; a party admits the client's id, then connects to its peers for that id
//! only, so the three parties always serve the same request, and every request agrees on fresh
//! pairwise seeds over its own authenticated connections. The first message on every link
//! between two parties (for one direction of each pair, the seed key) also carries the request
//! id, which the receiver checks ([`RequestBound`]): seeds are bound to the request they serve.
//!
//! Invariants: one failed request (client gone, peer timeout, refused connection) is reported
//! as one status line and never ends the service; a connection that fails its handshake is
//! reported and dropped without touching the request in progress; the stop flag (SIGTERM,
//! Ctrl-C) is honoured between requests, so a request in progress finishes (or fails within its
//! timeouts) and the service exits cleanly.

use super::{frame_limits, DeployConfig, DeployError, PartyCounters, PartyFiles, CLIENT};
use crate::engine::{check_program, run_party, PartyReport};
use crate::net::tcp::{bind_party, request_name, PartyEndpoint, RequestId, Security};
use crate::net::{endpoint_name, NetError, Transport};
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
        let request = client.request;
        let result = endpoint
            .establish(client, log)
            .map_err(DeployError::from)
            .and_then(|transport| {
                let mut transport = RequestBound::new(transport, request);
                let report = run_party(party, &files.program.low, &files.params, &mut transport)?;
                transport.send(CLIENT, PartyCounters::from_report(&report).to_bytes())?;
                transport.inner.finish(FLUSH_TIMEOUT)?;
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
         client), {:.3} s; of which preprocessing (before the input): {} round, {} bytes, \
         {:.3} s; online {:.3} s",
        report.rounds,
        report.bytes_sent,
        report.messages_sent,
        report.setup_bytes_sent,
        report.client_bytes_sent,
        report.wall.as_secs_f64(),
        report.preprocessing_rounds,
        report.preprocessing_bytes_sent,
        report.preprocessing_wall.as_secs_f64(),
        report.online_wall.as_secs_f64()
    )
}

/// Bytes of the request id in front of the first message on each link between two parties.
pub const REQUEST_TAG_BYTES: u64 = 16;

/// A party's transport whose first message to and from each other party carries the request
/// id: the seed keys (sent first on the links they travel) can only be taken for the request
/// the receiving party serves.
pub struct RequestBound<T: Transport> {
    pub inner: T,
    request: RequestId,
    sent: [bool; 3],
    received: [bool; 3],
}

impl<T: Transport> RequestBound<T> {
    pub fn new(inner: T, request: RequestId) -> Self {
        RequestBound {
            inner,
            request,
            sent: [false; 3],
            received: [false; 3],
        }
    }
}

impl<T: Transport> Transport for RequestBound<T> {
    fn id(&self) -> usize {
        self.inner.id()
    }

    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        match self.sent.get_mut(to) {
            Some(sent) if !*sent => {
                *sent = true;
                let mut tagged = Vec::with_capacity(msg.len() + self.request.len());
                tagged.extend_from_slice(&self.request);
                tagged.extend_from_slice(&msg);
                self.inner.send(to, tagged)
            }
            _ => self.inner.send(to, msg),
        }
    }

    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        let mut msg = self.inner.recv(from)?;
        if let Some(received) = self.received.get_mut(from).filter(|r| !**r) {
            *received = true;
            if !msg.starts_with(&self.request) {
                return Err(NetError::Handshake {
                    peer: endpoint_name(from),
                    reason: format!(
                        "its first message is not tagged with request {}",
                        request_name(&self.request)
                    ),
                });
            }
            msg.drain(..self.request.len());
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::inproc::mesh;

    #[test]
    fn the_first_message_of_each_party_link_carries_the_request() {
        let mut m = mesh(std::time::Duration::from_secs(1)).into_iter();
        let (p0, p1) = (m.next().unwrap(), m.next().unwrap());
        let mut a = RequestBound::new(p0, [7; 16]);
        let mut b = RequestBound::new(p1, [7; 16]);
        a.send(1, b"seed".to_vec()).unwrap();
        a.send(1, b"round".to_vec()).unwrap();
        assert_eq!(b.recv(0).unwrap(), b"seed");
        assert_eq!(b.recv(0).unwrap(), b"round");
        // Another request's seed is refused.
        let mut c = RequestBound::new(b.inner, [8; 16]);
        a.inner
            .send(1, [[7u8; 16].as_slice(), b"seed"].concat())
            .unwrap();
        let e = c.recv(0).unwrap_err().to_string();
        assert!(
            e.contains("party P0") && e.contains("not tagged with request 08080808"),
            "{e}"
        );
    }
}
