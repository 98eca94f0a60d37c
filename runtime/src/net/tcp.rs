//! TCP transport for deployments: one TCP connection per pair of endpoints.
//!
//! Who dials whom is fixed, so no two endpoints ever both wait for the other: party `j` listens
//! on its configured address and dials every party `i < j`; the client dials all three parties.
//! So P0 only accepts (from P1, P2 and the client), P1 dials P0 and accepts P2 and the client,
//! P2 dials P0 and P1 and accepts the client. Dialling retries until the establishment deadline
//! (the peer may not be up yet), then fails naming the peer and its address; accepting fails at
//! the same deadline naming the peers that never came.
//!
//! Every connection opens with a handshake in both directions: [`HANDSHAKE_MAGIC`], the
//! sender's endpoint id, and the SHA-256 of the program it holds. The acceptor always answers
//! with its own hello before judging the dialler's, so both sides see both hashes and both
//! report a mismatch naming the other side. After the handshake a connection carries frames:
//! an 8-byte little-endian payload length, then the payload.
//!
//! Sends never block the caller: each link has a writer thread fed by a queue. This matters
//! because in a round every party sends before it receives; with blocking writes, three
//! messages larger than the kernel's socket buffers would deadlock the ring of parties. Each
//! link also has a reader thread that turns frames into a queue, so [`Transport::recv`] waits
//! with a timeout on that queue and reports a closed or broken connection as
//! [`NetError::Disconnected`] naming the peer. [`TcpTransport::finish`] (or dropping the
//! transport) flushes queued messages within a bounded time before closing, so the last
//! messages of a run (the output shares to the client) are not lost.

use super::{endpoint_name, NetError, Transport, CLIENT};
use secc_ir::bytecode::ProgramHash;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// First bytes of every secc connection, after which come the endpoint id and program hash.
pub const HANDSHAKE_MAGIC: [u8; 8] = *b"SECCNET1";
const HELLO_LEN: usize = 8 + 1 + 32;
/// Largest frame accepted. A corrupt length field must not make the reader allocate without
/// bound; frames are read incrementally, so memory grows only with bytes actually received.
const MAX_FRAME_BYTES: u64 = 1 << 36;
/// Default deadline for establishing all connections.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait for one message once connected: long enough for a peer's heaviest local step.
pub const DEFAULT_RECV_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between connection attempts to a peer that is not listening yet.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// Where the parties are and how long to wait.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Listening address of party i (`host:port`).
    pub party_addrs: [String; 3],
    /// Deadline for establishing all of this endpoint's connections.
    pub connect_timeout: Duration,
    /// Wait for one message once connected.
    pub recv_timeout: Duration,
}

impl TcpConfig {
    /// Addresses with the default timeouts.
    pub fn new(party_addrs: [String; 3]) -> Self {
        TcpConfig {
            party_addrs,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            recv_timeout: DEFAULT_RECV_TIMEOUT,
        }
    }
}

/// One endpoint's TCP links (see the module documentation).
pub struct TcpTransport {
    id: usize,
    links: Vec<Option<Link>>,
    recv_timeout: Duration,
}

struct Link {
    peer: usize,
    stream: TcpStream,
    outgoing: Option<Sender<Vec<u8>>>,
    incoming: Receiver<Result<Vec<u8>, NetError>>,
    writer: Option<JoinHandle<()>>,
}

/// Binds party `id`'s listening socket at its configured address.
pub fn bind_party(id: usize, config: &TcpConfig) -> Result<TcpListener, NetError> {
    let addr = &config.party_addrs[id];
    TcpListener::bind(addr).map_err(|source| NetError::Connect {
        peer: format!("{} (this party's own listening address)", endpoint_name(id)),
        addr: addr.clone(),
        source,
    })
}

impl TcpTransport {
    /// Establishes party `id`'s links: dials lower parties, accepts higher parties and the
    /// client on `listener` (bound beforehand, e.g. by [`bind_party`], so that peers starting
    /// earlier find it), all within `config.connect_timeout`.
    pub fn connect_party(
        id: usize,
        listener: TcpListener,
        config: &TcpConfig,
        program_hash: ProgramHash,
    ) -> Result<Self, NetError> {
        if id > 2 {
            return Err(NetError::Io {
                peer: endpoint_name(id),
                source: io::Error::new(io::ErrorKind::InvalidInput, "a party id is 0, 1 or 2"),
            });
        }
        let deadline = Instant::now() + config.connect_timeout;
        let mut streams: Vec<Option<TcpStream>> = (0..4).map(|_| None).collect();
        for (lower, slot) in streams.iter_mut().enumerate().take(id) {
            *slot = Some(dial(id, lower, config, program_hash, deadline)?);
        }
        let mut expected: Vec<usize> = (id + 1..3).chain([CLIENT]).collect();
        accept_peers(
            id,
            &listener,
            &mut expected,
            &mut streams,
            program_hash,
            deadline,
            config.connect_timeout,
        )?;
        Ok(Self::from_streams(id, streams, config.recv_timeout))
    }

    /// Establishes the client's links to the three parties within `config.connect_timeout`.
    pub fn connect_client(config: &TcpConfig, program_hash: ProgramHash) -> Result<Self, NetError> {
        let deadline = Instant::now() + config.connect_timeout;
        let mut streams: Vec<Option<TcpStream>> = (0..4).map(|_| None).collect();
        for (party, slot) in streams.iter_mut().enumerate().take(3) {
            *slot = Some(dial(CLIENT, party, config, program_hash, deadline)?);
        }
        Ok(Self::from_streams(CLIENT, streams, config.recv_timeout))
    }

    fn from_streams(id: usize, streams: Vec<Option<TcpStream>>, recv_timeout: Duration) -> Self {
        let links = streams
            .into_iter()
            .enumerate()
            .map(|(peer, stream)| stream.map(|s| Link::start(peer, s)))
            .collect();
        TcpTransport {
            id,
            links,
            recv_timeout,
        }
    }

    fn link(&mut self, peer: usize) -> Result<&mut Link, NetError> {
        self.links
            .get_mut(peer)
            .and_then(Option::as_mut)
            .ok_or_else(|| NetError::Handshake {
                peer: endpoint_name(peer),
                reason: format!("{} has no link to it", endpoint_name(self.id)),
            })
    }

    /// Sends every queued message and closes the links, waiting at most `timeout` for the
    /// writes to drain; fails naming a peer whose queue could not be delivered in time.
    pub fn finish(mut self, timeout: Duration) -> Result<(), NetError> {
        self.close(timeout)
    }

    fn close(&mut self, timeout: Duration) -> Result<(), NetError> {
        let deadline = Instant::now() + timeout;
        // Dropping the senders lets each writer drain its queue and stop.
        for link in self.links.iter_mut().flatten() {
            link.outgoing = None;
        }
        let mut result = Ok(());
        for link in self.links.iter_mut().flatten() {
            if let Some(writer) = link.writer.take() {
                while !writer.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(2));
                }
                if writer.is_finished() {
                    let _ = writer.join();
                } else if result.is_ok() {
                    result = Err(NetError::Timeout {
                        peer: endpoint_name(link.peer),
                        timeout,
                    });
                }
            }
            // Closing both directions also wakes the reader thread blocked on this socket.
            let _ = link.stream.shutdown(Shutdown::Both);
        }
        self.links.clear();
        result
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        // Best effort on an abandoned transport; `finish` is the way to learn about failures.
        let _ = self.close(Duration::from_secs(5));
    }
}

impl Transport for TcpTransport {
    fn id(&self) -> usize {
        self.id
    }

    fn send(&mut self, to: usize, msg: Vec<u8>) -> Result<(), NetError> {
        let link = self.link(to)?;
        let disconnected = || NetError::Disconnected {
            peer: endpoint_name(to),
        };
        // A failed queue means the writer stopped on a broken connection.
        link.outgoing
            .as_ref()
            .ok_or_else(disconnected)?
            .send(msg)
            .map_err(|_| disconnected())
    }

    fn recv(&mut self, from: usize) -> Result<Vec<u8>, NetError> {
        let timeout = self.recv_timeout;
        let link = self.link(from)?;
        match link.incoming.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(NetError::Timeout {
                peer: endpoint_name(from),
                timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(NetError::Disconnected {
                peer: endpoint_name(from),
            }),
        }
    }
}

impl Link {
    fn start(peer: usize, stream: TcpStream) -> Link {
        let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
        let (in_tx, in_rx) = mpsc::channel();
        // `try_clone` duplicates a socket descriptor; it fails only when the process is out of
        // descriptors, and then the link reports itself broken on first use instead.
        let writer = stream.try_clone().ok().map(|mut w| {
            std::thread::spawn(move || {
                for msg in out_rx {
                    if write_frame(&mut w, &msg).is_err() {
                        // The peer is gone; the reader reports it, senders see a closed queue.
                        return;
                    }
                }
                let _ = w.flush();
            })
        });
        match stream.try_clone() {
            Ok(mut r) => {
                std::thread::spawn(move || loop {
                    let item = read_frame(&mut r, peer);
                    let stop = item.is_err();
                    if in_tx.send(item).is_err() || stop {
                        return;
                    }
                });
            }
            Err(source) => {
                let _ = in_tx.send(Err(NetError::Io {
                    peer: endpoint_name(peer),
                    source,
                }));
            }
        }
        Link {
            peer,
            stream,
            outgoing: writer.is_some().then_some(out_tx),
            incoming: in_rx,
            writer,
        }
    }
}

fn write_frame(w: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    w.write_all(&(payload.len() as u64).to_le_bytes())?;
    w.write_all(payload)
}

fn read_frame(r: &mut TcpStream, peer: usize) -> Result<Vec<u8>, NetError> {
    let broken = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected => NetError::Disconnected {
            peer: endpoint_name(peer),
        },
        _ => NetError::Io {
            peer: endpoint_name(peer),
            source: e,
        },
    };
    let mut len = [0u8; 8];
    r.read_exact(&mut len).map_err(broken)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(NetError::Handshake {
            peer: endpoint_name(peer),
            reason: format!("it sent a frame of {len} bytes, more than any secc message"),
        });
    }
    let mut payload = Vec::new();
    r.take(len).read_to_end(&mut payload).map_err(broken)?;
    if payload.len() as u64 != len {
        return Err(NetError::Disconnected {
            peer: endpoint_name(peer),
        });
    }
    Ok(payload)
}

fn hello(id: usize, hash: ProgramHash) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[..8].copy_from_slice(&HANDSHAKE_MAGIC);
    out[8] = id as u8;
    out[9..].copy_from_slice(&hash.0);
    out
}

/// A peer's hello, parsed: its claimed endpoint id and program hash.
fn parse_hello(bytes: &[u8; HELLO_LEN]) -> Option<(usize, ProgramHash)> {
    if bytes[..8] != HANDSHAKE_MAGIC || usize::from(bytes[8]) > CLIENT {
        return None;
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[9..]);
    Some((usize::from(bytes[8]), ProgramHash(hash)))
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Reads a hello before the deadline; `who` names the other side for errors.
fn read_hello(
    stream: &mut TcpStream,
    who: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<(usize, ProgramHash), NetError> {
    stream
        .set_read_timeout(Some(remaining(deadline)))
        .map_err(|source| NetError::Io {
            peer: who.to_string(),
            source,
        })?;
    let mut buf = [0u8; HELLO_LEN];
    stream.read_exact(&mut buf).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => NetError::Timeout {
            peer: who.to_string(),
            timeout,
        },
        _ => NetError::Handshake {
            peer: who.to_string(),
            reason: format!("the connection closed before the handshake ({e})"),
        },
    })?;
    // After the handshake, waits are bounded by the link queues, not the socket.
    let _ = stream.set_read_timeout(None);
    parse_hello(&buf).ok_or_else(|| NetError::Handshake {
        peer: who.to_string(),
        reason: "it does not speak the secc protocol (bad handshake magic)".into(),
    })
}

fn check_hash(peer: usize, theirs: ProgramHash, ours: ProgramHash) -> Result<(), NetError> {
    if theirs == ours {
        return Ok(());
    }
    Err(NetError::Handshake {
        peer: endpoint_name(peer),
        reason: format!(
            "{} holds a different program: hash {}... there vs {}... here",
            endpoint_name(peer),
            theirs.short(),
            ours.short()
        ),
    })
}

fn configure(stream: &TcpStream, peer: &str) -> Result<(), NetError> {
    let io_err = |source| NetError::Io {
        peer: peer.to_string(),
        source,
    };
    // Rounds are latency-bound: each message must leave at once, not wait for Nagle.
    stream.set_nodelay(true).map_err(io_err)?;
    stream.set_nonblocking(false).map_err(io_err)
}

/// Dials party `to` at its configured address, retrying until the deadline, and handshakes.
fn dial(
    me: usize,
    to: usize,
    config: &TcpConfig,
    hash: ProgramHash,
    deadline: Instant,
) -> Result<TcpStream, NetError> {
    let peer = endpoint_name(to);
    let addr_text = &config.party_addrs[to];
    let mut last_error;
    loop {
        let attempt = resolve(addr_text).and_then(|addr| {
            TcpStream::connect_timeout(&addr, remaining(deadline).min(Duration::from_secs(2)))
        });
        match attempt {
            Ok(mut stream) => {
                configure(&stream, &peer)?;
                stream
                    .write_all(&hello(me, hash))
                    .map_err(|_| NetError::Disconnected { peer: peer.clone() })?;
                let (their_id, their_hash) =
                    read_hello(&mut stream, &peer, deadline, config.connect_timeout)?;
                if their_id != to {
                    return Err(NetError::Handshake {
                        peer: peer.clone(),
                        reason: format!(
                            "{addr_text} is {}, not {peer}; check the addresses in the configuration",
                            endpoint_name(their_id)
                        ),
                    });
                }
                check_hash(to, their_hash, hash)?;
                return Ok(stream);
            }
            Err(e) => last_error = e,
        }
        if Instant::now() + RETRY_INTERVAL >= deadline {
            return Err(NetError::Connect {
                peer,
                addr: addr_text.clone(),
                source: io::Error::new(
                    last_error.kind(),
                    format!(
                        "{last_error} (kept trying for {:?})",
                        config.connect_timeout
                    ),
                ),
            });
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        )
    })
}

/// Accepts the endpoints in `expected` until all have handshaken or the deadline passes.
fn accept_peers(
    me: usize,
    listener: &TcpListener,
    expected: &mut Vec<usize>,
    streams: &mut [Option<TcpStream>],
    hash: ProgramHash,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), NetError> {
    listener
        .set_nonblocking(true)
        .map_err(|source| NetError::Io {
            peer: endpoint_name(me),
            source,
        })?;
    while !expected.is_empty() {
        let (mut stream, from) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = expected.iter().map(|&p| endpoint_name(p)).collect();
                    return Err(NetError::Timeout {
                        peer: missing.join(" and "),
                        timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(source) => {
                return Err(NetError::Io {
                    peer: endpoint_name(me),
                    source,
                })
            }
        };
        let who = format!("the endpoint at {from}");
        configure(&stream, &who)?;
        let (their_id, their_hash) = read_hello(&mut stream, &who, deadline, timeout)?;
        // Answer before judging, so that the dialler can report a mismatch too.
        stream
            .write_all(&hello(me, hash))
            .map_err(|_| NetError::Disconnected {
                peer: endpoint_name(their_id),
            })?;
        let Some(slot) = expected.iter().position(|&p| p == their_id) else {
            return Err(NetError::Handshake {
                peer: endpoint_name(their_id),
                reason: format!(
                    "{} connected from {from}, but {} does not expect it to dial \
                     (a duplicate, or a wrong id in its configuration)",
                    endpoint_name(their_id),
                    endpoint_name(me)
                ),
            });
        };
        check_hash(their_id, their_hash, hash)?;
        expected.remove(slot);
        streams[their_id] = Some(stream);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
