//! `coffre audit export` and `coffre audit verify`.

use crate::cli::AuditCommand;
use crate::error::CliError;

/// Runs an audit subcommand.
pub fn run(command: &AuditCommand, _json: bool) -> Result<(), CliError> {
    match command {
        AuditCommand::Export(_) => Err(super::not_yet(
            "audit export",
            "coffre_attendance Vault::export_audit (engineer G)",
        )),
        AuditCommand::Verify(_) => {
            Err(super::not_yet("audit verify", "coffre_attendance verify_audit (engineer G)"))
        }
    }
}
