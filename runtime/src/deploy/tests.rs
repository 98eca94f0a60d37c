use super::*;
use crate::net::tls::Identity;
use std::net::TcpListener;
use std::thread;

/// y = x * w + x (see `example_product_program`).
fn container() -> Container {
    crate::builder::example_product_program("deploy-test")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("secc-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn deployed(name: &str) -> (PathBuf, DeploymentFiles) {
    let dir = temp_dir(name);
    let files = DeploymentFiles::beside(&dir.join("model.secc"));
    write_deployment(&container(), &files).unwrap();
    (dir, files)
}

#[test]
fn conventional_names_sit_beside_the_owner_file() {
    let files = DeploymentFiles::beside(Path::new("/m/bert.secc"));
    assert_eq!(files.program, Path::new("/m/bert.party.secc"));
    assert_eq!(files.shares[2], Path::new("/m/bert.p2.shares"));
}

#[test]
fn each_party_loads_its_own_files_and_never_the_weights() {
    let (dir, files) = deployed("load");
    let c = container();
    let mut reconstructed = vec![0u64; 6];
    for party in 0..3 {
        let loaded = load_party_files(party, &files.program, &files.shares[party]).unwrap();
        assert_eq!(loaded.program.weights, None);
        assert_eq!(loaded.program.program_hash(), c.program_hash());
        assert_eq!(loaded.params.party, party);
        // Component 0 of party i is x_i: summing them gives the encoded weights back.
        for (sum, &x) in reconstructed.iter_mut().zip(&loaded.params.params[0].first) {
            *sum = sum.wrapping_add(x);
        }
    }
    let expected: Vec<u64> = c.weights.as_ref().unwrap().tensors[0]
        .data
        .iter()
        .map(|&v| secc_ir::fixed::encode(v, 16))
        .collect();
    assert_eq!(reconstructed, expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mismatched_files_are_refused_naming_them() {
    let (dir, files) = deployed("mismatch");
    let owner_copy = dir.join("model.secc");
    bytecode::write_program(&owner_copy, &container()).unwrap();
    let err = |r: Result<PartyFiles, DeployError>| r.err().expect("must fail").to_string();

    let e = err(load_party_files(0, &owner_copy, &files.shares[0]));
    assert!(
        e.contains("model.secc") && e.contains("plaintext weights"),
        "{e}"
    );

    let e = err(load_party_files(1, &files.program, &files.shares[0]));
    assert!(
        e.contains("model.p0.shares holds the shares of party P0, not of P1"),
        "{e}"
    );

    let mut other = container();
    other.low.stages[0].comm_sources = vec!["something else".into()];
    let other_files = DeploymentFiles::beside(&dir.join("other.secc"));
    write_deployment(&other, &other_files).unwrap();
    let e = err(load_party_files(0, &files.program, &other_files.shares[0]));
    assert!(
        e.contains("other.p0.shares was made for another program"),
        "{e}"
    );

    let e = err(load_party_files(0, &files.shares[0], &files.shares[0]));
    assert!(
        e.contains("model.p0.shares: this is a secc share file, not a secc program file"),
        "{e}"
    );

    let e = err(load_party_files(
        0,
        &dir.join("absent.secc"),
        &files.shares[0],
    ));
    assert!(e.contains("absent.secc"), "{e}");

    let e = write_deployment(&container().without_weights(), &files)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("carries no weights"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failed_deployment_write_leaves_no_files() {
    let dir = temp_dir("partial");
    let mut files = DeploymentFiles::beside(&dir.join("model.secc"));
    files.shares[2] = dir.join("missing-dir/model.p2.shares");
    let e = write_deployment(&container(), &files)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing-dir/model.p2.shares"), "{e}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

fn free_addrs() -> [String; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| listeners[i].local_addr().unwrap().to_string())
}

/// Fresh identities for the four roles, pinned in `config`; the security of each endpoint.
fn tls_for(config: &mut DeployConfig) -> Vec<Security> {
    let ids: Vec<Identity> = (0..4).map(|e| Identity::generate(e).unwrap()).collect();
    let pins = crate::net::tls::Pins(std::array::from_fn(|e| ids[e].fingerprint()));
    config.pins = Some(pins.clone());
    ids.into_iter()
        .enumerate()
        .map(|(e, id)| tls_security(e, id, pins.clone()).unwrap())
        .collect()
}

#[test]
fn a_deployment_runs_over_tcp_in_threads() {
    let (dir, files) = deployed("run");
    let mut config = DeployConfig::new(free_addrs());
    config.recv_timeout = Duration::from_secs(20);
    let mut security = tls_for(&mut config);
    let client_security = security.pop().unwrap();
    let parties: Vec<_> = security
        .into_iter()
        .enumerate()
        .map(|(party, security)| {
            let (config, files) = (config.clone(), files.clone());
            thread::spawn(move || {
                run_deployed_party(
                    party,
                    &config,
                    security,
                    &files.program,
                    &files.shares[party],
                )
            })
        })
        .collect();
    let program = bytecode::read_program(&files.program).unwrap();
    let x = vec![1.0, 2.0, -3.0, 0.5, -0.25, 4.0];
    let inputs = HashMap::from([(
        "x".to_string(),
        ArrayD::from_shape_vec(vec![2, 3], x.clone()).unwrap(),
    )]);
    let run = run_client(&config, client_security, &program, &inputs).unwrap();
    for p in parties {
        p.join().unwrap().unwrap();
    }
    let w = &container().weights.unwrap().tensors[0].data;
    assert_eq!(run.outputs.len(), 1);
    assert_eq!(run.outputs[0].shape, vec![2, 3]);
    for ((got, x), w) in run.outputs[0].data.iter().zip(&x).zip(w) {
        assert!((got - (x * w + x)).abs() < 1e-3, "{got} vs {}", x * w + x);
    }
    let predicted = program.low.predicted_cost();
    for party in 0..3 {
        assert_eq!(run.parties[party].rounds, predicted.rounds);
        assert_eq!(run.parties[party].bytes_sent, predicted.bytes_sent[party]);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn frame_limits_are_the_largest_message_of_each_link() {
    let program = container().low;
    let predicted = program.predicted_cost();
    for me in 0..3 {
        let limits = frame_limits(&program, me);
        assert_eq!(limits[me], 0, "no link to itself");
        for peer in (0..3).filter(|&p| p != me) {
            assert!(limits[peer] >= 32 + 16, "seed keys with the request id fit");
            // No single message exceeds what the peer sends in total.
            assert!(limits[peer] <= predicted.bytes_sent[peer].max(32) + 16);
        }
        // The client's input message: x (2 x 3) as two components.
        assert_eq!(limits[CLIENT], 2 * 6 * 8);
    }
    let client = frame_limits(&program, CLIENT);
    assert_eq!(
        client[..3],
        [48, 48, 48],
        "counters are the largest message here"
    );
}

#[test]
fn a_party_needs_a_pinned_key_unless_plaintext_is_asked_for() {
    let (dir, _files) = deployed("security");
    let config = DeployConfig::new(free_addrs());
    let e = security(1, &config, None, false).err().unwrap().to_string();
    assert!(
        e.contains("--key p1.key") && e.contains("--insecure-plaintext-tcp"),
        "{e}"
    );
    let e = security(1, &config, Some(&dir.join("p1.key")), false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pins no certificates"), "{e}");
    assert!(matches!(
        security(1, &config, None, true).unwrap(),
        Security::InsecurePlaintext
    ));
    let mut pinned = config.clone();
    let _ = tls_for(&mut pinned);
    let (identity, _) = keys::write_role(&dir, 1).unwrap();
    let e = security(1, &pinned, Some(&dir.join("p1.key")), false)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("p1.key") && e.contains("not the one parties.toml pins for party P1"),
        "{e}"
    );
    let mut pins = pinned.pins.clone().unwrap();
    pins.0[1] = identity.fingerprint();
    pinned.pins = Some(pins);
    assert!(matches!(
        security(1, &pinned, Some(&dir.join("p1.key")), false).unwrap(),
        Security::Tls(_)
    ));
    std::fs::remove_dir_all(dir).unwrap();
}
