//! A source's reading: an interval of UTC that contains the true time at one instant of the
//! local monotonic clock, and how it widens when carried to another instant.

use std::time::Duration;

/// Nanoseconds in a second.
const NS_PER_S: u64 = 1_000_000_000;

/// One reading of a time source: at monotonic instant `mono_ns`, the true UTC time was within
/// `earliest_ns..=latest_ns` (ns since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    mono_ns: u64,
    earliest_ns: u64,
    latest_ns: u64,
}

impl Sample {
    /// A sample; `None` if `earliest_ns > latest_ns`.
    pub const fn new(mono_ns: u64, earliest_ns: u64, latest_ns: u64) -> Option<Sample> {
        if earliest_ns > latest_ns {
            None
        } else {
            Some(Sample { mono_ns, earliest_ns, latest_ns })
        }
    }

    /// A sample centred on `utc_ns` with half-width `uncertainty` (saturating at the u64 range).
    pub fn centred(mono_ns: u64, utc_ns: u64, uncertainty: Duration) -> Sample {
        let half = duration_ns(uncertainty);
        Sample {
            mono_ns,
            earliest_ns: utc_ns.saturating_sub(half),
            latest_ns: utc_ns.saturating_add(half),
        }
    }

    /// The monotonic instant the interval refers to.
    pub const fn mono_ns(&self) -> u64 {
        self.mono_ns
    }

    /// Earliest possible UTC time at [`Sample::mono_ns`].
    pub const fn earliest_ns(&self) -> u64 {
        self.earliest_ns
    }

    /// Latest possible UTC time at [`Sample::mono_ns`].
    pub const fn latest_ns(&self) -> u64 {
        self.latest_ns
    }

    /// Centre of the interval.
    pub const fn midpoint_ns(&self) -> u64 {
        self.earliest_ns + (self.latest_ns - self.earliest_ns) / 2
    }

    /// Half the interval's width.
    pub const fn uncertainty_ns(&self) -> u64 {
        (self.latest_ns - self.earliest_ns).div_ceil(2)
    }

    /// The interval carried to monotonic instant `to_mono_ns`: shifted by the elapsed
    /// monotonic time and widened on both sides by `elapsed × drift_ppm`, because the local
    /// oscillator may run fast or slow by up to that rate.
    pub fn at(&self, to_mono_ns: u64, drift_ppm: u32) -> Sample {
        let elapsed = i128::from(to_mono_ns) - i128::from(self.mono_ns);
        // Round the widening up so the bound stays honest.
        let widen = (elapsed.abs() * i128::from(drift_ppm) + 999_999) / 1_000_000;
        let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
        Sample {
            mono_ns: to_mono_ns,
            earliest_ns: clamp(i128::from(self.earliest_ns) + elapsed - widen),
            latest_ns: clamp(i128::from(self.latest_ns) + elapsed + widen),
        }
    }
}

/// `d` in nanoseconds, saturating.
pub(crate) fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The window of dates a source may plausibly report: not before a floor (the software's
/// release date: no record can be dated before the code that writes it existed) and not more
/// than a horizon beyond it. Catches GPS week-number rollover (a receiver 1024 weeks in the
/// past) and servers reporting the NTP era boundary or garbage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateWindow {
    /// No plausible time is before this, UTC ns since the Unix epoch.
    pub floor_ns: u64,
    /// No plausible time is after `floor_ns + horizon`.
    pub horizon: Duration,
}

impl DateWindow {
    /// 2026-01-01T00:00:00Z: a date before this crate's first release.
    pub const DEFAULT_FLOOR_NS: u64 = 1_767_225_600 * NS_PER_S;

    /// Twenty years (of 365.25 days).
    pub const DEFAULT_HORIZON: Duration = Duration::from_secs(20 * 36_525 * 864);

    /// The latest plausible time.
    pub fn ceiling_ns(&self) -> u64 {
        self.floor_ns.saturating_add(duration_ns(self.horizon))
    }

    /// Whether the whole interval `earliest_ns..=latest_ns` lies in the window.
    pub fn contains(&self, earliest_ns: u64, latest_ns: u64) -> bool {
        earliest_ns >= self.floor_ns && latest_ns <= self.ceiling_ns()
    }
}

impl Default for DateWindow {
    fn default() -> Self {
        DateWindow { floor_ns: Self::DEFAULT_FLOOR_NS, horizon: Self::DEFAULT_HORIZON }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrying_a_sample_widens_it_by_the_drift_bound() {
        let s = Sample::new(1_000, 10_000_000_000, 10_000_000_100).unwrap();
        let later = s.at(1_000 + NS_PER_S, 50);
        assert_eq!(later.earliest_ns(), 10_000_000_000 + NS_PER_S - 50_000);
        assert_eq!(later.latest_ns(), 10_000_000_100 + NS_PER_S + 50_000);
        let earlier = s.at(0, 50);
        assert_eq!(earlier.earliest_ns(), 10_000_000_000 - 1_000 - 1);
        assert_eq!(earlier.latest_ns(), 10_000_000_100 - 1_000 + 1);
    }

    #[test]
    fn date_window_rejects_rollover_and_far_future() {
        let w = DateWindow::default();
        let week_rollover = w.floor_ns - 1024 * 7 * 86_400 * NS_PER_S;
        assert!(!w.contains(week_rollover, week_rollover));
        assert!(w.contains(w.floor_ns + 1, w.floor_ns + 2));
        assert!(!w.contains(w.floor_ns, w.ceiling_ns() + 1));
    }
}
