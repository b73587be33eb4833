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
//! - [`vault`]: the vault over a `coffre_log::Log` (replay on open, ingest, receipts);
//! - [`audit`]: audit bundles for funders, exported by the vault, verified offline;
//! - [`demo`]: a simulated school day and year (examples, tests, benchmarks).
//!
//! See docs/ATTENDANCE.md.

pub mod audit;
pub mod demo;
pub mod events;
pub mod identity;
pub mod qr;
pub mod query;
pub mod signatures;
pub mod state;
pub mod vault;

pub use audit::{verify_audit, AuditBundle, AuditError, AuditReport, AuditRequest};
pub use vault::{Vault, VaultError, VaultOptions};
