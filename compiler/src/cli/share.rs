//! `secc share`: the model owner's step of a deployment, writing the parties' program file
//! (no weights) and one share file per party.

use super::args::CliResult;
use secc::artifact;
use secc_runtime::deploy::{self, DeploymentFiles};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct ShareArgs {
    /// The model owner's program file, as written by `secc compile`.
    program: PathBuf,
    /// Directory for the files (default: beside the program file).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

pub(super) fn run(args: ShareArgs) -> CliResult {
    let ShareArgs { program, out_dir } = args;
    let (path, out_dir) = (program.as_path(), out_dir.as_deref());
    let container = artifact::load(path).map_err(|e| e.to_string())?;
    artifact::weights_of(&container, path, "`secc share`").map_err(|e| e.to_string())?;
    let files = match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
            let name = path.file_name().unwrap_or_else(|| "model.secc".as_ref());
            DeploymentFiles::beside(&dir.join(name))
        }
        None => DeploymentFiles::beside(path),
    };
    deploy::write_deployment(&container, &files).map_err(|e| e.to_string())?;
    println!(
        "{}  -> every party and the client (no weights)",
        files.program.display()
    );
    for (party, shares) in files.shares.iter().enumerate() {
        println!("{}  -> party P{party} only", shares.display());
    }
    println!("program hash {}", container.program_hash());
    Ok(())
}
