//! `secc keygen`: keys and certificates of a deployment's four roles and the `parties.toml`
//! that pins them (the file work lives in `secc_runtime::deploy::keys`).
//!
//! Three uses: everything at once (`--addr` three times: four keys, four certificates,
//! parties.toml), one role on its own machine (`--role p1`: that role's key and certificate
//! only; the key never leaves the machine), and assembling (`--certs DIR --addr ...`: a
//! parties.toml pinning the four certificates collected in DIR).

use secc_runtime::deploy::keys;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct KeygenArgs {
    /// Directory for the files (created if missing; existing keys are never overwritten).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// A party's listening address, given three times: P0's, P1's, then P2's.
    #[arg(long = "addr", value_name = "HOST:PORT")]
    pub addrs: Vec<String>,
    /// Make only this role's key and certificate (p0, p1, p2 or client), on its own machine;
    /// send the .crt to whoever assembles parties.toml.
    #[arg(long, conflicts_with_all = ["addrs", "certs"])]
    pub role: Option<String>,
    /// Make no key: write a parties.toml pinning p0.crt, p1.crt, p2.crt and client.crt from
    /// this directory.
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

/// Runs `secc keygen`; prints what was written and where each file goes.
pub fn run(args: &KeygenArgs) -> Result<(), String> {
    if let Some(role) = &args.role {
        let endpoint = keys::parse_role(role)?;
        std::fs::create_dir_all(&args.out_dir)
            .map_err(|e| format!("cannot create '{}': {e}", args.out_dir.display()))?;
        let (identity, [key, crt]) =
            keys::write_role(&args.out_dir, endpoint).map_err(|e| e.to_string())?;
        println!("{}  -> stays on this machine (mode 0600)", key.display());
        println!(
            "{}  -> to whoever assembles parties.toml (sha256 {})",
            crt.display(),
            identity.fingerprint().to_hex()
        );
        return Ok(());
    }
    let addrs: [String; 3] = args
        .addrs
        .clone()
        .try_into()
        .map_err(|given: Vec<String>| {
            format!(
                "give the three parties' addresses: --addr P0 --addr P1 --addr P2 ({} given)",
                given.len()
            )
        })?;
    if let Some(certs) = &args.certs {
        let config = keys::assemble(addrs, certs).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&args.out_dir)
            .map_err(|e| format!("cannot create '{}': {e}", args.out_dir.display()))?;
        let path = args.out_dir.join("parties.toml");
        secc_ir::bytecode::write_atomically(&path, config.to_toml().as_bytes())
            .map_err(|e| e.to_string())?;
        println!("{}  -> P0, P1, P2 and the client", path.display());
        return Ok(());
    }
    let written = keys::generate_deployment(&args.out_dir, addrs).map_err(|e| e.to_string())?;
    for path in written {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let goes_to = match name.as_str() {
            "parties.toml" => "P0, P1, P2 and the client".to_string(),
            n if n.ends_with(".key") => {
                format!("{} only (mode 0600)", role_of(n.trim_end_matches(".key")))
            }
            n => format!(
                "public: {}'s certificate",
                role_of(n.trim_end_matches(".crt"))
            ),
        };
        println!("{}  -> {goes_to}", path.display());
    }
    Ok(())
}

fn role_of(stem: &str) -> String {
    match stem {
        "client" => "the client".into(),
        p => p.to_uppercase(),
    }
}
