//! A bulk-transfer probe: a sender writes N bytes and half-closes; the sink counts them and
//! times first byte to end of stream (so the path's latency is not counted against its rate),
//! then answers one line with both figures. It checks that a path, and the relay on it, carry
//! the configured rate. [`echo_one`] and [`ping`] time small round trips (the path's RTT).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

const BLOCK: usize = 256 * 1024;

/// What the sink measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BulkResult {
    pub bytes: u64,
    pub seconds: f64,
}

impl BulkResult {
    pub fn megabits_per_second(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.seconds.max(1e-9) / 1e6
    }
}

/// Accepts one connection, reads it to the end, answers "<bytes> <seconds>\n".
pub fn sink_one(listener: &TcpListener) -> io::Result<BulkResult> {
    let (mut conn, _) = listener.accept()?;
    let mut buf = vec![0u8; BLOCK];
    let mut bytes = 0u64;
    let mut first: Option<Instant> = None;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        bytes += n as u64;
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    conn.write_all(format!("{bytes} {seconds}\n").as_bytes())?;
    conn.shutdown(Shutdown::Write)?;
    Ok(BulkResult { bytes, seconds })
}

/// Sends `bytes` bytes to `addr`, half-closes, and returns the sink's answer.
pub fn send(addr: &str, bytes: u64) -> io::Result<BulkResult> {
    let mut conn = TcpStream::connect(addr)?;
    let block: Vec<u8> = (0..BLOCK).map(|i| (i * 31 % 251) as u8).collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        conn.write_all(&block[..n])?;
        left -= n as u64;
    }
    conn.shutdown(Shutdown::Write)?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let parse_err = || io::Error::new(io::ErrorKind::InvalidData, format!("sink said {line:?}"));
    let got: u64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(parse_err)?;
    let seconds: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(parse_err)?;
    Ok(BulkResult {
        bytes: got,
        seconds,
    })
}

const PING_BYTES: usize = 64;

/// Accepts one connection and sends back every 64-byte message until EOF.
pub fn echo_one(listener: &TcpListener) -> io::Result<()> {
    let (mut conn, _) = listener.accept()?;
    conn.set_nodelay(true)?;
    let mut msg = [0u8; PING_BYTES];
    loop {
        match conn.read_exact(&mut msg) {
            Ok(()) => conn.write_all(&msg)?,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// `count` round trips of a 64-byte message through `addr` (an echo); seconds each.
pub fn ping(addr: &str, count: usize) -> io::Result<Vec<f64>> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    let mut msg = [0u8; PING_BYTES];
    let mut rtts = Vec::with_capacity(count);
    for i in 0..count {
        msg[0] = i as u8;
        let t = Instant::now();
        conn.write_all(&msg)?;
        conn.read_exact(&mut msg)?;
        rtts.push(t.elapsed().as_secs_f64());
    }
    conn.shutdown(Shutdown::Write)?;
    Ok(rtts)
}
