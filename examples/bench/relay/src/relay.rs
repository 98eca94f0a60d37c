//! A delaying TCP relay: accepts connections on a listening socket, dials a fixed target for
//! each, and forwards the bytes of both directions, holding every chunk it reads for a fixed
//! one-way delay before writing it on. It stands in for a link's propagation delay where the
//! kernel has no `netem` qdisc (docs/benchmarks.md, "Real links").
//!
//! Invariants:
//! - Bytes are forwarded unchanged and in order; a half-close (EOF) is forwarded after the same
//!   delay as the data before it, and a failure on either side closes both.
//! - A chunk read at time t is written no earlier than t + delay (the sleep's lower bound); the
//!   writer never waits for a chunk read later, so chunks in flight overlap and the delay does
//!   not cap throughput. Buffering is bounded ([`MAX_CHUNKS_IN_FLIGHT`] chunks per direction),
//!   so a slow receiver pushes back on the sender as a real link's queue would.
//! - The relay terminates TCP on both sides, so each side's TCP sees a near-zero RTT: the delay
//!   is paid once per message, as propagation, and not by TCP's window growth (a difference
//!   from a real long link that docs/benchmarks.md states).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest read, and so the largest chunk held at once.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks one direction may hold before its reader stops reading (back-pressure).
pub const MAX_CHUNKS_IN_FLIGHT: usize = 1024;

/// What a relay counted, over all its connections so far.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connections: AtomicU64,
    pub bytes: AtomicU64,
    pub chunks: AtomicU64,
    /// Chunks whose deadline had not passed when the writer took them (it slept).
    pub slept_chunks: AtomicU64,
    /// Sum over the slept chunks of how late the writer woke, nanoseconds.
    pub oversleep_ns: AtomicU64,
    /// Largest such lateness, nanoseconds.
    pub max_oversleep_ns: AtomicU64,
}

impl RelayStats {
    /// One line for the log: connections, bytes, and the timer's mean and worst lateness.
    pub fn summary(&self) -> String {
        let slept = self.slept_chunks.load(Ordering::Relaxed);
        let over = self.oversleep_ns.load(Ordering::Relaxed);
        let mean_us = if slept == 0 {
            0.0
        } else {
            over as f64 / slept as f64 / 1e3
        };
        format!(
            "{} connections, {} bytes in {} chunks; {} chunks waited for their deadline, woken \
             {:.1} us late on average (max {:.1} us)",
            self.connections.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed),
            slept,
            mean_us,
            self.max_oversleep_ns.load(Ordering::Relaxed) as f64 / 1e3
        )
    }
}

/// Asks the kernel for the finest timer slack for this thread and the threads it starts
/// (default 50 us, which would add that much to every 0.5 ms sleep). Best effort: without
/// the permission the default stays and the measured lateness says so.
pub fn tighten_timer_slack() {
    let _ = std::fs::write("/proc/thread-self/timerslack_ns", "1");
}

/// Serves `listener` until the process ends: every accepted connection is relayed to `target`
/// with `delay` each way. Connection failures are printed (naming both ends) and end only that
/// connection.
pub fn serve(listener: TcpListener, target: String, delay: Duration, stats: Arc<RelayStats>) {
    for incoming in listener.incoming() {
        let client = match incoming {
            Ok(c) => c,
            Err(e) => {
                eprintln!("relay for {target}: accept failed: {e}");
                continue;
            }
        };
        let target = target.clone();
        let stats = stats.clone();
        thread::spawn(
            move || match relay_connection(client, &target, delay, &stats) {
                Ok(()) => eprintln!("relay to {target}: {}", stats.summary()),
                Err(e) => eprintln!("relay to {target}: {e}"),
            },
        );
    }
}

/// Relays one accepted connection to `target` until both directions have ended.
pub fn relay_connection(
    client: TcpStream,
    target: &str,
    delay: Duration,
    stats: &Arc<RelayStats>,
) -> io::Result<()> {
    let upstream = TcpStream::connect(target)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot dial {target}: {e}")))?;
    stats.connections.fetch_add(1, Ordering::Relaxed);
    for s in [&client, &upstream] {
        s.set_nodelay(true)?;
    }
    let forward = pump(client.try_clone()?, upstream.try_clone()?, delay, stats);
    let backward = pump(upstream, client, delay, stats);
    for direction in [forward, backward] {
        let _ = direction.join();
    }
    Ok(())
}

/// One direction: a reader thread stamps each chunk with its release time, a writer thread
/// releases it then. Returns a handle that ends when both threads have.
fn pump(
    from: TcpStream,
    to: TcpStream,
    delay: Duration,
    stats: &Arc<RelayStats>,
) -> thread::JoinHandle<()> {
    let (tx, rx) = sync_channel::<(Instant, Vec<u8>)>(MAX_CHUNKS_IN_FLIGHT);
    let reader_from = from.try_clone();
    let stats = stats.clone();
    thread::spawn(move || {
        let reader = match reader_from {
            Ok(r) => thread::spawn(move || read_chunks(r, delay, tx)),
            Err(_) => return,
        };
        write_chunks(rx, &to, &stats);
        // The writer stopped (EOF forwarded or a write failed): stop reading too, so a failed
        // side does not leave the other blocked.
        let _ = from.shutdown(Shutdown::Read);
        let _ = reader.join();
    })
}

/// Reads until EOF or error; an empty chunk marks the end.
fn read_chunks(mut from: TcpStream, delay: Duration, tx: SyncSender<(Instant, Vec<u8>)>) {
    loop {
        let mut buf = vec![0u8; CHUNK_BYTES];
        let n = match from.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => 0,
        };
        buf.truncate(n);
        if tx.send((Instant::now() + delay, buf)).is_err() || n == 0 {
            return;
        }
    }
}

/// Writes each chunk at its release time; forwards the end as a write half-close.
fn write_chunks(rx: Receiver<(Instant, Vec<u8>)>, mut to: &TcpStream, stats: &RelayStats) {
    while let Ok((release, chunk)) = rx.recv() {
        let now = Instant::now();
        if release > now {
            thread::sleep(release - now);
            let late = Instant::now().saturating_duration_since(release).as_nanos() as u64;
            stats.slept_chunks.fetch_add(1, Ordering::Relaxed);
            stats.oversleep_ns.fetch_add(late, Ordering::Relaxed);
            stats.max_oversleep_ns.fetch_max(late, Ordering::Relaxed);
        }
        if chunk.is_empty() {
            let _ = to.shutdown(Shutdown::Write);
            return;
        }
        if to.write_all(&chunk).is_err() {
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        stats.chunks.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}
