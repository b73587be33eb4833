//! The attendance domain: sessions (séances), roll calls, signatures and audit trails.
//!
//! Each module has one job (all pure except [`vault`]):
//! - [`identity`]: establishments, students (INE + birth date), teachers, sessions, dates;
//! - [`events`]: the log records and their canonical, versioned, bounded encoding;
//! - [`signatures`]: what signers sign (Ed25519) and single/batch verification;
//! - [`qr`]: rotating and fixed roll-call challenges (keyed BLAKE3);
//! - [`state`]: the projection rebuilt from the log, ingest rules, idempotency,
//!   `prepare`/`commit` for the vault;
//! - [`query`]: attendance sheets, student histories, session listings;
//! - [`vault`]: the vault over a `coffre_log::Log` (replay on open, ingest, receipts).
//!
//! See docs/ATTENDANCE.md.

pub mod demo;
pub mod events;
pub mod identity;
pub mod qr;
pub mod query;
pub mod signatures;
pub mod state;
pub mod vault;

pub use vault::{Vault, VaultError, VaultOptions};
