//! The local monotonic clock every sample is taken against, so samples taken at different
//! moments can be compared, plus a fake one that a deterministic simulation advances by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A clock that never goes backwards and is not stepped by anyone: nanoseconds since an
/// arbitrary origin. Its rate error against true time is bounded by the arbiter's `drift_ppm`.
pub trait MonotonicClock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since this clock's origin.
    fn now_ns(&self) -> u64;
}

impl<M: MonotonicClock + ?Sized> MonotonicClock for Arc<M> {
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

/// The machine's monotonic clock. On Linux it reads `CLOCK_MONOTONIC_RAW`, the undisciplined
/// oscillator: `CLOCK_MONOTONIC` (std's `Instant`) is slewed by NTP daemons by up to 500 ppm,
/// which would break a 50 ppm drift bound. Elsewhere it falls back to `Instant`.
#[derive(Debug)]
pub struct SystemMonotonic {
    #[cfg(not(target_os = "linux"))]
    origin: std::time::Instant,
}

impl SystemMonotonic {
    /// The machine's monotonic clock.
    pub fn new() -> SystemMonotonic {
        SystemMonotonic {
            #[cfg(not(target_os = "linux"))]
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for SystemMonotonic {
    fn default() -> Self {
        SystemMonotonic::new()
    }
}

impl MonotonicClock for SystemMonotonic {
    #[cfg(target_os = "linux")]
    fn now_ns(&self) -> u64 {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicRaw);
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }

    #[cfg(not(target_os = "linux"))]
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A monotonic clock that only moves when told to. Clones share the same reading.
///
/// ```
/// use coffre_clock::{FakeMonotonic, MonotonicClock};
/// use std::time::Duration;
/// let clock = FakeMonotonic::new(5);
/// let view = clock.clone();
/// clock.advance(Duration::from_nanos(10));
/// assert_eq!(view.now_ns(), 15);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeMonotonic {
    ns: Arc<AtomicU64>,
}

impl FakeMonotonic {
    /// A fake clock reading `start_ns`.
    pub fn new(start_ns: u64) -> FakeMonotonic {
        FakeMonotonic { ns: Arc::new(AtomicU64::new(start_ns)) }
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by_ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .ns
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(v.saturating_add(by_ns)));
    }
}

impl MonotonicClock for FakeMonotonic {
    fn now_ns(&self) -> u64 {
        self.ns.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_monotonic_never_goes_backwards() {
        let clock = SystemMonotonic::new();
        let mut last = clock.now_ns();
        for _ in 0..1000 {
            let now = clock.now_ns();
            assert!(now >= last);
            last = now;
        }
    }
}
