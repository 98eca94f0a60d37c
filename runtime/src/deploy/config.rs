//! `parties.toml`: where the three parties listen and how long every wait may last.
//!
//! ```toml
//! # Optional; defaults 10 and 120.
//! connect_timeout_s = 10   # deadline for establishing all connections
//! recv_timeout_s = 120     # longest wait for one message once connected
//!
//! [[party]]
//! id = 0
//! addr = "127.0.0.1:7000"
//!
//! [[party]]
//! id = 1
//! addr = "127.0.0.1:7001"
//!
//! [[party]]
//! id = 2
//! addr = "127.0.0.1:7002"
//! ```
//!
//! Invariant of a parsed [`DeployConfig`]: exactly one address for each of parties 0, 1, 2, and
//! positive finite timeouts.

use crate::net::tcp::{TcpConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECV_TIMEOUT};
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    connect_timeout_s: Option<f64>,
    recv_timeout_s: Option<f64>,
    #[serde(default)]
    party: Vec<PartyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyEntry {
    id: i64,
    addr: String,
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
        let mut addrs: [Option<String>; 3] = Default::default();
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
        }
    }

    /// The same configuration as `parties.toml` text (for tools that start parties).
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "connect_timeout_s = {}\nrecv_timeout_s = {}\n",
            self.connect_timeout.as_secs_f64(),
            self.recv_timeout.as_secs_f64()
        );
        for (id, addr) in self.party_addrs.iter().enumerate() {
            // Debug formatting of a str is a valid TOML basic string for printable addresses.
            out.push_str(&format!("\n[[party]]\nid = {id}\naddr = {addr:?}\n"));
        }
        out
    }

    /// The transport configuration.
    pub fn tcp(&self) -> TcpConfig {
        TcpConfig {
            party_addrs: self.party_addrs.clone(),
            connect_timeout: self.connect_timeout,
            recv_timeout: self.recv_timeout,
        }
    }
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

    #[test]
    fn load_errors_name_the_file() {
        let e = DeployConfig::load(Path::new("/nonexistent/parties.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/parties.toml: "), "{e}");
    }
}
