//! The one error type of the command line, and how each failure maps to an exit code.

use coffre_log::tree_store::TreeStoreError;
use coffre_log::LogError;
use std::process::ExitCode;

/// Why a command failed. Each variant fixes the exit code, so commands never pick one by hand.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad usage or input: a missing file, an unparsable key, an index out of range (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Verification failed or tampering was detected (exit 1). The message names the place.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }

    /// A usage or input error with `context` (the file, index or field at fault) in front.
    pub fn usage(context: impl std::fmt::Display, detail: impl std::fmt::Display) -> CliError {
        CliError::Usage(format!("{context}: {detail}"))
    }

    /// A verification failure with `context` in front.
    pub fn failed(context: impl std::fmt::Display, detail: impl std::fmt::Display) -> CliError {
        CliError::Failed(format!("{context}: {detail}"))
    }

    /// Classifies a log error: damage and tampering are verification failures (exit 1),
    /// everything else (missing log, bad index, lock held, I/O) is an input error (exit 2).
    pub fn from_log(context: impl std::fmt::Display, error: LogError) -> CliError {
        if is_tamper(&error) {
            CliError::failed(context, error)
        } else {
            CliError::usage(context, error)
        }
    }
}

/// Whether a log error means the stored data cannot be trusted.
pub fn is_tamper(error: &LogError) -> bool {
    matches!(
        error,
        LogError::Corruption { .. }
            | LogError::TamperDetected { .. }
            | LogError::Tree(TreeStoreError::Corruption { .. })
            | LogError::Tree(TreeStoreError::ParentMismatch { .. })
    )
}
