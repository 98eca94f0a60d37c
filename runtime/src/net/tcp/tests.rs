use super::*;
use crate::net::tls::{Identity, Pins};
use std::thread;

fn hash(byte: u8) -> ProgramHash {
    ProgramHash([byte; 32])
}

/// Fresh identities of the four roles and their pins.
fn identities() -> (Vec<Identity>, Pins) {
    let ids: Vec<Identity> = (0..4).map(|e| Identity::generate(e).unwrap()).collect();
    let pins = Pins(std::array::from_fn(|e| ids[e].fingerprint()));
    (ids, pins)
}

/// Three listeners on free loopback ports and one configuration per endpoint (its own key,
/// everyone's pins).
fn listeners(connect_timeout: Duration) -> (Vec<TcpListener>, Vec<TcpConfig>) {
    let (ids, pins) = identities();
    listeners_with(connect_timeout, |e| {
        Security::Tls(Arc::new(
            TlsSetup::new(e, ids[e].clone(), pins.clone()).unwrap(),
        ))
    })
}

fn listeners_with(
    connect_timeout: Duration,
    security: impl Fn(usize) -> Security,
) -> (Vec<TcpListener>, Vec<TcpConfig>) {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs = [0, 1, 2].map(|i| listeners[i].local_addr().unwrap().to_string());
    let configs = (0..4)
        .map(|e| {
            let mut config = TcpConfig::new(addrs.clone(), security(e));
            config.connect_timeout = connect_timeout;
            config.recv_timeout = Duration::from_secs(5);
            config
        })
        .collect();
    (listeners, configs)
}

/// A loopback address on which nothing listens.
fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Starts each party (with its hash) in a thread; returns their join handles.
fn spawn_parties(
    listeners: Vec<TcpListener>,
    configs: &[TcpConfig],
    hashes: [ProgramHash; 3],
) -> Vec<thread::JoinHandle<Result<TcpTransport, NetError>>> {
    listeners
        .into_iter()
        .enumerate()
        .map(|(id, listener)| {
            let config = configs[id].clone();
            thread::spawn(move || TcpTransport::connect_party(id, listener, &config, hashes[id]))
        })
        .collect()
}

fn exchange_all(transports: Vec<TcpTransport>) {
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
fn three_parties_and_a_client_exchange_messages() {
    let (listeners, configs) = listeners(Duration::from_secs(10));
    let parties = spawn_parties(listeners, &configs, [hash(7); 3]);
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(7)).unwrap();
    let mut transports: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    transports.push(client);
    exchange_all(transports);
}

#[test]
fn plain_tcp_works_behind_its_flag() {
    let (listeners, configs) =
        listeners_with(Duration::from_secs(10), |_| Security::InsecurePlaintext);
    let parties = spawn_parties(listeners, &configs, [hash(8); 3]);
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(8)).unwrap();
    let mut transports: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    transports.push(client);
    exchange_all(transports);
}

#[test]
fn large_simultaneous_messages_in_a_ring_do_not_deadlock() {
    let (listeners, configs) = listeners(Duration::from_secs(10));
    let parties = spawn_parties(listeners, &configs, [hash(1); 3]);
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(1)).unwrap();
    let handles: Vec<_> = parties
        .into_iter()
        .map(|h| {
            let mut t = h.join().unwrap().unwrap();
            thread::spawn(move || {
                let me = t.id();
                // 32 MB to the previous party, far beyond socket buffers, before any receive;
                // twice, so the bounded queues fill too.
                for _ in 0..2 {
                    let msg: Vec<u8> = (0..32 << 20).map(|i| (i % 251) as u8 ^ me as u8).collect();
                    t.send((me + 2) % 3, msg).unwrap();
                }
                let from = (me + 1) % 3;
                for _ in 0..2 {
                    let got = t.recv(from).unwrap();
                    assert_eq!(got.len(), 32 << 20);
                    assert!(got
                        .iter()
                        .enumerate()
                        .all(|(i, &b)| b == (i % 251) as u8 ^ from as u8));
                }
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
    let (mut listeners, configs) = listeners(Duration::from_secs(2));
    let mut p0 = PartyEndpoint::start(0, listeners.remove(0), &configs[0], hash(0xab)).unwrap();
    // The client, then P1, holding program cd, dial P0, which holds ab.
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(0xcd))
        .err()
        .expect("the client must fail")
        .to_string();
    assert!(
        client.contains("party P0 holds a different program: hash abababababab... there vs cdcdcdcdcdcd... here"),
        "{client}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    let p1 = dial(1, 0, &configs[1], hash(0xcd), &[1; 16], deadline, &|| None)
        .err()
        .expect("P1 must fail")
        .to_string();
    assert!(
        p1.contains("party P0 holds a different program: hash abababababab... there vs cdcdcdcdcdcd... here"),
        "{p1}"
    );
    let mut lines = Vec::new();
    let stop = AtomicBool::new(false);
    let wait = Some(Instant::now() + Duration::from_millis(500));
    assert!(p0
        .next_request(wait, &stop, &mut |l| lines.push(l.to_string()))
        .is_none());
    for who in ["the client", "party P1"] {
        let expected = format!(
            "{who} holds a different program: hash cdcdcdcdcdcd... there vs abababababab... here"
        );
        assert!(lines.iter().any(|l| l.contains(&expected)), "{lines:?}");
    }
}

#[test]
fn a_party_that_never_connects_is_named_within_the_deadline() {
    let (mut listeners, mut configs) = listeners(Duration::from_millis(800));
    drop(listeners.pop());
    let dead = dead_addr();
    for c in &mut configs {
        c.party_addrs[2] = dead.clone();
    }
    let start = Instant::now();
    let handles: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(id, listener)| {
            let config = configs[id].clone();
            thread::spawn(move || TcpTransport::connect_party(id, listener, &config, hash(3)))
        })
        .collect();
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(3))
        .err()
        .unwrap()
        .to_string();
    assert!(
        client.contains(&format!("could not connect to party P2 at {dead}")),
        "{client}"
    );
    for h in handles {
        let e = h.join().unwrap().err().unwrap().to_string();
        assert!(e.contains("party P2") || e.contains("the client"), "{e}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

fn connected(configs: &[TcpConfig], listeners: Vec<TcpListener>, h: u8) -> Vec<TcpTransport> {
    let parties = spawn_parties(listeners, configs, [hash(h); 3]);
    let client = TcpTransport::connect_client(&configs[CLIENT], hash(h)).unwrap();
    let mut t: Vec<TcpTransport> = parties
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    t.push(client);
    t
}

#[test]
fn a_peer_that_dies_mid_run_is_reported_as_disconnected() {
    let (listeners, configs) = listeners(Duration::from_secs(10));
    let mut t = connected(&configs, listeners, 9);
    let client = t.pop().unwrap();
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
fn an_accepted_link_outlives_the_handshake_deadline() {
    let (listeners, mut configs) = listeners(Duration::from_secs(10));
    for c in &mut configs {
        c.handshake_timeout = Duration::from_millis(200);
    }
    let mut t = connected(&configs, listeners, 6);
    // P0 accepted P1's and P2's connections with the 200 ms handshake deadline; a peer that
    // computes for longer than that before its next message must not break the link.
    thread::sleep(Duration::from_millis(700));
    t[1].send(0, b"after a long local step".to_vec()).unwrap();
    t[0].send(2, b"and the other way".to_vec()).unwrap();
    assert_eq!(t[0].recv(1).unwrap(), b"after a long local step");
    assert_eq!(t[2].recv(0).unwrap(), b"and the other way");
}

#[test]
fn a_silent_peer_times_out_naming_it() {
    let (listeners, mut configs) = listeners(Duration::from_secs(10));
    for c in &mut configs {
        c.recv_timeout = Duration::from_millis(300);
    }
    let mut t = connected(&configs, listeners, 4);
    let start = Instant::now();
    let e = t[1].recv(CLIENT).unwrap_err();
    assert_eq!(e.to_string(), "the client did not answer within 300ms");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_foreign_program_listening_at_a_party_address_is_refused() {
    let (mut listeners, mut configs) = listeners(Duration::from_secs(2));
    // Something else listens at P0's address and answers with text.
    let imposter = listeners.remove(0);
    thread::spawn(move || {
        if let Ok((mut s, _)) = imposter.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n..................");
            thread::sleep(Duration::from_secs(1));
        }
    });
    configs[CLIENT].party_addrs[1] = dead_addr();
    let e = TcpTransport::connect_client(&configs[CLIENT], hash(5))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("party P0") && e.contains("does not speak TLS"),
        "{e}"
    );
}

#[test]
fn an_unknown_client_key_is_refused_on_both_sides_and_the_party_goes_on() {
    let (listeners, configs) = listeners(Duration::from_secs(5));
    let mut endpoints: Vec<PartyEndpoint> = listeners
        .into_iter()
        .enumerate()
        .map(|(id, l)| PartyEndpoint::start(id, l, &configs[id], hash(2)).unwrap())
        .collect();
    // A client with a key nobody pinned (but the right pins for the parties).
    let stranger = Identity::generate(CLIENT).unwrap();
    let mut pins = match &configs[CLIENT].security {
        Security::Tls(setup) => setup.pins.clone(),
        Security::InsecurePlaintext => unreachable!(),
    };
    pins.0[CLIENT] = stranger.fingerprint();
    let mut bad = configs[CLIENT].clone();
    bad.security = Security::Tls(Arc::new(TlsSetup::new(CLIENT, stranger, pins).unwrap()));
    let e = TcpTransport::connect_client(&bad, hash(2))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("party P0 at") && e.contains("refused this endpoint's certificate"),
        "{e}"
    );
    // P0 names the connection it refused, and still serves the real client afterwards.
    let mut lines = Vec::new();
    let stop = AtomicBool::new(false);
    let deadline = Some(Instant::now() + Duration::from_millis(500));
    assert!(endpoints[0]
        .next_request(deadline, &stop, &mut |l| lines.push(l.to_string()))
        .is_none());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("refused a connection from 127.0.0.1:")
                && l.contains("is not pinned in parties.toml")),
        "{lines:?}"
    );
    let good = configs[CLIENT].clone();
    let client = thread::spawn(move || TcpTransport::connect_client(&good, hash(2)).unwrap());
    let mut transports: Vec<TcpTransport> = thread::scope(|s| {
        let handles: Vec<_> = endpoints
            .iter_mut()
            .map(|ep| {
                s.spawn(move || {
                    let stop = AtomicBool::new(false);
                    let a = ep.next_request(None, &stop, &mut |_| {}).unwrap();
                    ep.establish(a, &mut |_| {}).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    transports.push(client.join().unwrap());
    exchange_all(transports);
}

#[test]
fn a_party_key_cannot_pose_as_another_party() {
    let (ids, pins) = identities();
    let (listeners, mut configs) = listeners_with(Duration::from_millis(1500), |e| {
        Security::Tls(Arc::new(
            TlsSetup::new(e, ids[e].clone(), pins.clone()).unwrap(),
        ))
    });
    // P1's key answers at P2's address: the client refuses it.
    let mut listeners = listeners;
    let p2_listener = listeners.pop().unwrap();
    let mut as_p1 = configs[1].clone();
    as_p1.security = Security::Tls(Arc::new(TlsSetup {
        me: 2,
        identity: ids[1].clone(),
        pins: pins.clone(),
    }));
    let impostor =
        thread::spawn(move || TcpTransport::connect_party(2, p2_listener, &as_p1, hash(6)));
    let p0 = listeners.remove(0);
    let p1 = listeners.remove(0);
    let honest: Vec<_> = [(0, p0), (1, p1)]
        .into_iter()
        .map(|(id, l)| {
            let c = configs[id].clone();
            thread::spawn(move || TcpTransport::connect_party(id, l, &c, hash(6)))
        })
        .collect();
    configs[CLIENT].connect_timeout = Duration::from_millis(1500);
    let e = TcpTransport::connect_client(&configs[CLIENT], hash(6))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("party P2 at")
            && e.contains(&format!(
                "it presented certificate sha256 {}...",
                pins.0[1].short()
            ))
            && e.contains(&format!(
                "pins sha256 {}... for party P2",
                pins.0[2].short()
            )),
        "{e}"
    );
    let e = impostor.join().unwrap().err().unwrap().to_string();
    assert!(e.contains("the client"), "{e}");
    for h in honest {
        assert!(h.join().unwrap().is_err());
    }
}

#[test]
fn garbage_and_slow_connections_do_not_disturb_a_request() {
    let (listeners, mut configs) = listeners(Duration::from_secs(10));
    for c in &mut configs {
        c.handshake_timeout = Duration::from_millis(300);
    }
    let p0_addr = configs[0].party_addrs[0].clone();
    // A silent connection (holds a handshake slot until its deadline) and a garbage one.
    let _silent = TcpStream::connect(&p0_addr).unwrap();
    let mut garbage = TcpStream::connect(&p0_addr).unwrap();
    garbage.write_all(&[0xff; 300]).unwrap();
    let transports = connected(&configs, listeners, 11);
    exchange_all(transports);
}

#[test]
fn a_frame_larger_than_the_link_allows_is_refused_before_allocation() {
    let (listeners, mut configs) = listeners(Duration::from_secs(10));
    configs[1].max_frame[0] = 100;
    let mut t = connected(&configs, listeners, 12);
    t[0].send(1, vec![7; 100]).unwrap();
    t[0].send(1, vec![7; 101]).unwrap();
    assert_eq!(t[1].recv(0).unwrap(), vec![7; 100]);
    let e = t[1].recv(0).unwrap_err().to_string();
    assert_eq!(
        e,
        "party P0 sent a frame of 101 bytes, more than the 100 bytes of the largest message the \
         program sends on that link"
    );
}

#[test]
fn frames_split_anywhere_are_reassembled_and_oversized_ones_refused() {
    let mut stream = Vec::new();
    for msg in [&b"hello"[..], b"", b"0123456789"] {
        stream.extend_from_slice(&(msg.len() as u64).to_le_bytes());
        stream.extend_from_slice(msg);
    }
    for cut in 1..stream.len() {
        let mut frames = Frames::new(0, 10);
        let mut got = Vec::new();
        for part in stream.chunks(cut) {
            assert!(frames
                .feed(part, &mut |f| {
                    got.push(f);
                    true
                })
                .unwrap());
        }
        assert_eq!(got, vec![b"hello".to_vec(), vec![], b"0123456789".to_vec()]);
    }
    let mut frames = Frames::new(2, 9);
    let e = frames
        .feed(&u64::MAX.to_le_bytes(), &mut |_| true)
        .unwrap_err();
    assert!(
        matches!(
            e,
            NetError::FrameTooLarge {
                got: u64::MAX,
                max: 9,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("party P2 sent a frame of"), "{e}");
}

#[test]
fn a_busy_party_refuses_a_second_client_which_retries_until_its_deadline() {
    let (listeners, configs) = listeners(Duration::from_secs(5));
    let mut endpoints: Vec<PartyEndpoint> = listeners
        .into_iter()
        .enumerate()
        .map(|(id, l)| PartyEndpoint::start(id, l, &configs[id], hash(13)).unwrap())
        .collect();
    // Serves one request on every endpoint, keeping its links open until `hold` says so.
    fn serve_one(
        endpoints: &mut [PartyEndpoint],
        client: &TcpConfig,
        hold: impl FnOnce(),
    ) -> Vec<String> {
        let client = client.clone();
        let client = thread::spawn(move || TcpTransport::connect_client(&client, hash(13)));
        let mut logs = Vec::new();
        let transports: Vec<TcpTransport> = thread::scope(|s| {
            let handles: Vec<_> = endpoints
                .iter_mut()
                .map(|ep| {
                    s.spawn(move || {
                        let mut lines = Vec::new();
                        let stop = AtomicBool::new(false);
                        let a = ep
                            .next_request(None, &stop, &mut |l| lines.push(l.to_string()))
                            .unwrap();
                        let t = ep.establish(a, &mut |l| lines.push(l.to_string())).unwrap();
                        (t, lines)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    let (t, lines) = h.join().unwrap();
                    logs.extend(lines);
                    t
                })
                .collect()
        });
        let client = client.join().unwrap().unwrap();
        hold();
        drop(client);
        drop(transports);
        for ep in endpoints.iter() {
            ep.idle();
        }
        logs
    }
    let mut second = configs[CLIENT].clone();
    second.connect_timeout = Duration::from_millis(700);
    serve_one(&mut endpoints, &configs[CLIENT], || {
        // While the first request holds the parties, a second client is told "busy".
        let e = TcpTransport::connect_client(&second, hash(13))
            .err()
            .expect("a busy party must refuse")
            .to_string();
        assert_eq!(
            e,
            "party P0 is busy serving another request; try again later"
        );
    });
    // Once they are idle, the next client is served.
    let logs = serve_one(&mut endpoints, &second, || {});
    assert!(
        logs.iter().any(|l| l.contains("(busy)")),
        "the parties name the clients they turned away: {logs:?}"
    );
}
