//! The delaying relay forwards every byte unchanged in both directions, forwards the end of
//! each direction, holds data for at least the configured delay, and drops a connection whose
//! target cannot be dialled without hanging. Timing is only checked as a lower bound (the
//! relay's sleep cannot end early, whatever the machine's load).

use secc_netrelay::relay::{self, RelayStats};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(30);

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn start_relay(target: String) -> (String, Arc<RelayStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stats = Arc::new(RelayStats::default());
    let s = stats.clone();
    thread::spawn(move || relay::serve(listener, target, DELAY, s));
    (addr, stats)
}

#[test]
fn bytes_in_equal_bytes_out_both_ways_and_each_direction_is_delayed() {
    let request = pattern(3 << 20, 7);
    let reply = pattern(100_000, 11);

    // The far end: reads everything until EOF, notes when the first byte came, then answers.
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_addr = sink.local_addr().unwrap().to_string();
    let reply_copy = reply.clone();
    let far_end = thread::spawn(move || {
        let (mut conn, _) = sink.accept().unwrap();
        let mut first = [0u8; 1];
        conn.read_exact(&mut first).unwrap();
        let first_at = Instant::now();
        let mut got = first.to_vec();
        conn.read_to_end(&mut got).unwrap();
        let replied_at = Instant::now();
        conn.write_all(&reply_copy).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        (got, first_at, replied_at)
    });

    let (relay_addr, stats) = start_relay(sink_addr);
    let mut conn = TcpStream::connect(&relay_addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let sent_at = Instant::now();
    conn.write_all(&request).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut first = [0u8; 1];
    conn.read_exact(&mut first).unwrap();
    let reply_first_at = Instant::now();
    let mut answer = first.to_vec();
    conn.read_to_end(&mut answer).unwrap();

    let (got, first_at, replied_at) = far_end.join().unwrap();
    assert_eq!(got.len(), request.len());
    assert!(got == request, "the relay changed the request's bytes");
    assert!(answer == reply, "the relay changed the reply's bytes");
    assert!(
        first_at.duration_since(sent_at) >= DELAY,
        "the request arrived {:?} after it was sent, less than the delay",
        first_at.duration_since(sent_at)
    );
    assert!(
        reply_first_at.duration_since(replied_at) >= DELAY,
        "the reply arrived {:?} after it was sent, less than the delay",
        reply_first_at.duration_since(replied_at)
    );
    assert_eq!(stats.connections.load(Ordering::Relaxed), 1);
    assert_eq!(
        stats.bytes.load(Ordering::Relaxed),
        (request.len() + reply.len()) as u64
    );
}

#[test]
fn an_undiallable_target_closes_the_connection() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (relay_addr, stats) = start_relay(target);
    let mut conn = TcpStream::connect(&relay_addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 16];
    // EOF or a reset, but an answer, not the read timeout.
    match conn.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    assert_eq!(stats.connections.load(Ordering::Relaxed), 0);
}
