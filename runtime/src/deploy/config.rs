//! `parties.toml`: where the three parties listen, which certificate each role must present,
//! and how long every wait may last (`secc keygen` writes it).
//!
//! ```toml
//! # Optional; defaults 10, 120 and 5.
//! connect_timeout_s = 10   # deadline for establishing all connections of a request
//! recv_timeout_s = 120     # longest wait for one message once connected
//! handshake_timeout_s = 5  # deadline for one incoming connection's TLS handshake
//!
//! [client]
//! cert_sha256 = "9f0c...64 hex digits"   # SHA-256 of client.crt (DER)
//!
//! [[party]]
//! id = 0
//! addr = "127.0.0.1:7000"
//! cert_sha256 = "41d2..."                 # SHA-256 of p0.crt
//!
//! [[party]]
//! id = 1
//! addr = "127.0.0.1:7001"
//! cert_sha256 = "..."
//!
//! [[party]]
//! id = 2
//! addr = "127.0.0.1:7002"
//! cert_sha256 = "..."
//! ```
//!
//! Invariants of a parsed [`DeployConfig`]: exactly one address for each of parties 0, 1, 2;
//! positive finite timeouts; either all four certificates pinned, pairwise distinct (one role
//! per key), or none (usable only with plain TCP for loopback experiments).

use crate::net::tcp::{
    Security, TcpConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME,
    DEFAULT_RECV_TIMEOUT,
};
use crate::net::tls::{Fingerprint, Pins};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// A deployment's network configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    /// Listening address (`host:port`) of party i.
    pub party_addrs: [String; 3],
    pub connect_timeout: Duration,
    pub recv_timeout: Duration,
    pub handshake_timeout: Duration,
    /// The certificates of P0, P1, P2 and the client, if the file pins them.
    pub pins: Option<Pins>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    connect_timeout_s: Option<f64>,
    recv_timeout_s: Option<f64>,
    handshake_timeout_s: Option<f64>,
    client: Option<ClientEntry>,
    #[serde(default)]
    party: Vec<PartyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyEntry {
    id: i64,
    addr: String,
    cert_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    cert_sha256: String,
}

impl DeployConfig {
    /// Parses the text of a `parties.toml`; the error says what is wrong (the caller adds the
    /// path).
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let connect_timeout = seconds(
            file.connect_timeout_s,
            DEFAULT_CONNECT_TIMEOUT,
            "connect_timeout_s",
        )?;
        let recv_timeout = seconds(file.recv_timeout_s, DEFAULT_RECV_TIMEOUT, "recv_timeout_s")?;
        let handshake_timeout = seconds(
            file.handshake_timeout_s,
            DEFAULT_HANDSHAKE_TIMEOUT,
            "handshake_timeout_s",
        )?;
        let mut addrs: [Option<String>; 3] = Default::default();
        let mut pins: [Option<Fingerprint>; 4] = Default::default();
        if let Some(client) = &file.client {
            pins[3] = Some(
                Fingerprint::parse(&client.cert_sha256)
                    .map_err(|e| format!("[client] cert_sha256: {e}"))?,
            );
        }
        for entry in file.party {
            let slot = usize::try_from(entry.id)
                .ok()
                .and_then(|id| addrs.get_mut(id))
                .ok_or_else(|| format!("party id {} is not 0, 1 or 2", entry.id))?;
            if slot.is_some() {
                return Err(format!("party {} is listed twice", entry.id));
            }
            if entry.addr.trim().is_empty() {
                return Err(format!("party {} has an empty addr", entry.id));
            }
            *slot = Some(entry.addr);
            if let Some(text) = &entry.cert_sha256 {
                pins[entry.id as usize] = Some(
                    Fingerprint::parse(text)
                        .map_err(|e| format!("party {} cert_sha256: {e}", entry.id))?,
                );
            }
        }
        let missing: Vec<String> = (0..3)
            .filter(|&i| addrs[i].is_none())
            .map(|i| i.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "no [[party]] entry for party {} (each of 0, 1, 2 needs an id and an addr)",
                missing.join(", ")
            ));
        }
        Ok(DeployConfig {
            party_addrs: addrs.map(|a| a.unwrap_or_default()),
            connect_timeout,
            recv_timeout,
            handshake_timeout,
            pins: check_pins(pins)?,
        })
    }

    /// Reads and parses a `parties.toml`; errors name the file.
    pub fn load(path: &Path) -> Result<Self, super::DeployError> {
        let config_error = |message: String| super::DeployError::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| config_error(e.to_string()))?;
        Self::parse(&text).map_err(config_error)
    }

    /// A configuration for parties listening at `addrs`, with default timeouts.
    pub fn new(party_addrs: [String; 3]) -> Self {
        DeployConfig {
            party_addrs,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            recv_timeout: DEFAULT_RECV_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            pins: None,
        }
    }

    /// The same configuration as `parties.toml` text (for tools that start parties).
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "connect_timeout_s = {}\nrecv_timeout_s = {}\nhandshake_timeout_s = {}\n",
            self.connect_timeout.as_secs_f64(),
            self.recv_timeout.as_secs_f64(),
            self.handshake_timeout.as_secs_f64()
        );
        if let Some(pins) = &self.pins {
            out.push_str(&format!(
                "\n[client]\ncert_sha256 = \"{}\"\n",
                pins.0[3].to_hex()
            ));
        }
        for (id, addr) in self.party_addrs.iter().enumerate() {
            // Debug formatting of a str is a valid TOML basic string for printable addresses.
            out.push_str(&format!("\n[[party]]\nid = {id}\naddr = {addr:?}\n"));
            if let Some(pins) = &self.pins {
                out.push_str(&format!("cert_sha256 = \"{}\"\n", pins.0[id].to_hex()));
            }
        }
        out
    }

    /// The transport configuration, with the default frame limit (callers that know the
    /// program narrow it).
    pub fn tcp(&self, security: Security) -> TcpConfig {
        TcpConfig {
            party_addrs: self.party_addrs.clone(),
            connect_timeout: self.connect_timeout,
            recv_timeout: self.recv_timeout,
            handshake_timeout: self.handshake_timeout,
            max_frame: [DEFAULT_MAX_FRAME; 4],
            security,
        }
    }
}

/// All four pins or none; no key may serve two roles (its holder could pose as either).
fn check_pins(pins: [Option<Fingerprint>; 4]) -> Result<Option<Pins>, String> {
    let name = |e: usize| {
        if e == 3 {
            "[client]".to_string()
        } else {
            format!("party {e}")
        }
    };
    let missing: Vec<String> = (0..4).filter(|&e| pins[e].is_none()).map(name).collect();
    if missing.len() == 4 {
        return Ok(None);
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} pin no certificate (cert_sha256) while others do: pin all four roles \
             (`secc keygen` writes them) or none",
            missing.join(", ")
        ));
    }
    let pins = pins.map(|p| p.unwrap_or(Fingerprint([0; 32])));
    for a in 0..4 {
        for b in a + 1..4 {
            if pins[a] == pins[b] {
                return Err(format!(
                    "{} and {} pin the same certificate: each role needs its own key",
                    name(a),
                    name(b)
                ));
            }
        }
    }
    Ok(Some(Pins(pins)))
}

fn seconds(value: Option<f64>, default: Duration, key: &str) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(format!(
            "{key} = {s}: expected a positive number of seconds"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = r#"
        [[party]]
        id = 2
        addr = "127.0.0.1:7002"
        [[party]]
        id = 0
        addr = "127.0.0.1:7000"
        [[party]]
        id = 1
        addr = "localhost:7001"
    "#;

    #[test]
    fn parses_parties_in_any_order_with_default_timeouts() {
        let c = DeployConfig::parse(THREE).unwrap();
        assert_eq!(
            c.party_addrs,
            ["127.0.0.1:7000", "localhost:7001", "127.0.0.1:7002"].map(String::from)
        );
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.recv_timeout, DEFAULT_RECV_TIMEOUT);
        assert_eq!(DeployConfig::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn reads_timeouts() {
        let text = format!("connect_timeout_s = 2.5\nrecv_timeout_s = 30\n{THREE}");
        let c = DeployConfig::parse(&text).unwrap();
        assert_eq!(c.connect_timeout, Duration::from_millis(2500));
        assert_eq!(c.recv_timeout, Duration::from_secs(30));
    }

    #[test]
    fn explains_what_is_wrong() {
        let cases = [
            ("", "no [[party]] entry for party 0, 1, 2"),
            (
                &THREE[..THREE.rfind("[[party]]").unwrap()],
                "no [[party]] entry for party 1",
            ),
            (
                "[[party]]\nid = 3\naddr = \"a:1\"",
                "party id 3 is not 0, 1 or 2",
            ),
            (
                "[[party]]\nid = 0\naddr = \"a:1\"\n[[party]]\nid = 0\naddr = \"b:1\"",
                "party 0 is listed twice",
            ),
            (
                "[[party]]\nid = 0\naddr = \" \"",
                "party 0 has an empty addr",
            ),
            (
                "connect_timeout_s = -1",
                "connect_timeout_s = -1: expected a positive",
            ),
            ("[[party]]\nid = 0\nadress = \"a:1\"", "adress"),
            ("this is not toml", ""),
        ];
        for (text, expected) in cases {
            let e = DeployConfig::parse(text).unwrap_err();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    fn pinned(fps: [&str; 4]) -> String {
        let mut text = format!("[client]\ncert_sha256 = \"{}\"\n", fps[3]);
        for (id, fp) in fps.iter().enumerate().take(3) {
            text.push_str(&format!(
                "[[party]]\nid = {id}\naddr = \"127.0.0.1:{}\"\ncert_sha256 = \"{fp}\"\n",
                7000 + id
            ));
        }
        text
    }

    #[test]
    fn reads_and_writes_the_four_pins() {
        let hex = ["a", "b", "c", "d"].map(|c| c.repeat(64));
        let c = DeployConfig::parse(&pinned([&hex[0], &hex[1], &hex[2], &hex[3]])).unwrap();
        let pins = c.pins.clone().unwrap();
        assert_eq!(pins.0[3].to_hex(), hex[3]);
        assert_eq!(pins.0[1].to_hex(), hex[1]);
        assert_eq!(DeployConfig::parse(&c.to_toml()).unwrap(), c);
        assert_eq!(DeployConfig::parse(THREE).unwrap().pins, None);
    }

    #[test]
    fn explains_what_is_wrong_with_the_pins() {
        let (a, b, c, d) = (
            "a".repeat(64),
            "b".repeat(64),
            "c".repeat(64),
            "d".repeat(64),
        );
        let cases = [
            (
                pinned([&a, &b, &c, "xyz"]),
                "[client] cert_sha256: \"xyz\" is not a SHA-256",
            ),
            (pinned([&a, &b[..63], &c, &d]), "party 1 cert_sha256: "),
            (
                pinned([&a, &b, &a, &d]),
                "party 0 and party 2 pin the same certificate",
            ),
            (
                THREE.replacen(
                    "addr = \"127.0.0.1:7002\"",
                    &format!("addr = \"x:1\"\ncert_sha256 = \"{a}\""),
                    1,
                ),
                "party 0, party 1, [client] pin no certificate",
            ),
            (
                format!("{THREE}\n[client]\ncert_sha256 = \"{a}\""),
                "party 0, party 1, party 2 pin no certificate",
            ),
            (format!("{THREE}\n[client]\ncert = \"x\""), "cert"),
        ];
        for (text, expected) in cases {
            let e = DeployConfig::parse(&text).unwrap_err();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn load_errors_name_the_file() {
        let e = DeployConfig::load(Path::new("/nonexistent/parties.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/parties.toml: "), "{e}");
    }
}
