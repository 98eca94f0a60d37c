use super::*;
use std::thread;

fn hash(byte: u8) -> ProgramHash {
    ProgramHash([byte; 32])
}

/// Three listeners on free loopback ports and a configuration naming them.
fn listeners(connect_timeout: Duration) -> (Vec<TcpListener>, TcpConfig) {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs = [0, 1, 2].map(|i| listeners[i].local_addr().unwrap().to_string());
    let mut config = TcpConfig::new(addrs);
    config.connect_timeout = connect_timeout;
    config.recv_timeout = Duration::from_secs(5);
    (listeners, config)
}

/// A loopback address on which nothing listens.
fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Starts each party (with its hash) in a thread; returns their join handles.
fn spawn_parties(
    listeners: Vec<TcpListener>,
    config: &TcpConfig,
    hashes: [ProgramHash; 3],
) -> Vec<thread::JoinHandle<Result<TcpTransport, NetError>>> {
    listeners
        .into_iter()
        .enumerate()
        .map(|(id, listener)| {
            let config = config.clone();
            thread::spawn(move || TcpTransport::connect_party(id, listener, &config, hashes[id]))
        })
        .collect()
}

#[test]
fn three_parties_and_a_client_exchange_messages() {
    let (listeners, config) = listeners(Duration::from_secs(10));
    let parties = spawn_parties(listeners, &config, [hash(7); 3]);
    let client = TcpTransport::connect_client(&config, hash(7)).unwrap();
    let mut transports: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    transports.push(client);
    // Everyone sends to everyone, then receives: sends never wait for the receiver.
    let handles: Vec<_> = transports
        .into_iter()
        .map(|mut t| {
            thread::spawn(move || {
                let me = t.id();
                for to in (0..4).filter(|&p| p != me) {
                    t.send(to, format!("{me}->{to}").into_bytes()).unwrap();
                    t.send(to, vec![]).unwrap();
                }
                for from in (0..4).filter(|&p| p != me) {
                    assert_eq!(t.recv(from).unwrap(), format!("{from}->{me}").into_bytes());
                    assert_eq!(t.recv(from).unwrap(), Vec::<u8>::new());
                }
                t.finish(Duration::from_secs(5)).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn large_simultaneous_messages_in_a_ring_do_not_deadlock() {
    let (listeners, config) = listeners(Duration::from_secs(10));
    let parties = spawn_parties(listeners, &config, [hash(1); 3]);
    let client = TcpTransport::connect_client(&config, hash(1)).unwrap();
    let handles: Vec<_> = parties
        .into_iter()
        .map(|h| {
            let mut t = h.join().unwrap().unwrap();
            thread::spawn(move || {
                let me = t.id();
                // 32 MB to the previous party, far beyond socket buffers, before any receive.
                let msg: Vec<u8> = (0..32 << 20).map(|i| (i % 251) as u8 ^ me as u8).collect();
                t.send((me + 2) % 3, msg).unwrap();
                let got = t.recv((me + 1) % 3).unwrap();
                let from = (me + 1) % 3;
                assert_eq!(got.len(), 32 << 20);
                assert!(got
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == (i % 251) as u8 ^ from as u8));
                t.finish(Duration::from_secs(10)).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(client);
}

#[test]
fn a_hash_mismatch_is_reported_by_both_sides_naming_the_other() {
    let (listeners, mut config) = listeners(Duration::from_secs(3));
    config.recv_timeout = Duration::from_secs(2);
    let parties = spawn_parties(listeners, &config, [hash(0xab), hash(0xcd), hash(0xab)]);
    let _client = TcpTransport::connect_client(&config, hash(0xab));
    let results: Vec<_> = parties.into_iter().map(|h| h.join().unwrap()).collect();
    let p0 = results[0].as_ref().err().expect("P0 must fail").to_string();
    let p1 = results[1].as_ref().err().expect("P1 must fail").to_string();
    assert!(
        p0.contains("party P1 holds a different program: hash cdcdcdcdcdcd... there vs abababababab... here"),
        "{p0}"
    );
    assert!(
        p1.contains("party P0 holds a different program: hash abababababab... there vs cdcdcdcdcdcd... here"),
        "{p1}"
    );
}

#[test]
fn a_party_that_never_connects_is_named_within_the_deadline() {
    let (mut listeners, mut config) = listeners(Duration::from_millis(800));
    drop(listeners.pop());
    config.party_addrs[2] = dead_addr();
    let start = Instant::now();
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(id, listener)| {
            let config = config.clone();
            thread::spawn(move || TcpTransport::connect_party(id, listener, &config, hash(3)))
        })
        .collect();
    let client = TcpTransport::connect_client(&config, hash(3))
        .err()
        .unwrap()
        .to_string();
    assert!(
        client.contains(&format!(
            "could not connect to party P2 at {}",
            config.party_addrs[2]
        )),
        "{client}"
    );
    for h in handles {
        let e = h.join().unwrap().err().unwrap().to_string();
        assert!(e.contains("party P2"), "{e}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_peer_that_dies_mid_run_is_reported_as_disconnected() {
    let (listeners, config) = listeners(Duration::from_secs(10));
    let parties = spawn_parties(listeners, &config, [hash(9); 3]);
    let client = TcpTransport::connect_client(&config, hash(9)).unwrap();
    let mut t: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    t[2].send(0, b"last words".to_vec()).unwrap();
    let p2 = t.pop().unwrap();
    drop(p2);
    // Messages sent before the death still arrive, then the death is named.
    assert_eq!(t[0].recv(2).unwrap(), b"last words");
    let start = Instant::now();
    let e = t[0].recv(2).unwrap_err();
    assert!(matches!(e, NetError::Disconnected { .. }), "{e}");
    assert_eq!(e.to_string(), "party P2 disconnected");
    assert!(start.elapsed() < Duration::from_secs(2));
    let e = t[1].recv(2).unwrap_err();
    assert_eq!(e.to_string(), "party P2 disconnected");
    // Sending to the dead party fails soon (the writer notices the broken connection).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut send_failed = false;
    while Instant::now() < deadline {
        if t[0].send(2, vec![0; 1 << 16]).is_err() {
            send_failed = true;
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert!(send_failed, "sending to a dead party kept succeeding");
    drop(client);
}

#[test]
fn a_silent_peer_times_out_naming_it() {
    let (listeners, mut config) = listeners(Duration::from_secs(10));
    config.recv_timeout = Duration::from_millis(300);
    let parties = spawn_parties(listeners, &config, [hash(4); 3]);
    let _client = TcpTransport::connect_client(&config, hash(4)).unwrap();
    let mut t: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let start = Instant::now();
    let e = t[1].recv(CLIENT).unwrap_err();
    assert_eq!(e.to_string(), "the client did not answer within 300ms");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_foreign_program_listening_at_a_party_address_is_refused() {
    let (mut listeners, mut config) = listeners(Duration::from_secs(2));
    // Something else listens at P0's address and answers with text.
    let imposter = listeners.remove(0);
    thread::spawn(move || {
        if let Ok((mut s, _)) = imposter.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n..................");
            thread::sleep(Duration::from_secs(1));
        }
    });
    config.party_addrs[1] = dead_addr();
    let e = TcpTransport::connect_client(&config, hash(5))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("party P0") && e.contains("bad handshake magic"),
        "{e}"
    );
}
