//! Mutual TLS with pinned certificates for the links of a deployment.
//!
//! Owns the endpoints' identities (a private key and its self-signed certificate per role),
//! the pins (the SHA-256 of each role's certificate, from `parties.toml`) and the rustls
//! configurations built from them. There is no certificate authority: each side checks that the
//! other presented exactly the certificate pinned for the role it claims, and rustls checks the
//! handshake signature against that certificate, so only the holder of the pinned key passes.
//!
//! Invariants:
//! - A dialler accepts only the certificate pinned for the party it dials (P1's key cannot
//!   answer at P2's address).
//! - An acceptor accepts only the certificates of the endpoints that may dial it (for party i:
//!   the higher parties and the client), and after the handshake [`peer_of`] names the role
//!   whose pin matched; the role a peer claims in its hello must be that one.
//! - TLS 1.3 only, the `ring` provider, no session resumption (every connection makes a full
//!   handshake with fresh keys).

use super::{endpoint_name, CLIENT};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// SHA-256 of a certificate's DER bytes: what `parties.toml` pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert: &[u8]) -> Self {
        Fingerprint(Sha256::digest(cert).into())
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// Parses 64 hex digits (colons allowed between bytes, as tools print them).
    pub fn parse(text: &str) -> Result<Self, String> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{text:?} is not a SHA-256 fingerprint (64 hex digits)"
            ));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
                .map_err(|e| format!("{text:?}: {e}"))?;
        }
        Ok(Fingerprint(out))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

/// The pinned certificate of every endpoint (index = endpoint: P0, P1, P2, the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins(pub [Fingerprint; 4]);

impl Pins {
    /// The endpoint whose pin is `fp`, if any.
    pub fn endpoint_of(&self, fp: &Fingerprint) -> Option<usize> {
        self.0.iter().position(|p| p == fp)
    }
}

/// A role's private key and certificate.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "Identity({:?})", Fingerprint::of(&self.cert))
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Identity {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }

    /// Parses a key file: a PEM private key and, in the same file or in the `.crt` file beside
    /// it, the PEM certificate. Errors name the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let name = path.display();
        let text = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(&text)
            .map_err(|e| format!("{name}: no PEM private key in it ({e})"))?;
        let cert = match CertificateDer::pem_slice_iter(&text).next() {
            Some(cert) => cert.map_err(|e| format!("{name}: bad PEM certificate ({e})"))?,
            None => {
                let crt = path.with_extension("crt");
                let bytes = std::fs::read(&crt).map_err(|e| {
                    format!(
                        "{name} holds no certificate and {} cannot be read: {e}",
                        crt.display()
                    )
                })?;
                CertificateDer::from_pem_slice(&bytes)
                    .map_err(|e| format!("{}: no PEM certificate in it ({e})", crt.display()))?
            }
        };
        Ok(Identity { cert, key })
    }

    /// A fresh P-256 key with a self-signed certificate naming the role (`secc-p0`, ...,
    /// `secc-client`). Nobody checks the name: the pin is what identifies the role.
    pub fn generate(endpoint: usize) -> Result<Self, String> {
        let name = if endpoint == CLIENT {
            "secc-client".to_string()
        } else {
            format!("secc-p{endpoint}")
        };
        let certified = rcgen::generate_simple_self_signed(vec![name])
            .map_err(|e| format!("cannot generate a key: {e}"))?;
        let key = PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| format!("cannot encode the key: {e}"))?;
        Ok(Identity {
            cert: certified.cert.der().clone(),
            key,
        })
    }

    /// PEM of the private key.
    pub fn key_pem(&self) -> String {
        pem_block("PRIVATE KEY", self.key.secret_der())
    }

    /// PEM of the certificate.
    pub fn cert_pem(&self) -> String {
        pem_block("CERTIFICATE", &self.cert)
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What one endpoint needs for its TLS links: its identity and everyone's pins.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub me: usize,
    pub identity: Identity,
    pub pins: Pins,
}

impl TlsSetup {
    /// Checks that the identity is the one pinned for `me`, so that a wrong `--key` is named
    /// before any connection.
    pub fn new(me: usize, identity: Identity, pins: Pins) -> Result<Self, String> {
        let fp = identity.fingerprint();
        if pins.0[me] != fp {
            let hint = match pins.endpoint_of(&fp) {
                Some(other) => format!(" (it is the key of {})", endpoint_name(other)),
                None => String::new(),
            };
            return Err(format!(
                "this key's certificate (sha256 {}...) is not the one parties.toml pins for {} \
                 (sha256 {}...){hint}",
                fp.short(),
                endpoint_name(me),
                pins.0[me].short()
            ));
        }
        Ok(TlsSetup { me, identity, pins })
    }

    /// Configuration for dialling party `to`: only `to`'s pinned certificate is accepted.
    pub fn client_config(&self, to: usize) -> Result<Arc<rustls::ClientConfig>, String> {
        let verifier = Arc::new(PinnedServer {
            expected: self.pins.0[to],
            peer: to,
            schemes: provider().signature_verification_algorithms,
        });
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(
                vec![self.identity.cert.clone()],
                self.identity.key.clone_key(),
            )
            .map_err(|e| format!("the key does not fit its certificate: {e}"))?;
        Ok(Arc::new(config))
    }

    /// Configuration for accepting: only the pinned certificates of `allowed` endpoints pass.
    pub fn server_config(&self, allowed: &[usize]) -> Result<Arc<rustls::ServerConfig>, String> {
        let verifier = Arc::new(PinnedClients {
            allowed: allowed.iter().map(|&e| (e, self.pins.0[e])).collect(),
            me: self.me,
            schemes: provider().signature_verification_algorithms,
        });
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.identity.cert.clone()],
                self.identity.key.clone_key(),
            )
            .map_err(|e| format!("the key does not fit its certificate: {e}"))?;
        // No resumption: every connection is a full handshake with pinned certificates.
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }
}

/// The name a dialler puts in its ClientHello (never checked: pins identify the peer).
pub fn server_name(party: usize) -> ServerName<'static> {
    ServerName::try_from(format!("secc-p{party}"))
        .unwrap_or_else(|_| ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into()))
}

/// The endpoint whose pinned certificate the peer of `conn` presented.
pub fn peer_of(conn: &rustls::CommonState, pins: &Pins) -> Option<usize> {
    let cert = conn.peer_certificates()?.first()?;
    pins.endpoint_of(&Fingerprint::of(cert))
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn refuse(message: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(Refused(message)),
    )))
}

#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

#[derive(Debug)]
struct PinnedServer {
    expected: Fingerprint,
    peer: usize,
    schemes: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got == self.expected {
            return Ok(ServerCertVerified::assertion());
        }
        Err(refuse(format!(
            "it presented certificate sha256 {}..., but parties.toml pins sha256 {}... for {}",
            got.short(),
            self.expected.short(),
            endpoint_name(self.peer)
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.supported_schemes()
    }
}

#[derive(Debug)]
struct PinnedClients {
    allowed: Vec<(usize, Fingerprint)>,
    me: usize,
    schemes: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if self.allowed.iter().any(|(_, fp)| *fp == got) {
            return Ok(ClientCertVerified::assertion());
        }
        let may: Vec<String> = self
            .allowed
            .iter()
            .map(|(e, _)| endpoint_name(*e))
            .collect();
        Err(refuse(format!(
            "its certificate sha256 {}... is not pinned in parties.toml for any endpoint that \
             dials {} ({})",
            got.short(),
            endpoint_name(self.me),
            may.join(", ")
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_and_reject_garbage() {
        let fp = Fingerprint::of(b"certificate");
        assert_eq!(Fingerprint::parse(&fp.to_hex()).unwrap(), fp);
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Fingerprint::parse(&colons.join(":")).unwrap(), fp);
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(66)] {
            let e = Fingerprint::parse(bad).unwrap_err();
            assert!(e.contains("not a SHA-256 fingerprint"), "{e}");
        }
    }

    #[test]
    fn pem_encoding_round_trips() {
        for n in 1..7 {
            let data: Vec<u8> = (0..n * 37).map(|i| (i * 7 + 3) as u8).collect();
            let pem = pem_block("CERTIFICATE", &data);
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &data[..]);
        }
    }

    #[test]
    fn a_key_must_be_the_one_pinned_for_its_role() {
        let ids: Vec<Identity> = (0..4).map(|e| Identity::generate(e).unwrap()).collect();
        let pins = Pins(std::array::from_fn(|e| ids[e].fingerprint()));
        TlsSetup::new(1, ids[1].clone(), pins.clone()).unwrap();
        let e = TlsSetup::new(2, ids[1].clone(), pins).unwrap_err();
        assert!(
            e.contains("not the one parties.toml pins for party P2") && e.contains("party P1"),
            "{e}"
        );
    }
}
