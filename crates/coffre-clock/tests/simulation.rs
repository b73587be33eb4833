//! Deterministic simulation of the arbiter: a fake monotonic clock that runs 30 ppm fast
//! against true time, and scripted sources that are honest, lie, fall silent or jitter. The
//! arbiter's built-in quartz votes alongside them once disciplined.

use coffre_clock::{
    Arbiter, ArbiterConfig, Clock, ClockError, ClockEvent, ClockEventKind, FakeMonotonic,
    MonotonicClock, ScriptedSource, Source, SourceError, SourceOutcome, TimeStatus, Timestamp,
};
use proptest::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// True UTC when the fake monotonic clock reads 0.
const T0_NS: u64 = 1_796_028_639_000_000_000;
/// The simulated oscillator runs this fast (within the arbiter's 50 ppm bound).
const OSCILLATOR_ERROR_PPM: u64 = 30;
const MINUTE: Duration = Duration::from_secs(60);
const MS: u64 = 1_000_000;

/// True UTC at monotonic reading `mono_ns`.
fn truth(mono_ns: u64) -> u64 {
    T0_NS + mono_ns - mono_ns * OSCILLATOR_ERROR_PPM / 1_000_000
}

/// How a scripted source behaves; tests switch it mid-run.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Reports truth ± `half_width_ns`.
    Honest,
    /// Reports truth + `offset_ns` ± `half_width_ns`.
    Offset(i64),
    /// Gives no answer.
    Silent,
    /// Reports truth + noise in ±`amplitude_ns`, claiming only ± `half_width_ns`.
    Jitter { amplitude_ns: u64, seed: u64 },
}

#[derive(Clone)]
struct Knob(Arc<Mutex<Mode>>);

impl Knob {
    fn set(&self, mode: Mode) {
        *self.0.lock().unwrap() = mode;
    }
}

fn scripted(kind: Source, name: &str, half_width_ns: u64) -> (ScriptedSource, Knob) {
    let knob = Knob(Arc::new(Mutex::new(Mode::Honest)));
    let mode = knob.clone();
    let source = ScriptedSource::new(kind, name, move |m| {
        let t = truth(m);
        let mut mode = mode.0.lock().unwrap();
        let centre = match *mode {
            Mode::Honest => t,
            Mode::Offset(off) => t.checked_add_signed(off).unwrap(),
            Mode::Silent => return Err(SourceError::Silent),
            Mode::Jitter { amplitude_ns, ref mut seed } => {
                *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let noise = (*seed >> 11) % (2 * amplitude_ns + 1);
                t + noise - amplitude_ns
            }
        };
        Ok((centre - half_width_ns, centre + half_width_ns))
    });
    (source, knob)
}

struct Sim {
    mono: FakeMonotonic,
    arbiter: Arbiter,
    knobs: Vec<Knob>,
    last: Option<Timestamp>,
}

impl Sim {
    /// GPS (±5 ms) and two NTP servers (±20 ms), all honest, polled every minute at most.
    fn three_sources() -> Sim {
        Sim::with(&[
            (Source::Gps, "gps", 5 * MS),
            (Source::Ntp, "ntp a", 20 * MS),
            (Source::Ntp, "ntp b", 20 * MS),
        ])
    }

    fn with(specs: &[(Source, &str, u64)]) -> Sim {
        let mono = FakeMonotonic::new(1_000_000_000);
        let mut arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()));
        let mut knobs = Vec::new();
        for &(kind, name, width) in specs {
            let (source, knob) = scripted(kind, name, width);
            arbiter = arbiter.with_source(source, Duration::ZERO);
            knobs.push(knob);
        }
        Sim { mono, arbiter, knobs, last: None }
    }

    /// Advances time, polls, stamps, and checks the stamp is monotonic and honest.
    fn step(&mut self, by: Duration) -> Result<Timestamp, ClockError> {
        self.mono.advance(by);
        self.arbiter.poll();
        let stamp = self.arbiter.now()?;
        if let Some(last) = self.last {
            assert!(stamp.earliest_ns() >= last.earliest_ns(), "earliest went back");
            assert!(stamp.latest_ns() >= last.latest_ns(), "latest went back");
        }
        self.last = Some(stamp);
        Ok(stamp)
    }

    fn contains_truth(&self, stamp: &Timestamp) -> bool {
        let t = truth(self.mono.now_ns());
        stamp.earliest_ns() <= t && t <= stamp.latest_ns()
    }

    fn outcome(&self, name: &str) -> SourceOutcome {
        self.arbiter.sources().into_iter().find(|s| s.name == name).unwrap().outcome
    }

    fn events(&self) -> Vec<ClockEventKind> {
        self.arbiter.events().into_iter().map(|e: ClockEvent| e.kind).collect()
    }
}

#[test]
fn no_stamp_before_any_agreement() {
    let sim = Sim::three_sources();
    assert!(matches!(sim.arbiter.now(), Err(ClockError::Unsynchronized { .. })));
}

#[test]
fn all_sources_agreeing_give_a_synchronized_stamp_containing_true_time() {
    let mut sim = Sim::three_sources();
    for _ in 0..10 {
        let stamp = sim.step(MINUTE).unwrap();
        assert_eq!(stamp.status(), TimeStatus::Synchronized);
        assert!(sim.contains_truth(&stamp));
        assert!(stamp.agreed().contains(Source::Gps) && stamp.agreed().contains(Source::Ntp));
        assert!(stamp.rejected().is_empty());
        // Any two agreeing sources are a majority, so the stamp spans what any two could
        // defend (the NTP pair's ±20 ms), not just the GPS's ±5 ms: a GPS lying within the
        // NTP bounds must not be able to move the stamp off the truth.
        assert!(stamp.uncertainty_ns() <= 21 * MS, "{}", stamp.uncertainty_ns());
    }
    let detailed = sim.arbiter.stamp().unwrap();
    // Three external sources and the disciplined quartz: 3 of 4.
    assert_eq!((detailed.quorum(), detailed.voters()), (3, 4));
    assert!(detailed.sources().iter().all(|s| matches!(s.outcome, SourceOutcome::Agreed(_))));
    assert_eq!(detailed.sources().last().unwrap().kind, Source::Quartz);
    assert!(detailed.timestamp().agreed().contains(Source::Quartz));
    assert_eq!(Timestamp::from(&detailed).status(), TimeStatus::Synchronized);
}

#[test]
fn a_source_lying_by_minutes_is_rejected_as_falseticker() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    sim.knobs[0].set(Mode::Offset(5 * 60 * 1_000 * MS as i64));
    for _ in 0..5 {
        let stamp = sim.step(MINUTE).unwrap();
        assert_eq!(stamp.status(), TimeStatus::Synchronized);
        assert!(sim.contains_truth(&stamp));
        assert!(stamp.rejected().contains(Source::Gps));
        assert!(!stamp.agreed().contains(Source::Gps));
        assert!(stamp.agreed().contains(Source::Ntp));
    }
    assert!(matches!(sim.outcome("gps"), SourceOutcome::Falseticker(_)));
    let reports = sim
        .events()
        .into_iter()
        .filter(|e| matches!(e, ClockEventKind::Falseticker { source, .. } if source == "gps"))
        .count();
    assert_eq!(reports, 1, "a falseticker is reported once, when it starts lying");
}

#[test]
fn one_silent_source_leaves_a_majority() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    sim.knobs[1].set(Mode::Silent);
    let stamp = sim.step(MINUTE).unwrap();
    assert_eq!(stamp.status(), TimeStatus::Synchronized);
    assert!(sim.contains_truth(&stamp));
    assert_eq!(sim.outcome("ntp a"), SourceOutcome::Faulty(SourceError::Silent));
    assert!(sim.events().contains(&ClockEventKind::SourceFault {
        source: "ntp a".into(),
        error: SourceError::Silent
    }));
    sim.knobs[1].set(Mode::Honest);
    sim.step(MINUTE).unwrap();
    assert!(sim.events().contains(&ClockEventKind::SourceRecovered { source: "ntp a".into() }));
}

#[test]
fn two_silent_sources_mean_holdover_then_refusal_once_the_bound_passes_one_second() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    sim.knobs[0].set(Mode::Silent);
    sim.knobs[2].set(Mode::Silent);
    let mut holdover_steps = 0;
    let refused = loop {
        match sim.step(Duration::from_secs(600)) {
            Ok(stamp) => {
                assert_eq!(stamp.status(), TimeStatus::Holdover);
                assert_eq!(stamp.agreed(), coffre_clock::SourceSet::only(Source::Quartz));
                assert!(sim.contains_truth(&stamp), "holdover bound must cover the drift");
                assert!(stamp.uncertainty_ns() <= 1_000 * MS);
                holdover_steps += 1;
            }
            Err(e) => break e,
        }
        assert!(holdover_steps < 100, "holdover must end");
    };
    // 50 ppm of drift reaches 1 s after about 20 000 s: 33 steps of 600 s.
    assert!((30..=34).contains(&holdover_steps), "{holdover_steps}");
    assert!(matches!(refused, ClockError::Unsynchronized { .. }));
    let statuses: Vec<_> = sim
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ClockEventKind::StatusChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [TimeStatus::Synchronized, TimeStatus::Holdover, TimeStatus::Unsynchronized]
    );
    // Sources return: synchronized again.
    sim.knobs[0].set(Mode::Honest);
    sim.knobs[2].set(Mode::Honest);
    let stamp = sim.step(MINUTE).unwrap();
    assert_eq!(stamp.status(), TimeStatus::Synchronized);
    assert!(sim.contains_truth(&stamp));
}

#[test]
fn system_clock_stepping_back_an_hour_is_outvoted() {
    let mut sim = Sim::with(&[
        (Source::Gps, "gps", 5 * MS),
        (Source::Ntp, "ntp", 20 * MS),
        (Source::System, "system clock", 100 * MS),
    ]);
    sim.step(MINUTE).unwrap();
    sim.knobs[2].set(Mode::Offset(-3_600_000 * MS as i64));
    for _ in 0..3 {
        let stamp = sim.step(MINUTE).unwrap();
        assert_eq!(stamp.status(), TimeStatus::Synchronized);
        assert!(sim.contains_truth(&stamp));
        assert!(stamp.rejected().contains(Source::System));
    }
    assert!(!sim.events().iter().any(|e| matches!(e, ClockEventKind::StepBack { .. })));
}

#[test]
fn every_source_stepping_back_is_reported_and_never_applied_backwards() {
    let mut sim = Sim::three_sources();
    let before = sim.step(MINUTE).unwrap();
    for knob in &sim.knobs {
        knob.set(Mode::Offset(-3_600_000 * MS as i64));
    }
    let after = sim.step(MINUTE).unwrap();
    assert!(after.earliest_ns() >= before.earliest_ns());
    assert!(sim.events().iter().any(|e| matches!(e, ClockEventKind::StepBack { .. })));
    assert!(sim.arbiter.stamp().unwrap().was_clamped());
}

#[test]
fn a_jittery_source_never_breaks_the_stamp() {
    let mut sim = Sim::three_sources();
    // Noise of ±300 ms on a source claiming ±5 ms: sometimes a falseticker, never harmful.
    sim.knobs[0].set(Mode::Jitter { amplitude_ns: 300 * MS, seed: 7 });
    let mut falseticker_polls = 0;
    for _ in 0..200 {
        let stamp = sim.step(Duration::from_secs(17)).unwrap();
        assert_eq!(stamp.status(), TimeStatus::Synchronized);
        assert!(sim.contains_truth(&stamp));
        if matches!(sim.outcome("gps"), SourceOutcome::Falseticker(_)) {
            falseticker_polls += 1;
        }
    }
    assert!(falseticker_polls > 100, "jitter far beyond its bound is mostly rejected");
}

#[test]
fn live_sources_disagreeing_without_majority_refuse_to_stamp() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    sim.knobs[0].set(Mode::Offset(60_000 * MS as i64));
    sim.knobs[1].set(Mode::Offset(-60_000 * MS as i64));
    // Only ntp b and the quartz still agree: 2 of 4 voters, no majority. Holdover would
    // trust the quartz alone against live sources: refused instead.
    let refused = sim.step(MINUTE).unwrap_err();
    let ClockError::Unsynchronized { reason } = refused else { panic!("{refused:?}") };
    assert!(reason.contains("disagree") && reason.contains("gps") && reason.contains("ntp a"));
    assert!(matches!(sim.outcome("ntp b"), SourceOutcome::NoMajority(_)));
    assert!(sim.events().iter().any(|e| matches!(
        e,
        ClockEventKind::NoMajority { live: 4, quorum: 3, disagreeing: true }
    )));
    assert!(matches!(sim.arbiter.stamp(), Err(ClockError::Unsynchronized { .. })));
    // Agreement returns: stamps again, never below the last one.
    sim.knobs[0].set(Mode::Honest);
    let stamp = sim.step(MINUTE).unwrap();
    assert_eq!(stamp.status(), TimeStatus::Synchronized);
    assert!(sim.contains_truth(&stamp));
}

/// The configuration: one GPS, one NTP server, and the quartz.
fn gps_ntp() -> Sim {
    Sim::with(&[(Source::Gps, "gps", 5 * MS), (Source::Ntp, "ntp", 20 * MS)])
}

#[test]
fn gps_and_ntp_with_quartz_reject_a_gps_lying_by_ten_minutes() {
    let mut sim = gps_ntp();
    let first = sim.step(MINUTE).unwrap();
    assert_eq!(first.status(), TimeStatus::Synchronized);
    // Before the first agreement the quartz cannot vote: both external sources had to agree.
    assert_eq!(sim.arbiter.stamp().unwrap().voters(), 2);
    sim.step(MINUTE).unwrap();
    assert_eq!((sim.arbiter.quorum(), sim.arbiter.stamp().unwrap().voters()), (2, 3));
    sim.knobs[0].set(Mode::Offset(-10 * 60_000 * MS as i64));
    for _ in 0..20 {
        let stamp = sim.step(MINUTE).unwrap();
        assert_eq!(stamp.status(), TimeStatus::Synchronized);
        assert!(sim.contains_truth(&stamp));
        assert!(stamp.rejected().contains(Source::Gps) && !stamp.agreed().contains(Source::Gps));
        assert!(stamp.agreed().contains(Source::Ntp) && stamp.agreed().contains(Source::Quartz));
        // The stamp is what NTP and the quartz both defend: no wider than NTP's ±20 ms.
        assert!(stamp.uncertainty_ns() <= 20 * MS, "{}", stamp.uncertainty_ns());
    }
    assert!(matches!(sim.outcome("gps"), SourceOutcome::Falseticker(_)));
    assert!(matches!(sim.outcome("quartz"), SourceOutcome::Agreed(_)));
    let flagged = sim
        .events()
        .into_iter()
        .filter(|e| matches!(e, ClockEventKind::Falseticker { source, .. } if source == "gps"))
        .count();
    assert_eq!(flagged, 1);
}

#[test]
fn gps_and_ntp_disagreeing_before_the_quartz_is_disciplined_refuse_to_stamp() {
    let mut sim = gps_ntp();
    sim.knobs[0].set(Mode::Offset(-10 * 60_000 * MS as i64));
    let refused = sim.step(MINUTE).unwrap_err();
    let ClockError::Unsynchronized { reason } = refused else { panic!("{refused:?}") };
    assert!(reason.contains("disagree") && reason.contains("gps") && reason.contains("ntp"));
    assert!(!reason.contains("quartz"), "the quartz has nothing to say yet: {reason}");
    assert_eq!(sim.outcome("quartz"), SourceOutcome::NotPolled);
    assert!(matches!(sim.outcome("gps"), SourceOutcome::NoMajority(_)));
    // Still no stamp later: the quartz is never disciplined by a minority.
    assert!(sim.step(MINUTE).is_err());
}

#[test]
fn agreeing_gps_and_ntp_outvote_the_quartz_and_step_it() {
    // The oscillator is much worse than the 50 ppm the arbiter assumes (a broken crystal),
    // so the quartz drifts out of its own bound: the external sources win and reset it.
    let mono = FakeMonotonic::new(0);
    let broken = ArbiterConfig { drift_ppm: 1, ..ArbiterConfig::default() };
    let honest = |m: u64| {
        let t = T0_NS + m - m / 1_000; // true time runs 1000 ppm slower than the oscillator
        Ok((t - MS, t + MS))
    };
    let arbiter = Arbiter::new(broken, Arc::new(mono.clone()))
        .with_source(ScriptedSource::new(Source::Gps, "gps", honest), Duration::ZERO)
        .with_source(ScriptedSource::new(Source::Ntp, "ntp", honest), Duration::ZERO);
    arbiter.poll();
    mono.advance(Duration::from_secs(60));
    arbiter.poll();
    let stamp = arbiter.stamp().unwrap();
    assert_eq!(stamp.status(), TimeStatus::Synchronized);
    assert!(stamp.timestamp().rejected().contains(Source::Quartz));
    assert!(stamp.timestamp().agreed().contains(Source::Gps));
    let step = arbiter.events().into_iter().find_map(|e| match e.kind {
        ClockEventKind::QuartzStep { earliest_ns, agreed_latest_ns, .. } => {
            Some((earliest_ns, agreed_latest_ns))
        }
        _ => None,
    });
    // The oscillator runs fast, so the quartz is ahead of the agreed time.
    let (quartz_earliest, agreed_latest) = step.expect("quartz step reported");
    assert!(quartz_earliest > agreed_latest);
    // Re-disciplined: at the next vote it agrees again.
    mono.advance(Duration::from_secs(1));
    arbiter.poll();
    let quartz = arbiter.sources().into_iter().find(|s| s.kind == Source::Quartz).unwrap();
    assert!(matches!(quartz.outcome, SourceOutcome::Agreed(_)), "{quartz:?}");
}

#[test]
fn one_source_and_the_quartz_walk_time_no_further_than_holdover_then_refuse() {
    // NTP is lost and the GPS walks away at 45 ppm with a tight interval. GPS + quartz are
    // 2 of 3 voters, so stamps stay Synchronized on the GPS; but the quartz is carried from the
    // last agreement the external sources reached alone, so every stamp stays inside the
    // holdover interval, and once that passes 1 s the quartz stops voting: refusal.
    let mut sim = gps_ntp();
    sim.step(MINUTE).unwrap();
    sim.knobs[1].set(Mode::Silent);
    let start = sim.mono.now_ns();
    let mut synchronized_steps = 0;
    let refused = loop {
        let walked = (sim.mono.now_ns() + 600_000 * MS - start) / 1_000_000 * 45;
        sim.knobs[0].set(Mode::Offset(walked as i64));
        match sim.step(Duration::from_secs(600)) {
            Ok(stamp) => {
                assert_eq!(stamp.status(), TimeStatus::Synchronized);
                let t = truth(sim.mono.now_ns());
                let off = stamp.midpoint_ns().abs_diff(t);
                assert!(off <= 2_000 * MS, "walked {off} ns: beyond the holdover interval");
                synchronized_steps += 1;
            }
            Err(e) => break e,
        }
        assert!(synchronized_steps < 100, "the walk must end");
    };
    // The same ~5.5 hours that holdover alone would allow.
    assert!((30..=34).contains(&synchronized_steps), "{synchronized_steps}");
    assert!(matches!(refused, ClockError::Unsynchronized { .. }), "{refused:?}");
    assert!(matches!(sim.outcome("quartz"), SourceOutcome::Stale(_)));
}

#[test]
fn floor_keeps_stamps_at_or_after_the_log_head() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    let head = truth(sim.mono.now_ns()) + 10_000 * MS;
    let floor = Timestamp::new(
        head,
        head + MS,
        Default::default(),
        Default::default(),
        TimeStatus::Synchronized,
    )
    .unwrap();
    sim.arbiter.set_floor(floor);
    let stamp = sim.arbiter.now().unwrap();
    assert!(stamp.earliest_ns() >= head && stamp.latest_ns() >= head + MS);
    assert!(sim.events().iter().any(|e| matches!(e, ClockEventKind::FloorRaised { .. })));
}

#[test]
fn listener_sees_events_as_they_happen() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mono = FakeMonotonic::new(0);
    let (gps, _) = scripted(Source::Gps, "gps", MS);
    let arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()))
        .with_source(gps, Duration::ZERO)
        .with_listener(Box::new(move |e| sink.lock().unwrap().push(e.kind.clone())));
    arbiter.poll();
    arbiter.now().unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.contains(&ClockEventKind::StatusChanged { from: None, to: TimeStatus::Synchronized })
    );
}

#[test]
fn poll_respects_each_source_interval() {
    let mono = FakeMonotonic::new(0);
    let (gps, _) = scripted(Source::Gps, "gps", MS);
    let (ntp, _) = scripted(Source::Ntp, "ntp", MS);
    let arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()))
        .with_source(gps, Duration::from_secs(1))
        .with_source(ntp, Duration::from_secs(64));
    assert_eq!(arbiter.poll(), 2);
    mono.advance(Duration::from_secs(2));
    assert_eq!(arbiter.poll(), 1);
    mono.advance(Duration::from_secs(64));
    assert_eq!(arbiter.poll(), 2);
}

#[test]
fn poller_thread_keeps_the_arbiter_synchronized_and_stops_on_drop() {
    let mono = FakeMonotonic::new(0);
    let (gps, _) = scripted(Source::Gps, "gps", MS);
    let arbiter = Arc::new(
        Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()))
            .with_source(gps, Duration::ZERO),
    );
    let poller = arbiter.spawn_poller(Duration::from_millis(5)).unwrap();
    let mut synced = false;
    for _ in 0..400 {
        if arbiter.now().is_ok() {
            synced = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(poller);
    assert!(synced);
}

#[test]
fn a_lone_source_and_the_quartz_disagreeing_refuse_rather_than_trust_the_quartz() {
    let mut sim = Sim::with(&[(Source::Gps, "gps", 5 * MS)]);
    sim.step(MINUTE).unwrap();
    sim.step(MINUTE).unwrap();
    assert_eq!(sim.arbiter.quorum(), 2, "one source and the quartz: both must agree");
    sim.knobs[0].set(Mode::Offset(10 * 60_000 * MS as i64));
    let refused = sim.step(MINUTE).unwrap_err();
    assert!(matches!(refused, ClockError::Unsynchronized { .. }), "{refused:?}");
    // Lost rather than lying: the quartz carries time, but only as holdover.
    sim.knobs[0].set(Mode::Silent);
    let stamp = sim.step(MINUTE).unwrap();
    assert_eq!(stamp.status(), TimeStatus::Holdover);
    assert_eq!(stamp.agreed(), coffre_clock::SourceSet::only(Source::Quartz));
}

/// One simulated external source for the property test: when honest at a step, its interval
/// contains the truth; otherwise it is offset by `lie_ns`.
#[derive(Clone, Debug)]
struct PropSource {
    below_ns: u64,
    above_ns: u64,
    lie_ns: i64,
}

/// The lies: near misses (within a few interval widths, the hard case for intersection) and
/// gross ones.
fn lie() -> impl Strategy<Value = i64> {
    prop_oneof![
        -2_000 * MS as i64..2_000 * MS as i64,
        -7_200_000 * MS as i64..7_200_000 * MS as i64
    ]
}

fn prop_sources() -> impl Strategy<Value = Vec<PropSource>> {
    proptest::collection::vec(
        (0u64..400 * MS, 0u64..400 * MS, lie())
            .prop_map(|(below_ns, above_ns, lie_ns)| PropSource { below_ns, above_ns, lie_ns }),
        1..=6,
    )
}

/// Per step: time advanced, how many sources are honest beyond the minimum, and which.
fn prop_steps() -> impl Strategy<Value = Vec<(u64, usize, usize)>> {
    proptest::collection::vec((0u64..120_000, 0usize..6, 0usize..6), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The honest-majority assumption, over the voters: at the first vote the quartz has
    /// nothing to say, so a strict majority of the external sources is honest; afterwards the
    /// disciplined quartz votes too (the interval widths here keep it within the holdover
    /// bound), and a strict majority of external sources + quartz is honest, counting the
    /// quartz as honest (it is, as long as every earlier stamp contained the truth: that is
    /// the induction this property checks). With two external sources, one may lie.
    #[test]
    fn true_time_is_inside_the_stamp_whenever_a_majority_of_voters_is_honest(
        sources in prop_sources(),
        steps in prop_steps(),
    ) {
        let n = sources.len();
        let mono = FakeMonotonic::new(0);
        let honest = Arc::new(Mutex::new(vec![true; n]));
        let mut arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()));
        for (i, s) in sources.iter().cloned().enumerate() {
            let honest = Arc::clone(&honest);
            let source = ScriptedSource::new(Source::Ntp, format!("s{i}"), move |m| {
                let t = truth(m);
                let c = if honest.lock().unwrap()[i] { t } else {
                    t.checked_add_signed(s.lie_ns).unwrap()
                };
                Ok((c - s.below_ns, c + s.above_ns))
            });
            arbiter = arbiter.with_source(source, Duration::ZERO);
        }
        for (k, &(step_ms, extra, rotate)) in steps.iter().enumerate() {
            let honest_min = if k == 0 {
                n / 2 + 1
            } else {
                // Voters n + 1 (the quartz too), and the quartz is one of the honest majority.
                let voters = n + 1;
                voters / 2
            };
            let honest_count = (honest_min + extra).min(n);
            *honest.lock().unwrap() = (0..n).map(|i| (i + rotate) % n < honest_count).collect();
            mono.advance(Duration::from_millis(step_ms));
            arbiter.poll();
            let stamp = arbiter.stamp().unwrap();
            let t = truth(mono.now_ns());
            let ts = stamp.timestamp();
            prop_assert!(ts.earliest_ns() <= t && t <= ts.latest_ns(), "{:?}", stamp);
            prop_assert_eq!(ts.status(), TimeStatus::Synchronized);
            if k > 0 {
                prop_assert_eq!(stamp.voters(), n + 1, "the quartz votes");
            }
        }
    }
}
