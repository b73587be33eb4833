//! Deterministic simulation of the arbiter: a fake monotonic clock that runs 30 ppm fast
//! against true time, and scripted sources that are honest, lie, fall silent or jitter.

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
    assert_eq!(detailed.quorum(), 2);
    assert!(detailed.sources().iter().all(|s| matches!(s.outcome, SourceOutcome::Agreed(_))));
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
fn no_majority_among_live_sources_falls_back_to_holdover() {
    let mut sim = Sim::three_sources();
    sim.step(MINUTE).unwrap();
    sim.knobs[0].set(Mode::Offset(60_000 * MS as i64));
    sim.knobs[1].set(Mode::Offset(-60_000 * MS as i64));
    let stamp = sim.step(MINUTE).unwrap();
    assert_eq!(stamp.status(), TimeStatus::Holdover);
    assert!(sim.contains_truth(&stamp));
    assert!(matches!(sim.outcome("ntp b"), SourceOutcome::NoMajority(_)));
    assert!(sim
        .events()
        .iter()
        .any(|e| matches!(e, ClockEventKind::NoMajority { live: 3, quorum: 2 })));
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

/// One simulated source for the property test: honest ones contain the truth.
#[derive(Clone, Debug)]
struct PropSource {
    honest: bool,
    below_ns: u64,
    above_ns: u64,
    lie_ns: i64,
}

fn prop_sources() -> impl Strategy<Value = Vec<PropSource>> {
    (1usize..=7).prop_flat_map(|n| {
        let honest_min = n / 2 + 1;
        (
            proptest::collection::vec(
                (0u64..500 * MS, 0u64..500 * MS, -7_200_000 * MS as i64..7_200_000 * MS as i64),
                n,
            ),
            honest_min..=n,
        )
            .prop_map(|(params, honest_count)| {
                params
                    .into_iter()
                    .enumerate()
                    .map(|(i, (below_ns, above_ns, lie_ns))| PropSource {
                        honest: i < honest_count,
                        below_ns,
                        above_ns,
                        lie_ns,
                    })
                    .collect()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn true_time_is_inside_the_stamp_whenever_a_majority_is_honest(
        sources in prop_sources(),
        steps in proptest::collection::vec(0u64..120_000, 1..8),
    ) {
        let mono = FakeMonotonic::new(0);
        let mut arbiter = Arbiter::new(ArbiterConfig::default(), Arc::new(mono.clone()));
        for (i, s) in sources.iter().cloned().enumerate() {
            let source = ScriptedSource::new(Source::Ntp, format!("s{i}"), move |m| {
                let t = truth(m);
                if s.honest {
                    Ok((t - s.below_ns, t + s.above_ns))
                } else {
                    let c = t.checked_add_signed(s.lie_ns).unwrap();
                    Ok((c - s.below_ns, c + s.above_ns))
                }
            });
            arbiter = arbiter.with_source(source, Duration::ZERO);
        }
        for step_ms in steps {
            mono.advance(Duration::from_millis(step_ms));
            arbiter.poll();
            let stamp = arbiter.now().unwrap();
            let t = truth(mono.now_ns());
            prop_assert!(stamp.earliest_ns() <= t && t <= stamp.latest_ns());
            prop_assert_eq!(stamp.status(), TimeStatus::Synchronized);
        }
    }
}
