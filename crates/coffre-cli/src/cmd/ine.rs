//! `coffre ine check`: family and check character of each INE.

use crate::cli::{IneCheckArgs, IneCommand};
use crate::error::CliError;
use crate::output;
use coffre_attendance::identity::{Ine, IneFamily, KeyCheck};
use serde_json::{json, Value};
use std::io::BufRead as _;

/// Longest stdin line read (an INE is 11 characters; padding and comments are tolerated).
const LINE_BYTES_MAX: usize = 1024;
/// Most INEs read from stdin in one run.
const INES_MAX: usize = 1_000_000;

/// Runs an INE subcommand.
pub fn run(command: &IneCommand, json: bool) -> Result<(), CliError> {
    match command {
        IneCommand::Check(args) => check(args, json),
    }
}

fn family_name(family: IneFamily) -> &'static str {
    match family {
        IneFamily::Bea => "bea",
        IneFamily::University => "university",
        IneFamily::Rnie => "rnie",
        IneFamily::Apprentice => "apprentice",
        IneFamily::Provisional => "provisional",
        _ => "unknown",
    }
}

fn stdin_ines() -> Result<Vec<String>, CliError> {
    let mut ines = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| CliError::usage(format!("stdin line {}", i + 1), e))?;
        if line.len() > LINE_BYTES_MAX || ines.len() >= INES_MAX {
            return Err(CliError::usage(format!("stdin line {}", i + 1), "too long or too many"));
        }
        if !line.trim().is_empty() {
            ines.push(line);
        }
    }
    Ok(ines)
}

fn check(args: &IneCheckArgs, json: bool) -> Result<(), CliError> {
    let ines = if args.ines.is_empty() { stdin_ines()? } else { args.ines.clone() };
    let mut invalid = 0usize;
    let mut results: Vec<Value> = Vec::with_capacity(ines.len());
    for input in &ines {
        let (value, text) = match Ine::parse(input) {
            Ok(ine) => {
                let verified = ine.key_check() == KeyCheck::Verified;
                let key = if verified { "verified" } else { "format-only" };
                let note = if verified {
                    "check character verified"
                } else {
                    "format only (the family's key rule is not public)"
                };
                (
                    json!({"input": input, "valid": true, "ine": ine.as_str(),
                           "family": family_name(ine.family()), "key_check": key}),
                    format!("{}  valid    {:11}  {note}", ine.as_str(), family_name(ine.family())),
                )
            }
            Err(reason) => {
                invalid += 1;
                (
                    json!({"input": input, "valid": false, "error": reason.to_string()}),
                    format!("{}  INVALID  {reason}", input.trim()),
                )
            }
        };
        if json {
            results.push(value);
        } else {
            output::line(&text)?;
        }
    }
    if json {
        output::json_pretty(&json!({"checked": ines.len(), "invalid": invalid, "ines": results}))?;
    }
    if invalid > 0 {
        return Err(CliError::Failed(format!("{invalid} of {} INEs invalid", ines.len())));
    }
    Ok(())
}
