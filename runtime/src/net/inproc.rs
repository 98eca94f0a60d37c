//! In-process transport: one channel per ordered pair of endpoints (parties 0, 1, 2 and the
//! client), for runs with every party as a thread of one process.
//!
//! Invariants: a receive waits at most the mesh's timeout; when the peer's endpoint has been
//! dropped (its thread finished or failed) and its queue is drained, a receive fails at once
//! with `Disconnected` naming the peer instead of waiting.

use super::{endpoint_name, NetError, Transport};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// Number of endpoints: three parties and the client.
pub const ENDPOINTS: usize = 4;

/// One endpoint of an in-process mesh.
pub struct InprocTransport {
    id: usize,
    senders: Vec<Option<Sender<Vec<u8>>>>,
    receivers: Vec<Option<Receiver<Vec<u8>>>>,
    timeout: Duration,
}

/// A fully connected mesh of the four endpoints; element `i` is endpoint `i`.
pub fn mesh(timeout: Duration) -> Vec<InprocTransport> {
    let mut endpoints: Vec<InprocTransport> = (0..ENDPOINTS)
        .map(|id| InprocTransport {
            id,
            senders: (0..ENDPOINTS).map(|_| None).collect(),
            receivers: (0..ENDPOINTS).map(|_| None).collect(),
            timeout,
        })
        .collect();
    for from in 0..ENDPOINTS {
        for to in 0..ENDPOINTS {
            if from != to {
                let (tx, rx) = channel();
                endpoints[from].senders[to] = Some(tx);
                endpoints[to].receivers[from] = Some(rx);
            }
        }
    }
    endpoints
}

impl Transport for InprocTransport {
    fn id(&self) -> usize {
        self.id
    }

    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        let disconnected = || NetError::Disconnected {
            peer: endpoint_name(to),
        };
        let link = self
            .senders
            .get(to)
            .and_then(Option::as_ref)
            .ok_or_else(disconnected)?;
        link.send(msg).map_err(|_| disconnected())
    }

    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        let peer = endpoint_name(from);
        let link = self
            .receivers
            .get(from)
            .and_then(Option::as_ref)
            .ok_or_else(|| NetError::Disconnected { peer: peer.clone() })?;
        link.recv_timeout(self.timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => NetError::Timeout {
                peer,
                timeout: self.timeout,
            },
            RecvTimeoutError::Disconnected => NetError::Disconnected { peer },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_failures_name_the_peer() {
        let mut nodes = mesh(Duration::from_millis(50));
        let mut client = nodes.pop().unwrap();
        let mut p2 = nodes.pop().unwrap();
        client.send(2, vec![1]).unwrap();
        client.send(2, vec![2, 3]).unwrap();
        assert_eq!(p2.recv(3).unwrap(), vec![1]);
        assert_eq!(p2.recv(3).unwrap(), vec![2, 3]);
        let timeout = p2.recv(0).unwrap_err().to_string();
        assert!(timeout.contains("party P0"), "{timeout}");
        drop(client);
        let gone = p2.recv(3).unwrap_err();
        assert!(matches!(gone, NetError::Disconnected { .. }), "{gone}");
        assert!(gone.to_string().contains("the client"));
    }
}
