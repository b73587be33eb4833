//! The local quartz oscillator as a time source: the monotonic clock disciplined by the last
//! agreed interval, honest about how far it may have drifted since.

use crate::Sample;

/// Carries the last agreed time forward on the monotonic clock. Its interval widens by
/// `drift_ppm` of the elapsed time on each side, so it can bridge an outage (holdover) for as
/// long as that width stays acceptable. While it does, the arbiter lets it vote as a
/// tie-breaker, never alone: it only remembers what the external sources agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quartz {
    drift_ppm: u32,
    anchor: Option<Sample>,
}

impl Quartz {
    /// An undisciplined quartz with rate error at most `drift_ppm` parts per million.
    pub const fn new(drift_ppm: u32) -> Quartz {
        Quartz { drift_ppm, anchor: None }
    }

    /// Sets the quartz to an agreed interval.
    pub fn discipline(&mut self, agreed: Sample) {
        self.anchor = Some(agreed);
    }

    /// The last agreed interval, if any.
    pub const fn anchor(&self) -> Option<Sample> {
        self.anchor
    }

    /// The drift bound, ppm.
    pub const fn drift_ppm(&self) -> u32 {
        self.drift_ppm
    }

    /// The interval the quartz defends at monotonic instant `mono_ns`; `None` before the
    /// first discipline.
    pub fn at(&self, mono_ns: u64) -> Option<Sample> {
        self.anchor.map(|a| a.at(mono_ns, self.drift_ppm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartz_uncertainty_grows_with_elapsed_time() {
        let mut q = Quartz::new(50);
        assert_eq!(q.at(0), None);
        q.discipline(Sample::new(0, 1_000_000_000_000, 1_000_000_000_000).unwrap());
        let hour = 3_600_000_000_000;
        let later = q.at(hour).unwrap();
        assert_eq!(later.midpoint_ns(), 1_000_000_000_000 + hour);
        assert_eq!(later.uncertainty_ns(), 180_000_000);
    }
}
