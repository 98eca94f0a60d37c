//! The `secc` binary: its command line is [`cli`], one file per subcommand.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
