//! Coffre: a tamper-evident vault for attendance records.
//!
//! This facade re-exports the layers so that a service can depend on one crate:
//! [`clock`] (trustworthy timestamps), [`log`] (the durable, Merkle-indexed WORM log) and
//! [`attendance`] (the attendance domain and audit trails). See `docs/ARCHITECTURE.md`.

pub use coffre_attendance as attendance;
pub use coffre_clock as clock;
pub use coffre_log as log;
