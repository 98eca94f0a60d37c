//! Keys, certificates and the pinned `parties.toml` of a deployment (`secc keygen`).
//!
//! Each role (P0, P1, P2, the client) has its own key file `ROLE.key` (the PEM private key
//! followed by its PEM certificate; mode 0600) and certificate `ROLE.crt` (public: it goes to
//! whoever assembles `parties.toml`). An operator can make its own role's key on its own machine
//! ([`write_role`]) and send only the `.crt`; [`assemble`] pins the four certificates.
//!
//! Invariants: key files are created with mode 0600 under a random temporary name in the target
//! directory (exclusive create) and renamed into place without ever replacing an existing file,
//! so a key is never readable by other local users, never half-written, and never silently
//! overwritten.

use super::{DeployConfig, DeployError};
use crate::net::tls::{Fingerprint, Identity, Pins};
use crate::net::CLIENT;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file stem of an endpoint's key and certificate: `p0`, `p1`, `p2`, `client`.
pub fn role_name(endpoint: usize) -> String {
    if endpoint == CLIENT {
        "client".into()
    } else {
        format!("p{endpoint}")
    }
}

/// Parses `p0`, `p1`, `p2` or `client`.
pub fn parse_role(text: &str) -> Result<usize, String> {
    (0..4)
        .find(|&e| role_name(e) == text)
        .ok_or_else(|| format!("unknown role {text:?}: expected p0, p1, p2 or client"))
}

fn file_error(path: &Path, source: std::io::Error) -> DeployError {
    DeployError::File(secc_ir::bytecode::FileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path`, created 0600 through an unpredictable temporary name in the same
/// directory; refuses to replace an existing file.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<(), DeployError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| file_error(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| file_error(path, e))?;
    file.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            file_error(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists; remove it or choose another --out-dir (keys are never \
                     overwritten)",
                ),
            )
        } else {
            file_error(path, e.error)
        }
    })?;
    Ok(())
}

/// Makes a fresh key for `endpoint` and writes `ROLE.key` (0600) and `ROLE.crt` into `dir`.
pub fn write_role(dir: &Path, endpoint: usize) -> Result<(Identity, [PathBuf; 2]), DeployError> {
    let identity = Identity::generate(endpoint).map_err(DeployError::Mismatch)?;
    let key_path = dir.join(format!("{}.key", role_name(endpoint)));
    let crt_path = dir.join(format!("{}.crt", role_name(endpoint)));
    let key_file = format!("{}{}", identity.key_pem(), identity.cert_pem());
    write_private_new(&key_path, key_file.as_bytes())?;
    write_private_new(&crt_path, identity.cert_pem().as_bytes())?;
    Ok((identity, [key_path, crt_path]))
}

/// The fingerprint of a PEM certificate file (`ROLE.crt`); errors name the file.
pub fn certificate_fingerprint(path: &Path) -> Result<Fingerprint, DeployError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(&bytes).map_err(|e| {
        DeployError::Config {
            path: path.to_path_buf(),
            message: format!("no PEM certificate in it ({e})"),
        }
    })?;
    Ok(Fingerprint::of(&cert))
}

/// A `parties.toml` for parties at `addrs` pinning the certificates `p0.crt`, `p1.crt`,
/// `p2.crt` and `client.crt` found in `cert_dir`.
pub fn assemble(addrs: [String; 3], cert_dir: &Path) -> Result<DeployConfig, DeployError> {
    let mut fps = [Fingerprint([0; 32]); 4];
    for (endpoint, fp) in fps.iter_mut().enumerate() {
        *fp = certificate_fingerprint(&cert_dir.join(format!("{}.crt", role_name(endpoint))))?;
    }
    let mut config = DeployConfig::new(addrs);
    config.pins = Some(Pins(fps));
    // The same checks as reading the file back (distinct pins).
    DeployConfig::parse(&config.to_toml()).map_err(|message| DeployError::Config {
        path: cert_dir.to_path_buf(),
        message,
    })
}

/// `secc keygen --out-dir DIR --addr ...` (all roles): four keys and certificates and the
/// pinned `parties.toml`, all in `dir`. Returns the files written.
pub fn generate_deployment(dir: &Path, addrs: [String; 3]) -> Result<Vec<PathBuf>, DeployError> {
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let config_path = dir.join("parties.toml");
    if config_path.exists() {
        return Err(file_error(
            &config_path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; choose another --out-dir",
            ),
        ));
    }
    let mut written = Vec::new();
    let result = (|| {
        for endpoint in 0..4 {
            let (_, files) = write_role(dir, endpoint)?;
            written.extend(files);
        }
        let config = assemble(addrs, dir)?;
        secc_ir::bytecode::write_atomically(&config_path, config.to_toml().as_bytes())?;
        written.push(config_path.clone());
        Ok(())
    })();
    if let Err(e) = result {
        for path in &written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_private_keys_and_a_pinned_config() {
        let dir = tempfile::tempdir().unwrap();
        let addrs = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].map(String::from);
        generate_deployment(dir.path(), addrs.clone()).unwrap();
        let config = DeployConfig::load(&dir.path().join("parties.toml")).unwrap();
        assert_eq!(config.party_addrs, addrs);
        let pins = config.pins.unwrap();
        for endpoint in 0..4 {
            let key = dir.path().join(format!("{}.key", role_name(endpoint)));
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
            let identity = Identity::load(&key).unwrap();
            assert_eq!(identity.fingerprint(), pins.0[endpoint]);
        }
        // Never overwritten.
        let e = write_role(dir.path(), 1).err().unwrap().to_string();
        assert!(e.contains("p1.key") && e.contains("already exists"), "{e}");
        let e = generate_deployment(dir.path(), addrs)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("parties.toml") && e.contains("already exists"),
            "{e}"
        );
    }

    #[test]
    fn roles_parse() {
        assert_eq!(parse_role("client").unwrap(), CLIENT);
        assert_eq!(parse_role("p2").unwrap(), 2);
        assert!(parse_role("p3")
            .unwrap_err()
            .contains("p0, p1, p2 or client"));
    }
}
