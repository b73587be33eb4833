//! The guard that poisons a log or tree store when a piece of work that leaves state out of
//! step with the files does not finish: an early return with an error, or a panic unwinding
//! through it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Sets its flag when dropped armed; [`PoisonUnlessDisarmed::disarm`] at the end of the
/// guarded work. Because only an armed drop poisons, work that completes while its thread
/// already unwinds from an earlier panic (an append from a destructor) poisons nothing.
pub(crate) struct PoisonUnlessDisarmed<'a>(Option<&'a AtomicBool>);

impl PoisonUnlessDisarmed<'_> {
    /// Arms the guard over `poisoned`.
    pub(crate) fn arm(poisoned: &AtomicBool) -> PoisonUnlessDisarmed<'_> {
        PoisonUnlessDisarmed(Some(poisoned))
    }

    /// The guarded work finished: dropping no longer poisons.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for PoisonUnlessDisarmed<'_> {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(true, Ordering::Release);
        }
    }
}
