//! One module per command; [`run`] dispatches the parsed command line.

mod append;
mod audit;
mod clock;
mod ine;
mod info;
mod init;
mod keygen;
mod note;
mod prove;
mod read;
mod retention;
mod sign;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::CliError;

/// Runs the command; `Ok` means exit 0.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    match cli.command {
        Command::Keygen(args) => keygen::run(&args, json),
        Command::Init(args) => init::run(&args, json),
        Command::Append(args) => append::run(&args, json),
        Command::Info(args) => info::run(&args.dir, json),
        Command::Read(args) => read::run(&args, json),
        Command::Checkpoint(args) => sign::run(&args, json),
        Command::Prove(args) => prove::run(&args, json),
        Command::Verify(args) => verify::run(&args, json),
        Command::Note(command) => note::run(&command, json),
        Command::Hold(args) => retention::hold(&args, json),
        Command::Release(args) => retention::release(&args, json),
        Command::Purge(args) => retention::purge(&args, json),
        Command::Audit(command) => audit::run(&command, json),
        Command::Ine(command) => ine::run(&command, json),
        Command::Clock(command) => clock::run(&command, json),
    }
}
