//! TCP transport for deployments: one connection per pair of endpoints and per request, over
//! mutual TLS with pinned certificates (or, behind an explicit flag, plain TCP for loopback
//! experiments).
//!
//! Who dials whom is fixed, so no two endpoints ever both wait for the other: the client dials
//! the three parties; party `j`, once it has admitted a client's request, dials every party
//! `i < j`. So P0 only accepts (P1, P2 and the client), P1 dials P0 and accepts P2 and the
//! client, P2 dials P0 and P1 and accepts the client. Dialling retries until the establishment
//! deadline (the peer may not be up yet), then fails naming the peer and its address.
//!
//! A party accepts on its own thread ([`PartyEndpoint`]): every incoming connection gets its own
//! short-lived handshake thread with a deadline (at most [`MAX_HANDSHAKES`] at once), so a slow
//! or garbage connection never delays the real peers, and a refused connection is reported as a
//! [`Event::Refused`] line without ending the party. After the TLS handshake every connection
//! carries a hello in both directions: [`HANDSHAKE_MAGIC`], the sender's endpoint id, the SHA-256
//! of its program and the request id (16 random bytes the client draws per request and the
//! parties relay to each other, so all three serve the same request on connections made for it;
//! the pairwise seeds then travel only on those authenticated connections). The acceptor answers
//! with its own hello before judging the dialler's, so both sides see both hashes and report a
//! mismatch. With TLS the role a dialler claims must be the role whose pinned certificate it
//! presented. A party admits one request at a time: it answers a client with one byte,
//! [`ADMITTED`] or [`BUSY`]; [`TcpTransport::connect_client`] retries a busy party until its
//! deadline.
//!
//! After the hellos a connection carries frames: an 8-byte little-endian payload length, then
//! the payload. Each link has a writer thread fed by a bounded queue (sends in a round never wait
//! for the receiver's engine, which would deadlock the ring of parties with messages larger than
//! the socket buffers) and a reader thread that checks each frame's length against the largest
//! message the program ever sends on that link ([`TcpConfig::max_frame`]) before allocating, and
//! hands whole frames to a bounded queue. [`Transport::recv`] waits on that queue with a timeout
//! and reports a closed or broken connection as [`NetError::Disconnected`] naming the peer.
//! [`TcpTransport::finish`] (or dropping the transport) flushes queued messages within a bounded
//! time before closing, so the last messages of a run are not lost.

use super::tls::{self, TlsSetup};
use super::{endpoint_name, NetError, Transport, CLIENT};
use secc_ir::bytecode::ProgramHash;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// First bytes of every secc hello, after which come the endpoint id, program hash and request.
pub const HANDSHAKE_MAGIC: [u8; 8] = *b"SECCNET2";
const HELLO_LEN: usize = 8 + 1 + 32 + 16;
/// A party's answer to a client whose request it takes.
pub const ADMITTED: u8 = 1;
/// A party's answer to a client while it serves another request.
pub const BUSY: u8 = 2;
/// Largest frame a transport accepts when the caller gives no program-derived limit.
pub const DEFAULT_MAX_FRAME: u64 = 1 << 30;
/// Default deadline for establishing all connections.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait for one message once connected: long enough for a peer's heaviest local step.
pub const DEFAULT_RECV_TIMEOUT: Duration = Duration::from_secs(120);
/// Default deadline for one incoming connection's TLS handshake and hello.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Incoming connections handshaking at once; more are closed at once.
pub const MAX_HANDSHAKES: usize = 32;
/// Whole frames buffered per link and direction.
const QUEUE_FRAMES: usize = 4;
/// Plaintext bytes per TLS write, so encryption buffers stay small for large frames.
const WRITE_CHUNK: usize = 1 << 16;
/// Pause between connection attempts to a peer that is not listening yet.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// A request's identity, drawn by the client.
pub type RequestId = [u8; 16];

/// Short hex form of a request id, for status lines.
pub fn request_name(id: &RequestId) -> String {
    id[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// How links are protected.
#[derive(Debug, Clone)]
pub enum Security {
    /// Mutual TLS with this endpoint's identity and everyone's pins.
    Tls(Arc<TlsSetup>),
    /// Plain TCP: anyone on the path reads every message. Loopback experiments only.
    InsecurePlaintext,
}

/// Where the parties are, how long to wait and how links are protected.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Listening address of party i (`host:port`).
    pub party_addrs: [String; 3],
    /// Deadline for establishing all of this endpoint's connections of a request.
    pub connect_timeout: Duration,
    /// Wait for one message once connected.
    pub recv_timeout: Duration,
    /// Deadline for one incoming connection's handshake.
    pub handshake_timeout: Duration,
    /// Largest frame accepted from each endpoint (index = endpoint).
    pub max_frame: [u64; 4],
    pub security: Security,
}

impl TcpConfig {
    /// Addresses with the default timeouts and frame limit.
    pub fn new(party_addrs: [String; 3], security: Security) -> Self {
        TcpConfig {
            party_addrs,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            recv_timeout: DEFAULT_RECV_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame: [DEFAULT_MAX_FRAME; 4],
            security,
        }
    }
}

/// One endpoint's TCP links (see the module documentation).
pub struct TcpTransport {
    id: usize,
    links: Vec<Option<Link>>,
    recv_timeout: Duration,
}

/// A connection past its TCP (and TLS) handshake, before it becomes a link.
pub struct Conn {
    stream: TcpStream,
    tls: Option<rustls::Connection>,
    addr: SocketAddr,
}

impl Conn {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.tls {
            None => self.stream.write_all(data),
            Some(tls) => {
                tls.writer().write_all(data)?;
                while tls.wants_write() {
                    tls.write_tls(&mut self.stream)?;
                }
                Ok(())
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return self.stream.read_exact(buf);
        };
        let mut filled = 0;
        while filled < buf.len() {
            match tls.reader().read(&mut buf[filled..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if tls.read_tls(&mut self.stream)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    if let Err(e) = tls.process_new_packets() {
                        // Send the alert, so the peer learns why.
                        let _ = tls.write_tls(&mut self.stream);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn handshake(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            while tls.is_handshaking() {
                if tls.complete_io(&mut self.stream)? == (0, 0) {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            while tls.wants_write() {
                tls.write_tls(&mut self.stream)?;
            }
        }
        Ok(())
    }

    fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)
    }

    /// Whether the other side has closed (a non-blocking peek sees end of stream).
    fn closed(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let result = self.stream.peek(&mut [0u8; 1]);
        let _ = self.stream.set_nonblocking(false);
        match result {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted
            }
        }
    }
}

fn hello(id: usize, hash: ProgramHash, request: &RequestId) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[..8].copy_from_slice(&HANDSHAKE_MAGIC);
    out[8] = id as u8;
    out[9..41].copy_from_slice(&hash.0);
    out[41..].copy_from_slice(request);
    out
}

/// A peer's hello, parsed: its claimed endpoint id, program hash and request.
fn parse_hello(bytes: &[u8; HELLO_LEN]) -> Option<(usize, ProgramHash, RequestId)> {
    if bytes[..8] != HANDSHAKE_MAGIC || usize::from(bytes[8]) > CLIENT {
        return None;
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[9..41]);
    let mut request = [0u8; 16];
    request.copy_from_slice(&bytes[41..]);
    Some((usize::from(bytes[8]), ProgramHash(hash), request))
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

/// Words for a failed TLS or hello exchange, from the rustls error inside `e` if any.
fn describe(e: &io::Error) -> String {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => "the connection closed during the handshake".into(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                "no handshake within the deadline".into()
            }
            _ => e.to_string(),
        };
    };
    match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.to_string()
        }
        rustls::Error::AlertReceived(alert) => format!(
            "it refused this endpoint's certificate or handshake (TLS alert {alert:?}): is this \
             key the one its parties.toml pins for this role?"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateHandshakeMessage { .. } => {
            format!("it does not speak TLS ({tls})")
        }
        other => other.to_string(),
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        )
    })
}

/// Dials party `to`, retrying a refused TCP connection until the deadline (or until `give_up`
/// says the request is gone), and exchanges hellos. A client also reads the party's admission.
fn dial(
    me: usize,
    to: usize,
    config: &TcpConfig,
    hash: ProgramHash,
    request: &RequestId,
    deadline: Instant,
    give_up: &dyn Fn() -> Option<NetError>,
) -> Result<Conn, NetError> {
    let peer = endpoint_name(to);
    let addr_text = &config.party_addrs[to];
    let handshake = |reason: String| NetError::Handshake {
        peer: format!("{peer} at {addr_text}"),
        reason,
    };
    let mut last_error;
    loop {
        let attempt = resolve(addr_text).and_then(|addr| {
            TcpStream::connect_timeout(&addr, remaining(deadline).min(Duration::from_secs(2)))
                .map(|s| (s, addr))
        });
        match attempt {
            Ok((stream, addr)) => {
                let tls = match &config.security {
                    Security::InsecurePlaintext => None,
                    Security::Tls(setup) => {
                        let client_config = setup.client_config(to).map_err(&handshake)?;
                        let conn =
                            rustls::ClientConnection::new(client_config, tls::server_name(to))
                                .map_err(|e| handshake(e.to_string()))?;
                        Some(rustls::Connection::Client(conn))
                    }
                };
                let mut conn = Conn { stream, tls, addr };
                let io_err = |source| NetError::Io {
                    peer: peer.clone(),
                    source,
                };
                conn.stream.set_nodelay(true).map_err(io_err)?;
                conn.set_timeouts(Some(remaining(deadline)))
                    .map_err(io_err)?;
                conn.handshake().map_err(|e| handshake(describe(&e)))?;
                conn.write_all(&hello(me, hash, request))
                    .map_err(|e| handshake(describe(&e)))?;
                let mut reply = [0u8; HELLO_LEN];
                conn.read_exact(&mut reply)
                    .map_err(|e| handshake(describe(&e)))?;
                let (their_id, their_hash, their_request) =
                    parse_hello(&reply).ok_or_else(|| {
                        handshake(
                            "it does not speak the secc protocol (bad handshake magic)".into(),
                        )
                    })?;
                if their_id != to {
                    return Err(handshake(format!(
                        "{addr_text} is {}, not {peer}; check the addresses in the configuration",
                        endpoint_name(their_id)
                    )));
                }
                check_hash(to, their_hash, hash)?;
                if their_request != *request {
                    return Err(handshake("it answered for another request".into()));
                }
                if me == CLIENT {
                    let mut admission = [0u8; 1];
                    conn.read_exact(&mut admission)
                        .map_err(|e| handshake(describe(&e)))?;
                    match admission[0] {
                        ADMITTED => {}
                        BUSY => return Err(NetError::Busy { peer: peer.clone() }),
                        other => return Err(handshake(format!("unknown admission byte {other}"))),
                    }
                }
                conn.set_timeouts(None).map_err(io_err)?;
                return Ok(conn);
            }
            Err(e) => last_error = e,
        }
        if let Some(e) = give_up() {
            return Err(e);
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

/// Binds party `id`'s listening socket at its configured address.
pub fn bind_party(id: usize, config: &TcpConfig) -> Result<TcpListener, NetError> {
    let addr = &config.party_addrs[id];
    TcpListener::bind(addr).map_err(|source| NetError::Connect {
        peer: format!("{} (this party's own listening address)", endpoint_name(id)),
        addr: addr.clone(),
        source,
    })
}

/// An authenticated connection that passed its hello.
pub struct Arrival {
    pub peer: usize,
    pub request: RequestId,
    conn: Conn,
    at: Instant,
}

/// What the accepting thread reports.
pub enum Event {
    /// Boxed: a connection's TLS state is large, refusals are many.
    Arrived(Box<Arrival>),
    /// A connection that was refused or dropped, with the reason (naming its address).
    Refused(String),
}

/// A party's listening side and the requests it serves one after the other.
pub struct PartyEndpoint {
    me: usize,
    config: TcpConfig,
    hash: ProgramHash,
    events: Receiver<Event>,
    busy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pending: Vec<Arrival>,
    acceptor: Option<JoinHandle<()>>,
}

impl PartyEndpoint {
    /// Starts accepting on `listener` (bound beforehand, e.g. by [`bind_party`]).
    pub fn start(
        me: usize,
        listener: TcpListener,
        config: &TcpConfig,
        hash: ProgramHash,
    ) -> Result<Self, NetError> {
        if me > 2 {
            return Err(NetError::Io {
                peer: endpoint_name(me),
                source: io::Error::new(io::ErrorKind::InvalidInput, "a party id is 0, 1 or 2"),
            });
        }
        let server_config = match &config.security {
            Security::Tls(setup) => {
                let allowed: Vec<usize> = (me + 1..3).chain([CLIENT]).collect();
                Some(
                    setup
                        .server_config(&allowed)
                        .map_err(|reason| NetError::Handshake {
                            peer: endpoint_name(me),
                            reason,
                        })?,
                )
            }
            Security::InsecurePlaintext => None,
        };
        listener
            .set_nonblocking(true)
            .map_err(|source| NetError::Io {
                peer: endpoint_name(me),
                source,
            })?;
        // Each request's events (hellos of several peers) fit without blocking a handshake.
        let (tx, events) = mpsc::sync_channel(4 * MAX_HANDSHAKES);
        let busy = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(AcceptShared {
            me,
            hash,
            pins: match &config.security {
                Security::Tls(setup) => Some(setup.pins.clone()),
                Security::InsecurePlaintext => None,
            },
            server_config,
            handshake_timeout: config.handshake_timeout,
            busy: busy.clone(),
            active: AtomicUsize::new(0),
            events: tx,
        });
        let stop_flag = stop.clone();
        let acceptor = std::thread::spawn(move || accept_loop(listener, shared, stop_flag));
        Ok(PartyEndpoint {
            me,
            config: config.clone(),
            hash,
            events,
            busy,
            stop,
            pending: Vec::new(),
            acceptor: Some(acceptor),
        })
    }

    /// Waits for the next client request, until `deadline` or until `stop` is set (then
    /// `None`). Refused connections go to `log`; party connections for requests not yet
    /// admitted are kept for a while (their client may be on its way). The party is busy from
    /// here until [`PartyEndpoint::idle`].
    pub fn next_request(
        &mut self,
        deadline: Option<Instant>,
        stop: &AtomicBool,
        log: &mut dyn FnMut(&str),
    ) -> Option<Arrival> {
        loop {
            self.expire();
            if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            match self.events.recv_timeout(Duration::from_millis(50)) {
                Ok(Event::Arrived(a)) if a.peer == CLIENT => {
                    self.busy.store(true, Ordering::SeqCst);
                    return Some(*a);
                }
                Ok(Event::Arrived(a)) => self.pending.push(*a),
                Ok(Event::Refused(message)) => log(&message),
                Err(_) => {}
            }
        }
    }

    /// Marks the party free for the next request.
    pub fn idle(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }

    fn expire(&mut self) {
        let keep = self.config.connect_timeout;
        self.pending.retain(|a| a.at.elapsed() < keep);
    }

    /// Admits the client's request and connects to the other parties for it: dials the lower
    /// parties with the request id, and takes the higher parties' connections for the same id,
    /// all within the connect deadline. Fails early when the client hangs up meanwhile.
    pub fn establish(
        &mut self,
        mut client: Arrival,
        log: &mut dyn FnMut(&str),
    ) -> Result<TcpTransport, NetError> {
        let me = self.me;
        let request = client.request;
        let deadline = Instant::now() + self.config.connect_timeout;
        client
            .conn
            .write_all(&[ADMITTED])
            .map_err(|_| NetError::Disconnected {
                peer: endpoint_name(CLIENT),
            })?;
        let _ = client.conn.set_timeouts(None);
        let client_conn = client.conn;
        let gone = || {
            client_conn.closed().then(|| NetError::Handshake {
                peer: endpoint_name(CLIENT),
                reason: "it hung up before the parties had connected (another party may have \
                         been busy)"
                    .into(),
            })
        };
        let mut conns: Vec<Option<Conn>> = (0..4).map(|_| None).collect();
        for (lower, slot) in conns.iter_mut().enumerate().take(me) {
            *slot = Some(dial(
                me,
                lower,
                &self.config,
                self.hash,
                &request,
                deadline,
                &gone,
            )?);
        }
        let mut expected: Vec<usize> = (me + 1..3).collect();
        // Connections for this request that arrived before its client did.
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].request == request && expected.contains(&self.pending[i].peer) {
                let a = self.pending.swap_remove(i);
                expected.retain(|&p| p != a.peer);
                conns[a.peer] = Some(a.conn);
            } else {
                i += 1;
            }
        }
        while !expected.is_empty() {
            if let Some(e) = gone() {
                return Err(e);
            }
            if Instant::now() >= deadline {
                let missing: Vec<String> = expected.iter().map(|&p| endpoint_name(p)).collect();
                return Err(NetError::Timeout {
                    peer: missing.join(" and "),
                    timeout: self.config.connect_timeout,
                });
            }
            match self.events.recv_timeout(Duration::from_millis(20)) {
                Ok(Event::Arrived(mut a)) if a.peer == CLIENT => {
                    // Another client while this request is being set up.
                    let _ = a.conn.write_all(&[BUSY]);
                    log(&format!(
                        "told the client at {} that request {} is being served (busy)",
                        a.conn.addr,
                        request_name(&request)
                    ));
                }
                Ok(Event::Arrived(a)) if a.request == request && expected.contains(&a.peer) => {
                    expected.retain(|&p| p != a.peer);
                    conns[a.peer] = Some(a.conn);
                }
                Ok(Event::Arrived(a)) => self.pending.push(*a),
                Ok(Event::Refused(message)) => log(&message),
                Err(_) => {}
            }
        }
        conns[CLIENT] = Some(client_conn);
        Ok(TcpTransport::from_conns(me, conns, &self.config))
    }
}

impl Drop for PartyEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

struct AcceptShared {
    me: usize,
    hash: ProgramHash,
    pins: Option<tls::Pins>,
    server_config: Option<Arc<rustls::ServerConfig>>,
    handshake_timeout: Duration,
    busy: Arc<AtomicBool>,
    active: AtomicUsize,
    events: SyncSender<Event>,
}

fn accept_loop(listener: TcpListener, shared: Arc<AcceptShared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let (stream, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => {
                let _ = shared
                    .events
                    .try_send(Event::Refused(format!("accepting failed: {e}")));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if shared.active.load(Ordering::SeqCst) >= MAX_HANDSHAKES {
            let _ = shared.events.try_send(Event::Refused(format!(
                "dropped a connection from {addr}: {MAX_HANDSHAKES} handshakes already in progress"
            )));
            continue;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        std::thread::spawn(move || {
            let closer = stream.try_clone().ok();
            let event = match admit(stream, addr, &shared) {
                Ok(Some(arrival)) => Event::Arrived(Box::new(arrival)),
                Ok(None) => Event::Refused(format!(
                    "told the client at {addr} that another request is being served (busy)"
                )),
                Err(reason) => {
                    if let Some(stream) = closer {
                        linger_close(&stream);
                    }
                    Event::Refused(format!("refused a connection from {addr}: {reason}"))
                }
            };
            shared.active.fetch_sub(1, Ordering::SeqCst);
            // A full queue means nobody is reading: dropping the connection is all we can do.
            let _ = shared.events.try_send(event);
        });
    }
}

/// Closes a refused connection gracefully: our alert or hello goes out before the close, and
/// unread input is drained, so the kernel does not answer with a reset that would destroy the
/// alert before the dialler reads it (it then names the refusal instead of a reset).
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut reader = stream;
    let mut total = 0;
    while total < 1 << 16 {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// One incoming connection: TLS handshake and hello within the deadline. `Ok(None)` for a
/// client told that the party is busy.
fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    shared: &AcceptShared,
) -> Result<Option<Arrival>, String> {
    let tls = match &shared.server_config {
        Some(config) => Some(rustls::Connection::Server(
            rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?,
        )),
        None => None,
    };
    let mut conn = Conn { stream, tls, addr };
    conn.stream
        .set_nonblocking(false)
        .map_err(|e| e.to_string())?;
    conn.stream.set_nodelay(true).map_err(|e| e.to_string())?;
    conn.set_timeouts(Some(shared.handshake_timeout))
        .map_err(|e| e.to_string())?;
    conn.handshake().map_err(|e| describe(&e))?;
    let mut buf = [0u8; HELLO_LEN];
    conn.read_exact(&mut buf).map_err(|e| describe(&e))?;
    let (claimed, their_hash, request) =
        parse_hello(&buf).ok_or("it does not speak the secc protocol (bad handshake magic)")?;
    let peer = match (&shared.pins, &conn.tls) {
        (Some(pins), Some(tls)) => {
            let pinned = tls::peer_of(tls, pins).ok_or("no pinned certificate")?;
            if pinned != claimed {
                return Err(format!(
                    "it presented the certificate of {} but claims to be {}",
                    endpoint_name(pinned),
                    endpoint_name(claimed)
                ));
            }
            pinned
        }
        _ => claimed,
    };
    if peer <= shared.me {
        return Err(format!(
            "{} does not dial {} (a wrong id in its configuration?)",
            endpoint_name(peer),
            endpoint_name(shared.me)
        ));
    }
    // Answer before judging, so that the dialler can report a mismatch too.
    conn.write_all(&hello(shared.me, shared.hash, &request))
        .map_err(|e| describe(&e))?;
    check_hash(peer, their_hash, shared.hash).map_err(|e| e.to_string())?;
    if peer == CLIENT && shared.busy.load(Ordering::SeqCst) {
        let _ = conn.write_all(&[BUSY]);
        return Ok(None);
    }
    Ok(Some(Arrival {
        peer,
        request,
        conn,
        at: Instant::now(),
    }))
}

impl TcpTransport {
    /// One request of party `id`: accepts on `listener` until a client arrives, then connects to
    /// the other parties for its request (within `config.connect_timeout` from the start).
    /// Refused connections meanwhile are named in the error if the peers never come.
    pub fn connect_party(
        id: usize,
        listener: TcpListener,
        config: &TcpConfig,
        program_hash: ProgramHash,
    ) -> Result<Self, NetError> {
        let mut endpoint = PartyEndpoint::start(id, listener, config, program_hash)?;
        let mut refused = Vec::new();
        let deadline = Instant::now() + config.connect_timeout;
        let never = AtomicBool::new(false);
        let with_refusals = |e: NetError, refused: &[String]| {
            if refused.is_empty() {
                e
            } else {
                NetError::Handshake {
                    peer: endpoint_name(id),
                    reason: format!("{e}; meanwhile it {}", refused.join("; ")),
                }
            }
        };
        let client = endpoint
            .next_request(Some(deadline), &never, &mut |m| refused.push(m.to_string()))
            .ok_or_else(|| {
                with_refusals(
                    NetError::Timeout {
                        peer: endpoint_name(CLIENT),
                        timeout: config.connect_timeout,
                    },
                    &refused,
                )
            })?;
        let result = endpoint.establish(client, &mut |m| refused.push(m.to_string()));
        result.map_err(|e| with_refusals(e, &refused))
    }

    /// Establishes the client's links to the three parties within `config.connect_timeout`,
    /// for a fresh request id. A busy party is asked again (after a short pause, with a new
    /// request id) until the deadline.
    pub fn connect_client(config: &TcpConfig, program_hash: ProgramHash) -> Result<Self, NetError> {
        let deadline = Instant::now() + config.connect_timeout;
        let mut attempt = 0u64;
        loop {
            let mut request = [0u8; 16];
            getrandom::fill(&mut request).map_err(|e| NetError::Io {
                peer: endpoint_name(CLIENT),
                source: io::Error::other(e.to_string()),
            })?;
            let mut conns: Vec<Option<Conn>> = (0..4).map(|_| None).collect();
            let mut result = Ok(());
            for (party, slot) in conns.iter_mut().enumerate().take(3) {
                match dial(
                    CLIENT,
                    party,
                    config,
                    program_hash,
                    &request,
                    deadline,
                    &|| None,
                ) {
                    Ok(conn) => *slot = Some(conn),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            match result {
                Ok(()) => return Ok(Self::from_conns(CLIENT, conns, config)),
                Err(NetError::Busy { peer }) => {
                    // Hang up at once, so the parties that admitted this request drop it.
                    for conn in conns.iter().flatten() {
                        let _ = conn.stream.shutdown(Shutdown::Both);
                    }
                    attempt += 1;
                    // Spread retries of competing clients (request ids are random).
                    let pause = Duration::from_millis(
                        50 + u64::from(request[0]) % 150 + 50 * attempt.min(4),
                    );
                    if Instant::now() + pause >= deadline {
                        return Err(NetError::Busy { peer });
                    }
                    std::thread::sleep(pause);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn from_conns(id: usize, conns: Vec<Option<Conn>>, config: &TcpConfig) -> Self {
        let links = conns
            .into_iter()
            .enumerate()
            .map(|(peer, conn)| conn.map(|c| Link::start(peer, c, config.max_frame[peer])))
            .collect();
        TcpTransport {
            id,
            links,
            recv_timeout: config.recv_timeout,
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
        // A failed queue means the writer stopped on a broken connection. A full queue makes
        // the sender wait: the bound on memory per link.
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

struct Link {
    peer: usize,
    stream: TcpStream,
    outgoing: Option<SyncSender<Vec<u8>>>,
    incoming: Receiver<Result<Vec<u8>, NetError>>,
    writer: Option<JoinHandle<()>>,
}

impl Link {
    fn start(peer: usize, conn: Conn, max_frame: u64) -> Link {
        let (out_tx, out_rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE_FRAMES);
        let (in_tx, in_rx) = mpsc::sync_channel(QUEUE_FRAMES);
        let Conn { stream, tls, .. } = conn;
        // No socket deadline once a link carries a request: a connection a party accepted
        // still had the handshake's (5 s by default), which ended any request whose peer
        // computed or waited longer than that between two messages (seen on BERT-base over
        // emulated links). Each wait for a message is bounded by `recv_timeout` on the queue
        // instead, and closing by `finish`'s deadline.
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(None);
        let tls = tls.map(|t| Arc::new(Mutex::new(t)));
        // `try_clone` duplicates a socket descriptor; it fails only when the process is out of
        // descriptors, and then the link reports itself broken on first use instead.
        let writer = stream.try_clone().ok().map(|w| {
            let tls = tls.clone();
            std::thread::spawn(move || write_loop(w, tls, out_rx))
        });
        match stream.try_clone() {
            Ok(r) => {
                std::thread::spawn(move || {
                    let mut frames = Frames::new(peer, max_frame);
                    if let Err(e) = read_loop(r, tls, &mut frames, &in_tx) {
                        let _ = in_tx.send(Err(e));
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

fn write_loop(
    mut w: TcpStream,
    tls: Option<Arc<Mutex<rustls::Connection>>>,
    queue: Receiver<Vec<u8>>,
) {
    // Encrypts under the lock, writes outside it: a writer blocked on a full socket must never
    // keep this link's reader from decrypting (the ring of parties would deadlock).
    let seal =
        |tls: &Mutex<rustls::Connection>, plain: &[u8], close: bool| -> io::Result<Vec<u8>> {
            let mut conn = tls.lock().map_err(|_| io::Error::other("poisoned"))?;
            conn.writer().write_all(plain)?;
            if close {
                conn.send_close_notify();
            }
            let mut out = Vec::with_capacity(plain.len() + 64);
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            Ok(out)
        };
    let send = |w: &mut TcpStream, msg: &[u8]| -> io::Result<()> {
        let header = (msg.len() as u64).to_le_bytes();
        match &tls {
            None => {
                w.write_all(&header)?;
                w.write_all(msg)
            }
            Some(tls) => {
                w.write_all(&seal(tls, &header, false)?)?;
                for chunk in msg.chunks(WRITE_CHUNK) {
                    w.write_all(&seal(tls, chunk, false)?)?;
                }
                Ok(())
            }
        }
    };
    for msg in queue {
        if send(&mut w, &msg).is_err() {
            // The peer is gone; the reader reports it, senders see a closed queue.
            return;
        }
    }
    if let Some(tls) = &tls {
        if let Ok(bytes) = seal(tls, &[], true) {
            let _ = w.write_all(&bytes);
        }
    }
    let _ = w.flush();
}

fn read_loop(
    mut r: TcpStream,
    tls: Option<Arc<Mutex<rustls::Connection>>>,
    frames: &mut Frames,
    out: &SyncSender<Result<Vec<u8>, NetError>>,
) -> Result<(), NetError> {
    let peer = frames.peer;
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
    let mut deliver = |frame: Vec<u8>| out.send(Ok(frame)).is_ok();
    let mut buf = vec![0u8; 1 << 16];
    let mut plain = Vec::new();
    let mut closed = false;
    // Plaintext that arrived with the hello is already decrypted inside the connection.
    if let Some(tls) = &tls {
        closed = drain_plaintext(tls, &mut plain).map_err(broken)?;
        frames.feed(&plain, &mut deliver)?;
    }
    loop {
        if closed {
            return Err(NetError::Disconnected {
                peer: endpoint_name(peer),
            });
        }
        let n = match r.read(&mut buf) {
            Ok(0) => {
                return Err(NetError::Disconnected {
                    peer: endpoint_name(peer),
                })
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(broken(e)),
        };
        match &tls {
            None => {
                if !frames.feed(&buf[..n], &mut deliver)? {
                    return Ok(());
                }
            }
            Some(tls) => {
                plain.clear();
                {
                    let mut conn = tls.lock().map_err(|_| NetError::Disconnected {
                        peer: endpoint_name(peer),
                    })?;
                    let mut slice = &buf[..n];
                    while !slice.is_empty() {
                        conn.read_tls(&mut slice).map_err(broken)?;
                        conn.process_new_packets()
                            .map_err(|e| NetError::Handshake {
                                peer: endpoint_name(peer),
                                reason: format!("TLS error: {e}"),
                            })?;
                        closed |= read_plain(&mut conn, &mut plain).map_err(broken)?;
                    }
                }
                // Outside the lock: delivering may wait for the engine (bounded queue).
                if !frames.feed(&plain, &mut deliver)? {
                    return Ok(());
                }
            }
        }
    }
}

/// Appends the decrypted bytes available; true once the peer has sent close_notify.
fn read_plain(conn: &mut rustls::Connection, plain: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 1 << 14];
    loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => plain.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

fn drain_plaintext(tls: &Mutex<rustls::Connection>, plain: &mut Vec<u8>) -> io::Result<bool> {
    let mut conn = tls.lock().map_err(|_| io::Error::other("poisoned"))?;
    read_plain(&mut conn, plain)
}

/// Splits a byte stream into frames, refusing a length above the link's limit before
/// allocating for it.
struct Frames {
    peer: usize,
    max: u64,
    header: Vec<u8>,
    /// The frame being read and its announced length.
    body: Option<(Vec<u8>, usize)>,
}

impl Frames {
    fn new(peer: usize, max: u64) -> Self {
        Frames {
            peer,
            max,
            header: Vec::with_capacity(8),
            body: None,
        }
    }

    /// Consumes `data`, handing every completed frame to `deliver`; false when `deliver` says
    /// nobody listens any more.
    fn feed(
        &mut self,
        mut data: &[u8],
        deliver: &mut dyn FnMut(Vec<u8>) -> bool,
    ) -> Result<bool, NetError> {
        while !data.is_empty() || matches!(self.body, Some((_, 0))) {
            match &mut self.body {
                None => {
                    let take = (8 - self.header.len()).min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() < 8 {
                        continue;
                    }
                    let mut len = [0u8; 8];
                    len.copy_from_slice(&self.header);
                    self.header.clear();
                    let len = u64::from_le_bytes(len);
                    if len > self.max {
                        return Err(NetError::FrameTooLarge {
                            peer: endpoint_name(self.peer),
                            got: len,
                            max: self.max,
                        });
                    }
                    // Within the program's limit, so the allocation is bounded by it.
                    self.body = Some((Vec::with_capacity(len as usize), len as usize));
                }
                Some((body, len)) => {
                    let take = (*len - body.len()).min(data.len());
                    body.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if body.len() == *len {
                        let (frame, _) = self.body.take().unwrap_or_default();
                        if !deliver(frame) {
                            return Ok(false);
                        }
                    }
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
