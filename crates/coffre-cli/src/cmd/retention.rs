//! `coffre hold`, `coffre release`, `coffre purge`: retention and legal holds.

use crate::cli::{HoldArgs, PurgeArgs, ReleaseArgs};
use crate::error::CliError;

/// Places a legal hold.
pub fn hold(_args: &HoldArgs, _json: bool) -> Result<(), CliError> {
    Err(super::not_yet("hold", "Log::place_hold (engineer F)"))
}

/// Releases a legal hold.
pub fn release(_args: &ReleaseArgs, _json: bool) -> Result<(), CliError> {
    Err(super::not_yet("release", "Log::release_hold (engineer F)"))
}

/// Purges expired records.
pub fn purge(_args: &PurgeArgs, _json: bool) -> Result<(), CliError> {
    Err(super::not_yet("purge", "Log::purge_expired (engineer F)"))
}
