//! The attendance domain: sessions (séances), roll calls, signatures and audit trails.

pub mod identity;
