//! The attendance domain: sessions (séances), roll calls, signatures and audit trails.

pub mod events;
pub mod identity;
pub mod qr;
pub mod query;
pub mod signatures;
pub mod state;
