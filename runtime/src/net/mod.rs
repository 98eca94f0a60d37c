//! Transports between the three parties and the client.
//!
//! A [`Transport`] is one endpoint's set of links. Endpoints are numbered: parties 0, 1, 2 and
//! the client [`CLIENT`]. Every message is a whole byte vector (framing is the transport's
//! business); every receive waits at most the transport's timeout and then fails with an error
//! naming the peer, so nothing hangs. Payload bytes are counted per endpoint by
//! [`CountingTransport`], which is what the run reports as "bytes sent".

use std::time::Duration;

pub mod inproc;
pub mod tcp;
pub mod tls;

/// Endpoint number of the client.
pub const CLIENT: usize = 3;

/// Human name of an endpoint, for messages.
pub fn endpoint_name(id: usize) -> String {
    if id == CLIENT {
        "the client".to_string()
    } else {
        format!("party P{id}")
    }
}

/// A failure on a link, naming the peer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{peer} did not answer within {timeout:?}")]
    Timeout { peer: String, timeout: Duration },
    #[error("{peer} disconnected")]
    Disconnected { peer: String },
    #[error("could not connect to {peer} at {addr}: {source}")]
    Connect {
        peer: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("handshake with {peer} failed: {reason}")]
    Handshake { peer: String, reason: String },
    #[error("i/o error with {peer}: {source}")]
    Io {
        peer: String,
        source: std::io::Error,
    },
    #[error("{peer} is busy serving another request; try again later")]
    Busy { peer: String },
    #[error("{peer} sent a frame of {got} bytes, more than the {max} bytes of the largest message the program sends on that link")]
    FrameTooLarge { peer: String, got: u64, max: u64 },
    #[error("message from {peer} has {got} bytes, expected {expected}")]
    Size {
        peer: String,
        got: usize,
        expected: usize,
    },
}

/// One endpoint's links to the others.
pub trait Transport: Send {
    /// This endpoint's number (0, 1, 2 or [`CLIENT`]).
    fn id(&self) -> usize;
    /// Sends one message to `to`.
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError>;
    /// Receives the next message from `from`, waiting at most the transport's timeout.
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError>;
}

/// Wraps a transport and counts payload bytes and messages sent.
pub struct CountingTransport<T: Transport> {
    inner: T,
    pub bytes_sent: u64,
    pub messages_sent: u64,
}

impl<T: Transport> CountingTransport<T> {
    pub fn new(inner: T) -> Self {
        CountingTransport {
            inner,
            bytes_sent: 0,
            messages_sent: 0,
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn id(&self) -> usize {
        self.inner.id()
    }
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        self.bytes_sent += msg.len() as u64;
        self.messages_sent += 1;
        self.inner.send(to, msg)
    }
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        self.inner.recv(from)
    }
}

impl Transport for Box<dyn Transport> {
    fn id(&self) -> usize {
        (**self).id()
    }
    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        (**self).send(to, msg)
    }
    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        (**self).recv(from)
    }
}
