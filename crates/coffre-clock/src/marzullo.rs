//! Marzullo's intersection, as NTP's clock-select uses it: the span of instants that at least
//! a quorum of intervals contain, and which intervals take part in it.

/// The outcome of an intersection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intersection {
    /// Lowest instant contained in at least `quorum` intervals.
    pub earliest_ns: u64,
    /// Highest instant contained in at least `quorum` intervals.
    pub latest_ns: u64,
    /// For each input interval, whether it contains some instant that a quorum contains
    /// (a truechimer); the others are falsetickers.
    pub truechimers: Vec<bool>,
}

/// Intersects closed intervals `earliest..=latest`. Returns `None` when no instant lies in at
/// least `quorum` of them (or `quorum` is 0).
///
/// The result spans from the lowest to the highest instant with depth ≥ `quorum`, which may
/// cover several disjoint majority regions: if the honest intervals all contain the true time
/// and number at least `quorum`, the true time has depth ≥ `quorum`, so it lies in the span.
/// O(n²), for the handful of sources an arbiter has.
///
/// ```
/// use coffre_clock::marzullo::intersect;
/// let r = intersect(&[(10, 20), (15, 25), (100, 110)], 2).unwrap();
/// assert_eq!((r.earliest_ns, r.latest_ns), (15, 20));
/// assert_eq!(r.truechimers, vec![true, true, false]);
/// ```
pub fn intersect(intervals: &[(u64, u64)], quorum: usize) -> Option<Intersection> {
    if quorum == 0 {
        return None;
    }
    let marked = vec![true; intervals.len()];
    intersect_by(intervals, &marked, |depth, _| depth >= quorum)
}

/// The general form: an instant *qualifies* when `qualifies(depth, marked_depth)` holds, where
/// `depth` counts the intervals containing it and `marked_depth` those among them whose
/// `marked` flag is set (the arbiter marks external sources, to require that the quartz never
/// forms a majority alone). Returns the span from the lowest to the highest qualifying instant
/// and, per interval, whether it contains a qualifying instant; `None` if none qualifies.
///
/// `qualifies` must be monotone (true stays true when either count grows): then the
/// qualifying instants form closed runs that begin at some interval's start and end at some
/// interval's end, so only those instants need to be examined. `marked` shorter than
/// `intervals` counts the missing flags as unset.
///
/// ```
/// use coffre_clock::marzullo::intersect_by;
/// // Two marked intervals disagree; the unmarked one sides with the first.
/// let iv = [(10, 20), (100, 110), (12, 30)];
/// let r = intersect_by(&iv, &[true, true, false], |all, marked| all >= 2 && marked >= 1)
///     .unwrap();
/// assert_eq!((r.earliest_ns, r.latest_ns), (12, 20));
/// assert_eq!(r.truechimers, vec![true, false, true]);
/// ```
pub fn intersect_by(
    intervals: &[(u64, u64)],
    marked: &[bool],
    qualifies: impl Fn(usize, usize) -> bool,
) -> Option<Intersection> {
    let ok = |at: u64| {
        let (mut all, mut flagged) = (0, 0);
        for (i, &(e, l)) in intervals.iter().enumerate() {
            if e <= at && at <= l {
                all += 1;
                if marked.get(i).copied().unwrap_or(false) {
                    flagged += 1;
                }
            }
        }
        qualifies(all, flagged)
    };
    let earliest_ns = intervals.iter().map(|&(e, _)| e).filter(|&e| ok(e)).min()?;
    let latest_ns = intervals.iter().map(|&(_, l)| l).filter(|&l| ok(l)).max()?;
    // A qualifying run meeting an interval begins at a start inside it, or covers its own
    // start: either way a start clamped to the interval qualifies.
    let truechimers = intervals
        .iter()
        .map(|&(e, l)| intervals.iter().map(|&(s, _)| s.max(e)).any(|s| s <= l && ok(s)))
        .collect();
    Some(Intersection { earliest_ns, latest_ns, truechimers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liar_outside_the_majority_is_a_falseticker() {
        let r = intersect(&[(0, 10), (5, 15), (1_000, 1_010)], 2).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (5, 10));
        assert_eq!(r.truechimers, vec![true, true, false]);
    }

    #[test]
    fn no_quorum_means_no_intersection() {
        assert_eq!(intersect(&[(0, 1), (5, 6), (10, 11)], 2), None);
        assert_eq!(intersect(&[(0, 1)], 0), None);
        assert_eq!(intersect(&[], 1), None);
    }

    #[test]
    fn two_disjoint_majority_regions_give_their_hull() {
        // A wide interval meets each narrow one: both regions have depth 2.
        let r = intersect(&[(0, 10), (0, 1), (9, 10)], 2).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (0, 10));
        assert_eq!(r.truechimers, vec![true, true, true]);
    }

    #[test]
    fn unmarked_interval_alone_never_qualifies() {
        let rule = |all: usize, marked: usize| all >= 1 && marked >= 1;
        assert_eq!(intersect_by(&[(0, 10)], &[false], rule), None);
        let r = intersect_by(&[(0, 10), (5, 20)], &[false, true], rule).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (5, 20));
        assert_eq!(r.truechimers, vec![true, true]);
    }

    #[test]
    fn either_of_two_rules_may_qualify_an_instant() {
        // Marked majority (2 of 3 marked) at 0..=10, or all-voter majority (3 of 4) with the
        // unmarked one at 100..=105: both regions count, their hull is the span.
        let iv = [(0, 10), (0, 10), (100, 110), (95, 105)];
        let marked = [true, true, true, false];
        let r = intersect_by(&iv, &marked, |all, m| m >= 2 || (all >= 3 && m >= 1)).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (0, 10));
        assert_eq!(r.truechimers, vec![true, true, false, false]);
    }

    #[test]
    fn touching_intervals_count_as_overlapping() {
        let r = intersect(&[(0, 5), (5, 9)], 2).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (5, 5));
    }
}
