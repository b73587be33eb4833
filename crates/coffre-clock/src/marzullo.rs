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

/// How many of `intervals` contain instant `at` (intervals are closed).
fn depth(intervals: &[(u64, u64)], at: u64) -> usize {
    intervals.iter().filter(|&&(e, l)| e <= at && at <= l).count()
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
    // Depth only rises at a start and only falls after an end, so the extreme instants with
    // enough depth are a start (lowest) and an end (highest).
    let earliest_ns =
        intervals.iter().map(|&(e, _)| e).filter(|&e| depth(intervals, e) >= quorum).min()?;
    let latest_ns =
        intervals.iter().map(|&(_, l)| l).filter(|&l| depth(intervals, l) >= quorum).max()?;
    // Within one interval, the deepest instant is one of the starts it contains.
    let truechimers = intervals
        .iter()
        .map(|&(e, l)| {
            intervals
                .iter()
                .map(|&(s, _)| s.max(e))
                .any(|s| s <= l && depth(intervals, s) >= quorum)
        })
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
    fn touching_intervals_count_as_overlapping() {
        let r = intersect(&[(0, 5), (5, 9)], 2).unwrap();
        assert_eq!((r.earliest_ns, r.latest_ns), (5, 5));
    }
}
